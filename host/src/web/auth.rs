//! Signing in and out, the first-run setup page, and the project picker. Login answers
//! one message for every failure (it never says whether an email exists) and is limited
//! per account and per client address; a successful login or setup always starts a
//! fresh session id.

use super::session::Viewer;
use super::{WebError, render};
use crate::accounts::AccountError;
use crate::api::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    email: &'a str,
    error: Option<String>,
}

/// `GET /login`.
pub async fn login_page() -> Response {
    render(
        StatusCode::OK,
        &LoginPage {
            email: "",
            error: None,
        },
    )
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

/// `POST /login`.
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return WebError::Csrf.into_response();
    }
    let web = &state.web;
    match web
        .accounts
        .login(&form.email, &form.password, address)
        .await
    {
        Ok(session) => signed_in(&state, &session),
        Err(e @ (AccountError::LoginFailed | AccountError::RateLimited)) => {
            let status = match e {
                AccountError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            tracing::info!(outcome = %status, "login refused");
            render(
                status,
                &LoginPage {
                    email: form.email.trim(),
                    error: Some(e.to_string()),
                },
            )
        }
        Err(e) => WebError::from(e).into_response(),
    }
}

/// The response that sets a new session's cookie and opens the Connections page.
fn signed_in(state: &AppState, session: &SecretString) -> Response {
    (
        [(SET_COOKIE, state.web.cookies.set(session))],
        Redirect::to("/connections"),
    )
        .into_response()
}

/// A form that carries only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    state.web.accounts.logout(&viewer.0).await?;
    Ok((
        [(SET_COOKIE, state.web.cookies.clear())],
        Redirect::to("/login"),
    )
        .into_response())
}

/// The project picker's form.
#[derive(Deserialize)]
pub struct ProjectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    project: String,
}

/// `POST /project`: switches the session to another of the user's projects.
pub async fn switch_project(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<ProjectForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    if !state
        .web
        .accounts
        .switch_project(&viewer.0, &form.project)
        .await?
    {
        return Err(WebError::NotFound);
    }
    Ok(Redirect::to("/connections").into_response())
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    token: &'a str,
    email: &'a str,
    project: &'a str,
    error: Option<String>,
}

/// The setup link's query.
#[derive(Deserialize)]
pub struct SetupQuery {
    #[serde(default)]
    token: String,
}

/// `GET /setup?token=…`: the "create the first admin" page, while the link is valid.
pub async fn setup_page(
    State(state): State<AppState>,
    Query(query): Query<SetupQuery>,
) -> Result<Response, WebError> {
    if !state.web.accounts.setup_open(&query.token).await? {
        return Ok(setup_closed());
    }
    Ok(render(
        StatusCode::OK,
        &SetupPage {
            token: &query.token,
            email: "",
            project: "My project",
            error: None,
        },
    ))
}

fn setup_closed() -> Response {
    render(
        StatusCode::NOT_FOUND,
        &super::MessagePage {
            title: "Setup link not valid",
            text: &AccountError::SetupClosed.to_string(),
            link: ("/login", "Log in"),
        },
    )
}

/// The setup form.
#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    email: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
    #[serde(default = "empty_secret")]
    confirm: SecretString,
    #[serde(default)]
    project: String,
}

/// `POST /setup`: creates the first admin and signs them in.
pub async fn setup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Result<Response, WebError> {
    if !same_origin(&headers) {
        return Err(WebError::Csrf);
    }
    let again = |error: String| {
        render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetupPage {
                token: &form.token,
                email: form.email.trim(),
                project: &form.project,
                error: Some(error),
            },
        )
    };
    if form.password.expose_secret() != form.confirm.expose_secret() {
        return Ok(again("The two passwords differ.".into()));
    }
    match state
        .web
        .accounts
        .complete_setup(&form.token, &form.email, &form.password, &form.project)
        .await
    {
        Ok(session) => Ok(signed_in(&state, &session)),
        Err(AccountError::SetupClosed) => Ok(setup_closed()),
        Err(e @ (AccountError::BadEmail | AccountError::WeakPassword(_))) => {
            Ok(again(e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// A browser's form must come from a page of this server: when the request names an
/// `Origin`, its host must be the one the request was sent to; an opaque origin
/// (`null`) is accepted only when the browser says the request is same-origin
/// (`Sec-Fetch-Site`). Requests without either header are not from a browser's
/// cross-site form. (Session forms also carry the CSRF token; this covers the forms
/// that exist before a session.)
pub fn same_origin(headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match header("origin") {
        None => true,
        Some("null") => header("sec-fetch-site") == Some("same-origin"),
        Some(origin) => {
            let host = header("host").unwrap_or_default();
            let origin_host = origin
                .split_once("://")
                .map(|(_, rest)| rest)
                .unwrap_or_default();
            !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
        }
    }
}

/// The client's address (the peer of the TCP connection); unknown peers count as one.
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ))
    }
}
