-- Agent tokens (MCP): each bound to one project and to the (connection, action) pairs
-- its agent may call as tools. Only SHA-256 of the token's secret is stored; a revoked
-- token keeps its row (and its tools) so its calls in the audit trail keep a name.
-- Keep in step with ../postgres/.

CREATE TABLE agent_tokens (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE INDEX agent_tokens_by_project ON agent_tokens (project_id, created_at);

CREATE TABLE agent_tools (
    agent_id      TEXT NOT NULL REFERENCES agent_tokens (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    action        TEXT NOT NULL,
    PRIMARY KEY (agent_id, connection_id, action)
);
