-- certbound schema version 3 (PostgreSQL): user flows (authorization code with PAR and PKCE, login and
-- consent, refresh tokens). Every secret-like value (codes, refresh tokens, session ids,
-- request_uri handles, interaction ids and their browser bindings) is stored only as its SHA-256
-- (32 bytes); the plaintext is handed out once, when the row is created. Booleans are integers
-- (the same code reads both backends). Times are i64 seconds since the Unix epoch.

-- People who sign in. `id` is random (128 bits, hex) and never reassigned: it is the `sub`.
-- `password_hash` is an argon2id PHC string; `claims` a JSON object of OIDC claims.
CREATE TABLE users (
    id                  TEXT    NOT NULL PRIMARY KEY,
    username            TEXT    NOT NULL UNIQUE,
    email               TEXT,
    name                TEXT,
    password_hash       TEXT    NOT NULL,
    claims              TEXT    NOT NULL,
    disabled            BIGINT  NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at          BIGINT  NOT NULL,
    password_changed_at BIGINT  NOT NULL
);

-- Pushed authorization requests (RFC 9126). `handle_hash` is the SHA-256 of the random part of
-- `urn:ietf:params:oauth:request_uri:<random>`; `params` the validated request as JSON.
CREATE TABLE par_requests (
    handle_hash BYTEA   NOT NULL PRIMARY KEY CHECK (octet_length(handle_hash) = 32),
    client_id   TEXT    NOT NULL,
    params      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX par_requests_expires_at ON par_requests (expires_at);

-- What a user granted a client, once per issued code: revoking a grant revokes every code,
-- refresh token and access token issued under it.
CREATE TABLE grants (
    grant_id   TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_user_id ON grants (user_id);

-- Authorization codes: single use (`consumed_at`), bound to client, redirect_uri, PKCE challenge.
CREATE TABLE authorization_codes (
    code_hash             BYTEA   NOT NULL PRIMARY KEY CHECK (octet_length(code_hash) = 32),
    grant_id              TEXT    NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id             TEXT    NOT NULL,
    user_id               TEXT    NOT NULL,
    redirect_uri          TEXT    NOT NULL,
    scope                 TEXT    NOT NULL,
    code_challenge        TEXT    NOT NULL,
    code_challenge_method TEXT    NOT NULL,
    nonce                 TEXT,
    auth_time             BIGINT  NOT NULL,
    sid                   TEXT,
    x5t_s256              TEXT,
    issued_at             BIGINT  NOT NULL,
    expires_at            BIGINT  NOT NULL,
    consumed_at           BIGINT
);
CREATE INDEX authorization_codes_grant_id ON authorization_codes (grant_id);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

-- Refresh tokens. `x5t_s256` binds a public client's token to its certificate (RFC 8705 §4);
-- `rotated_at` / `replaced_by` (the successor's hash) record rotation, for reuse detection.
CREATE TABLE refresh_tokens (
    token_hash  BYTEA   NOT NULL PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    grant_id    TEXT    NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id   TEXT    NOT NULL,
    x5t_s256    TEXT,
    issued_at   BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    rotated_at  BIGINT ,
    replaced_by BYTEA,
    revoked_at  BIGINT
);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- Login sessions (SSO). `session_hash` is the SHA-256 of the cookie value; `sid` is a separate,
-- public identifier for the ID token's `sid` claim and logout.
CREATE TABLE login_sessions (
    session_hash BYTEA   NOT NULL PRIMARY KEY CHECK (octet_length(session_hash) = 32),
    sid          TEXT    NOT NULL UNIQUE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time    BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    ended_at     BIGINT
);
CREATE INDEX login_sessions_user_id ON login_sessions (user_id);
CREATE INDEX login_sessions_expires_at ON login_sessions (expires_at);

-- Remembered consent, one row per (user, client).
CREATE TABLE consents (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    granted_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- The state between /authorize and the login and consent steps. `browser_hash` is the SHA-256
-- of the secret that binds the interaction to one browser (cookie and CSRF token).
CREATE TABLE interactions (
    id_hash      BYTEA   NOT NULL PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    browser_hash BYTEA   NOT NULL CHECK (octet_length(browser_hash) = 32),
    request      TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX interactions_expires_at ON interactions (expires_at);

-- Access tokens issued under a grant, so revoking the grant revokes them.
ALTER TABLE access_tokens ADD COLUMN grant_id TEXT;
CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id) WHERE grant_id IS NOT NULL;
