// node-oidc-provider configured as close to certbound as it allows, as the peer of the token-endpoint
// benchmarks (bench/compare.sh). Not a deployment: one client (three with the DPoP and private_key_jwt
// clients below), in-memory state, a key made at start.
//
// usage: node server.mjs PORT CERT_PEM KEY_PEM CA_PEM CLIENT_ID SUBJECT_DN [TTL_SECONDS]
//   PORT         HTTPS port on 127.0.0.1; the issuer is https://localhost:PORT
//   CERT_PEM     server certificate (chain) PEM, valid for localhost
//   KEY_PEM      its private key PEM
//   CA_PEM       the CA(s) that client certificates must chain to
//   CLIENT_ID    the one registered client (tls_client_auth, client_credentials only)
//   SUBJECT_DN   its tls_client_auth_subject_dn, RFC 4514 (most specific first: CN=partner-a,O=Example)
//   TTL_SECONDS  access-token lifetime (default: $ACCESS_TOKEN_TTL, else 300, as certbound's quickstart)
// environment (optional):
//   ACCESS_TOKEN_TTL  as TTL_SECONDS
//   RESOURCE          the resource indicator (and so the JWT `aud`) used when a request names none;
//                     default: the issuer, which is certbound's default `aud`
//   SCOPE             the resource server's scopes (default "transactions read", the scopes
//                     certbound's quickstart registers for partner-a); a request without `scope`
//                     gets a token without `scope` (see README.md)
//   DPOP_CLIENT_ID    also register this client: tls_client_auth with the same SUBJECT_DN, tokens
//                     bound to a DPoP key (dpop_bound_access_tokens) instead of the certificate
//   PKJWT_CLIENT_ID   also register this client: private_key_jwt (ES256) with the JWK Set in the
//   PKJWT_JWKS        file PKJWT_JWKS; bearer tokens (no certificate, no DPoP)
//
// TLS: the listener requests a client certificate but does not refuse a connection without one or
// with an untrusted one (requestCert: true, rejectUnauthorized: false), as certbound does: Node still
// verifies the chain against CA_PEM during the handshake (socket.authorized), and tls_client_auth
// (features.mTLS.certificateAuthorized) refuses an unverified certificate with 401 invalid_client.
// Discovery and JWKS therefore stay reachable without a certificate.
//
// Logs nothing per request; prints "oidc-provider listening on https://localhost:PORT" when ready.

import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';

import Provider from 'oidc-provider';

const [portArg, certPath, keyPath, caPath, clientId, subjectDn, ttlArg] = process.argv.slice(2);
if (!portArg || !certPath || !keyPath || !caPath || !clientId || !subjectDn) {
  console.error('usage: node server.mjs PORT CERT_PEM KEY_PEM CA_PEM CLIENT_ID SUBJECT_DN [TTL_SECONDS]');
  process.exit(2);
}
const port = Number.parseInt(portArg, 10);
const ttl = Number.parseInt(ttlArg ?? process.env.ACCESS_TOKEN_TTL ?? '300', 10);
if (!(port > 0 && port < 65536) || !(ttl > 0 && ttl <= 86400)) {
  console.error(`bad PORT (${portArg}) or TTL_SECONDS (${ttlArg ?? process.env.ACCESS_TOKEN_TTL})`);
  process.exit(2);
}
const issuer = `https://localhost:${port}`;
const resource = process.env.RESOURCE || issuer;
const scope = process.env.SCOPE ?? 'transactions read';
const dpopClientId = process.env.DPOP_CLIENT_ID || undefined;
const pkjwtClientId = process.env.PKJWT_CLIENT_ID || undefined;
if (pkjwtClientId && !process.env.PKJWT_JWKS) {
  console.error('PKJWT_CLIENT_ID needs PKJWT_JWKS, the path of its JWK Set');
  process.exit(2);
}
const pkjwtJwks = pkjwtClientId ? JSON.parse(readFileSync(process.env.PKJWT_JWKS, 'utf8')) : undefined;

// --- tls_client_auth_subject_dn ------------------------------------------------------------------
// A simplified RFC 4517 distinguishedNameMatch: same RDNs in the same order, attribute types by name
// (case-insensitive, common long forms mapped to short ones), values compared after trimming,
// collapsing inner whitespace and lower-casing. Multi-valued RDNs (`+`) are compared as sets.
const TYPE_ALIASES = {
  COMMONNAME: 'CN', COUNTRYNAME: 'C', ORGANIZATIONNAME: 'O', ORGANIZATIONALUNITNAME: 'OU',
  LOCALITYNAME: 'L', STATEORPROVINCENAME: 'ST', STREETADDRESS: 'STREET', DOMAINCOMPONENT: 'DC',
  USERID: 'UID', EMAIL: 'EMAILADDRESS', E: 'EMAILADDRESS', '2.5.4.3': 'CN', '2.5.4.6': 'C',
  '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.5': 'SERIALNUMBER',
};
const normType = (t) => {
  const u = t.trim().toUpperCase();
  return TYPE_ALIASES[u] ?? u;
};
const normValue = (v) => v.trim().replace(/\s+/g, ' ').toLowerCase();
const canonical = (rdns) => rdns
  .map((avas) => avas.map(([t, v]) => `${normType(t)}=${JSON.stringify(normValue(v))}`).sort().join('+'))
  .join(',');

