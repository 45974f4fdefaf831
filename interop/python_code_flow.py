"""certbound interop: the authorization code flow with authlib's requests integration, unchanged, as a
partner's web application would run it: discovery, PAR + PKCE (S256) over mTLS (tls_client_auth),
the user's login and consent, the code exchange, a refresh and userinfo, every back-channel call
at the mTLS aliases with the client certificate (`cert=`).

usage: INTEROP_PASSWORD=... python_code_flow.py ISSUER CERT KEY CA CLIENT_ID REDIRECT_URI USERNAME

authlib has no PAR helper: it builds the authorization request (state, nonce, PKCE S256), whose
parameters are pushed with a plain POST to the mTLS PAR alias; the browser then gets only
client_id and request_uri. The browser step is plain HTTP with a cookie jar (requests.Session):
GET the authorization URL, post the login form, post the consent form (its csrf hidden field read
from the HTML), and read the 303 Location to REDIRECT_URI, which is never contacted. Prints one
JSON line with what it saw; exits non-zero on any mismatch.
"""
import base64
import json
import os
import re
import sys
from urllib.parse import parse_qs, parse_qsl, urlencode, urljoin, urlparse


def claims_of(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def field(html, pattern):
    m = re.search(pattern, html)
    assert m, (pattern, html)
    return m.group(1).replace("&amp;", "&")


def browser_step(authorization_url, redirect_uri, ca, username, password):
    """The user's browser: no client certificate, redirects followed by hand so the last one (to
    the client) is read, not fetched. Returns the callback URL and the pages shown."""
    import requests

    browser = requests.Session()
    url, form, pages = authorization_url, None, []
    for _ in range(12):
        if form is None:
            r = browser.get(url, verify=ca, allow_redirects=False)
        else:
            r = browser.post(url, data=form, verify=ca, allow_redirects=False)
        form = None
        if r.status_code == 303:
            url = urljoin(url, r.headers["location"])
            if url.startswith(redirect_uri):
                return url, pages
            continue
        assert r.status_code == 200, (url, r.status_code, r.text)
        action = urljoin(url, field(r.text, r'<form method="post" action="([^"]+)"'))
        csrf = field(r.text, r'name="csrf" value="([^"]+)"')
        if 'name="password"' in r.text:
            pages.append("login")
            form = {"csrf": csrf, "username": username, "password": password, "login": "login"}
        else:
            assert 'name="decision"' in r.text, r.text
            pages.append("consent")
            form = {"csrf": csrf, "decision": "allow"}
        url = action
    raise AssertionError(f"no redirect to {redirect_uri} after {pages}")


def main():
    issuer, cert, key, ca, client_id, redirect_uri, username = sys.argv[1:8]
    password = os.environ["INTEROP_PASSWORD"]

    import authlib
    from authlib.common.security import generate_token
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oauth2.auth import encode_none
    from authlib.oidc.core import CodeIDToken
    from joserfc import jwt
    from joserfc.jwk import KeySet
    from joserfc.jws import JWSRegistry

    seen = []
    session = OAuth2Session(
        client_id,
        token_endpoint_auth_method="tls_client_auth",
        cert=(cert, key),
        redirect_uri=redirect_uri,
        scope="openid profile email",
        code_challenge_method="S256",
    )
    # authlib knows no tls_client_auth: only client_id in the body (RFC 8705 §2).
    session.register_client_auth_method(("tls_client_auth", encode_none))
    session.hooks["response"].append(lambda r, *a, **k: seen.append((r.request.method, r.url)))
    # verify= on each call: requests ignores Session.verify when REQUESTS_CA_BUNDLE is set.
    meta = session.get(
        issuer + "/.well-known/openid-configuration", verify=ca, withhold_token=True
    ).json()
    assert meta["issuer"] == issuer, meta["issuer"]
    aliases = meta["mtls_endpoint_aliases"]

    # authlib builds the request (state, nonce, S256 challenge); its parameters are pushed.
    code_verifier = generate_token(48)
    nonce = generate_token(32)
    built, state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce
    )
    params = dict(parse_qsl(urlparse(built).query))
    assert params["code_challenge_method"] == "S256", params
    par = session.post(
        aliases["pushed_authorization_request_endpoint"], data=params, verify=ca, withhold_token=True
    )
    assert par.status_code == 201, par.text
    request_uri = par.json()["request_uri"]
    authorization_url = meta["authorization_endpoint"] + "?" + urlencode(
        {"client_id": client_id, "request_uri": request_uri}
    )

    callback, pages = browser_step(authorization_url, redirect_uri, ca, username, password)
    returned = parse_qs(urlparse(callback).query)
    # RFC 9207: authlib does not check iss; the client does.
    assert returned.get("iss") == [issuer], returned

    # authlib checks state (MismatchingStateException) and sends the verifier.
    token = session.fetch_token(
        aliases["token_endpoint"],
        authorization_response=callback,
        code_verifier=code_verifier,
        state=state,
        verify=ca,
    )
    # ID token: the steps of authlib's OpenIDMixin.parse_id_token (signature against the JWKS,
    # then iss, aud, exp, iat, nonce by CodeIDToken).
    jwks = session.get(meta["jwks_uri"], verify=ca, withhold_token=True).json()

    def verified(t, nonce):
        decoded = jwt.decode(
            t["id_token"],
            key=KeySet.import_key_set(jwks),
            registry=JWSRegistry(algorithms=meta["id_token_signing_alg_values_supported"]),
        )
        params = {"client_id": client_id, "access_token": t["access_token"]}
        if nonce:
            params["nonce"] = nonce
        claims = CodeIDToken(decoded.claims, decoded.header, {"iss": {"values": [issuer]}}, params)
        claims.validate(leeway=60)
        return dict(claims)

    id_token = verified(token, nonce)
    access = token["access_token"]
    refreshed = session.refresh_token(
        aliases["token_endpoint"], refresh_token=token["refresh_token"], verify=ca
    )
    refreshed_id = verified(refreshed, None) if "id_token" in refreshed else None
    # The session now holds the refreshed token and adds it as the bearer.
    userinfo = session.get(aliases["userinfo_endpoint"], verify=ca)
    assert userinfo.status_code == 200, userinfo.text
    userinfo = userinfo.json()
    assert userinfo["sub"] == id_token["sub"], (userinfo, id_token)

    posts = [u for m, u in seen if m == "POST"]
    print(
        json.dumps(
            {
                "client": "authlib",
                "version": authlib.__version__,
                "client_id": client_id,
                "pages": pages,
                "par_endpoint": posts[0],
                "token_endpoint": posts[1],
                "refresh_endpoint": posts[2],
                "userinfo_endpoint": seen[-1][1],
                "callback_iss": returned["iss"][0],
                "id_token": {
                    "iss": id_token["iss"],
                    "aud": id_token["aud"],
                    "sub": id_token["sub"],
                    "nonce": id_token.get("nonce"),
                    "nonce_sent": nonce,
                },
                "bound": claims_of(access).get("cnf", {}).get("x5t#S256"),
                "refreshed_bound": claims_of(refreshed["access_token"]).get("cnf", {}).get("x5t#S256"),
                "refreshed_id_token_sub": refreshed_id["sub"] if refreshed_id else None,
                "access_sub": claims_of(access)["sub"],
                "userinfo": userinfo,
            }
        )
    )


if __name__ == "__main__":
    main()
