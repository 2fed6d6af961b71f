//! `GET /audit`: the project's audit trail, newest first.

use super::extract::ApiQuery;
use super::views::{AuditPage, ErrorBody};
use super::{ApiError, ApiResult, AppState, Project};
use crate::error_code::ErrorCode;
use crate::store::AuditFilter;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

/// The most events one page holds.
const MAX_LIMIT: i64 = 1000;

/// Query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events of this connection (id or external id).
    connection: Option<String>,
    /// Only events of this flow (its id).
    flow: Option<String>,
    /// Only the tool calls of this agent token (its id).
    agent: Option<String>,
    /// Only events of this kind (`created`, `used`, `renamed`, `reconnected`,
    /// `refreshed`, `refresh_failed`, `replaced`, `replacing`, `deleted`).
    event: Option<String>,
    /// Only events older than this sequence number (paging).
    before: Option<i64>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// The trail.
#[utoipa::path(get, path = "/audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Events, newest first", body = AuditPage),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Project(project): Project,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            format!("limit must be 1 to {MAX_LIMIT}"),
        ));
    }
    let events = state
        .connections
        .audit_filtered(
            &project,
            q.connection.as_deref(),
            AuditFilter {
                flow_id: q.flow.as_deref(),
                event: q.event.as_deref(),
                agent_id: q.agent.as_deref(),
                ..AuditFilter::default()
            },
            q.before,
            limit,
        )
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(AuditPage { events }))
}
