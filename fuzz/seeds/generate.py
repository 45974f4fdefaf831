#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into fuzz/corpus/<target>/seed-*.

Seeds are meaningful inputs the fuzzer starts from: token-endpoint form bodies, each proxy's
certificate header format, DNs with escapes and multi-valued RDNs, DER names of every string type,
certificates, ES256 JWTs signed by the harness's fixed key, and the configurations of the docs and
of `certbound quickstart`. Run it from anywhere; it needs Python 3 with `cryptography` (pip), and
optionally `--quickstart DIR` (a directory made by `certbound quickstart --no-serve --dir DIR`) for
the generated configurations and the certbound-pki certificates. Then fuzz, and minimise with
`cargo fuzz cmin` (docs/fuzzing.md): the minimised corpus is what is committed.
"""

import argparse
import base64
import datetime
import hashlib
import ipaddress
import json
import re
import urllib.parse
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

FUZZ = Path(__file__).resolve().parent.parent
ROOT = FUZZ.parent

# The harness's fixed ES256 key (crates/certbound-gateway/tests/fuzz_corpus.rs): derived from a
# public string, so it is test material only.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
JWT_KEY = ec.derive_private_key(
    int.from_bytes(hashlib.sha256(b"certbound fuzz/ ES256 test key: public, never trust it").digest(), "big") % P256_N,
    ec.SECP256R1(),
)
ISS = "https://as.example"
KID = "fuzz-es256"
FAR = 4102444800  # 2100-01-01


def write(target, name, data):
    d = FUZZ / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    assert len(data) <= 64 * 1024, (target, name)
    (d / f"seed-{name}").write_bytes(data)


# --- DER helpers -----------------------------------------------------------------------------

def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + length + content


def oid_der(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytes([arcs[0] * 40 + arcs[1]])
    for a in arcs[2:]:
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7F))
            a >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, out)


def name_der(rdns):
    """rdns: list of RDNs, each a list of (dotted oid, tag, raw value bytes)."""
    sets = []
    for rdn in rdns:
        avas = sorted(tlv(0x30, oid_der(o) + tlv(t, v)) for o, t, v in rdn)
        sets.append(tlv(0x31, b"".join(avas)))
    return tlv(0x30, b"".join(sets))


# --- certificates ----------------------------------------------------------------------------

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def build(subject, key, issuer=None, issuer_key=None, sans=None, ca=False, days=3650, not_before=NOW):
    issuer = issuer or subject
    issuer_key = issuer_key or key
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def A(oid, value, t=None):
    return x509.NameAttribute(oid, value, _type=t) if t else x509.NameAttribute(oid, value)


def certificates(quickstart):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([A(NameOID.COUNTRY_NAME, "US"), A(NameOID.ORGANIZATION_NAME, "Example"), A(NameOID.COMMON_NAME, "Root")])
    ca = build(ca_name, ca_key, ca=True, days=36500)
    int_key = ec.generate_private_key(ec.SECP256R1())
    int_name = x509.Name([A(NameOID.ORGANIZATION_NAME, "Example"), A(NameOID.COMMON_NAME, "Issuing")])
    inter = build(int_name, int_key, ca_name, ca_key, ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = build(
        x509.Name([A(NameOID.COUNTRY_NAME, "US"), A(NameOID.ORGANIZATION_NAME, "Example, Inc."), A(NameOID.COMMON_NAME, "partner-a")]),
        leaf_key, int_name, int_key,
        sans=[x509.DNSName("client.example.com"), x509.UniformResourceIdentifier("spiffe://example.com/partner-a"),
              x509.RFC822Name("ops@example.com"), x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
              x509.IPAddress(ipaddress.ip_address("2001:db8::7"))],
    )
    multi = build(
        x509.Name([
            x509.RelativeDistinguishedName([A(NameOID.COUNTRY_NAME, "DE")]),
            x509.RelativeDistinguishedName([A(NameOID.ORGANIZATION_NAME, "Müller GmbH", _ASN1Type.UTF8String)]),
            x509.RelativeDistinguishedName([A(NameOID.ORGANIZATIONAL_UNIT_NAME, "b"), A(NameOID.USER_ID, "42")]),
            x509.RelativeDistinguishedName([A(NameOID.COMMON_NAME, "Zoë  Straße", _ASN1Type.BMPString)]),
        ]),
        ec.generate_private_key(ec.SECP384R1()),
        sans=[x509.DNSName("*.example.com"), x509.DNSName("Client.Example.COM"), x509.RFC822Name("a@b")],
    )
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    odd = build(
        x509.Name([
            A(NameOID.DOMAIN_COMPONENT, "com"), A(NameOID.DOMAIN_COMPONENT, "example"),
            A(NameOID.EMAIL_ADDRESS, "Ops@Example.com"), A(NameOID.SERIAL_NUMBER, "0042"),
            A(NameOID.JURISDICTION_COUNTRY_NAME, "UK"), A(ObjectIdentifier("1.2.3.4"), "Foo Bar"),
            A(NameOID.COMMON_NAME, "t61 caf\u00e9", _ASN1Type.T61String),
        ]),
        rsa_key, not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc), days=365,
    )
    nul = build(x509.Name([A(NameOID.COMMON_NAME, "good.example\0.evil")]), ec.generate_private_key(ec.SECP256R1()))
    empty = build(x509.Name([]), ec.generate_private_key(ec.SECP256R1()), sans=[x509.DNSName("only-san.example")])
    certs = {"leaf": leaf, "inter": inter, "ca": ca, "multi": multi, "rsa-odd": odd, "nul-cn": nul, "empty-subject": empty}
    if quickstart:
        for f in ["partner-a", "partner-s", "gateway", "ca", "server"]:
            certs[f"qs-{f}"] = x509.load_pem_x509_certificate((quickstart / "pki" / f"{f}.pem").read_bytes())
    return certs


# --- targets ---------------------------------------------------------------------------------

def seed_certificate(certs):
    for n, c in certs.items():
        write("certificate", n, der(c))
    write("certificate", "truncated", der(certs["leaf"])[:200])


def seed_dn_der(certs):
    for n, c in certs.items():
        write("dn_der", f"subject-{n}", c.subject.public_bytes())
    U, P, B, T, IA5, UNIV, NUM, VIS = 0x0C, 0x13, 0x1E, 0x14, 0x16, 0x1C, 0x12, 0x1A
    CN, O, C, OU, DC, E, UID = "2.5.4.3", "2.5.4.10", "2.5.4.6", "2.5.4.11", "0.9.2342.19200300.100.1.25", "1.2.840.113549.1.9.1", "0.9.2342.19200300.100.1.1"
    crafted = {
        "string-types": [[(C, P, b"US")], [(O, T, b"caf\xe9")], [(OU, B, "Zoë".encode("utf-16-be"))],
                         [(CN, UNIV, "a𝔸".encode("utf-32-be"))], [(UID, NUM, b"42")], [(DC, IA5, b"example")], [(E, VIS, b"x@y")]],
        "multi-valued": [[(C, P, b"US")], [(CN, U, b"client-a"), (UID, U, b"42"), (OU, U, b"x")]],
        "duplicate-type-in-rdn": [[(CN, U, b"a"), (CN, U, b"b")]],
        "integer-value": [[(CN, 0x02, b"\x2a")]],
        "unknown-oid": [[("1.3.6.1.4.1.311.60.2.1.3", P, b"UK")], [("1.2.3.4.5", U, b" x ")]],
        "spaces-and-escapes": [[(CN, U, b" #a,b+c;<d>\\e\"f ")]],
        "zwsp": [[(CN, U, "cli\u200bent-a".encode())]],
        "nbsp-sharp-s": [[(CN, U, "STRASSE\u00a0\u00df".encode())]],
        "empty-value": [[(CN, U, b"")]],
        "bad-utf8": [[(CN, U, b"\xff")]],
        "odd-bmp": [[(CN, B, b"\x00a\x00")]],
        "non-ascii-ia5": [[(DC, IA5, b"\xe9")]],
        "many-rdns": [[(OU, U, str(i).encode())] for i in range(70)],
        "constructed-value": [[(CN, 0x30, tlv(0x02, b"\x01"))]],
    }
    for n, rdns in crafted.items():
        write("dn_der", n, name_der(rdns))
    write("dn_der", "empty-name", tlv(0x30, b""))
    write("dn_der", "empty-rdn", tlv(0x30, tlv(0x31, b"")))


DN_STRINGS = [
    r"CN=client-a,O=Example\, Inc.,C=US", r"CN=client-a,O=Example\2C Inc.,C=US", r"cn=client-a,o=Example\, Inc.,c=US",
    r"CN=client-a, O=Example\, Inc., C=US", r"  CN = client-a ,  O = Example\, Inc. , C = US  ",
    r"commonName=client-a,organizationName=Example\, Inc.,countryName=US", r"CN=client-a+UID=42,O=Example,C=US",
    r"2.5.4.3=client-a,O=Example,C=US", r"CN=#0c08636c69656e742d61,O=Example,C=US", r"CN=#1308636C69656E742D61,O=Example,C=US",
    r"2.5.4.3=#0c08636c69656e742d61,2.5.4.10=Example,2.5.4.6=#13025553", r"CN=Zo\C3\AB,O=M\C3\BCller GmbH,C=DE",
    r"CN=a\=b,O=Example,C=US", r"CN=client-a,O=\ Example\ ,C=US", r"CN=#1c0c0000005a0000006f000000eb", r"CN=STRASSE",
    r"DC=example,DC=com", r"E=ops@example.com,EMAIL=x@y,emailAddress=z@w", r"CN=x+jurisdictionC=UK,C=BR",
    r"1.2.3.4=Foo Bar", r"1.2.3.4=#130746 6f6f20426172", r"CN=#02012a", r"CN=#1e0600410042", r"CN=#14026869",
    r"serialNumber=0042,organizationIdentifier=VATDE-123,businessCategory=Private Organization",
    r"jurisdictionL=Berlin+jurisdictionST=Berlin+jurisdictionCountryName=DE", r"GN=A,SN=B,initials=AB,title=Dr,pseudonym=x,generationQualifier=III",
    r"dnQualifier=q,postalCode=10115,name=n,STREET=Main St 1,L=Town,ST=State,UID=u", r"CN=evil,O=x\,CN\=client-a,C=US",
    r"CN=good.example\00.evil,C=US", r"CN=cli\E2\80\8Bent-a", r"CN=\#hash\;semi\<lt\>gt\"q\\b\+p",
    "/C=US/O=Example/CN=client-a", "CN=a;O=b", 'CN="quoted"', "OID.2.5.4.3=a", "CN=", "CN=a+CN=b", "CN=a\\", "CN=#zz",
    "CN=#0c8000", "CN=#0c810161", "01.2=a", "CN=клиент", "DC=пример", "CN=a" + ",OU=x" * 70, "CN=" + "x" * 4100,
]
DN_PAIRS = [
    (r"CN=client-a,O=Example,C=US", r"C=US,O=Example,CN=client-a"), (r"CN=client-a,OU=a,OU=b,C=US", r"CN=client-a,OU=b,OU=a,C=US"),
    (r"CN=client-a+UID=42", r"UID=42+CN=client-a"), (r"CN=STRASSE", r"CN=straße"), (r"1.2.3.4=Foo Bar", r"1.2.3.4=foo bar"),
    (r"CN=client-a,O=Example\,  Inc.,C=US", r"CN=CLIENT-A,O=EXAMPLE\, INC.,C=us"), (r"CN=#02012a", r"CN=#02012b"),
    (r"CN=cl\C4\B1ent-a", r"CN=client-a"), (r"DC=Example,DC=COM", r"dc=example,dc=com"), (r"CN=ﬀ", r"CN=FF"),
]


def seed_dn_string():
    for i, s in enumerate(DN_STRINGS):
        write("dn_string", f"{i:02}", s)
    for i, (a, b) in enumerate(DN_PAIRS):
        write("dn_string", f"pair-{i:02}", f"{a}\n{b}")


FORMS = [
    "grant_type=client_credentials&scope=transactions+read&client_id=partner-a",
    "grant_type=client_credentials&client_id=partner-secret&client_secret=Z-XEBclIYt4T9p9aJbygxiHW65Cc1X_r&scope=read",
    "grant_type=client_credentials&scope=a+b%20c&client_id=x%2By",
    "token=eyJhbGciOiJFUzI1NiJ9.e30.sig&token_type_hint=access_token",
    "token=opaque-token-value&client_id=gateway",
    "scope=a&scope=a", "client_id=&client_id=x", "client_id=&scope", "a=%ff%fe", "a=%C3%A9&b=%e2%82%ac&c=%",
    "a=%2&b=%zz&c=%%41", "==&=&&&", "grant_type=client_credentials&&&client_id=a&",
    "".join(f"p{i}=v&" for i in range(70)), "Scope=x&scope=x", "scope=x&scope%3Dy=z", "scope+=x&scope%20=y",
]


def seed_form():
    for i, f in enumerate(FORMS):
        write("form", f"{i:02}", f)
    write("form", "raw-utf8-invalid", b"client_id=\xff\xfe&scope=x")

# --- login_form, cookies (certbound-server web::parse, web::session) ---------------------------

# The harness's expected CSRF token (crates/certbound-server/tests/fuzz_corpus.rs).
CSRF = "q3T1cXGm0Yf9n5b_Vw-2kRj8sLhA4eZoPuDiC6xN7Ea"
FORM_TYPE = "application/x-www-form-urlencoded"


def seed_login_form():
    bodies = [
        f"csrf={CSRF}&username=alice&password=correct+horse",
        f"csrf={CSRF}&username=al%C3%AFce&password=p%26ss%3Dw0rd",
        f"username=alice&password=x&csrf={CSRF}",
        f"csrf={CSRF}&username=alice",
        f"csrf={CSRF}&username=&password=",
        f"csrf={CSRF}&username=alice&password=" + "p" * 1025,
        f"csrf={CSRF}&username=" + "u" * 1024 + "&password=p",
        f"csrf={CSRF[:-1]}&username=alice&password=x",
        f"csrf={CSRF}x&username=alice&password=x",
        f"csrf=&username=alice&password=x",
        f"csrf={CSRF}&csrf={CSRF}&username=alice&password=x",
        "username=alice&password=x",
        f"csrf={CSRF}&decision=allow&remember=on",
        f"csrf={CSRF}&decision=allow",
        f"csrf={CSRF}&decision=deny",
        f"csrf={CSRF}&decision=ALLOW",
        f"csrf={CSRF}&decision=",
        f"csrf={CSRF.replace('_', '%5F')}&decision=deny",
    ]
    for i, b in enumerate(bodies):
        write("login_form", f"{i:02}", f"{FORM_TYPE}\n{b}")
    write("login_form", "charset", f"{FORM_TYPE}; charset=utf-8\ncsrf={CSRF}&username=a&password=b")
    write("login_form", "json", f"application/json\n{{\"csrf\":\"{CSRF}\"}}")
    write("login_form", "no-type", f"csrf={CSRF}&username=a&password=b")
    write("login_form", "utf8-invalid", f"{FORM_TYPE}\ncsrf={CSRF}&username=\xff&password=b".encode("latin-1"))


def seed_cookies():
    handle = "dGhpcyBpcyBhIDI1Ni1iaXQgc3RvcmUgaGFuZGxlISE"
    headers = [
        f"__Host-cb_i={handle}",
        f"__Host-cb_s={handle}",
        f"__Host-cb_i={handle}; __Host-cb_s={handle}",
        f"a=1; __Host-cb_s={handle}; b=2",
        f"__Host-cb_s={handle}\n__Host-cb_i={handle}",
        f"__Host-cb_s=a; __Host-cb_s=b",
        f"__Host-cb_s=a\n__Host-cb_s=b",
        f"__Host-cb_s=",
        f"__Host-cb_s=\"{handle}\"",
        "__Host-cb_s=" + "a" * 128,
        "__Host-cb_s=" + "a" * 129,
        f"__host-cb_s={handle}",
        f"__Host-cb_s ={handle}",
        f" __Host-cb_s={handle} ",
        f"__Host-cb_s={handle}==",
        f"cb_s={handle}; __Host-cb_={handle}",
        f"__Host-cb_s={handle};;;=;__Host-cb_i",
    ]
    for i, h in enumerate(headers):
        write("cookies", f"{i:02}", h)
    write("cookies", "non-ascii", f"__Host-cb_s={handle}\xe9".encode("latin-1"))


def seed_forwarded(certs):
    leaf, inter = certs["leaf"], certs["inter"]
    b64 = base64.b64encode(der(leaf)).decode()
    ib64 = base64.b64encode(der(inter)).decode()
    nginx = lambda s: urllib.parse.quote(s, safe="-._~")
    alb = lambda s: urllib.parse.quote(s, safe="-._~+=/")
    # Byte 0 selects the format: '0' rfc9440, '1' nginx, '2' envoy-xfcc, '3' aws-alb, '4' traefik, '5' haproxy.
    s = {
        "rfc9440": f"0:{b64}:",
        "rfc9440-chain": f"0:{b64}:\n:{ib64}:, :{ib64}:",
        "rfc9440-chain-twice": f"0:{b64}:\n:{ib64}:\n:{ib64}:",
        "nginx": "1" + nginx(pem(leaf)),
        "nginx-apache-spaces": "1" + nginx(pem(leaf).replace("\n", " ")),
        "envoy-cert": "2" + f'By=spiffe://far/proxy;Hash=00;Cert="{nginx(pem(certs["nul-cn"]))}";Subject="CN=x",'
                            f'By=spiffe://near/proxy;Hash=deadbeef;Subject="CN=admin,O=Evil\\"Corp";URI=spiffe://x;Cert="{nginx(pem(leaf))}"',
        "envoy-chain": "2" + f'By=a;Chain="{nginx(pem(leaf) + pem(inter))}"',
        "envoy-no-cert": "2By=a;Hash=b",
        "aws-alb-chain": "3" + alb(pem(leaf) + pem(inter)),
        "traefik": "4" + f"{b64},{ib64}",
        "traefik-pem-body": "4" + nginx("".join(pem(leaf).splitlines()[1:-1])),
        "haproxy": "5" + b64,
        "haproxy-duplicate": f"5{b64}\n{b64}",
        "null": "1(null)", "dash": "5-", "empty": "0",
        "garbage": "0:Zm9vYmFy:", "not-der": "5" + base64.b64encode(b"\x30\x03\x02\x01\x00").decode(),
    }
    if "qs-partner-a" in certs:
        s["rfc9440-quickstart"] = f"0:{base64.b64encode(der(certs['qs-partner-a'])).decode()}:\n:{base64.b64encode(der(certs['qs-ca'])).decode()}:"
        s["nginx-quickstart"] = "1" + nginx(pem(certs["qs-partner-a"]))
    for n, v in s.items():
        write("forwarded", n, v)


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jws(header, claims, key=JWT_KEY):
    signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64u(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def seed_jwt():
    h = {"alg": "ES256", "typ": "at+jwt", "kid": KID}
    c = {"iss": ISS, "sub": "partner-a", "aud": ISS, "exp": FAR, "iat": 1767225600, "jti": "j1", "client_id": "partner-a",
         "scope": "transactions read", "cnf": {"x5t#S256": "A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0"}}
    other = ec.generate_private_key(ec.SECP256R1())
    toks = {
        "valid": jws(h, c),
        "valid-aud-array-unbound": jws({**h, "typ": "application/at+jwt"}, {**{k: v for k, v in c.items() if k != "cnf"}, "aud": ["x", ISS], "nbf": 1767225600}),
        "wrong-typ": jws({**h, "typ": "JWT"}, c),
        "other-key": jws(h, c, other),
        "unknown-kid": jws({**h, "kid": "k2"}, c),
        "expired": jws(h, {**c, "exp": 1767225600}),
        "not-yet-valid": jws(h, {**c, "nbf": FAR - 10}),
        "wrong-iss": jws(h, {**c, "iss": ISS + "/"}),
        "wrong-aud": jws(h, {**c, "aud": ["https://other.example"]}),
        "cnf-s512": jws(h, {**c, "cnf": {"x5t#S512": "abc"}}),
        "cnf-number": jws(h, {**c, "cnf": {"x5t#S256": 5}}),
        "crit": jws({**h, "crit": ["exp"]}, c),
        "alg-none": f"{b64u(json.dumps({**h, 'alg': 'none'}).encode())}.{b64u(json.dumps(c).encode())}.",
        "hs256": f"{b64u(json.dumps({**h, 'alg': 'HS256'}).encode())}.{b64u(json.dumps(c).encode())}.c2ln",
        "rs256": f"{b64u(json.dumps({**h, 'alg': 'RS256'}).encode())}.{b64u(json.dumps(c).encode())}.c2ln",
        "missing-exp": jws(h, {k: v for k, v in c.items() if k != "exp"}),
        "two-parts": "a.b", "four-parts": "a.b.c.d", "opaque": "k3Xy9_opaque-token~value",
        # Signed introspection answers (RFC 9701): never an access token, even with the token's
        # claims copied to the top level.
        "introspection-answer": jws({**h, "typ": "token-introspection+jwt"},
                                    {"iss": ISS, "aud": "gateway", "iat": 1767225600,
                                     "token_introspection": {**c, "active": True, "token_type": "Bearer"}}),
        "introspection-answer-flat": jws({**h, "typ": "application/token-introspection+jwt"},
                                         {**c, "token_introspection": {**c, "active": True}}),
    }
    toks["bearer-valid"] = "Bearer " + toks["valid"]
    toks["bearer-lowercase-spaces"] = "bearer   " + toks["expired"]
    toks["basic"] = "Basic cGFydG5lcjpzZWNyZXQ="
    for n, t in toks.items():
        write("jwt", n, t)


# --- dpop_proof, client_assertion (certbound-core dpop, client_assertion) ------------------------

JWT_NOW = 1767225600  # the harness's fixed time (FUZZ_NOW)


def public_jwk(key=JWT_KEY):
    n = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}


def unsigned(header, claims, sig=""):
    return f"{b64u(json.dumps(header).encode())}.{b64u(json.dumps(claims).encode())}.{sig}"


def jws_raw(header, claims_json, key=JWT_KEY):
    """A JWS over claims given as raw JSON text (to write duplicate member names)."""
    signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(claims_json.encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64u(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def seed_dpop_proof():
    h = {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk()}
    c = {"jti": "p1", "htm": "POST", "htu": ISS + "/token", "iat": JWT_NOW}
    ath = b64u(hashlib.sha256(b"fuzz-access-token").digest())
    priv = {**public_jwk(), "d": b64u(JWT_KEY.private_numbers().private_value.to_bytes(32, "big"))}
    proofs = {
        "valid": jws(h, c),
        "valid-ath": jws(h, {**c, "ath": ath}),
        "valid-htu-port-case": jws(h, {**c, "htu": "HTTPS://AS.example:443/token?q=1#f"}),
        "valid-extra-members": jws({**h, "kid": "x", "x5u": "https://x"}, {**c, "nbf": JWT_NOW, "exp": JWT_NOW + 60}),
        "wrong-ath": jws(h, {**c, "ath": b64u(b"0" * 32)}),
        "wrong-typ": jws({**h, "typ": "JWT"}, c),
        "private-jwk": jws({**h, "jwk": priv}, c),
        "wrong-curve": jws({**h, "jwk": {**public_jwk(), "crv": "P-384"}}, c),
        "no-jwk": jws({k: v for k, v in h.items() if k != "jwk"}, c),
        "crit": jws({**h, "crit": ["x"]}, c),
        "stale": jws(h, {**c, "iat": JWT_NOW - 3600}),
        "future": jws(h, {**c, "iat": JWT_NOW + 3600}),
        "wrong-htm": jws(h, {**c, "htm": "post"}),
        "wrong-htu": jws(h, {**c, "htu": ISS + "/par"}),
        "iat-string": jws(h, {**c, "iat": str(JWT_NOW)}),
        "long-jti": jws(h, {**c, "jti": "j" * 300}),
        "other-key": jws({**h, "jwk": public_jwk(ec.generate_private_key(ec.SECP256R1()))}, c),
        "alg-none": unsigned({**h, "alg": "none"}, c),
        "hs256": unsigned({**h, "alg": "HS256"}, c, "c2ln"),
        "rs256": unsigned({**h, "alg": "RS256"}, c, "c2ln"),
        "duplicate-htm": jws_raw(h, f'{{"jti":"p2","htm":"GET","htm":"POST","htu":"{ISS}/token","iat":{JWT_NOW}}}'),
        "two-parts": "a.b", "empty": "",
        "oversized": jws(h, {**c, "pad": "x" * 9000}),
    }
    for n, p in proofs.items():
        write("dpop_proof", n, p)


def seed_client_assertion():
    h = {"alg": "ES256", "kid": KID}
    c = {"iss": "partner-a", "sub": "partner-a", "aud": ISS, "jti": "a1", "iat": JWT_NOW, "exp": JWT_NOW + 60}
    assertions = {
        "valid": jws(h, c),
        "valid-typ": jws({**h, "typ": "JWT"}, c),
        "aud-token-endpoint": jws(h, {**c, "aud": ISS + "/token"}),
        "aud-array": jws(h, {**c, "aud": [ISS]}),
        "iat-8s-ahead": jws(h, {**c, "iat": JWT_NOW + 8, "nbf": JWT_NOW + 8}),
        "iat-61s-ahead": jws(h, {**c, "iat": JWT_NOW + 61}),
        "expired": jws(h, {**c, "exp": JWT_NOW - 1}),
        "long-lifetime": jws(h, {**c, "exp": JWT_NOW + 86400}),
        "sub-differs": jws(h, {**c, "sub": "partner-b"}),
        "no-jti": jws(h, {k: v for k, v in c.items() if k != "jti"}),
        "unknown-kid": jws({**h, "kid": "k2"}, c),
        "no-kid": jws({"alg": "ES256"}, c),
        "crit": jws({**h, "crit": ["exp"]}, c),
        "other-key": jws(h, c, ec.generate_private_key(ec.SECP256R1())),
        "alg-none": unsigned({**h, "alg": "none"}, c),
        "hs256": unsigned({**h, "alg": "HS256"}, c, "c2ln"),
        "rs256": unsigned({**h, "alg": "RS256"}, c, "c2ln"),
        "four-parts": "a.b.c.d",
        "duplicate-sub": jws_raw(h, f'{{"iss":"partner-a","sub":"partner-b","sub":"partner-a","aud":"{ISS}","jti":"a2","iat":{JWT_NOW},"exp":{JWT_NOW + 60}}}'),
    }
    for n, a in assertions.items():
        write("client_assertion", n, a)


SERVER_BASE = """issuer = "https://as.example"
[listen]
https = "127.0.0.1:8443"
mtls = "127.0.0.1:8444"
mtls_url = "https://mtls.as.example"
[tls]
cert = "server.pem"
key = "server.key"
client_ca = ["ca.pem"]
"""
GATEWAY_BASE = """[listen]
https = "127.0.0.1:9443"
[tls]
cert = "s.pem"
key = "s.key"
[authorization_server]
issuer = "https://localhost:8443"
client_id = "gateway"
client_secret = "0123456789abcdefgh"
[[routes]]
path_prefix = "/api/"
upstream = "http://127.0.0.1:3000"
scopes = ["transactions"]
"""
# A syntactically valid argon2id PHC string (loading parses it; nothing is verified against it).
PHC = "$argon2id$v=19$m=19456,t=2,p=1$" + b64u(b"fuzz-salt-16byte") + "$" + b64u(hashlib.sha256(b"fuzz").digest())


def toml_blocks(path):
    return re.findall(r"```toml\n(.*?)```", path.read_text(), re.S)


def seed_configs(quickstart):
    server = {"base": SERVER_BASE}
    gateway = {"base": GATEWAY_BASE}
    for doc in ["configuration", "gateway", "proxies"]:
        for i, block in enumerate(toml_blocks(ROOT / "docs" / f"{doc}.md")):
            if "[authorization_server]" in block:
                gateway[f"docs-{doc}-{i}"] = block
            elif block.lstrip().startswith("issuer"):
                server[f"docs-{doc}-{i}"] = block
            else:  # a [client_cert.*] snippet: on both
                server[f"docs-{doc}-{i}"] = SERVER_BASE + block
                gateway[f"docs-{doc}-{i}"] = GATEWAY_BASE + block.replace("[client_cert.mtls]", "[client_cert.https]")
    server["clients"] = SERVER_BASE + """
