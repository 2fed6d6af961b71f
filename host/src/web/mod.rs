//! The web UI: server-rendered pages (askama templates under `host/templates/`,
//! compiled and auto-escaped) beside the JSON API, over the same services
//! ([`crate::connections`], [`crate::flows`], [`crate::accounts`]). Pages work without JavaScript; the
//! stylesheet and the small script are files served from the binary. Every response
//! carries a Content-Security-Policy without `unsafe-inline`, `frame-ancestors 'none'`
//! and a Referrer-Policy (`same-origin`; `no-referrer` on the OAuth2 pages).

mod activity;
mod assets;
mod auth;
mod connections;
mod flows;
mod form;
mod layout;
mod oauth;
mod session;
mod settings;
mod step;
mod webhook;

pub use session::{CookiePolicy, Viewer};

use crate::accounts::{AccountError, Accounts};
use crate::api::AppState;
use crate::connections::ConnectionError;
use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

/// What the pages need beyond the API's state.
#[derive(Clone)]
pub struct WebState {
    /// Users and sessions.
    pub accounts: Accounts,
    /// How the session cookie is written.
    pub cookies: CookiePolicy,
    /// The URL browsers reach the server at.
    pub public_url: String,
}

/// Every page route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/connections") }),
        )
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/setup", get(auth::setup_page).post(auth::setup))
        .route("/project", post(auth::switch_project))
        .route("/connections", get(connections::list))
        .route("/connections/new", get(connections::pick_piece))
        .route(
            "/connections/new/{piece}",
            get(connections::new_form).post(connections::create),
        )
        .route(
            "/connections/new/{piece}/authorize",
            post(oauth::authorize_new),
        )
        .route(
            "/connections/{id}/authorize",
            post(oauth::authorize_reconnect),
        )
        .route("/oauth2/callback", get(oauth::callback))
        .route("/connections/{id}", get(connections::show))
        .route("/connections/{id}/rename", post(connections::rename))
        .route("/connections/{id}/reconnect", post(connections::reconnect))
        .route("/connections/{id}/delete", post(connections::delete))
        .route("/connections/{id}/replace", post(connections::replace))
        .route("/flows", get(flows::list))
        .route("/flows/new", get(step::new_flow).post(step::create_flow))
        .route("/flows/{id}", get(flows::show))
        .route("/flows/{id}/rename", post(flows::rename))
        .route("/flows/{id}/delete", post(flows::delete))
        .route("/flows/{id}/run", post(flows::run))
        .route("/flows/{id}/runs/{n}", get(flows::show_run))
        .route(
            "/flows/{id}/steps/new",
            get(step::new_step).post(step::add_step),
        )
        .route(
            "/flows/{id}/steps/{n}/edit",
            get(step::edit_step).post(step::update_step),
        )
        .route("/flows/{id}/steps/{n}/move", post(flows::move_step))
        .route("/flows/{id}/steps/{n}/remove", post(flows::remove_step))
        .route("/audit", get(activity::page))
        .route("/settings", get(settings::show))
        .route("/settings/oauth-apps/{piece}", post(settings::set_app))
        .route("/settings/members", post(settings::add_member))
        .route("/settings/tokens", post(settings::create_api_token))
        .route("/settings/agents", post(settings::create_agent))
        .route("/settings/agents/{id}/revoke", post(settings::revoke_agent))
        .route(
            "/settings/tokens/{id}/revoke",
            post(settings::revoke_api_token),
        )
        .route("/settings/webhook", get(webhook::show).post(webhook::set))
        .route("/settings/webhook/remove", post(webhook::remove))
        .route("/assets/{file}", get(assets::serve))
        .layer(middleware::from_fn(security_headers))
}

/// The headers every page gets.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             form-action 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: with `no-referrer` a browser sends
    // `Origin: null` on form posts, and the origin check of the login form needs it.
    if !headers.contains_key(header::REFERRER_POLICY) {
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Renders a template as an HTML response with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => WebError::internal(&e).into_response(),
    }
}

/// Why a page could not be served.
#[derive(Debug)]
pub enum WebError {
    /// Nothing here for this session (another project's connection looks the same).
    NotFound,
    /// The form's CSRF token is missing or wrong: nothing was changed.
    Csrf,
    /// The signed-in user belongs to no project (yet).
    NoProject,
    /// The project's share of the sandbox stayed full past the queue deadline.
    Busy(u64),
    /// A failure already logged.
    Internal,
}

impl WebError {
    /// A logged internal failure; the page says nothing more.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        WebError::Internal
    }
}

impl From<ConnectionError> for WebError {
    fn from(e: ConnectionError) -> Self {
        match e {
            ConnectionError::NotFound => WebError::NotFound,
            other => WebError::internal(&other),
        }
    }
}

impl From<AccountError> for WebError {
    fn from(e: AccountError) -> Self {
        WebError::internal(&e)
    }
}

/// A bare page for errors.
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    /// The heading.
    pub title: &'a str,
    /// The explanation.
    pub text: &'a str,
    /// Where to go from here: (href, text).
    pub link: (&'a str, &'a str),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, text) = match &self {
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here. It may have been deleted, or it belongs to another project.",
            ),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not sent from a page of this session, so nothing was changed. Go back, reload the page and try again.",
            ),
            WebError::NoProject => (
                StatusCode::FORBIDDEN,
                "No project yet",
                "Your account is not a member of any project. Ask an administrator to add you (Settings → Members, or thinkfleet user add-to-project).",
            ),
            WebError::Busy(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Busy",
                "The sandbox is busy with this project's other runs, so nothing ran. Try again in a few seconds.",
            ),
            WebError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not do this. The details are in the server's log.",
            ),
        };
        let link = match self {
            WebError::NoProject => ("/login", "Log in as someone else"),
            _ => ("/connections", "Back to Connections"),
        };
        let retry_after = match self {
            WebError::Busy(secs) => Some(secs),
            _ => None,
        };
        let mut response = render(status, &MessagePage { title, text, link });
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}
