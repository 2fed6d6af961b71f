//! OAuth2 endpoints: `POST /oauth2/start` (project token), `GET /oauth2/callback` (the
//! provider sends the browser here; answers the popup page), and the admin route that
//! registers a piece's OAuth app (`PUT /admin/oauth-apps/{piece}`, admin token).

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::{ApiError, ApiResult, AppState, Project};
use crate::oauth::StartRequest;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use subtle::ConstantTimeEq as _;

/// `POST /oauth2/start` → `{"authorize_url"}`.
pub async fn start(
    State(state): State<AppState>,
    Project(project): Project,
    ApiJson(req): ApiJson<StartRequest>,
) -> ApiResult<Json<Value>> {
    let url = state.oauth.start(&project, req).await?;
    Ok(Json(json!({ "authorize_url": url })))
}

/// `GET /oauth2/callback?code&state` (or `?error&state`): the popup page.
pub async fn callback(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<HashMap<String, String>>,
) -> impl IntoResponse {
    let page = state.oauth.callback(&params).await;
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(page),
    )
}

/// The body of an OAuth app registration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRequest {
    client_id: String,
    client_secret: String,
}

/// `PUT /admin/oauth-apps/{piece}` with the admin token.
pub async fn set_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(piece): ApiPath<String>,
    ApiJson(req): ApiJson<AppRequest>,
) -> ApiResult<StatusCode> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let allowed = state
        .admin_token
        .as_ref()
        .is_some_and(|t| bool::from(t.expose_secret().as_bytes().ct_eq(presented.as_bytes())));
    if !allowed {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the admin token is required (THINKFLEET_ADMIN_TOKEN on the server)",
        ));
    }
    state
        .oauth
        .set_app(
            &piece,
            &req.client_id,
            &SecretString::from(req.client_secret),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
