-- A revision number per project, moved on in the same transaction as every write to
-- what a flow run reads through a replica's caches: a flow changed or deleted, a
-- connection changed (its credential, status, token times, names) or deleted. A
-- replica keeps such rows tagged with the revision it read them at and uses them only
-- while the project is still at that revision, which it reads with the run's API token
-- (one round trip); a write on any replica therefore reaches every other at once.
-- Columns no cached row holds do not move it: `last_used_at` (every run's usage
-- write), the refresh lease and schedule (taken, renewed and released around every
-- refresh), the webhook worker's `notified_status`; any other column does, including
-- ones added later.
-- Triggers, not application code: every writer (a server, the CLI, an older binary)
-- moves it. Deferred to the commit, so a transaction locks its projects' rows only
-- after every other row it writes: the usage batch (many connections, in one order)
-- and a refresh (one connection) never hold one lock each while waiting for the other's.
-- Keep in step with ../sqlite/ (which has the column but no triggers: one server per
-- SQLite file keeps its caches exact itself).

ALTER TABLE projects ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION bump_project_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE projects SET revision = revision + 1 WHERE id = OLD.project_id;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER flows_move_revision AFTER UPDATE OR DELETE ON flows
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_project_revision();

CREATE CONSTRAINT TRIGGER connections_move_revision_on_delete AFTER DELETE ON connections
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_project_revision();

CREATE CONSTRAINT TRIGGER connections_move_revision_on_update AFTER UPDATE ON connections
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN ((to_jsonb(OLD) - ARRAY['last_used_at', 'refresh_lease_until', 'refresh_lease_holder',
                                  'refresh_after', 'refresh_failures', 'notified_status'])
          IS DISTINCT FROM
          (to_jsonb(NEW) - ARRAY['last_used_at', 'refresh_lease_until', 'refresh_lease_holder',
                                 'refresh_after', 'refresh_failures', 'notified_status']))
    EXECUTE FUNCTION bump_project_revision();
