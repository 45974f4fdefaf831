"""certbound interop: a Python client (requests, httpx or authlib) gets a certificate-bound token over
mTLS and calls the API through the gateway, as a partner would with their usual HTTP library.

usage: python_client.py (requests|httpx|authlib) ISSUER GATEWAY_API_URL CERT KEY CA OTHER_CERT OTHER_KEY [CLIENT_ID]

CLIENT_ID defaults to partner-a (tls_client_auth); partner-s is the self-signed client
(self_signed_tls_client_auth). Prints one JSON line with what it saw; exits non-zero on any mismatch.
"""
import base64
import hashlib
import json
import ssl
import sys


def thumbprint(cert_path):
    with open(cert_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def claims_of(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


WELL_KNOWN = "/.well-known/oauth-authorization-server"


def with_requests(issuer, api, cert, key, ca, other, client_id):
    import requests

    meta = requests.get(issuer + WELL_KNOWN, verify=ca).json()
    # requests does not read metadata: the caller picks the mTLS alias.
    r = requests.post(
        meta["mtls_endpoint_aliases"]["token_endpoint"],
        verify=ca,
        cert=(cert, key),
        data={"grant_type": "client_credentials", "client_id": client_id},
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]

    def call(c):
        return requests.post(api, verify=ca, cert=c, headers={"Authorization": "Bearer " + token}, json={"amount": 1})

    return requests.__version__, meta, r.url, token, call((cert, key)), call(other)


def with_httpx(issuer, api, cert, key, ca, other, client_id):
    import httpx

    def client(c):
        ctx = ssl.create_default_context(cafile=ca)
        ctx.load_cert_chain(*c)
        return httpx.Client(verify=ctx)

    with client((cert, key)) as h:
        meta = h.get(issuer + WELL_KNOWN).json()
        r = h.post(
            meta["mtls_endpoint_aliases"]["token_endpoint"],
            data={"grant_type": "client_credentials", "client_id": client_id},
        )
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        ok = h.post(api, headers={"Authorization": "Bearer " + token}, json={"amount": 1})
    with client(other) as thief:
        stolen = thief.post(api, headers={"Authorization": "Bearer " + token}, json={"amount": 1})
    return httpx.__version__, meta, str(r.url), token, ok, stolen


def with_authlib(issuer, api, cert, key, ca, other, client_id):
    """authlib's requests integration. authlib knows no tls_client_auth / self_signed_tls_client_auth:
    both are registered, through authlib's own extension point register_client_auth_method, with
    authlib's encoder for "none": only client_id in the body (RFC 8705 §2: the TLS handshake
    authenticates)."""
    import authlib
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oauth2.auth import encode_none

    method = {"partner-s": "self_signed_tls_client_auth"}.get(client_id, "tls_client_auth")
    seen = []
    session = OAuth2Session(client_id, token_endpoint_auth_method=method, cert=(cert, key))
    session.register_client_auth_method((method, encode_none))
    session.hooks["response"].append(lambda r, *a, **k: seen.append((r.request.method, r.url)))
    # requests ignores Session.verify when REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE is set
    # (psf/requests#3829), so verify= goes on each call; fetch_token passes it through.
    meta = session.get(issuer + WELL_KNOWN, verify=ca, withhold_token=True).json()
    token = session.fetch_token(
        meta["mtls_endpoint_aliases"]["token_endpoint"], grant_type="client_credentials", verify=ca
    )
    token_url = [u for m, u in seen if m == "POST"][0]
    ok = session.post(api, json={"amount": 1}, verify=ca)
    thief = OAuth2Session("partner-b", token=token, cert=other)
    stolen = thief.post(api, json={"amount": 1}, verify=ca)
    return authlib.__version__, meta, token_url, token["access_token"], ok, stolen


def main():
    lib, issuer, api, cert, key, ca, other_cert, other_key = sys.argv[1:9]
    client_id = sys.argv[9] if len(sys.argv) > 9 else "partner-a"
    run = {"requests": with_requests, "httpx": with_httpx, "authlib": with_authlib}[lib]
    version, meta, token_url, token, ok, stolen = run(issuer, api, cert, key, ca, (other_cert, other_key), client_id)
    assert meta["issuer"] == issuer, meta["issuer"]
    assert token_url == meta["mtls_endpoint_aliases"]["token_endpoint"], token_url
    bound = claims_of(token)["cnf"]["x5t#S256"]
    expected = thumbprint(cert)
    assert bound == expected, (bound, expected)
    assert ok.status_code == 201, ok.text
    assert stolen.status_code == 401, stolen.text
    challenge = stolen.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge, stolen.headers
    print(
        json.dumps(
            {
                "client": lib,
                "version": version,
                "client_id": client_id,
                "token_endpoint": token_url,
                "bound": bound,
                "api": ok.status_code,
                "stolen": stolen.status_code,
                "challenge": challenge,
            }
        )
    )


if __name__ == "__main__":
    main()
