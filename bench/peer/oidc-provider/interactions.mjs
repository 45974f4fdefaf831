// The user side of the peer: one user whose password is checked with argon2id (the parameters
// certbound uses), and the interaction pages (login, consent) as a custom route beside
// oidc-provider, through provider.interactionDetails / interactionFinished.
//
// The pages have the shape of certbound's (crates/certbound-server/templates/web/), so one form
// driver (certbound-bench's browser) fills both: a POST form to /interaction/UID/login with a
// hidden `csrf`, `username`, `password` and a `login=login` button; a POST form to
// /interaction/UID/consent with a hidden `csrf`, a checked `remember=yes` checkbox and
// `decision=allow` / `decision=deny` buttons. Every POST answers 303 (interactionFinished), a failed
// login shows the login page again with one message, as certbound does.

import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

import argon2 from 'argon2';

// certbound-core/src/secret.rs: argon2id, m = 19456 KiB, t = 2, p = 1 (OWASP's first choice).
const ARGON2 = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 };
const MAX_BODY = 8 * 1024;
const MAX_FIELD = 1024;

// The user, with the password of `passwordFile` hashed now (only the hash is kept), and a hash of
// a random password that an unknown username is checked against (the same cost, as certbound).
export async function createUser({ username, passwordFile, email, name }) {
  const password = readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '');
  if (password.length < 8 || /[\r\n]/.test(password)) {
    throw new Error(`${passwordFile}: one line of at least 8 characters`);
  }
  return {
    username,
    sub: randomUUID(),
    email,
    name,
    hash: await argon2.hash(password, ARGON2),
    dummyHash: await argon2.hash(randomBytes(16).toString('base64url'), ARGON2),
  };
}

// oidc-provider's findAccount for that user: the claims certbound gives by scope
// (certbound-core/src/oidc/claims.rs): `name` for profile, `email` and `email_verified` for email.
export function accountFinder(user) {
  return async (ctx, id) => {
    if (!user || id !== user.sub) return undefined;
    return {
      accountId: id,
      async claims() {
        const claims = { sub: id };
        if (user.name) claims.name = user.name;
        if (user.email) Object.assign(claims, { email: user.email, email_verified: false });
        return claims;
      },
    };
  };
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, title, body) {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · oidc-provider</title>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(html));
  res.end(html);
}

function loginPage(res, uid, csrf, clientId, username, failed) {
  page(res, 200, 'Sign in', `<h1>Sign in</h1>
<p>to continue to <strong>${escapeHtml(clientId)}</strong></p>
${failed ? '<p class="error" id="login-error" role="alert">The username or password is incorrect.</p>\n' : ''}<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<p><label for="username">Username</label><br>
<input type="text" id="username" name="username" value="${escapeHtml(username)}" autocomplete="username" required autofocus></p>
<p><label for="password">Password</label><br>
<input type="password" id="password" name="password" autocomplete="current-password" required></p>
<p><button type="submit" name="login" id="login-submit" class="login-submit" value="login">Sign in</button></p>
</form>`);
}

function consentPage(res, uid, csrf, clientId, scopes) {
  const items = scopes.map((s) => `<li><code class="scope">${escapeHtml(s)}</code></li>`).join('\n');
  page(res, 200, 'Allow access', `<h1>Allow access</h1>
<p><strong id="consent-client">${escapeHtml(clientId)}</strong> asks to access your account with these permissions:</p>
<ul id="consent-scopes">
${items}</ul>
<form method="post" action="/interaction/${escapeHtml(uid)}/consent">
<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<p><label><input type="checkbox" name="remember" id="consent-remember" value="yes" checked> Remember this decision</label></p>
<p><button type="submit" name="decision" value="allow" id="consent-approve" class="consent-approve">Allow</button>
<button type="submit" name="decision" value="deny" id="consent-deny" class="consent-deny">Deny</button></p>
</form>`);
}

