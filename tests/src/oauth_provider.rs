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
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use url::form_urlencoded;

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

fn authorize(inner: &Inner, method: &Method, query: &str) -> Response {
    if method != Method::GET {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "the authorization endpoint takes GET",
        );
    }
    let params = match parse_form(query) {
        Ok(p) => p,
        Err(e) => return text(StatusCode::BAD_REQUEST, &format!("invalid_request: {e}")),
    };
    let cfg = &inner.config;
    let mut guard = inner.lock();
    let st = &mut *guard;
    st.authorize_requests.push(params.clone());
    let get = |k: &str| params.get(k).map(String::as_str);

    if get("client_id") != Some(cfg.client_id.as_str()) {
        return text(StatusCode::BAD_REQUEST, "invalid_client: unknown client_id");
    }
    if get("redirect_uri") != Some(cfg.redirect_uri.as_str()) {
        return text(
            StatusCode::BAD_REQUEST,
            "invalid_request: redirect_uri does not match the registered one",
        );
    }
    let Some(state) = get("state").filter(|s| !s.is_empty()) else {
        return text(
            StatusCode::BAD_REQUEST,
            "invalid_request: state is required",
        );
    };
    let refuse = |error: &str, description: &str| {
        redirect(
            &cfg.redirect_uri,
            &[
                ("error", error),
                ("error_description", description),
                ("state", state),
            ],
        )
    };
    if get("response_type") != Some("code") {
        return refuse("unsupported_response_type", "response_type must be code");
    }
    if get("code_challenge_method") != Some("S256") {
        return refuse(
            "invalid_request",
            "PKCE is required with code_challenge_method=S256",
        );
    }
    let challenge = get("code_challenge").unwrap_or("");
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return refuse(
            "invalid_request",
            "code_challenge must be BASE64URL-NOPAD(SHA256(code_verifier))",
        );
    }
    let scope = get("scope").unwrap_or("");
    let requested: Vec<&str> = scope.split([' ', ',']).filter(|s| !s.is_empty()).collect();
    if let Some(missing) = cfg
        .scopes_required
        .iter()
        .find(|s| !requested.contains(&s.as_str()))
    {
        return refuse("invalid_scope", &format!("scope {missing} is required"));
    }
    if std::mem::take(&mut st.deny_next) {
        return refuse("access_denied", "the user denied access");
    }
    let code = random_token("");
    st.grants.push(Grant {
        redirect_uri: cfg.redirect_uri.clone(),
        code_challenge: challenge.to_string(),
        scope: scope.to_string(),
        exchanged: false,
        revoked: false,
        current_refresh: None,
    });
    st.codes.insert(code.clone(), st.grants.len() - 1);
    redirect(&cfg.redirect_uri, &[("code", &code), ("state", state)])
}

async fn token(inner: &Inner, method: &Method, headers: &HeaderMap, body: &[u8]) -> Response {
    if method != Method::POST {
        return oauth_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "the token endpoint takes POST",
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    }
    let form = match std::str::from_utf8(body)
        .map_err(|_| "the body is not UTF-8".to_string())
        .and_then(parse_form)
    {
        Ok(f) => f,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    let grant_type = form.get("grant_type").map(String::as_str);
    let delay = {
        let mut st = inner.lock();
        match grant_type {
            Some("refresh_token") => {
                st.refresh_requests += 1;
                st.refresh_delay
            }
            Some("authorization_code") => {
                st.code_exchanges += 1;
                Duration::ZERO
            }
            _ => Duration::ZERO,
        }
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (response, answer_after) = {
        let mut guard = inner.lock();
        let st = &mut *guard;
        let response = token_response(&inner.config, st, headers, grant_type, &form);
        let rotated = grant_type == Some("refresh_token") && response.status() == StatusCode::OK;
        (response, rotated.then_some(st.refresh_response_delay))
    };
    if let Some(delay) = answer_after.filter(|d| !d.is_zero()) {
        tokio::time::sleep(delay).await;
    }
    response
}

fn token_response(
    config: &ProviderConfig,
    st: &mut State,
    headers: &HeaderMap,
    grant_type: Option<&str>,
    form: &HashMap<String, String>,
) -> Response {
    if st.fail_500 > 0 {
        st.fail_500 -= 1;
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "injected failure",
        );
    }
    if let Some(response) = authenticate_client(config, headers, form) {
        return response;
    }
    match grant_type {
        Some("authorization_code") => exchange_code(st, form),
        Some("refresh_token") => refresh(st, form),
        Some(other) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("grant_type {other} is not supported"),
        ),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        ),
    }
}

