//! The Connections page with 5,000 connections in the project: render time (p50, p99)
//! and bytes of the first page, a middle page, a search and a filter, measured over
//! HTTP against the in-process server with a signed-in session. Pagination keeps every
//! page at 50 rows. Figures, not a gate: see docs/PERFORMANCE.md.
//!
//! ```sh
//! cargo bench -p thinkfleet-tests --bench connections_page     # CONNECTIONS=5000 REQUESTS=200
//! ```

use serde_json::json;
use std::time::{Duration, Instant};
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::load::env_or;
use thinkfleet_tests::web::Visitor;

const PASSWORD: &str = "bench horse battery staple";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let connections = env_or("CONNECTIONS", 5000_usize);
    let requests = env_or("REQUESTS", 200_usize);
    let home = DataHome::new().await;
    let (project, token) = home.project("Bench").await;
    home.user("bench@example.com", PASSWORD, true, &[&project])
        .await;
    let app = TestApp::spawn(&home, Settings::default().log("warn")).await;
    let api = app.client(&token);
    let started = Instant::now();
    for n in 0..connections {
        let value = json!({"type": "custom", "props": {"host": "db.internal", "database": "d",
                           "user": "u", "password": "p"}});
        let (status, body) = api
            .post(
                "/connections",
                &json!({"piece": "postgres", "display_name": format!("Database {n:05}"),
                        "external_id": format!("db-{n:05}"), "value": value}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    eprintln!(
        "created {connections} connections in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let visitor = Visitor::new(&app.base);
    visitor.login("bench@example.com", PASSWORD).await;
    let middle = format!("/connections?page={}", connections / 50 / 2 + 1);
    for (what, path) in [
        ("first page", "/connections"),
        ("middle page", middle.as_str()),
        ("sorted by last used", "/connections?sort=used&dir=desc"),
        ("search", "/connections?q=database+0042"),
        ("filter by status", "/connections?status=expired"),
    ] {
        let mut times = Vec::with_capacity(requests);
        let mut bytes = 0;
        for _ in 0..requests {
            let t = Instant::now();
            let page = visitor.get(path).await;
            times.push(t.elapsed());
            assert_eq!(page.status, 200);
            bytes = page.body.len();
        }
        times.sort();
        let at = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
        println!(
            "{what:>20}: p50 {:>6.2} ms  p99 {:>6.2} ms  {bytes:>6} bytes  ({requests} requests, {connections} connections)",
            ms(at(0.50)),
            ms(at(0.99)),
        );
        visitor.seen.lock().expect("seen").clear();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
