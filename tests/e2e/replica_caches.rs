//! What one replica keeps for flow runs (flows, connections' sealed rows) never
//! outlives a write made on another: two servers on one PostgreSQL database, the cache
//! of the second warmed by runs, then a change through the first, and the second's very
//! next run sees it; and a run already under way sees it at its next step. (SQLite has
//! one server per file; its caches are checked in `flows.rs` and `tokens.rs`, and the
//! runs straddling a change run on it too, with the one server.)

use crate::web_flows::{CHAT_KEY, openai_connection, openai_holding};
use serde_json::{Value, json};
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::client::Client;
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::{Mock, Recorded, mcp};

/// Two replicas of one project, with a `db` connection and a flow that prints its URI.
struct Replicas {
    home: DataHome,
    project: String,
    token: String,
    one: TestApp,
    two: TestApp,
    flow: String,
}

fn postgres_value(host: &str) -> Value {
    json!({"type": "custom",
           "props": {"host": host, "database": "app", "user": "svc", "password": "pw-replica-planted"}})
}

/// What the flow prints for a connection to `host`.
fn uri(host: &str) -> String {
    format!("postgresql://svc@{host}:5432/app?sslmode=require")
}

fn uri_flow(connection: &str) -> Value {
    json!({"name": "Print the URI", "steps": [
        {"name": "uri", "piece": "postgres", "action": "connection_uri",
         "auth": format!("{{{{connections['{connection}']}}}}")}
    ]})
}

