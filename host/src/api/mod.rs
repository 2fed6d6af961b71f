//! The JSON API under `/api/v1` (axum). Every route but the OpenAPI document and the
//! operators' `/admin/…` routes ([`auth::Admin`]) takes the project from its bearer
//! token ([`auth::Project`]); handlers are thin layers over
//! [`crate::connections`]. [`app`] builds the router that `serve` runs and tests drive:
//! this API and the web pages of [`crate::web`].

mod admin_pieces;
mod agents;
mod audit;
mod auth;
mod connections;
mod error;
mod extract;
mod flows;
mod health;
mod oauth;
mod openapi;
mod pieces;
mod tokens;
mod views;
mod webhook;

pub use auth::{Project, ProjectAt, bearer_of};
pub use error::{ApiError, ApiResult};
pub use views::rfc3339;

use crate::accounts::{Accounts, SessionPolicy};
use crate::catalog::Installer;
use crate::connections::Connections;
use crate::flows::Flows;
use crate::oauth::OAuth;
use crate::projects::Authenticator;
use crate::web::{CookiePolicy, WebState};
use crate::webhooks::Webhooks;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Instant;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest request body accepted (credentials and PEM certificates fit easily).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What every handler can reach ([`Services`]), shared: axum clones the state for each
/// extractor of each request, and one `Arc` costs one count where the services' own
/// clones cost a count per shared part (a flow run's profile had 4 % of its time there).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services behind [`AppState`].
#[derive(Clone)]
pub struct Services {
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
    /// What the web pages need: users, sessions, the cookie policy.
    pub web: WebState,
    /// Connection-health webhooks.
    pub webhooks: Webhooks,
    /// The token `/metrics` asks for (`THINKFLEET_METRICS_TOKEN`); none turns it off.
    pub metrics_token: Option<Arc<SecretString>>,
    /// Installs pieces while the server runs.
    pub installer: Installer,
    /// Agent tokens and their MCP tools.
    pub agents: crate::agents::Agents,
}

impl AppState {
    /// The state over a connections service and its OAuth2 service, for a server
    /// browsers reach at `public_url`.
    pub fn new(
        connections: Connections,
        oauth: OAuth,
        webhooks: Webhooks,
        installer: Installer,
        admin_token: Option<SecretString>,
        public_url: &str,
    ) -> Self {
        let oauth_for_agents = oauth.clone();
        AppState(Arc::new(Services {
            flows: Flows::new(connections.clone(), oauth.clone()),
            auth: Arc::new(Authenticator::new(connections.store().clone())),
            web: WebState {
                accounts: Accounts::new(connections.store().clone(), SessionPolicy::default()),
                cookies: CookiePolicy::for_url(public_url),
                public_url: public_url.trim_end_matches('/').to_owned(),
            },
            oauth,
            admin_token: admin_token.map(Arc::new),
            webhooks,
            metrics_token: None,
            installer,
            agents: crate::agents::Agents::new(connections.clone(), oauth_for_agents),
            connections,
        }))
    }

    /// The same state with `/metrics` served to holders of `token`.
    pub fn with_metrics_token(mut self, token: SecretString) -> Self {
        Arc::make_mut(&mut self.0).metrics_token = Some(Arc::new(token));
        self
    }
}

/// Every route of the API and its OpenAPI description, from the same list: the router
/// [`app`] serves and the document [`openapi`] serves are both built from here.
pub fn routes() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::default()
        .routes(routes!(openapi::document))
        .routes(routes!(pieces::list))
        .routes(routes!(pieces::show))
        .routes(routes!(connections::list, connections::create))
        .routes(routes!(
            connections::show,
            connections::rename,
            connections::delete
        ))
        .routes(routes!(connections::reconnect))
        .routes(routes!(connections::usage))
        .routes(routes!(connections::replace))
        .routes(routes!(flows::list, flows::create))
        .routes(routes!(flows::show, flows::update, flows::delete))
        .routes(routes!(flows::run, flows::runs))
        .routes(routes!(audit::list))
        .routes(routes!(oauth::start))
        .routes(routes!(oauth::set_app))
        .merge(admin_pieces::routes())
        .routes(routes!(webhook::set, webhook::show, webhook::remove))
        .routes(routes!(webhook::deliveries))
        .routes(routes!(tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(agents::list, agents::create))
        .routes(routes!(agents::revoke))
        .fallback(|| async { ApiError::no_route() });
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi()).nest("/api/v1", api)
}

/// The server's router: the API and the web pages.
pub fn app(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    router
        .merge(crate::web::routes())
        .merge(crate::mcp::routes(state.agents.clone()))
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/readyz", axum::routing::get(health::readyz))
        .route("/metrics", axum::routing::get(health::metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response(method_not_allowed_as_json))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// The router answers a method a route does not take with a bare 405; under `/api/`
/// it becomes the API's JSON error shape like every other error (the `Allow` header
/// kept).
async fn method_not_allowed_as_json(uri: axum::http::Uri, response: Response) -> Response {
    use axum::response::IntoResponse as _;
    if response.status() != axum::http::StatusCode::METHOD_NOT_ALLOWED
        || !uri.path().starts_with("/api/")
        || response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return response;
    }
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let mut json = ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        crate::error_code::ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method; see the Allow header",
    )
    .into_response();
    if let Some(allow) = allow {
        json.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    json
}

/// The header that carries a request's id.
pub const REQUEST_ID: &str = "x-request-id";

/// The caller's request id when it is a plausible one (1 to 64 letters, digits, `-`,
/// `_`, `.`), else a new UUID: a proxy's id carries through, and nothing else a
/// client sends reaches the log.
fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// One log line per request: method, route pattern (never the raw path or query, which
/// could carry user text), status, duration and the request id, which every line
/// logged while serving it carries too and the response echoes in `x-request-id`.
async fn log_request(request: Request, next: Next) -> Response {
    use tracing::Instrument as _;
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let id = request_id(&request);
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            %method,
            route,
            status = response.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "request"
        );
    });
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}
