//! Group commit of connection uses: flow runs hand their `last_used_at` update and
//! `used` audit event to the store's group-commit writer ([`GroupCommit`]). A run is
//! answered only after its event is committed, so an answered run's audit event is
//! never lost, and a busy server pays one commit per batch rather than one per run.

use crate::store::{BatchFuture, GroupCommit, Store, UseRecord};

/// The usage writer.
pub(super) type UsageWriter = GroupCommit<UseRecord, ()>;

/// A usage writer.
pub(super) fn writer() -> UsageWriter {
    GroupCommit::new("connection uses", write)
}

fn write(store: Store, records: Vec<UseRecord>) -> BatchFuture<()> {
    Box::pin(async move {
        store.record_uses(&records).await?;
        Ok(vec![(); records.len()])
    })
}
