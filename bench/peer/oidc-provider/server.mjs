// node-oidc-provider configured as close to certbound as it allows, as the peer of the benchmarks
// (bench/compare.sh). Not a deployment: a few clients, one user, in-memory state, a key made at start.
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
//   PEER_STORE        `memory` (default: oidc-provider's in-memory adapter, for development only)
//                     or `redis`: sessions, interactions, grants, codes, pushed requests, opaque
//                     and refresh tokens and replay records in Redis (redis_adapter.mjs, REDIS_URL,
//                     default redis://127.0.0.1:6379), as a deployment keeps them
//   OPAQUE_CLIENT_ID  also register this client: as CLIENT_ID (same SUBJECT_DN, bound tokens) but
//                     its client_credentials tokens are opaque (stored, so they can be introspected)
//   WEB_CLIENT_ID     also register this web client for the user flows: tls_client_auth with the
//   WEB_REDIRECT_URI  same SUBJECT_DN, authorization_code + refresh_token, this redirect URI, PAR
//   WEB_SCOPE         and PKCE S256 required, certificate-bound opaque access tokens (usable at
//                     /userinfo), scope WEB_SCOPE (default "openid profile email transactions")
//   USER_NAME         the one user who signs in at the interaction pages, with the password in
//   USER_PASSWORD_FILE  this file (one line), hashed with argon2id (m=19456 KiB, t=2, p=1, as
//   USER_EMAIL        certbound) at start; USER_EMAIL and USER_FULL_NAME are its `email` and
//   USER_FULL_NAME    `name` claims
//
// TLS: the listener requests a client certificate but does not refuse a connection without one or
// with an untrusted one (requestCert: true, rejectUnauthorized: false), as certbound does: Node still
// verifies the chain against CA_PEM during the handshake (socket.authorized), and tls_client_auth
// (features.mTLS.certificateAuthorized) refuses an unverified certificate with 401 invalid_client.
// Discovery, JWKS and the browser pages therefore stay reachable without a certificate.
//
// Logs nothing per request; prints "oidc-provider listening on https://localhost:PORT" when ready.

import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';

import Provider from 'oidc-provider';

import { accountFinder, createUser, interactionRoutes } from './interactions.mjs';

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
const opaqueClientId = process.env.OPAQUE_CLIENT_ID || undefined;
const webClientId = process.env.WEB_CLIENT_ID || undefined;
const webRedirectUri = process.env.WEB_REDIRECT_URI;
const webScope = process.env.WEB_SCOPE || 'openid profile email transactions';
if (webClientId && !webRedirectUri) {
  console.error('WEB_CLIENT_ID needs WEB_REDIRECT_URI');
  process.exit(2);
}
if (Boolean(process.env.USER_NAME) !== Boolean(process.env.USER_PASSWORD_FILE)) {
  console.error('USER_NAME and USER_PASSWORD_FILE go together');
  process.exit(2);
}
const user = process.env.USER_NAME ? await createUser({
  username: process.env.USER_NAME,
  passwordFile: process.env.USER_PASSWORD_FILE,
  email: process.env.USER_EMAIL || undefined,
  name: process.env.USER_FULL_NAME || undefined,
}) : undefined;

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
// The OPAQUE_CLIENT_ID client's tokens: the same resource server, stored opaque tokens.
const opaqueResourceServer = Object.freeze({ ...resourceServer, accessTokenFormat: 'opaque', jwt: undefined });

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

if (opaqueClientId) {
  clients.push({
    ...clientCommon,
    client_id: opaqueClientId,
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_subject_dn: subjectDn,
    tls_client_certificate_bound_access_tokens: true,
  });
}
if (webClientId) {
  // certbound's quickstart `partner-web`: partner-a's certificate, PAR required, PKCE S256
  // (required for every client below), code + refresh token, bound tokens.
  clients.push({
    client_id: webClientId,
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_subject_dn: subjectDn,
    tls_client_certificate_bound_access_tokens: true,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [webRedirectUri],
    require_pushed_authorization_requests: true,
    id_token_signed_response_alg: 'ES256',
    scope: webScope,
  });
}

const peerStore = process.env.PEER_STORE || 'memory';
if (!['memory', 'redis'].includes(peerStore)) {
  console.error(`PEER_STORE must be memory or redis, not ${peerStore}`);
  process.exit(2);
}
const adapter = peerStore === 'redis' ? (await import('./redis_adapter.mjs')).RedisAdapter : undefined;

const provider = new Provider(issuer, {
  ...(adapter ? { adapter } : {}),
  jwks: { keys: [jwk] },
  clients,
  clientDefaults: { id_token_signed_response_alg: 'ES256', token_endpoint_auth_method: 'tls_client_auth' },
  // The user flows: the one user, certbound's claims by scope, `transactions` as a scope the web
  // client's (opaque, /userinfo-capable) access token carries, as certbound's does.
  findAccount: accountFinder(user),
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'offline_access', 'transactions'],
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  // certbound's [authorization] defaults: a refresh token whenever the client has the grant (no
  // offline_access needed), no rotation.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: false,
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
    // The web client's tokens name no resource: oidc-provider serves /userinfo only for stored
    // (opaque) access tokens without an audience.
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client) => (client?.clientId === webClientId ? undefined : resource),
      getResourceServerInfo: async (ctx, indicator, client) => (
        client?.clientId === opaqueClientId ? opaqueResourceServer : resourceServer),
    },
    pushedAuthorizationRequests: { enabled: true },
    userinfo: { enabled: true },
    // Introspection by the token's own client (certbound: the client the token was issued to, or
    // a resource server), authenticated like every client here (tls_client_auth).
    introspection: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId,
    },
  },
  // certbound's defaults: code 60 s, refresh token 30 days, login session 8 h, interaction
  // 600 s (a pushed request lives 60 s on both, fixed in oidc-provider).
  ttl: {
    AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl,
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl,
    AuthorizationCode: 60,
    RefreshToken: 30 * 86_400,
    Grant: 30 * 86_400,
    Session: 8 * 3_600,
    Interaction: 600,
    IdToken: ttl,
  },
  // The client-assertion algorithms certbound accepts (PS256, ES256, EdDSA).
  enabledJWA: {
    idTokenSigningAlgValues: ['ES256'],
    clientAuthSigningAlgValues: ['PS256', 'ES256', 'EdDSA'],
  },
});

const interactions = interactionRoutes(provider, user);
const app = provider.callback();
const server = https.createServer({
  cert: readFileSync(certPath),
  key: readFileSync(keyPath),
  ca: readFileSync(caPath),
  requestCert: true,
  rejectUnauthorized: false,
  minVersion: 'TLSv1.2',
}, (req, res) => (interactions.handles(req) ? interactions.handle(req, res) : app(req, res)));
server.keepAliveTimeout = 60_000;

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on https://localhost:${port} (store: ${peerStore})`);
});

// Nothing to flush (state is in memory): stop at once, even with keep-alive connections open.
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
