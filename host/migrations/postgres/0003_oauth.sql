-- OAuth2: token expiry and refresh bookkeeping on connections, the operators' OAuth
-- apps (client secret sealed by the vault), and pending authorizations (single-use
-- state, PKCE verifier sealed). Keep in step with ../sqlite/.

ALTER TABLE connections ADD COLUMN expires_at BIGINT;
ALTER TABLE connections ADD COLUMN refresh_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN refresh_after BIGINT NOT NULL DEFAULT 0;
-- A replica refreshing a token holds this lease (Unix ms) so others wait and re-read.
ALTER TABLE connections ADD COLUMN refresh_lease_until BIGINT NOT NULL DEFAULT 0;

CREATE TABLE oauth_apps (
    piece       TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    key_version TEXT NOT NULL,
    nonce       BYTEA NOT NULL,
    ciphertext  BYTEA NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE oauth_states (
    id          TEXT PRIMARY KEY,
    secret_hash BYTEA NOT NULL,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    request     TEXT NOT NULL,
    key_version TEXT NOT NULL,
    nonce       BYTEA NOT NULL,
    ciphertext  BYTEA NOT NULL,
    expires_at  BIGINT NOT NULL
);
