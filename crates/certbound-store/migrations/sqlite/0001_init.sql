-- certbound schema version 1 (SQLite).
-- Applied by certbound-store's migration runner inside one `BEGIN IMMEDIATE` transaction;
-- the runner records the version in `schema_version`. Times are i64 seconds since the Unix epoch.
-- STRICT tables make SQLite enforce the declared column types like PostgreSQL does.

-- JWT signing keys. `seq` only orders keys that share a `created_at`.
CREATE TABLE signing_keys (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    kid           TEXT    NOT NULL UNIQUE,
    alg           TEXT    NOT NULL,
    private_pkcs8 BLOB    NOT NULL,
    public_jwk    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    retired_at    INTEGER,
    publish_until INTEGER
) STRICT;

-- Issued access tokens. `hash` is the SHA-256 of the token as sent to the client (the primary
-- key is its index); opaque tokens themselves are never stored.
CREATE TABLE access_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    jti        TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    format     TEXT    NOT NULL CHECK (format IN ('jwt', 'opaque')),
    claims     TEXT    NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE UNIQUE INDEX access_tokens_jti ON access_tokens (jti);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);
