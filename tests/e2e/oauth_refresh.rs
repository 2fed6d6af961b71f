//! OAuth2 refresh as operators meet it, against the strict local provider (rotating
//! refresh tokens, reuse revokes the grant, access tokens refused once expired):
//! sustained runs across many expiries on one server and on two replicas sharing
//! PostgreSQL, a replica killed while it refreshes, a provider outage, a revoked grant,
//! and a crash between the provider's rotation and the host's write.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::load::{Outcome, sustain};
use thinkfleet_tests::oauth_fixture::{
    Setup, authorize, connect_sheets, connect_slack, register_app, run, setup, sheets_flow,
    slack_flow, start_server,
};

/// Lifetime of the tokens in the sustained tests, and the share of it after which the
/// host refreshes (the margin is a quarter of a short lifetime).
const LIFETIME: Duration = Duration::from_secs(5);

/// The most refreshes a run of `elapsed` may make: one per token, each token used for
/// three quarters of its life, plus the one in flight at the end.
fn most_refreshes(elapsed: Duration, lifetime: Duration) -> usize {
    (elapsed.as_secs_f64() / (lifetime.as_secs_f64() * 0.75)).floor() as usize + 1
}

/// The fewest: every token that expired during the load was replaced.
fn fewest_refreshes(elapsed: Duration, lifetime: Duration) -> usize {
    (elapsed.as_secs_f64() / lifetime.as_secs_f64()).floor() as usize
}

fn codes(outcomes: &[Outcome]) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for o in outcomes {
        let code = o
            .error_code
            .clone()
            .unwrap_or_else(|| format!("{} {}", o.status, o.run));
        match counts.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => counts.push((code, 1)),
        }
    }
    counts
}

async fn connection(s: &Setup, external_id: &str) -> Value {
    let api = s.server.client(&s.token);
    api.get(&format!("/connections/{external_id}")).await.1
}

/// The refresh lease as the database holds it: (holder, until).
async fn lease(home: &DataHome, external_id: &str) -> (String, i64) {
    use sqlx::Row as _;
    let mut db = home.connect().await;
    let row = sqlx::query(
        "SELECT refresh_lease_holder, refresh_lease_until FROM connections WHERE external_id = $1",
    )
    .bind(external_id)
    .fetch_one(&mut db)
    .await
    .expect("lease");
    (row.get(0), row.get(1))
}

/// How many audit events of a kind the database holds.
async fn audit_count(home: &DataHome, event: &str) -> usize {
    use sqlx::Row as _;
    let mut db = home.connect().await;
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM audit_events WHERE event = $1")
        .bind(event)
        .fetch_one(&mut db)
        .await
        .expect("count")
        .get(0);
    usize::try_from(n).expect("count")
}

