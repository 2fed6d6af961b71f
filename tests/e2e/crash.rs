//! `kill -9` at the worst moment loses nothing: a server killed while it checks a
//! reconnect's new key (the old credential still stored, the new one in memory only)
//! restarts with the connection whole — readable, active, still the old key — and the
//! reconnect can simply be done again. On SQLite and on PostgreSQL (the suite's two
//! passes). The refresh side of this promise is
//! `oauth_refresh::a_crash_between_rotation_and_storage_expires_the_connection_with_a_clear_reason`.

use crate::connections::assert_nowhere;
use crate::web_flows::{CHAT_KEY, CHAT_KEY_2, openai_connection, openai_flow, openai_holding};
use serde_json::{Value, json};
use std::time::Duration;
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::{Mock, Recorded};

/// OpenAI's endpoints; checks of the second key are held while the gate is closed.
async fn openai_holding_the_new_key() -> Mock {
    openai_holding(|r: &Recorded| {
        r.path == "/v1/models" && r.header("authorization") == format!("Bearer {CHAT_KEY_2}")
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_during_a_reconnect_keeps_the_old_credential_whole() {
    let openai = openai_holding_the_new_key().await;
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let settings = Settings::default()
        .process()
        .route("api.openai.com", &openai.base);
    let server = TestApp::spawn(&home, settings.clone()).await;
    let api = server.client(&token);
    openai_connection(&api, "gpt", CHAT_KEY).await;
    let flow = openai_flow(&api, "ask", "gpt", 1).await;

    // The reconnect's check of the new key is under way when the server dies.
    openai.close();
    let base = server.base.clone();
    let bearer = token.clone();
    let reconnect = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/connections/gpt/reconnect"))
            .bearer_auth(bearer)
            .json(&json!({"value": {"type": "secret_text", "secret_text": CHAT_KEY_2}}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    for _ in 0..600 {
        if openai.held() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(openai.held(), 1, "the new key's check never started");
    server.kill().await;
    assert!(
        reconnect.await.expect("task").is_err(),
        "the killed server answered the reconnect"
    );
    openai.open();

    // Restarted on the same data: the connection is whole, active, with the old key.
    let server = TestApp::spawn(&home, settings).await;
    let api = server.client(&token);
    let (status, conn) = api.get("/connections/gpt").await;
    assert_eq!(
        (status, conn["status"].as_str()),
        (200, Some("active")),
        "{conn}"
    );
    let (status, report) = api.post(&format!("/flows/{flow}/runs"), &Value::Null).await;
    assert_eq!(
        (status, report["status"].as_str()),
        (200, Some("succeeded")),
        "{report}"
    );
    let asked = openai
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/chat/completions")
        .expect("the run asked");
    assert_eq!(asked.header("authorization"), format!("Bearer {CHAT_KEY}"));

    // The reconnect is simply done again.
    let (status, body) = api
        .post(
            "/connections/gpt/reconnect",
            &json!({"value": {"type": "secret_text", "secret_text": CHAT_KEY_2}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, report) = api.post(&format!("/flows/{flow}/runs"), &Value::Null).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    let asked = openai
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/chat/completions")
        .expect("the run asked");
    assert_eq!(
        asked.header("authorization"),
        format!("Bearer {CHAT_KEY_2}")
    );
    assert_nowhere(&home, &server, &api, &[CHAT_KEY, CHAT_KEY_2]).await;
}
