//! The project's API tokens: list them (ids and dates, never a secret or hash) and
//! revoke one. New tokens are made by the CLI or the Settings page, not by a token:
//! a leaked token cannot mint itself a replacement before it is revoked. A revoked token is refused on its next request, on
//! every replica: PostgreSQL replicas keep no token cache, and a SQLite server's cache
//! forgets it (its own write, or the CLI's marker file).

use super::extract::ApiPath;
use super::views::{ErrorBody, rfc3339};
use super::{ApiError, ApiResult, AppState, Project};
use crate::error_code::ErrorCode;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// One API token of the project.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// The public id: the `<id>` of `tfk_<id>_<secret>`.
    id: String,
    created_at: String,
}

/// The project's API tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    /// Newest first.
    tokens: Vec<TokenView>,
}

/// `GET /tokens`.
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    responses(
        (status = 200, description = "The project's API tokens (never a secret)", body = TokenList),
        (status = 401, description = "No valid project token", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Project(project): Project,
) -> ApiResult<Json<TokenList>> {
    let tokens = state
        .connections
        .store()
        .tokens_of(&project)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .into_iter()
        .map(|t| TokenView {
            id: t.id,
            created_at: rfc3339(t.created_at),
        })
        .collect();
    Ok(Json(TokenList { tokens }))
}

/// `DELETE /tokens/{id}`: refused from the next request on (this one included, if it
/// was the token presented).
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "The token's public id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "The project has no such token", body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Project(project): Project,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let revoked = state
        .auth
        .revoke(&project, &id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::TokenNotFound,
            "This project has no API token with that id",
        ))
    }
}
