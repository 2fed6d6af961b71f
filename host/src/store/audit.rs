//! The audit trail: append-only events about connections. No secret is ever written
//! here; `detail` holds only names and reasons.

use super::{Result, Store, now_ms};
use sqlx::AnyConnection;

/// Every kind of event, with its words for filters.
pub const EVENT_KINDS: [(&str, &str); 9] = [
    ("created", "Created"),
    ("used", "Used by a flow or an agent"),
    ("renamed", "Renamed"),
    ("reconnected", "Reconnected"),
    ("refreshed", "Token refreshed"),
    ("refresh_failed", "Refresh failed"),
    ("replaced", "Replaced in flows"),
    ("replacing", "Took another's place in flows"),
    ("deleted", "Deleted"),
];

/// An event to append.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEvent<'a> {
    /// Owning project.
    pub project_id: &'a str,
    /// The connection concerned.
    pub connection_id: Option<&'a str>,
    /// Its external id at the time.
    pub external_id: Option<&'a str>,
    /// `created`, `used`, `renamed`, `reconnected`, `deleted`, `refreshed`, `refresh_failed`,
    /// `replaced`, `replacing` (see [`EVENT_KINDS`]).
    pub event: &'a str,
    /// The flow, for `used`.
    pub flow_id: Option<&'a str>,
    /// Non-secret details (JSON text).
    pub detail: Option<String>,
}

impl<'a> NewAuditEvent<'a> {
    /// An event about a connection.
    pub fn for_connection(
        row: &'a super::ConnectionRow,
        event: &'a str,
        detail: Option<String>,
    ) -> Self {
        NewAuditEvent {
            project_id: &row.project_id,
            connection_id: Some(&row.id),
            external_id: Some(&row.external_id),
            event,
            flow_id: None,
            detail,
        }
    }
}

/// Which events to list; `None` passes every value.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditFilter<'a> {
    /// Events of this connection id.
    pub connection_id: Option<&'a str>,
    /// Events of the connection that had this external id (deleted ones too).
    pub external_id: Option<&'a str>,
    /// Events of this flow.
    pub flow_id: Option<&'a str>,
    /// Events of this kind.
    pub event: Option<&'a str>,
    /// Tool calls of this agent token.
    pub agent_id: Option<&'a str>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEvent {
    /// Sequence number.
    pub id: i64,
    /// The connection concerned.
    pub connection_id: Option<String>,
    /// Its external id at the time.
    pub external_id: Option<String>,
    /// What happened.
    pub event: String,
    /// The flow, for `used`.
    pub flow_id: Option<String>,
    /// Non-secret details (JSON text).
    pub detail: Option<String>,
    /// Unix ms.
    pub at: i64,
}

impl Store {
    /// The project's events that pass `filter`, newest first, before sequence number
    /// `before` (for paging).
    pub async fn filter_audit(
        &self,
        project_id: &str,
        filter: &AuditFilter<'_>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        Ok(sqlx::query_as(
            "SELECT id, connection_id, external_id, event, flow_id, detail, at \
             FROM audit_events WHERE project_id = $1 \
             AND ($2 = '' OR connection_id = $2) AND ($3 = '' OR external_id = $3) \
             AND ($4 = '' OR flow_id = $4) AND ($5 = '' OR event = $5) AND id < $6 \
             AND ($8 = '' OR agent_id = $8) ORDER BY id DESC LIMIT $7",
        )
        .bind(project_id)
        .bind(filter.connection_id.unwrap_or(""))
        .bind(filter.external_id.unwrap_or(""))
        .bind(filter.flow_id.unwrap_or(""))
        .bind(filter.event.unwrap_or(""))
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .bind(filter.agent_id.unwrap_or(""))
        .fetch_all(self.pool())
        .await?)
    }
}

/// Appends an event on `conn`, which may be inside the transaction of the change it
/// records, so a change and its event commit together.
pub(super) async fn append_audit_in(conn: &mut AnyConnection, e: NewAuditEvent<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (project_id, connection_id, external_id, event, \
         flow_id, detail, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.project_id)
    .bind(e.connection_id)
    .bind(e.external_id)
    .bind(e.event)
    .bind(e.flow_id)
    .bind(e.detail)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}
