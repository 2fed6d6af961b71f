//! OAuth2 rows: operators' OAuth apps, pending authorizations (single-use states), and
//! the refresh of a connection's tokens under a lease that serialises replicas.

use super::audit::append_audit_in;
use super::connections::COLUMNS;
use super::{ConnectionRow, ConnectionStatus, NewAuditEvent, Result, Store, now_ms};
use crate::vault::Sealed;

/// A pending authorization.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StateRow {
    /// The state's public id.
    pub id: String,
    /// SHA-256 of the state's secret part.
    pub secret_hash: Vec<u8>,
    /// The project that started it.
    pub project_id: String,
    /// The start request (JSON, no secret).
    pub request: String,
    /// The PKCE verifier and any client credentials, sealed.
    #[sqlx(flatten)]
    pub sealed: Sealed,
    /// Unix ms after which it is refused.
    pub expires_at: i64,
}

/// An operator's OAuth app as stored.
#[derive(sqlx::FromRow)]
struct AppRow {
    piece: String,
    client_id: String,
    #[sqlx(flatten)]
    secret: Sealed,
}

/// A connection named by its project and id.
#[derive(sqlx::FromRow)]
struct ConnectionKey {
    project_id: String,
    id: String,
}

impl Store {
    /// Registers (or replaces) the OAuth app of a piece.
    pub async fn set_oauth_app(&self, piece: &str, client_id: &str, secret: &Sealed) -> Result<()> {
        sqlx::query(
            "INSERT INTO oauth_apps (piece, client_id, key_version, nonce, ciphertext, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (piece) DO UPDATE SET \
             client_id = excluded.client_id, key_version = excluded.key_version, \
             nonce = excluded.nonce, ciphertext = excluded.ciphertext, \
             updated_at = excluded.updated_at",
        )
        .bind(piece)
        .bind(client_id)
        .bind(&secret.key_version)
        .bind(secret.nonce.clone())
        .bind(secret.ciphertext.clone())
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The OAuth app of a piece: its client id and sealed client secret.
    pub async fn oauth_app(&self, piece: &str) -> Result<Option<(String, Sealed)>> {
        let found: Option<AppRow> = sqlx::query_as(
            "SELECT piece, client_id, key_version, nonce, ciphertext FROM oauth_apps \
             WHERE piece = $1",
        )
        .bind(piece)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.map(|app| (app.client_id, app.secret)))
    }

    /// OAuth apps whose client secret is sealed under another key than `current`.
    pub async fn oauth_apps_to_rotate(&self, current: &str) -> Result<Vec<(String, Sealed)>> {
        let apps: Vec<AppRow> = sqlx::query_as(
            "SELECT piece, client_id, key_version, nonce, ciphertext FROM oauth_apps \
             WHERE key_version <> $1",
        )
        .bind(current)
        .fetch_all(self.pool())
        .await?;
        Ok(apps
            .into_iter()
            .map(|app| (app.piece, app.secret))
            .collect())
    }

