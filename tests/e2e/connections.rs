//! Connections through the real server: what creating, finding, renaming, reconnecting
//! and deleting a secret-text, a basic and a custom connection does over HTTP,
//! cross-project isolation, API errors, and proof that a planted secret never shows in
//! responses, logs, the audit trail or the database.

use base64::Engine as _;
use serde_json::{Value, json};
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::client::Client;
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::{Mock, Recorded};

pub const OPENAI_KEY: &str = "sk-planted-7f3a9c21e5";
const TWILIO_TOKEN: &str = "twtok-planted-99ab31";
const PG_PASSWORD: &str = "pgpw-planted-5521ee";

pub async fn openai_mock() -> Mock {
    Mock::start(|r: &Recorded| {
        let auth = r.header("authorization");
        if auth == format!("Bearer {OPENAI_KEY}") || auth == "Bearer sk-second-key" {
            (200, json!({"data": [{"id": "gpt-4o"}]}))
        } else {
            (
                401,
                json!({"error": {"message": "Incorrect API key provided"}}),
            )
        }
    })
    .await
}

async fn twilio_mock() -> Mock {
    Mock::start(|r: &Recorded| {
        let good = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("AC123:{TWILIO_TOKEN}"))
        );
        if r.header("authorization") == good && r.path == "/2010-04-01/Accounts/AC123.json" {
            (200, json!({"sid": "AC123"}))
        } else {
            (401, json!({"code": 20003, "message": "Authenticate"}))
        }
    })
    .await
}

/// Settings that send each host's requests to its mock.
fn routed(mocks: &[(&str, &Mock)]) -> Settings {
    mocks
        .iter()
        .fold(Settings::default(), |s, (host, m)| s.route(host, &m.base))
}

/// Every event type of the project's trail, oldest first, for one connection.
async fn events(api: &Client, connection: &str) -> Vec<String> {
    let (status, body) = api.get(&format!("/audit?connection={connection}")).await;
    assert_eq!(status, 200, "{body}");
    let mut list: Vec<String> = body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event"].as_str().expect("event").to_owned())
        .collect();
    list.reverse();
    list
}

/// The planted secrets appear nowhere: not in any response, not in the server's
/// log, not in the audit trail, not in the database's bytes.
pub async fn assert_nowhere(home: &DataHome, server: &TestApp, api: &Client, secrets: &[&str]) {
    let (_, audit) = api.get("/audit?limit=1000").await;
    let raw = raw_database(home).await;
    for secret in secrets {
        thinkfleet_tests::leak::plant(secret);
        let hex_form = hex::encode(secret.as_bytes());
        for (what, text) in [
            ("a response", server.responses()),
            ("the log", server.log()),
            ("the audit trail", audit.to_string()),
        ] {
            assert!(!text.contains(secret), "{what} contains a planted secret");
        }
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the database holds a planted secret in plain text"
        );
        assert!(
            !raw.windows(hex_form.len())
                .any(|w| w == hex_form.as_bytes()),
            "the database holds a planted secret in hex"
        );
    }
}

/// The database's raw content: the SQLite files' bytes, or every PostgreSQL row of
/// every table as text (bytea as hex, [`thinkfleet_tests::leak::dump_tables`]).
pub async fn raw_database(home: &DataHome) -> Vec<u8> {
    match &home.database_url {
        None => {
            let bytes = home.sqlite_files().concat();
            assert!(!bytes.is_empty(), "no SQLite file found");
            bytes
        }
        Some(_) => {
            let mut conn = home.connect().await;
            let text = thinkfleet_tests::leak::dump_tables(&mut conn)
                .await
                .expect("dump the tables");
            assert!(text.contains("created"), "the scan found no rows");
            text.into_bytes()
        }
    }
}

/// A project "acme" and an app serving it: what every test here starts from.
pub(crate) struct Project {
    /// A client with the project's token.
    pub api: Client,
    /// The app.
    pub server: TestApp,
    /// The project's data home; dropped last, after the app that uses it.
    pub home: DataHome,
}

