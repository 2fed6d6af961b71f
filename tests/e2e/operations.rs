//! What operators and load balancers see: `/healthz` and `/readyz` without a token, a
//! request id on every response (the caller's when plausible, else a new one) that
//! the request's log lines carry, and `--log-format json` on the real binary, whose
//! request lines hold the route pattern and never a path value.

use serde_json::Value;
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::home::DataHome;

#[tokio::test(flavor = "multi_thread")]
async fn probes_answer_without_a_token_and_every_response_carries_a_request_id() {
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let app = TestApp::spawn(&home, Settings::default()).await;
    let http = reqwest::Client::new();
    let health = http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.expect("json")["status"], "ok");
    let ready = http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["store"], true);
    assert_eq!(ready["checks"]["migrations"], true);
    assert!(
        ready["checks"]["pieces"].as_u64().unwrap_or(0) >= 6,
        "{ready}"
    );

    // The caller's id carries through; an implausible one is replaced.
    let answer = http
        .get(format!("{}/api/v1/flows/secret-path-value-77", app.base))
        .bearer_auth(&token)
        .header("x-request-id", "lb-7f3a.1_x")
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), 404);
    assert_eq!(answer.headers()["x-request-id"], "lb-7f3a.1_x");
    for implausible in ["has space", &"x".repeat(65), "semi;colon"] {
        let answer = http
            .get(format!("{}/healthz", app.base))
            .header("x-request-id", implausible)
            .send()
            .await
            .expect("request");
        let id = answer.headers()["x-request-id"].to_str().expect("id");
        assert_ne!(id, implausible);
        assert_eq!(id.len(), 36, "a new UUID: {id}");
    }
    let page = http
        .get(format!("{}/login", app.base))
        .send()
        .await
        .expect("page");
    assert_eq!(page.headers()["x-request-id"].len(), 36);
    let log = app.log();
    assert!(
        log.contains("lb-7f3a.1_x"),
        "the request's log line has its id"
    );
    assert!(
        log.contains("/api/v1/flows/{id}"),
        "the route pattern is logged"
    );
    assert!(
        !log.contains("secret-path-value-77"),
        "a path value reached the log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_binary_logs_json_lines_with_the_request_id() {
    let home = DataHome::new().await;
    let app = TestApp::spawn(&home, Settings::default().process().json_logs().log("info")).await;
    let http = reqwest::Client::new();
    let answer = http
        .get(format!("{}/api/v1/pieces/no-such-piece-value", app.base))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), 401);
    let mut line = None;
    for _ in 0..50 {
        line = app
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["message"] == "request" && l["route"] == "/api/v1/pieces/{name}");
        if line.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let line = line.unwrap_or_else(|| panic!("no JSON request line in:\n{}", app.log()));
    assert_eq!(line["status"], 401);
    assert_eq!(line["level"], "INFO");
    assert!(line.to_string().contains("trace-42"), "{line}");
    assert!(!app.log().contains("no-such-piece-value"));
    for text in app.log().lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<Value>(text).is_ok(),
            "not a JSON line: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_off_unless_a_token_is_set_and_then_count_calls_runs_and_states() {
    use crate::web_flows::{CHAT_KEY, ChatApp, openai_connection, openai_flow};
    let home = DataHome::new().await;
    let off = TestApp::spawn(&home, Settings::default()).await;
    let http = reqwest::Client::new();
    let answer = http
        .get(format!("{}/metrics", off.base))
        .bearer_auth("anything")
        .send()
        .await
        .expect("metrics");
    assert_eq!(answer.status(), 404);

    let token = "metrics-token-planted-31";
    let c = ChatApp::start(Settings::default().metrics_token(token)).await;
    let api = c.api();
    openai_connection(&api, "gpt", CHAT_KEY).await;
    let flow = openai_flow(&api, "Digest", "gpt", 1).await;
    let (status, _) = api
        .post(&format!("/flows/{flow}/runs"), &serde_json::json!({}))
        .await;
    assert_eq!(status, 200);
    for wrong in [None, Some("nope")] {
        let mut request = http.get(format!("{}/metrics", c.app.base));
        if let Some(w) = wrong {
            request = request.bearer_auth(w);
        }
        assert_eq!(request.send().await.expect("metrics").status(), 401);
    }
    let answer = http
        .get(format!("{}/metrics", c.app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("metrics");
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/plain")
    );
    let text = answer.text().await.expect("text");
    let has = |needle: &str| {
        text.lines()
            .any(|l| !l.starts_with('#') && needle.split('*').all(|part| l.contains(part)))
    };
    for needle in [
        "thinkfleet_piece_calls_total{*piece=\"openai\"*call=\"ask_chatgpt\"*outcome=\"ok\"",
        "thinkfleet_piece_calls_total{*call=\"validate\"",
        "thinkfleet_piece_call_seconds_bucket{*piece=\"openai\"",
        "thinkfleet_flow_runs_total{*status=\"succeeded\"",
        "thinkfleet_outbound_requests_total{*piece=\"openai\"*status=\"2xx\"",
        "thinkfleet_connections{status=\"active\"}",
        "thinkfleet_sandbox_slots 64",
        "thinkfleet_sandbox_slots_in_use",
        "thinkfleet_store_batch_rows_bucket{writer=\"flow runs\",le=\"1\"}",
    ] {
        assert!(has(needle), "no line with {needle} in:\n{text}");
    }
    for planted in [CHAT_KEY, token, flow.as_str()] {
        assert!(!text.contains(planted), "a value reached the metrics");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_finishes_its_request_head_is_disconnected() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let home = DataHome::new().await;
    let app = TestApp::spawn(&home, Settings::default()).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Twenty half-sent requests, as a slow-loris client sends them.
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("write");
        held.push(stream);
    }
    // The server still answers others meanwhile, then closes every half-sent one.
    let ok = reqwest::get(format!("{}/healthz", app.base))
        .await
        .expect("healthz");
    assert_eq!(ok.status(), 200);
    for mut stream in held {
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(std::time::Duration::from_secs(60), stream.read(&mut buf))
            .await
            .expect("the server kept a half-sent request open");
        // Closed (0 bytes) or answered 408 and closed; never a normal answer.
        let n = read.unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    }
}

