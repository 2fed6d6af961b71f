//! A strict local OAuth 2.0 authorization server for end-to-end tests.
//!
//! It behaves like a real, strict provider: the authorization-code grant with PKCE
//! (`S256` only, enforced), exact `redirect_uri` matching, single-use codes (reusing one
//! revokes every token issued from it), client authentication by HTTP Basic (RFC 6749
//! 2.3.1, form-urlencoded id and secret) or by form fields (never both), and refresh
//! token rotation with reuse detection (presenting an already-rotated refresh token
//! revokes the whole grant), and access tokens that stop working when their
//! `expires_in` has passed. The authorize and token paths are configurable so one mock
//! can stand in for Slack or Google; every other path is a resource endpoint that checks
//! `Authorization: Bearer <access token>`.
//!
//! Switches let a test make the provider misbehave (500s, `invalid_grant`, no refresh
//! token on refresh, slow refreshes) and counters let it check what happened.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

mod grants;
mod wire;

use grants::{authorize, resource, token};
use wire::*;

/// How a provider is set up.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The only client id the provider knows.
    pub client_id: String,
    /// That client's secret.
    pub client_secret: String,
    /// The registered redirect URI; authorize and token requests must match it exactly.
    pub redirect_uri: String,
    /// `expires_in` (seconds) of the access tokens issued (see
    /// [`OAuthProvider::set_expires_in`]).
    pub expires_in: u64,
    /// Scopes every authorization request must ask for (`scope` split on spaces or
    /// commas); a request missing one is redirected back with `error=invalid_scope`.
    pub scopes_required: Vec<String>,
    /// The authorization endpoint's path, e.g. `/oauth/v2/authorize` (Slack) or
    /// `/o/oauth2/v2/auth` (Google).
    pub authorize_path: String,
    /// The token endpoint's path, e.g. `/api/oauth.v2.access` (Slack) or `/token`
    /// (Google).
    pub token_path: String,
}

impl ProviderConfig {
    /// A configuration with Slack's paths (`/oauth/v2/authorize`,
    /// `/api/oauth.v2.access`), tokens valid for an hour and no required scope.
    pub fn slack(client_id: &str, client_secret: &str, redirect_uri: &str) -> ProviderConfig {
        ProviderConfig::with_paths(
            client_id,
            client_secret,
            redirect_uri,
            "/oauth/v2/authorize",
            "/api/oauth.v2.access",
        )
    }

    /// A configuration with Google's paths (`/o/oauth2/v2/auth`, `/token`), tokens valid
    /// for an hour and no required scope.
    pub fn google(client_id: &str, client_secret: &str, redirect_uri: &str) -> ProviderConfig {
        ProviderConfig::with_paths(
            client_id,
            client_secret,
            redirect_uri,
            "/o/oauth2/v2/auth",
            "/token",
        )
    }

    fn with_paths(
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        authorize_path: &str,
        token_path: &str,
    ) -> ProviderConfig {
        ProviderConfig {
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            redirect_uri: redirect_uri.to_string(),
            expires_in: 3600,
            scopes_required: Vec::new(),
            authorize_path: authorize_path.to_string(),
            token_path: token_path.to_string(),
        }
    }
}

/// One authorization: its code and every token issued from it.
#[derive(Debug)]
struct Grant {
    redirect_uri: String,
    code_challenge: String,
    scope: String,
    exchanged: bool,
    revoked: bool,
    current_refresh: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    grants: Vec<Grant>,
    /// Code → grant.
    codes: HashMap<String, usize>,
    /// Access token → its grant and when it stops working.
    access: HashMap<String, (usize, Instant)>,
    /// Refresh token (current or rotated) → grant.
    refresh: HashMap<String, usize>,
    /// The grant of the most recent successful code exchange.
    last_grant: Option<usize>,
    authorize_requests: Vec<HashMap<String, String>>,
    resource_requests: Vec<(String, String, String)>,
    deny_next: bool,
    fail_refresh_invalid_grant: bool,
    fail_500: usize,
    omit_refresh: bool,
    expires_in: u64,
    refresh_delay: Duration,
    refresh_response_delay: Duration,
    refresh_requests: usize,
    refresh_token_reuses: usize,
    expired_token_uses: usize,
    code_exchanges: usize,
}

impl State {
    /// Issued by this provider and its grant not revoked (expiry aside).
    fn token_issued(&self, token: &str) -> bool {
        self.access
            .get(token)
            .is_some_and(|&(g, _)| !self.grants[g].revoked)
    }

    fn issue_access(&mut self, grant: usize) -> String {
        let access = random_token("at-");
        crate::leak::plant(&access);
        let until = Instant::now() + Duration::from_secs(self.expires_in);
        self.access.insert(access.clone(), (grant, until));
        access
    }
}

struct Inner {
    config: ProviderConfig,
    state: Mutex<State>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("oauth provider lock")
    }
}

