//! The recent runs of each flow: one row per run with its JSON report, the newest
//! [`RUNS_KEPT`] per flow kept, written in the same transaction as the run's uses of
//! connections.

use super::connections::{
    LAST_USE_STEP_MS, bind_used_event, insert_used_events, latest_uses, record_uses_in,
};
use super::{Backend, ConnectionStatus, Result, Store, UseRecord};
use sqlx::AnyConnection;

/// How many runs of a flow are kept (listed); older ones are deleted within about
/// [`PRUNE_EVERY`] more runs.
pub const RUNS_KEPT: i64 = 50;

/// A server prunes a flow's history once per this many of its runs it recorded.
pub(super) const PRUNE_EVERY: i64 = 16;

/// Flows whose unpruned runs are counted; past it the counts start over.
const UNPRUNED_TRACKED: usize = 100_000;

/// The most runs a batch on PostgreSQL writes in one statement; a bigger batch takes
/// the transaction of statements.
const AT_ONCE_RUNS: usize = 64;
/// How often the one statement is tried. It is its own transaction, so a failed try
/// leaves nothing behind: see [`worth_retrying`].
const AT_ONCE_ATTEMPTS: u32 = 3;
/// The most uses a batch on PostgreSQL writes in one statement (7 parameters each).
pub(super) const AT_ONCE_USES: usize = 128;

/// A run to record.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Owning project.
    pub project_id: String,
    /// The flow.
    pub flow_id: String,
    /// `succeeded` or `failed`.
    pub status: &'static str,
    /// The report, as JSON text.
    pub report: String,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms.
    pub finished_at: i64,
}

/// A finished run: its row and the uses of connections its steps made.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The uses (`last_used_at`, status, `used` events).
    pub uses: Vec<UseRecord>,
    /// The run.
    pub run: NewRun,
}

/// A recorded run.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunRow {
    /// Sequence number.
    pub id: i64,
    /// The flow.
    pub flow_id: String,
    /// `succeeded` or `failed`.
    pub status: String,
    /// The report, as JSON text.
    pub report: String,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms.
    pub finished_at: i64,
}

const COLUMNS: &str = "id, flow_id, status, report, started_at, finished_at";

impl Store {
    /// Records finished runs and their uses in one transaction (and, now and then,
    /// forgets each of their flows' runs beyond the newest [`RUNS_KEPT`]); the runs'
    /// sequence numbers, in order.
    pub async fn record_runs(&self, records: &[RunRecord]) -> Result<Vec<i64>> {
        let uses: Vec<UseRecord> = records.iter().flat_map(|r| r.uses.clone()).collect();
        if self.backend() == Backend::Postgres
            && (1..=AT_ONCE_RUNS).contains(&records.len())
            && uses.len() <= AT_ONCE_USES
        {
            let mut conn = self.pool().acquire().await?;
            let ids = record_runs_at_once(&mut conn, records, &uses).await?;
            // Pruning needs no atomicity with the runs: its own statement, when due. The
            // runs are committed by now, so a failed pruning is only logged (the next
            // one catches up); the callers are told their runs were recorded.
            for flow in self.prune_due(records, &ids) {
                if let Err(e) = prune(&mut conn, Backend::Postgres, &flow).await {
                    tracing::warn!(error = %e, "pruning a flow's old runs failed");
                }
            }
            return Ok(ids);
        }
        let mut tx = self.pool().begin().await?;
        record_uses_in(&mut tx, &uses).await?;
        let mut ids = Vec::with_capacity(records.len());
        for run in records.iter().map(|r| &r.run) {
            // A flow deleted while it ran gets no row (0), and does not fail the batch.
            let id: Option<(i64,)> = sqlx::query_as(
                "INSERT INTO flow_runs (project_id, flow_id, status, report, started_at, \
                 finished_at) SELECT $1, $2, $3, $4, $5, $6 \
                 WHERE EXISTS (SELECT 1 FROM flows WHERE id = $2 AND project_id = $1) \
                 RETURNING id",
            )
            .bind(&run.project_id)
            .bind(&run.flow_id)
            .bind(run.status)
            .bind(&run.report)
            .bind(run.started_at)
            .bind(run.finished_at)
            .fetch_optional(&mut *tx)
            .await?;
            ids.push(id.map_or(0, |(id,)| id));
        }
        for flow in self.prune_due(records, &ids) {
            prune(&mut tx, self.backend(), &flow).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// The flows of `records` due for pruning now that their runs got `ids`.
    ///
    /// Pruning is a statement per flow: this process prunes a flow once it has recorded
    /// PRUNE_EVERY of its runs since the last time, so a busy flow's batches mostly skip
    /// it and the table holds at most about PRUNE_EVERY rows more per flow and server
    /// than are ever listed.
    fn prune_due(&self, records: &[RunRecord], ids: &[i64]) -> Vec<String> {
        let mut unpruned = self.unpruned.lock().unwrap_or_else(|p| p.into_inner());
        if unpruned.len() > UNPRUNED_TRACKED {
            unpruned.clear();
        }
        let mut due = Vec::new();
        for (record, id) in records.iter().zip(ids) {
            let flow = &record.run.flow_id;
            if *id == 0 {
                continue;
            }
            let count = unpruned.entry(flow.clone()).or_insert(0);
            *count += 1;
            if *count >= PRUNE_EVERY {
                unpruned.remove(flow);
                due.push(flow.clone());
            }
        }
        due
    }

    /// The flow's newest runs, newest first.
    pub async fn list_runs(
        &self,
        project_id: &str,
        flow_id: &str,
        limit: i64,
    ) -> Result<Vec<RunRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM flow_runs WHERE project_id = $1 AND flow_id = $2 \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(project_id)
        .bind(flow_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// One run of the project's flow.
    pub async fn get_run(
        &self,
        project_id: &str,
        flow_id: &str,
        id: i64,
    ) -> Result<Option<RunRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM flow_runs WHERE project_id = $1 AND flow_id = $2 AND id = $3"
        ))
        .bind(project_id)
        .bind(flow_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The newest run of each of the project's flows that has run.
    pub async fn last_runs(&self, project_id: &str) -> Result<Vec<RunRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM flow_runs r WHERE r.project_id = $1 AND r.id = \
             (SELECT MAX(x.id) FROM flow_runs x WHERE x.flow_id = r.flow_id)"
        ))
        .bind(project_id)
        .fetch_all(self.pool())
        .await?)
    }
}

