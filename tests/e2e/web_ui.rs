//! The web UI in a real browser (headless Chromium over WebDriver) against the in-process
//! server: first-run setup, login, an API-key connection from a refused key to its
//! deletion with the flow warning, a custom-auth connection, escaping of hostile
//! names, isolation between projects, logout. Screenshots of the main pages are saved
//! to docs/screenshots/.

use crate::connections::{OPENAI_KEY, openai_mock};
use serde_json::json;
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::browser::Browser;
use thinkfleet_tests::home::DataHome;

pub const PASSWORD: &str = "browser horse battery planted";

pub async fn log_in(browser: &Browser, app: &TestApp, email: &str) {
    browser.goto(&format!("{}/login", app.base)).await;
    browser.fill("#email", email).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#login").await;
    browser.wait_for_path("/connections").await;
}

/// A server whose OpenAI is a mock, with project "Acme" (its API token) and its admin
/// ada@example.com signed in, in a browser.
struct SignedIn {
    _openai: thinkfleet_tests::Mock,
    _home: DataHome,
    token: String,
    app: TestApp,
    browser: Browser,
}

impl SignedIn {
    async fn start() -> SignedIn {
        let home = DataHome::new().await;
        let (project, token) = home.project("Acme").await;
        home.user("ada@example.com", PASSWORD, true, &[&project])
            .await;
        let openai = openai_mock().await;
        let app = TestApp::spawn(
            &home,
            Settings::default().route("api.openai.com", &openai.base),
        )
        .await;
        let browser = Browser::start().await;
        log_in(&browser, &app, "ada@example.com").await;
        SignedIn {
            _openai: openai,
            _home: home,
            token,
            app,
            browser,
        }
    }