impl Project {
    /// Makes the project and starts an app whose pieces' requests for each host go to
    /// its mock.
    pub async fn serve(mocks: &[(&str, &Mock)]) -> Project {
        let home = DataHome::new().await;
        let (_, token) = home.project("acme").await;
        let server = TestApp::spawn(&home, routed(mocks)).await;
        let api = server.client(&token);
        Project { api, server, home }
    }

    /// The scan every test that plants a secret ends with: see [`assert_nowhere`].
    pub async fn assert_nowhere(&self, secrets: &[&str]) {
        assert_nowhere(&self.home, &self.server, &self.api, secrets).await;
    }
}

/// A key [`openai_mock`] refuses.
const REFUSED_KEY: &str = "sk-refused-planted-40d1c7";
/// A second key [`openai_mock`] takes.
const SECOND_KEY: &str = "sk-second-key";

/// A secret-text credential.
fn secret_text(key: &str) -> Value {
    json!({"type": "secret_text", "secret_text": key})
}

/// Twilio's basic credential for account AC123.
fn twilio_value(password: &str) -> Value {
    json!({"type": "basic", "username": "AC123", "password": password})
}

/// A connection's id, as the API showed it.
fn id_of(connection: &Value) -> &str {
    connection["id"].as_str().expect("id")
}

/// The project served with OpenAI's API at [`openai_mock`].
async fn openai_project() -> (Project, Mock) {
    let openai = openai_mock().await;
    let project = Project::serve(&[("api.openai.com", &openai)]).await;
    (project, openai)
}

