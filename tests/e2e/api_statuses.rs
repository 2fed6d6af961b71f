//! The OpenAPI document checked against the running server both ways: every status an
//! operation answers is one the document lists for it, and every status the document
//! lists is one a client can get.
//!
//! Probes that every route shares reach the common statuses: no token, a path
//! parameter that is not UTF-8, a resource that does not exist, a body that is
//! malformed, too large, not JSON or of the wrong shape, a bad query value. A short
//! scenario per group of tags reaches the rest: successes, conflicts, a full sandbox,
//! a service that is down, the operators' uploads.

use crate::web_flows::openai_flow;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::client::{Answer, Body, Client};
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::{Mock, Recorded, piece_path};

const ADMIN: &str = "admin-token-api-statuses-3";
/// An OpenAI key the service accepts.
const KEY: &str = "sk-statuses-planted-71c2e9";
/// A key whose requests the mock holds while its gate is closed.
const HELD: &str = "sk-statuses-held-planted-5d0a";
/// A key the service answers 503 to.
const DOWN: &str = "sk-statuses-down-planted-9b47";

/// An operation: the document's lower-case method and its path under `/api/v1`.
type Op = (String, String);

/// Who sends a request.
#[derive(Clone, Copy)]
enum Who {
    Nobody,
    Project,
    Admin,
}

/// The document's operations, what they answered, and the clients that asked.
struct Coverage {
    /// Every documented operation: its tag and statuses.
    documented: BTreeMap<Op, (String, BTreeSet<u16>)>,
    /// The operations that take a request body.
    with_body: BTreeSet<Op>,
    /// The tags whose every documented status must be reached.
    tags: Vec<&'static str>,
    reached: BTreeSet<(Op, u16)>,
    nobody: Client,
    project: Client,
    admin: Client,
}

impl Coverage {
    /// Reads the document (no token needed) and makes the clients.
    async fn of(app: &TestApp, project_token: &str, tags: &[&'static str]) -> Coverage {
        let (status, doc) = app.anonymous().get("/openapi.json").await;
        assert_eq!((status, doc["openapi"].as_str()), (200, Some("3.1.0")));
        let mut documented = BTreeMap::new();
        let mut with_body = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let template = path.strip_prefix("/api/v1").expect("under /api/v1");
            for (method, operation) in item.as_object().expect("path item") {
                let statuses = operation["responses"]
                    .as_object()
                    .expect("responses")
                    .keys()
                    .map(|k| k.parse().expect("a status code"))
                    .collect();
                let tag = operation["tags"][0].as_str().expect("a tag").to_owned();
                let op = (method.clone(), template.to_owned());
                if operation.get("requestBody").is_some() {
                    with_body.insert(op.clone());
                }
                documented.insert(op, (tag, statuses));
            }
        }
        for tag in tags {
            assert!(
                documented.values().any(|(t, _)| t == tag),
                "no operation is tagged {tag}"
            );
        }
        Coverage {
            documented,
            with_body,
            tags: tags.to_vec(),
            reached: BTreeSet::new(),
            nobody: app.anonymous(),
            project: app.client(project_token),
            admin: app.client(ADMIN),
        }
    }

    /// The operations of the tags.
    fn claimed(&self) -> Vec<Op> {
        self.documented
            .iter()
            .filter(|(_, (tag, _))| self.tags.contains(&tag.as_str()))
            .map(|(op, _)| op.clone())
            .collect()
    }

    /// Sends `method path` as `who`, for the documented `template`, and checks the
    /// answer against the document: a documented status, a routed path, a JSON body.
    async fn call(
        &mut self,
        method: &str,
        template: &str,
        path: &str,
        who: Who,
        body: Body,
    ) -> Answer {
        let client = match who {
            Who::Nobody => &self.nobody,
            Who::Project => &self.project,
            Who::Admin => &self.admin,
        };
        let answer = client.request(&method.to_uppercase(), path, body).await;
        if answer.status != 204 {
            assert!(
                answer.content_type.starts_with("application/json"),
                "{method} {path}: {} {:?}",
                answer.status,
                answer.content_type
            );
        }
        self.saw(method, template, answer.status, &answer.body);
        answer
    }