/// A running provider on an ephemeral loopback port; the server stops when it is
/// dropped.
pub struct OAuthProvider {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The bound address.
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OAuthProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OAuthProvider {
    /// Starts a provider on `127.0.0.1:0`.
    pub async fn start(config: ProviderConfig) -> OAuthProvider {
        crate::leak::plant(&config.client_secret);
        let state = State {
            expires_in: config.expires_in,
            ..State::default()
        };
        let inner = Arc::new(Inner {
            config,
            state: Mutex::new(state),
        });
        let shared = inner.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let inner = shared.clone();
            async move { handle(&inner, req).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind oauth provider");
        let addr = listener.local_addr().expect("oauth provider addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("oauth provider server");
        });
        OAuthProvider {
            base: format!("http://{addr}"),
            addr,
            inner,
            task,
        }
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &ProviderConfig {
        &self.inner.config
    }

    /// The full URL of the authorization endpoint.
    pub fn authorize_url(&self) -> String {
        format!("{}{}", self.base, self.inner.config.authorize_path)
    }

    /// The full URL of the token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}{}", self.base, self.inner.config.token_path)
    }

    /// The next valid authorization request is answered with a redirect carrying
    /// `error=access_denied` (and the state) instead of a code.
    pub fn deny_next_authorization(&self) {
        self.inner.lock().deny_next = true;
    }

    /// While on, every refresh-token grant request (after client authentication) is
    /// answered 400 `{"error":"invalid_grant"}` without touching the grant.
    pub fn fail_refresh_with_invalid_grant(&self, on: bool) {
        self.inner.lock().fail_refresh_invalid_grant = on;
    }

    /// The next `n` token requests (any grant type) are answered 500
    /// `{"error":"server_error"}`, changing nothing.
    pub fn fail_token_with_500(&self, n: usize) {
        self.inner.lock().fail_500 = n;
    }

    /// While on, refresh responses carry no `refresh_token` and the presented one stays
    /// current (no rotation).
    pub fn omit_refresh_token_on_refresh(&self, on: bool) {
        self.inner.lock().omit_refresh = on;
    }

    /// The `expires_in` of tokens issued from now on.
    pub fn set_expires_in(&self, seconds: u64) {
        self.inner.lock().expires_in = seconds;
    }

    /// Refresh-token grant requests sleep this long before being processed (counted on
    /// arrival), so concurrent callers pile up with the same refresh token.
    pub fn delay_refresh(&self, delay: Duration) {
        self.inner.lock().refresh_delay = delay;
    }

    /// Successful refreshes are answered this long *after* the refresh token was
    /// rotated, so a test can kill the client between the rotation and its answer.
    pub fn delay_refresh_response(&self, delay: Duration) {
        self.inner.lock().refresh_response_delay = delay;
    }

    /// How many times an already-rotated refresh token was presented (each revoked
    /// its grant).
    pub fn refresh_token_reuses(&self) -> usize {
        self.inner.lock().refresh_token_reuses
    }

    /// How many resource requests carried an access token past its expiry (each was
    /// answered 401).
    pub fn expired_token_uses(&self) -> usize {
        self.inner.lock().expired_token_uses
    }

    /// Revokes every grant, as a user removing the app's access would: its access
    /// tokens stop working and its refresh tokens are answered `invalid_grant`.
    pub fn revoke_all_grants(&self) {
        for grant in &mut self.inner.lock().grants {
            grant.revoked = true;
        }
    }

    /// Whether the most recently exchanged grant was revoked (by reuse detection or
    /// [`OAuthProvider::revoke_all_grants`]).
    pub fn last_grant_revoked(&self) -> bool {
        let st = self.inner.lock();
        st.last_grant.is_some_and(|g| st.grants[g].revoked)
    }

    /// How many `grant_type=refresh_token` requests arrived, failed ones included.
    pub fn refresh_requests(&self) -> usize {
        self.inner.lock().refresh_requests
    }

    /// How many `grant_type=authorization_code` requests arrived, failed ones included.
    pub fn code_exchanges(&self) -> usize {
        self.inner.lock().code_exchanges
    }

    /// Whether `token` is an access token this provider issued and has not revoked
    /// (whether or not it has expired since).
    pub fn is_access_token_valid(&self, token: &str) -> bool {
        self.inner.lock().token_issued(token)
    }

    /// The current refresh token of the most recently exchanged grant; `None` before
    /// any exchange or once that grant is revoked.
    pub fn current_refresh_token(&self) -> Option<String> {
        let st = self.inner.lock();
        let grant = &st.grants[st.last_grant?];
        if grant.revoked {
            None
        } else {
            grant.current_refresh.clone()
        }
    }

    /// The decoded query parameters of every authorization request received, in order
    /// (all of them: the standard ones and any extra such as `access_type`,
    /// `user_scope` or `prompt`), failed requests included.
    pub fn authorize_requests(&self) -> Vec<HashMap<String, String>> {
        self.inner.lock().authorize_requests.clone()
    }

    /// Every resource request received as (method, path, `Authorization` header or "").
    pub fn resource_requests(&self) -> Vec<(String, String, String)> {
        self.inner.lock().resource_requests.clone()
    }
}

/// The PKCE `S256` challenge of a verifier: BASE64URL-NOPAD(SHA256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn handle(inner: &Inner, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    if path == inner.config.authorize_path {
        return authorize(inner, &parts.method, parts.uri.query().unwrap_or(""));
    }
    if path == inner.config.token_path {
        let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "unreadable body",
            );
        };
        return token(inner, &parts.method, &parts.headers, &body).await;
    }
    resource(inner, &parts.method, path, &parts.headers)
}

#[cfg(test)]
mod tests;
