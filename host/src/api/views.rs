//! What the API shows of stored things: never a credential, times as RFC 3339.

use crate::flows::{Flow, FlowDefinition, RunReport, StepDefinition};
use crate::piece::PieceInfo;
use crate::store::{AuditEvent, ConnectionRow, FlowRef, RunRow};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// A connection as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
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
            status: r.status.to_string(),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            last_used_at: r.last_used_at.map(rfc3339),
        }
    }
}

/// An audit event as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
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

/// A recorded run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// The run's number (its page is `/flows/{flow}/runs/{id}`).
    id: i64,
    /// `succeeded` or `failed`.
    status: String,
    started_at: String,
    finished_at: String,
    /// The run's report, as `POST /flows/{id}/runs` answered it (outputs past 256 KiB
    /// are not kept).
    #[schema(value_type = RunReport)]
    report: serde_json::Value,
}

impl TryFrom<RunRow> for RunView {
    type Error = serde_json::Error;

    fn try_from(run: RunRow) -> Result<Self, serde_json::Error> {
        Ok(RunView {
            id: run.id,
            status: run.status,
            started_at: rfc3339(run.started_at),
            finished_at: rfc3339(run.finished_at),
            report: serde_json::from_str(&run.report)?,
        })
    }
}

/// A flow's recorded runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// Newest first.
    pub runs: Vec<RunView>,
}

/// A flow as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowView {
    id: String,
    name: String,
    steps: Vec<StepDefinition>,
    created_at: String,
    updated_at: String,
}

impl From<Flow> for FlowView {
    fn from(flow: Flow) -> Self {
        let FlowDefinition { name, steps } = flow.definition;
        FlowView {
            id: flow.id,
            name,
            steps,
            created_at: rfc3339(flow.created_at),
            updated_at: rfc3339(flow.updated_at),
        }
    }
}

/// `GET /connections`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionList {
    /// Newest first.
    pub connections: Vec<ConnectionView>,
}

/// `GET /connections/{id}/usage`: the flows whose steps reference the connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    /// Those flows.
    pub flows: Vec<FlowRef>,
}

/// `GET /pieces`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PieceList {
    /// Every loaded piece.
    pub pieces: Vec<PieceInfo>,
}

/// `GET /flows`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowList {
    /// The project's flows.
    pub flows: Vec<FlowView>,
}

/// `GET /audit`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<AuditView>,
}

/// `POST /oauth2/start`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeUrl {
    /// The provider URL to open in a popup.
    pub authorize_url: String,
}

/// Every error: a stable code and a human message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable.
    pub code: String,
    /// For people; never contains a credential.
    pub message: String,
    /// With `connection_in_use`: the flows that reference the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows: Option<Vec<FlowRef>>,
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
