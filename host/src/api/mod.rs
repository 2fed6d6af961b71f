//! The JSON API under `/api/v1` (axum). Every route but the OpenAPI document takes the
//! project from its bearer token ([`auth::Project`]); handlers are thin layers over
//! [`crate::connections`]. [`app`] builds the router that `serve` runs and tests drive.

mod audit;
mod auth;
mod connections;
mod error;
mod extract;
mod flows;
mod oauth;
mod openapi;
mod pieces;
mod views;

pub use auth::Project;
pub use error::{ApiError, ApiResult};

use crate::connections::Connections;
use crate::flows::Flows;
use crate::oauth::OAuth;
use crate::projects::Authenticator;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Instant;

/// The largest request body accepted (credentials and PEM certificates fit easily).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The connections service (with the store and the catalog).
    pub connections: Connections,
    /// The flows service.
    pub flows: Flows,
    /// Checks API tokens.
    pub auth: Arc<Authenticator>,
    /// OAuth2 flows and refresh.
    pub oauth: OAuth,
    /// The operators' admin token (`THINKFLEET_ADMIN_TOKEN`); none disables the admin API.
    pub admin_token: Option<Arc<SecretString>>,
}

impl AppState {
    /// The state over a connections service and its OAuth2 service.
    pub fn new(connections: Connections, oauth: OAuth, admin_token: Option<SecretString>) -> Self {
        AppState {
            flows: Flows::new(connections.clone(), oauth.clone()),
            auth: Arc::new(Authenticator::new(connections.store().clone())),
            oauth,
            admin_token: admin_token.map(Arc::new),
            connections,
        }
    }
}

/// The API router.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/pieces", get(pieces::list))
        .route("/pieces/{name}", get(pieces::show))
        .route(
            "/connections",
            get(connections::list).post(connections::create),
        )
        .route(
            "/connections/{id}",
            get(connections::show)
                .patch(connections::rename)
                .delete(connections::delete),
        )
        .route("/connections/{id}/reconnect", post(connections::reconnect))
        .route("/connections/{id}/usage", get(connections::usage))
        .route("/flows", get(flows::list).post(flows::create))
        .route(
            "/flows/{id}",
            get(flows::show).put(flows::update).delete(flows::delete),
        )
        .route("/flows/{id}/runs", post(flows::run))
        .route("/audit", get(audit::list))
        .route("/oauth2/start", post(oauth::start))
        .route(
            "/admin/oauth-apps/{piece}",
            axum::routing::put(oauth::set_app),
        )
        .fallback(|| async { ApiError::no_route() });
    Router::new()
        .route("/oauth2/callback", get(oauth::callback))
        .nest("/api/v1", api)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// One log line per request: method, route pattern (never the raw path or query, which
/// could carry user text), status and duration.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let response = next.run(request).await;
    tracing::info!(
        %method,
        route,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}