/// Basic (form-urlencoded id and secret) or form fields, never both: `None` when the
/// client is authenticated, else the error response.
fn authenticate_client(
    cfg: &ProviderConfig,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<Response> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, creds)| creds.trim());
    let (id, secret) = match basic {
        Some(creds) => {
            let Some((id, secret)) = parse_basic(creds) else {
                return Some(invalid_client(true, "malformed Basic credentials"));
            };
            if form.contains_key("client_secret") {
                return Some(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "more than one client authentication method",
                ));
            }
            if form.get("client_id").is_some_and(|f| *f != id) {
                return Some(invalid_client(true, "client_id differs from Basic"));
            }
            (id, secret)
        }
        None => {
            let (Some(id), Some(secret)) = (form.get("client_id"), form.get("client_secret"))
            else {
                return Some(invalid_client(false, "client authentication is required"));
            };
            (id.clone(), secret.clone())
        }
    };
    if id != cfg.client_id || secret != cfg.client_secret {
        return Some(invalid_client(
            basic.is_some(),
            "unknown client or bad secret",
        ));
    }
    None
}

fn parse_basic(creds: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(creds)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id).ok()?, form_decode(secret).ok()?))
}

fn exchange_code(st: &mut State, form: &HashMap<String, String>) -> Response {
    let Some(code) = form.get("code") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code is required",
        );
    };
    let Some(&g) = st.codes.get(code) else {
        return invalid_grant("unknown authorization code");
    };
    let grant = &mut st.grants[g];
    if grant.exchanged || grant.revoked {
        grant.revoked = true;
        return invalid_grant("authorization code already used");
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return invalid_grant("redirect_uri does not match the authorization request");
    }
    let verifier_ok = form.get("code_verifier").is_some_and(|v| {
        (43..=128).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
            && pkce_challenge(v) == grant.code_challenge
    });
    if !verifier_ok {
        return invalid_grant("PKCE verification failed");
    }
    grant.exchanged = true;
    let refresh = random_token("rt-");
    crate::leak::plant(&refresh);
    grant.current_refresh = Some(refresh.clone());
    let scope = grant.scope.clone();
    let access = st.issue_access(g);
    st.refresh.insert(refresh.clone(), g);
    st.last_grant = Some(g);
    json_response(
        StatusCode::OK,
        with_provider_fields(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": st.expires_in,
            "refresh_token": refresh,
            "scope": scope,
        })),
    )
}

fn refresh(st: &mut State, form: &HashMap<String, String>) -> Response {
    if st.fail_refresh_invalid_grant {
        return invalid_grant("refresh token is invalid (injected)");
    }
    let Some(presented) = form.get("refresh_token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token is required",
        );
    };
    let Some(&g) = st.refresh.get(presented) else {
        return invalid_grant("unknown refresh token");
    };
    let grant = &mut st.grants[g];
    if grant.revoked {
        return invalid_grant("the grant was revoked");
    }
    if grant.current_refresh.as_ref() != Some(presented) {
        grant.revoked = true;
        st.refresh_token_reuses += 1;
        return invalid_grant("refresh token reuse");
    }
    let scope = grant.scope.clone();
    let access = st.issue_access(g);
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": st.expires_in,
        "scope": scope,
    });
    if !st.omit_refresh {
        let rotated = random_token("rt-");
        crate::leak::plant(&rotated);
        st.grants[g].current_refresh = Some(rotated.clone());
        st.refresh.insert(rotated.clone(), g);
        body["refresh_token"] = Value::String(rotated);
    }
    json_response(StatusCode::OK, with_provider_fields(body))
}

