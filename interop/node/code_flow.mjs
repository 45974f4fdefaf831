// certbound interop: the authorization code flow with openid-client, unchanged, as a partner's web
// application would run it: discovery, PAR + PKCE over mTLS (tls_client_auth), the user's login
// and consent, the code exchange, a refresh and userinfo, every back-channel call at the mTLS
// aliases with the client certificate.
//
// usage: INTEROP_PASSWORD=... node code_flow.mjs ISSUER CERT KEY CA CLIENT_ID REDIRECT_URI USERNAME
//
// The browser step is plain HTTP with a cookie jar (no browser): GET the authorization URL, post
// the login form, post the consent form (its csrf hidden field read from the HTML), and read the
// 303 Location to REDIRECT_URI, which is never contacted. Run it from a folder where `npm ci`
// installed package-lock.json (the interop test copies it next to its node_modules). Prints one
// JSON line with what it saw; exits non-zero on any mismatch.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const [issuer, cert, key, ca, clientId, redirectUri, username] = process.argv.slice(2);
const password = process.env.INTEROP_PASSWORD;
if (!username || !password) {
  console.error('usage: INTEROP_PASSWORD=... node code_flow.mjs ISSUER CERT KEY CA CLIENT_ID REDIRECT_URI USERNAME');
  process.exit(2);
}

const pem = (path) => readFileSync(path, 'utf8');

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

function version(name) {
  const url = new URL(`node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')).version;
}

const undici = await import('undici');
const client = await import('openid-client');

/** Every back-channel request, `METHOD URL`, so the report can say where each one went. */
const log = [];
const mtls = new undici.Agent({ connect: { cert: pem(cert), key: pem(key), ca: pem(ca) } });
const backChannel = (url, options) => {
  log.push(`${options?.method ?? 'GET'} ${url}`);
  return undici.fetch(url, { ...options, dispatcher: mtls });
};

// Default OpenID discovery; `use_mtls_endpoint_aliases` sends PAR, token and userinfo to the
// aliases on the mTLS listener.
const config = await client.discovery(
  new URL(issuer),
  clientId,
  { use_mtls_endpoint_aliases: true },
  client.TlsClientAuth(),
  { [client.customFetch]: backChannel },
);

// Also verify the ID tokens' signatures against jwks_uri (openid-client skips that by default for
// token endpoint responses, OIDC Core §3.1.3.7: TLS authenticates the issuer).
client.enableNonRepudiationChecks(config);

const codeVerifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authorizationUrl = await client.buildAuthorizationUrlWithPAR(config, {
  redirect_uri: redirectUri,
  scope: 'openid profile email',
  code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});
const parRequest = log.find((l) => l.startsWith('POST ')).slice('POST '.length);

/**
 * The user's browser: no client certificate, the CA trusted, redirects followed by hand so the
 * last one (to the client) is read, not fetched; a cookie jar of name=value pairs.
 */
const browserAgent = new undici.Agent({ connect: { ca: pem(ca) } });
const jar = new Map();
async function browse(url, form) {
  const headers = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
  const init = { method: 'GET', headers, redirect: 'manual', dispatcher: browserAgent };
  if (form) {
    init.method = 'POST';
    init.body = new URLSearchParams(form);
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  const r = await undici.fetch(url, init);
  for (const c of r.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const eq = pair.indexOf('=');
    jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
  return { status: r.status, location: r.headers.get('location'), html: await r.text() };
}

/** The value of `<input ... name="NAME" value="...">` or the form's `action`. */
function field(html, pattern) {
  const m = html.match(pattern);
  assert.ok(m, `${pattern} in ${html}`);
  return m[1].replaceAll('&amp;', '&');
}

let url = authorizationUrl.href;
let form;
const pages = [];
let callback;
for (let step = 0; step < 12 && !callback; step++) {
  const r = await browse(url, form);
  form = undefined;
  if (r.status === 303) {
    const next = new URL(r.location, url).href;
    if (next.startsWith(redirectUri)) callback = next;
    url = next;
    continue;
  }
  assert.equal(r.status, 200, `${url}: ${r.html}`);
  const action = new URL(field(r.html, /<form method="post" action="([^"]+)"/), url).href;
  const csrf = field(r.html, /name="csrf" value="([^"]+)"/);
  if (r.html.includes('name="password"')) {
    pages.push('login');
    form = { csrf, username, password, login: 'login' };
  } else {
    assert.ok(r.html.includes('name="decision"'), r.html);
    pages.push('consent');
    form = { csrf, decision: 'allow' };
  }
  url = action;
}
assert.ok(callback, `no redirect to ${redirectUri} after ${JSON.stringify(pages)}`);

// The library checks iss (RFC 9207), state, the code exchange with the PKCE verifier, and the ID
// token (signature against the JWKS; iss, aud, exp, iat, nonce).
const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: codeVerifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const idToken = tokens.claims();
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
// userinfo with the refreshed token; `sub` must equal the ID token's (checked by the library).
const userinfo = await client.fetchUserInfo(config, refreshed.access_token, idToken.sub);

const posts = log.filter((l) => l.startsWith('POST ')).map((l) => l.slice('POST '.length));
console.log(
  JSON.stringify({
    client: 'openid-client',
    version: version('openid-client'),
    undici: version('undici'),
    node: process.version,
    client_id: clientId,
    pages,
    par_endpoint: parRequest,
    token_endpoint: posts[1],
    refresh_endpoint: posts[2],
    userinfo_endpoint: log.at(-1).replace(/^GET /, ''),
    jwks_fetched: log.some((l) => l.startsWith('GET ') && l.endsWith('/jwks')),
    callback_iss: new URL(callback).searchParams.get('iss'),
    id_token: { iss: idToken.iss, aud: idToken.aud, sub: idToken.sub, nonce: idToken.nonce, nonce_sent: nonce },
    bound: claimsOf(tokens.access_token).cnf?.['x5t#S256'] ?? null,
    refreshed_bound: claimsOf(refreshed.access_token).cnf?.['x5t#S256'] ?? null,
    refreshed_id_token_sub: refreshed.claims()?.sub ?? null,
    access_sub: claimsOf(tokens.access_token).sub,
    userinfo,
  }),
);
