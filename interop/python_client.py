"""certbound interop: a Python client (requests or httpx) gets a certificate-bound token over mTLS and
calls the API through the gateway, as a partner would with their usual HTTP library.

usage: python_client.py (requests|httpx) ISSUER GATEWAY_API_URL CERT KEY CA OTHER_CERT OTHER_KEY
Prints one JSON line with what it saw; exits non-zero on any mismatch.
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


def main():
    lib, issuer, api, cert, key, ca, other_cert, other_key = sys.argv[1:9]
    if lib == "requests":
        import requests

        def get(url, c=None):
            return requests.get(url, verify=ca, cert=c)

        def post(url, c=None, data=None, headers=None, json_body=None):
            return requests.post(url, verify=ca, cert=c, data=data, headers=headers, json=json_body)

        version = requests.__version__
    else:
        import httpx

        def client(c):
            ctx = ssl.create_default_context(cafile=ca)
            if c:
                ctx.load_cert_chain(*c)
            return httpx.Client(verify=ctx)

        def get(url, c=None):
            with client(c) as h:
                return h.get(url)

        def post(url, c=None, data=None, headers=None, json_body=None):
            with client(c) as h:
                return h.post(url, data=data, headers=headers, json=json_body)

        version = httpx.__version__

    meta = get(issuer + "/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == issuer, meta["issuer"]
    token_endpoint = meta["mtls_endpoint_aliases"]["token_endpoint"]
    r = post(token_endpoint, c=(cert, key), data={"grant_type": "client_credentials", "client_id": "partner-a"})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    bound = claims_of(token)["cnf"]["x5t#S256"]
    expected = thumbprint(cert)
    assert bound == expected, (bound, expected)
    ok = post(api, c=(cert, key), headers={"Authorization": "Bearer " + token}, json_body={"amount": 1})
    assert ok.status_code == 201, ok.text
    stolen = post(api, c=(other_cert, other_key), headers={"Authorization": "Bearer " + token}, json_body={"amount": 1})
    assert stolen.status_code == 401, stolen.text
    assert 'error="invalid_token"' in stolen.headers["www-authenticate"], stolen.headers
    print(json.dumps({"client": lib, "version": version, "bound": bound, "api": ok.status_code, "stolen": stolen.status_code}))


if __name__ == "__main__":
    main()
