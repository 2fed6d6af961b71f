//! Moving a deployment from SQLite to PostgreSQL: `thinkfleet store copy --to URL`
//! copies every table into a new database in one transaction; a server started there
//! with the same data directory (and so the same key) serves the same connections,
//! flows, run history, audit trail and installed pieces, and writes new rows past the
//! copied ids. Runs in the PostgreSQL pass (it needs a server to copy to).

use serde_json::json;
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::home::{DataHome, fresh_database};
use thinkfleet_tests::piece_path;

/// What a SQLite deployment holds before the copy: a PostgreSQL connection, a flow
/// using it and one run of it. The flow's id, the run's output and how many audit
/// events there are.
async fn serve_a_while(home: &DataHome, token: &str) -> (String, serde_json::Value, usize) {
    let before = TestApp::spawn(home, Settings::default()).await;
    let api = before.client(token);
    let (status, made) = api
        .post(
            "/connections",
            &json!({"piece": "postgres", "display_name": "Warehouse", "external_id": "warehouse",
                    "value": {"type": "custom", "props": {"host": "db.internal", "database": "app",
                              "user": "svc", "password": "copy-planted-password-81"}}}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let (status, flow) = api
        .post(
            "/flows",
            &json!({"name": "Nightly export", "steps": [
                {"name": "uri", "piece": "postgres", "action": "connection_uri",
                 "auth": "{{connections['warehouse']}}"}]}),
        )
        .await;
    assert_eq!(status, 201, "{flow}");
    let flow_id = flow["id"].as_str().expect("flow id").to_owned();
    let (status, report) = api
        .post(&format!("/flows/{flow_id}/runs"), &json!({}))
        .await;
    assert_eq!(
        (status, report["status"].as_str()),
        (200, Some("succeeded")),
        "{report}"
    );
    let uri_before = report["steps"][0]["output"].clone();
    let (_, audit) = api.get("/audit").await;
    before.stop().await;
    (flow_id, uri_before, events(&audit))
}

/// How many events an audit page holds.
fn events(audit: &serde_json::Value) -> usize {
    audit["events"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_store_copied_to_postgresql_serves_everything_it_held() {
    let Some(postgres) = fresh_database().await else {
        eprintln!("SQLite run: the copy needs a PostgreSQL server; it runs in the PostgreSQL pass");
        return;
    };
    let home = DataHome {
        dir: tempfile::tempdir().expect("tempdir"),
        database_url: None,
    };
    let (project, token) = home.project("acme").await;
    home.user(
        "ops@example.com",
        "correct horse battery",
        true,
        &[&project],
    )
    .await;
    let versioned = piece_path("versioned-1");
    let (code, out, err) = home
        .run(
            &["piece", "install", versioned.to_str().expect("path")],
            &[],
        )
        .await;
    assert_eq!(code, 0, "{out}{err}");

    let (flow_id, uri_before, events_before) = serve_a_while(&home, &token).await;

    let (code, out, err) = home.run(&["store", "copy", "--to", &postgres], &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("connections\t1") && out.contains("flow_runs\t1"),
        "{out}"
    );

    let after = TestApp::spawn(&home, Settings::default().database_url(&postgres)).await;
    let api = after.client(&token);
    let (status, listed) = api.get("/connections").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["connections"][0]["external_id"], "warehouse");
    // The sealed credential opens with the same key: the run renders the same URI.
    let (status, report) = api
        .post(&format!("/flows/{flow_id}/runs"), &json!({}))
        .await;
    assert_eq!(
        (status, report["status"].as_str()),
        (200, Some("succeeded")),
        "{report}"
    );
    assert_eq!(report["steps"][0]["output"], uri_before);
    // The history came along, and new rows take ids past the copied ones.
    let (_, runs) = api.get(&format!("/flows/{flow_id}/runs")).await;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(2), "{runs}");
    let (_, audit_after) = api.get("/audit").await;
    assert_eq!(events(&audit_after), events_before + 1, "{audit_after}");
    assert_eq!(api.get("/pieces/versioned").await.1["version"], "1.0.0");
    // A person can still sign in.
    let visitor = thinkfleet_tests::web::Visitor::new(&after.base);
    visitor
        .login("ops@example.com", "correct horse battery")
        .await;
    after.stop().await;

    // A second copy into a database that now holds data is refused, and changes nothing.
    let (code, out, err) = home.run(&["store", "copy", "--to", &postgres], &[]).await;
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("not empty"), "{err}");
}
