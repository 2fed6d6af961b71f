//! Flows: saved lists of steps, and runs that resolve each step's connection reference
//! at run time (scoped to the flow's project), inject the credentials into the
//! sandboxed piece call, and report each step with a stable error code.

pub mod definition;
mod replace;
pub(crate) mod run;
pub use thinkfleet_core::template;

pub use definition::{FlowDefinition, StepDefinition};
pub use replace::Replaced;
pub use run::{RunReport, StepError, StepReport};

use crate::connections::Connections;
use crate::local_cache::LocalCache;
use crate::oauth::OAuth;
use crate::store::{
    BatchFuture, FlowRow, GroupCommit, NewRun, Revision, RunRecord, RunRow, Store, StoreError,
    now_ms,
};
use std::collections::HashMap;
use std::sync::Arc;

/// Why a flow operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// No such flow in the project.
    #[error("Flow not found")]
    NotFound,
    /// The definition is wrong; the message names the step and the problem.
    #[error("{0}")]
    Invalid(String),
    /// The run's first step found no sandbox slot within the queue deadline: nothing
    /// ran, nothing was recorded; retry after this many seconds.
    #[error("the sandbox is busy with this project's other calls; retry in {0} s")]
    Busy(u64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A saved flow.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Id.
    pub id: String,
    /// The definition.
    pub definition: FlowDefinition,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

impl TryFrom<FlowRow> for Flow {
    type Error = FlowError;

    fn try_from(row: FlowRow) -> Result<Self, FlowError> {
        let definition: FlowDefinition =
            serde_json::from_str(&row.definition).map_err(|source| StoreError::BadJson {
                row: format!("flow {}", row.id),
                source,
            })?;
        Ok(Flow {
            id: row.id,
            definition,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The flows service. Cheap to clone.
#[derive(Clone)]
pub struct Flows {
    connections: Connections,
    oauth: OAuth,
    /// Saved flows by (project, id), for runs; see [`LocalCache`].
    cache: Arc<LocalCache<(String, String), Flow>>,
    /// Records finished runs with their uses of connections, group-committed.
    run_log: Arc<GroupCommit<RunRecord, i64>>,
}

/// The most bytes of a run's report kept; a larger report is kept without its outputs.
const MAX_STORED_REPORT: usize = 256 * 1024;

/// The report as stored: JSON text, without the outputs when they are too large.
fn stored_report(report: &RunReport) -> String {
    let text = serde_json::to_string(report).unwrap_or_default();
    if text.len() <= MAX_STORED_REPORT {
        return text;
    }
    let mut slim = report.clone();
    for step in &mut slim.steps {
        if step.output.is_some() {
            step.output = Some(serde_json::json!({
                "note": "This output was too large to keep with the run."
            }));
        }
    }
    serde_json::to_string(&slim).unwrap_or_default()
}

fn write_runs(store: Store, records: Vec<RunRecord>) -> BatchFuture<i64> {
    Box::pin(async move { store.record_runs(&records).await })
}

impl Flows {
    /// Flows over these connections (and their store and catalog), refreshing OAuth2
    /// tokens through `oauth`.
    pub fn new(connections: Connections, oauth: OAuth) -> Self {
        Flows {
            oauth,
            cache: Arc::new(LocalCache::new()),
            run_log: Arc::new(GroupCommit::new("flow runs", write_runs)),
            connections,
        }
    }

    fn check(&self, definition: FlowDefinition) -> Result<definition::CheckedFlow, FlowError> {
        definition::check(definition, &self.connections.catalog()).map_err(FlowError::Invalid)
    }

    /// Checks and saves a new flow.
    pub async fn create(
        &self,
        project: &str,
        definition: FlowDefinition,
    ) -> Result<Flow, FlowError> {
        let checked = self.check(definition)?;
        let row = FlowRow {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project.to_owned(),
            name: checked.definition.name.clone(),
            definition: serde_json::to_string(&checked.definition)
                .map_err(|e| FlowError::Invalid(e.to_string()))?,
            created_at: 0,
            updated_at: 0,
        };
        self.connections
            .store()
            .insert_flow(&row, &checked.references())
            .await?;
        self.get(project, &row.id).await
    }

    /// Checks and replaces a flow's definition.
    pub async fn update(
        &self,
        project: &str,
        id: &str,
        definition: FlowDefinition,
    ) -> Result<Flow, FlowError> {
        let checked = self.check(definition)?;
        let text = serde_json::to_string(&checked.definition)
            .map_err(|e| FlowError::Invalid(e.to_string()))?;
        if !self
            .connections
            .store()
            .update_flow(
                project,
                id,
                &checked.definition.name,
                &text,
                &checked.references(),
            )
            .await?
        {
            return Err(FlowError::NotFound);
        }
        self.cache.remove(&(project.to_owned(), id.to_owned()));
        self.get(project, id).await
    }

    /// The project's flow `id`.
    pub async fn get(&self, project: &str, id: &str) -> Result<Flow, FlowError> {
        self.connections
            .store()
            .get_flow(project, id)
            .await?
            .ok_or(FlowError::NotFound)?
            .try_into()
    }

    /// The project's flows.
    pub async fn list(&self, project: &str) -> Result<Vec<Flow>, FlowError> {
        self.connections
            .store()
            .list_flows(project)
            .await?
            .into_iter()
            .map(Flow::try_from)
            .collect()
    }

    /// Deletes a flow.
    pub async fn delete(&self, project: &str, id: &str) -> Result<(), FlowError> {
        let deleted = self.connections.store().delete_flow(project, id).await?;
        self.cache.remove(&(project.to_owned(), id.to_owned()));
        if deleted {
            Ok(())
        } else {
            Err(FlowError::NotFound)
        }
    }

    /// Runs the project's flow `id` now and records the run (see [`Flows::runs`]) with
    /// its steps' uses of connections (`last_used_at`, status, `used` events), all in
    /// one group-committed transaction; answers once that is durable: the report and the
    /// run's number.
    ///
    /// `at` is the project's revision when the caller read it with the API token (one
    /// round trip for both); without it, it is read here. Cached rows (the flow, its
    /// connections) serve the run only at that revision.
    pub async fn run(
        &self,
        project: &str,
        at: Option<Revision>,
        id: &str,
    ) -> Result<(RunReport, i64), FlowError> {
        let at = match at {
            Some(at) => at,
            None => self
                .connections
                .store()
                .revision(project)
                .await?
                .ok_or(FlowError::NotFound)?,
        };
        let key = (project.to_owned(), id.to_owned());
        let stamp = self.cache.stamp();
        let flow = match self.cache.get(&key, at) {
            Some(flow) => flow,
            None => self.cache.put(stamp, key, self.get(project, id).await?, at),
        };
        let started_at = now_ms();
        let clock = std::time::Instant::now();
        let (report, uses) = run::run(&self.connections, &self.oauth, project, at, &flow).await;
        // Busy before anything ran: the caller retries the whole run, so it is not one.
        if let Some(secs) = report
            .steps
            .first()
            .and_then(|s| s.error.as_ref())
            .and_then(|e| e.retry_after_secs)
        {
            crate::metrics::flow_run(
                report.status,
                Some(crate::error_code::ErrorCode::Busy.as_str()),
                clock.elapsed(),
            );
            return Err(FlowError::Busy(secs));
        }
        crate::metrics::flow_run(
            report.status,
            report
                .steps
                .iter()
                .find_map(|s| s.error.as_ref().map(|e| e.code.as_str())),
            clock.elapsed(),
        );
        let record = RunRecord {
            uses: uses.iter().map(|(u, _)| u.clone()).collect(),
            run: NewRun {
                project_id: project.to_owned(),
                flow_id: id.to_owned(),
                status: report.status,
                report: stored_report(&report),
                started_at,
                finished_at: now_ms(),
            },
        };
        let recorded = self.run_log.submit(self.connections.store(), record).await;
        for (record, row) in &uses {
            self.connections.after_use(record, row);
        }
        let run_id = recorded.inspect_err(|e| {
            tracing::error!(error = %e, flow = id, "recording a run failed");
        })?;
        Ok((report, run_id))
    }

    /// The flow's newest runs (at most `limit`), newest first.
    pub async fn runs(
        &self,
        project: &str,
        id: &str,
        limit: i64,
    ) -> Result<Vec<RunRow>, FlowError> {
        Ok(self
            .connections
            .store()
            .list_runs(project, id, limit)
            .await?)
    }

    /// Run `run` of the project's flow `id`.
    pub async fn recorded_run(
        &self,
        project: &str,
        id: &str,
        run: i64,
    ) -> Result<RunRow, FlowError> {
        self.connections
            .store()
            .get_run(project, id, run)
            .await?
            .ok_or(FlowError::NotFound)
    }

    /// The newest run of each of the project's flows that has run, by flow id.
    pub async fn last_runs(&self, project: &str) -> Result<HashMap<String, RunRow>, FlowError> {
        Ok(self
            .connections
            .store()
            .last_runs(project)
            .await?
            .into_iter()
            .map(|r| (r.flow_id.clone(), r))
            .collect())
    }
}