/// The fields real providers add to a token answer (Slack's `ok`, `app_id`, `team`…;
/// an OpenID `id_token`): a host must read past them and keep none it was not asked for.
fn with_provider_fields(mut body: Value) -> Value {
    for (k, v) in [
        ("ok", json!(true)),
        ("app_id", json!("A0PROVIDER")),
        ("bot_user_id", json!("U0BOT")),
        ("is_enterprise_install", json!(false)),
        ("team", json!({"id": "T0TEAM", "name": "Acme"})),
        ("id_token", json!("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.")),
    ] {
        body[k] = v;
    }
    body
}

fn resource(inner: &Inner, method: &Method, path: &str, headers: &HeaderMap) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let mut st = inner.lock();
    st.resource_requests
        .push((method.to_string(), path.to_string(), authorization.clone()));
    if method != Method::GET && method != Method::POST {
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"ok": false, "error": "method_not_allowed"}),
        );
    }
    let token = authorization
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
        .unwrap_or_default();
    let expired = st
        .access
        .get(&token)
        .is_some_and(|&(_, until)| until <= Instant::now());
    if expired {
        st.expired_token_uses += 1;
    }
    if !st.token_issued(&token) || expired {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            axum::Json(json!({"ok": false, "error": "invalid_auth"})),
        )
            .into_response();
    }
    let body = match path {
        "/api/auth.test" => json!({"ok": true, "team": "T1", "user": "U1"}),
        "/api/chat.postMessage" => json!({"ok": true, "ts": "1.0"}),
        "/oauth2/v3/userinfo" => json!({"email": "a@b.c", "email_verified": true, "sub": "1"}),
        _ => json!({"ok": true, "email": "a@b.c"}),
    };
    json_response(StatusCode::OK, body)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(body),
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

fn invalid_client(basic: bool, description: &str) -> Response {
    let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    if basic {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"oauth\""),
        );
    }
    response
}

fn text(status: StatusCode, message: &str) -> Response {
    (status, message.to_string()).into_response()
}

