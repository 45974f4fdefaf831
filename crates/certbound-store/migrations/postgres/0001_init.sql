-- certbound schema version 1 (PostgreSQL).
-- Applied by certbound-store's migration runner inside one transaction holding an advisory lock,
-- so several certbound nodes starting at once migrate exactly once; the runner records the
-- version in `schema_version`. Times are i64 seconds since the Unix epoch.

-- JWT signing keys. `seq` only orders keys that share a `created_at`.
CREATE TABLE signing_keys (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kid           TEXT   NOT NULL UNIQUE,
    alg           TEXT   NOT NULL,
    private_pkcs8 BYTEA  NOT NULL,
    public_jwk    TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    retired_at    BIGINT,
    publish_until BIGINT
);

-- Issued access tokens. `hash` is the SHA-256 of the token as sent to the client (the primary
-- key is its index); opaque tokens themselves are never stored.
CREATE TABLE access_tokens (
    hash       BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(hash) = 32),
    jti        TEXT   NOT NULL,
    client_id  TEXT   NOT NULL,
    format     TEXT   NOT NULL CHECK (format IN ('jwt', 'opaque')),
    claims     TEXT   NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE UNIQUE INDEX access_tokens_jti ON access_tokens (jti);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);