const errorPage = (res, status, message) => page(res, status, 'Authorization error',
  `<h1 class="error-page">Authorization error</h1>\n<p>${escapeHtml(message)}</p>`);

async function readForm(req) {
  const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk);
  }
  if (type !== 'application/x-www-form-urlencoded') return null;
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// Returns the request handler of /interaction/UID, /interaction/UID/login and
// /interaction/UID/consent; `handles(req)` says whether a request is one of them.
export function interactionRoutes(provider, user) {
  // The CSRF token of an interaction: an HMAC of its uid with a key of this process (stateless;
  // together with oidc-provider's interaction cookie it binds the form to this browser).
  const csrfKey = randomBytes(32);
  const csrfOf = (uid) => createHmac('sha256', csrfKey).update(uid).digest('base64url');
  const csrfMatches = (uid, sent) => {
    const want = Buffer.from(csrfOf(uid));
    const got = Buffer.from(String(sent ?? ''));
    return got.length === want.length && timingSafeEqual(got, want);
  };

  async function verify(username, password) {
    if (!user || username.length > MAX_FIELD || password.length > MAX_FIELD || !username || !password) {
      return false;
    }
    const known = username === user.username;
    const ok = await argon2.verify(known ? user.hash : user.dummyHash, password);
    return known && ok;
  }

  async function consent(details) {
    const { prompt: { details: missing }, params, session: { accountId } } = details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    // The grant is kept with the login session (oidc-provider's model): a later authorization
    // of the same client in this browser asks no consent, as certbound's "remember".
    return details.grantId ? {} : { grantId };
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'https://localhost');
    const [, , uid, action] = url.pathname.split('/');
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      return errorPage(res, 400, 'This sign-in request has expired, was already completed, or was started in another browser.');
    }
    if (details.uid !== uid) return errorPage(res, 400, 'This sign-in request is not this browser\'s.');
    const clientId = details.params.client_id;
    const prompt = details.prompt.name;
    if (req.method === 'GET' && action === undefined) {
      if (prompt === 'login') return loginPage(res, uid, csrfOf(uid), clientId, details.params.login_hint ?? '', false);
      if (prompt === 'consent') {
        return consentPage(res, uid, csrfOf(uid), clientId, String(details.params.scope ?? '').split(' ').filter(Boolean));
      }
      return errorPage(res, 400, `Unknown step ${prompt}.`);
    }
    if (req.method !== 'POST' || (action !== 'login' && action !== 'consent')) {
      return errorPage(res, 404, 'Not found.');
    }
    const form = await readForm(req);
    if (!form) return errorPage(res, 400, 'The form could not be read.');
    if (!csrfMatches(uid, form.get('csrf'))) return errorPage(res, 400, 'The form could not be read.');
    if (action === 'login') {
      if (prompt !== 'login') return errorPage(res, 400, 'Not a login step.');
      const username = form.get('username') ?? '';
      if (!(await verify(username, form.get('password') ?? ''))) {
        return loginPage(res, uid, csrfOf(uid), clientId, username.length <= MAX_FIELD ? username : '', true);
      }
      return provider.interactionFinished(req, res, { login: { accountId: user.sub, amr: ['pwd'] } }, {
        mergeWithLastSubmission: false,
      });
    }
    if (prompt !== 'consent') return errorPage(res, 400, 'Not a consent step.');
    const decision = form.get('decision');
    if (decision === 'deny') {
      return provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'the user denied the request',
      }, { mergeWithLastSubmission: false });
    }
    if (decision !== 'allow') return errorPage(res, 400, 'The form could not be read.');
    return provider.interactionFinished(req, res, { consent: await consent(details) }, {
      mergeWithLastSubmission: true,
    });
  }

  return {
    handles: (req) => req.url.startsWith('/interaction/'),
    handle: (req, res) => handle(req, res).catch((err) => {
      console.error('interaction failed:', err);
      if (!res.headersSent) errorPage(res, 500, 'Internal error.');
    }),
  };
}
