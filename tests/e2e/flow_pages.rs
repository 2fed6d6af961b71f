//! The flow pages over plain HTTP, as another project's user or a forger would try
//! them: another project's flow, run and step editor look exactly like missing ones
//! and cannot be run; forms without the session's CSRF token change nothing; hostile
//! names are escaped; the way back from New Connection leads only into the step
//! editor; the webhook setting is for admins only.

use crate::web_flows::{CHAT_KEY, ChatApp, openai_connection, openai_flow};
use crate::web_ui::PASSWORD;
use serde_json::json;
use thinkfleet_tests::app::Settings;
use thinkfleet_tests::web::Visitor;

#[tokio::test(flavor = "multi_thread")]
async fn another_projects_flows_look_missing_and_forged_forms_change_nothing() {
    let c = ChatApp::start(Settings::default()).await;
    let (b, _) = c.home.project("globex").await;
    c.home.user("bob@example.com", PASSWORD, true, &[&b]).await;
    let (app, api) = (&c.app, c.api());
    openai_connection(&api, "gpt", CHAT_KEY).await;
    openai_connection(&api, "gpt-2", CHAT_KEY).await;
    let flow = openai_flow(&api, "Digest", "gpt", 2).await;
    let ada = Visitor::new(&app.base);
    ada.login("ada@example.com", PASSWORD).await;
    let ran = ada.get(&format!("/flows/{flow}")).await;
    assert_eq!(ran.status, 200);
    let run = ada
        .post(&format!("/flows/{flow}/run"), &[("csrf", &ran.csrf())])
        .await;
    assert_eq!(run.status, 303);
    let run_path = run.location().to_owned();
    assert!(run_path.starts_with(&format!("/flows/{flow}/runs/")));

    // Bob (another project) sees the "not found" page a missing flow gives.
    let bob = Visitor::new(&app.base);
    bob.login("bob@example.com", PASSWORD).await;
    let missing = bob.get("/flows/00000000-0000-0000-0000-000000000000").await;
    assert_eq!(missing.status, 404);
    let csrf = bob.get("/flows").await.csrf();
    for path in [
        format!("/flows/{flow}"),
        format!("/flows/{flow}/steps/1/edit"),
        format!("/flows/{flow}/steps/new"),
        run_path.clone(),
    ] {
        let page = bob.get(&path).await;
        assert_eq!((page.status, &page.body), (404, &missing.body), "{path}");
    }
    for path in [
        format!("/flows/{flow}/run"),
        format!("/flows/{flow}/steps/1/remove"),
        format!("/flows/{flow}/delete"),
        "/connections/gpt/replace".to_owned(),
    ] {
        let page = bob.post(&path, &[("csrf", &csrf), ("with", "gpt-2")]).await;
        assert_eq!(page.status, 404, "{path}");
    }
    assert!(!bob.get("/flows").await.body.contains("Digest"));

    // Ada without her session's CSRF token: refused, nothing changed.
    for (path, form) in [
        (format!("/flows/{flow}/steps/1/remove"), vec![]),
        (
            format!("/flows/{flow}/steps/1/move"),
            vec![("direction", "down")],
        ),
        (format!("/flows/{flow}/run"), vec![]),
        (format!("/flows/{flow}/delete"), vec![]),
        (
            "/connections/gpt/replace".to_owned(),
            vec![("with", "gpt-2")],
        ),
        (
            "/flows/new".to_owned(),
            vec![
                ("piece", "openai"),
                ("action", "ask_chatgpt"),
                ("step", "x"),
            ],
        ),
    ] {
        let mut form = form;
        form.push(("csrf", "forged"));
        assert_eq!(ada.post(&path, &form).await.status, 403, "{path}");
    }
    let (_, flows) = api.get("/flows").await;
    assert_eq!(flows["flows"].as_array().map(Vec::len), Some(1));
    let (_, saved) = api.get(&format!("/flows/{flow}")).await;
    assert_eq!(saved["steps"][0]["name"], "ask1");
    assert_eq!(saved["steps"][0]["auth"], "{{connections['gpt']}}");
    let page = ada.get(&format!("/flows/{flow}")).await;
    assert_eq!(
        page.body.matches("class=\"status status-").count(),
        3,
        "two steps' connections and the one run: {}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_flow_and_input_text_is_escaped_on_every_flow_page() {
    let c = ChatApp::start(Settings::default()).await;
    let (app, api) = (&c.app, c.api());
    openai_connection(&api, "gpt", CHAT_KEY).await;
    let hostile = "<img src=x onerror=alert(1)>";
    let (status, made) = api
        .post(
            "/flows",
            &json!({"name": hostile, "steps": [{"name": "ask", "piece": "openai",
                "action": "ask_chatgpt", "auth": "{{connections['gpt']}}",
                "input": {"prompt": "</textarea><script>alert(2)</script>"}}]}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().expect("id");
    let ada = Visitor::new(&app.base);
    ada.login("ada@example.com", PASSWORD).await;
    for path in [
        "/flows".to_owned(),
        format!("/flows/{id}"),
        format!("/flows/{id}/steps/1/edit"),
    ] {
        let page = ada.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.body.contains("<img src=x"), "{path}");
        assert!(!page.body.contains("<script>alert(2)"), "{path}");
    }
    let list = ada.get("/flows").await.body;
    assert!(
        list.contains("&#60;img src=x onerror=alert(1)&#62;"),
        "{list}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_way_back_from_a_new_connection_leads_only_into_the_step_editor() {
    let c = ChatApp::start(Settings::default()).await;
    let (app, api) = (&c.app, c.api());
    openai_connection(&api, "gpt", CHAT_KEY).await;
    let id = openai_flow(&api, "Ask", "gpt", 1).await;
    let ada = Visitor::new(&app.base);
    ada.login("ada@example.com", PASSWORD).await;
    let csrf = ada.get("/connections/new/openai").await.csrf();
    let evil = ada
        .get("/connections/new/openai?return=//evil.example/flows/?x=1")
        .await;
    assert!(!evil.body.contains("name=\"return\""));
    let made = ada
        .post(
            "/connections/new/openai",
            &[
                ("csrf", csrf.as_str()),
                ("display_name", "Second"),
                ("external_id", "second"),
                ("f.secret_text", CHAT_KEY),
                ("return", "https://evil.example/flows/new?x=1"),
            ],
        )
        .await;
    assert_eq!((made.status, made.location()), (303, "/connections/second"));
    let back = ada
        .post(
            "/connections/new/openai",
            &[
                ("csrf", csrf.as_str()),
                ("display_name", "Third"),
                ("external_id", "third"),
                ("f.secret_text", CHAT_KEY),
                (
                    "return",
                    "/flows/new?piece=openai&action=ask_chatgpt&flow_name=Hi",
                ),
            ],
        )
        .await;
    assert_eq!(
        (back.status, back.location()),
        (
            303,
            "/flows/new?piece=openai&action=ask_chatgpt&flow_name=Hi&connection=third"
        )
    );
    // "New connection…" from the step form keeps the step's values in the way back.
    let leave = ada
        .post(
            &format!("/flows/{id}/steps/new"),
            &[
                ("csrf", csrf.as_str()),
                ("piece", "openai"),
                ("action", "ask_chatgpt"),
                ("step", "again"),
                ("p.prompt", "hello & bye"),
                ("connection", "__new__"),
            ],
        )
        .await;
    assert_eq!(leave.status, 303);
    let to = leave.location();
    assert!(
        to.starts_with("/connections/new/openai?return=%2Fflows%2F"),
        "{to}"
    );
    let form = ada.get(to).await;
    assert!(form.body.contains("name=\"return\""), "{}", form.body);
    assert!(form.body.contains("hello+%26+bye"), "{}", form.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn members_who_are_not_admins_see_flows_but_not_the_webhook_setting() {
    let c = ChatApp::start(Settings::default()).await;
    c.home
        .user("max@example.com", PASSWORD, false, &[&c.project])
        .await;
    let app = &c.app;
    let max = Visitor::new(&app.base);
    max.login("max@example.com", PASSWORD).await;
    assert_eq!(max.get("/settings/webhook").await.status, 404);
    let csrf = max.get("/flows").await.csrf();
    let set = max
        .post(
            "/settings/webhook",
            &[("csrf", &csrf), ("url", "https://hooks.example.com/x")],
        )
        .await;
    assert_eq!(set.status, 404);
    assert_eq!(max.get("/flows").await.status, 200, "members do see flows");
}
