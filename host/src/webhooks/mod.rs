//! Connection-health webhooks: when a connection becomes Expired or Error, the
//! project's webhook URL receives a signed JSON event.
//!
//! - **Finding changes.** Every replica's worker looks, every tick, for connections
//!   whose status differs from the status last announced (`notified_status`), whatever
//!   changed it (a refused key in a run, a revoked grant, refreshes that kept failing).
//!   Announcing is one compare-and-swap with the delivery's insert, so each change is
//!   announced once across replicas, and a crash loses none.
//! - **Delivering.** Deliveries are an outbox: claimed under a lease, sent, and
//!   recorded (the delivery log); a failure is retried with doubling delays until the
//!   attempts run out.
//! - **Signing.** `X-ThinkFleet-Signature: sha256=HEX`, the HMAC-SHA256 of the exact
//!   body under the project's secret (`whsec_…`, shown once, sealed like a credential).
//! - **Reaching.** Through the operator's outbound policy, as pieces' requests:
//!   overridden hosts go where the operator sends them; other hosts must be https and
//!   resolve to public addresses only (unless the operator allows private ones), and the
//!   request goes to the very address that was checked.
//!
//! The payload names the connection and the fix; it never holds a credential.

mod send;

use crate::connections::Connections;
use crate::error_code::ErrorCode;
use crate::runtime::OutboundPolicy;
use crate::store::{
    Attempt, ConnectionStatus, DeliveryRow, NewDelivery, StatusChange, StoreError, now_ms,
};
use crate::trouble::Trouble;
use crate::vault::{Binding, RecordKind, VaultError};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

pub use send::SendError;

/// Deliveries one worker attempts per tick.
const MAX_PER_TICK: usize = 20;
/// How long a claimed delivery is this worker's: longer than one attempt can take.
const LEASE_MS: i64 = 60_000;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-thinkfleet-signature";
/// The event id header.
pub const EVENT_ID_HEADER: &str = "x-thinkfleet-event-id";
/// The event type header.
pub const EVENT_HEADER: &str = "x-thinkfleet-event";

/// When the worker looks and how it retries.
#[derive(Debug, Clone, Copy)]
pub struct WebhookTiming {
    /// How often the worker looks for changes and due deliveries.
    pub tick: Duration,
    /// The delay before the first retry; each later one doubles it.
    pub first_retry: Duration,
    /// Attempts before a delivery is given up.
    pub attempts: u32,
}

impl Default for WebhookTiming {
    /// Every 2 s; retries after 10 s, 20 s, 40 s… for 8 attempts (about 21 minutes).
    fn default() -> Self {
        WebhookTiming {
            tick: Duration::from_secs(2),
            first_retry: Duration::from_secs(10),
            attempts: 8,
        }
    }
}

/// Why a webhook operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL is not acceptable; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing or opening the secret failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// A project's webhook as the settings show it (never its secret).
#[derive(Debug, Clone)]
pub struct WebhookInfo {
    /// Where events go.
    pub url: String,
    /// Unix ms.
    pub created_at: i64,
}

/// The webhooks service. Cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    connections: Connections,
    policy: Arc<OutboundPolicy>,
    egress: Arc<crate::egress::Egress>,
    public_url: Arc<str>,
    timing: WebhookTiming,
    holder: Arc<str>,
}

