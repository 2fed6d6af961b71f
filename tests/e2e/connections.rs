//! Connections through the real server: the lifecycle of a secret-text, a basic and a
//! custom piece over HTTP, cross-project isolation, API errors, and proof that a
//! planted secret never shows in responses, logs, the audit trail or the database.

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
/// every table as text (bytea as hex).
pub async fn raw_database(home: &DataHome) -> Vec<u8> {
    match &home.database_url {
        None => {
            let mut bytes = Vec::new();
            for entry in std::fs::read_dir(home.path()).expect("data dir") {
                let path = entry.expect("entry").path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with("thinkfleet.db") {
                    bytes.extend(std::fs::read(&path).expect("read db file"));
                }
            }
            assert!(!bytes.is_empty(), "no SQLite file found");
            bytes
        }
        Some(_) => {
            let mut conn = home.connect().await;
            let mut text = String::new();
            for table in [
                "projects",
                "api_tokens",
                "connections",
                "audit_events",
                "users",
                "sessions",
            ] {
                let row: (Option<String>,) =
                    sqlx::query_as(&format!("SELECT string_agg(t::text, ' ') FROM {table} t"))
                        .fetch_one(&mut conn)
                        .await
                        .expect("scan table");
                text.push_str(&row.0.unwrap_or_default());
            }
            assert!(text.contains("created"), "the scan found no rows");
            text.into_bytes()
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_text_connection_lifecycle() {
    let openai = openai_mock().await;
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let server = TestApp::spawn(&home, routed(&[("api.openai.com", &openai)])).await;
    let api = server.client(&token);

    // A key the service refuses: the piece's message, 422, nothing stored.
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "openai", "display_name": "OpenAI prod",
                    "value": {"type": "secret_text", "secret_text": "sk-wrong"}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "invalid_credentials");
    assert_eq!(body["message"], "Invalid API key");
    assert_eq!(api.get("/connections").await.1["connections"], json!([]));

    // The right key: validated against the service with a host-applied bearer.
    let (status, created) = api
        .post(
            "/connections",
            &json!({"piece": "openai", "display_name": "OpenAI prod",
                    "value": {"type": "secret_text", "secret_text": OPENAI_KEY}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["external_id"], "openai-prod");
    assert_eq!(created["auth_type"], "secret_text");
    assert_eq!(created["status"], "active");
    assert_eq!(created["last_used_at"], Value::Null);
    assert!(
        openai
            .requests()
            .iter()
            .any(|r| r.header("authorization") == format!("Bearer {OPENAI_KEY}"))
    );
    let id = created["id"].as_str().expect("id").to_owned();

    // Listed, and found by id and by external id.
    let (_, list) = api.get("/connections").await;
    assert_eq!(list["connections"].as_array().map(Vec::len), Some(1));
    assert_eq!(api.get(&format!("/connections/{id}")).await.1, created);
    assert_eq!(api.get("/connections/openai-prod").await.1, created);

    // Rename: the external id stays, so references keep working.
    let (status, renamed) = api
        .patch(
            &format!("/connections/{id}"),
            &json!({"display_name": "OpenAI (main)"}),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["display_name"], "OpenAI (main)");
    assert_eq!(renamed["external_id"], "openai-prod");

    // Reconnect with a bad key: refused, the old credential stays.
    let (status, body) = api
        .post(
            "/connections/openai-prod/reconnect",
            &json!({"value": {"type": "secret_text", "secret_text": "sk-nope"}}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_credentials"))
    );
    // Reconnect with a good one.
    let (status, body) = api
        .post(
            &format!("/connections/{id}/reconnect"),
            &json!({"value": {"type": "secret_text", "secret_text": "sk-second-key"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "active");

    // A second connection cannot take the same external id.
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "openai", "display_name": "x", "external_id": "openai-prod",
                    "value": {"type": "secret_text", "secret_text": OPENAI_KEY}}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("external_id_taken"))
    );

    assert_eq!(
        events(&api, &id).await,
        ["created", "renamed", "reconnected"]
    );

    // While it exists, neither key is anywhere but sealed in its row.
    assert_nowhere(&home, &server, &api, &[OPENAI_KEY, "sk-second-key"]).await;

    // Delete, then it is gone, and its trail remains.
    assert_eq!(api.delete(&format!("/connections/{id}")).await.0, 204);
    let (status, body) = api.get(&format!("/connections/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"code": "connection_not_found", "message": "Connection not found"})
    );
    assert_eq!(api.delete(&format!("/connections/{id}")).await.0, 404);
    assert_eq!(
        events(&api, &id).await,
        ["created", "renamed", "reconnected", "deleted"]
    );
    assert_nowhere(&home, &server, &api, &[OPENAI_KEY, "sk-second-key"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_connection_lifecycle() {
    let twilio = twilio_mock().await;
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let server = TestApp::spawn(&home, routed(&[("api.twilio.com", &twilio)])).await;
    let api = server.client(&token);
    let value =
        |password: &str| json!({"type": "basic", "username": "AC123", "password": password});

    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "twilio", "display_name": "SMS", "value": value("wrong")}),
        )
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (422, Some("Invalid API key"))
    );
    // A value of the wrong kind for the piece is refused before any call.
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "twilio", "display_name": "SMS",
                    "value": {"type": "secret_text", "secret_text": "x"}}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["message"],
        "piece twilio takes basic credentials, not secret_text"
    );

    let (status, created) = api
        .post(
            "/connections",
            &json!({"piece": "twilio", "display_name": "SMS", "external_id": "twilio-main",
                    "value": value(TWILIO_TOKEN)}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["auth_type"], "basic");
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
            &json!({"value": value(TWILIO_TOKEN)}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(api.delete("/connections/twilio-main").await.0, 204);
    assert_eq!(api.get("/connections").await.1["connections"], json!([]));
    assert_eq!(
        events(&api, created["id"].as_str().expect("id")).await,
        ["created", "renamed", "reconnected", "deleted"]
    );
    assert_nowhere(&home, &server, &api, &[TWILIO_TOKEN]).await;
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
async fn the_api_refuses_bad_requests_clearly() {
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let server = TestApp::spawn(&home, Settings::default()).await;
    let api = server.client(&token);

    // Authentication.
    for client in [
        server.anonymous(),
        server.client("tfk_0123456789abcdef_wrongsecret"),
        server.client("not-a-token"),
    ] {
        let (status, body) = client.get("/connections").await;
        assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    }
    // The document needs no token and names every route.
    let (status, doc) = server.anonymous().get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/pieces",
        "/api/v1/pieces/{name}",
        "/api/v1/connections",
        "/api/v1/connections/{id}",
        "/api/v1/connections/{id}/reconnect",
        "/api/v1/connections/{id}/usage",
        "/api/v1/flows",
        "/api/v1/flows/{id}",
        "/api/v1/flows/{id}/runs",
        "/api/v1/audit",
        "/api/v1/oauth2/start",
        "/api/v1/admin/oauth-apps/{piece}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }

    // Pieces and their schemas.
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
    assert_eq!(api.get("/pieces/nope").await.0, 404);

    // Bodies.
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
    let (status, body) = api.post("/connections", &json!({"piece": "openai"})).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_body")));
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "openai", "display_name": "x",
                    "value": {"type": "sk-secret-in-the-wrong-place"}}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        !body.to_string().contains("sk-secret-in-the-wrong-place"),
        "{body}"
    );
    let huge = vec![b' '; 300 * 1024];
    let (status, body) = api
        .send_raw("POST", "/connections", "application/json", huge)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "nope", "display_name": "x",
                    "value": {"type": "secret_text", "secret_text": "s"}}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("piece_not_found"))
    );
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "postgres", "display_name": "x", "external_id": "a'b}}",
                    "value": pg_value(5432)}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_request"))
    );
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "postgres", "display_name": "  ", "value": pg_value(5432)}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_request"))
    );
    let (status, body) = api.get("/nowhere").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    // Nothing was stored by any of it.
    assert_eq!(api.get("/connections").await.1["connections"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_answers_only_documented_statuses() {
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let server = TestApp::spawn(&home, Settings::default()).await;
    let api = server.client(&token);
    let (status, doc) = server.anonymous().get("/openapi.json").await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 14, "{}", paths.len());
    let http = reqwest::Client::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let documented: Vec<u16> = operation["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .map(|k| k.parse().expect("status"))
                .collect();
            // Path parameters name nothing that exists; bodies are empty objects.
            let url = format!(
                "{}{}",
                server.base,
                path.replace("{id}", "missing")
                    .replace("{name}", "missing")
                    .replace("{piece}", "missing")
            );
            for (who, token) in [("with the token", Some(&token)), ("without", None)] {
                let mut request = http
                    .request(method.to_uppercase().parse().expect("method"), &url)
                    .json(&json!({}));
                if let Some(t) = token {
                    request = request.bearer_auth(t);
                }
                let answer = request.send().await.expect("request");
                let status = answer.status().as_u16();
                assert!(
                    documented.contains(&status),
                    "{method} {path} {who}: {status} is not documented ({documented:?})"
                );
                if status != 204 && !path.ends_with("/callback") {
                    let content_type = answer.headers()["content-type"].to_str().expect("ct");
                    assert!(
                        content_type.starts_with("application/json"),
                        "{method} {path}"
                    );
                }
            }
        }
    }
    assert_eq!(api.get("/nope").await.0, 404);
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
    assert!(
        body["message"]
            .as_str()
            .expect("m")
            .contains("unknown field")
    );
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
}
