//! OAuth2 refresh under sustained load on two replicas sharing PostgreSQL, against the
//! strict local provider (rotating refresh tokens, reuse revokes the grant, expired
//! access tokens refused). Prints refreshes per expiry, runs/s, latency overall and
//! around each refresh, and the survivor's stall after the replica holding the refresh
//! lease is killed. Figures, not a gate: see docs/PERFORMANCE.md.
//!
//! ```sh
//! THINKFLEET_TEST_DATABASE=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p thinkfleet-tests --bench oauth_refresh    # IN_FLIGHT=200 SECONDS=40 LIFETIME=5
//! ```

use serde_json::json;
use std::time::{Duration, Instant};
use thinkfleet_tests::app::Settings;
use thinkfleet_tests::load::{env_or, figures, sustain};
use thinkfleet_tests::oauth_fixture::{
    Setup, connect_slack, register_app, run, setup, slack_flow, start_server,
};

fn main() {
    if std::env::var("THINKFLEET_TEST_DATABASE").is_err() {
        eprintln!("oauth_refresh: set THINKFLEET_TEST_DATABASE (two replicas share PostgreSQL)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        sustained().await;
        stall_after_kill().await;
    });
}

async fn sustained() {
    let in_flight = env_or("IN_FLIGHT", 200_usize);
    let seconds = env_or("SECONDS", 40_u64);
    let lifetime = env_or("LIFETIME", 5_u64);
    let s = setup(false, Settings::default().log("warn").process()).await;
    register_app(&s, "slack").await;
    s.provider.set_expires_in(lifetime);
    let other = start_server(
        &s.home,
        "127.0.0.1:0",
        &s.provider,
        Settings::default().log("warn").process(),
    )
    .await;
    let started = Instant::now();
    connect_slack(&s, "slack-main").await;
    let replicas = [s.server.client(&s.token), other.client(&s.token)];
    let flow = slack_flow(&replicas[0], "slack-main").await;
    let duration = Duration::from_secs(seconds);
    let outcomes = sustain(&replicas, &flow, in_flight, duration).await;
    let elapsed = started.elapsed();
    let all = figures(&outcomes, duration);
    let refreshes = s.provider.refresh_requests();
    let expiries = elapsed.as_secs_f64() / lifetime as f64;
    let failed = outcomes.iter().filter(|o| !o.succeeded()).count();
    // Runs sent in the second after each refresh point of a token's life (3/4 of it).
    let due_every = lifetime as f64 * 0.75;
    let near_refresh: Vec<_> = outcomes
        .iter()
        .filter(|o| (o.sent.as_secs_f64() % due_every) > due_every - 0.5)
        .cloned()
        .collect();
    let around = figures(&near_refresh, duration);
    println!(
        "two replicas, {in_flight} in flight, {seconds} s, {lifetime}-s tokens: {} runs, {failed} failed, \
         {refreshes} refreshes for {expiries:.1} expiries ({:.2} per expiry), {} refresh-token reuses, \
         {} expired-token uses",
        outcomes.len(),
        refreshes as f64 / expiries,
        s.provider.refresh_token_reuses(),
        s.provider.expired_token_uses(),
    );
    println!(
        "  all runs: {:.0} runs/s, p50 {:?}, p99 {:?}, max {:?}",
        all.runs_per_sec, all.p50, all.p99, all.max
    );
    println!(
        "  runs sent in the 0.5 s before each refresh point: p50 {:?}, p99 {:?}, max {:?}",
        around.p50, around.p99, around.max
    );
}

async fn stall_after_kill() {
    let s = setup(false, Settings::default().log("warn").process()).await;
    register_app(&s, "slack").await;
    s.provider.set_expires_in(16);
    let survivor = start_server(
        &s.home,
        "127.0.0.1:0",
        &s.provider,
        Settings::default().log("warn").process(),
    )
    .await;
    connect_slack(&s, "slack-main").await;
    let flow = slack_flow(&survivor.client(&s.token), "slack-main").await;
    tokio::time::sleep(Duration::from_millis(12_300)).await;
    s.provider.delay_refresh(Duration::from_secs(60));
    let request = reqwest::Client::new()
        .post(format!("{}/api/v1/flows/{flow}/runs", s.server.base))
        .bearer_auth(&s.token)
        .json(&json!({}));
    tokio::spawn(async move {
        let _ = request.send().await;
    });
    while s.provider.refresh_requests() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let Setup { token, server, .. } = s;
    server.kill().await;
    let killed = Instant::now();
    let api = survivor.client(&token);
    let report = run(&api, &flow).await;
    println!(
        "kill -9 of the replica holding the refresh lease (token still valid): the survivor's \
         next run answered {} after {:?}",
        report["status"],
        killed.elapsed()
    );
}
