-- Flows and the connections their steps reference (by external id, so a rename never
-- breaks a flow). Keep in step with ../postgres/.

CREATE TABLE flows (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX flows_by_project ON flows (project_id, created_at);

CREATE TABLE flow_connection_refs (
    flow_id     TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    project_id  TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (flow_id, external_id)
);
CREATE INDEX flow_connection_refs_by_connection
    ON flow_connection_refs (project_id, external_id);
