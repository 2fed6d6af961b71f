//! Bearer-token authentication: the [`Project`], [`ProjectBy`] and [`ProjectAt`]
//! extractors (project API tokens) and the [`Admin`] extractor (the operators' token),
//! over one reading of the header.

use super::{ApiError, AppState};
use crate::error_code::ErrorCode;
use crate::store::Revision;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use secrecy::ExposeSecret as _;
use subtle::ConstantTimeEq as _;

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
fn bearer(parts: &Parts) -> Option<&str> {
    bearer_of(&parts.headers)
}

/// The token of an `Authorization: Bearer …` header (the scheme in any case).
pub fn bearer_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
}

/// Whether `presented` is the configured token, compared in constant time — of their
/// SHA-256 digests, so neither the content nor the length of the token shows in timing.
fn matches(token: &secrecy::SecretString, presented: &str) -> bool {
    use sha2::{Digest as _, Sha256};
    let expected = Sha256::digest(token.expose_secret().as_bytes());
    bool::from(expected.ct_eq(&Sha256::digest(presented.as_bytes())))
}

/// A scrape of `/metrics` with the metrics token (`THINKFLEET_METRICS_TOKEN`, compared
/// in constant time). Without one configured, the endpoint does not exist (404).
#[derive(Debug, Clone, Copy)]
pub struct MetricsReader;

impl FromRequestParts<AppState> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match &state.metrics_token {
            None => Err(ApiError::no_route()),
            Some(token) if matches(token, bearer(parts).unwrap_or_default()) => Ok(MetricsReader),
            Some(_) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "the metrics token is required (THINKFLEET_METRICS_TOKEN on the server)",
            )),
        }
    }
}

/// The project the request's API token acts for. Extracting it answers 401 when the
/// token is missing, malformed, unknown or wrong.
#[derive(Debug, Clone)]
pub struct Project(pub String);

impl FromRequestParts<AppState> for Project {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ProjectAt(project, _) = ProjectAt::from_request_parts(parts, state).await?;
        Ok(Project(project))
    }
}

/// [`Project`] with the public id of the API token that asked (the `<id>` of
/// `tfk_<id>_<secret>`), for what lives only as long as that token.
#[derive(Debug, Clone)]
pub struct ProjectBy(pub String, pub String);

impl FromRequestParts<AppState> for ProjectBy {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ProjectAt(project, _) = ProjectAt::from_request_parts(parts, state).await?;
        // The token was just accepted, so it parses.
        let token_id = bearer(parts)
            .and_then(crate::tokens::parse)
            .map(|(id, _)| id.to_owned())
            .ok_or_else(ApiError::unauthorized)?;
        Ok(ProjectBy(project, token_id))
    }
}

/// [`Project`] with the revision at which the request may use cached rows of it, read
/// with the token (for flow runs; see [`crate::local_cache`]).
#[derive(Debug, Clone)]
pub struct ProjectAt(pub String, pub Revision);

impl FromRequestParts<AppState> for ProjectAt {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        match state.auth.project_of(bearer).await {
            Ok(Some((project, at))) => Ok(ProjectAt(project, at)),
            Ok(None) => Err(ApiError::unauthorized()),
            Err(e) => Err(ApiError::internal(&e)),
        }
    }
}

/// The operators' admin token (`THINKFLEET_ADMIN_TOKEN`), compared in constant time.
/// Without one configured, every admin request is 401.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = bearer(parts).unwrap_or_default();
        let allowed = state
            .admin_token
            .as_ref()
            .is_some_and(|t| matches(t, presented));
        if allowed {
            Ok(Admin)
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "the admin token is required (THINKFLEET_ADMIN_TOKEN on the server)",
            ))
        }
    }
}
