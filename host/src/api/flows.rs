//! The flow endpoints: CRUD and runs.

use super::extract::{ApiJson, ApiPath};
use super::views::rfc3339;
use super::{ApiResult, AppState, Project};
use crate::flows::{Flow, FlowDefinition, RunReport};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

fn view(flow: Flow) -> Value {
    json!({
        "id": flow.id,
        "name": flow.definition.name,
        "steps": flow.definition.steps,
        "created_at": rfc3339(flow.created_at),
        "updated_at": rfc3339(flow.updated_at),
    })
}

/// `POST /flows`.
pub async fn create(
    State(state): State<AppState>,
    Project(project): Project,
    ApiJson(req): ApiJson<FlowDefinition>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let flow = state.flows.create(&project, req).await?;
    Ok((StatusCode::CREATED, Json(view(flow))))
}

/// `GET /flows`.
pub async fn list(
    State(state): State<AppState>,
    Project(project): Project,
) -> ApiResult<Json<Value>> {
    let flows: Vec<Value> = state
        .flows
        .list(&project)
        .await?
        .into_iter()
        .map(view)
        .collect();
    Ok(Json(json!({ "flows": flows })))
}

/// `GET /flows/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(view(state.flows.get(&project, &id).await?)))
}

/// `PUT /flows/{id}`: replace the definition.
pub async fn update(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<FlowDefinition>,
) -> ApiResult<Json<Value>> {
    let flow = state.flows.update(&project, &id, req).await?;
    Ok(Json(view(flow)))
}

/// `DELETE /flows/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.flows.delete(&project, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /flows/{id}/runs`: run now; 200 with every step's result.
pub async fn run(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RunReport>> {
    Ok(Json(state.flows.run(&project, &id).await?))
}
