//! Agents over MCP, with the official Python client: an agent token lists only the
//! tools it was given, with their schemas; a call reaches the service with the
//! credential applied by the host and comes back as the action's JSON; the use is
//! audited as the agent's. A revoked token is refused at once, an expired connection is
//! a tool error with the product's words and fix, another project's agent sees nothing
//! of this one, and no planted secret is in anything the client received.

use crate::connections::{OPENAI_KEY, openai_mock};
use serde_json::{Value, json};
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::client::Client;
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::web::Visitor;
use thinkfleet_tests::{Mock, mcp};

const DB_PASSWORD: &str = "pw-planted-agent-db-4411";

/// The project's connections: OpenAI (`openai-prod`, allowed), a second OpenAI one
/// (`openai-other`, never given to an agent) and PostgreSQL settings (`db`).
async fn connect(api: &Client) {
    for (external_id, value) in [
        (
            "openai-prod",
            json!({"type": "secret_text", "secret_text": OPENAI_KEY}),
        ),
        (
            "openai-other",
            json!({"type": "secret_text", "secret_text": "sk-second-key"}),
        ),
    ] {
        let (status, body) = api
            .post(
                "/connections",
                &json!({"piece": "openai", "display_name": external_id,
                        "external_id": external_id, "value": value}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "postgres", "display_name": "Warehouse", "external_id": "db",
                    "value": {"type": "custom", "props": {"host": "db.internal",
                    "database": "app", "user": "svc", "password": DB_PASSWORD}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn make_agent(api: &Client, name: &str, tools: Value) -> (String, String) {
    let (status, made) = api
        .post("/agents", &json!({"name": name, "tools": tools}))
        .await;
    assert_eq!(status, 201, "{made}");
    (
        made["id"].as_str().expect("id").to_owned(),
        made["token"].as_str().expect("token").to_owned(),
    )
}

fn names(report: &Value) -> Vec<String> {
    let mut names: Vec<String> = report["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {report}"))
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

/// Two projects, `a` and `b`, each with the connections of [`connect`], on a server
/// whose OpenAI is a mock.
struct TwoProjects {
    openai: Mock,
    home: DataHome,
    project_a: String,
    server: TestApp,
    a: Client,
    b: Client,
}

impl TwoProjects {
    /// [`OneProject`] as `a`, and `b` made beside it.
    async fn start() -> TwoProjects {
        let one = OneProject::start().await;
        let (_, token_b) = one.home.project("b").await;
        let b = one.server.client(&token_b);
        connect(&b).await;
        let OneProject {
            openai,
            home,
            project,
            server,
            api,
            ..
        } = one;
        TwoProjects {
            openai,
            home,
            project_a: project,
            server,
            a: api,
            b,
        }
    }

    fn mcp_url(&self) -> String {
        format!("{}/mcp", self.server.base)
    }

    /// A's agent `helper` with OpenAI's `list_models` and PostgreSQL's
    /// `connection_uri`; its token.
    async fn helper(&self) -> String {
        let tools = json!([{"connection": "openai-prod", "action": "list_models"},
                           {"connection": "db", "action": "connection_uri"}]);
        make_agent(&self.a, "helper", tools).await.1
    }
}

/// How many of `api`'s `used` events name `agent`.
async fn uses_by(api: &Client, agent: &str) -> usize {
    let (_, used) = api.get("/audit?event=used").await;
    used["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["detail"]["agent"] == agent)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_is_given_only_its_projects_connections_and_their_pieces_actions() {
    let t = TwoProjects::start().await;
    for (tools, why) in [
        (
            json!([{"connection": "nowhere", "action": "list_models"}]),
            "Connection not found",
        ),
        (
            json!([{"connection": "openai-prod", "action": "drop_tables"}]),
            "no such action",
        ),
        (json!([]), "1 to 100"),
    ] {
        let (status, body) =
            t.a.post("/agents", &json!({"name": "x", "tools": tools}))
                .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["message"].as_str().expect("message").contains(why),
            "{body}"
        );
    }
    // B cannot give its agent A's connection, even by its id.
    let (_, a_db) = t.a.get("/connections/db").await;
    let a_db_id = a_db["id"].as_str().expect("id");
    let (status, body) = t
        .b
        .post(
            "/agents",
            &json!({"name": "thief", "tools": [{"connection": a_db_id, "action": "connection_uri"}]}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["message"], "tools[0].connection: Connection not found");
    assert!(!body.to_string().contains(a_db_id));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_lists_only_its_tools_and_calls_them_with_the_credential_applied_by_the_host() {
    let t = TwoProjects::start().await;
    let token = t.helper().await;
    let with_the_key = |openai: &Mock| {
        let bearer = format!("Bearer {OPENAI_KEY}");
        openai
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/models" && r.header("authorization") == bearer)
            .count()
    };
    let before = with_the_key(&t.openai);
    let report = mcp::client(
        &t.mcp_url(),
        &token,
        &json!([["openai-prod__list_models", {}], ["db__connection_uri", {}]]),
    )
    .await;
    assert_eq!(report["server"], "thinkfleet", "{report}");
    assert_eq!(
        names(&report),
        ["db__connection_uri", "openai-prod__list_models"]
    );
    let list_models = report["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "openai-prod__list_models")
        .cloned()
        .expect("listed");
    assert_eq!(list_models["title"], "List models (openai-prod)");
    assert!(
        list_models["description"]
            .as_str()
            .expect("description")
            .contains("Uses the OpenAI connection “openai-prod”"),
        "{list_models}"
    );
    assert_eq!(list_models["input_schema"]["type"], "object");

    let results = report["results"].as_array().expect("results");
    assert_eq!(results[0]["is_error"], false, "{report}");
    assert_eq!(results[0]["structured"], json!({"models": ["gpt-4o"]}));
    assert_eq!(results[1]["is_error"], false, "{report}");
    assert_eq!(
        results[1]["structured"]["uri"],
        "postgresql://svc@db.internal:5432/app?sslmode=require"
    );
    // The host applied the key to the service; the agent never saw it.
    assert_eq!(with_the_key(&t.openai), before + 1);
    let text = report.to_string();
    assert!(!text.contains(OPENAI_KEY) && !text.contains(DB_PASSWORD));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agents_calls_are_audited_as_its_own_and_its_token_shows_its_last_use() {
    let t = TwoProjects::start().await;
    let token = t.helper().await;
    let calls = json!([["openai-prod__list_models", {}], ["db__connection_uri", {}]]);
    let report = mcp::client(&t.mcp_url(), &token, &calls).await;
    assert_eq!(uses_by(&t.a, "helper").await, 2, "{report}");
    let visitor_password = "visitor-pw-planted-agents-51";
    t.home
        .user("ann@example.com", visitor_password, false, &[&t.project_a])
        .await;
    let ann = Visitor::new(&t.server.base);
    ann.login("ann@example.com", visitor_password).await;
    let activity = ann.get("/audit").await;
    assert!(
        activity.body.contains("Used by agent “helper”"),
        "{}",
        activity.body
    );
    let (_, agents) = t.a.get("/agents").await;
    assert_eq!(agents["agents"][0]["name"], "helper");
    assert!(agents["agents"][0]["last_used_at"].is_string(), "{agents}");
    assert!(
        !agents.to_string().contains("tfa_"),
        "a listing shows no token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn another_projects_agent_sees_only_its_own_tools_and_cannot_call_this_projects() {
    let t = TwoProjects::start().await;
    t.helper().await;
    let tools = json!([{"connection": "db", "action": "connection_uri"}]);
    let (_, token_b) = make_agent(&t.b, "other", tools).await;
    let asked_before = t.openai.requests().len();
    let report = mcp::client(
        &t.mcp_url(),
        &token_b,
        &json!([["openai-prod__list_models", {}]]),
    )
    .await;
    assert!(
        report["failed"]
            .as_str()
            .is_some_and(|f| f.contains("no tool named")),
        "{report}"
    );
    // Nothing was used, so nothing is audited; the log names the agent that asked.
    let log = t.server.log();
    assert!(
        log.lines()
            .any(|l| l.contains("an agent called a tool it does not have")
                && l.contains("openai-prod__list_models")),
        "{log}"
    );
    let listed = mcp::client(&t.mcp_url(), &token_b, &json!([])).await;
    assert_eq!(names(&listed), ["db__connection_uri"]);
    assert_eq!(uses_by(&t.b, "other").await, 0, "B's agent called nothing");
    assert_eq!(uses_by(&t.a, "other").await, 0, "nor anything of A's");
    assert_eq!(
        t.openai.requests().len(),
        asked_before,
        "OpenAI was not called"
    );
}

/// One project with [`connect`]'s connections, on a server whose OpenAI is a mock.
struct OneProject {
    openai: Mock,
    home: DataHome,
    project: String,
    token: String,
    server: TestApp,
    api: Client,
}

impl OneProject {
    async fn start() -> OneProject {
        let openai = openai_mock().await;
        let home = DataHome::new().await;
        let (project, token) = home.project("a").await;
        let server = TestApp::spawn(
            &home,
            Settings::default().route("api.openai.com", &openai.base),
        )
        .await;
        let api = server.client(&token);
        connect(&api).await;
        OneProject {
            openai,
            home,
            project,
            token,
            server,
            api,
        }
    }

    fn mcp_url(&self) -> String {
        format!("{}/mcp", self.server.base)
    }
}

/// The tool every agent of these tests is given.
fn uri_tool() -> Value {
    json!([{"connection": "db", "action": "connection_uri"}])
}

/// Opens an MCP session over plain HTTP (`initialize`, as a client's first request),
/// with `bearer` or none, and `host` as the Host header when given; the status.
async fn initialize_status(url: &str, bearer: Option<&str>, host: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-03-26", "capabilities": {},
            "clientInfo": {"name": "probe", "version": "1"}}}),
        );
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    if let Some(host) = host {
        request = request.header("host", host);
    }
    request.send().await.expect("answered").status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_agent_token_is_refused_at_once_and_stays_listed_as_revoked() {
    let t = OneProject::start().await;
    let (live_id, _) = make_agent(&t.api, "kept", uri_tool()).await;
    let (revoked_id, revoked) = make_agent(&t.api, "gone", uri_tool()).await;
    let listed = mcp::client(&t.mcp_url(), &revoked, &json!([])).await;
    assert_eq!(names(&listed), ["db__connection_uri"]);
    assert_eq!(t.api.delete(&format!("/agents/{revoked_id}")).await.0, 204);
    let refused = mcp::client(&t.mcp_url(), &revoked, &json!([])).await;
    assert!(refused["failed"].is_string(), "{refused}");
    // On the wire: 401, as without any token or with a project API token.
    for bearer in [Some(revoked.as_str()), None, Some(t.token.as_str())] {
        assert_eq!(initialize_status(&t.mcp_url(), bearer, None).await, 401);
    }
    assert_eq!(t.api.delete(&format!("/agents/{revoked_id}")).await.0, 404);
    let (_, agents) = t.api.get("/agents").await;
    let listed: Vec<(&str, bool)> = agents["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| (a["id"].as_str().expect("id"), a["revoked_at"].is_string()))
        .collect();
    assert!(listed.contains(&(live_id.as_str(), false)), "{agents}");
    assert!(listed.contains(&(revoked_id.as_str(), true)), "{agents}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mcp_endpoint_answers_any_host_name_and_the_token_decides() {
    let t = OneProject::start().await;
    let (_, agent) = make_agent(&t.api, "reporter", uri_tool()).await;
    // A LAN address or a service name: no Host check stands in for the token.
    let lan = Some("thinkfleet.internal:8080");
    assert_eq!(initialize_status(&t.mcp_url(), None, lan).await, 401);
    assert_eq!(
        initialize_status(&t.mcp_url(), Some(&agent), lan).await,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_tokens_end_with_the_api_token_that_made_them() {
    let t = OneProject::start().await;
    let (code, out, err) = t
        .home
        .run(&["token", "create", "--project", &t.project, "--json"], &[])
        .await;
    assert_eq!(code, 0, "{err}");
    let second: Value = serde_json::from_str(&out).expect("json");
    let second_token = second["token"].as_str().expect("token").to_owned();
    let second_id = second_token
        .strip_prefix("tfk_")
        .and_then(|t| t.split_once('_'))
        .map(|(id, _)| id.to_owned())
        .expect("token id");
    let (_, made_by_second) =
        make_agent(&t.server.client(&second_token), "leaked", uri_tool()).await;
    let (_, made_by_first) = make_agent(&t.api, "kept", uri_tool()).await;
    let listed = mcp::client(&t.mcp_url(), &made_by_second, &json!([])).await;
    assert_eq!(names(&listed), ["db__connection_uri"]);
    // Revoking the API token (a leak) takes its agent tokens with it, and only those.
    assert_eq!(t.api.delete(&format!("/tokens/{second_id}")).await.0, 204);
    let gone = mcp::client(&t.mcp_url(), &made_by_second, &json!([])).await;
    assert!(gone["failed"].is_string(), "{gone}");
    let kept = mcp::client(&t.mcp_url(), &made_by_first, &json!([])).await;
    assert_eq!(names(&kept), ["db__connection_uri"], "{kept}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_on_an_expired_connection_answers_the_products_error_and_fix() {
    let t = OneProject::start().await;
    let (_, agent) = make_agent(&t.api, "reporter", uri_tool()).await;
    // Expired behind the server's back: restart it, a SQLite server caches rows.
    let OneProject {
        openai,
        home,
        server,
        ..
    } = t;
    let _ = server.stop().await;
    let mut db = home.connect().await;
    sqlx::query("UPDATE connections SET status = 'expired' WHERE external_id = 'db'")
        .execute(&mut db)
        .await
        .expect("expire");
    let server = TestApp::spawn(
        &home,
        Settings::default().route("api.openai.com", &openai.base),
    )
    .await;
    let report = mcp::client(
        &format!("{}/mcp", server.base),
        &agent,
        &json!([["db__connection_uri", {}]]),
    )
    .await;
    let result = &report["results"][0];
    assert_eq!(result["is_error"], true, "{report}");
    assert_eq!(
        result["structured"],
        json!({"code": "connection_expired", "message": "Connection expired",
               "fix": "Open the connection and click Reconnect."})
    );
}

/// [`OneProject`] with its admin ada@example.com signed in.
struct AdminSignedIn {
    t: OneProject,
    ada: Visitor,
    /// The id of the PostgreSQL connection `db`.
    db_id: String,
}

impl AdminSignedIn {
    async fn start() -> AdminSignedIn {
        let t = OneProject::start().await;
        let (_, db) = t.api.get("/connections/db").await;
        let db_id = db["id"].as_str().expect("id").to_owned();
        let password = "admin-pw-planted-agents-77";
        t.home
            .user("ada@example.com", password, true, &[&t.project])
            .await;
        let ada = Visitor::new(&t.server.base);
        ada.login("ada@example.com", password).await;
        AdminSignedIn { t, ada, db_id }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_makes_an_agent_token_in_settings_sees_its_calls_and_revokes_it() {
    let AdminSignedIn { t, ada, db_id } = AdminSignedIn::start().await;
    let (server, api) = (&t.server, &t.api);
    let settings = ada.get("/settings").await;
    assert!(
        settings.body.contains("Agent tokens (MCP)"),
        "{}",
        settings.body
    );
    assert!(settings.body.contains("Connection URI (Warehouse)"));
    let tool = format!("tool.{db_id}|connection_uri");
    let made = ada
        .post(
            "/settings/agents",
            &[
                ("csrf", &settings.csrf()),
                ("name", "nightly report"),
                (&tool, "on"),
            ],
        )
        .await;
    let start = made
        .body
        .find("id=\"new-agent-token\">")
        .unwrap_or_else(|| panic!("no token shown: {}", made.body))
        + "id=\"new-agent-token\">".len();
    let shown = &made.body[start..];
    let agent_token = shown[..shown.find('<').expect("end")].to_owned();
    assert!(agent_token.starts_with("tfa_"), "{agent_token}");
    let url = format!("{}/mcp", server.base);
    let report = mcp::client(&url, &agent_token, &json!([["db__connection_uri", {}]])).await;
    assert_eq!(names(&report), ["db__connection_uri"]);
    assert_eq!(report["results"][0]["is_error"], false, "{report}");

    // Listed with its tool and last call; the token is not shown again.
    let settings = ada.get("/settings").await;
    assert!(settings.body.contains("nightly report"));
    assert!(!settings.body.contains(&agent_token));
    let (_, agents) = api.get("/agents").await;
    let id = agents["agents"][0]["id"].as_str().expect("id").to_owned();
    // Its calls, from its row: the Audit page filtered to this agent.
    assert!(
        settings
            .body
            .contains(&format!("href=\"/audit?agent={id}\""))
    );
    let calls = ada.get(&format!("/audit?agent={id}")).await;
    assert!(
        calls.body.contains("Used by agent “nightly report”"),
        "{}",
        calls.body
    );
    assert!(
        !calls.body.contains("<td>Created</td>"),
        "only the agent's calls: {}",
        calls.body
    );
    assert!(
        calls
            .body
            .contains(&format!("name=\"agent\" value=\"{id}\"")),
        "the filter form keeps it"
    );
    let (_, by_api) = api.get(&format!("/audit?agent={id}")).await;
    assert_eq!(
        by_api["events"].as_array().map(Vec::len),
        Some(1),
        "{by_api}"
    );
    let (_, none) = api.get("/audit?agent=someone-else").await;
    assert_eq!(none["events"], json!([]));
    let revoked = ada
        .post(
            &format!("/settings/agents/{id}/revoke"),
            &[("csrf", &settings.csrf())],
        )
        .await;
    assert_eq!(revoked.location(), "/settings");
    let after = ada.get("/settings").await;
    assert!(after.body.contains("(revoked)"), "{}", after.body);
    let refused = mcp::client(&url, &agent_token, &json!([])).await;
    assert!(refused["failed"].is_string(), "{refused}");
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_tokens_are_made_only_by_an_admin_with_the_pages_csrf_token_and_a_tool() {
    let AdminSignedIn { t, ada, db_id } = AdminSignedIn::start().await;
    let (home, project, server, api) = (&t.home, t.project.as_str(), &t.server, &t.api);
    // A form naming no tool says so, and makes nothing.
    let settings = ada.get("/settings").await;
    let empty = ada
        .post(
            "/settings/agents",
            &[("csrf", &settings.csrf()), ("name", "idle")],
        )
        .await;
    assert!(empty.body.contains("tools must list"), "{}", empty.body);
    // Not for members who are not admins, nor without the page's CSRF token.
    let member_password = "member-pw-planted-agents-31";
    home.user("gus@example.com", member_password, false, &[project])
        .await;
    let gus = Visitor::new(&server.base);
    gus.login("gus@example.com", member_password).await;
    let gus_page = gus.get("/connections").await;
    let forged_tool = format!("tool.{db_id}|connection_uri");
    let by_member = gus
        .post(
            "/settings/agents",
            &[
                ("csrf", &gus_page.csrf()),
                ("name", "sneaky"),
                (&forged_tool, "on"),
            ],
        )
        .await;
    assert_eq!(by_member.status, 404);
    let forged = ada
        .post(
            "/settings/agents",
            &[("csrf", "forged"), ("name", "sneaky"), (&forged_tool, "on")],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(!ada.get("/settings").await.body.contains("sneaky"));
    assert_eq!(api.get("/agents").await.1["agents"], json!([]));
}