    /// Records that `method template` answered `status` (with `body`), after checking
    /// the document lists it.
    fn saw(&mut self, method: &str, template: &str, status: u16, body: &Value) {
        let op = (method.to_ascii_lowercase(), template.to_owned());
        let (_, statuses) = self
            .documented
            .get(&op)
            .unwrap_or_else(|| panic!("{method} {template} is not documented"));
        assert!(
            statuses.contains(&status),
            "{method} {template}: {status} is not documented ({statuses:?}): {body}"
        );
        assert!(
            status != 405 && body["message"] != "no such endpoint",
            "{method} {template} is documented but not routed: {body}"
        );
        self.reached.insert((op, status));
    }

    /// Sends each `(method, template, path, body, status)` as the project and checks
    /// it got that status.
    async fn expect(&mut self, requests: Vec<(&str, &str, &str, Body, u16)>) {
        for (method, template, path, body, want) in requests {
            let answer = self.call(method, template, path, Who::Project, body).await;
            assert_eq!(answer.status, want, "{method} {path}: {}", answer.body);
        }
    }

    /// The probes every route shares, on every operation of the tags.
    async fn probe(&mut self) {
        let oversized = format!(
            "{{\"x\": \"{}\"}}",
            "a".repeat(thinkfleet::api::MAX_BODY_BYTES)
        );
        for (method, template) in self.claimed() {
            let who = if template.starts_with("/admin/") {
                Who::Admin
            } else {
                Who::Project
            };
            let missing = fill(&template, "missing");
            let mut tries = vec![
                (missing.clone(), Who::Nobody, Body::Json(json!({}))),
                (missing.clone(), who, Body::Json(json!({}))),
                (
                    format!("{missing}?limit=abc&confirm=maybe&force=maybe"),
                    who,
                    Body::Json(json!({})),
                ),
            ];
            if template.contains('{') {
                tries.push((fill(&template, "%FF"), who, Body::Json(json!({}))));
            }
            // Bodies a handler that reads none would not look at.
            if self.with_body.contains(&(method.clone(), template.clone())) {
                for body in [
                    Body::Json(json!({"no_such_field": 1})),
                    raw("application/json", b"{"),
                    raw("text/plain", b"{}"),
                    raw("application/json", oversized.as_bytes()),
                ] {
                    tries.push((missing.clone(), who, body));
                }
            }
            for (path, who, body) in tries {
                self.call(&method, &template, &path, who, body).await;
            }
        }
    }