/// Whether the one statement failed only because of what ran beside it, so that the
/// same statement tried again (with a new snapshot) will do: PostgreSQL chose it as a
/// deadlock's victim (`40P01`; its connection rows are locked in one order, but the
/// deferred revision triggers update projects in the order of its updates), or a
/// flow was deleted after its snapshot saw it (`23503`: the next try drops that run).
pub(super) fn worth_retrying(e: &super::StoreError) -> bool {
    let super::StoreError::Db(sqlx::Error::Database(db)) = e else {
        return false;
    };
    matches!(db.code().as_deref(), Some("40P01" | "23503"))
}

/// Forgets `flow`'s runs beyond the newest [`RUNS_KEPT`].
///
/// On PostgreSQL the rows another server is deleting at that moment are skipped (`FOR
/// UPDATE SKIP LOCKED`): two replicas pruning one busy flow used to delete the same
/// rows in different orders and deadlock, each stall lasting PostgreSQL's
/// `deadlock_timeout` (a second) and, while pruning shared the batch's transaction,
/// losing that batch. What one skips the other deletes, or the next pruning does.
pub(super) async fn prune(conn: &mut AnyConnection, backend: Backend, flow: &str) -> Result<()> {
    const OLD_RUNS: &str = "flow_id = $1 AND id < (SELECT MIN(id) FROM (SELECT id FROM \
         flow_runs WHERE flow_id = $1 ORDER BY id DESC LIMIT $2) AS kept)";
    let sql = match backend {
        Backend::Postgres => format!(
            "DELETE FROM flow_runs WHERE id IN \
             (SELECT id FROM flow_runs WHERE {OLD_RUNS} FOR UPDATE SKIP LOCKED)"
        ),
        // One server per SQLite file: nothing prunes beside it.
        Backend::Sqlite => format!("DELETE FROM flow_runs WHERE {OLD_RUNS}"),
    };
    sqlx::query(&sql)
        .bind(flow)
        .bind(RUNS_KEPT)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// PostgreSQL: a batch's uses and runs (or uses alone) in one statement, so one round
/// trip and its own transaction instead of BEGIN, a statement per connection and per run, and COMMIT.
/// The same writes as [`record_uses_in`] and the INSERT per run: a connection's row is
/// locked (in the one order of [`latest_uses`]) and updated only when the use moves
/// its status or its `last_used_at` by [`LAST_USE_STEP_MS`]; a run whose flow is gone
/// gets no row (0). Run ids are drawn before the insert, in the batch's order (the
/// sorted subquery is not flattened into the one that draws them), so each is matched
/// to its record and later runs get higher numbers.
pub(super) async fn record_runs_at_once(
    conn: &mut AnyConnection,
    records: &[RunRecord],
    uses: &[UseRecord],
) -> Result<Vec<i64>> {
    let mut attempt = 1;
    loop {
        match one_statement(conn, records, uses).await {
            Err(e) if attempt < AT_ONCE_ATTEMPTS && worth_retrying(&e) => attempt += 1,
            done => return done,
        }
    }
}

/// One try of [`record_runs_at_once`].
async fn one_statement(
    conn: &mut AnyConnection,
    records: &[RunRecord],
    uses: &[UseRecord],
) -> Result<Vec<i64>> {
    let latest = latest_uses(uses);
    let (expired, error, active) = (
        ConnectionStatus::Expired.as_str(),
        ConnectionStatus::Error.as_str(),
        ConnectionStatus::Active.as_str(),
    );
    let mut next = 0;
    let mut param = |cast: &str| {
        next += 1;
        format!("${next}::{cast}")
    };
    let mut ctes: Vec<String> = Vec::new();
    if !latest.is_empty() {
        let rows: Vec<String> = latest
            .iter()
            .map(|_| {
                format!(
                    "({}, {}, {}, {})",
                    param("text"),
                    param("text"),
                    param("bigint"),
                    param("text")
                )
            })
            .collect();
        ctes.push(format!(
            "u (project_id, id, at, status) AS (VALUES {}), \
             lk AS (SELECT c.project_id, c.id, u.at, u.status AS next FROM connections c \
               JOIN u ON c.project_id = u.project_id AND c.id = u.id \
               WHERE c.last_used_at IS NULL OR c.last_used_at < u.at - {LAST_USE_STEP_MS} \
               OR u.status <> '' OR c.status = '{error}' \
               ORDER BY c.project_id COLLATE \"C\", c.id COLLATE \"C\" FOR UPDATE OF c), \
             up AS (UPDATE connections c SET last_used_at = lk.at, status = CASE \
               WHEN c.status = '{expired}' THEN c.status \
               WHEN lk.next <> '' THEN lk.next \
               WHEN c.status = '{error}' AND c.refresh_failures = 0 THEN '{active}' \
               ELSE c.status END \
               FROM lk WHERE c.project_id = lk.project_id AND c.id = lk.id)",
            rows.join(", ")
        ));
    }
    if !uses.is_empty() {
        ctes.push(format!("a AS ({})", insert_used_events(uses.len(), next)));
        next += uses.len() * 7;
    }
    let mut param = |cast: &str| {
        next += 1;
        format!("${next}::{cast}")
    };
    let runs: Vec<String> = (0..records.len())
        .map(|_| {
            let columns = ["bigint", "text", "text", "text", "text", "bigint", "bigint"];
            let values: Vec<String> = columns.iter().map(|c| param(c)).collect();
            format!("({})", values.join(", "))
        })
        .collect();
    let answer = if runs.is_empty() {
        "SELECT 0::bigint, 0::bigint WHERE false".to_owned()
    } else {
        ctes.push(format!(
            "v (ord, project_id, flow_id, status, report, started_at, finished_at) AS \
             (VALUES {}), \
             k AS MATERIALIZED (SELECT s.*, nextval(pg_get_serial_sequence('flow_runs', 'id')) \
               AS id FROM (SELECT v.* FROM v WHERE EXISTS \
               (SELECT 1 FROM flows f WHERE f.id = v.flow_id AND f.project_id = v.project_id) \
               ORDER BY v.ord) AS s), \
             r AS (INSERT INTO flow_runs (id, project_id, flow_id, status, report, started_at, \
               finished_at) SELECT id, project_id, flow_id, status, report, started_at, \
               finished_at FROM k)",
            runs.join(", ")
        ));
        "SELECT ord, id FROM k".to_owned()
    };
    if ctes.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("WITH {} {answer}", ctes.join(", "));
    let mut query = sqlx::query_as::<_, (i64, i64)>(&sql);
    for u in &latest {
        query = query
            .bind(&u.project_id)
            .bind(&u.connection_id)
            .bind(u.at)
            .bind(u.status.map_or("", ConnectionStatus::as_str));
    }
    for u in uses {
        query = bind_used_event!(query, u);
    }
    for (ord, run) in records.iter().map(|r| &r.run).enumerate() {
        query = query
            .bind(ord as i64)
            .bind(&run.project_id)
            .bind(&run.flow_id)
            .bind(run.status)
            .bind(&run.report)
            .bind(run.started_at)
            .bind(run.finished_at);
    }
    let mut ids = vec![0; records.len()];
    for (ord, id) in query.fetch_all(&mut *conn).await? {
        if let Some(slot) = usize::try_from(ord).ok().and_then(|o| ids.get_mut(o)) {
            *slot = id;
        }
    }
    Ok(ids)
}
