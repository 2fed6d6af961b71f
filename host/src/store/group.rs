//! Group commit: callers hand their rows to one writer task, which commits whatever has
//! queued up in a single transaction and then answers every caller with its own result.
//! A caller is answered only after its row is committed, so nothing answered is lost,
//! and a busy server pays one commit per batch rather than one per row. Connection uses
//! and flow runs are written this way. Once the first rows are in, the writer yields
//! once to the runtime before taking the batch, so requests already under way can join
//! it: fuller batches, fewer statements per row (see docs/PERFORMANCE.md).
//!
//! The same writer serves batched reads (API tokens on PostgreSQL): a batch is taken
//! only after every request in it was queued, so its one query sees every write
//! committed before any of them arrived — as exact as a query per request.

use super::{Store, StoreError};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// The most rows one transaction commits.
const MAX_BATCH: usize = 512;

/// What a batch's transaction returns: one answer per row, in order.
pub type BatchFuture<O> = Pin<Box<dyn Future<Output = Result<Vec<O>, StoreError>> + Send>>;

/// Writes a batch in one transaction.
pub type WriteBatch<I, O> = fn(Store, Vec<I>) -> BatchFuture<O>;

type Job<I, O> = (I, oneshot::Sender<Result<O, Arc<StoreError>>>);

/// A group-committing writer. Its task starts on first use, on the caller's runtime.
pub struct GroupCommit<I, O> {
    sender: OnceLock<mpsc::Sender<Job<I, O>>>,
    write: WriteBatch<I, O>,
    what: &'static str,
}

impl<I: Send + 'static, O: Clone + Send + 'static> GroupCommit<I, O> {
    /// A writer of `what` (for the log) that commits batches with `write`.
    pub fn new(what: &'static str, write: WriteBatch<I, O>) -> Self {
        GroupCommit {
            sender: OnceLock::new(),
            write,
            what,
        }
    }

    /// Queues `item` and waits until it is committed; its answer.
    pub async fn submit(&self, store: &Store, item: I) -> Result<O, StoreError> {
        let sender = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
            tokio::spawn(run(store.clone(), rx, self.write, self.what));
            tx
        });
        let (done, wait) = oneshot::channel();
        sender
            .send((item, done))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        wait.await
            .map_err(|_| StoreError::WriterStopped)?
            .map_err(StoreError::Batch)
    }
}

async fn run<I, O: Clone>(
    store: Store,
    mut jobs: mpsc::Receiver<Job<I, O>>,
    write: WriteBatch<I, O>,
    what: &'static str,
) {
    let mut batch: Vec<Job<I, O>> = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Let the requests already under way reach the queue before the batch is taken.
        if batch.len() < MAX_BATCH {
            tokio::task::yield_now().await;
        }
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (items, waiting): (Vec<I>, Vec<_>) = batch.drain(..).unzip();
        let count = items.len();
        crate::metrics::store_batch(what, count);
        match write(store.clone(), items).await {
            Ok(answers) if answers.len() == count => {
                for (done, answer) in waiting.into_iter().zip(answers) {
                    let _ = done.send(Ok(answer));
                }
            }
            outcome => {
                let error = Arc::new(match outcome {
                    Err(e) => e,
                    Ok(_) => StoreError::WriterStopped,
                });
                tracing::error!(error = %error, rows = count, "batch of {what} failed");
                for done in waiting {
                    let _ = done.send(Err(error.clone()));
                }
            }
        }
    }
}
