//! The project's agent tokens (MCP): make one bound to chosen (connection, action)
//! pairs — the token is in the answer once and never again —, list them with their
//! tools and last use, revoke one. An agent token lives only as long as the API token
//! that made it: revoking that one (a leak) revokes every agent token it made. An
//! agent's calls are in the audit trail (`GET /audit?event=used`, `detail.agent`).

use super::auth::ProjectBy;
use super::extract::{ApiJson, ApiPath};
use super::views::{ErrorBody, rfc3339};
use super::{ApiError, ApiResult, AppState, Project};
use crate::agents::{AgentError, ToolRequest};
use crate::error_code::ErrorCode;
use crate::store::{AgentRow, AgentTool};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /agents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgentRequest {
    /// Shown in the audit trail ("used by agent NAME").
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// The (connection, action) pairs the agent may call, one tool each.
    #[schema(min_items = 1, max_items = 100)]
    tools: Vec<ToolRequest>,
}

/// One allowed (connection, action).
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolView {
    /// The connection's id.
    connection_id: String,
    /// The action.
    action: String,
}

/// An agent token (never its secret, but at creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    /// The public id: the `<id>` of `tfa_<id>_<secret>`.
    id: String,
    name: String,
    tools: Vec<ToolView>,
    created_at: String,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

/// A new agent token: the view and the token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAgent {
    #[serde(flatten)]
    agent: AgentView,
    /// `tfa_<id>_<secret>`: the MCP client's bearer token. Not shown again.
    token: String,
}

/// The project's agent tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    /// Newest first.
    agents: Vec<AgentView>,
}

fn view(row: AgentRow, tools: Vec<AgentTool>) -> AgentView {
    AgentView {
        id: row.id,
        name: row.name,
        tools: tools
            .into_iter()
            .map(|t| ToolView {
                connection_id: t.connection_id,
                action: t.action,
            })
            .collect(),
        created_at: rfc3339(row.created_at),
        last_used_at: row.last_used_at.map(rfc3339),
        revoked_at: row.revoked_at.map(rfc3339),
    }
}

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::Invalid(m) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                m,
            ),
            e @ AgentError::Host { .. } => ApiError::internal(&e),
            AgentError::Store(e) => ApiError::internal(&e),
        }
    }
}

/// `POST /agents`: a new agent token for the project, allowed the listed tools.
#[utoipa::path(post, path = "/agents", tag = "agents",
    request_body = NewAgentRequest,
    responses(
        (status = 201, description = "Made; the token is shown this once", body = CreatedAgent),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Bad name, or a connection or action the project does not have", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    // The API token that asked: revoking it revokes the agent token too.
    ProjectBy(project, creator): ProjectBy,
    ApiJson(req): ApiJson<NewAgentRequest>,
) -> ApiResult<(StatusCode, Json<CreatedAgent>)> {
    let (row, tools, token) = state
        .agents
        .create(&project, Some(&creator), &req.name, &req.tools)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAgent {
            agent: view(row, tools),
            token: token.expose_secret().to_owned(),
        }),
    ))
}

/// `GET /agents`.
#[utoipa::path(get, path = "/agents", tag = "agents",
    responses(
        (status = 200, description = "The project's agent tokens (never a secret)", body = AgentList),
        (status = 401, description = "No valid project token", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Project(project): Project,
) -> ApiResult<Json<AgentList>> {
    let agents = state
        .agents
        .list(&project)
        .await?
        .into_iter()
        .map(|(row, tools)| view(row, tools))
        .collect();
    Ok(Json(AgentList { agents }))
}

/// `DELETE /agents/{id}`: the token is refused from its next request on.
#[utoipa::path(delete, path = "/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "The agent token's public id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "The project has no live agent token with that id", body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if state.agents.revoke(&project, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::AgentNotFound,
            "This project has no live agent token with that id",
        ))
    }
}
