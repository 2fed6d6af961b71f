-- Projects, their API tokens, connections (credentials sealed by the vault) and the
-- audit trail. Times are Unix milliseconds. Keep in step with ../sqlite/.

CREATE TABLE projects (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A token is `tfk_<id>_<secret>`; only SHA-256(secret) is kept.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    secret_hash BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE connections (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    external_id  TEXT NOT NULL,
    display_name TEXT NOT NULL,
    piece        TEXT NOT NULL,
    auth_type    TEXT NOT NULL,
    status       TEXT NOT NULL,
    key_version  TEXT NOT NULL,
    nonce        BYTEA NOT NULL,
    ciphertext   BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    UNIQUE (project_id, external_id)
);
CREATE INDEX connections_key_version ON connections (key_version);

-- No foreign key to connections: the trail outlives what it describes.
CREATE TABLE audit_events (
    id            BIGSERIAL PRIMARY KEY,
    project_id    TEXT NOT NULL,
    connection_id TEXT,
    external_id   TEXT,
    event         TEXT NOT NULL,
    flow_id       TEXT,
    detail        TEXT,
    at            BIGINT NOT NULL
);
CREATE INDEX audit_events_by_project ON audit_events (project_id, id);
