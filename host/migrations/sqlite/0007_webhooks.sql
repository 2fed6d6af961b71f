-- Connection-health webhooks: a project's webhook URL and signing secret (sealed like
-- a credential), the deliveries (an outbox: one row per event, retried with backoff,
-- kept as the delivery log), and per connection the status last announced, so every
-- replica finds each change to Expired or Error exactly once. Keep in step with
-- ../postgres/.

CREATE TABLE project_webhooks (
    project_id  TEXT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    key_version TEXT NOT NULL,
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id      TEXT NOT NULL,
    event_id        TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    connection_id   TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    lease_holder    TEXT NOT NULL DEFAULT '',
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_by_project ON webhook_deliveries (project_id, id);

ALTER TABLE connections ADD COLUMN notified_status TEXT NOT NULL DEFAULT 'active';
UPDATE connections SET notified_status = status;
CREATE INDEX connections_to_announce ON connections (project_id) WHERE status <> notified_status;
