// certbound interop: a Node.js OAuth client (oauth4webapi, openid-client or axios) gets a
// certificate-bound token over mTLS and calls the API through the gateway, as a partner would with
// the library they already use. Nothing here is certbound-specific beyond the URLs and files.
//
// usage: node client.mjs (oauth4webapi|openid-client|axios) ISSUER GATEWAY_API_URL CERT KEY CA OTHER_CERT OTHER_KEY [CLIENT_ID]
//
// CLIENT_ID defaults to partner-a (tls_client_auth); partner-s is the self-signed client
// (self_signed_tls_client_auth). Run it from a folder where `npm ci` installed package-lock.json
// (the interop test copies it next to its node_modules). Prints one JSON line with what it saw;
// exits non-zero on any mismatch.

import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';

const [lib, issuer, api, cert, key, ca, otherCert, otherKey, clientId = 'partner-a'] =
  process.argv.slice(2);
if (!otherKey) {
  console.error('usage: node client.mjs LIB ISSUER GATEWAY_API_URL CERT KEY CA OTHER_CERT OTHER_KEY [CLIENT_ID]');
  process.exit(2);
}

const pem = (path) => readFileSync(path, 'utf8');

/** x5t#S256 of a PEM certificate file: base64url(SHA-256(DER)), the DER from node:crypto. */
function thumbprint(path) {
  const der = new X509Certificate(pem(path)).raw;
  return createHash('sha256').update(der).digest('base64url');
}

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