impl Replicas {
    /// `None` on SQLite.
    async fn start() -> Option<Replicas> {
        let home = DataHome::new().await;
        if home.database_url.is_none() {
            eprintln!(
                "SQLite run: replicas share PostgreSQL; this test runs in the PostgreSQL pass"
            );
            return None;
        }
        let (project, token) = home.project("acme").await;
        let one = TestApp::spawn(&home, Settings::default()).await;
        let two = TestApp::spawn(&home, Settings::default()).await;
        let api = one.client(&token);
        for (name, host) in [("db", "one.internal"), ("db-two", "two.internal")] {
            let (status, body) = api
                .post(
                    "/connections",
                    &json!({"piece": "postgres", "display_name": name, "external_id": name,
                            "value": postgres_value(host)}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
        let (status, flow) = api.post("/flows", &uri_flow("db")).await;
        assert_eq!(status, 201, "{flow}");
        let replicas = Replicas {
            flow: flow["id"].as_str().expect("flow id").to_owned(),
            home,
            project,
            token,
            one,
            two,
        };
        // The second replica's caches hold the flow and the connection.
        for _ in 0..3 {
            assert_eq!(replicas.run_on_two().await, (uri("one.internal"), 200));
        }
        Some(replicas)
    }

    /// Points `db` at `host`, through the first replica.
    async fn reconnect_db(&self, host: &str) {
        let (status, body) = self
            .one()
            .post(
                "/connections/db/reconnect",
                &json!({"value": postgres_value(host)}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    fn one(&self) -> Client {
        self.one.client(&self.token)
    }

    /// A run on the second replica: the URI printed, or the step's error code.
    async fn run_on_two(&self) -> (String, u16) {
        let (status, report) = self
            .two
            .client(&self.token)
            .post(&format!("/flows/{}/runs", self.flow), &json!({}))
            .await;
        let step = &report["steps"][0];
        let said = step["output"]["uri"]
            .as_str()
            .or(step["error"]["code"].as_str())
            .or(report["code"].as_str())
            .unwrap_or_default()
            .to_owned();
        (said, status)
    }

    /// The project's revision, read from the database.
    async fn revision(&self) -> i64 {
        let mut conn = self.home.connect().await;
        sqlx::query_scalar("SELECT revision FROM projects WHERE id = $1")
            .bind(&self.project)
            .fetch_one(&mut conn)
            .await
            .expect("the project's revision")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_deleted_on_one_replica_is_not_found_by_the_other_at_once() {
    let Some(r) = Replicas::start().await else {
        return;
    };
    let (status, body) = r.one().delete("/connections/db?confirm=true").await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(r.run_on_two().await, ("connection_not_found".into(), 200));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_reconnected_on_one_replica_runs_with_its_new_credential_on_the_other() {
    let Some(r) = Replicas::start().await else {
        return;
    };
    r.reconnect_db("moved.internal").await;
    assert_eq!(r.run_on_two().await, (uri("moved.internal"), 200));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_changed_or_deleted_on_one_replica_runs_as_it_now_is_on_the_other() {
    let Some(r) = Replicas::start().await else {
        return;
    };
    let (status, body) = r
        .one()
        .send(
            "PUT",
            &format!("/flows/{}", r.flow),
            Some(&uri_flow("db-two")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(r.run_on_two().await, (uri("two.internal"), 200));
    // Pointed back by replacing the connection everywhere it is used.
    let (status, body) = r
        .one()
        .post("/connections/db-two/replace", &json!({"with": "db"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(r.run_on_two().await, (uri("one.internal"), 200));
    let (status, _) = r.one().delete(&format!("/flows/{}", r.flow)).await;
    assert_eq!(status, 204);
    assert_eq!(r.run_on_two().await, ("flow_not_found".into(), 404));
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_leave_the_project_revision_where_it_is_and_a_rename_moves_it() {
    let Some(r) = Replicas::start().await else {
        return;
    };
    let before = r.revision().await;
    for _ in 0..5 {
        assert_eq!(r.run_on_two().await.1, 200);
    }
    // Every run wrote `last_used_at` and its record: the caches stay good.
    assert_eq!(r.revision().await, before);
    let (status, body) = r
        .one()
        .patch("/connections/db", &json!({"display_name": "Main database"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(r.revision().await > before);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agents_tool_on_the_other_replica_calls_with_the_connection_as_it_now_is() {
    let Some(r) = Replicas::start().await else {
        return;
    };
    let (status, made) = r
        .one()
        .post(
            "/agents",
            &json!({"name": "ops", "tools": [{"connection": "db", "action": "connection_uri"}]}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let agent = made["token"].as_str().expect("agent token");
    let mcp_url = format!("{}/mcp", r.two.base);
    let call = json!([["db__connection_uri", {}], ["db__connection_uri", {}]]);
    let report = mcp::client(&mcp_url, agent, &call).await;
    assert!(
        report.to_string().contains(&uri("one.internal")),
        "{report}"
    );

    r.reconnect_db("moved.internal").await;
    let report = mcp::client(&mcp_url, agent, &call).await;
    let text = report.to_string();
    assert!(text.contains(&uri("moved.internal")), "{report}");
    assert!(!text.contains(&uri("one.internal")), "{report}");

    let (status, _) = r.one().delete("/connections/db?confirm=true").await;
    assert_eq!(status, 204);
    let report = mcp::client(&mcp_url, agent, &call).await;
    let text = report.to_string();
    assert!(!text.contains("postgresql://"), "{report}");
    assert!(
        text.contains("no tool named") || text.contains("Connection not found"),
        "{report}"
    );
}

/// A two-step run held inside its first step (an OpenAI question) while the connection
/// of its second step (`db`) is deleted or pointed elsewhere through `writer`; `runner`
/// runs the flow. The report of that one run.
async fn run_straddling(
    runner: &TestApp,
    writer: &TestApp,
    token: &str,
    openai: &Mock,
    change: Change,
) -> Value {
    let api = writer.client(token);
    openai_connection(&api, "gpt", CHAT_KEY).await;
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "postgres", "display_name": "db", "external_id": "db",
                    "value": postgres_value("one.internal")}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, flow) = api
        .post(
            "/flows",
            &json!({"name": "Ask, then print", "steps": [
                {"name": "ask", "piece": "openai", "action": "ask_chatgpt",
                 "auth": "{{connections['gpt']}}", "input": {"prompt": "status?"}},
                {"name": "uri", "piece": "postgres", "action": "connection_uri",
                 "auth": "{{connections['db']}}"}
            ]}),
        )
        .await;
    assert_eq!(status, 201, "{flow}");
    let path = format!("/flows/{}/runs", flow["id"].as_str().expect("flow id"));
    // A first run warms the runner's caches with both connections.
    let (status, report) = runner.client(token).post(&path, &json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["steps"][1]["output"]["uri"], uri("one.internal"));

    openai.close();
    let run = tokio::spawn({
        let client = runner.client(token);
        async move { client.post(&path, &json!({})).await }
    });
    for _ in 0..600 {
        if openai.held() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(openai.held(), 1, "the run's first step reached OpenAI");
    match change {
        Change::Delete => {
            let (status, body) = api.delete("/connections/db?confirm=true").await;
            assert_eq!(status, 204, "{body}");
        }
        Change::Reconnect => {
            let (status, body) = api
                .post(
                    "/connections/db/reconnect",
                    &json!({"value": postgres_value("moved.internal")}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    }
    openai.open();
    let (status, report) = run.await.expect("the run's task");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["steps"][0]["status"], "succeeded", "{report}");
    report
}

/// What happens to the later step's connection while a run is inside its first step.
#[derive(Clone, Copy)]
enum Change {
    Delete,
    Reconnect,
}

/// The report of a run straddling `change`: on PostgreSQL made through another replica
/// than the one running, on SQLite through the one server.
async fn straddle(change: Change) -> Value {
    let openai = openai_holding(|r: &Recorded| r.path == "/v1/chat/completions").await;
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let settings = Settings::default().route("api.openai.com", &openai.base);
    let runner = TestApp::spawn(&home, settings.clone()).await;
    if home.database_url.is_none() {
        return run_straddling(&runner, &runner, &token, &openai, change).await;
    }
    let writer = TestApp::spawn(&home, settings).await;
    run_straddling(&runner, &writer, &token, &openai, change).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_deleted_while_a_run_is_in_an_earlier_step_is_not_found_by_the_later_one() {
    let report = straddle(Change::Delete).await;
    assert_eq!(report["status"], "failed", "{report}");
    assert_eq!(report["steps"][1]["status"], "failed", "{report}");
    assert_eq!(
        report["steps"][1]["error"]["code"], "connection_not_found",
        "{report}"
    );
    assert!(!report.to_string().contains("postgresql://"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_reconnected_while_a_run_is_in_an_earlier_step_is_used_as_it_now_is() {
    let report = straddle(Change::Reconnect).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["steps"][1]["output"]["uri"], uri("moved.internal"));
}
