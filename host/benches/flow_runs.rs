//! Load test of `POST /api/v1/flows/{id}/runs` over loopback: the real router on
//! 127.0.0.1 with a SQLite store, a one-step flow whose piece (postgres
//! `connection_uri`) makes no outbound call but needs its connection resolved and
//! decrypted, and `CONNECTIONS` keep-alive HTTP/1.1 clients in the same process sending
//! runs back to back for `SECONDS`. Prints throughput and latency percentiles.
//!
//! Run: `cargo bench -p thinkfleet --bench flow_runs` (env `CONNECTIONS`, default 32;
//! `SECONDS`, default 10). The clients share the machine's cores with the server, so
//! the figures are conservative.

#![allow(missing_docs)]
#![allow(clippy::unwrap_used)] // a benchmark: a failure should stop it loudly

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thinkfleet::api::app;
use thinkfleet::connections::NewConnectionRequest;
use thinkfleet::flows::FlowDefinition;
use thinkfleet::runtime::RuntimeConfig;
use thinkfleet::server::{ServeConfig, state};
use thinkfleet::vault::KeyConfig;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; this harness has no filters to parse.
    let connections = env_or("CONNECTIONS", 32) as usize;
    let seconds = env_or("SECONDS", 10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench(connections, Duration::from_secs(seconds)));
}

async fn bench(clients: usize, duration: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_owned(),
        database_url: thinkfleet::store::default_url(dir.path()),
        runtime: RuntimeConfig::default(),
        keys: KeyConfig::default(),
        public_url: None,
        admin_token: None,
        refresh_interval: Duration::from_secs(3600),
        webhooks: thinkfleet::webhooks::WebhookTiming::default(),
        metrics_token: None,
    };
    let app_state = state(&config).await.unwrap();
    let store = app_state.connections.store().clone();
    let project = thinkfleet::projects::create_project(&store, "bench")
        .await
        .unwrap();
    let token = thinkfleet::tokens::reveal(&project.token).to_owned();
    let request: NewConnectionRequest = serde_json::from_value(serde_json::json!({
        "piece": "postgres", "display_name": "db",
        "value": {"type": "custom", "props": {
            "host": "db.internal", "database": "app", "user": "svc", "password": "pw"}}
    }))
    .unwrap();
    app_state
        .connections
        .create(&project.id, request)
        .await
        .unwrap();
    let flow: FlowDefinition = serde_json::from_value(serde_json::json!({
        "name": "bench", "steps": [{"name": "uri", "piece": "postgres",
        "action": "connection_uri", "auth": "{{connections['db']}}"}]
    }))
    .unwrap();
    let flow = app_state.flows.create(&project.id, flow).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app(app_state)).await });

    let path = format!("/api/v1/flows/{}/runs", flow.id);
    let token = Arc::new(format!("Bearer {token}"));
    // Warm up: one run must succeed.
    let mut warm = client(addr).await;
    let first = run(&mut warm, &path, &token).await;
    assert!(first.contains("\"succeeded\""), "{first}");

    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let path = path.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = client(addr).await;
            let mut latencies = Vec::with_capacity(100_000);
            while Instant::now() < deadline {
                let t = Instant::now();
                let body = run(&mut sender, &path, &token).await;
                latencies.push(t.elapsed().as_micros() as u32);
                debug_assert!(body.contains("succeeded"));
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0;
    println!(
        "flow_runs: {} runs in {:.1} s with {clients} connections: {:.0} runs/s; \
         latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        all.len(),
        elapsed,
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(0.999),
        *all.last().unwrap() as f64 / 1000.0
    );
    let events = store
        .filter_audit(&project.id, &Default::default(), None, 1)
        .await
        .unwrap();
    println!(
        "last audit event id {} (every answered run has its `used` event)",
        events.first().map(|e| e.id).unwrap_or_default()
    );
}

async fn client(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

async fn run(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    path: &str,
    token: &str,
) -> String {
    let req = hyper::Request::post(path)
        .header("host", "bench")
        .header("authorization", token)
        .body(Full::new(Bytes::new()))
        .unwrap();
    sender.ready().await.unwrap();
    let res = sender.send_request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}
