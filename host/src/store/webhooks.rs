//! Connection-health webhooks: each project's URL and sealed signing secret, the
//! announcement of status changes (a compare-and-swap on `notified_status`, so one
//! replica announces each change), and the delivery outbox with its leases and log.

use super::{ConnectionStatus, Result, Store, now_ms};
use crate::vault::Sealed;

/// A project's webhook.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    /// Where events go.
    pub url: String,
    /// The signing secret, sealed.
    #[sqlx(flatten)]
    pub sealed: Sealed,
    /// Unix ms.
    pub created_at: i64,
}

/// A connection whose status changed since it was last announced.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatusChange {
    /// Its id.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Its external id.
    pub external_id: String,
    /// Its name.
    pub display_name: String,
    /// Its piece.
    pub piece: String,
    /// Its status now.
    #[sqlx(try_from = "String")]
    pub status: ConnectionStatus,
    /// The status last announced.
    #[sqlx(try_from = "String")]
    pub notified_status: ConnectionStatus,
}

/// An event to deliver.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Owning project.
    pub project_id: String,
    /// The event's id (unique; receivers deduplicate by it).
    pub event_id: String,
    /// `connection.expired` or `connection.error`.
    pub kind: String,
    /// The connection concerned.
    pub connection_id: String,
    /// The JSON body, exactly as signed and sent.
    pub payload: String,
}

/// A delivery, as the worker claims it and the log shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    /// Sequence number.
    pub id: i64,
    /// Owning project.
    pub project_id: String,
    /// The event's id.
    pub event_id: String,
    /// The event's kind.
    pub kind: String,
    /// The JSON body.
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (pending only), Unix ms.
    pub next_attempt_at: i64,
    /// The receiver's last HTTP status.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// When it was delivered or given up, Unix ms.
    pub finished_at: Option<i64>,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Attempt<'a> {
    /// The receiver answered 2xx.
    Delivered {
        /// Its status.
        status: i64,
    },
    /// It failed; try again at `retry_at`, or never (`None`: given up).
    Failed {
        /// The receiver's status, if it answered.
        status: Option<i64>,
        /// What went wrong (no secret: a status or a network error kind).
        error: &'a str,
        /// When to try again.
        retry_at: Option<i64>,
    },
}

const DELIVERY_COLUMNS: &str = "id, project_id, event_id, kind, payload, state, attempts, \
     next_attempt_at, last_status, last_error, created_at, finished_at";

