//! PostgreSQL: a batch's uses and runs (or uses alone) in one statement of one fixed
//! text, so one round trip and its own transaction instead of BEGIN, a statement per
//! connection and per run, and COMMIT.
//!
//! The rows travel as three JSON parameters (`json_to_recordset`), not as a `$N` per
//! value: the statement's text is the same for every batch, whatever its numbers of
//! connections, uses and runs, so each pooled connection prepares it once and
//! PostgreSQL plans it from its cache. A text per shape, as the VALUES lists were,
//! turned sqlx's 100-statement cache over (a parse and a plan, and a round trip to
//! prepare, per new shape) as soon as batches came in many sizes, and bounded a batch
//! by PostgreSQL's 65,535 parameters. A batch is bounded by its bytes instead
//! ([`fits`]); a bigger one takes the transaction of statements SQLite uses.

use super::connections::{LAST_USE_STEP_MS, latest_uses};
use super::runs::RunRecord;
use super::{ConnectionStatus, Result, StoreError, UseRecord};
use serde::Serialize;
use sqlx::AnyConnection;

/// The most bytes of rows one statement carries (about: the JSON adds its keys, and
/// its escapes at most double a report or detail, which are JSON text already). A
/// bigger batch (a few hundred runs with large reports) takes the transaction of
/// statements instead, so no statement holds hundreds of megabytes in the host, on the
/// wire and in PostgreSQL's parser, and a retry resends little.
const MAX_BYTES: usize = 8 << 20;

/// Whether `records` and `uses` are small enough for one statement ([`MAX_BYTES`]).
pub(super) fn fits(records: &[RunRecord], uses: &[UseRecord]) -> bool {
    const ROW: usize = 160;
    let runs: usize = records.iter().map(|r| ROW + r.run.report.len()).sum();
    let uses: usize = uses.iter().map(|u| 2 * ROW + u.detail.len()).sum();
    runs + uses <= MAX_BYTES
}

/// How often the one statement (or a bigger batch's transaction) is tried. Each try is
/// its own transaction, so a failed one leaves nothing behind in the database: see
/// [`worth_retrying`].
pub(super) const ATTEMPTS: u32 = 3;

/// The statement. `$1`: the connection rows to set (the latest use of each); `$2`: the
/// `used` events; `$3`: the runs; each a JSON array of objects whose keys are the
/// columns of its `AS (…)` list. A connection's row is locked (in the one order of
/// [`latest_uses`], byte order as in Rust) and updated only when the use moves its
/// status or its `last_used_at` by [`LAST_USE_STEP_MS`]. Events and runs are inserted
/// in the batch's order (`ord`). A run whose flow is gone gets no row; the run ids are
/// drawn before the insert, in the batch's order (the sorted subquery is materialized,
/// not flattened into the one that draws them), so each is matched to its record and
/// later runs get higher numbers.
///
/// Each read of `connections` and `flows` also names its keys as `= ANY(ARRAY(…))` of
/// the batch's rows. The planner cannot see how many rows a `json_to_recordset` holds
/// and assumes 100; against a table of a thousand rows or more, it then joined by
/// scanning the whole table in every batch (1.5–6 ms a batch with 1,000–20,000
/// connections or flows, `EXPLAIN ANALYZE`). An `= ANY` of an array it estimates at
/// ten keys, which it reads through the primary key (a bitmap index scan).
pub(super) fn statement() -> String {
    let (expired, error, active) = (
        ConnectionStatus::Expired.as_str(),
        ConnectionStatus::Error.as_str(),
        ConnectionStatus::Active.as_str(),
    );
    format!(
        "WITH u AS (SELECT * FROM json_to_recordset($1::json) \
           AS x(project_id text, id text, at bigint, status text)), \
         lk AS (SELECT c.project_id, c.id, u.at, u.status AS next FROM connections c \
           JOIN u ON c.project_id = u.project_id AND c.id = u.id \
           WHERE c.id = ANY(ARRAY(SELECT id FROM u)) AND (c.last_used_at IS NULL \
           OR c.last_used_at < u.at - {LAST_USE_STEP_MS} OR u.status <> '' \
           OR c.status = '{error}') \
           ORDER BY c.project_id COLLATE \"C\", c.id COLLATE \"C\" FOR UPDATE OF c), \
         up AS (UPDATE connections c SET last_used_at = lk.at, status = CASE \
           WHEN c.status = '{expired}' THEN c.status \
           WHEN lk.next <> '' THEN lk.next \
           WHEN c.status = '{error}' AND c.refresh_failures = 0 THEN '{active}' \
           ELSE c.status END \
           FROM lk WHERE c.id = ANY(ARRAY(SELECT id FROM lk)) \
           AND c.project_id = lk.project_id AND c.id = lk.id), \
         a AS (INSERT INTO audit_events (project_id, connection_id, external_id, event, \
           flow_id, agent_id, detail, at) \
           SELECT project_id, connection_id, external_id, 'used', flow_id, agent_id, detail, at \
           FROM json_to_recordset($2::json) AS e(ord bigint, project_id text, \
             connection_id text, external_id text, flow_id text, agent_id text, detail text, \
             at bigint) \
           ORDER BY ord), \
         v AS (SELECT * FROM json_to_recordset($3::json) AS x(ord bigint, project_id text, \
           flow_id text, status text, report text, started_at bigint, finished_at bigint)), \
         k AS MATERIALIZED (SELECT s.*, nextval(pg_get_serial_sequence('flow_runs', 'id')) \
           AS id FROM (SELECT v.* FROM v WHERE EXISTS \
           (SELECT 1 FROM flows f WHERE f.id = ANY(ARRAY(SELECT flow_id FROM v)) \
           AND f.id = v.flow_id AND f.project_id = v.project_id) \
           ORDER BY v.ord) AS s), \
         r AS (INSERT INTO flow_runs (id, project_id, flow_id, status, report, started_at, \
           finished_at) SELECT id, project_id, flow_id, status, report, started_at, \
           finished_at FROM k) \
         SELECT ord, id FROM k"
    )
}