/// [`openai_project`] with the connection "OpenAI prod" (external id `openai-prod`)
/// made with [`OPENAI_KEY`]; returns it as the API answered its creation.
async fn openai_prod() -> (Project, Mock, Value) {
    let (project, openai) = openai_project().await;
    let (status, created) = project
        .api
        .post(
            "/connections",
            &json!({"piece": "openai", "display_name": "OpenAI prod",
                    "value": secret_text(OPENAI_KEY)}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    (project, openai, created)
}

/// The project served with Twilio's API at [`twilio_mock`].
async fn twilio_project() -> (Project, Mock) {
    let twilio = twilio_mock().await;
    let project = Project::serve(&[("api.twilio.com", &twilio)]).await;
    (project, twilio)
}

/// The project served with no mock (the postgres piece calls nothing).
async fn plain_project() -> Project {
    Project::serve(&[]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_stores_nothing_and_returns_the_pieces_message() {
    // A project that already has a connection: on PostgreSQL the scan insists on
    // reading a stored row.
    let (project, _openai, existing) = openai_prod().await;
    let api = &project.api;
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "openai", "display_name": "OpenAI staging",
                    "value": secret_text(REFUSED_KEY)}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "invalid_credentials");
    assert_eq!(
        body["message"],
        "Invalid API key (OpenAI answered HTTP 401)"
    );
    assert_eq!(
        api.get("/connections").await.1["connections"],
        json!([existing])
    );
    project.assert_nowhere(&[OPENAI_KEY, REFUSED_KEY]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_key_is_checked_with_the_service_and_the_connection_starts_active() {
    let (project, openai, created) = openai_prod().await;
    // The host applied the bearer to the piece's check.
    assert!(
        openai
            .requests()
            .iter()
            .any(|r| r.header("authorization") == format!("Bearer {OPENAI_KEY}"))
    );
    // The external id is made from the display name.
    assert_eq!(created["external_id"], "openai-prod");
    assert_eq!(created["auth_type"], "secret_text");
    assert_eq!(created["status"], "active");
    assert_eq!(created["last_used_at"], Value::Null);
    assert_eq!(events(&project.api, id_of(&created)).await, ["created"]);
    project.assert_nowhere(&[OPENAI_KEY]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_is_listed_and_found_by_its_id_or_its_external_id() {
    let (project, _openai, created) = openai_prod().await;
    let api = &project.api;
    let (_, list) = api.get("/connections").await;
    assert_eq!(list["connections"].as_array().map(Vec::len), Some(1));
    let id = id_of(&created);
    assert_eq!(api.get(&format!("/connections/{id}")).await.1, created);
    assert_eq!(api.get("/connections/openai-prod").await.1, created);
    project.assert_nowhere(&[OPENAI_KEY]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn renaming_keeps_the_external_id_and_every_reference() {
    let (project, _openai, created) = openai_prod().await;
    let api = &project.api;
    let id = id_of(&created);
    let (status, renamed) = api
        .patch(
            &format!("/connections/{id}"),
            &json!({"display_name": "OpenAI (main)"}),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["display_name"], "OpenAI (main)");
    assert_eq!(renamed["external_id"], "openai-prod");
    assert_eq!(api.get("/connections/openai-prod").await.1, renamed);
    assert_eq!(events(api, id).await, ["created", "renamed"]);
    project.assert_nowhere(&[OPENAI_KEY]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnecting_with_a_refused_key_keeps_the_old_credentials() {
    let (project, _openai, created) = openai_prod().await;
    let api = &project.api;
    let (status, body) = api
        .post(
            "/connections/openai-prod/reconnect",
            &json!({"value": secret_text(REFUSED_KEY)}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_credentials"))
    );
    // Nothing changed, not even the time of the last update; a flow run still uses the
    // old key (`flows::a_flow_run_keeps_the_old_key_when_a_reconnect_is_refused`).
    let id = id_of(&created);
    assert_eq!(api.get(&format!("/connections/{id}")).await.1, created);
    assert_eq!(events(api, id).await, ["created"]);
    project.assert_nowhere(&[OPENAI_KEY, REFUSED_KEY]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnecting_checks_the_new_key_and_keeps_the_connection_active() {
    let (project, openai, created) = openai_prod().await;
    let api = &project.api;
    let id = id_of(&created);
    let (status, body) = api
        .post(
            &format!("/connections/{id}/reconnect"),
            &json!({"value": secret_text(SECOND_KEY)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "active");
    assert_eq!(body["external_id"], "openai-prod");
    let checked = openai.requests().pop().expect("a check of the new key");
    assert_eq!(
        checked.header("authorization"),
        format!("Bearer {SECOND_KEY}")
    );
    assert_eq!(events(api, id).await, ["created", "reconnected"]);
    // While the connection exists, neither key is anywhere but sealed in its row.
    project.assert_nowhere(&[OPENAI_KEY, SECOND_KEY]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_id_is_taken_once_per_project() {
    let (project, openai, _) = openai_prod().await;
    let validations = openai.requests().len();
    let (status, body) = project
        .api
        .post(
            "/connections",
            &json!({"piece": "openai", "display_name": "x", "external_id": "openai-prod",
                    "value": secret_text(OPENAI_KEY)}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("external_id_taken"))
    );
    // Answered before the piece called its service.
    assert_eq!(openai.requests().len(), validations);
    assert_eq!(
        project.api.get("/connections").await.1["connections"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    project.assert_nowhere(&[OPENAI_KEY]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_connection_is_gone_and_its_trail_remains() {
    let (project, _openai, created) = openai_prod().await;
    let api = &project.api;
    let id = id_of(&created);
    assert_eq!(api.delete(&format!("/connections/{id}")).await.0, 204);
    let (status, body) = api.get(&format!("/connections/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"code": "connection_not_found", "message": "Connection not found"})
    );
    assert_eq!(api.get("/connections/openai-prod").await.0, 404);
    assert_eq!(api.delete(&format!("/connections/{id}")).await.0, 404);
    assert_eq!(events(api, id).await, ["created", "deleted"]);
    project.assert_nowhere(&[OPENAI_KEY]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_basic_credential_returns_the_pieces_message() {
    let (project, _twilio) = twilio_project().await;
    let api = &project.api;
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "twilio", "display_name": "SMS", "value": twilio_value("wrong")}),
        )
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (422, Some("Invalid API key (Twilio answered HTTP 401)"))
    );
    assert_eq!(api.get("/connections").await.1["connections"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_of_the_wrong_kind_is_refused_before_any_call() {
    let (project, twilio) = twilio_project().await;
    let api = &project.api;
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "twilio", "display_name": "SMS", "value": secret_text("x")}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["message"],
        "piece twilio takes basic credentials, not secret_text"
    );
    assert!(twilio.requests().is_empty(), "{:?}", twilio.requests());
    assert_eq!(api.get("/connections").await.1["connections"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_basic_connection_is_checked_with_the_username_and_password() {
    let (project, twilio) = twilio_project().await;
    let (status, created) = project
        .api
        .post(
            "/connections",
            &json!({"piece": "twilio", "display_name": "SMS", "external_id": "twilio-main",
                    "value": twilio_value(TWILIO_TOKEN)}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["auth_type"], "basic");
    assert_eq!(created["status"], "active");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("AC123:{TWILIO_TOKEN}"));
    let checked = twilio.requests().pop().expect("a check of the credential");
    assert_eq!(checked.header("authorization"), format!("Basic {basic}"));
    project.assert_nowhere(&[TWILIO_TOKEN]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_basic_connection_is_renamed_reconnected_and_deleted_by_its_external_id() {
    let (project, _twilio) = twilio_project().await;
    let api = &project.api;
    let (status, created) = api
        .post(
            "/connections",
            &json!({"piece": "twilio", "display_name": "SMS", "external_id": "twilio-main",
                    "value": twilio_value(TWILIO_TOKEN)}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, renamed) = api
        .patch(
            "/connections/twilio-main",
            &json!({"display_name": "SMS (US)"}),
        )
        .await;
    assert_eq!(
        (status, renamed["display_name"].as_str()),
        (200, Some("SMS (US)"))
    );
    let (status, _) = api
        .post(
            "/connections/twilio-main/reconnect",
            &json!({"value": twilio_value(TWILIO_TOKEN)}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(api.delete("/connections/twilio-main").await.0, 204);
    assert_eq!(api.get("/connections").await.1["connections"], json!([]));
    assert_eq!(
        events(api, id_of(&created)).await,
        ["created", "renamed", "reconnected", "deleted"]
    );
    project.assert_nowhere(&[TWILIO_TOKEN]).await;
}

fn pg_value(port: u32) -> Value {
    json!({"type": "custom", "props": {
        "host": "db.internal", "port": port, "database": "app", "user": "svc",
        "password": PG_PASSWORD, "ssl": true
    }})
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_connection_lifecycle() {
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let server = TestApp::spawn(&home, Settings::default()).await;
    let api = server.client(&token);

    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "postgres", "display_name": "Warehouse", "value": pg_value(70000)}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["message"].as_str().expect("message").contains("port"));
    let mut unknown_prop = pg_value(5432);
    unknown_prop["props"]["nope"] = json!("x");
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "postgres", "display_name": "Warehouse", "value": unknown_prop}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(body["message"].as_str().expect("message").contains("nope"));

    let (status, created) = api
        .post(
            "/connections",
            &json!({"piece": "postgres", "display_name": "Warehouse", "value": pg_value(5433)}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["auth_type"], "custom");
    assert_eq!(created["external_id"], "warehouse");
    let (status, _) = api
        .patch("/connections/warehouse", &json!({"display_name": "DWH"}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .post(
            "/connections/warehouse/reconnect",
            &json!({"value": pg_value(0)}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = api
        .post(
            "/connections/warehouse/reconnect",
            &json!({"value": pg_value(5434)}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(api.delete("/connections/warehouse").await.0, 204);
    assert_eq!(
        events(&api, created["id"].as_str().expect("id")).await,
        ["created", "renamed", "reconnected", "deleted"]
    );
    assert_nowhere(&home, &server, &api, &[PG_PASSWORD]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_projects_connections_are_not_found_on_every_endpoint() {
    let home = DataHome::new().await;
    let (_, token_a) = home.project("a").await;
    let (_, token_b) = home.project("b").await;
    let server = TestApp::spawn(&home, Settings::default()).await;
    let a = server.client(&token_a);
    let b = server.client(&token_b);
    let (status, created) = a
        .post(
            "/connections",
            &json!({"piece": "postgres", "display_name": "Shared name", "value": pg_value(5432)}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let not_found = json!({"code": "connection_not_found", "message": "Connection not found"});
    for key in [id.as_str(), "shared-name", "never-existed"] {
        let attempts = [
            b.get(&format!("/connections/{key}")).await,
            b.patch(
                &format!("/connections/{key}"),
                &json!({"display_name": "mine"}),
            )
            .await,
            b.post(
                &format!("/connections/{key}/reconnect"),
                &json!({"value": pg_value(5432)}),
            )
            .await,
            b.delete(&format!("/connections/{key}")).await,
            b.delete(&format!("/connections/{key}?confirm=true")).await,
            b.get(&format!("/connections/{key}/usage")).await,
        ];
        for (status, body) in attempts {
            assert_eq!((status, &body), (404, &not_found), "{key}");
        }
    }
    assert_eq!(b.get("/connections").await.1["connections"], json!([]));
    assert_eq!(
        b.get(&format!("/audit?connection={id}")).await.1["events"],
        json!([])
    );
    assert_eq!(b.get("/audit").await.1["events"], json!([]));
    // B may use the same external id in its own project.
    let (status, _) = b
        .post(
            "/connections",
            &json!({"piece": "postgres", "display_name": "Shared name", "value": pg_value(5432)}),
        )
        .await;
    assert_eq!(status, 201);
    // A's connection is untouched.
    let (status, still) = a.get(&format!("/connections/{id}")).await;
    assert_eq!((status, &still), (200, &created));
    assert_eq!(events(&a, &id).await, ["created"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_without_a_valid_token_is_unauthorized() {
    let project = plain_project().await;
    let server = &project.server;
    for client in [
        server.anonymous(),
        server.client("tfk_0123456789abcdef_wrongsecret"),
        server.client("not-a-token"),
    ] {
        let (status, body) = client.get("/connections").await;
        assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_piece_is_listed_with_its_kind_of_credential() {
    let project = plain_project().await;
    let api = &project.api;
    let (status, pieces) = api.get("/pieces").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = pieces["pieces"]
        .as_array()
        .expect("pieces")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in [
        "openai",
        "twilio",
        "slack",
        "google-sheets",
        "postgres",
        "binance",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let (status, twilio) = api.get("/pieces/twilio").await;
    assert_eq!(
        (status, twilio["auth"]["type"].as_str()),
        (200, Some("basic"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_piece_is_not_found_and_takes_no_connection() {
    let project = plain_project().await;
    let api = &project.api;
    assert_eq!(api.get("/pieces/nope").await.0, 404);
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "nope", "display_name": "x", "value": secret_text("s")}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("piece_not_found"))
    );
    assert_eq!(api.get("/connections").await.1["connections"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_is_not_json_or_too_large_is_refused_and_stores_nothing() {
    let project = plain_project().await;
    let api = &project.api;
    let (status, body) = api
        .send_raw(
            "POST",
            "/connections",
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("malformed_json"))
    );
    let huge = vec![b' '; 300 * 1024];
    let (status, body) = api
        .send_raw("POST", "/connections", "application/json", huge)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
    assert_eq!(api.get("/connections").await.1["connections"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_body_of_the_wrong_shape_is_refused_without_echoing_it() {
    let project = plain_project().await;
    let api = &project.api;
    let (status, body) = api.post("/connections", &json!({"piece": "openai"})).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_body")));
    let misplaced = "sk-secret-in-the-wrong-place";
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "openai", "display_name": "x", "value": {"type": misplaced}}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(!body.to_string().contains(misplaced), "{body}");
    assert_eq!(api.get("/connections").await.1["connections"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_id_or_display_name_that_breaks_the_rules_is_refused() {
    let project = plain_project().await;
    let api = &project.api;
    for bad in [
        json!({"piece": "postgres", "display_name": "x", "external_id": "a'b}}",
               "value": pg_value(5432)}),
        json!({"piece": "postgres", "display_name": "  ", "value": pg_value(5432)}),
    ] {
        let (status, body) = api.post("/connections", &bad).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("invalid_request")),
            "{body}"
        );
    }
    assert_eq!(api.get("/connections").await.1["connections"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_route_is_a_json_404() {
    let project = plain_project().await;
    let (status, body) = project.api.get("/nowhere").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_request_is_a_json_error_that_names_the_problem_not_the_value() {
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let server = TestApp::spawn(&home, Settings::default()).await;
    let api = server.client(&token);
    let secret = "sk-typed-into-the-wrong-field";

    // No JSON content type: 415, as JSON.
    let (status, body) = api
        .send_raw("POST", "/connections", "text/plain", b"{}".to_vec())
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    // A wrong type deep in the body: the path and what was expected, never the value.
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "openai", "display_name": "x",
                    "value": {"type": "secret_text", "secret_text": [secret]}}),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_body")));
    let message = body["message"].as_str().expect("message");
    assert!(message.contains("value"), "{message}");
    assert!(!body.to_string().contains(secret), "{body}");
    let (status, body) = api
        .patch("/connections/x", &json!({"display_name": "y", secret: 1}))
        .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_body")));
    let message = body["message"].as_str().expect("message");
    assert!(message.contains("unknown field"), "{message}");
    assert!(message.contains("`display_name`"), "{message}");
    assert!(!body.to_string().contains(secret), "{body}");
    // Trailing bytes after the JSON value.
    let (status, body) = api
        .send_raw(
            "PATCH",
            "/connections/x",
            "application/json",
            br#"{"display_name": "y"} {}"#.to_vec(),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("malformed_json"))
    );
    // Query strings: a bad value or an out-of-range limit is a JSON 400.
    for query in ["limit=abc", "limit=1001", "limit=0", "before=x"] {
        let (status, body) = api.get(&format!("/audit?{query}")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_query")),
            "{query}: {body}"
        );
    }
    assert_eq!(api.get("/audit?limit=1000").await.0, 200);
    let (status, body) = api.delete("/connections/x?confirm=maybe").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_query"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_loads_installed_pieces_and_tokens_are_made_by_the_cli() {
    let home = DataHome::new().await;
    let (project, _) = home.project("acme").await;
    // Another token for the project; an unknown project gets a clear error.
    let (code, out, err) = home
        .run(&["token", "create", "--project", &project, "--json"], &[])
        .await;
    assert_eq!(code, 0, "{err}");
    let made: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(made["project"], project.as_str());
    let token = made["token"].as_str().expect("token").to_owned();
    let (code, _, err) = home
        .run(&["token", "create", "--project", "no-such-project"], &[])
        .await;
    assert_eq!(code, 2);
    assert!(err.contains("no project with id no-such-project"), "{err}");

    // A component dropped into DATA_DIR/pieces is offered next to the examples.
    let installed = home.path().join("pieces");
    std::fs::create_dir_all(&installed).expect("pieces dir");
    std::fs::copy(
        thinkfleet_tests::piece_path("misbehave"),
        installed.join("misbehave.wasm"),
    )
    .expect("copy piece");
    std::fs::write(installed.join("broken.wasm"), b"not wasm").expect("write");
    // A copy of an example under another file name does not silently replace it.
    std::fs::copy(
        thinkfleet_tests::piece_path("misbehave"),
        installed.join("zz-misbehave-again.wasm"),
    )
    .expect("copy piece");
    // The real binary, as an operator starts it.
    let server = TestApp::spawn(&home, Settings::default().process()).await;
    let api = server.client(&token);
    let (status, piece) = api.get("/pieces/misbehave").await;
    assert_eq!(status, 200, "{piece}");
    assert_eq!(piece["name"], "misbehave");
    assert_eq!(api.get("/pieces/openai").await.0, 200);
    // The broken file is skipped with a warning; the server still serves.
    assert!(
        server.log().contains("piece not loaded"),
        "{}",
        server.log()
    );
    assert!(
        server
            .log()
            .contains("a piece named `misbehave` is already loaded from"),
        "{}",
        server.log()
    );
}
