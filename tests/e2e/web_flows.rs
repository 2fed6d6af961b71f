//! Flows in a real browser (headless Chromium) against the in-process server and the
//! strict local OAuth2 provider: a flow's first step built from nothing in the editor
//! with its connection made from the step's dropdown (an API key), a second step whose
//! Slack connection is made in the OAuth2 popup from its dropdown, the two-step flow
//! refusing a wrong order and run; an expired connection fixed from the run's Reconnect button; a deleted
//! connection fixed from "Choose a connection"; one connection replaced by another
//! across two flows. Screenshots of the editor and of a failed run go to
//! docs/screenshots/.

use crate::web_ui::{PASSWORD, log_in};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::browser::Browser;
use thinkfleet_tests::client::Client;
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::oauth_fixture::{connect_slack, register_app, setup, slack_flow};
use thinkfleet_tests::requests::{NewConnection, NewFlow, Step};
use thinkfleet_tests::{Mock, Recorded};

/// The OpenAI key the chat mock accepts.
pub const CHAT_KEY: &str = "sk-chat-planted-3c9d41";
/// A second key it accepts.
pub const CHAT_KEY_2: &str = "sk-chat-planted-second-8e2f";

/// OpenAI's models and chat endpoints, accepting [`CHAT_KEY`] and [`CHAT_KEY_2`] until
/// `refuse` is set; the reply is always "All systems go".
pub async fn chat_mock(refuse: Arc<AtomicBool>) -> Mock {
    Mock::start(move |r: &Recorded| {
        let auth = r.header("authorization");
        let good = auth == format!("Bearer {CHAT_KEY}") || auth == format!("Bearer {CHAT_KEY_2}");
        if !good || refuse.load(Ordering::SeqCst) {
            return (
                401,
                json!({"error": {"message": "Incorrect API key provided"}}),
            );
        }
        match r.path.as_str() {
            "/v1/chat/completions" => (
                200,
                json!({"model": "gpt-4o-mini", "choices": [{"message": {"content": "All systems go"}}]}),
            ),
            _ => (200, json!({"data": [{"id": "gpt-4o-mini"}]})),
        }
    })
    .await
}

/// OpenAI's models and chat endpoints, accepting any key; the requests `hold` picks
/// wait while the mock's gate is closed.
pub async fn openai_holding(hold: impl Fn(&Recorded) -> bool + Send + Sync + 'static) -> Mock {
    Mock::start_holding(
        |r: &Recorded| match r.path.as_str() {
            "/v1/chat/completions" => (
                200,
                json!({"model": "gpt-4o-mini", "choices": [{"message": {"content": "ok"}}]}),
            ),
            _ => (200, json!({"data": [{"id": "gpt-4o-mini"}]})),
        },
        hold,
    )
    .await
}

/// Creates an OpenAI connection through the API.
pub async fn openai_connection(api: &Client, external_id: &str, key: &str) {
    let new =
        NewConnection::secret_text("openai", external_id, key).named(&format!("GPT {external_id}"));
    if let Err(refused) = api.create_connection(&new).await {
        panic!("{external_id} not created: {refused:?}");
    }
}

/// A flow of `steps` OpenAI steps, each asking through `connection`; its id.
pub async fn openai_flow(api: &Client, name: &str, connection: &str, steps: usize) -> String {
    let steps = (1..=steps)
        .map(|n| {
            Step::new(&format!("ask{n}"), "openai", "ask_chatgpt")
                .using(connection)
                .input(json!({"prompt": "status?"}))
        })
        .collect();
    match api.create_flow(&NewFlow::new(name, steps)).await {
        Ok(flow) => flow.id,
        Err(refused) => panic!("{name} not created: {refused:?}"),
    }
}

/// A server whose OpenAI goes to the chat mock, with project "Acme" and its admin
/// ada@example.com.
pub struct ChatApp {
    /// The OpenAI mock (kept alive with the server).
    pub chat: Mock,
    /// The data home.
    pub home: DataHome,
    /// The project's id.
    pub project: String,
    /// Its API token.
    pub token: String,
    /// The server.
    pub app: TestApp,
}

