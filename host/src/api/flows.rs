//! The flow endpoints: CRUD, runs, and the recorded runs.

use super::extract::{ApiJson, ApiPath};
use super::views::{ErrorBody, FlowList, FlowView, RunList, RunView};
use super::{ApiError, ApiResult, AppState, Project, ProjectAt};
use crate::flows::{FlowDefinition, RunReport};
use crate::store::RUNS_KEPT;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// `POST /flows`.
#[utoipa::path(post, path = "/flows", tag = "flows",
    request_body = FlowDefinition,
    responses(
        (status = 201, description = "Checked against the catalog and saved", body = FlowView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid body or flow", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Project(project): Project,
    ApiJson(req): ApiJson<FlowDefinition>,
) -> ApiResult<(StatusCode, Json<FlowView>)> {
    let flow = state.flows.create(&project, req).await?;
    Ok((StatusCode::CREATED, Json(flow.into())))
}

/// `GET /flows`.
#[utoipa::path(get, path = "/flows", tag = "flows",
    responses(
        (status = 200, description = "The project's flows", body = FlowList),
        (status = 401, description = "No valid project token", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Project(project): Project,
) -> ApiResult<Json<FlowList>> {
    let flows = state
        .flows
        .list(&project)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(FlowList { flows }))
}

/// `GET /flows/{id}`.
#[utoipa::path(get, path = "/flows/{id}", tag = "flows",
    params(("id" = String, Path, description = "The flow's id")),
    responses(
        (status = 200, description = "The flow", body = FlowView),
        (status = 400, description = "Bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "Flow not found", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<FlowView>> {
    Ok(Json(state.flows.get(&project, &id).await?.into()))
}

/// `PUT /flows/{id}`: replace the definition.
#[utoipa::path(put, path = "/flows/{id}", tag = "flows",
    params(("id" = String, Path, description = "The flow's id")),
    request_body = FlowDefinition,
    responses(
        (status = 200, description = "Checked and replaced", body = FlowView),
        (status = 400, description = "Malformed JSON or bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "Flow not found", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid body or flow", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<FlowDefinition>,
) -> ApiResult<Json<FlowView>> {
    let flow = state.flows.update(&project, &id, req).await?;
    Ok(Json(flow.into()))
}

/// `DELETE /flows/{id}`.
#[utoipa::path(delete, path = "/flows/{id}", tag = "flows",
    params(("id" = String, Path, description = "The flow's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "Flow not found", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.flows.delete(&project, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /flows/{id}/runs`: run now; 200 with every step's result (a failed step is a
/// failed run, not an HTTP error). 429 `busy` when the first step found no sandbox slot
/// within the queue deadline: nothing ran, retry after `Retry-After` seconds (a later
/// step that is busy fails the run with the step code `busy`).
#[utoipa::path(post, path = "/flows/{id}/runs", tag = "flows",
    params(("id" = String, Path, description = "The flow's id")),
    responses(
        (status = 200, description = "The run's report, step by step", body = RunReport),
        (status = 400, description = "Bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "Flow not found", body = ErrorBody),
        (status = 429, description = "`busy`: nothing ran; see Retry-After", body = ErrorBody),
    ))]
pub async fn run(
    State(state): State<AppState>,
    ProjectAt(project, at): ProjectAt,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RunReport>> {
    Ok(Json(state.flows.run(&project, Some(at), &id).await?.0))
}

/// `GET /flows/{id}/runs`: the flow's recorded runs (the newest 50), newest first.
#[utoipa::path(get, path = "/flows/{id}/runs", tag = "flows",
    params(("id" = String, Path, description = "The flow's id")),
    responses(
        (status = 200, description = "The flow's recent runs, newest first", body = RunList),
        (status = 400, description = "Bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "Flow not found", body = ErrorBody),
    ))]
pub async fn runs(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RunList>> {
    state.flows.get(&project, &id).await?;
    let runs = state
        .flows
        .runs(&project, &id, RUNS_KEPT)
        .await?
        .into_iter()
        .map(RunView::try_from)
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(RunList { runs }))
}
