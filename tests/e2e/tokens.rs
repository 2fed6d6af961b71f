//! A project's API tokens: listed without secrets, never minted by a token, and revoked
//! with effect from the very next request — through the API, through the CLI beside a
//! running server (SQLite: another process on the same file), and on another replica
//! (PostgreSQL).

use serde_json::Value;
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::home::DataHome;

/// The public id of a `tfk_<id>_<secret>` token.
fn id_of(token: &str) -> &str {
    token
        .strip_prefix("tfk_")
        .and_then(|t| t.split_once('_'))
        .map(|(id, _)| id)
        .expect("a project token")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_revoked_through_the_api_is_refused_on_its_next_request() {
    let home = DataHome::new().await;
    let (project, first) = home.project("acme").await;
    let (_, other_project) = home.project("globex").await;
    let second = home.token(&project).await;
    let app = TestApp::spawn(&home, Settings::default()).await;
    let api = app.client(&first);

    // A token cannot mint another (a leaked one would make itself a spare); the
    // refusal is the API's JSON error shape.
    let (status, body) = api.post("/tokens", &Value::Null).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("method_not_allowed")),
        "{body}"
    );
    let (status, listed) = api.get("/tokens").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = listed["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "{listed}");
    assert!(ids.contains(&id_of(&first)) && ids.contains(&id_of(&second)));
    // `tfk_<id>_<secret>`: the secret is everything after the id (it may hold `_`
    // itself, so splitting at the last `_` could leave a two-letter tail that any
    // listing contains by chance).
    let secret = second
        .strip_prefix("tfk_")
        .and_then(|rest| rest.split_once('_'))
        .expect("secret part")
        .1;
    assert!(!listed.to_string().contains(secret), "a secret was listed");

    // Used (and so cached where the server caches), then revoked by the other token.
    let later = app.client(&second);
    assert_eq!(later.get("/connections").await.0, 200);
    let (status, _) = api.delete(&format!("/tokens/{}", id_of(&second))).await;
    assert_eq!(status, 204);
    let (status, body) = later.get("/connections").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(api.get("/connections").await.0, 200);

    // Another project's token, and a token already gone, look the same: not found.
    let (status, body) = api
        .delete(&format!("/tokens/{}", id_of(&other_project)))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("token_not_found"))
    );
    assert_eq!(app.client(&other_project).get("/connections").await.0, 200);
    let (status, _) = api.delete(&format!("/tokens/{}", id_of(&second))).await;
    assert_eq!(status, 404);

    // A token may revoke itself; that request is its last.
    let (status, _) = api.delete(&format!("/tokens/{}", id_of(&first))).await;
    assert_eq!(status, 204);
    assert_eq!(api.get("/connections").await.0, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_revoked_by_the_cli_beside_a_running_server_is_refused_at_once() {
    let home = DataHome::new().await;
    let (project, token) = home.project("acme").await;
    let app = TestApp::spawn(&home, Settings::default()).await;
    let api = app.client(&token);
    for _ in 0..3 {
        assert_eq!(api.get("/connections").await.0, 200);
    }
    let (code, out, err) = home
        .run(&["token", "list", "--project", &project], &[])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(id_of(&token)), "{out}");
    assert!(!out.contains(&token), "the list printed a secret");

    // The whole token is accepted as well as its id.
    let (code, out, err) = home
        .run(&["token", "revoke", "--project", &project, &token], &[])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !format!("{out}{err}").contains(&token),
        "the CLI echoed the token"
    );
    let (status, body) = api.get("/connections").await;
    assert_eq!(status, 401, "{body}");

    let (code, _, err) = home
        .run(
            &["token", "revoke", "--project", &project, id_of(&token)],
            &[],
        )
        .await;
    assert_ne!(code, 0);
    assert!(err.contains("no API token"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_revoked_on_one_replica_is_refused_by_the_other_at_once() {
    let home = DataHome::new().await;
    if home.database_url.is_none() {
        eprintln!("SQLite run: replicas share PostgreSQL; this test runs in the PostgreSQL pass");
        return;
    }
    let (project, admin) = home.project("acme").await;
    let token = home.token(&project).await;
    let one = TestApp::spawn(&home, Settings::default()).await;
    let two = TestApp::spawn(&home, Settings::default()).await;
    for _ in 0..3 {
        assert_eq!(two.client(&token).get("/connections").await.0, 200);
    }
    let (status, _) = one
        .client(&admin)
        .delete(&format!("/tokens/{}", id_of(&token)))
        .await;
    assert_eq!(status, 204);
    assert_eq!(two.client(&token).get("/connections").await.0, 401);
}
