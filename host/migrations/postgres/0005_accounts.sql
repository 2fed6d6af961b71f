-- People and their browser sessions (the web UI; API tokens stay for machines). Only
-- hashes are kept: argon2id for passwords, SHA-256 for session ids, CSRF tokens never
-- leave the session row except in the session's own pages, and the one-time setup
-- link's token is stored as SHA-256. Times are Unix milliseconds. Keep in step with
-- ../sqlite/.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

CREATE TABLE memberships (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, project_id)
);

-- The cookie holds the session id; the row is keyed by SHA-256(id).
CREATE TABLE sessions (
    id_hash      BYTEA PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id   TEXT NOT NULL,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- The one-time "create the first admin" link printed by serve on a fresh install.
CREATE TABLE setup_tokens (
    token_hash BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