/// A connection row to set: `$1`'s objects.
#[derive(Serialize)]
struct RowToSet<'a> {
    project_id: &'a str,
    id: &'a str,
    at: i64,
    /// The status to set, or `""` for none.
    status: &'a str,
}

/// A `used` event: `$2`'s objects.
#[derive(Serialize)]
struct Event<'a> {
    ord: usize,
    project_id: &'a str,
    connection_id: &'a str,
    external_id: &'a str,
    flow_id: Option<&'a str>,
    agent_id: Option<&'a str>,
    detail: &'a str,
    at: i64,
}

/// A run: `$3`'s objects.
#[derive(Serialize)]
struct Run<'a> {
    ord: usize,
    project_id: &'a str,
    flow_id: &'a str,
    status: &'a str,
    report: &'a str,
    started_at: i64,
    finished_at: i64,
}

/// Writes `uses` and `records` in one statement (see the module's doc); the runs'
/// sequence numbers in order, 0 for a run whose flow is gone. Tried again, up to
/// [`ATTEMPTS`] times, when [`worth_retrying`].
pub(super) async fn record(
    conn: &mut AnyConnection,
    records: &[RunRecord],
    uses: &[UseRecord],
) -> Result<Vec<i64>> {
    if records.is_empty() && uses.is_empty() {
        return Ok(Vec::new());
    }
    let params = params(records, uses)?;
    let sql = statement();
    let mut attempt = 1;
    loop {
        let answer = sqlx::query_as::<_, (i64, i64)>(&sql)
            .bind(&params[0])
            .bind(&params[1])
            .bind(&params[2])
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::from);
        match answer {
            Err(e) if attempt < ATTEMPTS && worth_retrying(&e) => attempt += 1,
            Err(e) => return Err(e),
            Ok(rows) => {
                let mut ids = vec![0; records.len()];
                for (ord, id) in rows {
                    if let Some(slot) = usize::try_from(ord).ok().and_then(|o| ids.get_mut(o)) {
                        *slot = id;
                    }
                }
                return Ok(ids);
            }
        }
    }
}

/// The statement's three parameters for a batch: the connection rows to set, the
/// `used` events and the runs, each as a JSON array.
pub(super) fn params(records: &[RunRecord], uses: &[UseRecord]) -> Result<[String; 3]> {
    let to_set: Vec<RowToSet> = latest_uses(uses)
        .into_iter()
        .map(|u| RowToSet {
            project_id: &u.project_id,
            id: &u.connection_id,
            at: u.at,
            status: u.status.map_or("", ConnectionStatus::as_str),
        })
        .collect();
    let events: Vec<Event> = uses
        .iter()
        .enumerate()
        .map(|(ord, u)| Event {
            ord,
            project_id: &u.project_id,
            connection_id: &u.connection_id,
            external_id: &u.external_id,
            flow_id: u.flow_id.as_deref(),
            agent_id: u.agent_id.as_deref(),
            detail: &u.detail,
            at: u.at,
        })
        .collect();
    let runs: Vec<Run> = records
        .iter()
        .enumerate()
        .map(|(ord, r)| Run {
            ord,
            project_id: &r.run.project_id,
            flow_id: &r.run.flow_id,
            status: r.run.status,
            report: &r.run.report,
            started_at: r.run.started_at,
            finished_at: r.run.finished_at,
        })
        .collect();
    Ok([to_json(&to_set)?, to_json(&events)?, to_json(&runs)?])
}

/// One parameter's JSON array (strings and numbers: it does not fail).
fn to_json<T: Serialize>(rows: &[T]) -> Result<String> {
    serde_json::to_string(rows).map_err(|source| StoreError::BadJson {
        row: "a batch of uses and runs".into(),
        source,
    })
}

/// Whether a failed statement is one the same statement tried again (with a new
/// snapshot) will do: PostgreSQL chose it as a deadlock's victim (`40P01`; its
/// connection rows are locked in one order, but the deferred revision triggers update
/// projects in the order of its updates), or a flow was deleted after its snapshot saw
/// it (`23503`: the next try drops that run).
pub(super) fn worth_retrying(e: &StoreError) -> bool {
    let StoreError::Db(sqlx::Error::Database(db)) = e else {
        return false;
    };
    matches!(db.code().as_deref(), Some("40P01" | "23503"))
}
