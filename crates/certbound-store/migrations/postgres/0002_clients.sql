-- certbound schema version 2 (PostgreSQL): clients registered at run time (`certbound clients add`),
-- as validated RFC 7591 metadata JSON (secrets only as argon2 hashes). Every instance reloads them.
CREATE TABLE clients (
    client_id  TEXT   NOT NULL PRIMARY KEY,
    metadata   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