impl ChatApp {
    /// Starts one, with `settings` (OpenAI's route added).
    pub async fn start(settings: Settings) -> ChatApp {
        let chat = chat_mock(Arc::default()).await;
        let home = DataHome::new().await;
        let (project, token) = home.project("Acme").await;
        home.user("ada@example.com", PASSWORD, true, &[&project])
            .await;
        let app = TestApp::spawn(&home, settings.route("api.openai.com", &chat.base)).await;
        ChatApp {
            chat,
            home,
            project,
            token,
            app,
        }
    }

    /// The API client of the project.
    pub fn api(&self) -> Client {
        self.app.client(&self.token)
    }
}

/// The flow id in a path like `/flows/ID?done=…`.
fn flow_id(path: &str) -> String {
    path.trim_start_matches("/flows/")
        .split(['?', '/'])
        .next()
        .expect("id")
        .to_owned()
}

/// The OAuth2 fixture with the chat mock as OpenAI, Slack's app registered, and the
/// project's admin signed in, in a browser.
struct Editor {
    _chat: Mock,
    s: thinkfleet_tests::oauth_fixture::Setup,
    browser: Browser,
}

impl Editor {
    async fn start() -> Editor {
        let chat = chat_mock(Arc::default()).await;
        let s = setup(
            false,
            Settings::default().route("api.openai.com", &chat.base),
        )
        .await;
        register_app(&s, "slack").await;
        s.home
            .user("ada@example.com", PASSWORD, true, &[&s.project])
            .await;
        let browser = Browser::start().await;
        log_in(&browser, &s.server, "ada@example.com").await;
        Editor {
            _chat: chat,
            s,
            browser,
        }
    }

    fn api(&self) -> Client {
        self.s.server.client(&self.s.token)
    }

    /// Closes the browser; neither the log nor the last page holds any of `secrets`.
    async fn close_holding_none_of(self, secrets: &[&str]) {
        let html = self.browser.html().await;
        self.browser.close().await;
        for secret in secrets {
            assert!(
                !self.s.server.log().contains(secret),
                "the log holds {secret}"
            );
            assert!(!html.contains(secret));
        }
    }
}

/// The OpenAI connection "GPT main" (`gpt-main`), as the first test makes it.
async fn gpt_main(api: &Client) {
    let new = NewConnection::secret_text("openai", "gpt-main", CHAT_KEY).named("GPT main");
    api.create_connection(&new).await.expect("GPT main created");
}