    /// Fails with every documented status of the tags that no request got.
    fn assert_complete(&self) {
        let never: Vec<String> = self
            .claimed()
            .into_iter()
            .flat_map(|op| {
                let statuses = &self.documented[&op].1;
                statuses
                    .iter()
                    .filter(|s| !self.reached.contains(&(op.clone(), **s)))
                    .map(|s| format!("{} {} {s}", op.0.to_uppercase(), op.1))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(never.is_empty(), "documented, never answered: {never:#?}");
    }
}

/// `template` with every `{parameter}` replaced by `value`.
fn fill(template: &str, value: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                value
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn raw(content_type: &str, bytes: &[u8]) -> Body {
    Body::Raw(content_type.to_owned(), bytes.to_vec())
}

/// OpenAI: accepts [`KEY`], answers 503 to [`DOWN`], holds [`HELD`] while closed.
async fn openai() -> Mock {
    Mock::start_holding(
        |r: &Recorded| {
            if r.header("authorization") == format!("Bearer {DOWN}") {
                return (503, json!({"error": {"message": "maintenance"}}));
            }
            match r.path.as_str() {
                "/v1/chat/completions" => (
                    200,
                    json!({"model": "gpt-4o-mini", "choices": [{"message": {"content": "ok"}}]}),
                ),
                _ => (200, json!({"data": [{"id": "gpt-4o-mini"}]})),
            }
        },
        |r: &Recorded| r.header("authorization") == format!("Bearer {HELD}"),
    )
    .await
}

/// A new OpenAI connection.
fn openai_connection(external_id: &str, key: &str) -> Value {
    json!({"piece": "openai", "display_name": format!("GPT {external_id}"),
        "external_id": external_id, "value": {"type": "secret_text", "secret_text": key}})
}

/// A reconnect's body.
fn key(key: &str) -> Body {
    Body::Json(json!({"value": {"type": "secret_text", "secret_text": key}}))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_answers_only_documented_statuses_as_json_and_is_routed() {
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let app = TestApp::spawn(&home, Settings::default().admin_token(ADMIN)).await;
    let all = [
        "pieces",
        "connections",
        "flows",
        "audit",
        "webhook",
        "tokens",
        "agents",
        "oauth2",
        "admin",
        "meta",
    ];
    let mut coverage = Coverage::of(&app, &token, &all).await;
    let tags: BTreeSet<&str> = coverage
        .documented
        .values()
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(tags, all.into_iter().collect(), "a tag without a test");
    coverage.probe().await;
    assert_eq!(app.client(&token).get("/nope").await.0, 404);
}

/// A server whose OpenAI is `openai`, with one sandbox slot that a call waits at most
/// 300 ms for; its data home (kept for as long as the server runs), the coverage of
/// `tags` already probed, and the project's token.
async fn one_slot_server(
    openai: &Mock,
    tags: &[&'static str],
) -> (DataHome, TestApp, Coverage, String) {
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let app = TestApp::spawn(
        &home,
        Settings::default()
            .route("api.openai.com", &openai.base)
            .sandbox_shares(1, 1, Duration::from_millis(300)),
    )
    .await;
    let mut coverage = Coverage::of(&app, &token, tags).await;
    coverage.probe().await;
    (home, app, coverage, token)
}

/// Takes the one sandbox slot with a validation the service holds (its gate closed
/// until the caller opens it); the task creating that connection.
async fn take_the_slot(
    openai: &Mock,
    app: &TestApp,
    token: &str,
) -> tokio::task::JoinHandle<(u16, Value)> {
    openai.close();
    let holder = app.client(token);
    let held = tokio::spawn(async move {
        holder
            .post("/connections", &openai_connection("held", HELD))
            .await
    });
    for _ in 0..400 {
        if openai.held() == 1 {
            return held;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the validation never reached the service");
}

fn assert_busy(answer: &Answer) {
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (429, Some("busy")),
        "{}",
        answer.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_status_documented_for_pieces_and_connections_can_happen() {
    let openai = openai().await;
    let (_home, app, mut c, token) = one_slot_server(&openai, &["pieces", "connections"]).await;
    let (one, reconnect) = ("/connections/{id}", "/connections/{id}/reconnect");
    let (usage, replace) = ("/connections/{id}/usage", "/connections/{id}/replace");
    let new = |id: &str, key: &str| Body::Json(openai_connection(id, key));
    let unknown = Body::Json(json!({"piece": "nope", "display_name": "x",
        "value": {"type": "secret_text", "secret_text": KEY}}));
    let rename = |name: &str| Body::Json(json!({"display_name": name}));
    let with = |id: &str| Body::Json(json!({"with": id}));
    c.expect(vec![
        ("GET", "/pieces/{name}", "/pieces/openai", Body::Empty, 200),
        ("POST", "/connections", "/connections", new("gpt", KEY), 201),
        ("POST", "/connections", "/connections", new("gpt", KEY), 409),
        (
            "POST",
            "/connections",
            "/connections",
            new("down", DOWN),
            502,
        ),
        ("POST", "/connections", "/connections", unknown, 404),
        ("GET", one, "/connections/gpt", Body::Empty, 200),
        ("PATCH", one, "/connections/gpt", rename("GPT (main)"), 200),
        (
            "POST",
            reconnect,
            "/connections/gpt/reconnect",
            key(KEY),
            200,
        ),
        (
            "POST",
            reconnect,
            "/connections/gpt/reconnect",
            key(DOWN),
            502,
        ),
        // A valid body for a connection that does not exist.
        ("PATCH", one, "/connections/missing", rename("x"), 404),
        (
            "POST",
            reconnect,
            "/connections/missing/reconnect",
            key(KEY),
            404,
        ),
        (
            "POST",
            replace,
            "/connections/missing/replace",
            with("gpt"),
            404,
        ),
    ])
    .await;

    // A flow uses it: shown by usage, a delete is refused, a replace moves the flow.
    openai_flow(&app.client(&token), "Ask", "gpt", 1).await;
    c.expect(vec![
        ("GET", usage, "/connections/gpt/usage", Body::Empty, 200),
        ("DELETE", one, "/connections/gpt", Body::Empty, 409),
        (
            "POST",
            "/connections",
            "/connections",
            new("gpt2", KEY),
            201,
        ),
        (
            "POST",
            replace,
            "/connections/gpt/replace",
            with("gpt2"),
            200,
        ),
        ("DELETE", one, "/connections/gpt", Body::Empty, 204),
    ])
    .await;

    // A full sandbox: validations wait 300 ms for the slot, then are refused as busy.
    let held = take_the_slot(&openai, &app, &token).await;
    let p = Who::Project;
    let late = new("late", KEY);
    assert_busy(
        &c.call("POST", "/connections", "/connections", p, late)
            .await,
    );
    let path = "/connections/gpt2/reconnect";
    assert_busy(&c.call("POST", reconnect, path, p, key(KEY)).await);
    openai.open();
    assert_eq!(held.await.expect("task").0, 201);
    c.assert_complete();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_status_documented_for_flows_can_happen() {
    let openai = openai().await;
    let (_home, app, mut c, token) = one_slot_server(&openai, &["flows"]).await;
    let p = Who::Project;
    let (status, body) = app
        .client(&token)
        .post("/connections", &openai_connection("gpt", KEY))
        .await;
    assert_eq!(status, 201, "{body}");
    let steps = json!([{"name": "ask", "piece": "openai", "action": "ask_chatgpt",
        "auth": "{{connections['gpt']}}", "input": {"prompt": "status?"}}]);
    let flow = |name: &str| Body::Json(json!({"name": name, "steps": steps}));
    let made = c.call("POST", "/flows", "/flows", p, flow("Ask")).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let id = made.body["id"].as_str().expect("flow id");

    let (one, runs) = ("/flows/{id}", "/flows/{id}/runs");
    let (flow_path, runs_path) = (fill(one, id), fill(runs, id));
    assert_eq!(
        c.call("GET", one, &flow_path, p, Body::Empty).await.status,
        200
    );
    let updated = c.call("PUT", one, &flow_path, p, flow("Ask again")).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let missing = c.call("PUT", one, "/flows/missing", p, flow("Ask")).await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    let ran = c.call("POST", runs, &runs_path, p, Body::Empty).await;
    assert_eq!(
        (ran.status, ran.body["status"].as_str()),
        (200, Some("succeeded")),
        "{}",
        ran.body
    );
    assert_eq!(
        c.call("GET", runs, &runs_path, p, Body::Empty).await.status,
        200
    );

    // A full sandbox: the run waits 300 ms for the slot, then is refused as busy.
    let held = take_the_slot(&openai, &app, &token).await;
    assert_busy(&c.call("POST", runs, &runs_path, p, Body::Empty).await);
    openai.open();
    assert_eq!(held.await.expect("task").0, 201);
    assert_eq!(
        c.call("DELETE", one, &flow_path, p, Body::Empty)
            .await
            .status,
        204
    );
    c.assert_complete();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_status_documented_for_the_operators_and_oauth2_routes_can_happen() {
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let app = TestApp::spawn(&home, Settings::default().admin_token(ADMIN)).await;
    let mut c = Coverage::of(&app, &token, &["admin", "oauth2"]).await;
    c.probe().await;
    let (p, a) = (Who::Project, Who::Admin);

    let oauth_app = || Body::Json(json!({"client_id": "tf-client", "client_secret": "s3cret-app"}));
    let apps = "/admin/oauth-apps/{piece}";
    let set = c
        .call("PUT", apps, "/admin/oauth-apps/slack", a, oauth_app())
        .await;
    assert_eq!(set.status, 204, "{}", set.body);
    assert_eq!(
        c.call("PUT", apps, "/admin/oauth-apps/nope", a, oauth_app())
            .await
            .status,
        404
    );
    let start = |piece: &str| Body::Json(json!({"piece": piece, "display_name": "Team chat"}));
    let started = c
        .call("POST", "/oauth2/start", "/oauth2/start", p, start("slack"))
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    assert_eq!(
        c.call("POST", "/oauth2/start", "/oauth2/start", p, start("nope"))
            .await
            .status,
        404
    );

    let pieces = "/admin/pieces";
    let upload = |name: &str| {
        raw(
            "application/wasm",
            &std::fs::read(piece_path(name)).expect("piece"),
        )
    };
    for (name, want) in [("versioned-1", 201), ("versioned-1", 200), ("openai", 409)] {
        let answer = c.call("POST", pieces, pieces, a, upload(name)).await;
        assert_eq!(answer.status, want, "{name}: {}", answer.body);
    }
    let garbage = c
        .call(
            "POST",
            pieces,
            pieces,
            a,
            raw("application/wasm", b"\0asm not really"),
        )
        .await;
    assert_eq!(garbage.status, 422, "{}", garbage.body);
    let (status, body) = c
        .admin
        .send_declared("POST", pieces, "application/wasm", (32 << 20) + 1)
        .await;
    c.saw("POST", pieces, status, &body);
    assert_eq!(status, 413, "{body}");

    let step = json!({"name": "only", "piece": "versioned", "action": "version", "input": {}});
    let (status, body) = app
        .client(&token)
        .post("/flows", &json!({"name": "Check", "steps": [step]}))
        .await;
    assert_eq!(status, 201, "{body}");
    let one = "/admin/pieces/{name}";
    let in_use = c
        .call("DELETE", one, "/admin/pieces/versioned", a, Body::Empty)
        .await;
    assert_eq!(in_use.status, 409, "{}", in_use.body);
    let forced = c
        .call(
            "DELETE",
            one,
            "/admin/pieces/versioned?force=true",
            a,
            Body::Empty,
        )
        .await;
    assert_eq!(forced.status, 200, "{}", forced.body);
    c.assert_complete();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_status_documented_for_the_webhook_tokens_agents_and_audit_can_happen() {
    let openai = openai().await;
    let home = DataHome::new().await;
    let (project, token) = home.project("acme").await;
    let spare = home.token(&project).await;
    let app = TestApp::spawn(
        &home,
        Settings::default()
            .route("api.openai.com", &openai.base)
            .route("hooks.statuses.example.com", &openai.base),
    )
    .await;
    let mut c = Coverage::of(
        &app,
        &token,
        &["webhook", "tokens", "agents", "audit", "meta"],
    )
    .await;
    c.probe().await;

    let hook = Body::Json(json!({"url": "https://hooks.statuses.example.com/in"}));
    let spare_id = spare.split('_').nth(1).expect("tfk_<id>_<secret>");
    let spare_path = fill("/tokens/{id}", spare_id);
    let gpt = Body::Json(openai_connection("gpt", KEY));
    let agent = Body::Json(json!({"name": "Helper", "tools": [
        {"connection": "gpt", "action": "ask_chatgpt"}]}));
    c.expect(vec![
        ("PUT", "/webhook", "/webhook", hook, 200),
        ("GET", "/webhook", "/webhook", Body::Empty, 200),
        ("DELETE", "/webhook", "/webhook", Body::Empty, 204),
        ("DELETE", "/tokens/{id}", &spare_path, Body::Empty, 204),
        ("POST", "/connections", "/connections", gpt, 201),
        ("POST", "/agents", "/agents", agent, 201),
    ])
    .await;
    let (_, agents) = app.client(&token).get("/agents").await;
    let id = agents["agents"][0]["id"].as_str().expect("agent id");
    let agent_path = fill("/agents/{id}", id);
    c.expect(vec![(
        "DELETE",
        "/agents/{id}",
        &agent_path,
        Body::Empty,
        204,
    )])
    .await;
    c.assert_complete();
}
