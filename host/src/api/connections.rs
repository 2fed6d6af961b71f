//! The connection endpoints.

use super::views::ConnectionView;
use super::{ApiError, ApiResult, AppState, Project};
use crate::connections::{NewConnectionRequest, ValueInput};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// The JSON body, with axum's rejections turned into API errors.
pub(super) fn body<T>(payload: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    payload.map(|Json(v)| v).map_err(ApiError::from)
}

/// `POST /connections`: validate, then store.
pub async fn create(
    State(state): State<AppState>,
    Project(project): Project,
    payload: Result<Json<NewConnectionRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    let req = body(payload)?;
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
    Path(id): Path<String>,
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
    Path(id): Path<String>,
    payload: Result<Json<RenameRequest>, JsonRejection>,
) -> ApiResult<Json<ConnectionView>> {
    let req = body(payload)?;
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
    Path(id): Path<String>,
    payload: Result<Json<ReconnectRequest>, JsonRejection>,
) -> ApiResult<Json<ConnectionView>> {
    let req = body(payload)?;
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
    Path(id): Path<String>,
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
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<StatusCode> {
    state.connections.delete(&project, &id, q.confirm).await?;
    Ok(StatusCode::NO_CONTENT)
}
