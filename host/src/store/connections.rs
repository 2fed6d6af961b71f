//! Connection rows. Metadata and the sealed credential live in one row so a reconnect
//! replaces both atomically; the sealed bytes are opaque here.

use super::audit::append_audit_in;
use super::{NewAuditEvent, Result, Store, background_refresh_after, now_ms};
use crate::vault::Sealed;
use sqlx::{Any, AnyConnection, Transaction};
use std::fmt;
use std::str::FromStr;

/// A connection's status: the words of the `connections.status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionStatus {
    /// Usable.
    Active,
    /// The refresh token was revoked or its lifetime ended; only a reconnect ends it.
    Expired,
    /// The service refused the credential, or refreshing it failed repeatedly.
    Error,
}

impl ConnectionStatus {
    /// Every status.
    pub const ALL: [ConnectionStatus; 3] = [
        ConnectionStatus::Active,
        ConnectionStatus::Expired,
        ConnectionStatus::Error,
    ];

    /// The status's word, as stored and as the API shows it. The one table of them.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Active => "active",
            ConnectionStatus::Expired => "expired",
            ConnectionStatus::Error => "error",
        }
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a [`ConnectionStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown connection status `{0}`")]
pub struct UnknownStatus(pub String);

impl TryFrom<String> for ConnectionStatus {
    type Error = UnknownStatus;

    /// How rows decode their `status` column (`#[sqlx(try_from = "String")]`).
    fn try_from(word: String) -> Result<Self, UnknownStatus> {
        word.parse()
    }
}

impl FromStr for ConnectionStatus {
    type Err = UnknownStatus;

    fn from_str(word: &str) -> Result<Self, UnknownStatus> {
        ConnectionStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == word)
            .ok_or_else(|| UnknownStatus(word.to_owned()))
    }
}

/// A connection's metadata (never its credential).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConnectionRow {
    /// Internal id.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// The id flows reference (`{{connections['external-id']}}`), unique per project.
    pub external_id: String,
    /// The name users see.
    pub display_name: String,
    /// The piece the credential is for.
    pub piece: String,
    /// The auth kind (`secret_text`, `basic`, `custom`, `oauth2`).
    pub auth_type: String,
    /// Its status.
    #[sqlx(try_from = "String")]
    pub status: ConnectionStatus,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// Unix ms of the last flow run that used it.
    pub last_used_at: Option<i64>,
    /// Unix ms when its OAuth2 access token expires (OAuth2 only).
    pub expires_at: Option<i64>,
    /// Unix ms when that access token was issued (OAuth2 only), so the refresh margin
    /// can scale with the token's lifetime.
    pub token_issued_at: Option<i64>,
}

impl ConnectionRow {
    /// Whether the row's status is `status`.
    pub fn has_status(&self, status: ConnectionStatus) -> bool {
        self.status == status
    }
}

/// A connection to insert.
#[derive(Debug)]
pub struct NewConnection<'a> {
    /// Its metadata; times are set by the store.
    pub row: &'a ConnectionRow,
    /// The sealed credential.
    pub sealed: &'a Sealed,
}

/// A row's sealed credential with what it is bound to, for opening and rotation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedRow {
    /// Connection id.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// The sealed credential.
    #[sqlx(flatten)]
    pub sealed: Sealed,
}

/// A connection row with its sealed credential, read in one query.
#[derive(sqlx::FromRow)]
struct RowWithSealed {
    #[sqlx(flatten)]
    row: ConnectionRow,
    #[sqlx(flatten)]
    sealed: Sealed,
}

/// How many rows one key version seals.
#[derive(sqlx::FromRow)]
struct KeyVersionCount {
    key_version: String,
    row_count: i64,
}

/// Audit rows per multi-row INSERT (7 parameters each; well under both backends'
/// parameter limits).
const AUDIT_ROWS_PER_INSERT: usize = 128;

/// The columns of a [`ConnectionRow`], which reads them by name, so a query may select
/// more columns after them.
pub(super) const COLUMNS: &str = "id, project_id, external_id, display_name, piece, auth_type, \
                       status, created_at, updated_at, last_used_at, expires_at, token_issued_at";

