//! Fair sharing of the sandbox between projects: no project holds more than its share
//! of the pool's slots or of outbound requests in flight, and no call waits for a slot
//! longer than the queue deadline — it fails `busy` instead, which the API answers 429
//! with `Retry-After`.
//!
//! One project's flood therefore queues behind its own share while other projects'
//! calls find free slots at once. Calls that act for no project (the CLI) take only the
//! pool's own slots.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Projects whose idle shares are dropped once this many are tracked.
const TRACKED: usize = 4096;

/// A project's share: its slots and its outbound requests in flight.
#[derive(Debug)]
pub struct Share {
    slots: Arc<Semaphore>,
    /// Outbound requests in flight (hooks take a permit per request).
    pub outbound: Arc<Semaphore>,
}

/// The shares of every project with calls lately, and the bounds.
#[derive(Debug)]
pub struct Shares {
    slots_per_project: usize,
    outbound_per_project: usize,
    queue_timeout: Duration,
    map: Mutex<HashMap<String, Arc<Share>>>,
}

/// The pool had no slot for the call within the queue deadline.
#[derive(Debug, Clone, Copy)]
pub struct Busy {
    /// Seconds after which a retry is sensible.
    pub retry_after_secs: u64,
}

impl Shares {
    /// Shares of `slots_per_project` slots and `outbound_per_project` requests in
    /// flight each; waits end after `queue_timeout`.
    pub fn new(
        slots_per_project: usize,
        outbound_per_project: usize,
        queue_timeout: Duration,
    ) -> Self {
        Shares {
            slots_per_project: slots_per_project.max(1),
            outbound_per_project: outbound_per_project.max(1),
            queue_timeout,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The share of `project`.
    pub fn of(&self, project: &str) -> Arc<Share> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(share) = map.get(project) {
            return share.clone();
        }
        if map.len() >= TRACKED {
            // Only shares no call holds: an idle share is a fresh one.
            map.retain(|_, share| Arc::strong_count(share) > 1);
        }
        let share = Arc::new(Share {
            slots: Arc::new(Semaphore::new(self.slots_per_project)),
            outbound: Arc::new(Semaphore::new(self.outbound_per_project)),
        });
        map.insert(project.to_owned(), share.clone());
        share
    }

    /// Waits for a slot of `share` (when the call acts for a project) and then one of
    /// the pool's, together within the queue deadline.
    pub async fn admit(
        &self,
        share: Option<&Share>,
        pool: &Arc<Semaphore>,
    ) -> Result<(Option<OwnedSemaphorePermit>, OwnedSemaphorePermit), Busy> {
        let busy = Busy {
            retry_after_secs: self.queue_timeout.as_secs().clamp(1, 30),
        };
        let wait = async {
            let own = match share {
                Some(s) => Some(s.slots.clone().acquire_owned().await.ok()?),
                None => None,
            };
            let slot = pool.clone().acquire_owned().await.ok()?;
            Some((own, slot))
        };
        match tokio::time::timeout(self.queue_timeout, wait).await {
            Ok(Some(permits)) => Ok(permits),
            _ => Err(busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_project_past_its_share_waits_while_another_gets_a_slot() {
        let shares = Shares::new(2, 4, Duration::from_millis(50));
        let pool = Arc::new(Semaphore::new(3));
        let a = shares.of("a");
        let first = shares.admit(Some(&a), &pool).await.expect("a 1");
        let second = shares.admit(Some(&a), &pool).await.expect("a 2");
        // A third call of A waits past the deadline: busy.
        let busy = shares.admit(Some(&a), &pool).await.expect_err("busy");
        assert_eq!(busy.retry_after_secs, 1);
        // B still finds the pool's last slot at once.
        let b = shares.of("b");
        let held = shares.admit(Some(&b), &pool).await.expect("b");
        drop((first, second, held));
        assert!(
            Arc::ptr_eq(&shares.of("a"), &a),
            "a share is kept while held"
        );
    }
}
