//! Flows through the real server: a flow using openai and twilio against local mock
//! services, what a run does with its connections, the effect of rename, reconnect, a
//! refused key, expiry and delete on the next run, plus project scoping and the flow
//! API's checks.

use crate::connections::Project;
use base64::Engine as _;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::client::Client;
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::{Mock, Recorded};

const KEY_ONE: &str = "sk-flow-planted-one-1b2c";
const KEY_TWO: &str = "sk-flow-planted-two-9f8e";
const TWILIO_TOKEN: &str = "tw-flow-planted-77aa";
/// A key the OpenAI mock refuses.
const REFUSED_KEY: &str = "sk-flow-refused-planted-3c4d";

async fn openai() -> Mock {
    Mock::start(|r: &Recorded| {
        let auth = r.header("authorization");
        if auth != format!("Bearer {KEY_ONE}") && auth != format!("Bearer {KEY_TWO}") {
            return (
                401,
                json!({"error": {"message": "Incorrect API key provided"}}),
            );
        }
        match r.path.as_str() {
            "/v1/models" => (200, json!({"data": [{"id": "gpt-4o-mini"}]})),
            "/v1/chat/completions" => (
                200,
                json!({"model": "gpt-4o-mini",
                       "choices": [{"message": {"content": "Hello from GPT"}}]}),
            ),
            _ => (404, json!({})),
        }
    })
    .await
}

/// Twilio that accepts the token until `revoked` is set.
async fn twilio(revoked: Arc<AtomicBool>) -> Mock {
    Mock::start(move |r: &Recorded| {
        let good = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("AC123:{TWILIO_TOKEN}"))
        );
        if r.header("authorization") != good || revoked.load(Ordering::SeqCst) {
            return (401, json!({"code": 20003, "message": "Authenticate"}));
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/2010-04-01/Accounts/AC123.json") => (200, json!({"sid": "AC123"})),
            ("POST", "/2010-04-01/Accounts/AC123/Messages.json") => {
                (201, json!({"sid": "SM1", "status": "queued"}))
            }
            _ => (404, json!({})),
        }
    })
    .await
}

fn flow_body() -> Value {
    json!({
        "name": "Greet by SMS",
        "steps": [
            {"name": "ask", "piece": "openai", "action": "ask_chatgpt",
             "auth": "{{connections['openai-main']}}", "input": {"prompt": "Say hi"}},
            {"name": "text", "piece": "twilio", "action": "send_sms",
             "auth": "{{ connections[\"twilio-main\"] }}",
             "input": {"from": "+15550001", "to": "+15550002",
                       "body": "GPT says: {{steps.ask.output.reply}}"}}
        ]
    })
}

async fn run(api: &Client, flow: &str) -> Value {
    let (status, report) = api.post(&format!("/flows/{flow}/runs"), &json!({})).await;
    assert_eq!(status, 200, "{report}");
    report
}