/// A TCP relay the test can cut: the app reaches PostgreSQL through it, so "the
/// database is unreachable" is real (every connection closed, new ones refused).
struct Relay {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn to(upstream: &str) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let upstream = upstream.to_owned();
        let task = tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                links.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay { addr, task }
    }

    /// Closes every relayed connection and refuses new ones.
    async fn cut(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_fails_within_seconds_when_the_database_becomes_unreachable() {
    let home = DataHome::new().await;
    let Some(url) = home.database_url.clone() else {
        eprintln!("SQLite run: the store is a local file; this test runs in the PostgreSQL pass");
        return;
    };
    let parsed = url::Url::parse(&url).expect("database URL");
    let upstream = format!(
        "{}:{}",
        parsed.host_str().expect("host"),
        parsed.port().unwrap_or(5432)
    );
    let relay = Relay::to(&upstream).await;
    let mut relayed = parsed.clone();
    relayed
        .set_host(Some(&relay.addr.ip().to_string()))
        .expect("host");
    relayed.set_port(Some(relay.addr.port())).expect("port");
    let app = TestApp::spawn(&home, Settings::default().database_url(relayed.as_str())).await;
    let http = reqwest::Client::new();
    let readyz = || async {
        let answer = http
            .get(format!("{}/readyz", app.base))
            .timeout(std::time::Duration::from_secs(20))
            .send()
            .await
            .expect("readyz answers");
        let status = answer.status().as_u16();
        (status, answer.json::<Value>().await.expect("json"))
    };
    assert_eq!(readyz().await.0, 200);

    relay.cut().await;
    let (status, body) = readyz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["store"], false, "{body}");
    // The process itself still answers.
    let health = http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn startup_refuses_a_public_url_browsers_could_not_come_back_to() {
    let home = DataHome::new().await;
    for bad in ["connections.example.com", "ftp://connections.example.com"] {
        let (code, _, err) = home
            .run(
                &["serve", "--listen", "127.0.0.1:0", "--public-url", bad],
                &[],
            )
            .await;
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(
            err.contains("an absolute http:// or https:// URL is required"),
            "{err}"
        );
    }
}
