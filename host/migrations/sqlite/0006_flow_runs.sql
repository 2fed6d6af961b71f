-- The recent runs of each flow (the flow pages show them; the newest 50 per flow are
-- kept). `report` is the run's JSON report: step statuses, outputs and stable error
-- codes, never a credential. Keep in step with ../postgres/.

CREATE TABLE flow_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  TEXT NOT NULL,
    flow_id     TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    report      TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT NOT NULL
);
CREATE INDEX flow_runs_by_flow ON flow_runs (flow_id, id);
