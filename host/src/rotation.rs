//! `thinkfleet keys rotate`: re-seals every stored credential under the current key.
//!
//! Resumable by construction: rows are read in batches of those not yet under the
//! current key, and each row is rewritten by its own compare-and-swap statement. A
//! kill at any moment leaves every row whole, under the old key or the new one, and the
//! next run picks up where this one stopped. OAuth apps' client secrets and projects'
//! webhook signing secrets are rotated the same way. Pending OAuth2 authorizations live ten minutes and are left alone:
//! keep the old key in `AP_ENCRYPTION_KEY_PREVIOUS` that long.

use crate::store::{Store, StoreError};
use crate::vault::{Binding, RecordKind, Vault, VaultError};

/// What a rotation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Rows re-sealed under the current key.
    pub rotated: u64,
    /// Rows a concurrent change rewrote first (they are current already).
    pub raced: u64,
}

/// Why a rotation stopped. Rows rotated before the error stay rotated.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A row could not be opened: its key is missing or the row is corrupt.
    #[error("connection {id}: {error}")]
    Open {
        /// The row.
        id: String,
        /// Why.
        #[source]
        error: VaultError,
    },
}

/// Re-seals every credential not under `vault`'s current key, `batch` rows at a time,
/// calling `progress` with the running report after each batch.
pub async fn rotate(
    store: &Store,
    vault: &Vault,
    batch: i64,
    mut progress: impl FnMut(&Report),
) -> Result<Report, RotationError> {
    let mut report = Report::default();
    loop {
        let rows = store
            .rows_to_rotate(vault.current_version(), batch.max(1))
            .await?;
        if rows.is_empty() {
            rotate_oauth_apps(store, vault, &mut report).await?;
            rotate_webhook_secrets(store, vault, &mut report).await?;
            return Ok(report);
        }
        for row in rows {
            let binding = Binding {
                project: &row.project_id,
                kind: RecordKind::Connection,
                id: &row.id,
            };
            let resealed =
                vault
                    .reseal(binding, &row.sealed)
                    .map_err(|error| RotationError::Open {
                        id: row.id.clone(),
                        error,
                    })?;
            if store.swap_sealed(&row.id, &row.sealed, &resealed).await? {
                report.rotated += 1;
            } else {
                report.raced += 1;
            }
        }
        progress(&report);
    }
}

/// The operators' OAuth app secrets (few rows: one pass).
async fn rotate_oauth_apps(
    store: &Store,
    vault: &Vault,
    report: &mut Report,
) -> Result<(), RotationError> {
    for (piece, sealed) in store.oauth_apps_to_rotate(vault.current_version()).await? {
        let binding = Binding {
            project: "",
            kind: RecordKind::OauthApp,
            id: &piece,
        };
        let resealed = vault
            .reseal(binding, &sealed)
            .map_err(|error| RotationError::Open {
                id: format!("oauth app {piece}"),
                error,
            })?;
        if store
            .swap_oauth_app_sealed(&piece, &sealed, &resealed)
            .await?
        {
            report.rotated += 1;
        } else {
            report.raced += 1;
        }
    }
    Ok(())
}

/// The projects' webhook signing secrets (one per project at most: one pass).
async fn rotate_webhook_secrets(
    store: &Store,
    vault: &Vault,
    report: &mut Report,
) -> Result<(), RotationError> {
    for (project, sealed) in store.webhooks_to_rotate(vault.current_version()).await? {
        let binding = Binding {
            project: &project,
            kind: RecordKind::WebhookSecret,
            id: &project,
        };
        let resealed = vault
            .reseal(binding, &sealed)
            .map_err(|error| RotationError::Open {
                id: format!("webhook of project {project}"),
                error,
            })?;
        if store
            .swap_webhook_sealed(&project, &sealed, &resealed)
            .await?
        {
            report.rotated += 1;
        } else {
            report.raced += 1;
        }
    }
    Ok(())
}
