//! The connection endpoints.

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::views::{ConnectionList, ConnectionView, ErrorBody, Usage};
use super::{ApiError, ApiResult, AppState, Project};
use crate::connections::{ConnectionError, NewConnectionRequest, ValueInput};
use crate::error_code::ErrorCode;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /connections`: validate, then store.
#[utoipa::path(post, path = "/connections", tag = "connections",
    request_body = NewConnectionRequest,
    responses(
        (status = 201, description = "Validated by the piece and stored", body = ConnectionView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "No such piece", body = ErrorBody),
        (status = 409, description = "The external id is taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid body, or the piece refused the credentials", body = ErrorBody),
        (status = 429, description = "`busy`: no sandbox slot within the queue deadline; see Retry-After", body = ErrorBody),
        (status = 502, description = "The service or the piece failed while validating", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Project(project): Project,
    ApiJson(req): ApiJson<NewConnectionRequest>,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    let row = state.connections.create(&project, req).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// `GET /connections`.
#[utoipa::path(get, path = "/connections", tag = "connections",
    responses(
        (status = 200, description = "The project's connections", body = ConnectionList),
        (status = 401, description = "No valid project token", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Project(project): Project,
) -> ApiResult<Json<ConnectionList>> {
    let connections = state
        .connections
        .list(&project)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(ConnectionList { connections }))
}

/// `GET /connections/{id or external_id}`.
#[utoipa::path(get, path = "/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "The connection's id or external id")),
    responses(
        (status = 200, description = "The connection (never its credential)", body = ConnectionView),
        (status = 400, description = "Bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "Connection not found", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ConnectionView>> {
    Ok(Json(state.connections.get(&project, &id).await?.into()))
}

/// The body of a rename.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    /// The new name users see (flows keep working: they use the external id).
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    display_name: String,
}

/// `PATCH /connections/{id}`: rename.
#[utoipa::path(patch, path = "/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "The connection's id or external id")),
    request_body = RenameRequest,
    responses(
        (status = 200, description = "Renamed", body = ConnectionView),
        (status = 400, description = "Malformed JSON or bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "Connection not found", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid body or name", body = ErrorBody),
    ))]
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconnectRequest {
    /// The new credential.
    value: ValueInput,
}

/// `POST /connections/{id}/reconnect`: validate, then replace atomically.
#[utoipa::path(post, path = "/connections/{id}/reconnect", tag = "connections",
    params(("id" = String, Path, description = "The connection's id or external id")),
    request_body = ReconnectRequest,
    responses(
        (status = 200, description = "Validated and replaced", body = ConnectionView),
        (status = 400, description = "Malformed JSON or bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "Connection not found", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid body, or the piece refused the credentials", body = ErrorBody),
        (status = 429, description = "`busy`: no sandbox slot within the queue deadline; see Retry-After", body = ErrorBody),
        (status = 502, description = "The service or the piece failed while validating", body = ErrorBody),
    ))]
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
#[utoipa::path(get, path = "/connections/{id}/usage", tag = "connections",
    params(("id" = String, Path, description = "The connection's id or external id")),
    responses(
        (status = 200, description = "The flows that reference it", body = Usage),
        (status = 400, description = "Bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "Connection not found", body = ErrorBody),
    ))]
pub async fn usage(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Usage>> {
    let flows = state.connections.usage(&project, &id).await?;
    Ok(Json(Usage { flows }))
}

/// `DELETE /connections/{id}` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Delete even though flows reference it (they will then fail with "Connection
    /// not found").
    #[serde(default)]
    confirm: bool,
}

/// `DELETE /connections/{id}[?confirm=true]`: 409 with the flows while any reference
/// it, unless confirmed.
#[utoipa::path(delete, path = "/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "The connection's id or external id"), DeleteQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad path or query parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "Connection not found", body = ErrorBody),
        (status = 409, description = "Flows use it (listed in `flows`); confirm to delete", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> ApiResult<StatusCode> {
    state.connections.delete(&project, &id, q.confirm).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /connections/{id}/replace` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceRequest {
    /// The connection (id or external id) of the same piece that takes its place.
    with: String,
}

/// What a replacement changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replacement {
    /// Flows rewritten.
    flows: usize,
    /// Steps rewritten.
    steps: usize,
}

/// `POST /connections/{id}/replace`: every step of the project's flows that uses this
/// connection is pointed at `with` (a connection of the same piece), all flows in one
/// transaction; audited on both connections.
#[utoipa::path(post, path = "/connections/{id}/replace", tag = "connections",
    params(("id" = String, Path, description = "The connection's id or external id")),
    request_body = ReplaceRequest,
    responses(
        (status = 200, description = "The flows now use the other connection", body = Replacement),
        (status = 400, description = "Malformed JSON or bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "Connection not found", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "No such connection to use, or not of the same piece", body = ErrorBody),
    ))]
pub async fn replace(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ReplaceRequest>,
) -> ApiResult<Json<Replacement>> {
    let from = state.connections.get(&project, &id).await?;
    let to = match state.connections.get(&project, &req.with).await {
        Ok(row) => row,
        Err(ConnectionError::NotFound) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                format!("there is no connection `{}` in this project", req.with),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    match state
        .flows
        .replace_connection(&project, &from.external_id, &to.external_id)
        .await
    {
        Ok(done) => Ok(Json(Replacement {
            flows: done.flows,
            steps: done.steps,
        })),
        Err(crate::flows::FlowError::Invalid(why)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidRequest,
            why,
        )),
        Err(e) => Err(e.into()),
    }
}
