//! Pieces installed on a live host (`POST /api/v1/admin/pieces`, `thinkfleet piece
//! install`): live at once on the server that took it, on other replicas and beside
//! another process within seconds, with no restart; an upgrade leaves a call already
//! running on the old version; bad uploads change nothing; an uninstall is refused
//! while flows use the piece unless forced. The piece is the test-only `versioned`,
//! built twice from one source (1.0.0 and 2.0.0).

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::client::Client;
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::{Mock, piece_path};

const ADMIN: &str = "admin-token-piece-install-5";

fn component(name: &str) -> Vec<u8> {
    std::fs::read(piece_path(name)).expect("built test piece")
}

async fn install(admin: &Client, name: &str) -> (u16, Value) {
    admin
        .send_raw("POST", "/admin/pieces", "application/wasm", component(name))
        .await
}

/// The version `GET /pieces/versioned` shows (None: not offered).
async fn offered_version(api: &Client) -> Option<String> {
    let (status, body) = api.get("/pieces/versioned").await;
    (status == 200).then(|| body["version"].as_str().unwrap_or_default().to_owned())
}

/// Waits (at most 20 s) until `api` offers `versioned` at `version` (None: not at all).
async fn until_offered(api: &Client, version: Option<&str>) {
    let start = Instant::now();
    loop {
        let now = offered_version(api).await;
        if now.as_deref() == version {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "still {now:?} after 20 s, expected {version:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A flow of one step running `versioned`'s `action` with `input`; returns its id.
async fn flow(api: &Client, name: &str, action: &str, input: Value) -> String {
    let (status, made) = api
        .post(
            "/flows",
            &json!({"name": name, "steps": [
                {"name": "only", "piece": "versioned", "action": action, "input": input}
            ]}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    made["id"].as_str().expect("flow id").to_owned()
}

async fn run(api: &Client, flow: &str) -> Value {
    let (status, report) = api.post(&format!("/flows/{flow}/runs"), &json!({})).await;
    assert_eq!(status, 200, "{report}");
    report
}

/// The version the run's only step reports, or its error code.
fn answered(report: &Value) -> String {
    let step = &report["steps"][0];
    step["output"]["version"]
        .as_str()
        .or_else(|| step["error"]["code"].as_str())
        .unwrap_or("?")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_install_is_live_at_once_and_an_upgrade_leaves_a_running_call_on_its_version() {
    let slow = Mock::start_holding(|_| (200, json!({})), |r| r.path == "/wait").await;
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let app = TestApp::spawn(
        &home,
        Settings::default()
            .admin_token(ADMIN)
            .route("slow.versioned.test", &slow.base),
    )
    .await;
    let (api, admin) = (app.client(&token), app.client(ADMIN));
    assert_eq!(offered_version(&api).await, None);

    let (status, installed) = install(&admin, "versioned-1").await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["action"], "install");
    assert_eq!(installed["version"], "1.0.0");
    assert_eq!(installed["live"], true);
    assert_eq!(installed["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(offered_version(&api).await.as_deref(), Some("1.0.0"));

    let quick = flow(&api, "Which version", "version", json!({})).await;
    let waits = flow(
        &api,
        "Slow call",
        "wait",
        json!({"url": "https://slow.versioned.test/wait"}),
    )
    .await;
    assert_eq!(answered(&run(&api, &quick).await), "1.0.0");

    // A call on 1.0.0 is held open at the slow service while 2.0.0 is installed.
    slow.close();
    let held_api = api.clone();
    let held = tokio::spawn(async move { run(&held_api, &waits).await });
    let start = Instant::now();
    while slow.held() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the slow call never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, upgraded) = install(&admin, "versioned-2").await;
    assert_eq!(status, 201, "{upgraded}");
    assert_eq!(upgraded["action"], "upgrade");
    assert_eq!(upgraded["previous_version"], "1.0.0");
    assert_eq!(
        answered(&run(&api, &quick).await),
        "2.0.0",
        "the next call uses the new version"
    );
    assert!(!held.is_finished(), "the held call is still running");
    slow.open();
    let report = held.await.expect("held run");
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(
        answered(&report),
        "1.0.0",
        "the call in flight finished on the version it started with"
    );

    // The same bytes again change nothing.
    let (status, again) = install(&admin, "versioned-2").await;
    assert_eq!((status, again["action"].as_str()), (200, Some("unchanged")));

    let (status, listed) = admin.get("/admin/pieces").await;
    assert_eq!(status, 200, "{listed}");
    let pieces = listed["pieces"].as_array().expect("pieces");
    assert_eq!(pieces.len(), 1);
    assert_eq!(pieces[0]["name"], "versioned");
    assert_eq!(pieces[0]["version"], "2.0.0");
    assert_eq!(pieces[0]["sha256"], upgraded["sha256"]);
    assert_eq!(pieces[0]["live"], true);
    let events = listed["events"].as_array().expect("events");
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        ["upgrade", "install"],
        "newest first, nothing for the no-op"
    );
    assert_eq!(events[0]["actor"], "admin API (127.0.0.1)");
    assert_eq!(events[0]["previous_sha256"], installed["sha256"]);
    assert_eq!(events[1]["version"], "1.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_piece_installed_by_the_cli_beside_a_running_server_goes_live_there() {
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let app = TestApp::spawn(&home, Settings::default()).await;
    let api = app.client(&token);
    let v1 = piece_path("versioned-1");
    let (code, out, err) = home
        .run(&["piece", "install", v1.to_str().expect("path")], &[])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("installed versioned 1.0.0"), "{out}");
    until_offered(&api, Some("1.0.0")).await;
    let quick = flow(&api, "Which version", "version", json!({})).await;
    assert_eq!(answered(&run(&api, &quick).await), "1.0.0");

    let v2 = piece_path("versioned-2");
    let (code, out, err) = home
        .run(&["piece", "install", v2.to_str().expect("path")], &[])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("upgraded versioned from 1.0.0 to 2.0.0"),
        "{out}"
    );
    until_offered(&api, Some("2.0.0")).await;
    assert_eq!(answered(&run(&api, &quick).await), "2.0.0");

    // `piece list` names where each piece comes from, and the history.
    let (code, out, err) = home.run(&["piece", "list"], &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("versioned\t2.0.0\tthe installed pieces")),
        "{out}"
    );
    assert!(out.contains("upgrade versioned 2.0.0 by cli ("), "{out}");

    // Refused while the flow uses it; forced, the flow's step fails `piece_not_found`.
    let (code, out, err) = home.run(&["piece", "uninstall", "versioned"], &[]).await;
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("used by 1 flow") && err.contains("Which version"),
        "{err}"
    );
    assert_eq!(offered_version(&api).await.as_deref(), Some("2.0.0"));
    let (code, out, err) = home
        .run(&["piece", "uninstall", "versioned", "--force"], &[])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    until_offered(&api, None).await;
    assert_eq!(answered(&run(&api, &quick).await), "piece_not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_replica_serves_each_new_version_without_a_restart() {
    let home = DataHome::new().await;
    if home.database_url.is_none() {
        eprintln!("SQLite run: replicas share PostgreSQL; this test runs in the PostgreSQL pass");
        return;
    }
    let (_, token) = home.project("acme").await;
    let one = TestApp::spawn(&home, Settings::default().admin_token(ADMIN)).await;
    let two = TestApp::spawn(&home, Settings::default().admin_token(ADMIN)).await;
    let (admin, api_two) = (one.client(ADMIN), two.client(&token));
    assert_eq!(offered_version(&api_two).await, None);

    assert_eq!(install(&admin, "versioned-1").await.0, 201);
    until_offered(&api_two, Some("1.0.0")).await;
    let quick = flow(&api_two, "Which version", "version", json!({})).await;
    assert_eq!(answered(&run(&api_two, &quick).await), "1.0.0");

    assert_eq!(install(&admin, "versioned-2").await.0, 201);
    until_offered(&api_two, Some("2.0.0")).await;
    assert_eq!(answered(&run(&api_two, &quick).await), "2.0.0");

    // Uninstalled on the second replica: gone from the first too.
    let (status, body) = two
        .client(ADMIN)
        .delete("/admin/pieces/versioned?force=true")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["flows_affected"], 1);
    until_offered(&one.client(&token), None).await;
}

/// An install answer is 422 `invalid_piece` with `words` in its message.
fn assert_invalid_piece((status, body): (u16, Value), words: &str) {
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_piece")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_uploads_are_refused_with_clear_errors_and_change_nothing() {
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let app = TestApp::spawn(&home, Settings::default().admin_token(ADMIN)).await;
    let (api, admin) = (app.client(&token), app.client(ADMIN));
    let (_, before) = api.get("/pieces").await;

    // Not WebAssembly at all.
    let upload = admin
        .send_raw(
            "POST",
            "/admin/pieces",
            "application/wasm",
            b"MZ\x90\x00 not wasm".to_vec(),
        )
        .await;
    assert_invalid_piece(upload, "not a WebAssembly file");
    // A component of another world.
    assert_invalid_piece(install(&admin, "not-a-piece").await, "thinkfleet:piece");
    // A component with the contract's names but a `validate` of another type: refused
    // at install, the export named, rather than installed to fail every call.
    assert_invalid_piece(
        install(&admin, "mistyped").await,
        "export `validate` does not have the contract's type",
    );
    // Too large: refused from its declared length, before the body is read.
    let (status, body) = admin
        .send_declared("POST", "/admin/pieces", "application/wasm", (32 << 20) + 1)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large")),
        "{body}"
    );
    // Not bytes.
    let (status, body) = admin
        .send_raw("POST", "/admin/pieces", "application/json", b"{}".to_vec())
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    // An example's name: an installed piece never shadows a file's.
    let (status, body) = install(&admin, "openai").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("piece_name_taken")),
        "{body}"
    );
    // Without the admin token, nothing is even read.
    let (status, _) = api
        .send_raw(
            "POST",
            "/admin/pieces",
            "application/wasm",
            component("versioned-1"),
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = admin.delete("/admin/pieces/openai").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("piece_not_installed")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("loaded from"),
        "{body}"
    );

    let (_, listed) = admin.get("/admin/pieces").await;
    assert_eq!(listed, json!({"pieces": [], "events": []}));
    assert_eq!(api.get("/pieces").await.1, before);
    assert_eq!(offered_version(&api).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uninstall_is_refused_while_flows_use_the_piece_unless_forced() {
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let (_, other_token) = home.project("globex").await;
    let app = TestApp::spawn(&home, Settings::default().admin_token(ADMIN)).await;
    let (api, admin) = (app.client(&token), app.client(ADMIN));
    assert_eq!(install(&admin, "versioned-1").await.0, 201);
    let quick = flow(&api, "Daily version check", "version", json!({})).await;
    flow(
        &app.client(&other_token),
        "Globex check",
        "version",
        json!({}),
    )
    .await;

    let (status, body) = admin.delete("/admin/pieces/versioned").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("piece_in_use")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("2 flows") && message.contains("Daily version check"),
        "{message}"
    );
    assert_eq!(
        answered(&run(&api, &quick).await),
        "1.0.0",
        "nothing changed"
    );

    let (status, body) = admin.delete("/admin/pieces/versioned?force=true").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["removed_version"], "1.0.0");
    assert_eq!(body["flows_affected"], 2);
    assert_eq!(offered_version(&api).await, None);
    assert_eq!(answered(&run(&api, &quick).await), "piece_not_found");
    let (status, _) = admin.delete("/admin/pieces/versioned").await;
    assert_eq!(status, 404);
    let (_, listed) = admin.get("/admin/pieces").await;
    assert_eq!(listed["events"][0]["action"], "uninstall");
    assert_eq!(listed["events"][0]["previous_version"], "1.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_piece_of_an_installed_name_is_offered_and_the_installed_one_shows_not_live() {
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let v1 = piece_path("versioned-1");
    let (code, out, err) = home
        .run(&["piece", "install", v1.to_str().expect("path")], &[])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    // Then an operator drops 2.0.0 into DATA_DIR/pieces/: the file's piece is offered.
    let pieces = home.path().join("pieces");
    std::fs::create_dir_all(&pieces).expect("pieces dir");
    std::fs::copy(piece_path("versioned-2"), pieces.join("versioned.wasm")).expect("copy");
    let app = TestApp::spawn(&home, Settings::default().admin_token(ADMIN)).await;
    assert_eq!(
        offered_version(&app.client(&token)).await.as_deref(),
        Some("2.0.0")
    );
    let (_, listed) = app.client(ADMIN).get("/admin/pieces").await;
    assert_eq!(listed["pieces"][0]["version"], "1.0.0");
    assert_eq!(listed["pieces"][0]["live"], false, "{listed}");
    assert!(
        app.log()
            .contains("an installed piece has the name of a piece loaded from a file"),
        "the start says so"
    );
    // And the installed one cannot be upgraded past the file either.
    let (status, body) = install(&app.client(ADMIN), "versioned-2").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("piece_name_taken")),
        "{body}"
    );
}