impl Store {
    /// Inserts a connection. [`StoreError::Conflict`](super::StoreError::Conflict) when
    /// the project already has its external id.
    pub async fn insert_connection(
        &self,
        new: NewConnection<'_>,
        audit: NewAuditEvent<'_>,
    ) -> Result<()> {
        let now = now_ms();
        let c = new.row;
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO connections (id, project_id, external_id, display_name, piece, \
             auth_type, status, key_version, nonce, ciphertext, created_at, updated_at, \
             expires_at, token_issued_at, refresh_after, credential_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14, 1)",
        )
        .bind(&c.id)
        .bind(&c.project_id)
        .bind(&c.external_id)
        .bind(&c.display_name)
        .bind(&c.piece)
        .bind(&c.auth_type)
        .bind(c.status.as_str())
        .bind(&new.sealed.key_version)
        .bind(new.sealed.nonce.clone())
        .bind(new.sealed.ciphertext.clone())
        .bind(now)
        .bind(c.expires_at)
        .bind(c.expires_at.map(|_| now))
        .bind(background_refresh_after(now, c.expires_at))
        .execute(&mut *tx)
        .await?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The project's connections, newest first.
    pub async fn list_connections(&self, project_id: &str) -> Result<Vec<ConnectionRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM connections WHERE project_id = $1 \
             ORDER BY created_at DESC, id"
        ))
        .bind(project_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The project's connection whose id or external id is `key` (the id wins).
    pub async fn find_connection(
        &self,
        project_id: &str,
        key: &str,
    ) -> Result<Option<ConnectionRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM connections WHERE project_id = $1 \
             AND (id = $2 OR external_id = $2) \
             ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END LIMIT 1"
        ))
        .bind(project_id)
        .bind(key)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The sealed credential of the project's connection `id`.
    pub async fn sealed_credential(&self, project_id: &str, id: &str) -> Result<Option<Sealed>> {
        Ok(sqlx::query_as(
            "SELECT key_version, nonce, ciphertext FROM connections \
             WHERE project_id = $1 AND id = $2",
        )
        .bind(project_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Renames the project's connection `id`; false when there is none.
    pub async fn rename_connection(
        &self,
        project_id: &str,
        id: &str,
        display_name: &str,
        audit: NewAuditEvent<'_>,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE connections SET display_name = $3, updated_at = $4 \
             WHERE project_id = $1 AND id = $2",
        )
        .bind(project_id)
        .bind(id)
        .bind(display_name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        finish(tx, done.rows_affected() == 1, audit).await
    }

    /// Replaces the credential of the project's connection `id` in one statement and
    /// marks it active, as a new generation (a refresh that read the old one cannot
    /// overwrite it); false when there is none.
    pub async fn replace_credential(
        &self,
        project_id: &str,
        id: &str,
        sealed: &Sealed,
        expires_at: Option<i64>,
        audit: NewAuditEvent<'_>,
    ) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE connections SET key_version = $3, nonce = $4, ciphertext = $5, \
             status = $9, updated_at = $6, expires_at = $7, refresh_failures = 0, \
             refresh_after = $8, token_issued_at = CASE WHEN $7 IS NULL THEN NULL ELSE $6 END, \
             credential_version = credential_version + 1, refresh_lease_until = 0, \
             refresh_lease_holder = '' WHERE project_id = $1 AND id = $2",
        )
        .bind(project_id)
        .bind(id)
        .bind(&sealed.key_version)
        .bind(sealed.nonce.clone())
        .bind(sealed.ciphertext.clone())
        .bind(now)
        .bind(expires_at)
        .bind(background_refresh_after(now, expires_at))
        .bind(ConnectionStatus::Active.as_str())
        .execute(&mut *tx)
        .await?;
        finish(tx, done.rows_affected() == 1, audit).await
    }

    /// Deletes the project's connection `id`; false when there is none.
    pub async fn delete_connection(
        &self,
        project_id: &str,
        id: &str,
        audit: NewAuditEvent<'_>,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM connections WHERE project_id = $1 AND id = $2")
            .bind(project_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        finish(tx, done.rows_affected() == 1, audit).await
    }

    /// Up to `limit` rows sealed under a key other than `current_version`, for rotation.
    pub async fn rows_to_rotate(
        &self,
        current_version: &str,
        limit: i64,
    ) -> Result<Vec<SealedRow>> {
        Ok(sqlx::query_as(
            "SELECT id, project_id, key_version, nonce, ciphertext FROM connections \
             WHERE key_version <> $1 ORDER BY id LIMIT $2",
        )
        .bind(current_version)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Writes a re-sealed credential if the row still holds `old` (a reconnect in the
    /// meantime wins); true when written. Each row is its own statement, so an
    /// interrupted rotation leaves every row readable under the old or the new key.
    pub async fn swap_sealed(&self, id: &str, old: &Sealed, new: &Sealed) -> Result<bool> {
        self.swap_sealed_in("connections", "id", id, old, new).await
    }

    /// The compare-and-swap of a sealed value behind every rotation: rewrites the row
    /// of `table` whose `key_column` is `key` if it still holds `old`. `table` and
    /// `key_column` are this module's constants, never input.
    pub(super) async fn swap_sealed_in(
        &self,
        table: &'static str,
        key_column: &'static str,
        key: &str,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool> {
        let done = sqlx::query(&format!(
            "UPDATE {table} SET key_version = $2, nonce = $3, ciphertext = $4 \
             WHERE {key_column} = $1 AND key_version = $5 AND nonce = $6"
        ))
        .bind(key)
        .bind(&new.key_version)
        .bind(new.nonce.clone())
        .bind(new.ciphertext.clone())
        .bind(&old.key_version)
        .bind(old.nonce.clone())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// How many rows are sealed under each key version.
    pub async fn key_versions(&self) -> Result<Vec<(String, i64)>> {
        let counts: Vec<KeyVersionCount> = sqlx::query_as(
            "SELECT key_version, COUNT(*) AS row_count FROM connections \
             GROUP BY key_version ORDER BY key_version",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(counts
            .into_iter()
            .map(|c| (c.key_version, c.row_count))
            .collect())
    }
}

/// Commits a one-row change with its audit event, or rolls back when no row matched.
async fn finish(
    mut tx: Transaction<'_, Any>,
    changed: bool,
    audit: NewAuditEvent<'_>,
) -> Result<bool> {
    if changed {
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(changed)
}

/// One use of a connection by a flow run, recorded with its audit event.
#[derive(Debug, Clone)]
pub struct UseRecord {
    /// Owning project.
    pub project_id: String,
    /// The connection.
    pub connection_id: String,
    /// Its external id.
    pub external_id: String,
    /// The flow that used it; `None` for an agent's tool call.
    pub flow_id: Option<String>,
    /// The agent token whose tool call used it; `None` for a flow.
    pub agent_id: Option<String>,
    /// Non-secret details (JSON text: step or agent and tool, outcome).
    pub detail: String,
    /// A status to set ([`ConnectionStatus::Error`] after the service refused the
    /// credential); `None` keeps `active` and turns `error` back to `active`, since the
    /// credential just worked. `expired` is never changed here: only a reconnect ends
    /// it, so a run that started before the grant was revoked cannot make the host try
    /// it again.
    pub status: Option<ConnectionStatus>,
    /// When, Unix ms.
    pub at: i64,
}

impl Store {
    /// How many connections of every project have each status (for `/metrics`).
    pub async fn connections_by_status(&self) -> Result<Vec<(String, i64)>> {
        Ok(
            sqlx::query_as("SELECT status, COUNT(*) FROM connections GROUP BY status")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Records many uses in one transaction: on PostgreSQL one statement when the batch
    /// fits one (`batch_pg`), else [`record_uses_in`].
    pub async fn record_uses(&self, uses: &[UseRecord]) -> Result<()> {
        if self.backend() == super::Backend::Postgres && super::batch_pg::fits(&[], uses) {
            let mut conn = self.pool().acquire().await?;
            super::batch_pg::record(&mut conn, &[], uses).await?;
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        record_uses_in(&mut tx, uses).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The project's connection whose external id is `external_id` (flows' references
    /// name external ids only), with its sealed credential, in one query.
    pub async fn find_by_external_id(
        &self,
        project_id: &str,
        external_id: &str,
    ) -> Result<Option<(ConnectionRow, Sealed)>> {
        let found: Option<RowWithSealed> = sqlx::query_as(&format!(
            "SELECT {COLUMNS}, key_version, nonce, ciphertext FROM connections \
             WHERE project_id = $1 AND external_id = $2"
        ))
        .bind(project_id)
        .bind(external_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.map(|f| (f.row, f.sealed)))
    }
}

/// The VALUES list of a `rows`-row INSERT of `used` events, seven `$N` parameters a
/// row: `($1, $2, $3, 'used', $4, $5, $6, $7), ($8, …)`.
/// Built here rather than with `sqlx::QueryBuilder::push_values` because under the
/// `Any` driver QueryBuilder writes `?` placeholders, which PostgreSQL rejects (sqlx
/// issue #3000); `$N` suits both.
fn used_event_values(rows: usize) -> String {
    (0..rows)
        .map(|i| {
            let p = |k: usize| format!("${}", i * 7 + k);
            format!(
                "({}, {}, {}, 'used', {}, {}, {}, {})",
                p(1),
                p(2),
                p(3),
                p(4),
                p(5),
                p(6),
                p(7)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How far `last_used_at` may lag the latest use: a use that changes no status and
/// comes within this long of the recorded one leaves the row alone (no write, no row
/// lock: replicas running the same connection do not queue on its row).
pub const LAST_USE_STEP_MS: i64 = 1000;

/// The use of each connection that sets its row: the latest, but a refusal (`error`)
/// anywhere in the batch sticks; in one order (project, connection) for every writer,
/// so replicas' batches lock rows in the same order and cannot deadlock.
pub(super) fn latest_uses(uses: &[UseRecord]) -> Vec<&UseRecord> {
    let mut latest: Vec<&UseRecord> = Vec::new();
    for u in uses {
        match latest
            .iter_mut()
            .find(|l| l.connection_id == u.connection_id && l.project_id == u.project_id)
        {
            Some(l) if l.status.is_none() || u.status.is_some() => *l = u,
            Some(_) => {}
            None => latest.push(u),
        }
    }
    latest
        .sort_by(|a, b| (&a.project_id, &a.connection_id).cmp(&(&b.project_id, &b.connection_id)));
    latest
}

/// Records uses on `conn`, inside the caller's transaction: per connection one
/// `last_used_at` / status update (the latest use wins; a refusal anywhere in the batch
/// sticks; see [`LAST_USE_STEP_MS`]), and a `used` audit event per use, inserted many
/// rows per statement.
pub(super) async fn record_uses_in(conn: &mut AnyConnection, uses: &[UseRecord]) -> Result<()> {
    for u in latest_uses(uses) {
        sqlx::query(
            "UPDATE connections SET last_used_at = $3, status = CASE \
             WHEN status = $5 THEN status \
             WHEN $4 <> '' THEN $4 \
             WHEN status = $6 AND refresh_failures = 0 THEN $7 ELSE status END \
             WHERE project_id = $1 AND id = $2 AND (last_used_at IS NULL \
             OR last_used_at < $3 - $8 OR $4 <> '' OR status = $6)",
        )
        .bind(&u.project_id)
        .bind(&u.connection_id)
        .bind(u.at)
        .bind(u.status.map_or("", ConnectionStatus::as_str))
        .bind(ConnectionStatus::Expired.as_str())
        .bind(ConnectionStatus::Error.as_str())
        .bind(ConnectionStatus::Active.as_str())
        .bind(LAST_USE_STEP_MS)
        .execute(&mut *conn)
        .await?;
    }
    for chunk in uses.chunks(AUDIT_ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO audit_events (project_id, connection_id, external_id, event, flow_id, \
             agent_id, detail, at) VALUES {}",
            used_event_values(chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for u in chunk {
            q = q
                .bind(&u.project_id)
                .bind(&u.connection_id)
                .bind(&u.external_id)
                .bind(&u.flow_id)
                .bind(&u.agent_id)
                .bind(&u.detail)
                .bind(u.at);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_words() {
        for status in ConnectionStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
        }
        assert_eq!(
            "revoked".parse::<ConnectionStatus>(),
            Err(UnknownStatus("revoked".into()))
        );
    }

    #[test]
    fn used_event_values_number_seven_parameters_a_row() {
        assert_eq!(used_event_values(1), "($1, $2, $3, 'used', $4, $5, $6, $7)");
        assert_eq!(
            used_event_values(2),
            "($1, $2, $3, 'used', $4, $5, $6, $7), ($8, $9, $10, 'used', $11, $12, $13, $14)"
        );
    }
}