/// "Morning brief": step `ask` (OpenAI through `gpt-main`), then, with `slack`, step
/// `post` (Slack through `ops-slack`, posting the first step's reply); its id.
async fn morning_brief(api: &Client, slack: bool) -> String {
    let mut steps = vec![
        Step::new("ask", "openai", "ask_chatgpt")
            .using("gpt-main")
            .input(json!({"prompt": "Summarise the night"})),
    ];
    if slack {
        steps.push(
            Step::new("post", "slack", "send_message")
                .using("ops-slack")
                .input(json!({"channel": "#ops", "text": "{{steps.ask.output.reply}}"})),
        );
    }
    let new = NewFlow::new("Morning brief", steps);
    api.create_flow(&new)
        .await
        .expect("Morning brief created")
        .id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_step_is_built_in_the_editor_with_a_connection_made_from_its_dropdown() {
    let e = Editor::start().await;
    let (browser, base) = (&e.browser, &e.s.server.base);

    // No flow yet: the list says what a flow is and offers to build one.
    browser.goto(&format!("{base}/flows")).await;
    assert!(browser.text("#no-flows").await.contains("No flows yet"));
    browser.click("#new-flow").await;
    // Choose the app, then the action (OpenAI has two).
    browser.click("#piece-openai").await;
    browser.click("#action-ask_chatgpt").await;
    browser.fill("#flow_name", "Morning brief").await;
    browser.fill("#step", "ask").await;
    browser.fill("#field-prompt", "Summarise the night").await;
    // The step's dropdown: no OpenAI connection yet, "New connection…" last.
    let options = browser.count("#connection option").await;
    assert_eq!(options, 2, "placeholder and New connection…");
    browser.select("#connection", "__new__").await;
    browser
        .wait_for_path("/connections/new/openai?return=")
        .await;
    assert!(
        browser
            .text("#for-step")
            .await
            .contains("back to your flow step")
    );
    browser.fill("#display_name", "GPT main").await;
    browser.fill("#external_id", "gpt-main").await;
    browser
        .fill("#field-secret_text", "sk-wrong-planted-11")
        .await;
    browser.click("#save").await;
    assert!(browser.text("#error").await.contains("Invalid API key"));
    browser.fill("#field-secret_text", CHAT_KEY).await;
    browser.click("#save").await;
    // Back at the step, everything typed kept, the new connection selected.
    browser.wait_for_path("/flows/new?").await;
    assert_eq!(browser.value("#flow_name").await, "Morning brief");
    assert_eq!(browser.value("#field-prompt").await, "Summarise the night");
    assert_eq!(browser.value("#connection").await, "gpt-main");
    assert!(
        browser
            .text("#connection option[value='gpt-main']")
            .await
            .contains("GPT main (Active)")
    );
    // The stored reference is in the advanced view.
    browser.click("#advanced summary").await;
    assert_eq!(
        browser.text("#reference").await,
        "{{connections['gpt-main']}}"
    );
    browser.click("#save-step").await;
    let mut created = String::new();
    for _ in 0..100 {
        created = browser.path().await;
        if created.ends_with("?done=created") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(created.ends_with("?done=created"), "{created}");
    let id = flow_id(&created);
    assert!(browser.text("#notice").await.contains("Flow created"));

    let (_, flow) = e.api().get(&format!("/flows/{id}")).await;
    assert_eq!(flow["steps"][0]["auth"], "{{connections['gpt-main']}}");
    e.close_holding_none_of(&[CHAT_KEY, "sk-wrong-planted-11", PASSWORD])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_later_step_connects_slack_in_the_popup_from_its_dropdown_and_uses_an_earlier_output() {
    let e = Editor::start().await;
    let browser = &e.browser;
    gpt_main(&e.api()).await;
    let id = morning_brief(&e.api(), false).await;
    browser
        .goto(&format!("{}/flows/{id}", e.s.server.base))
        .await;

    // Step 2: Slack, whose connection is made in the OAuth2 popup from its dropdown.
    browser.click("#add-step").await;
    browser.click("#piece-slack").await;
    // One action: straight to the form, with the earlier step's output offered.
    assert!(
        browser
            .text("#references")
            .await
            .contains("{{steps.ask.output}}")
    );
    browser.fill("#step", "post").await;
    browser.fill("#field-channel", "#ops").await;
    browser
        .fill("#field-text", "{{steps.ask.output.reply}}")
        .await;
    browser.select("#connection", "__new__").await;
    browser
        .wait_for_path("/connections/new/slack?return=")
        .await;
    browser.fill("#display_name", "Ops Slack").await;
    let opener = browser.client.window().await.expect("window");
    browser.click("#connect").await;
    browser
        .wait_for_path(&format!("/flows/{id}/steps/new?"))
        .await;
    assert_eq!(browser.client.window().await.expect("window"), opener);
    assert_eq!(browser.value("#connection").await, "ops-slack");
    assert_eq!(
        browser.value("#field-text").await,
        "{{steps.ask.output.reply}}"
    );
    // The screenshot shows the dropdown open (a listbox: headless Chromium does not
    // paint a native dropdown's popup).
    browser
        .client
        .execute(
            "var s = document.getElementById('connection'); s.size = s.options.length;",
            vec![],
        )
        .await
        .expect("script");
    browser.screenshot("flow-step-connection-dropdown").await;
    browser.click("#save-step").await;
    browser
        .wait_for_path(&format!("/flows/{id}?done=saved"))
        .await;
    let steps = browser.text("#steps").await;
    assert!(
        steps.contains("Ops Slack") && steps.contains("GPT main"),
        "{steps}"
    );
    browser.screenshot("flow").await;

    let (_, flow) = e.api().get(&format!("/flows/{id}")).await;
    assert_eq!(flow["steps"][1]["auth"], "{{connections['ops-slack']}}");
    assert_eq!(
        flow["steps"][1]["input"]["text"],
        "{{steps.ask.output.reply}}"
    );
    e.close_holding_none_of(&[CHAT_KEY, PASSWORD]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_two_step_flow_refuses_an_order_that_reads_a_later_step_and_runs_from_its_page() {
    let e = Editor::start().await;
    let (browser, base, s) = (&e.browser, &e.s.server.base, &e.s);
    gpt_main(&e.api()).await;
    connect_slack(s, "ops-slack").await;
    let id = morning_brief(&e.api(), true).await;
    browser.goto(&format!("{base}/flows/{id}")).await;

    // Moving the Slack step first would read a step that has not run: refused, kept.
    browser.click("#down-step-1").await;
    assert!(
        browser
            .text("#error")
            .await
            .contains("does not run before this one")
    );
    assert_eq!(browser.count(".step").await, 2);

    // Run: both steps succeed, and Slack received the first step's reply.
    browser.click("#run").await;
    browser.wait_for_path(&format!("/flows/{id}/runs/")).await;
    assert_eq!(browser.text("#run-status").await, "Succeeded");
    assert!(browser.text("#run-step-1").await.contains("All systems go"));
    let posted = s
        .provider
        .resource_requests()
        .into_iter()
        .filter(|(_, path, _)| path == "/api/chat.postMessage")
        .count();
    assert_eq!(posted, 1);
    browser.goto(&format!("{base}/flows")).await;
    let list = browser.text("#flows").await;
    assert!(
        list.contains("Morning brief") && list.contains("Succeeded"),
        "{list}"
    );
    assert!(
        list.contains("OpenAI: Ask ChatGPT") && list.contains("Slack: Send message"),
        "{list}"
    );

    e.close_holding_none_of(&[CHAT_KEY, PASSWORD]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_connection_is_fixed_from_the_failed_runs_reconnect_button() {
    let s = setup(false, Settings::default()).await;
    register_app(&s, "slack").await;
    s.provider.set_expires_in(1);
    connect_slack(&s, "team").await;
    let api = s.server.client(&s.token);
    let id = slack_flow(&api, "team").await;
    s.home
        .user("ada@example.com", PASSWORD, true, &[&s.project])
        .await;
    let browser = Browser::start().await;
    log_in(&browser, &s.server, "ada@example.com").await;

    // The provider revokes the grant: the refresh meets invalid_grant.
    s.provider.fail_refresh_with_invalid_grant(true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    browser.goto(&format!("{}/flows/{id}", s.server.base)).await;
    browser.click("#run").await;
    browser.wait_for_path(&format!("/flows/{id}/runs/")).await;
    assert_eq!(browser.text("#run-status").await, "Failed");
    let step = browser.text("#run-step-1").await;
    assert!(step.contains("Connection expired"), "{step}");
    assert!(
        step.contains("Open the connection and click Reconnect."),
        "{step}"
    );
    assert_eq!(browser.text("#fix-1").await, "Reconnect with Slack");
    browser.screenshot("run-failed-with-fix").await;

    // Reconnect from the run's button: the popup, then back to the flow.
    s.provider.fail_refresh_with_invalid_grant(false);
    s.provider.set_expires_in(3600);
    let exchanges = s.provider.code_exchanges();
    browser.click("#fix-1").await;
    browser
        .wait_for_path(&format!("/flows/{id}?done=reconnected"))
        .await;
    assert_eq!(s.provider.code_exchanges(), exchanges + 1);
    assert!(browser.text("#steps").await.contains("Active"));
    browser.click("#run").await;
    browser.wait_for_path(&format!("/flows/{id}/runs/")).await;
    assert_eq!(browser.text("#run-status").await, "Succeeded");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_whose_connection_was_deleted_is_fixed_from_connection_not_found() {
    let c = ChatApp::start(Settings::default()).await;
    let (app, api) = (&c.app, c.api());
    openai_connection(&api, "gpt-old", CHAT_KEY).await;
    openai_connection(&api, "gpt-new", CHAT_KEY_2).await;
    let id = openai_flow(&api, "Digest", "gpt-old", 1).await;
    let (status, _) = api.delete("/connections/gpt-old?confirm=true").await;
    assert_eq!(status, 204);

    let browser = Browser::start().await;
    log_in(&browser, app, "ada@example.com").await;
    browser.goto(&format!("{}/flows/{id}", app.base)).await;
    assert!(
        browser
            .text("#step-1")
            .await
            .contains("Connection not found")
    );
    browser.click("#run").await;
    browser.wait_for_path(&format!("/flows/{id}/runs/")).await;
    let step = browser.text("#run-step-1").await;
    assert!(step.contains("Connection not found"), "{step}");
    assert!(
        step.contains("select a valid connection from the dropdown"),
        "{step}"
    );
    assert_eq!(browser.text("#fix-1").await, "Choose a connection");
    browser.click("#fix-1").await;
    browser
        .wait_for_path(&format!("/flows/{id}/steps/1/edit?choose=1"))
        .await;
    // The editor names the missing connection and puts the dropdown first.
    assert!(browser.text("#dangling").await.contains("gpt-old"));
    let focused = browser
        .client
        .execute("return document.activeElement.id;", vec![])
        .await
        .expect("script");
    assert_eq!(focused, json!("connection"));
    assert_eq!(browser.value("#connection").await, "");
    browser.select("#connection", "gpt-new").await;
    browser.click("#save-step").await;
    browser
        .wait_for_path(&format!("/flows/{id}?done=saved"))
        .await;
    browser.click("#run").await;
    browser.wait_for_path(&format!("/flows/{id}/runs/")).await;
    assert_eq!(browser.text("#run-status").await, "Succeeded");
    // The run list tells the story: one failure, then a success.
    browser.goto(&format!("{}/flows/{id}", app.base)).await;
    let runs = browser.text("#runs").await;
    assert!(
        runs.contains("Failed") && runs.contains("Succeeded"),
        "{runs}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_is_replaced_by_another_across_two_flows_in_one_step() {
    let c = ChatApp::start(Settings::default()).await;
    let (app, api) = (&c.app, c.api());
    openai_connection(&api, "gpt-a", CHAT_KEY).await;
    openai_connection(&api, "gpt-b", CHAT_KEY_2).await;
    let first = openai_flow(&api, "Digest", "gpt-a", 2).await;
    let second = openai_flow(&api, "Alerts", "gpt-a", 1).await;
    let untouched = openai_flow(&api, "Other", "gpt-b", 1).await;

    let browser = Browser::start().await;
    log_in(&browser, app, "ada@example.com").await;
    browser
        .goto(&format!("{}/connections/gpt-a", app.base))
        .await;
    let section = browser.text("#replace").await;
    assert!(
        section.contains("Digest") && section.contains("Alerts") && !section.contains("Other"),
        "{section}"
    );
    browser.select("#replace-with", "gpt-b").await;
    browser.click("#replace-save").await;
    browser
        .wait_for_path("/connections/gpt-a?done=replaced")
        .await;
    assert!(
        browser
            .text("main")
            .await
            .contains("No flow uses this connection.")
    );

    for (id, steps) in [(&first, 2), (&second, 1), (&untouched, 1)] {
        let (_, flow) = api.get(&format!("/flows/{id}")).await;
        for n in 0..steps {
            assert_eq!(
                flow["steps"][n]["auth"], "{{connections['gpt-b']}}",
                "{flow}"
            );
        }
        assert_eq!(
            api.post(&format!("/flows/{id}/runs"), &json!({})).await.1["status"],
            "succeeded"
        );
    }
    // Every run since used the other connection's key.
    let chats: Vec<String> = c
        .chat
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .map(|r| r.header("authorization").to_owned())
        .collect();
    assert_eq!(chats.len(), 4);
    assert!(chats.iter().all(|a| *a == format!("Bearer {CHAT_KEY_2}")));
    // The connection's delete no longer lists flows.
    let (status, _) = api.delete("/connections/gpt-a").await;
    assert_eq!(status, 204);
    // Audited on both sides, and the Audit page filters by kind.
    browser
        .goto(&format!("{}/audit?event=replacing", app.base))
        .await;
    let audit = browser.text("#audit").await;
    assert!(
        audit.contains("Took the place of “gpt-a” in 2 flow(s)") && !audit.contains("Created"),
        "{audit}"
    );
    browser
        .goto(&format!(
            "{}/audit?connection=gpt-a&event=replaced",
            app.base
        ))
        .await;
    let audit = browser.text("#audit").await;
    assert!(
        audit.contains("Replaced by “gpt-b” in 2 flow(s)"),
        "{audit}"
    );
    assert_eq!(
        browser.value("#filter-connection").await,
        "gpt-a",
        "a deleted connection stays choosable"
    );
    browser.close().await;
}
