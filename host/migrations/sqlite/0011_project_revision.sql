-- A revision number per project (see ../postgres/0011_project_revision.sql): on
-- PostgreSQL, triggers move it with every write to what replicas cache for flow runs.
-- A SQLite file has one server, which keeps its caches exact itself (and learns of the
-- CLI's writes from the marker file), so here it is only the column, kept so that
-- `thinkfleet store copy` moves projects between the backends unchanged.
-- Keep in step with ../postgres/.

ALTER TABLE projects ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
