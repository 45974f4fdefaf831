-- certbound schema version 4 (SQLite): replay protection for JWTs a client presents once
-- (private_key_jwt client assertions, DPoP proofs). A row says "this jti was used by this client
-- (or DPoP key) for this kind of JWT"; it is kept until the JWT's own `exp`, after which the JWT
-- is refused as expired anyway. The `jti` is stored only as its SHA-256 (32 bytes): it is chosen
-- by the client and may be long. The primary key makes the first insert win, across instances.
CREATE TABLE used_jtis (
    kind       TEXT    NOT NULL CHECK (kind IN ('client_assertion', 'dpop')),
    client_id  TEXT    NOT NULL,
    jti_hash   BLOB    NOT NULL CHECK (length(jti_hash) = 32),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (kind, client_id, jti_hash)
) STRICT;
CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);
