//! The connection endpoints.

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::views::ConnectionView;
use super::{ApiResult, AppState, Project};
use crate::connections::{NewConnectionRequest, ValueInput};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// `POST /connections`: validate, then store.
pub async fn create(
    State(state): State<AppState>,
    Project(project): Project,
    ApiJson(req): ApiJson<NewConnectionRequest>,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    let row = state.connections.create(&project, req).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// `GET /connections`.
pub async fn list(
    State(state): State<AppState>,
    Project(project): Project,
) -> ApiResult<Json<Value>> {
    let rows: Vec<ConnectionView> = state
        .connections
        .list(&project)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(json!({ "connections": rows })))
}

/// `GET /connections/{id or external_id}`.
pub async fn show(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ConnectionView>> {
    Ok(Json(state.connections.get(&project, &id).await?.into()))
}

/// The body of a rename.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    display_name: String,
}

/// `PATCH /connections/{id}`: rename.
pub async fn rename(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RenameRequest>,
) -> ApiResult<Json<ConnectionView>> {
    let row = state
        .connections
        .rename(&project, &id, &req.display_name)
        .await?;
    Ok(Json(row.into()))
}

/// The body of a reconnect.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconnectRequest {
    value: ValueInput,
}

/// `POST /connections/{id}/reconnect`: validate, then replace atomically.
pub async fn reconnect(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ReconnectRequest>,
) -> ApiResult<Json<ConnectionView>> {
    let row = state
        .connections
        .reconnect(&project, &id, req.value)
        .await?;
    Ok(Json(row.into()))
}

/// `GET /connections/{id}/usage`: the flows that reference it.
pub async fn usage(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let flows = state.connections.usage(&project, &id).await?;
    Ok(Json(json!({ "flows": flows })))
}

/// `DELETE /connections/{id}` query.
#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    confirm: bool,
}

/// `DELETE /connections/{id}[?confirm=true]`: 409 with the flows while any reference
/// it, unless confirmed.
pub async fn delete(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> ApiResult<StatusCode> {
    state.connections.delete(&project, &id, q.confirm).await?;
    Ok(StatusCode::NO_CONTENT)
}
