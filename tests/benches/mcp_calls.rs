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
use std::time::{Duration, Instant};
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::load::{Outcome, figures, sustain};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(compare());
}

async fn compare() {
    let in_flight = usize::try_from(env_u64("IN_FLIGHT", 16)).unwrap_or(16);
    let duration = Duration::from_secs(env_u64("SECONDS", 10));
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
    let post = Arc::new({
        let (http, url, token) = (http.clone(), url.to_owned(), token.to_owned());
        move |body: Value| {
            http.post(&url)
                .bearer_auth(&token)
                .header("accept", "application/json, text/event-stream")
                .json(&body)
                .send()
        }
    });
    let init = post(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"}}}),
    )
    .await
    .expect("initialize");
    assert!(init.status().is_success(), "{}", init.status());
    let start = Instant::now();
    let workers: Vec<_> = (0..in_flight)
        .map(|w| {
            let post = post.clone();
            tokio::spawn(async move {
                let mut done = Vec::new();
                let mut id = w as u64 * 1_000_000;
                while start.elapsed() < duration {
                    id += 1;
                    let sent = start.elapsed();
                    let answer = post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                        "params": {"name": "db__connection_uri", "arguments": {}}}))
                    .await
                    .expect("tools/call");
                    let status = answer.status().as_u16();
                    let body: Value = answer.json().await.unwrap_or_default();
                    let ok = body["result"]["isError"] == false
                        && body["result"]["structuredContent"]["uri"].is_string();
                    assert!(ok, "{body}");
                    done.push(Outcome {
                        replica: 0,
                        sent,
                        latency: start.elapsed() - sent,
                        status,
                        run: "succeeded".into(),
                        error_code: None,
                    });
                }
                done
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    all
}
