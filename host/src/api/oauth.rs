//! OAuth2 endpoints: `POST /oauth2/start` (project token) and the admin route that
//! registers a piece's OAuth app (`PUT /admin/oauth-apps/{piece}`, admin token). The
//! provider sends the browser back to `/oauth2/callback`, a page of [`crate::web`].

use super::auth::Admin;
use super::extract::{ApiJson, ApiPath};
use super::views::{AuthorizeUrl, ErrorBody};
use super::{ApiResult, AppState, Project};
use crate::oauth::StartRequest;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;

/// `POST /oauth2/start` → `{"authorize_url"}`.
#[utoipa::path(post, path = "/oauth2/start", tag = "oauth2",
    request_body = StartRequest,
    responses(
        (status = 200, description = "Open `authorize_url` in a popup", body = AuthorizeUrl),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "No such piece, or the connection to reconnect is not found", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid body, not an OAuth2 piece, or no OAuth app", body = ErrorBody),
    ))]
pub async fn start(
    State(state): State<AppState>,
    Project(project): Project,
    ApiJson(req): ApiJson<StartRequest>,
) -> ApiResult<Json<AuthorizeUrl>> {
    let authorize_url = state.oauth.start(&project, req).await?;
    Ok(Json(AuthorizeUrl { authorize_url }))
}

/// The body of an OAuth app registration.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppRequest {
    /// The app's client id at the provider.
    client_id: String,
    /// Its client secret (sealed by the vault; never shown again).
    #[schema(value_type = String)]
    client_secret: SecretString,
}

/// `PUT /admin/oauth-apps/{piece}` with the admin token.
#[utoipa::path(put, path = "/admin/oauth-apps/{piece}", tag = "admin",
    security(("adminToken" = [])),
    params(("piece" = String, Path, description = "The OAuth2 piece")),
    request_body = AppRequest,
    responses(
        (status = 204, description = "Registered (or replaced)"),
        (status = 400, description = "Malformed JSON or bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 404, description = "No such piece", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid body, or not an OAuth2 piece", body = ErrorBody),
    ))]
pub async fn set_app(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(piece): ApiPath<String>,
    ApiJson(req): ApiJson<AppRequest>,
) -> ApiResult<StatusCode> {
    state
        .oauth
        .set_app(&piece, &req.client_id, &req.client_secret)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
