-- certbound schema version 3 (SQLite): user flows (authorization code with PAR and PKCE, login and
-- consent, refresh tokens). Every secret-like value (codes, refresh tokens, session ids,
-- request_uri handles, interaction ids and their browser bindings) is stored only as its SHA-256
-- (32 bytes); the plaintext is handed out once, when the row is created. Booleans are integers
-- (sqlx's Any driver cannot read SQLite booleans). Times are i64 seconds since the Unix epoch.

-- People who sign in. `id` is random (128 bits, hex) and never reassigned: it is the `sub`.
-- `password_hash` is an argon2id PHC string; `claims` a JSON object of OIDC claims.
CREATE TABLE users (
    id                  TEXT    NOT NULL PRIMARY KEY,
    username            TEXT    NOT NULL UNIQUE,
    email               TEXT,
    name                TEXT,
    password_hash       TEXT    NOT NULL,
    claims              TEXT    NOT NULL,
    disabled            INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
) STRICT;

-- Pushed authorization requests (RFC 9126). `handle_hash` is the SHA-256 of the random part of
-- `urn:ietf:params:oauth:request_uri:<random>`; `params` the validated request as JSON.
CREATE TABLE par_requests (
    handle_hash BLOB    NOT NULL PRIMARY KEY CHECK (length(handle_hash) = 32),
    client_id   TEXT    NOT NULL,
    params      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER
) STRICT;
CREATE INDEX par_requests_expires_at ON par_requests (expires_at);

-- What a user granted a client, once per issued code: revoking a grant revokes every code,
-- refresh token and access token issued under it.
CREATE TABLE grants (
    grant_id   TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX grants_user_id ON grants (user_id);

-- Authorization codes: single use (`consumed_at`), bound to client, redirect_uri, PKCE challenge.
CREATE TABLE authorization_codes (
    code_hash             BLOB    NOT NULL PRIMARY KEY CHECK (length(code_hash) = 32),
    grant_id              TEXT    NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id             TEXT    NOT NULL,
    user_id               TEXT    NOT NULL,
    redirect_uri          TEXT    NOT NULL,
    scope                 TEXT    NOT NULL,
    code_challenge        TEXT    NOT NULL,
    code_challenge_method TEXT    NOT NULL,
    nonce                 TEXT,
    auth_time             INTEGER NOT NULL,
    sid                   TEXT,
    x5t_s256              TEXT,
    issued_at             INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    consumed_at           INTEGER
) STRICT;
CREATE INDEX authorization_codes_grant_id ON authorization_codes (grant_id);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

-- Refresh tokens. `x5t_s256` binds a public client's token to its certificate (RFC 8705 §4);
-- `rotated_at` / `replaced_by` (the successor's hash) record rotation, for reuse detection.
CREATE TABLE refresh_tokens (
    token_hash  BLOB    NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    grant_id    TEXT    NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id   TEXT    NOT NULL,
    x5t_s256    TEXT,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    rotated_at  INTEGER,
    replaced_by BLOB,
    revoked_at  INTEGER
) STRICT;
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- Login sessions (SSO). `session_hash` is the SHA-256 of the cookie value; `sid` is a separate,
-- public identifier for the ID token's `sid` claim and logout.
CREATE TABLE login_sessions (
    session_hash BLOB    NOT NULL PRIMARY KEY CHECK (length(session_hash) = 32),
    sid          TEXT    NOT NULL UNIQUE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ended_at     INTEGER
) STRICT;
CREATE INDEX login_sessions_user_id ON login_sessions (user_id);
CREATE INDEX login_sessions_expires_at ON login_sessions (expires_at);

-- Remembered consent, one row per (user, client).
CREATE TABLE consents (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;

-- The state between /authorize and the login and consent steps. `browser_hash` is the SHA-256
-- of the secret that binds the interaction to one browser (cookie and CSRF token).
CREATE TABLE interactions (
    id_hash      BLOB    NOT NULL PRIMARY KEY CHECK (length(id_hash) = 32),
    browser_hash BLOB    NOT NULL CHECK (length(browser_hash) = 32),
    request      TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX interactions_expires_at ON interactions (expires_at);

-- Access tokens issued under a grant, so revoking the grant revokes them.
ALTER TABLE access_tokens ADD COLUMN grant_id TEXT;
CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id) WHERE grant_id IS NOT NULL;
