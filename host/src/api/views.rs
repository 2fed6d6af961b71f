//! What the API shows of stored things: never a credential, times as RFC 3339.

use crate::store::{AuditEvent, ConnectionRow};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A connection as the API shows it.
#[derive(Debug, Serialize)]
pub struct ConnectionView {
    id: String,
    external_id: String,
    display_name: String,
    piece: String,
    auth_type: String,
    status: String,
    created_at: String,
    updated_at: String,
    last_used_at: Option<String>,
}

impl From<ConnectionRow> for ConnectionView {
    fn from(r: ConnectionRow) -> Self {
        ConnectionView {
            id: r.id,
            external_id: r.external_id,
            display_name: r.display_name,
            piece: r.piece,
            auth_type: r.auth_type,
            status: r.status,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            last_used_at: r.last_used_at.map(rfc3339),
        }
    }
}

/// An audit event as the API shows it.
#[derive(Debug, Serialize)]
pub struct AuditView {
    id: i64,
    at: String,
    event: String,
    connection_id: Option<String>,
    external_id: Option<String>,
    flow_id: Option<String>,
    detail: Option<serde_json::Value>,
}

impl From<AuditEvent> for AuditView {
    fn from(e: AuditEvent) -> Self {
        AuditView {
            id: e.id,
            at: rfc3339(e.at),
            event: e.event,
            connection_id: e.connection_id,
            external_id: e.external_id,
            flow_id: e.flow_id,
            detail: e.detail.and_then(|d| serde_json::from_str(&d).ok()),
        }
    }
}

/// Unix milliseconds as RFC 3339 (UTC, millisecond precision).
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_millis() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339(1_764_000_000_123),
            "2025-11-24T16:00:00.123Z"
        );
    }
}
