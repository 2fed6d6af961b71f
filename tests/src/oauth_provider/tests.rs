//! The provider against a real HTTP client: what a strict provider refuses and allows.

#![allow(clippy::unwrap_used)]

use super::*;
use axum::http::header;
use serde_json::Value;
use url::form_urlencoded;

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
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
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
