//! The provider's endpoints: authorize, token (code exchange and refresh, with client
//! authentication) and the resource endpoints that check a bearer token.

use super::*;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub(super) fn authorize(inner: &Inner, method: &Method, query: &str) -> Response {
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

pub(super) async fn token(
    inner: &Inner,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
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

pub(super) fn token_response(
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
pub(super) fn authenticate_client(
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

pub(super) fn parse_basic(creds: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(creds)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id).ok()?, form_decode(secret).ok()?))
}

pub(super) fn exchange_code(st: &mut State, form: &HashMap<String, String>) -> Response {
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

pub(super) fn refresh(st: &mut State, form: &HashMap<String, String>) -> Response {
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
pub(super) fn with_provider_fields(mut body: Value) -> Value {
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

pub(super) fn resource(
    inner: &Inner,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Response {
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
