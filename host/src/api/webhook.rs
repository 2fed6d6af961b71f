//! The project's connection-health webhook: set it (the signing secret is answered
//! once), read it, remove it, and its delivery log.

use super::extract::ApiJson;
use super::views::{ErrorBody, rfc3339};
use super::{ApiError, ApiResult, AppState, Project};
use crate::error_code::ErrorCode;
use crate::store::DeliveryRow;
use crate::webhooks::WebhookError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Deliveries the log answers.
const LOG_SIZE: i64 = 100;

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Invalid(why) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                why,
            ),
            other => ApiError::internal(&other),
        }
    }
}

fn not_set() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::WebhookNotFound,
        "This project has no webhook",
    )
}

/// `PUT /webhook` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where events go: https, a public address.
    url: String,
}

/// The webhook just set, with its signing secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct NewWebhook {
    url: String,
    /// `whsec_…`: `X-ThinkFleet-Signature` is `sha256=` and the hex HMAC-SHA256 of the
    /// body under it.
    secret: String,
}

/// The project's webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    url: String,
    created_at: String,
}

/// One delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    event_id: String,
    /// `connection.expired` or `connection.error`.
    #[serde(rename = "type")]
    kind: String,
    /// `pending`, `delivered` or `failed`.
    state: String,
    attempts: i64,
    /// The receiver's last HTTP status.
    last_status: Option<i64>,
    /// Why the last attempt failed.
    last_error: Option<String>,
    created_at: String,
    /// When the next attempt is due (pending only).
    next_attempt_at: Option<String>,
    /// When it was delivered or given up.
    finished_at: Option<String>,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(d: DeliveryRow) -> Self {
        DeliveryView {
            next_attempt_at: (d.state == "pending").then(|| rfc3339(d.next_attempt_at)),
            finished_at: d.finished_at.map(rfc3339),
            created_at: rfc3339(d.created_at),
            event_id: d.event_id,
            kind: d.kind,
            state: d.state,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
        }
    }
}

/// The delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Newest first.
    deliveries: Vec<DeliveryView>,
}

/// `PUT /webhook`: sets the URL with a new signing secret.
#[utoipa::path(put, path = "/webhook", tag = "webhook",
    request_body = WebhookRequest,
    responses(
        (status = 200, description = "Set; the secret is shown this once", body = NewWebhook),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "The URL is refused (not https, a private address…)", body = ErrorBody),
    ))]
pub async fn set(
    State(state): State<AppState>,
    Project(project): Project,
    ApiJson(req): ApiJson<WebhookRequest>,
) -> ApiResult<Json<NewWebhook>> {
    let (url, secret) = state.webhooks.configure(&project, &req.url).await?;
    Ok(Json(NewWebhook {
        url,
        secret: secret.expose_secret().to_owned(),
    }))
}

/// `GET /webhook`.
#[utoipa::path(get, path = "/webhook", tag = "webhook",
    responses(
        (status = 200, description = "The project's webhook (never its secret)", body = WebhookView),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "No webhook set", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Project(project): Project,
) -> ApiResult<Json<WebhookView>> {
    let info = state.webhooks.info(&project).await?.ok_or_else(not_set)?;
    Ok(Json(WebhookView {
        url: info.url,
        created_at: rfc3339(info.created_at),
    }))
}

/// `DELETE /webhook`: no more events are sent; pending deliveries fail.
#[utoipa::path(delete, path = "/webhook", tag = "webhook",
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "No webhook set", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    Project(project): Project,
) -> ApiResult<StatusCode> {
    if state.webhooks.remove(&project).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_set())
    }
}

/// `GET /webhook/deliveries`: the newest 100 deliveries.
#[utoipa::path(get, path = "/webhook/deliveries", tag = "webhook",
    responses(
        (status = 200, description = "The delivery log, newest first", body = DeliveryList),
        (status = 401, description = "No valid project token", body = ErrorBody),
    ))]
pub async fn deliveries(
    State(state): State<AppState>,
    Project(project): Project,
) -> ApiResult<Json<DeliveryList>> {
    let deliveries = state
        .webhooks
        .deliveries(&project, LOG_SIZE)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(DeliveryList { deliveries }))
}
