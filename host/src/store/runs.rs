//! The recent runs of each flow: one row per run with its JSON report, the newest
//! [`RUNS_KEPT`] per flow kept, written in the same transaction as the run's uses of
//! connections.

use super::connections::record_uses_in;
use super::{Backend, Result, Store, UseRecord};
use sqlx::AnyConnection;

/// How many runs of a flow are kept (listed); older ones are deleted within about
/// [`PRUNE_EVERY`] more runs.
pub const RUNS_KEPT: i64 = 50;

/// A server prunes a flow's history once per this many of its runs it recorded.
pub(super) const PRUNE_EVERY: i64 = 16;

/// Flows whose unpruned runs are counted; past it the counts start over.
const UNPRUNED_TRACKED: usize = 100_000;

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
        if self.backend() == Backend::Postgres && super::batch_pg::fits(records, &uses) {
            let mut conn = self.batch_pool().acquire().await?;
            let ids = super::batch_pg::record(&mut conn, records, &uses).await?;
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
        let mut attempt = 1;
        loop {
            match self.record_runs_in_transaction(records, &uses).await {
                // PostgreSQL: a deadlock's victim, or a flow another server deleted
                // after this transaction saw it (see `batch_pg::worth_retrying`).
                Err(e)
                    if self.backend() == Backend::Postgres
                        && attempt < super::batch_pg::ATTEMPTS
                        && super::batch_pg::worth_retrying(&e) =>
                {
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    /// [`Store::record_runs`] as a transaction of statements: the uses, an INSERT per
    /// run, and the pruning due.
    async fn record_runs_in_transaction(
        &self,
        records: &[RunRecord],
        uses: &[UseRecord],
    ) -> Result<Vec<i64>> {
        let mut tx = self.batch_pool().begin().await?;
        record_uses_in(&mut tx, uses).await?;
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
