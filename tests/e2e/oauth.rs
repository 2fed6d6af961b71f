//! OAuth2 connections end to end against a strict local provider: the popup flow for
//! slack (operator's app) and google-sheets (the connection's own client), a flow run
//! with the token, refresh exactly once under 200 concurrent runs (and across two
//! servers sharing PostgreSQL), and the background refresher; a piece whose token
//! endpoint is a private address gets nothing sent there. Refresh under sustained
//! load, failures and crashes: `oauth_refresh.rs`.

use crate::connections::assert_nowhere;
use serde_json::json;
use std::time::Duration;
use thinkfleet_tests::app::Settings;
use thinkfleet_tests::client::Client;
use thinkfleet_tests::home::{DataHome, free_port};
use thinkfleet_tests::oauth_fixture::{
    ADMIN_TOKEN, CLIENT_ID, CLIENT_SECRET, Setup, connect_sheets, connect_slack, events,
    no_redirects, register_app, register_app_on, run, setup, sheets_flow, slack_flow, start_server,
};

#[tokio::test(flavor = "multi_thread")]
async fn only_the_admin_token_registers_an_app_and_a_start_without_one_says_what_to_do() {
    let s = setup(false, Settings::default()).await;
    let api = s.server.client(&s.token);
    let body = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    for who in [s.server.client(&s.token), s.server.client("wrong")] {
        let (status, _) = who
            .send("PUT", "/admin/oauth-apps/slack", Some(&body))
            .await;
        assert_eq!(status, 401);
    }
    let (status, body) = api
        .post(
            "/oauth2/start",
            &json!({"piece": "slack", "display_name": "Slack"}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["message"]
            .as_str()
            .expect("m")
            .contains("oauth-app set slack")
    );
    assert_eq!(s.provider.code_exchanges(), 0);
}

/// Starts Slack's authorization as `slack-main` and follows the provider's approval
/// back to our callback; the callback URL (not yet visited).
async fn approved_callback(s: &Setup, api: &Client) -> String {
    let (_, started) = api
        .post(
            "/oauth2/start",
            &json!({"piece": "slack", "display_name": "Team Slack", "external_id": "slack-main"}),
        )
        .await;
    let url = started["authorize_url"].as_str().expect("url").to_owned();
    assert!(
        url.starts_with(&format!("{}/oauth/v2/authorize?", s.provider.base)),
        "{url}"
    );
    let approved = no_redirects().get(&url).send().await.expect("authorize");
    let callback = approved.headers()["location"]
        .to_str()
        .expect("loc")
        .to_owned();
    assert!(callback.starts_with(&format!("http://{}/oauth2/callback?code=", s.listen)));
    callback
}

/// The page a browser gets at `url` (redirects not followed).
async fn page(url: &str) -> String {
    no_redirects()
        .get(url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_connects_in_a_popup_once_per_state_and_a_flow_uses_the_token() {
    let s = setup(false, Settings::default()).await;
    let api = s.server.client(&s.token);
    register_app(&s, "slack").await;

    let callback = approved_callback(&s, &api).await;
    let done = page(&callback).await;
    assert!(done.contains("Connected (slack-main)"), "{done}");
    // The page tells its opener through a script file (the CSP allows no inline one).
    assert!(done.contains("src=\"/assets/oauth-done.js\""), "{done}");
    assert!(done.contains("data-ok=\"true\""), "{done}");
    let (_, conn) = api.get("/connections/slack-main").await;
    assert_eq!(conn["auth_type"], "oauth2");
    assert_eq!(conn["status"], "active");
    assert_eq!(s.provider.code_exchanges(), 1);

    // The state is single-use: replaying the callback stores nothing.
    let replay = page(&callback).await;
    assert!(replay.contains("already used"), "{replay}");
    let (_, list) = api.get("/connections").await;
    assert_eq!(list["connections"].as_array().map(Vec::len), Some(1));
    assert_eq!(s.provider.code_exchanges(), 1);

    // A flow run posts with the stored token, applied by the host.
    let flow = slack_flow(&api, "slack-main").await;
    let report = run(&api, &flow).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    let posted = s
        .provider
        .resource_requests()
        .into_iter()
        .find(|(_, path, _)| path == "/api/chat.postMessage")
        .expect("post");
    let bearer = posted.2.strip_prefix("Bearer ").expect("bearer").to_owned();
    assert!(s.provider.is_access_token_valid(&bearer));
    let refresh = s.provider.current_refresh_token().expect("refresh token");
    assert_nowhere(
        &s.home,
        &s.server,
        &api,
        &[&bearer, &refresh, CLIENT_SECRET],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_refuses_ends_in_a_clear_page_and_nothing_stored() {
    let s = setup(false, Settings::default()).await;
    let api = s.server.client(&s.token);
    register_app(&s, "slack").await;
    s.provider.deny_next_authorization();
    let page = authorize_denied(&api).await;
    assert!(
        page.contains("did not grant access (access_denied)"),
        "{page}"
    );
    assert_eq!(api.get("/connections").await.1["connections"], json!([]));
    assert_eq!(s.provider.code_exchanges(), 0);
}

async fn authorize_denied(api: &Client) -> String {
    let (_, started) = api
        .post(
            "/oauth2/start",
            &json!({"piece": "slack", "display_name": "Nope"}),
        )
        .await;
    let http = no_redirects();
    let url = started["authorize_url"].as_str().expect("url");
    let denied = http.get(url).send().await.expect("authorize");
    let callback = denied.headers()["location"]
        .to_str()
        .expect("loc")
        .to_owned();
    assert!(callback.contains("error=access_denied"));
    http.get(&callback)
        .send()
        .await
        .expect("cb")
        .text()
        .await
        .expect("page")
}

#[tokio::test(flavor = "multi_thread")]
async fn google_sheets_connects_with_its_own_client_and_appends_a_row() {
    let s = setup(true, Settings::default()).await;
    let api = s.server.client(&s.token);
    connect_sheets(&s, "sheets").await;
    let asked = s.provider.authorize_requests();
    assert_eq!(
        asked[0].get("access_type").map(String::as_str),
        Some("offline")
    );
    assert!(asked[0]["scope"].contains("spreadsheets"));
    let flow = sheets_flow(&api, "sheets").await;
    let report = run(&api, &flow).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert!(
        s.provider
            .resource_requests()
            .iter()
            .any(|(m, p, a)| m == "POST"
                && p.starts_with("/v4/spreadsheets/abc")
                && a.starts_with("Bearer at-"))
    );
    assert_nowhere(&s.home, &s.server, &api, &[CLIENT_SECRET]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_expired_under_200_concurrent_runs_is_refreshed_once() {
    let s = setup(false, Settings::default()).await;
    register_app(&s, "slack").await;
    // The first token lives 2 s and has expired when the runs start: none of them may
    // use it, all need the one refresh.
    s.provider.set_expires_in(2);
    connect_slack(&s, "slack-main").await;
    s.provider.set_expires_in(3600);
    s.provider.delay_refresh(Duration::from_millis(300));
    let api = s.server.client(&s.token);
    let flow = slack_flow(&api, "slack-main").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let runs: Vec<_> = (0..200)
        .map(|_| {
            let api = api.clone();
            let flow = flow.clone();
            tokio::spawn(async move { run(&api, &flow).await })
        })
        .collect();
    for r in runs {
        let report = r.await.expect("run");
        assert_eq!(report["status"], "succeeded", "{report}");
    }
    assert_eq!(s.provider.refresh_requests(), 1);
    assert_eq!(s.provider.expired_token_uses(), 0);
    let (_, audit) = api.get("/audit?connection=slack-main&limit=1000").await;
    assert_eq!(events(&audit, "refreshed"), 1);
    assert_eq!(events(&audit, "used"), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_on_one_postgresql_database_refresh_once() {
    let s = setup(false, Settings::default()).await;
    if s.home.database_url.is_none() {
        eprintln!(
            "SQLite run: one server per database file; this test runs in the PostgreSQL pass"
        );
        return;
    }
    register_app(&s, "slack").await;
    s.provider.set_expires_in(2);
    connect_slack(&s, "slack-main").await;
    s.provider.set_expires_in(3600);
    s.provider.delay_refresh(Duration::from_millis(500));
    let other = start_server(&s.home, "127.0.0.1:0", &s.provider, Settings::default()).await;
    let api_a = s.server.client(&s.token);
    let api_b = other.client(&s.token);
    let flow = slack_flow(&api_a, "slack-main").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let runs: Vec<_> = (0..200)
        .map(|i| {
            let api = if i % 2 == 0 {
                api_a.clone()
            } else {
                api_b.clone()
            };
            let flow = flow.clone();
            tokio::spawn(async move { run(&api, &flow).await })
        })
        .collect();
    for r in runs {
        assert_eq!(r.await.expect("run")["status"], "succeeded");
    }
    assert_eq!(s.provider.refresh_requests(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_background_refresher_renews_tokens_before_they_expire() {
    let s = setup(
        false,
        Settings::default().refresh_every(Duration::from_secs(1)),
    )
    .await;
    register_app(&s, "slack").await;
    // A 6 s token is inside the refresher's five-minute window; it is left alone for
    // the first half of its life, then renewed without any run.
    s.provider.set_expires_in(6);
    connect_slack(&s, "slack-main").await;
    // The renewed token is inside the window too: it must not be refreshed again on
    // every pass, only after half its lifetime.
    s.provider.set_expires_in(200);
    let api = s.server.client(&s.token);
    // Passes happen every second; none renews it within the first half of its life.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.provider.refresh_requests(), 0);
    let mut waited = 0;
    while s.provider.refresh_requests() == 0 {
        assert!(waited < 100, "no background refresh within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    // Three more passes: no second refresh, and no run was needed.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(s.provider.refresh_requests(), 1);
    let (_, audit) = api.get("/audit?connection=slack-main").await;
    assert_eq!(events(&audit, "refreshed"), 1);
    assert_eq!(events(&audit, "used"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_endpoint_on_a_private_address_is_sent_nothing_and_nothing_is_stored() {
    // The piece's token URL is the cloud metadata address.
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let installed = home.path().join("pieces");
    std::fs::create_dir_all(&installed).expect("pieces dir");
    std::fs::copy(
        thinkfleet_tests::piece_path("hostile-oauth"),
        installed.join("hostile-oauth.wasm"),
    )
    .expect("install the piece");
    let listen = format!("127.0.0.1:{}", free_port());
    let server = thinkfleet_tests::app::TestApp::spawn(
        &home,
        Settings::default().listen(&listen).admin_token(ADMIN_TOKEN),
    )
    .await;
    register_app_on(&server, "hostile-oauth").await;
    let api = server.client(&token);
    let (status, started) = api
        .post(
            "/oauth2/start",
            &json!({"piece": "hostile-oauth", "display_name": "Hostile"}),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    let authorize = url::Url::parse(started["authorize_url"].as_str().expect("url")).expect("url");
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    // The provider "approves": the callback would now exchange the code.
    let code = "code-planted-5e1d77a0";
    thinkfleet_tests::leak::plant(code);
    let page = no_redirects()
        .get(format!(
            "http://{listen}/oauth2/callback?code={code}&state={state}"
        ))
        .send()
        .await
        .expect("callback")
        .text()
        .await
        .expect("page");
    assert!(page.contains("the token endpoint is refused"), "{page}");
    assert!(page.contains("nothing was stored"), "{page}");
    let (_, list) = api.get("/connections").await;
    assert_eq!(list["connections"], json!([]), "{list}");
    assert!(!server.log().contains(CLIENT_SECRET));
}