fn binding(project: &str) -> Binding<'_> {
    Binding {
        project,
        kind: RecordKind::WebhookSecret,
        id: project,
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhooks {
    /// The service over `connections`' store and vault, sending through `egress` under
    /// `policy`, with links to pages at `public_url`.
    pub fn new(
        connections: Connections,
        policy: OutboundPolicy,
        egress: Arc<crate::egress::Egress>,
        public_url: &str,
        timing: WebhookTiming,
    ) -> Self {
        Webhooks {
            connections,
            policy: Arc::new(policy),
            egress,
            public_url: public_url.trim_end_matches('/').into(),
            timing,
            holder: uuid::Uuid::new_v4().to_string().into(),
        }
    }

    /// Sets the project's webhook URL with a new signing secret: the URL as stored and
    /// the secret, returned once.
    pub async fn configure(
        &self,
        project: &str,
        url: &str,
    ) -> Result<(String, SecretString), WebhookError> {
        let url = send::check_url(&self.policy, url.trim()).map_err(WebhookError::Invalid)?;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(VaultError::Random)?;
        let secret = SecretString::from(format!(
            "whsec_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ));
        let sealed = self
            .connections
            .vault()
            .seal(binding(project), secret.expose_secret().as_bytes())?;
        self.connections
            .store()
            .set_webhook(project, &url, &sealed)
            .await?;
        Ok((url, secret))
    }

    /// Removes the project's webhook; false when there was none.
    pub async fn remove(&self, project: &str) -> Result<bool, WebhookError> {
        Ok(self.connections.store().delete_webhook(project).await?)
    }

    /// The project's webhook.
    pub async fn info(&self, project: &str) -> Result<Option<WebhookInfo>, WebhookError> {
        Ok(self
            .connections
            .store()
            .webhook(project)
            .await?
            .map(|w| WebhookInfo {
                url: w.url,
                created_at: w.created_at,
            }))
    }

    /// The project's newest deliveries (the delivery log).
    pub async fn deliveries(
        &self,
        project: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, WebhookError> {
        Ok(self
            .connections
            .store()
            .list_deliveries(project, limit)
            .await?)
    }

    /// Looks for changes and due deliveries every tick, forever.
    pub async fn run_worker(self) {
        loop {
            tokio::time::sleep(self.timing.tick).await;
            if let Err(e) = self.tick().await {
                tracing::error!(error = %e, "webhook worker");
            }
        }
    }

    /// One round: announce status changes, then send what is due. Each goes ahead when
    /// the other failed (the first error is returned).
    pub async fn tick(&self) -> Result<(), WebhookError> {
        let announced = self.announce_changes().await;
        let sent = self.send_due().await;
        announced.and(sent)
    }

    /// Turns each connection's change of status into a delivery (when it became
    /// Expired or Error and the project has a webhook), once.
    async fn announce_changes(&self) -> Result<(), WebhookError> {
        let store = self.connections.store();
        for change in store.status_changes(100).await? {
            let delivery = match change.status {
                ConnectionStatus::Expired | ConnectionStatus::Error => store
                    .webhook(&change.project_id)
                    .await?
                    .map(|_| self.event(&change)),
                ConnectionStatus::Active => None,
            };
            store.announce(&change, delivery.as_ref()).await?;
        }
        Ok(())
    }

    /// Sends the deliveries that are due, one claimed at a time.
    async fn send_due(&self) -> Result<(), WebhookError> {
        let store = self.connections.store();
        // One delivery claimed at a time, its lease longer than one attempt can take
        // (the receiver's 10 s, the name's 5 s): a lease never runs out mid-send.
        for _ in 0..MAX_PER_TICK {
            let lease = now_ms() + LEASE_MS;
            let Some(delivery) = store.claim_deliveries(&self.holder, lease, 1).await?.pop() else {
                break;
            };
            let attempt = self.attempt(&delivery).await;
            let (status, error) = match &attempt {
                Ok(status) => (Some(*status), None),
                Err(e) => (e.status(), Some(e.to_string())),
            };
            // Without a webhook (removed, or its project deleted) there is nobody to
            // retry for.
            let final_try = matches!(attempt, Err(SendError::NoWebhook));
            let outcome = match &error {
                None => Attempt::Delivered {
                    status: status.unwrap_or(200),
                },
                Some(error) => {
                    let made = u32::try_from(delivery.attempts).unwrap_or(u32::MAX) + 1;
                    tracing::warn!(
                        project = %delivery.project_id,
                        event = %delivery.event_id,
                        attempt = made,
                        error = %error,
                        "webhook delivery failed"
                    );
                    Attempt::Failed {
                        status,
                        error,
                        retry_at: (made < self.timing.attempts && !final_try).then(|| {
                            let delay = self
                                .timing
                                .first_retry
                                .saturating_mul(1 << (made - 1).min(16));
                            now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2)
                        }),
                    }
                }
            };
            crate::metrics::webhook_attempt(match &outcome {
                Attempt::Delivered { .. } => "delivered",
                Attempt::Failed {
                    retry_at: Some(_), ..
                } => "retrying",
                Attempt::Failed { retry_at: None, .. } => "failed",
            });
            store
                .finish_attempt(delivery.id, &self.holder, &outcome)
                .await?;
        }
        Ok(())
    }

    /// One attempt: the receiver's status when it answered 2xx.
    async fn attempt(&self, delivery: &DeliveryRow) -> Result<i64, SendError> {
        let Some(hook) = self
            .connections
            .store()
            .webhook(&delivery.project_id)
            .await
            .map_err(|_| SendError::Internal)?
        else {
            return Err(SendError::NoWebhook);
        };
        let secret = self
            .connections
            .vault()
            .open(binding(&delivery.project_id), &hook.sealed)
            .map_err(|_| SendError::Internal)?;
        let headers = [
            (
                SIGNATURE_HEADER,
                signature(&secret, delivery.payload.as_bytes()),
            ),
            (EVENT_ID_HEADER, delivery.event_id.clone()),
            (EVENT_HEADER, delivery.kind.clone()),
        ];
        drop(secret);
        send::post(
            &self.policy,
            &self.egress,
            &hook.url,
            &delivery.payload,
            &headers,
        )
        .await
    }

    /// The event for a change to Expired or Error.
    fn event(&self, change: &StatusChange) -> NewDelivery {
        let event_id = uuid::Uuid::new_v4().to_string();
        let kind = format!("connection.{}", change.status);
        let (code, message, fix) = match change.status {
            ConnectionStatus::Expired => {
                let t = Trouble::ConnectionExpired;
                (t.code(), t.message(), t.fix())
            }
            _ => (
                ErrorCode::ConnectionError.as_str(),
                "The app refused this connection, or refreshing it kept failing",
                Trouble::InvalidApiKey.fix(),
            ),
        };
        let at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let payload = serde_json::json!({
            "id": event_id,
            "type": kind,
            "occurred_at": at,
            "project_id": change.project_id,
            "connection": {
                "external_id": change.external_id,
                "display_name": change.display_name,
                "piece": change.piece,
                "status": change.status.as_str(),
                "url": format!("{}/connections/{}", self.public_url, change.external_id),
            },
            "error": { "code": code, "message": message, "fix": fix },
        });
        NewDelivery {
            project_id: change.project_id.clone(),
            event_id,
            kind,
            connection_id: change.id.clone(),
            payload: payload.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn the_signature_is_the_documented_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
