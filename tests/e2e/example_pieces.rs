//! Every example piece: its schema, and its real `validate` and an action against local
//! mock services reached through outbound overrides (the pieces are unmodified).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::json;
use sha2::Sha256;
use thinkfleet::piece::{AuthPlacement, AuthSchema, Credentials, CustomValue, PieceError};
use thinkfleet::runtime::CallError;
use thinkfleet_tests::{Mock, Recorded, load, runtime};

fn secret_text(s: &str) -> Credentials {
    Credentials::SecretText(SecretString::from(s.to_string()))
}

fn oauth2(token: &str) -> Credentials {
    Credentials::Oauth2 {
        access_token: SecretString::from(token.to_string()),
        scopes: vec![],
        props: vec![],
    }
}

fn custom(fields: &[(&str, CustomValue)]) -> Credentials {
    Credentials::Custom(
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn text(s: &str) -> CustomValue {
    CustomValue::Text(s.into())
}

fn secret(s: &str) -> CustomValue {
    CustomValue::Secret(SecretString::from(s.to_string()))
}

fn invalid_credentials(result: Result<(), CallError>) -> String {
    match result {
        Err(CallError::Piece(PieceError::InvalidCredentials(m))) => m,
        other => panic!("expected invalid credentials, got {other:?}"),
    }
}

/// A row of the schema table: piece, auth kind, fields, placement, hosts.
type SchemaCase = (
    &'static str,
    &'static str,
    &'static [(&'static str, bool)],
    Option<AuthPlacement>,
    &'static [&'static str],
);

