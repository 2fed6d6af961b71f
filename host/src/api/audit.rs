//! `GET /audit`: the project's audit trail, newest first.

use super::views::AuditView;
use super::{ApiResult, AppState, Project};
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

/// Query parameters.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// Only events of this connection (id or external id).
    connection: Option<String>,
    /// Only events older than this sequence number (paging).
    before: Option<i64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<i64>,
}

/// The trail.
pub async fn list(
    State(state): State<AppState>,
    Project(project): Project,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let events: Vec<AuditView> = state
        .connections
        .audit(&project, q.connection.as_deref(), q.before, limit)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(json!({ "events": events })))
}