fn step_error(report: &Value, i: usize) -> (String, String) {
    let e = &report["steps"][i]["error"];
    (
        e["code"].as_str().unwrap_or_default().to_owned(),
        e["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The project served with OpenAI and Twilio at their mocks, with the connections
/// `openai-main` ([`KEY_ONE`]) and `twilio-main` ([`TWILIO_TOKEN`]) and the flow
/// "Greet by SMS" that uses both: what the tests of a flow's connections start from.
struct Greeting {
    project: Project,
    gpt: Mock,
    sms: Mock,
    /// While set, Twilio refuses the token.
    revoked: Arc<AtomicBool>,
    /// The flow as the API answered its creation.
    flow: Value,
}

impl Greeting {
    async fn start() -> Greeting {
        let gpt = openai().await;
        let revoked = Arc::new(AtomicBool::new(false));
        let sms = twilio(revoked.clone()).await;
        let project = Project::serve(&[("api.openai.com", &gpt), ("api.twilio.com", &sms)]).await;
        let api = &project.api;
        for body in [
            json!({"piece": "openai", "display_name": "OpenAI", "external_id": "openai-main",
                   "value": {"type": "secret_text", "secret_text": KEY_ONE}}),
            json!({"piece": "twilio", "display_name": "Twilio", "external_id": "twilio-main",
                   "value": {"type": "basic", "username": "AC123", "password": TWILIO_TOKEN}}),
        ] {
            let (status, created) = api.post("/connections", &body).await;
            assert_eq!(status, 201, "{created}");
        }
        let (status, flow) = api.post("/flows", &flow_body()).await;
        assert_eq!(status, 201, "{flow}");
        Greeting {
            project,
            gpt,
            sms,
            revoked,
            flow,
        }
    }

    fn api(&self) -> &Client {
        &self.project.api
    }

    fn flow_id(&self) -> &str {
        self.flow["id"].as_str().expect("id")
    }

    /// Runs the flow.
    async fn run(&self) -> Value {
        run(self.api(), self.flow_id()).await
    }

    /// The `Authorization` of every chat request OpenAI received, oldest first.
    fn chat_authorizations(&self) -> Vec<String> {
        self.gpt
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/chat/completions")
            .map(|r| r.header("authorization").to_owned())
            .collect()
    }

    /// Points `openai-main` at another key.
    async fn reconnect_openai(&self, key: &str) -> (u16, Value) {
        self.api()
            .post(
                "/connections/openai-main/reconnect",
                &json!({"value": {"type": "secret_text", "secret_text": key}}),
            )
            .await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_flow_reads_back_as_it_was_saved() {
    let greeting = Greeting::start().await;
    let id = greeting.flow_id();
    assert_eq!(
        greeting.api().get(&format!("/flows/{id}")).await.1,
        greeting.flow
    );
    greeting
        .project
        .assert_nowhere(&[KEY_ONE, TWILIO_TOKEN])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_run_calls_each_service_with_its_steps_connection() {
    let greeting = Greeting::start().await;
    let report = greeting.run().await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["steps"][0]["output"]["reply"], "Hello from GPT");
    assert_eq!(report["steps"][1]["output"]["sid"], "SM1");
    assert_eq!(
        greeting.chat_authorizations(),
        [format!("Bearer {KEY_ONE}")]
    );
    // The second step's input was filled from the first step's output.
    let sent = greeting
        .sms
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("sms");
    assert_eq!(
        sent.body,
        "From=%2B15550001&To=%2B15550002&Body=GPT%20says%3A%20Hello%20from%20GPT"
    );
    greeting
        .project
        .assert_nowhere(&[KEY_ONE, TWILIO_TOKEN])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_run_marks_its_connections_used() {
    let greeting = Greeting::start().await;
    let api = greeting.api();
    let (_, before) = api.get("/connections/openai-main").await;
    assert_eq!(before["last_used_at"], Value::Null, "{before}");
    assert_eq!(greeting.run().await["status"], "succeeded");
    let (_, conn) = api.get("/connections/openai-main").await;
    assert!(conn["last_used_at"].is_string(), "{conn}");
    let (_, audit) = api.get("/audit?connection=openai-main").await;
    let used = &audit["events"][0];
    assert_eq!(used["event"], "used");
    assert_eq!(used["flow_id"], greeting.flow_id());
    assert_eq!(used["detail"]["step"], "ask");
    greeting
        .project
        .assert_nowhere(&[KEY_ONE, TWILIO_TOKEN])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connections_usage_names_the_flows_that_use_it() {
    let greeting = Greeting::start().await;
    let (_, usage) = greeting.api().get("/connections/openai-main/usage").await;
    assert_eq!(
        usage["flows"],
        json!([{"id": greeting.flow_id(), "name": "Greet by SMS"}])
    );
    greeting
        .project
        .assert_nowhere(&[KEY_ONE, TWILIO_TOKEN])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_connection_used_by_a_flow_needs_confirmation() {
    let greeting = Greeting::start().await;
    let api = greeting.api();
    let (status, refused) = api.delete("/connections/openai-main").await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "connection_in_use");
    assert_eq!(refused["flows"][0]["id"], greeting.flow_id());
    assert_eq!(api.get("/connections/openai-main").await.0, 200);
    assert_eq!(
        api.delete("/connections/openai-main?confirm=true").await.0,
        204
    );
    assert_eq!(api.get("/connections/openai-main").await.0, 404);
    greeting
        .project
        .assert_nowhere(&[KEY_ONE, TWILIO_TOKEN])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_run_after_its_connection_is_deleted_fails_with_connection_not_found() {
    let greeting = Greeting::start().await;
    assert_eq!(
        greeting
            .api()
            .delete("/connections/openai-main?confirm=true")
            .await
            .0,
        204
    );
    let report = greeting.run().await;
    assert_eq!(report["status"], "failed");
    assert_eq!(
        step_error(&report, 0),
        ("connection_not_found".into(), "Connection not found".into())
    );
    assert_eq!(report["steps"][1]["status"], "skipped");
    assert!(greeting.chat_authorizations().is_empty());
    greeting
        .project
        .assert_nowhere(&[KEY_ONE, TWILIO_TOKEN])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn renaming_a_connection_keeps_its_flows_working() {
    let greeting = Greeting::start().await;
    let (status, _) = greeting
        .api()
        .patch(
            "/connections/openai-main",
            &json!({"display_name": "GPT (renamed)"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(greeting.run().await["status"], "succeeded");
    greeting
        .project
        .assert_nowhere(&[KEY_ONE, TWILIO_TOKEN])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_run_sees_a_reconnect_at_once() {
    let greeting = Greeting::start().await;
    assert_eq!(greeting.run().await["status"], "succeeded");
    let (status, _) = greeting.reconnect_openai(KEY_TWO).await;
    assert_eq!(status, 200);
    assert_eq!(greeting.run().await["status"], "succeeded");
    assert_eq!(
        greeting.chat_authorizations(),
        [format!("Bearer {KEY_ONE}"), format!("Bearer {KEY_TWO}")]
    );
    greeting
        .project
        .assert_nowhere(&[KEY_ONE, KEY_TWO, TWILIO_TOKEN])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_run_keeps_the_old_key_when_a_reconnect_is_refused() {
    let greeting = Greeting::start().await;
    let (status, body) = greeting.reconnect_openai(REFUSED_KEY).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_credentials"))
    );
    assert_eq!(greeting.run().await["status"], "succeeded");
    assert_eq!(
        greeting.chat_authorizations(),
        [format!("Bearer {KEY_ONE}")]
    );
    greeting
        .project
        .assert_nowhere(&[KEY_ONE, REFUSED_KEY, TWILIO_TOKEN])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_the_service_refuses_fails_its_step_and_puts_the_connection_in_error() {
    let greeting = Greeting::start().await;
    greeting.revoked.store(true, Ordering::SeqCst);
    let report = greeting.run().await;
    assert_eq!(report["status"], "failed");
    assert_eq!(report["steps"][0]["status"], "succeeded");
    assert_eq!(
        step_error(&report, 1),
        ("invalid_api_key".into(), "Invalid API key".into())
    );
    assert_eq!(
        greeting.api().get("/connections/twilio-main").await.1["status"],
        "error"
    );
    // The piece's own words about the refusal are in the log, at the step.
    let log = greeting.project.server.log();
    assert!(
        log.contains("the service refused the connection's credential") && log.contains("step"),
        "{log}"
    );
    greeting
        .project
        .assert_nowhere(&[KEY_ONE, TWILIO_TOKEN])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_in_error_is_active_again_after_a_run_that_works() {
    let greeting = Greeting::start().await;
    greeting.revoked.store(true, Ordering::SeqCst);
    assert_eq!(greeting.run().await["status"], "failed");
    greeting.revoked.store(false, Ordering::SeqCst);
    assert_eq!(greeting.run().await["status"], "succeeded");
    assert_eq!(
        greeting.api().get("/connections/twilio-main").await.1["status"],
        "active"
    );
    greeting
        .project
        .assert_nowhere(&[KEY_ONE, TWILIO_TOKEN])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_connection_and_other_projects_are_reported_as_the_product_says() {
    let home = DataHome::new().await;
    let (_, token_a) = home.project("a").await;
    let (_, token_b) = home.project("b").await;
    let server = TestApp::spawn(&home, Settings::default()).await;
    let a = server.client(&token_a);
    let b = server.client(&token_b);
    let pg = json!({"piece": "postgres", "display_name": "DB", "external_id": "db",
                    "value": {"type": "custom", "props": {"host": "db.internal",
                    "database": "app", "user": "svc", "password": "pw-flow-secret"}}});
    assert_eq!(a.post("/connections", &pg).await.0, 201);
    let flow = json!({"name": "uri", "steps": [{"name": "uri", "piece": "postgres",
                      "action": "connection_uri", "auth": "{{connections['db']}}"}]});
    let (_, made) = a.post("/flows", &flow).await;
    let id_a = made["id"].as_str().expect("id").to_owned();
    let report = run(&a, &id_a).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(
        report["steps"][0]["output"]["uri"],
        "postgresql://svc@db.internal:5432/app?sslmode=require"
    );

    // Project B can neither see A's flow nor reach A's connection through its own.
    let (status, body) = b.post(&format!("/flows/{id_a}/runs"), &json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("flow_not_found"))
    );
    assert_eq!(b.get(&format!("/flows/{id_a}")).await.0, 404);
    assert_eq!(b.delete(&format!("/flows/{id_a}")).await.0, 404);
    assert_eq!(b.get("/flows").await.1["flows"], json!([]));
    let (_, made_b) = b.post("/flows", &flow).await;
    let report = run(&b, made_b["id"].as_str().expect("id")).await;
    assert_eq!(
        step_error(&report, 0),
        ("connection_not_found".into(), "Connection not found".into())
    );

    // An expired connection (its OAuth grant revoked) says so. The status is set
    // behind the server's back here, so restart it: a SQLite server caches rows.
    drop(a);
    let _ = server.stop().await;
    let mut db = home.connect().await;
    sqlx::query("UPDATE connections SET status = 'expired' WHERE external_id = 'db'")
        .execute(&mut db)
        .await
        .expect("expire");
    let server = TestApp::spawn(&home, Settings::default()).await;
    let report = run(&server.client(&token_a), &id_a).await;
    assert_eq!(
        step_error(&report, 0),
        ("connection_expired".into(), "Connection expired".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn flows_are_checked_when_saved() {
    let home = DataHome::new().await;
    let (_, token) = home.project("a").await;
    let server = TestApp::spawn(&home, Settings::default()).await;
    let api = server.client(&token);
    let step = |extra: Value| {
        let mut s = json!({"name": "s", "piece": "postgres", "action": "connection_uri",
                           "auth": "{{connections['db']}}"});
        for (k, v) in extra.as_object().expect("object") {
            s[k] = v.clone();
        }
        s
    };
    for (steps, needle) in [
        (json!([]), "1 to 50 steps"),
        (
            json!([step(json!({"piece": "nope"}))]),
            "Piece not found: nope",
        ),
        (
            json!([step(json!({"action": "nope"}))]),
            "has no action `nope`",
        ),
        (
            json!([step(json!({"auth": "db"}))]),
            "auth must be a connection reference",
        ),
        (
            json!([step(json!({"auth": "{{connections['a b']}}"}))]),
            "external id",
        ),
        (json!([step(json!({"auth": null}))]), "needs a connection"),
        (
            json!([step(json!({"input": {"x": "{{steps.later.output}}"}}))]),
            "does not run before this one",
        ),
        (
            json!([step(json!({"input": {"x": "{{connections['db']}}"}}))]),
            "only be a step's auth",
        ),
        (
            json!([step(json!({})), step(json!({}))]),
            "two steps have this name",
        ),
        (
            json!([step(json!({"input": "text"}))]),
            "input must be a JSON object",
        ),
    ] {
        let (status, body) = api
            .post("/flows", &json!({"name": "f", "steps": steps}))
            .await;
        assert_eq!(status, 422, "{steps}: {body}");
        assert_eq!(body["code"], "invalid_flow");
        let message = body["message"].as_str().expect("message");
        assert!(message.contains(needle), "{message} lacks {needle}");
    }
    // PUT replaces; the references follow the definition.
    let (status, made) = api
        .post("/flows", &json!({"name": "f", "steps": [step(json!({}))]}))
        .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().expect("id");
    let renamed =
        json!({"name": "g", "steps": [step(json!({"auth": "{{connections['other']}}"}))]});
    let (status, updated) = api
        .send("PUT", &format!("/flows/{id}"), Some(&renamed))
        .await;
    assert_eq!((status, updated["name"].as_str()), (200, Some("g")));
    assert_eq!(updated["steps"][0]["auth"], "{{connections['other']}}");
    let (_, list) = api.get("/flows").await;
    assert_eq!(list["flows"].as_array().map(Vec::len), Some(1));
    assert_eq!(api.delete(&format!("/flows/{id}")).await.0, 204);
    assert_eq!(api.get(&format!("/flows/{id}")).await.0, 404);
}