impl Store {
    /// Sets (or replaces) the project's webhook.
    pub async fn set_webhook(&self, project_id: &str, url: &str, sealed: &Sealed) -> Result<()> {
        sqlx::query(
            "INSERT INTO project_webhooks (project_id, url, key_version, nonce, ciphertext, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project_id) DO UPDATE SET url = excluded.url, \
             key_version = excluded.key_version, nonce = excluded.nonce, \
             ciphertext = excluded.ciphertext, created_at = excluded.created_at",
        )
        .bind(project_id)
        .bind(url)
        .bind(&sealed.key_version)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The project's webhook.
    pub async fn webhook(&self, project_id: &str) -> Result<Option<WebhookRow>> {
        Ok(sqlx::query_as(
            "SELECT url, key_version, nonce, ciphertext, created_at FROM project_webhooks \
             WHERE project_id = $1",
        )
        .bind(project_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Removes the project's webhook (pending deliveries then fail); false when none.
    pub async fn delete_webhook(&self, project_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM project_webhooks WHERE project_id = $1")
            .bind(project_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Connections whose status changed since it was last announced (at most `limit`).
    /// A row whose status is no [`ConnectionStatus`] word (written by hand, or by a
    /// version that knew others) is left out, so it cannot stop the announcements of
    /// every other row.
    pub async fn status_changes(&self, limit: i64) -> Result<Vec<StatusChange>> {
        static STATEMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let words = ConnectionStatus::ALL
                .map(|s| format!("'{}'", s.as_str()))
                .join(", ");
            format!(
                "SELECT id, project_id, external_id, display_name, piece, status, notified_status \
                 FROM connections WHERE status <> notified_status \
                 AND status IN ({words}) AND notified_status IN ({words}) \
                 ORDER BY updated_at LIMIT $1"
            )
        });
        Ok(sqlx::query_as(STATEMENT.as_str())
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// Marks `change` announced and enqueues `delivery` with it, in one transaction;
    /// false (nothing written) when another replica announced it first or the status
    /// moved again meanwhile.
    pub async fn announce(
        &self,
        change: &StatusChange,
        delivery: Option<&NewDelivery>,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE connections SET notified_status = status \
             WHERE id = $1 AND status = $2 AND notified_status = $3",
        )
        .bind(&change.id)
        .bind(change.status.as_str())
        .bind(change.notified_status.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(d) = delivery {
            let now = now_ms();
            sqlx::query(
                "INSERT INTO webhook_deliveries (project_id, event_id, kind, connection_id, \
                 payload, state, next_attempt_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
            )
            .bind(&d.project_id)
            .bind(&d.event_id)
            .bind(&d.kind)
            .bind(&d.connection_id)
            .bind(&d.payload)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Claims up to `limit` due deliveries for `holder` until `lease_until` (each by
    /// its own compare-and-swap, so two replicas never send the same attempt).
    pub async fn claim_deliveries(
        &self,
        holder: &str,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>> {
        let now = now_ms();
        let due: Vec<DeliveryRow> = sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
             WHERE state = 'pending' AND next_attempt_at <= $1 AND lease_until < $1 \
             ORDER BY next_attempt_at, id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut claimed = Vec::with_capacity(due.len());
        for d in due {
            // Still due and unattempted since read: another replica may have sent it
            // and rescheduled it in between.
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET lease_until = $2, lease_holder = $3 \
                 WHERE id = $1 AND state = 'pending' AND lease_until < $4 \
                 AND next_attempt_at <= $4 AND attempts = $5",
            )
            .bind(d.id)
            .bind(lease_until)
            .bind(holder)
            .bind(now)
            .bind(d.attempts)
            .execute(self.pool())
            .await?;
            if done.rows_affected() == 1 {
                claimed.push(d);
            }
        }
        Ok(claimed)
    }

    /// Records an attempt of a delivery `holder` claimed; false when its lease was lost.
    pub async fn finish_attempt(
        &self,
        id: i64,
        holder: &str,
        attempt: &Attempt<'_>,
    ) -> Result<bool> {
        let now = now_ms();
        let (state, status, error, next, finished) = match attempt {
            Attempt::Delivered { status } => ("delivered", Some(*status), None, 0, Some(now)),
            Attempt::Failed {
                status,
                error,
                retry_at: Some(at),
            } => ("pending", *status, Some(*error), *at, None),
            Attempt::Failed {
                status,
                error,
                retry_at: None,
            } => ("failed", *status, Some(*error), 0, Some(now)),
        };
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = $3, attempts = attempts + 1, \
             last_status = $4, last_error = $5, next_attempt_at = $6, finished_at = $7, \
             lease_until = 0, lease_holder = '' WHERE id = $1 AND lease_holder = $2",
        )
        .bind(id)
        .bind(holder)
        .bind(state)
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(finished)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The project's deliveries, newest first.
    pub async fn list_deliveries(&self, project_id: &str, limit: i64) -> Result<Vec<DeliveryRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE project_id = $1 \
             ORDER BY id DESC LIMIT $2"
        ))
        .bind(project_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Webhook secrets not sealed under `version` (for key rotation).
    pub async fn webhooks_to_rotate(&self, version: &str) -> Result<Vec<(String, Sealed)>> {
        let rows: Vec<(String, String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT project_id, key_version, nonce, ciphertext FROM project_webhooks \
             WHERE key_version <> $1",
        )
        .bind(version)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(project, key_version, nonce, ciphertext)| {
                (
                    project,
                    Sealed {
                        key_version,
                        nonce,
                        ciphertext,
                    },
                )
            })
            .collect())
    }

    /// Replaces a webhook's sealed secret if it is still `old`.
    pub async fn swap_webhook_sealed(
        &self,
        project_id: &str,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE project_webhooks SET key_version = $3, nonce = $4, ciphertext = $5 \
             WHERE project_id = $1 AND key_version = $2 AND nonce = $6",
        )
        .bind(project_id)
        .bind(&old.key_version)
        .bind(&new.key_version)
        .bind(&new.nonce)
        .bind(&new.ciphertext)
        .bind(&old.nonce)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