function version(name) {
  const url = new URL(`node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')).version;
}

const body = JSON.stringify({ amount: 1, currency: 'EUR' });
const jsonHeaders = { 'content-type': 'application/json' };

/**
 * undici's fetch with an Agent presenting the given client certificate and trusting only the
 * quickstart CA; every request is logged so the report can say where the token request went.
 */
async function undiciFetch(certPath, keyPath, log) {
  const { Agent, fetch } = await import('undici');
  const dispatcher = new Agent({ connect: { cert: pem(certPath), key: pem(keyPath), ca: pem(ca) } });
  return (url, options) => {
    log.push(`${options?.method ?? 'GET'} ${url}`);
    return fetch(url, { ...options, dispatcher });
  };
}

/** The one token request (POST) in the log. */
function tokenRequest(log) {
  const posts = log.filter((l) => l.startsWith('POST '));
  assert.equal(posts.length, 1, `one token request expected, saw ${JSON.stringify(log)}`);
  return posts[0].slice('POST '.length);
}

async function withOauth4webapi() {
  const oauth = await import('oauth4webapi');
  const log = [];
  const fetchA = await undiciFetch(cert, key, log);
  const issuerUrl = new URL(issuer);
  // RFC 8414 discovery (/.well-known/oauth-authorization-server), issuer checked by the library.
  const as = await oauth
    .discoveryRequest(issuerUrl, { algorithm: 'oauth2', [oauth.customFetch]: fetchA })
    .then((r) => oauth.processDiscoveryResponse(issuerUrl, r));
  const client = { client_id: clientId, use_mtls_endpoint_aliases: true };
  const response = await oauth.clientCredentialsGrantRequest(
    as,
    client,
    oauth.TlsClientAuth(),
    new URLSearchParams(),
    { [oauth.customFetch]: fetchA },
  );
  const tokens = await oauth.processClientCredentialsResponse(as, client, response);
  const tokenEndpoint = tokenRequest(log);
  const callApi = (certPath, keyPath) =>
    undiciFetch(certPath, keyPath, []).then((f) =>
      oauth.protectedResourceRequest(tokens.access_token, 'POST', new URL(api), jsonHeaders, body, {
        [oauth.customFetch]: f,
      }),
    );
  const ok = await callApi(cert, key);
  const stolen = await callApi(otherCert, otherKey).then(
    (r) => ({ status: r.status, challenge: r.headers.get('www-authenticate') ?? '', parsed: null }),
    (e) => {
      // oauth4webapi turns a 401 with a challenge into WWWAuthenticateChallengeError.
      if (!(e instanceof oauth.WWWAuthenticateChallengeError)) throw e;
      return {
        status: e.response.status,
        challenge: e.response.headers.get('www-authenticate') ?? '',
        parsed: e.cause?.[0]?.parameters?.error ?? null,
      };
    },
  );
  return {
    version: version('oauth4webapi'),
    as,
    token: tokens.access_token,
    tokenEndpoint,
    api: ok.status,
    stolen,
  };
}

async function withOpenidClient() {
  const client = await import('openid-client');
  const log = [];
  const fetchA = await undiciFetch(cert, key, log);
  // Default discovery (/.well-known/openid-configuration), issuer checked by the library; the
  // client metadata `use_mtls_endpoint_aliases` makes it use the mTLS aliases.
  const config = await client.discovery(
    new URL(issuer),
    clientId,
    { use_mtls_endpoint_aliases: true },
    client.TlsClientAuth(),
    { [client.customFetch]: fetchA },
  );
  const tokens = await client.clientCredentialsGrant(config);
  const tokenEndpoint = tokenRequest(log);
  const ok = await client.fetchProtectedResource(
    config,
    tokens.access_token,
    new URL(api),
    'POST',
    body,
    new Headers(jsonHeaders),
  );
  // The thief: partner-b's own configuration (its certificate), replaying partner-a's token.
  const thief = new client.Configuration(
    config.serverMetadata(),
    'partner-b',
    { use_mtls_endpoint_aliases: true },
    client.TlsClientAuth(),
  );
  thief[client.customFetch] = await undiciFetch(otherCert, otherKey, []);
  const stolen = await client
    .fetchProtectedResource(thief, tokens.access_token, new URL(api), 'POST', body, new Headers(jsonHeaders))
    .then(
      (r) => ({ status: r.status, challenge: r.headers.get('www-authenticate') ?? '', parsed: null }),
      (e) => {
        if (!(e instanceof client.WWWAuthenticateChallengeError)) throw e;
        return {
          status: e.response.status,
          challenge: e.response.headers.get('www-authenticate') ?? '',
          parsed: e.cause?.[0]?.parameters?.error ?? null,
        };
      },
    );
  return {
    version: version('openid-client'),
    as: config.serverMetadata(),
    token: tokens.access_token,
    tokenEndpoint,
    api: ok.status,
    stolen,
  };
}

async function withAxios() {
  const { default: axios } = await import('axios');
  const agentA = new https.Agent({ cert: pem(cert), key: pem(key), ca: pem(ca) });
  const http = axios.create({ httpsAgent: agentA, validateStatus: () => true, proxy: false });
  const meta = await http.get(`${issuer}/.well-known/oauth-authorization-server`);
  assert.equal(meta.status, 200);
  const as = meta.data;
  // axios does not read metadata: the caller picks the mTLS alias.
  const tokenEndpoint = as.mtls_endpoint_aliases.token_endpoint;
  const r = await http.post(
    tokenEndpoint,
    new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId }),
  );
  assert.equal(r.status, 200, JSON.stringify(r.data));
  const token = r.data.access_token;
  const callApi = (agent) =>
    http.post(api, JSON.parse(body), {
      httpsAgent: agent,
      headers: { Authorization: `Bearer ${token}` },
    });
  const ok = await callApi(agentA);
  const other = await callApi(new https.Agent({ cert: pem(otherCert), key: pem(otherKey), ca: pem(ca) }));
  return {
    version: version('axios'),
    as,
    token,
    tokenEndpoint: r.request?.res?.responseUrl ?? r.config.url,
    api: ok.status,
    stolen: { status: other.status, challenge: other.headers['www-authenticate'] ?? '', parsed: null },
  };
}

const run = { oauth4webapi: withOauth4webapi, 'openid-client': withOpenidClient, axios: withAxios }[lib];
if (!run) {
  console.error(`unknown library ${lib}`);
  process.exit(2);
}
const seen = await run();
assert.equal(seen.as.issuer, issuer, 'issuer');
assert.equal(seen.tokenEndpoint, seen.as.mtls_endpoint_aliases.token_endpoint, 'the token request went to the mTLS alias');
const claims = claimsOf(seen.token);
assert.equal(claims.client_id ?? claims.sub, clientId, 'token issued to the client');
const bound = claims.cnf?.['x5t#S256'];
const expected = thumbprint(cert);
assert.equal(bound, expected, 'cnf.x5t#S256 is the SHA-256 of the certificate the client used');
assert.equal(seen.api, 201, 'the API through the gateway with the same certificate');
assert.equal(seen.stolen.status, 401, 'the same token with another certificate');
assert.match(seen.stolen.challenge, /error="invalid_token"/, 'WWW-Authenticate');
if (seen.stolen.parsed !== null) assert.equal(seen.stolen.parsed, 'invalid_token', 'challenge as parsed by the library');
console.log(
  JSON.stringify({
    client: lib,
    version: seen.version,
    undici: lib === 'axios' ? null : version('undici'),
    node: process.versions.node,
    client_id: clientId,
    token_endpoint: seen.tokenEndpoint,
    bound,
    api: seen.api,
    stolen: seen.stolen.status,
    challenge: seen.stolen.challenge,
  }),
);
