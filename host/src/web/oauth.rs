//! OAuth2 from the pages: the Connect and Reconnect buttons post (with the CSRF token)
//! into a popup, which is sent on to the provider (by a page, not a redirect: the CSP's
//! `form-action 'self'` covers a form's redirects) with a cookie that binds the
//! authorization to this browser; the provider sends the popup back to
//! `/oauth2/callback`, which finishes the authorization and renders a page that tells
//! the opener the outcome and closes. Nothing here runs inline script.

use super::form::Posted;
use super::session::Viewer;
use super::{WebError, render};
use crate::api::AppState;
use crate::oauth::StartRequest;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, REFERRER_POLICY, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, HashMap};

/// The popup's page: the outcome for the person, and for the opener's script.
#[derive(Template)]
#[template(path = "oauth_done.html")]
struct DonePage<'a> {
    ok: bool,
    external_id: &'a str,
    message: &'a str,
}

/// The popup's first page: a form's answer may not redirect to another origin (the
/// CSP's `form-action 'self'` covers redirects), so this page navigates on.
#[derive(Template)]
#[template(path = "oauth_go.html")]
struct GoPage<'a> {
    url: &'a str,
    provider: &'a str,
}

/// The popup page for an outcome, never cached, sending no referrer.
fn done(status: StatusCode, page: &DonePage<'_>, clear: Option<HeaderValue>) -> Response {
    let mut response = render(status, page);
    let headers = response.headers_mut();
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = clear {
        headers.insert(SET_COOKIE, cookie);
    }
    response
}

/// The posted props of an OAuth2 piece (asked before the redirect; not secrets).
fn props(posted: &Posted, state: &AppState, piece: &str) -> BTreeMap<String, String> {
    let catalog = state.connections.catalog();
    let Some(loaded) = catalog.get(piece) else {
        return BTreeMap::new();
    };
    match &loaded.info().auth {
        crate::piece::AuthSchema::Oauth2 { props, .. } => props
            .iter()
            .filter_map(|p| {
                let value = posted.text(&format!("f.{}", p.name)).trim();
                (!value.is_empty()).then(|| (p.name.clone(), value.to_owned()))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

async fn begin(state: &AppState, viewer: &Viewer, req: StartRequest) -> Response {
    let provider = state
        .connections
        .catalog()
        .get(&req.piece)
        .map(|p| p.info().display_name.clone())
        .unwrap_or_default();
    match state.oauth.start_in_browser(viewer.project(), req).await {
        Ok((url, nonce)) => {
            let mut response = render(
                StatusCode::OK,
                &GoPage {
                    url: &url,
                    provider: &provider,
                },
            );
            let headers = response.headers_mut();
            headers.insert(SET_COOKIE, state.web.cookies.set_oauth(&nonce));
            headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            response
        }
        Err(crate::oauth::OAuthError::Store(e)) => WebError::internal(&e).into_response(),
        Err(crate::oauth::OAuthError::Vault(e)) => WebError::internal(&e).into_response(),
        Err(e @ crate::oauth::OAuthError::Internal { .. }) => {
            WebError::internal(&e).into_response()
        }
        Err(crate::oauth::OAuthError::Connection(
            crate::connections::ConnectionError::NotFound,
        )) => WebError::NotFound.into_response(),
        Err(e) => done(
            StatusCode::UNPROCESSABLE_ENTITY,
            &DonePage {
                ok: false,
                external_id: "",
                message: &e.to_string(),
            },
            None,
        ),
    }
}

/// `POST /connections/new/{piece}/authorize`: Connect, from the New Connection form.
pub async fn authorize_new(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(piece): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    let external_id = posted.text("external_id").trim();
    let req = StartRequest {
        props: props(&posted, &state, &piece),
        display_name: Some(posted.text("display_name").to_owned()),
        external_id: (!external_id.is_empty()).then(|| external_id.to_owned()),
        reconnect: None,
        client_id: None,
        client_secret: None,
        piece,
    };
    Ok(begin(&state, &viewer, req).await)
}

/// `POST /connections/{id}/authorize`: Reconnect an OAuth2 connection.
pub async fn authorize_reconnect(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, WebError> {
    viewer.check_csrf(posted.text("csrf"))?;
    let row = state.connections.get(viewer.project(), &key).await?;
    let req = StartRequest {
        props: props(&posted, &state, &row.piece),
        display_name: None,
        external_id: None,
        reconnect: Some(row.id),
        client_id: None,
        client_secret: None,
        piece: row.piece,
    };
    Ok(begin(&state, &viewer, req).await)
}

/// `GET /oauth2/callback?code&state` (or `?error&state`): finishes the authorization
/// and answers the popup page.
pub async fn callback(
    State(state): State<AppState>,
    parts: Parts,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let cookies = state.web.cookies;
    let nonce = cookies.read_oauth(&parts);
    let outcome = state.oauth.callback(&params, nonce.as_deref()).await;
    let clear = Some(cookies.clear_oauth());
    match outcome {
        Ok(row) => {
            let message = format!(
                "Connected ({}). You can close this window.",
                row.external_id
            );
            done(
                StatusCode::OK,
                &DonePage {
                    ok: true,
                    external_id: &row.external_id,
                    message: &message,
                },
                clear,
            )
        }
        Err(why) => {
            let message = format!("Not connected: {why}");
            done(
                StatusCode::OK,
                &DonePage {
                    ok: false,
                    external_id: "",
                    message: &message,
                },
                clear,
            )
        }
    }
}