// RFC 4514 string -> [[ [type, value], ... ], ...], most specific RDN first.
function parseRfc4514(s) {
  const rdns = [];
  let avas = [];
  let type = null;
  let buf = '';
  const bytes = [];
  const flushBytes = () => {
    if (bytes.length) { buf += Buffer.from(bytes.splice(0)).toString('utf8'); }
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      const hex = s.slice(i + 1, i + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        bytes.push(Number.parseInt(hex, 16));
        i += 2;
      } else if (i + 1 < s.length) {
        flushBytes();
        buf += s[++i];
      } else {
        throw new Error(`dangling \\ in ${s}`);
      }
      continue;
    }
    flushBytes();
    if (type === null && c === '=') {
      type = buf; buf = '';
    } else if (type !== null && (c === ',' || c === '+')) {
      avas.push([type, buf]); type = null; buf = '';
      if (c === ',') { rdns.push(avas); avas = []; }
    } else {
      buf += c;
    }
  }
  flushBytes();
  if (type === null || !buf.trim()) throw new Error(`not an RFC 4514 distinguished name: ${s}`);
  avas.push([type, buf]);
  rdns.push(avas);
  return rdns;
}

// Node's X509Certificate#subject: one RDN per line, least specific first; values with special
// characters are JSON-quoted; a multi-valued RDN is printed as `A=x + B=y`.
function parseNodeSubject(subject) {
  return subject.split('\n').filter(Boolean).reverse().map((line) => line.split(' + ').map((ava) => {
    const eq = ava.indexOf('=');
    let value = ava.slice(eq + 1);
    if (value.startsWith('"')) value = JSON.parse(value);
    return [ava.slice(0, eq), value];
  }));
}

const expectedDn = canonical(parseRfc4514(subjectDn));

// The certificate and its canonical subject are the same for every request on a connection: read
// them once per TLS socket (certbound likewise remembers its chain check per connection).
const perSocket = new WeakMap();
function peer(socket) {
  let p = perSocket.get(socket);
  if (p === undefined) {
    const cert = typeof socket.getPeerX509Certificate === 'function'
      ? socket.getPeerX509Certificate() : undefined;
    p = cert ? { cert, dn: canonical(parseNodeSubject(cert.subject)) } : null;
    perSocket.set(socket, p);
  }
  return p;
}

// --- provider ----------------------------------------------------------------------------------
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = {
  ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('base64url'), alg: 'ES256', use: 'sig',
};

const resourceServer = Object.freeze({
  scope,
  audience: resource,
  accessTokenFormat: 'jwt',
  accessTokenTTL: ttl,
  jwt: { sign: { alg: 'ES256' } },
});

const clientCommon = {
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  id_token_signed_response_alg: 'ES256',
};
const clients = [{
  ...clientCommon,
  client_id: clientId,
  token_endpoint_auth_method: 'tls_client_auth',
  tls_client_auth_subject_dn: subjectDn,
  tls_client_certificate_bound_access_tokens: true,
}];
if (dpopClientId) {
  // The same certificate authenticates it; the token is bound to the proof's key (cnf.jkt), as
  // certbound binds a dpop_bound_access_tokens client's tokens.
  clients.push({
    ...clientCommon,
    client_id: dpopClientId,
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_subject_dn: subjectDn,
    tls_client_certificate_bound_access_tokens: false,
    dpop_bound_access_tokens: true,
  });
}
if (pkjwtClientId) {
  clients.push({
    ...clientCommon,
    client_id: pkjwtClientId,
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: pkjwtJwks,
  });
}

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients,
  clientDefaults: { id_token_signed_response_alg: 'ES256', token_endpoint_auth_method: 'tls_client_auth' },
  clientAuthMethods: ['tls_client_auth', 'private_key_jwt'],
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // RFC 9449 with oidc-provider's defaults: no nonce (certbound has none), every proof's jti
    // checked once (ReplayDetection, the in-memory adapter), iat within its fixed window.
    dPoP: { enabled: true, allowReplay: false },
    mTLS: {
      enabled: true,
      certificateBoundAccessTokens: true,
      tlsClientAuth: true,
      selfSignedTlsClientAuth: false,
      getCertificate: (ctx) => peer(ctx.socket)?.cert,
      certificateAuthorized: (ctx) => ctx.socket.authorized === true,
      certificateSubjectMatches: (ctx, property, expected) => property === 'tls_client_auth_subject_dn'
        && expected === subjectDn && peer(ctx.socket)?.dn === expectedDn,
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => resource,
      getResourceServerInfo: async () => resourceServer,
    },
  },
  ttl: {
    AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl,
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl,
  },
  // The client-assertion algorithms certbound accepts (PS256, ES256, EdDSA).
  enabledJWA: {
    idTokenSigningAlgValues: ['ES256'],
    clientAuthSigningAlgValues: ['PS256', 'ES256', 'EdDSA'],
  },
});

const server = https.createServer({
  cert: readFileSync(certPath),
  key: readFileSync(keyPath),
  ca: readFileSync(caPath),
  requestCert: true,
  rejectUnauthorized: false,
  minVersion: 'TLSv1.2',
}, provider.callback());
server.keepAliveTimeout = 60_000;

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on https://localhost:${port}`);
});

// Nothing to flush (state is in memory): stop at once, even with keep-alive connections open.
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
