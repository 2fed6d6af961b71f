//! An agent's tool call over MCP against the same action run as a one-step flow: the
//! same connection, piece and action (PostgreSQL settings' `connection_uri`, no
//! outbound request, so the figures are the host's own path), on one in-process server,
//! a fixed number of requests kept in flight for a fixed time. Prints calls/s, p50 and
//! p99 for each. Figures, not a gate: see docs/PERFORMANCE.md.
//!
//! ```sh
//! cargo bench -p thinkfleet-tests --bench mcp_calls        # IN_FLIGHT=16 SECONDS=10
//! ```
//! (`THINKFLEET_TEST_DATABASE=postgres://…` measures on PostgreSQL instead of SQLite.)

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::load::{Outcome, env_or, figures, keep_in_flight, sustain};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(compare());
}

async fn compare() {
    let in_flight = env_or("IN_FLIGHT", 16_usize);
    let duration = Duration::from_secs(env_or("SECONDS", 10));
    let home = DataHome::new().await;
    let (_, token) = home.project("bench").await;
    let server = TestApp::spawn(&home, Settings::default().log("warn")).await;
    let api = server.client(&token);
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "postgres", "display_name": "DB", "external_id": "db",
                    "value": {"type": "custom", "props": {"host": "db.internal",
                    "database": "app", "user": "svc", "password": "pw-bench-0000"}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, flow) = api
        .post(
            "/flows",
            &json!({"name": "uri", "steps": [{"name": "uri", "piece": "postgres",
                    "action": "connection_uri", "auth": "{{connections['db']}}"}]}),
        )
        .await;
    assert_eq!(status, 201, "{flow}");
    let flow = flow["id"].as_str().expect("id").to_owned();
    let (status, agent) = api
        .post(
            "/agents",
            &json!({"name": "bench", "tools": [{"connection": "db", "action": "connection_uri"}]}),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    let agent = agent["token"].as_str().expect("token").to_owned();

    let runs = sustain(std::slice::from_ref(&api), &flow, in_flight, duration).await;
    assert!(runs.iter().all(Outcome::succeeded));
    let calls = mcp_load(&format!("{}/mcp", server.base), &agent, in_flight, duration).await;
    let database = if home.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "{database}, {in_flight} in flight, {} s each:",
        duration.as_secs()
    );
    for (what, outcomes) in [("flow run (1 step)", &runs), ("MCP tools/call", &calls)] {
        let f = figures(outcomes, duration);
        println!(
            "  {what:<18} {:>8.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
            f.runs_per_sec,
            f.p50.as_secs_f64() * 1000.0,
            f.p99.as_secs_f64() * 1000.0
        );
    }
}

/// Keeps `in_flight` JSON-RPC `tools/call` requests going for `duration`, after one
/// `initialize`; every call must answer the action's output.
async fn mcp_load(url: &str, token: &str, in_flight: usize, duration: Duration) -> Vec<Outcome> {
    let http = reqwest::Client::new();
    let post = {
        let (http, url, token) = (http.clone(), url.to_owned(), token.to_owned());
        move |body: Value| {
            http.post(&url)
                .bearer_auth(&token)
                .header("accept", "application/json, text/event-stream")
                .json(&body)
                .send()
        }
    };
    let init = post(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"}}}),
    )
    .await
    .expect("initialize");
    assert!(init.status().is_success(), "{}", init.status());
    let ids = Arc::new(AtomicU64::new(1));
    keep_in_flight(1, in_flight, duration, move |_| {
        let (post, id) = (post.clone(), ids.fetch_add(1, Ordering::Relaxed));
        async move {
            let answer = post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "db__connection_uri", "arguments": {}}}))
            .await
            .expect("tools/call");
            let status = answer.status().as_u16();
            let body: Value = answer.json().await.unwrap_or_default();
            let ok = body["result"]["isError"] == false
                && body["result"]["structuredContent"]["uri"].is_string();
            assert!(ok, "{body}");
            (status, "succeeded".to_owned(), None)
        }
    })
    .await
}
