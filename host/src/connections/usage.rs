//! Group commit of connection uses: flow runs hand their `last_used_at` update and
//! `used` audit event to one writer task, which commits whatever has queued up in a
//! single transaction and then answers every caller. A run is answered only after its
//! event is committed, so an answered run's audit event is never lost, and a busy
//! server pays one commit per batch rather than one per run.

use crate::store::{Store, StoreError, UseRecord};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// The most uses one transaction commits.
const MAX_BATCH: usize = 512;

/// A batch's outcome, shared by every use in it.
type Outcome = Result<(), Arc<StoreError>>;

type Job = (UseRecord, oneshot::Sender<Outcome>);

/// The writer's handle. Its task starts on first use, on the caller's runtime.
#[derive(Default)]
pub(super) struct UsageWriter {
    sender: OnceLock<mpsc::Sender<Job>>,
}

impl UsageWriter {
    /// Queues `record` and waits until it is committed.
    pub(super) async fn record(&self, store: &Store, record: UseRecord) -> Result<(), StoreError> {
        let sender = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
            tokio::spawn(run(store.clone(), rx));
            tx
        });
        let (done, wait) = oneshot::channel();
        sender
            .send((record, done))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        wait.await
            .map_err(|_| StoreError::WriterStopped)?
            .map_err(StoreError::Batch)
    }
}

async fn run(store: Store, mut jobs: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let records: Vec<UseRecord> = batch.iter().map(|(r, _)| r.clone()).collect();
        let result: Outcome = store.record_uses(&records).await.map_err(Arc::new);
        if let Err(e) = &result {
            tracing::error!(error = %e, uses = records.len(), "recording connection uses failed");
        }
        for (_, done) in batch.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}