[tokens]
signing_alg = "PS256"
access_token_ttl_seconds = 3600
audience = "https://api.example"
[rate_limit]
max_tracked_keys = 1000
[[clients]]
client_id = "a"
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_san_dns = "client.example.com"
tls_client_auth_ca = ["pki/ca.pem"]
[[clients]]
client_id = "b"
token_endpoint_auth_method = "client_secret_post"
client_secret_hash = "%s"
access_token_format = "opaque"
resource_server = true
[[clients]]
client_id = "c"
token_endpoint_auth_method = "self_signed_tls_client_auth"
jwks_uri = "https://c.example/jwks.json"
[[clients]]
client_id = "d"
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_san_ip = "2001:db8::1"
[[clients]]
client_id = "e"
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_san_email = "ops@example.com"
[[clients]]
client_id = "f"
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_san_uri = "spiffe://example.com/f"
""" % PHC
    server["duplicate-client"] = SERVER_BASE + '[[clients]]\nclient_id = "a"\ntoken_endpoint_auth_method = "tls_client_auth"\ntls_client_auth_subject_dn = "CN=a"\n' * 2
    server["unknown-key"] = SERVER_BASE + "[tokens]\nttl = 3\n"
    gateway["full-docs-style"] = GATEWAY_BASE + "[proxy]\nconnect_timeout_seconds = 5\nmax_body_bytes = 10485760\n[[routes]]\npath_prefix = \"/\"\nupstream = \"http://[::1]:3001\"\nrequire_bound_token = false\ntimeout_seconds = 10\n"
    if quickstart:
        text = (quickstart / "certbound.toml").read_text()
        server["quickstart"] = re.sub(r'client_secret = "[^"]*"', f'client_secret_hash = "{PHC}"', text)
        gateway["quickstart"] = (quickstart / "gateway.toml").read_text()
    for n, t in server.items():
        write("server_config", n, t)
    for n, t in gateway.items():
        write("gateway_config", n, t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quickstart", type=Path, help="a directory made by `certbound quickstart --no-serve --dir DIR`")
    args = ap.parse_args()
    certs = certificates(args.quickstart)
    seed_certificate(certs)
    seed_dn_der(certs)
    seed_dn_string()
    seed_form()
    seed_forwarded(certs)
    seed_jwt()
    seed_dpop_proof()
    seed_client_assertion()
    seed_configs(args.quickstart)
    seed_login_form()
    seed_cookies()


if __name__ == "__main__":
    main()