/// 302 to `uri` with `params` appended to its query.
fn redirect(uri: &str, params: &[(&str, &str)]) -> Response {
    let query = encode_form(params);
    let separator = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{separator}{query}");
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// `application/x-www-form-urlencoded` serialization of pairs.
fn encode_form(params: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// Decodes one form-urlencoded component on its own (`+` is a space), as the id and
/// secret of HTTP Basic client authentication are (RFC 6749 2.3.1): a raw `&` or `=`
/// in it is data, which [`parse_form`] would take for a separator, so it is escaped
/// first.
fn form_decode(s: &str) -> Result<String, String> {
    let component = s.replace('&', "%26").replace('=', "%3D");
    Ok(parse_form(&component)?
        .into_keys()
        .next()
        .unwrap_or_default())
}

/// Parses a query string or form body (`+` is a space, `%XX` a byte); a repeated
/// parameter is an error (RFC 6749 3.1). `form_urlencoded` is lenient where a strict
/// provider is not: it keeps a `%` that starts no escape as it is and turns bytes that
/// are not UTF-8 into U+FFFD, so both are refused here.
fn parse_form(s: &str) -> Result<HashMap<String, String>, String> {
    if !escapes_are_well_formed(s) {
        return Err(format!("malformed percent-escape in {s:?}"));
    }
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(s.as_bytes()) {
        if k.contains(char::REPLACEMENT_CHARACTER) {
            return Err(format!("malformed parameter {k:?}"));
        }
        if v.contains(char::REPLACEMENT_CHARACTER) {
            return Err(format!("malformed value of {k}"));
        }
        match out.entry(k.into_owned()) {
            Entry::Occupied(taken) => return Err(format!("parameter {} repeated", taken.key())),
            Entry::Vacant(free) => {
                free.insert(v.into_owned());
            }
        }
    }
    Ok(out)
}

/// Whether every `%` in `s` starts a `%XX` escape.
fn escapes_are_well_formed(s: &str) -> bool {
    s.split('%').skip(1).all(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

/// `prefix` followed by 16 random bytes in hex.
fn random_token(prefix: &str) -> String {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("random bytes from /dev/urandom");
    format!("{prefix}{}", hex::encode(bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const REDIRECT: &str = "http://127.0.0.1:9/callback";
    const VERIFIER: &str = "verifier-0123456789-0123456789-0123456789-abcdef";

    async fn provider() -> OAuthProvider {
        OAuthProvider::start(ProviderConfig::slack("cid", "c:s +/%secret", REDIRECT)).await
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Runs /authorize and returns the Location header.
    async fn authorize_location(p: &OAuthProvider, extra: &[(&str, &str)]) -> (u16, String) {
        let challenge = pkce_challenge(VERIFIER);
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", "cid"),
            ("redirect_uri", REDIRECT),
            ("scope", "chat:write,users:read"),
            ("state", "st a/te"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        params.extend_from_slice(extra);
        let url = format!("{}?{}", p.authorize_url(), encode_form(&params));
        let r = client().get(url).send().await.unwrap();
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, location)
    }

    async fn code(p: &OAuthProvider) -> String {
        let (status, location) = authorize_location(p, &[("access_type", "offline")]).await;
        assert_eq!(status, 302);
        let query = location.strip_prefix(&format!("{REDIRECT}?")).unwrap();
        let params = parse_form(query).unwrap();
        assert_eq!(params["state"], "st a/te");
        params["code"].clone()
    }

    async fn post(p: &OAuthProvider, form: &[(&str, &str)], basic: bool) -> (u16, Value) {
        let mut req = client()
            .post(p.token_url())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        let mut form = form.to_vec();
        if basic {
            let encode =
                |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let creds = format!("{}:{}", encode("cid"), encode("c:s +/%secret"));
            let creds = base64::engine::general_purpose::STANDARD.encode(creds);
            req = req.header(header::AUTHORIZATION, format!("Basic {creds}"));
        } else {
            form.push(("client_id", "cid"));
            form.push(("client_secret", "c:s +/%secret"));
        }
        let r = req.body(encode_form(&form)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    async fn exchange(p: &OAuthProvider, code: &str, verifier: &str) -> (u16, Value) {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ];
        post(p, &form, true).await
    }

    async fn refresh(p: &OAuthProvider, token: &str) -> (u16, Value) {
        let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
        post(p, &form, false).await
    }

    async fn resource(p: &OAuthProvider, token: &str) -> (u16, Value) {
        let r = client()
            .post(format!("{}/api/auth.test", p.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    fn s(v: &Value, k: &str) -> String {
        v[k].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn full_flow_and_resource() {
        let p = provider().await;
        let code = code(&p).await;
        assert_eq!(p.authorize_requests()[0]["access_type"], "offline");
        let (status, body) = exchange(&p, &code, VERIFIER).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "chat:write,users:read");
        let at = s(&body, "access_token");
        assert!(at.starts_with("at-"));
        assert!(s(&body, "refresh_token").starts_with("rt-"));
        assert_eq!(p.current_refresh_token(), Some(s(&body, "refresh_token")));
        assert!(p.is_access_token_valid(&at));
        assert_eq!(p.code_exchanges(), 1);

        let (status, body) = resource(&p, &at).await;
        assert_eq!((status, body["team"].as_str()), (200, Some("T1")));
        let (status, body) = resource(&p, "at-bogus").await;
        assert_eq!(status, 401);
        assert_eq!(body["error"], "invalid_auth");
        let seen = p.resource_requests();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, "POST");
        assert_eq!(seen[0].1, "/api/auth.test");
        assert_eq!(seen[0].2, format!("Bearer {at}"));
    }

    #[tokio::test]
    async fn authorize_checks() {
        let p = provider().await;
        let url = |q: &str| format!("{}?{q}", p.authorize_url());
        let bad_redirect = url(
            "response_type=code&client_id=cid&redirect_uri=http%3A%2F%2Fevil%2F&state=x\
             &code_challenge_method=S256&code_challenge=abc",
        );
        let r = client().get(bad_redirect).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        assert!(r.headers().get(header::LOCATION).is_none());
        let r = client()
            .get(url("response_type=code&client_id=nope&state=x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);

        let (status, location) = authorize_location(&p, &[]).await;
        assert_eq!(status, 302);
        assert!(location.contains("code="));

        // No PKCE: redirected back with an error, no code.
        let no_pkce = url(&encode_form(&[
            ("response_type", "code"),
            ("client_id", "cid"),
            ("redirect_uri", REDIRECT),
            ("state", "x"),
        ]));
        let r = client().get(no_pkce).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 302);
        let location = r.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.contains("error=invalid_request"), "{location}");
        assert!(!location.contains("code="));

        p.deny_next_authorization();
        let (status, location) = authorize_location(&p, &[]).await;
        assert_eq!(status, 302);
        assert!(location.contains("error=access_denied"), "{location}");
        let query = location.strip_prefix(&format!("{REDIRECT}?")).unwrap();
        assert_eq!(parse_form(query).unwrap()["state"], "st a/te");
        let (_, location) = authorize_location(&p, &[]).await;
        assert!(location.contains("code="));
    }

    #[tokio::test]
    async fn required_scopes() {
        let mut config = ProviderConfig::google("cid", "sec", REDIRECT);
        config.scopes_required = vec!["openid".into()];
        let p = OAuthProvider::start(config).await;
        let (_, location) = authorize_location(&p, &[]).await;
        assert!(location.contains("error=invalid_scope"), "{location}");
    }

    #[tokio::test]
    async fn client_authentication() {
        let p = provider().await;
        let code = code(&p).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", "cid"),
            ("client_secret", "wrong"),
        ];
        let r = client()
            .post(p.token_url())
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
        let r = client()
            .post(p.token_url())
            .basic_auth("cid", Some("c:s +/%secret-wrong"))
            .form(&form[..4])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        // Form fields work too (the code is still unused).
        let (status, body) = post(&p, &form[..4], false).await;
        assert_eq!(status, 200, "{body}");
    }

    #[tokio::test]
    async fn pkce_mismatch_refused() {
        let p = provider().await;
        let code = code(&p).await;
        let wrong = "another-verifier-0123456789-0123456789-0123456789";
        let (status, body) = exchange(&p, &code, wrong).await;
        assert_eq!((status, s(&body, "error")), (400, "invalid_grant".into()));
        let (status, body) = exchange(&p, &code, "").await;
        assert_eq!((status, s(&body, "error")), (400, "invalid_grant".into()));
        assert_eq!(p.current_refresh_token(), None);
    }

    #[tokio::test]
    async fn redirect_uri_must_match_at_token() {
        let p = provider().await;
        let code = code(&p).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9/callback/"),
            ("code_verifier", VERIFIER),
        ];
        let (status, body) = post(&p, &form, true).await;
        assert_eq!((status, s(&body, "error")), (400, "invalid_grant".into()));
    }

    #[tokio::test]
    async fn code_is_single_use_and_reuse_revokes() {
        let p = provider().await;
        let code = code(&p).await;
        let (status, first) = exchange(&p, &code, VERIFIER).await;
        assert_eq!(status, 200);
        let at = s(&first, "access_token");
        assert!(p.is_access_token_valid(&at));
        let (status, body) = exchange(&p, &code, VERIFIER).await;
        assert_eq!((status, s(&body, "error")), (400, "invalid_grant".into()));
        assert!(!p.is_access_token_valid(&at));
        let (status, _) = refresh(&p, &s(&first, "refresh_token")).await;
        assert_eq!(status, 400);
        assert_eq!(p.code_exchanges(), 2);
    }

    #[tokio::test]
    async fn refresh_rotation_and_reuse_detection() {
        let p = provider().await;
        let code = code(&p).await;
        let (_, first) = exchange(&p, &code, VERIFIER).await;
        let rt1 = s(&first, "refresh_token");
        let (status, second) = refresh(&p, &rt1).await;
        assert_eq!(status, 200, "{second}");
        let rt2 = s(&second, "refresh_token");
        let at2 = s(&second, "access_token");
        assert_ne!(rt1, rt2);
        assert_eq!(p.current_refresh_token(), Some(rt2.clone()));
        assert!(p.is_access_token_valid(&at2));
        assert_eq!(resource(&p, &at2).await.0, 200);

        // Presenting the rotated token again is reuse: the whole grant goes.
        let (status, body) = refresh(&p, &rt1).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "invalid_grant");
        assert_eq!(body["error_description"], "refresh token reuse");
        assert!(!p.is_access_token_valid(&at2));
        assert!(!p.is_access_token_valid(&s(&first, "access_token")));
        assert_eq!(resource(&p, &at2).await.0, 401);
        assert_eq!(p.current_refresh_token(), None);
        let (status, body) = refresh(&p, &rt2).await;
        assert_eq!((status, s(&body, "error")), (400, "invalid_grant".into()));
        let (status, _) = refresh(&p, "rt-unknown").await;
        assert_eq!(status, 400);
        assert_eq!(p.refresh_requests(), 4);
    }

    #[tokio::test]
    async fn server_error_switch() {
        let p = provider().await;
        let code = code(&p).await;
        let (_, first) = exchange(&p, &code, VERIFIER).await;
        let rt = s(&first, "refresh_token");
        p.fail_token_with_500(2);
        assert_eq!(refresh(&p, &rt).await.0, 500);
        assert_eq!(refresh(&p, &rt).await.0, 500);
        let (status, body) = refresh(&p, &rt).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(p.refresh_requests(), 3);
    }

    #[tokio::test]
    async fn invalid_grant_switch() {
        let p = provider().await;
        let code = code(&p).await;
        let (_, first) = exchange(&p, &code, VERIFIER).await;
        let rt = s(&first, "refresh_token");
        p.fail_refresh_with_invalid_grant(true);
        let (status, body) = refresh(&p, &rt).await;
        assert_eq!((status, s(&body, "error")), (400, "invalid_grant".into()));
        p.fail_refresh_with_invalid_grant(false);
        assert_eq!(refresh(&p, &rt).await.0, 200);
    }

    #[tokio::test]
    async fn omit_refresh_token_switch_and_expiry() {
        let p = provider().await;
        let code = code(&p).await;
        let (_, first) = exchange(&p, &code, VERIFIER).await;
        let rt = s(&first, "refresh_token");
        p.omit_refresh_token_on_refresh(true);
        p.set_expires_in(5);
        let (status, body) = refresh(&p, &rt).await;
        assert_eq!(status, 200);
        assert!(body.get("refresh_token").is_none(), "{body}");
        assert_eq!(body["expires_in"], 5);
        assert_eq!(p.current_refresh_token(), Some(rt.clone()));
        // The old one stays current: using it again is not reuse.
        assert_eq!(refresh(&p, &rt).await.0, 200);
        assert!(p.is_access_token_valid(&s(&body, "access_token")));
    }

    #[tokio::test]
    async fn delayed_concurrent_refreshes_trip_reuse_detection() {
        let p = provider().await;
        let code = code(&p).await;
        let (_, first) = exchange(&p, &code, VERIFIER).await;
        let rt = s(&first, "refresh_token");
        p.delay_refresh(Duration::from_millis(200));
        let (a, b) = tokio::join!(refresh(&p, &rt), refresh(&p, &rt));
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400]);
        assert_eq!(p.refresh_requests(), 2);
        assert_eq!(p.current_refresh_token(), None);
    }

    #[test]
    fn forms_decode_strictly() {
        let form = parse_form("a=x+y%2Bz&&b&c=%3D%26%25").unwrap();
        assert_eq!(form["a"], "x y+z");
        assert_eq!(form["b"], "");
        assert_eq!(form["c"], "=&%");
        assert_eq!(form.len(), 3);
        for bad in ["a=1&a=2", "a=%zz", "a=50%", "%4=1", "a=%FF"] {
            assert!(parse_form(bad).is_err(), "{bad}");
        }
        assert_eq!(form_decode("c:s+%2B/=&x").unwrap(), "c:s +/=&x");
        assert_eq!(form_decode("").unwrap(), "");
        let encoded = encode_form(&[("state", "st a/te"), ("x", "=&%+~")]);
        assert_eq!(encoded, "state=st+a%2Fte&x=%3D%26%25%2B%7E");
        let decoded = parse_form(&encoded).unwrap();
        assert_eq!(decoded["state"], "st a/te");
        assert_eq!(decoded["x"], "=&%+~");
    }

    #[test]
    fn pkce_rfc7636_vector() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