    /// Closes the browser and checks that neither the server's log nor the last page
    /// holds any of `secrets`.
    async fn close_holding_none_of(self, secrets: &[&str]) {
        let html = self.browser.html().await;
        self.browser.close().await;
        for secret in secrets {
            assert!(
                !self.app.log().contains(secret),
                "the log holds a planted secret"
            );
            assert!(!html.contains(secret));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn first_run_setup_makes_the_admin_who_signs_in_and_out() {
    let home = DataHome::new().await;
    home.project("Acme").await;
    let app = TestApp::spawn(&home, Settings::default()).await;
    let browser = Browser::start().await;

    // The printed link opens "create the first admin", which signs in.
    browser
        .goto(app.setup_link.as_deref().expect("setup link"))
        .await;
    browser.screenshot("setup").await;
    browser.fill("#email", "ada@example.com").await;
    browser.fill("#password", PASSWORD).await;
    browser.fill("#confirm", PASSWORD).await;
    browser.click("#create-admin").await;
    browser.wait_for_path("/connections").await;
    assert!(browser.text("main").await.contains("No connections yet"));
    assert_eq!(
        browser.text("#project-picker option[selected]").await,
        "Acme"
    );

    // Logout: the pages are closed again.
    browser.click("#logout").await;
    browser.wait_for_path("/login").await;
    browser.goto(&format!("{}/connections", app.base)).await;
    browser.wait_for_path("/login").await;
    browser.screenshot("login").await;
    let html = browser.html().await;
    browser.close().await;
    assert!(!app.log().contains(PASSWORD), "the log holds the password");
    assert!(!html.contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_key_connection_is_made_renamed_and_reconnected_refused_keys_changing_nothing() {
    let s = SignedIn::start().await;
    let browser = &s.browser;

    // New connection: pick OpenAI, the form comes from its schema.
    browser.click("#new-connection").await;
    browser.click("#piece-openai").await;
    browser.wait_for_path("/connections/new/openai").await;
    assert_eq!(
        browser.attr("#field-secret_text", "type").await.as_deref(),
        Some("password")
    );
    browser.fill("#display_name", "GPT production").await;
    browser.fill("#external_id", "gpt-prod").await;
    browser
        .fill("#field-secret_text", "sk-refused-planted-77")
        .await;
    browser.click("#save").await;
    // The piece's message, next to the form; the name kept, the key not.
    assert!(browser.text("#error").await.contains("Invalid API key"));
    assert_eq!(browser.value("#display_name").await, "GPT production");
    assert_eq!(browser.value("#field-secret_text").await, "");
    browser.screenshot("new-connection-error").await;
    browser.fill("#field-secret_text", OPENAI_KEY).await;
    browser.click("#save").await;
    browser.wait_for_path("/connections/gpt-prod").await;
    assert_eq!(browser.text("#connection-status").await, "Active");
    browser.screenshot("connection").await;

    // Rename in place; the external id (what flows use) stays.
    browser.fill("#rename", "GPT (main)").await;
    browser.click("#rename-save").await;
    browser
        .wait_for_path("/connections/gpt-prod?done=renamed")
        .await;
    assert_eq!(browser.text("#connection-name").await, "GPT (main)");

    // Reconnect with a refused key: refused, the old credential kept; then a good one.
    browser
        .fill(
            "#reconnect-form #field-secret_text",
            "sk-refused-planted-77",
        )
        .await;
    browser.click("#reconnect").await;
    assert!(browser.text("#error").await.contains("Invalid API key"));
    browser
        .fill("#reconnect-form #field-secret_text", "sk-second-key")
        .await;
    browser.click("#reconnect").await;
    browser
        .wait_for_path("/connections/gpt-prod?done=reconnected")
        .await;
    assert!(browser.text("#events").await.contains("Reconnected"));

    // The Audit page tells the story in words.
    browser.goto(&format!("{}/audit", s.app.base)).await;
    let audit = browser.text("#audit").await;
    assert!(
        audit.contains("Renamed from “GPT production” to “GPT (main)”"),
        "{audit}"
    );
    assert!(
        audit.contains("Reconnected") && audit.contains("gpt-prod"),
        "{audit}"
    );
    s.close_holding_none_of(&[OPENAI_KEY, "sk-refused-planted-77", PASSWORD])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_connection_a_flow_uses_lists_the_flow_and_needs_the_box_ticked() {
    let s = SignedIn::start().await;
    let (browser, api) = (&s.browser, s.app.client(&s.token));
    let (status, body) = api
        .post(
            "/connections",
            &json!({"piece": "openai", "display_name": "GPT production", "external_id": "gpt-prod",
                    "value": {"type": "secret_text", "secret_text": OPENAI_KEY}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .post(
            "/flows",
            &json!({"name": "Daily digest", "steps": [{"name": "ask", "piece": "openai", "action": "ask_chatgpt",
                    "auth": "{{connections['gpt-prod']}}", "input": {"prompt": "hi"}}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    browser
        .goto(&format!("{}/connections/gpt-prod", s.app.base))
        .await;
    assert!(browser.text("#used-by").await.contains("1 flow"));
    assert!(browser.text("main").await.contains("Daily digest"));
    // Without the box (the browser would insist: the check is lifted to reach the
    // server), the server refuses and keeps the connection.
    browser
        .client
        .execute(
            "document.getElementById('confirm-delete').removeAttribute('required');",
            vec![],
        )
        .await
        .expect("script");
    browser.click("#delete").await;
    assert!(
        browser
            .client
            .get_alert_text()
            .await
            .expect("a confirm dialog")
            .contains("cannot be undone")
    );
    browser.client.accept_alert().await.expect("accept");
    assert!(
        browser
            .text("#error")
            .await
            .contains("1 flow(s) use this connection")
    );
    assert_eq!(api.get("/connections/gpt-prod").await.0, 200, "kept");
    browser.click("#confirm-delete").await;
    browser.click("#delete").await;
    browser.client.accept_alert().await.expect("accept");
    browser.wait_for_path("/connections").await;
    assert!(browser.text("main").await.contains("No connections yet"));
    assert_eq!(api.get("/connections/gpt-prod").await.0, 404);
    s.close_holding_none_of(&[OPENAI_KEY, PASSWORD]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_connection_form_has_every_field_kind_and_keeps_all_but_the_password() {
    let home = DataHome::new().await;
    let (project, _) = home.project("Acme").await;
    home.user("ada@example.com", PASSWORD, true, &[&project])
        .await;
    let app = TestApp::spawn(&home, Settings::default()).await;
    let browser = Browser::start().await;
    log_in(&browser, &app, "ada@example.com").await;

    browser
        .goto(&format!("{}/connections/new?q=postg", app.base))
        .await;
    assert_eq!(browser.count(".pieces li").await, 1);
    browser.click("#piece-postgres").await;
    browser.wait_for_path("/connections/new/postgres").await;
    assert_eq!(browser.tag("#field-ca_certificate").await, "textarea");
    assert_eq!(
        browser.attr("#field-port", "type").await.as_deref(),
        Some("number")
    );
    assert_eq!(
        browser.attr("#field-ssl", "type").await.as_deref(),
        Some("checkbox")
    );
    assert_eq!(browser.value("#field-port").await, "5432");
    assert!(
        browser
            .text("main")
            .await
            .contains("Only needed for a private certificate authority.")
    );
    browser.fill("#display_name", "Warehouse").await;
    browser.fill("#field-host", "db.internal").await;
    browser.fill("#field-port", "70000").await;
    browser.fill("#field-database", "dwh").await;
    browser.fill("#field-user", "etl").await;
    browser.fill("#field-password", "pg-planted-pw-31").await;
    browser
        .fill(
            "#field-ca_certificate",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        )
        .await;
    // The dropdown offers the piece's choices; the chosen one is kept.
    assert_eq!(
        browser.count("#field-verify option").await,
        4,
        "three choices and none"
    );
    browser
        .find("#field-verify")
        .await
        .select_by_value("verify-full")
        .await
        .expect("choose");
    browser
        .client
        .execute(
            "document.getElementById('field-port').removeAttribute('max');",
            vec![],
        )
        .await
        .expect("script");
    browser.click("#save").await;
    assert!(browser.text("#error").await.contains("port"));
    for (field, kept) in [
        ("#field-host", "db.internal"),
        ("#field-port", "70000"),
        ("#field-user", "etl"),
        ("#field-verify", "verify-full"),
    ] {
        assert_eq!(browser.value(field).await, kept, "{field}");
    }
    assert!(
        browser
            .value("#field-ca_certificate")
            .await
            .contains("BEGIN CERTIFICATE")
    );
    assert_eq!(browser.value("#field-password").await, "");
    browser.screenshot("custom-connection-form").await;
    browser.fill("#field-port", "5433").await;
    browser.fill("#field-password", "pg-planted-pw-31").await;
    browser.click("#save").await;
    browser.wait_for_path("/connections/warehouse").await;
    assert!(!browser.html().await.contains("pg-planted-pw-31"));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_names_are_shown_as_text_and_another_projects_user_sees_nothing_of_it() {
    let home = DataHome::new().await;
    let (acme, acme_token) = home.project("Acme").await;
    let (globex, _) = home.project("<b>Globex</b>").await;
    home.user("ada@example.com", PASSWORD, true, &[&acme]).await;
    home.user("gus@example.com", PASSWORD, false, &[&globex])
        .await;
    // A piece whose display name and description hold markup.
    let installed = home.path().join("pieces");
    std::fs::create_dir_all(&installed).expect("pieces dir");
    std::fs::copy(
        thinkfleet_tests::piece_path("misbehave"),
        installed.join("misbehave.wasm"),
    )
    .expect("install the piece");
    let app = TestApp::spawn(&home, Settings::default()).await;
    let api = app.client(&acme_token);
    let hostile = "<img src=x onerror=alert(1)>";
    let pg = json!({"type": "custom", "props": {"host": "db.internal", "database": "d", "user": "u", "password": "pw"}});
    for n in 0..60 {
        let name = if n == 0 {
            hostile.to_owned()
        } else {
            format!("Database {n:02}")
        };
        let (status, body) = api
            .post("/connections", &json!({"piece": "postgres", "display_name": name, "external_id": format!("db-{n:02}"), "value": pg}))
            .await;
        assert_eq!(status, 201, "{body}");
    }

    let browser = Browser::start().await;
    log_in(&browser, &app, "ada@example.com").await;
    // 60 connections: 50 on the first page, the rest on the next.
    assert_eq!(browser.count("#connections tbody tr").await, 50);
    assert!(browser.text("#count").await.contains("of 60"));
    assert_eq!(browser.count("#connections img").await, 0);
    assert!(browser.text("#connections").await.contains(hostile));
    browser.screenshot("connections").await;
    browser.click("#next").await;
    assert_eq!(browser.count("#connections tbody tr").await, 10);
    browser
        .goto(&format!("{}/connections/db-00", app.base))
        .await;
    assert_eq!(browser.text("#connection-name").await, hostile);
    assert_eq!(browser.count("main img").await, 0);
    // The piece's markup is text in the picker and on its form.
    browser.goto(&format!("{}/connections/new", app.base)).await;
    assert!(
        browser
            .text("#piece-misbehave")
            .await
            .contains("<script>alert('piece')</script>")
    );
    // Its logo (an SVG holding a script) is only ever an image, from a data: URL.
    assert_eq!(
        browser
            .count("main script, main img:not(.piece-logo)")
            .await,
        0
    );
    assert_eq!(
        browser
            .count("#piece-misbehave img.piece-logo[src^='data:image/svg+xml;base64,']")
            .await,
        1
    );
    browser.click("#piece-misbehave").await;
    assert!(browser.text("h1").await.contains("<script>"));
    assert_eq!(
        browser
            .count("main script, main img:not(.piece-logo)")
            .await,
        0
    );
    // Search and filter narrow the table.
    browser
        .goto(&format!("{}/connections?q=database+0", app.base))
        .await;
    assert_eq!(browser.count("#connections tbody tr").await, 9);

    // Gus, of Globex, sees none of it, and Acme's connection page is "not found".
    browser.click("#logout").await;
    log_in(&browser, &app, "gus@example.com").await;
    assert!(browser.text("main").await.contains("No connections yet"));
    assert_eq!(
        browser.text("#project-picker option[selected]").await,
        "<b>Globex</b>"
    );
    assert_eq!(browser.count(".sidebar b").await, 0);
    browser
        .goto(&format!("{}/connections/db-01", app.base))
        .await;
    assert!(browser.text("main").await.contains("Not found"));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth2_connection_is_made_in_a_popup_and_the_page_follows() {
    use thinkfleet_tests::oauth_fixture::{register_app, setup};
    let s = setup(false, Settings::default()).await;
    s.home
        .user("ada@example.com", PASSWORD, true, &[&s.project])
        .await;
    let browser = Browser::start().await;
    log_in(&browser, &s.server, "ada@example.com").await;

    // No OAuth app yet: the page says what the operator must do.
    browser
        .goto(&format!("{}/connections/new/slack", s.server.base))
        .await;
    assert!(
        browser
            .text("#no-oauth-app")
            .await
            .contains("thinkfleet oauth-app set slack")
    );
    register_app(&s, "slack").await;

    browser
        .goto(&format!("{}/connections/new/slack", s.server.base))
        .await;
    browser.fill("#display_name", "Team Slack").await;
    assert_eq!(browser.value("#external_id").await, "team-slack");
    browser.screenshot("oauth-connect").await;
    let opener = browser.client.window().await.expect("window");
    browser.click("#connect").await;
    // The popup goes to the provider and back; the opener then shows the connection.
    browser
        .wait_for_path("/connections/team-slack?done=connected")
        .await;
    assert_eq!(browser.text("#connection-status").await, "Active");
    assert_eq!(browser.client.window().await.expect("window"), opener);
    assert_eq!(s.provider.code_exchanges(), 1);
    let (status, conn) = s
        .server
        .client(&s.token)
        .get("/connections/team-slack")
        .await;
    assert_eq!((status, conn["auth_type"].as_str()), (200, Some("oauth2")));

    // Reconnect goes through the popup too; the page reloads with the new activity.
    browser.click("#reconnect").await;
    let mut events = String::new();
    for _ in 0..100 {
        events = browser.text("#events").await;
        if events.contains("Reconnected") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(events.contains("Reconnected"), "{events}");
    assert_eq!(s.provider.code_exchanges(), 2);
    browser.close().await;
}
