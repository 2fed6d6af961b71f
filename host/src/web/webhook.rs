//! Settings → Connection health webhook, for admins: the project's webhook URL (a new
//! URL gets a new signing secret, shown once), remove it, and the delivery log.

use super::connections::when;
use super::form::Posted;
use super::layout::Layout;
use super::session::Viewer;
use super::settings::admin;
use super::{WebError, render};
use crate::api::AppState;
use crate::webhooks::WebhookError;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::ExposeSecret as _;

/// Deliveries the log shows.
const LOG_SIZE: i64 = 50;

/// A delivery in the log.
pub struct DeliveryView {
    /// The event's type.
    pub kind: String,
    /// The event's id.
    pub event_id: String,
    /// Delivered, Retrying or Failed.
    pub state: &'static str,
    /// The CSS class of the state.
    pub class: &'static str,
    /// Attempts made.
    pub attempts: i64,
    /// The last answer or error.
    pub last: String,
    /// Created.
    pub at: String,
    /// The next attempt (retrying only).
    pub next: String,
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    layout: Layout,
    url: Option<String>,
    since: String,
    new_secret: Option<String>,
    deliveries: Vec<DeliveryView>,
    error: Option<String>,
    kept_url: String,
}

fn webhook_failure(e: WebhookError) -> Result<String, WebError> {
    match e {
        WebhookError::Invalid(why) => Ok(why),
        other => Err(WebError::internal(&other)),
    }
}

async fn page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    new_secret: Option<String>,
    error: Option<(String, String)>,
) -> Result<Response, WebError> {
    admin(viewer)?;
    let project = viewer.project();
    let internal = |e: WebhookError| WebError::internal(&e);
    let info = state.webhooks.info(project).await.map_err(internal)?;
    let deliveries = state
        .webhooks
        .deliveries(project, LOG_SIZE)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|d| {
            let (label, class) = match d.state.as_str() {
                "delivered" => ("Delivered", "status-active"),
                "pending" if d.attempts > 0 => ("Retrying", "status-expired"),
                "pending" => ("Pending", "status-skipped"),
                _ => ("Failed", "status-error"),
            };
            DeliveryView {
                last: match (d.last_status, &d.last_error) {
                    (_, Some(error)) => error.clone(),
                    (Some(status), None) => format!("HTTP {status}"),
                    (None, None) => String::new(),
                },
                next: if d.state == "pending" {
                    when(Some(d.next_attempt_at))
                } else {
                    String::new()
                },
                kind: d.kind,
                event_id: d.event_id,
                state: label,
                class,
                attempts: d.attempts,
                at: when(Some(d.created_at)),
            }
        })
        .collect();
    let layout = Layout::of(state, viewer, "settings", "Connection health webhook").await?;
    let (error, kept_url) = match error {
        Some((why, url)) => (Some(why), url),
        None => (None, String::new()),
    };
    Ok(render(
        status,
        &WebhookPage {
            layout,
            since: info
                .as_ref()
                .map(|i| when(Some(i.created_at)))
                .unwrap_or_default(),
            url: info.map(|i| i.url),
            new_secret,
            deliveries,
            error,
            kept_url,
        },
    ))
}

/// `GET /settings/webhook`.
pub async fn show(State(state): State<AppState>, viewer: Viewer) -> Result<Response, WebError> {
    page(&state, &viewer, StatusCode::OK, None, None).await
}

/// `POST /settings/webhook`: sets the URL with a new secret, shown once.
pub async fn set(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    admin(&viewer)?;
    let url = posted.text("url");
    match state.webhooks.configure(viewer.project(), url).await {
        Ok((_, secret)) => {
            // Every page is `no-store` (see `security_headers`): the secret is not cached.
            let shown = secret.expose_secret().to_owned();
            page(&state, &viewer, StatusCode::OK, Some(shown), None).await
        }
        Err(e) => {
            let why = webhook_failure(e)?;
            page(
                &state,
                &viewer,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some((why, url.to_owned())),
            )
            .await
        }
    }
}

/// `POST /settings/webhook/remove`.
pub async fn remove(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    admin(&viewer)?;
    state
        .webhooks
        .remove(viewer.project())
        .await
        .map_err(|e| WebError::internal(&e))?;
    Ok(Redirect::to("/settings/webhook").into_response())
}
