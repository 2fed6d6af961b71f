//! The API's side of the flow pages: the recorded runs of a flow (newest first, the
//! newest 50 kept, another project's flow not found), replacing a connection across
//! flows (same piece only, all or nothing, audited), and the Audit filters.

use crate::web_flows::{CHAT_KEY, CHAT_KEY_2, ChatApp, openai_connection, openai_flow};
use serde_json::json;
use thinkfleet_tests::app::Settings;

#[tokio::test(flavor = "multi_thread")]
async fn runs_are_recorded_newest_first_and_only_the_newest_fifty_are_kept() {
    let c = ChatApp::start(Settings::default()).await;
    let api = c.api();
    openai_connection(&api, "gpt", CHAT_KEY).await;
    let flow = openai_flow(&api, "Digest", "gpt", 1).await;
    assert_eq!(
        api.get(&format!("/flows/{flow}/runs")).await.1["runs"],
        json!([])
    );
    for _ in 0..53 {
        let (status, report) = api.post(&format!("/flows/{flow}/runs"), &json!({})).await;
        assert_eq!(
            (status, report["status"].as_str()),
            (200, Some("succeeded"))
        );
    }
    let (status, body) = api.get(&format!("/flows/{flow}/runs")).await;
    assert_eq!(status, 200, "{body}");
    let runs = body["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 50);
    let ids: Vec<i64> = runs.iter().map(|r| r["id"].as_i64().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let newest = &runs[0];
    assert_eq!(newest["status"], "succeeded");
    assert_eq!(
        newest["report"]["steps"][0]["output"]["reply"],
        "All systems go"
    );
    assert!(newest["started_at"].as_str().expect("at").ends_with('Z'));

    // Another project: its token finds no such flow.
    let (_, other) = c.home.project("globex").await;
    let (status, body) = c
        .app
        .client(&other)
        .get(&format!("/flows/{flow}/runs"))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("flow_not_found"))
    );
    // Deleting the flow deletes its runs with it.
    assert_eq!(api.delete(&format!("/flows/{flow}")).await.0, 204);
    assert_eq!(api.get(&format!("/flows/{flow}/runs")).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn replacing_a_connection_rewrites_every_flow_of_the_project_or_none() {
    let c = ChatApp::start(Settings::default()).await;
    let api = c.api();
    openai_connection(&api, "old", CHAT_KEY).await;
    openai_connection(&api, "new", CHAT_KEY_2).await;
    let first = openai_flow(&api, "Digest", "old", 2).await;
    let second = openai_flow(&api, "Alerts", "old", 1).await;
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "postgres", "display_name": "db", "external_id": "db",
                    "value": {"type": "custom", "props": {"host": "db.example", "database": "app",
                    "user": "svc", "password": "pw-planted-1"}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Refused: a connection of another piece, one that does not exist, itself.
    for with in ["db", "nope", "old"] {
        let (status, body) = api
            .post("/connections/old/replace", &json!({"with": with}))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("invalid_request")),
            "{with}: {body}"
        );
    }
    let (status, body) = api
        .post("/connections/ghost/replace", &json!({"with": "new"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("connection_not_found"))
    );
    for id in [&first, &second] {
        let (_, flow) = api.get(&format!("/flows/{id}")).await;
        assert_eq!(flow["steps"][0]["auth"], "{{connections['old']}}");
    }

    let (status, done) = api
        .post("/connections/old/replace", &json!({"with": "new"}))
        .await;
    assert_eq!((status, &done), (200, &json!({"flows": 2, "steps": 3})));
    for id in [&first, &second] {
        let (_, flow) = api.get(&format!("/flows/{id}")).await;
        for step in flow["steps"].as_array().expect("steps") {
            assert_eq!(step["auth"], "{{connections['new']}}");
        }
    }
    let (_, usage) = api.get("/connections/old/usage").await;
    assert_eq!(usage["flows"], json!([]));
    let (_, usage) = api.get("/connections/new/usage").await;
    assert_eq!(usage["flows"].as_array().map(Vec::len), Some(2));
    // Nothing left to replace: zero, and no error.
    let (status, done) = api
        .post("/connections/old/replace", &json!({"with": "new"}))
        .await;
    assert_eq!((status, &done), (200, &json!({"flows": 0, "steps": 0})));

    // The trail, filtered by kind, by connection and by flow.
    let (_, replaced) = api.get("/audit?event=replaced").await;
    let events = replaced["events"].as_array().expect("events");
    assert_eq!(events.len(), 2, "{replaced}");
    assert!(events.iter().all(|e| e["event"] == "replaced"));
    let (_, replacing) = api.get("/audit?connection=new&event=replacing").await;
    assert_eq!(replacing["events"].as_array().map(Vec::len), Some(2));
    api.post(&format!("/flows/{second}/runs"), &json!({})).await;
    let (_, by_flow) = api.get(&format!("/audit?flow={second}")).await;
    let events = by_flow["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{by_flow}");
    assert_eq!(events[0]["event"], "used");
}
