-- Agent tokens (MCP): each bound to one project and to the (connection, action) pairs
-- its agent may call as tools, and made by an API token (`created_by`; revoking, i.e.
-- deleting, that API token deletes the agent tokens it made, so a leaked API token
-- leaves nothing behind) or by an admin in Settings (`created_by` null).
-- Only SHA-256 of the token's secret is stored; a revoked agent token keeps its row
-- (its calls in the audit trail name it by its name, kept in each event's detail).
-- Keep in step with ../sqlite/.

CREATE TABLE agent_tokens (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_by   TEXT REFERENCES api_tokens (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE INDEX agent_tokens_by_project ON agent_tokens (project_id, created_at);
CREATE INDEX agent_tokens_by_creator ON agent_tokens (created_by);

CREATE TABLE agent_tools (
    agent_id      TEXT NOT NULL REFERENCES agent_tokens (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    action        TEXT NOT NULL,
    PRIMARY KEY (agent_id, connection_id, action)
);

CREATE INDEX agent_tools_by_connection ON agent_tools (connection_id);

-- An agent's tool calls in the trail: `used` events name the agent token.
-- (No index: the Audit page's filter reads the project's events newest first, as for
-- its other filters, and the busiest write path pays nothing more.)
ALTER TABLE audit_events ADD COLUMN agent_id TEXT;