/// One row of the schema table: piece, auth kind, (field, secret?) pairs, placement, hosts.
fn check_schema(
    info: &thinkfleet::piece::PieceInfo,
    kind: &str,
    fields: &[(&str, bool)],
    placement: Option<AuthPlacement>,
    hosts: &[&str],
) {
    assert_eq!(info.auth.kind(), kind, "{}", info.name);
    let got: Vec<(String, bool)> = match &info.auth {
        AuthSchema::None => vec![],
        AuthSchema::SecretText { field } => vec![(field.name.clone(), field.secret)],
        AuthSchema::Basic { username, password } => {
            vec![
                (username.name.clone(), username.secret),
                (password.name.clone(), password.secret),
            ]
        }
        AuthSchema::Oauth2 { props, .. } | AuthSchema::Custom { props } => {
            props.iter().map(|p| (p.name.clone(), p.secret)).collect()
        }
    };
    let want: Vec<(String, bool)> = fields.iter().map(|(n, s)| (n.to_string(), *s)).collect();
    assert_eq!(got, want, "{}", info.name);
    assert_eq!(info.placement, placement, "{}", info.name);
    assert_eq!(info.allowed_hosts, hosts, "{}", info.name);
    assert!(!info.actions.is_empty(), "{} has no action", info.name);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_piece_declares_its_schema() {
    let rt = runtime(&[]);
    let cases: &[SchemaCase] = &[
        (
            "openai",
            "secret_text",
            &[("secret_text", true)],
            Some(AuthPlacement::Bearer),
            &["api.openai.com"],
        ),
        (
            "twilio",
            "basic",
            &[("username", false), ("password", true)],
            Some(AuthPlacement::Basic),
            &["api.twilio.com"],
        ),
        (
            "slack",
            "oauth2",
            &[],
            Some(AuthPlacement::Bearer),
            &["slack.com"],
        ),
        (
            "google-sheets",
            "oauth2",
            &[],
            Some(AuthPlacement::Bearer),
            &["sheets.googleapis.com", "www.googleapis.com"],
        ),
        (
            "postgres",
            "custom",
            &[
                ("host", false),
                ("port", false),
                ("database", false),
                ("user", false),
                ("password", true),
                ("ssl", false),
                ("verify", false),
                ("ca_certificate", false),
            ],
            None,
            &[],
        ),
        (
            "binance",
            "custom",
            &[("api_key", true), ("api_secret", true)],
            None,
            &["api.binance.com"],
        ),
    ];
    for (name, kind, fields, placement, hosts) in cases {
        let piece = load(&rt, name).await;
        check_schema(piece.info(), kind, fields, placement.clone(), hosts);
    }
    let sheets = load(&rt, "google-sheets").await;
    match &sheets.info().auth {
        AuthSchema::Oauth2 {
            pkce,
            extra_params,
            scopes,
            ..
        } => {
            assert!(pkce);
            assert!(extra_params.contains(&("access_type".into(), "offline".into())));
            assert!(scopes.iter().any(|s| s.ends_with("/auth/spreadsheets")));
        }
        other => panic!("google-sheets auth is {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_validates_with_a_host_applied_bearer_and_asks_chatgpt() {
    let api = Mock::start(|r: &Recorded| {
        if r.header("authorization") != "Bearer sk-good" {
            return (
                401,
                json!({"error": {"message": "Incorrect API key provided"}}),
            );
        }
        match r.path.as_str() {
            "/v1/models" => (200, json!({"data": [{"id": "gpt-4o-mini"}]})),
            "/v1/chat/completions" => (
                200,
                json!({"model": "gpt-4o-mini", "choices": [{"message": {"content": "Hello!"}}]}),
            ),
            _ => (404, json!({})),
        }
    })
    .await;
    let rt = runtime(&[("api.openai.com", &api)]);
    let piece = load(&rt, "openai").await;
    piece
        .validate(&secret_text("sk-good"))
        .await
        .expect("valid key");
    assert_eq!(
        invalid_credentials(piece.validate(&secret_text("sk-bad")).await),
        "Invalid API key (OpenAI answered HTTP 401)"
    );
    let out = piece
        .run_action(
            "ask_chatgpt",
            &json!({"prompt": "Say hello"}),
            &secret_text("sk-good"),
        )
        .await
        .expect("reply");
    assert_eq!(out["reply"], "Hello!");
    let chat = api
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/chat/completions")
        .expect("chat call");
    let body: serde_json::Value = serde_json::from_str(&chat.body).expect("json body");
    assert_eq!(body["messages"][0]["content"], "Say hello");
    // The SDK states the body's length (servers such as S3 refuse chunked bodies).
    assert_eq!(chat.header("content-length"), chat.body.len().to_string());
    assert_eq!(chat.header("transfer-encoding"), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn twilio_validates_with_host_applied_basic_auth_and_sends_sms() {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("AC123:tok-good")
    );
    let api = Mock::start(move |r: &Recorded| {
        if r.header("authorization") != expected {
            return (401, json!({"code": 20003, "message": "Authenticate"}));
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/2010-04-01/Accounts/AC123.json") => (200, json!({"sid": "AC123"})),
            ("POST", "/2010-04-01/Accounts/AC123/Messages.json") => {
                (201, json!({"sid": "SM1", "status": "queued"}))
            }
            _ => (404, json!({})),
        }
    })
    .await;
    let rt = runtime(&[("api.twilio.com", &api)]);
    let piece = load(&rt, "twilio").await;
    let creds = |pw: &str| Credentials::Basic {
        username: "AC123".into(),
        password: SecretString::from(pw.to_string()),
    };
    piece.validate(&creds("tok-good")).await.expect("valid");
    assert_eq!(
        invalid_credentials(piece.validate(&creds("tok-bad")).await),
        "Invalid API key (Twilio answered HTTP 401)"
    );
    let out = piece
        .run_action(
            "send_sms",
            &json!({"from": "+15550001", "to": "+15550002", "body": "hi there"}),
            &creds("tok-good"),
        )
        .await
        .expect("sent");
    assert_eq!(out, json!({"sid": "SM1", "status": "queued"}));
    let sms = api
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("sms call");
    assert_eq!(sms.body, "From=%2B15550001&To=%2B15550002&Body=hi%20there");
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_validates_an_oauth2_token_and_posts_a_message() {
    let api = Mock::start(|r: &Recorded| {
        if r.header("authorization") != "Bearer xoxb-good" {
            return (200, json!({"ok": false, "error": "invalid_auth"}));
        }
        match r.path.as_str() {
            "/api/auth.test" => (200, json!({"ok": true, "team": "T1"})),
            "/api/chat.postMessage" => (200, json!({"ok": true, "channel": "C1", "ts": "1.2"})),
            _ => (404, json!({})),
        }
    })
    .await;
    let rt = runtime(&[("slack.com", &api)]);
    let piece = load(&rt, "slack").await;
    piece.validate(&oauth2("xoxb-good")).await.expect("valid");
    let message = invalid_credentials(piece.validate(&oauth2("xoxb-revoked")).await);
    assert!(message.contains("invalid_auth"), "{message}");
    let out = piece
        .run_action(
            "send_message",
            &json!({"channel": "C1", "text": "deployed"}),
            &oauth2("xoxb-good"),
        )
        .await
        .expect("posted");
    assert_eq!(out, json!({"channel": "C1", "ts": "1.2"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn google_sheets_validates_an_oauth2_token_and_appends_a_row() {
    let responder = |r: &Recorded| {
        if r.header("authorization") != "Bearer ya29.good" {
            return (401, json!({"error": {"status": "UNAUTHENTICATED"}}));
        }
        match r.path.as_str() {
            "/oauth2/v3/userinfo" => (200, json!({"email": "a@example.com"})),
            p if p.starts_with("/v4/spreadsheets/sheet-1/values/") => {
                (200, json!({"updates": {"updatedRange": "Sheet1!A2:B2"}}))
            }
            _ => (404, json!({})),
        }
    };
    let www = Mock::start(responder).await;
    let sheets = Mock::start(responder).await;
    let rt = runtime(&[
        ("www.googleapis.com", &www),
        ("sheets.googleapis.com", &sheets),
    ]);
    let piece = load(&rt, "google-sheets").await;
    piece.validate(&oauth2("ya29.good")).await.expect("valid");
    invalid_credentials(piece.validate(&oauth2("ya29.expired")).await);
    let out = piece
        .run_action(
            "append_row",
            &json!({"spreadsheet_id": "sheet-1", "values": ["a", 1]}),
            &oauth2("ya29.good"),
        )
        .await
        .expect("appended");
    assert_eq!(out["updated_range"], "Sheet1!A2:B2");
    let append = &sheets.requests()[0];
    assert_eq!(append.query, "valueInputOption=RAW");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&append.body).expect("json"),
        json!({"values": [["a", 1]]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_checks_the_connection_fields() {
    let rt = runtime(&[]);
    let piece = load(&rt, "postgres").await;
    let good = custom(&[
        ("host", text("db.internal")),
        ("port", CustomValue::Number(5433.0)),
        ("database", text("app")),
        ("user", text("svc")),
        ("password", secret("pw")),
        ("ssl", CustomValue::Flag(true)),
    ]);
    piece.validate(&good).await.expect("valid");
    let out = piece
        .run_action("connection_uri", &json!({}), &good)
        .await
        .expect("uri");
    assert_eq!(
        out["uri"],
        "postgresql://svc@db.internal:5433/app?sslmode=require"
    );
    assert!(!out.to_string().contains("pw"));
    let bad_port = custom(&[
        ("host", text("db.internal")),
        ("port", CustomValue::Number(70000.0)),
        ("database", text("app")),
        ("user", text("svc")),
        ("password", secret("pw")),
    ]);
    assert!(invalid_credentials(piece.validate(&bad_port).await).contains("port"));
    let no_db = custom(&[
        ("host", text("db.internal")),
        ("user", text("svc")),
        ("password", secret("pw")),
    ]);
    assert!(invalid_credentials(piece.validate(&no_db).await).contains("database"));
}

#[tokio::test(flavor = "multi_thread")]
async fn binance_signs_requests_in_the_guest_with_hmac() {
    let api = Mock::start(|r: &Recorded| {
        let Some((payload, signature)) = r.query.rsplit_once("&signature=") else {
            return (400, json!({"code": -1102, "msg": "signature missing"}));
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret-good").expect("key");
        mac.update(payload.as_bytes());
        let expected = hex::encode(mac.finalize().into_bytes());
        if r.header("x-mbx-apikey") != "key-good" || signature != expected {
            return (401, json!({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}));
        }
        (200, json!({"balances": [{"asset": "BTC", "free": "0.5"}, {"asset": "ETH", "free": "0.000"}]}))
    })
    .await;
    let rt = runtime(&[("api.binance.com", &api)]);
    let piece = load(&rt, "binance").await;
    let creds = |s: &str| custom(&[("api_key", secret("key-good")), ("api_secret", secret(s))]);
    piece
        .validate(&creds("secret-good"))
        .await
        .expect("valid signature");
    assert_eq!(
        invalid_credentials(piece.validate(&creds("secret-bad")).await),
        "Invalid API key (Binance answered HTTP 401)"
    );
    let out = piece
        .run_action("balances", &json!({}), &creds("secret-good"))
        .await
        .expect("balances");
    assert_eq!(out, json!({"balances": [{"asset": "BTC", "free": "0.5"}]}));
    // The secret signed the request but was never sent.
    assert!(
        api.requests()
            .iter()
            .all(|r| !r.query.contains("secret-good")
                && !r.headers.values().any(|v| v.contains("secret-good")))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_echoing_the_key_cannot_leak_it_through_an_error() {
    // A misbehaving service answers 500 with the Authorization header it received.
    let api = Mock::start(|r: &Recorded| {
        (
            500,
            json!({"error": format!("bad request with {}", r.header("authorization"))}),
        )
    })
    .await;
    let rt = runtime(&[("api.openai.com", &api)]);
    let piece = load(&rt, "openai").await;
    let err = piece
        .run_action(
            "ask_chatgpt",
            &json!({"prompt": "hi"}),
            &secret_text("sk-planted-echo"),
        )
        .await
        .expect_err("upstream error");
    let message = err.to_string();
    assert!(message.contains("Bearer [REDACTED]"), "{message}");
    assert!(!message.contains("sk-planted-echo"), "{message}");
}