/// Sends a run and forgets it (its server is about to be killed).
fn fire_run(server: &TestApp, token: &str, flow: &str) {
    let request = reqwest::Client::new()
        .post(format!("{}/api/v1/flows/{flow}/runs", server.base))
        .bearer_auth(token)
        .json(&json!({}));
    tokio::spawn(async move {
        let _ = request.send().await;
    });
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn five_second_tokens_are_refreshed_once_each_under_sustained_runs() {
    let s = setup(false, Settings::default()).await;
    register_app(&s, "slack").await;
    s.provider.set_expires_in(LIFETIME.as_secs());
    let connected = Instant::now();
    connect_slack(&s, "slack-main").await;
    let api = s.server.client(&s.token);
    let flow = slack_flow(&api, "slack-main").await;
    let outcomes = sustain(
        std::slice::from_ref(&api),
        &flow,
        32,
        Duration::from_secs(12),
    )
    .await;
    let elapsed = connected.elapsed();

    let failed: Vec<_> = outcomes.iter().filter(|o| !o.succeeded()).collect();
    assert!(failed.is_empty(), "{:?}", codes(&outcomes));
    assert_eq!(s.provider.refresh_token_reuses(), 0);
    assert_eq!(s.provider.expired_token_uses(), 0);
    let refreshes = s.provider.refresh_requests();
    assert!(
        (fewest_refreshes(elapsed, LIFETIME)..=most_refreshes(elapsed, LIFETIME))
            .contains(&refreshes),
        "{refreshes} refreshes in {elapsed:?} of {} runs",
        outcomes.len()
    );
    assert_eq!(audit_count(&s.home, "refreshed").await, refreshes);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_under_sustained_runs_never_present_a_rotated_refresh_token() {
    let s = setup(false, Settings::default()).await;
    if s.home.database_url.is_none() {
        eprintln!("SQLite run: replicas share PostgreSQL; this test runs in the PostgreSQL pass");
        return;
    }
    register_app(&s, "slack").await;
    s.provider.set_expires_in(LIFETIME.as_secs());
    let other = start_server(&s.home, "127.0.0.1:0", &s.provider, Settings::default()).await;
    let connected = Instant::now();
    connect_slack(&s, "slack-main").await;
    let replicas = [s.server.client(&s.token), other.client(&s.token)];
    let flow = slack_flow(&replicas[0], "slack-main").await;
    // Slow refreshes widen the window in which the other replica reads the old token.
    s.provider.delay_refresh(Duration::from_millis(150));
    let outcomes = sustain(&replicas, &flow, 100, Duration::from_secs(16)).await;
    let elapsed = connected.elapsed();

    assert_eq!(
        s.provider.refresh_token_reuses(),
        0,
        "{:?}",
        codes(&outcomes)
    );
    assert!(!s.provider.last_grant_revoked());
    assert!(
        outcomes.iter().all(Outcome::succeeded),
        "{:?}",
        codes(&outcomes)
    );
    assert!(outcomes.iter().any(|o| o.replica == 1) && outcomes.iter().any(|o| o.replica == 0));
    assert_eq!(s.provider.expired_token_uses(), 0);
    let refreshes = s.provider.refresh_requests();
    assert!(
        (fewest_refreshes(elapsed, LIFETIME)..=most_refreshes(elapsed, LIFETIME))
            .contains(&refreshes),
        "{refreshes} refreshes in {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_survivor_serves_at_once_when_the_replica_refreshing_is_killed() {
    let s = setup(false, Settings::default().process()).await;
    if s.home.database_url.is_none() {
        eprintln!("SQLite run: replicas share PostgreSQL; this test runs in the PostgreSQL pass");
        return;
    }
    register_app(&s, "slack").await;
    // 16 s tokens: due with 4 s left, usable while more than 2 s are left.
    s.provider.set_expires_in(16);
    let survivor = start_server(&s.home, "127.0.0.1:0", &s.provider, Settings::default()).await;
    connect_slack(&s, "slack-main").await;
    let flow = slack_flow(&survivor.client(&s.token), "slack-main").await;
    tokio::time::sleep(Duration::from_millis(12_300)).await;

    // The first replica claims the lease and hangs at the provider; then it is killed.
    s.provider.delay_refresh(Duration::from_secs(60));
    fire_run(&s.server, &s.token, &flow);
    wait_for("the refresh to reach the provider", || {
        s.provider.refresh_requests() == 1
    })
    .await;
    let (holder, _) = lease(&s.home, "slack-main").await;
    assert!(!holder.is_empty());
    let Setup {
        provider,
        home,
        token,
        server,
        ..
    } = s;
    server.kill().await;

    // The survivor answers with the still-valid token while the dead lease still holds.
    let api = survivor.client(&token);
    let report = run(&api, &flow).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    let (still, until) = lease(&home, "slack-main").await;
    assert_eq!(
        still, holder,
        "the survivor waited for the dead lease to lapse"
    );
    assert!(until > thinkfleet::store::now_ms());
    assert_eq!(provider.refresh_requests(), 1);
    assert_eq!(provider.expired_token_uses(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_outage_is_asked_once_per_backoff_step_and_never_yields_invalid_api_key() {
    let s = setup(false, Settings::default()).await;
    register_app(&s, "slack").await;
    s.provider.set_expires_in(3);
    connect_slack(&s, "slack-main").await;
    let api = s.server.client(&s.token);
    let flow = slack_flow(&api, "slack-main").await;
    s.provider.fail_token_with_500(1_000_000);
    let outcomes = sustain(std::slice::from_ref(&api), &flow, 8, Duration::from_secs(8)).await;

    // Due after 2.25 s; attempts then 1, 2 and 4 s apart: at most four in 8 s.
    let attempts = s.provider.refresh_requests();
    assert!((1..=4).contains(&attempts), "{attempts} token requests");
    let counts = codes(&outcomes);
    assert!(
        counts
            .iter()
            .all(|(c, _)| c == "200 succeeded" || c == "refresh_failed"),
        "{counts:?}"
    );
    assert!(
        counts.iter().any(|(c, _)| c == "refresh_failed"),
        "{counts:?}"
    );
    assert_eq!(s.provider.expired_token_uses(), 0);
    assert_eq!(audit_count(&s.home, "refresh_failed").await, attempts);
    if attempts >= 3 {
        assert_eq!(connection(&s, "slack-main").await["status"], "error");
    }

    // The provider comes back: the next step's attempt succeeds and the connection
    // is active again.
    s.provider.fail_token_with_500(0);
    let mut report = run(&api, &flow).await;
    for _ in 0..100 {
        if report["status"] == "succeeded" {
            break;
        }
        assert_eq!(
            report["steps"][0]["error"]["code"], "refresh_failed",
            "{report}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        report = run(&api, &flow).await;
    }
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(connection(&s, "slack-main").await["status"], "active");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_grant_is_presented_to_the_provider_once() {
    // google-sheets reports a refused token as "Invalid API key", which marks the
    // connection `error`: runs still in flight after the revocation must not turn an
    // `expired` connection back into one the host tries again.
    let s = setup(true, Settings::default()).await;
    s.provider.set_expires_in(3);
    let api = s.server.client(&s.token);
    connect_sheets(&s, "sheets").await;
    let flow = sheets_flow(&api, "sheets").await;
    let clients = [api.clone()];
    let load = sustain(&clients, &flow, 16, Duration::from_secs(6));
    let (outcomes, ()) = tokio::join!(load, async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        s.provider.revoke_all_grants();
    });

    // Runs in flight met the revoked access token ("Invalid API key") and the refresh
    // met invalid_grant once; from then on the connection is expired and stays so.
    let counts = codes(&outcomes);
    assert_eq!(s.provider.refresh_requests(), 1, "{counts:?}");
    assert_eq!(connection(&s, "sheets").await["status"], "expired");
    let last = outcomes.iter().max_by_key(|o| o.sent).expect("runs");
    assert_eq!(last.error_code.as_deref(), Some("connection_expired"));
    assert!(
        counts.iter().all(
            |(c, _)| ["200 succeeded", "invalid_api_key", "connection_expired"]
                .contains(&c.as_str())
        ),
        "{counts:?}"
    );
    assert!(
        counts.iter().any(|(c, _)| c == "invalid_api_key"),
        "{counts:?}"
    );
    let report = run(&api, &flow).await;
    assert_eq!(report["steps"][0]["error"]["message"], "Connection expired");
    assert_eq!(s.provider.refresh_requests(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_rotation_and_storage_expires_the_connection_with_a_clear_reason() {
    let s = setup(false, Settings::default().process()).await;
    register_app(&s, "slack").await;
    s.provider.set_expires_in(2);
    connect_slack(&s, "slack-main").await;
    let api = s.server.client(&s.token);
    let flow = slack_flow(&api, "slack-main").await;
    let before = s.provider.current_refresh_token();
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // The provider rotates the refresh token, then the server dies before it answers.
    s.provider.delay_refresh_response(Duration::from_secs(60));
    fire_run(&s.server, &s.token, &flow);
    wait_for("the provider to rotate the refresh token", || {
        s.provider.current_refresh_token() != before
    })
    .await;
    let Setup {
        provider,
        home,
        token,
        server,
        listen,
        ..
    } = s;
    server.kill().await;
    provider.delay_refresh_response(Duration::ZERO);

    // A new server on the same data: the old refresh token is all it has. It tries it
    // once the dead lease lapses; the provider sees a reuse and ends the grant.
    let server = start_server(&home, &listen, &provider, Settings::default()).await;
    let api = server.client(&token);
    let report = run(&api, &flow).await;
    assert_eq!(
        report["steps"][0]["error"]["code"], "connection_expired",
        "{report}"
    );
    assert_eq!(provider.refresh_token_reuses(), 1);
    let (_, conn) = api.get("/connections/slack-main").await;
    assert_eq!(conn["status"], "expired");
    let (_, audit) = api.get("/audit?connection=slack-main").await;
    assert!(audit.to_string().contains("interrupted_refresh"), "{audit}");

    // Reconnect is the fix.
    provider.set_expires_in(3600);
    let page = authorize(&api, json!({"piece": "slack", "reconnect": "slack-main"})).await;
    assert!(page.contains("Connected (slack-main)"), "{page}");
    assert_eq!(run(&api, &flow).await["status"], "succeeded");
    assert_eq!(
        api.get("/connections/slack-main").await.1["status"],
        "active"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_answer_without_a_refresh_token_keeps_the_old_one() {
    let s = setup(false, Settings::default()).await;
    register_app(&s, "slack").await;
    let api = s.server.client(&s.token);
    s.provider.set_expires_in(1);
    connect_slack(&s, "keeps").await;
    let flow = slack_flow(&api, "keeps").await;
    s.provider.omit_refresh_token_on_refresh(true);
    for expected in [1, 2] {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(run(&api, &flow).await["status"], "succeeded");
        assert_eq!(s.provider.refresh_requests(), expected);
    }
    assert_eq!(s.provider.refresh_token_reuses(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_grant_makes_the_connection_expired_until_a_reconnect() {
    let s = setup(false, Settings::default()).await;
    register_app(&s, "slack").await;
    let api = s.server.client(&s.token);
    s.provider.set_expires_in(1);
    connect_slack(&s, "revoked").await;
    let flow = slack_flow(&api, "revoked").await;
    s.provider.fail_refresh_with_invalid_grant(true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = run(&api, &flow).await;
    assert_eq!(report["steps"][0]["error"]["code"], "connection_expired");
    assert_eq!(report["steps"][0]["error"]["message"], "Connection expired");
    assert_eq!(api.get("/connections/revoked").await.1["status"], "expired");
    let (_, audit) = api.get("/audit?connection=revoked").await;
    assert!(audit.to_string().contains("invalid_grant"), "{audit}");
    s.provider.fail_refresh_with_invalid_grant(false);
    s.provider.set_expires_in(3600);
    let page = authorize(&api, json!({"piece": "slack", "reconnect": "revoked"})).await;
    assert!(page.contains("Connected (revoked)"), "{page}");
    assert_eq!(api.get("/connections/revoked").await.1["status"], "active");
    assert_eq!(run(&api, &flow).await["status"], "succeeded");
}