    /// Writes a re-sealed client secret if the row still holds `old`.
    pub async fn swap_oauth_app_sealed(
        &self,
        piece: &str,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool> {
        self.swap_sealed_in("oauth_apps", "piece", piece, old, new)
            .await
    }

    /// Stores a pending authorization.
    pub async fn insert_oauth_state(&self, s: &StateRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO oauth_states (id, secret_hash, project_id, request, key_version, \
             nonce, ciphertext, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.id)
        .bind(s.secret_hash.clone())
        .bind(&s.project_id)
        .bind(&s.request)
        .bind(&s.sealed.key_version)
        .bind(s.sealed.nonce.clone())
        .bind(s.sealed.ciphertext.clone())
        .bind(s.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes and returns a pending authorization when `secret_hash` is its secret's
    /// hash: a state is used at most once, whatever the outcome, and only by whoever
    /// holds its secret (knowing the id alone burns nothing). Expired states are swept
    /// on the way, as a chore: on PostgreSQL it skips the rows another replica's sweep
    /// holds (two sweeps deleting the same rows in their own orders can deadlock), and
    /// a failed sweep is logged, never the callback's failure.
    pub async fn take_oauth_state(&self, id: &str, secret_hash: &[u8]) -> Result<Option<StateRow>> {
        let sweep = match self.backend() {
            super::Backend::Postgres => {
                "DELETE FROM oauth_states WHERE id IN (SELECT id FROM oauth_states \
                 WHERE expires_at < $1 FOR UPDATE SKIP LOCKED)"
            }
            super::Backend::Sqlite => "DELETE FROM oauth_states WHERE expires_at < $1",
        };
        if let Err(e) = sqlx::query(sweep).bind(now_ms()).execute(self.pool()).await {
            tracing::warn!(error = %e, "sweeping expired OAuth states failed");
        }
        Ok(sqlx::query_as(
            "DELETE FROM oauth_states WHERE id = $1 AND secret_hash = $2 RETURNING id, \
             secret_hash, project_id, request, key_version, nonce, ciphertext, expires_at",
        )
        .bind(id)
        .bind(secret_hash.to_vec())
        .fetch_optional(self.pool())
        .await?)
    }

    /// OAuth2 connections (any project) whose token expires before `before` and whose
    /// retry backoff has passed: the background refresher's work. Custom credentials'
    /// sessions are left to runs (renewed on demand): logging in for connections nobody
    /// uses would repeat a password login every half-life, for nothing.
    pub async fn refresh_candidates(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        let due: Vec<ConnectionKey> = sqlx::query_as(
            "SELECT project_id, id FROM connections WHERE auth_type = 'oauth2' \
             AND status <> $4 AND expires_at IS NOT NULL AND expires_at < $1 \
             AND refresh_after <= $2 ORDER BY expires_at LIMIT $3",
        )
        .bind(before)
        .bind(now_ms())
        .bind(limit)
        .bind(ConnectionStatus::Expired.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(due.into_iter().map(|c| (c.project_id, c.id)).collect())
    }

    /// A connection as a refresh sees it, read fresh from the database (never from a
    /// cache): the row, its sealed credential and its refresh bookkeeping.
    pub async fn connection_for_refresh(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<Option<RefreshRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS}, key_version, nonce, ciphertext, credential_version, \
             refresh_failures, refresh_after, refresh_lease_until, refresh_lease_holder \
             FROM connections WHERE project_id = $1 AND id = $2"
        ))
        .bind(project_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Claims the right to refresh a connection's token for `holder` until `until`
    /// (Unix ms). The claim is a compare-and-swap on what the caller read: it wins only
    /// if no lease is held *and* the credential is still the generation `read.version`,
    /// so a replica that read a token another has since rotated never presents it. One
    /// statement, so across replicas sharing the database exactly one claim wins; an
    /// abandoned lease lapses at its `until`. No transaction stays open while the
    /// provider is asked.
    pub async fn claim_refresh_lease(
        &self,
        read: &RefreshRow,
        holder: &str,
        until: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE connections SET refresh_lease_until = $3, refresh_lease_holder = $4 \
             WHERE id = $1 AND credential_version = $2 AND refresh_lease_until < $5",
        )
        .bind(&read.row.id)
        .bind(read.version)
        .bind(until)
        .bind(holder)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extends `holder`'s lease to `until`; false when it holds it no more.
    pub async fn renew_refresh_lease(&self, id: &str, holder: &str, until: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE connections SET refresh_lease_until = $3 \
             WHERE id = $1 AND refresh_lease_holder = $2",
        )
        .bind(id)
        .bind(holder)
        .bind(until)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives `holder`'s lease back and, with `retry_at`, defers the next background
    /// attempt (a token that cannot be refreshed, e.g. without a refresh token).
    pub async fn release_refresh_lease(
        &self,
        id: &str,
        holder: &str,
        retry_at: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE connections SET refresh_lease_until = 0, refresh_lease_holder = '', \
             refresh_after = CASE WHEN $3 > 0 THEN $3 ELSE refresh_after END \
             WHERE id = $1 AND refresh_lease_holder = $2",
        )
        .bind(id)
        .bind(holder)
        .bind(retry_at.unwrap_or(0))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Stores refreshed tokens as the credential's next generation if the row still
    /// holds the generation the refresh read (compare-and-swap; a key rotation re-seals
    /// without changing it), marks it active, releases the lease and audits
    /// `refreshed`, in one short transaction. `background_after` is when the background
    /// refresher may look at it again. False when a reconnect replaced the credential
    /// meanwhile (the refresh is then moot).
    pub async fn store_refreshed(
        &self,
        read: &RefreshRow,
        sealed: &Sealed,
        expires_at: Option<i64>,
        background_after: i64,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE connections SET key_version = $3, nonce = $4, ciphertext = $5, \
             expires_at = $6, token_issued_at = $7, status = $9, refresh_failures = 0, \
             refresh_after = $8, refresh_lease_until = 0, refresh_lease_holder = '', \
             credential_version = credential_version + 1, updated_at = $7 \
             WHERE id = $1 AND credential_version = $2",
        )
        .bind(&read.row.id)
        .bind(read.version)
        .bind(&sealed.key_version)
        .bind(sealed.nonce.clone())
        .bind(sealed.ciphertext.clone())
        .bind(expires_at)
        .bind(now)
        .bind(background_after)
        .bind(ConnectionStatus::Active.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        append_audit_in(&mut tx, event(&read.row, "refreshed", None)).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed refresh of generation `read.version` and releases the lease:
    /// `expired` for good (the grant is gone), or one more failure with a retry time,
    /// `error` once failures reach `error_after`. Nothing changes when a reconnect
    /// replaced the credential meanwhile (false).
    pub async fn record_refresh_failure(
        &self,
        read: &RefreshRow,
        failure: &RefreshFailure<'_>,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE connections SET refresh_failures = refresh_failures + 1, \
             refresh_after = $3, refresh_lease_until = 0, refresh_lease_holder = '', \
             status = CASE WHEN $4 = 1 THEN $7 WHEN refresh_failures + 1 >= $5 \
             THEN $8 ELSE status END, updated_at = $6 \
             WHERE id = $1 AND credential_version = $2",
        )
        .bind(&read.row.id)
        .bind(read.version)
        .bind(failure.retry_at)
        .bind(i64::from(failure.expired))
        .bind(failure.error_after)
        .bind(now_ms())
        .bind(ConnectionStatus::Expired.as_str())
        .bind(ConnectionStatus::Error.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let detail = serde_json::json!({ "reason": failure.reason }).to_string();
        append_audit_in(&mut tx, event(&read.row, "refresh_failed", Some(detail))).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// A connection as a refresh reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    /// Its metadata.
    #[sqlx(flatten)]
    pub row: ConnectionRow,
    /// Its sealed credential.
    #[sqlx(flatten)]
    pub sealed: Sealed,
    /// The credential's generation: bumped by every refresh and reconnect, never by a
    /// key rotation.
    #[sqlx(rename = "credential_version")]
    pub version: i64,
    /// Consecutive failed refreshes.
    #[sqlx(rename = "refresh_failures")]
    pub failures: i64,
    /// Unix ms before which no refresh is tried: the backoff after a failure, or (for
    /// the background refresher) the first half of a fresh token's life.
    #[sqlx(rename = "refresh_after")]
    pub retry_at: i64,
    /// Unix ms until which `lease_holder` holds the refresh lease.
    #[sqlx(rename = "refresh_lease_until")]
    pub lease_until: i64,
    /// Who holds (or, if it lapsed unreleased, last held) the lease; empty when released.
    #[sqlx(rename = "refresh_lease_holder")]
    pub lease_holder: String,
}

impl RefreshRow {
    /// Whether the last refresh lease lapsed without being released: its holder stopped
    /// in the middle of a refresh (killed, or lost the database).
    pub fn lease_abandoned(&self, now: i64) -> bool {
        !self.lease_holder.is_empty() && self.lease_until < now
    }
}

/// A failed refresh, as [`Store::record_refresh_failure`] records it.
#[derive(Debug)]
pub struct RefreshFailure<'a> {
    /// Why (no secret): shown in the audit trail.
    pub reason: &'a str,
    /// The grant is gone: the connection becomes `expired`.
    pub expired: bool,
    /// Unix ms before which no refresh is tried again.
    pub retry_at: i64,
    /// Consecutive failures after which the connection shows `error`.
    pub error_after: i64,
}

fn event<'a>(row: &'a ConnectionRow, what: &'a str, detail: Option<String>) -> NewAuditEvent<'a> {
    NewAuditEvent::for_connection(row, what, detail)
}
