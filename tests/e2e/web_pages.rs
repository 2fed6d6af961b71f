//! The web pages over plain HTTP, as a forger or a curious user would try them: the
//! first-run setup link, login that never says whether an email exists and slows
//! down guessing, forms refused without the session's CSRF token, sessions that end,
//! pages scoped to the session's project, the security headers of every page, and
//! no planted secret in any page or log.

use crate::connections::{OPENAI_KEY, assert_nowhere, openai_mock};
use serde_json::json;
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::web::Visitor;

const PASSWORD: &str = "correct horse battery planted";

/// A home with project `acme` (API token returned) and its member ada@example.com.
async fn acme() -> (DataHome, String, String) {
    let home = DataHome::new().await;
    let (project, token) = home.project("acme").await;
    home.user("ada@example.com", PASSWORD, true, &[&project])
        .await;
    (home, project, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_install_offers_a_single_use_setup_link_that_creates_the_first_admin() {
    let home = DataHome::new().await;
    let app = TestApp::spawn(&home, Settings::default()).await;
    let link = app
        .setup_link
        .clone()
        .expect("a setup link on a fresh install");
    let path = link
        .strip_prefix(&app.base)
        .expect("the link is on this server");
    let token = path.split_once("token=").expect("token").1;
    let visitor = Visitor::new(&app.base);

    // Without the token, or with another, the page is closed.
    assert_eq!(visitor.get("/setup").await.status, 404);
    assert_eq!(visitor.get("/setup?token=00").await.status, 404);
    let page = visitor.get(path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Create the first admin"));

    // A short password is refused and not written back; the email is kept.
    let page = visitor
        .post(
            "/setup",
            &[
                ("token", token),
                ("email", "ada@example.com"),
                ("password", "short-pw"),
                ("confirm", "short-pw"),
                ("project", "Acme"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("at least 10 characters"));
    assert!(page.body.contains("ada@example.com") && !page.body.contains("short-pw"));

    let page = visitor
        .post(
            "/setup",
            &[
                ("token", token),
                ("email", "Ada@Example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
                ("project", "Acme"),
            ],
        )
        .await;
    assert_eq!((page.status, page.location()), (303, "/connections"));
    let cookie = page
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie");
    assert!(cookie.starts_with("tf_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(cookie.contains("Path=/"), "{cookie}");
    let page = visitor.get("/connections").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No connections yet") && page.body.contains("Acme"));
    assert!(page.body.contains("ada@example.com"));

    // The link is used up, for everybody.
    assert_eq!(Visitor::new(&app.base).get(path).await.status, 404);
    let again = Visitor::new(&app.base)
        .post(
            "/setup",
            &[
                ("token", token),
                ("email", "eve@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, 404);
    Visitor::new(&app.base)
        .login("ada@example.com", PASSWORD)
        .await;
    assert!(!app.log().contains(token), "the setup token was logged");
    assert!(!app.log().contains(PASSWORD), "the password was logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn login_does_not_say_whether_an_email_exists_and_slows_down_guessing() {
    let (home, _, _) = acme().await;
    let app = TestApp::spawn(&home, Settings::default()).await;
    assert!(app.setup_link.is_none(), "a user exists: no setup link");
    let visitor = Visitor::new(&app.base);

    let wrong = visitor
        .post(
            "/login",
            &[("email", "ada@example.com"), ("password", "nope-nope-nope")],
        )
        .await;
    let unknown = visitor
        .post(
            "/login",
            &[("email", "bob@example.com"), ("password", "nope-nope-nope")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    let message = |body: &str| {
        let start = body.find("id=\"error\">").expect("an error") + 11;
        body[start..start + body[start..].find('<').expect("end")].to_owned()
    };
    assert_eq!(message(&wrong.body), "Wrong email or password.");
    assert_eq!(message(&wrong.body), message(&unknown.body));
    assert!(!wrong.body.contains("nope-nope-nope"));
    // Pages of a session are out of reach.
    let page = visitor.get("/connections").await;
    assert_eq!((page.status, page.location()), (303, "/login"));

    // Five tries per account a minute: the sixth is refused even with the right password.
    for _ in 0..4 {
        visitor
            .post(
                "/login",
                &[("email", "ada@example.com"), ("password", "nope-nope-nope")],
            )
            .await;
    }
    let limited = visitor
        .post(
            "/login",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.body.contains("Too many login attempts"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let (home, _, token) = acme().await;
    let openai = openai_mock().await;
    let app = TestApp::spawn(
        &home,
        Settings::default().route("api.openai.com", &openai.base),
    )
    .await;
    let api = app.client(&token);
    let (status, _) = api
        .post(
            "/connections",
            &json!({"piece": "openai", "display_name": "GPT", "value": {"type": "secret_text", "secret_text": OPENAI_KEY}}),
        )
        .await;
    assert_eq!(status, 201);
    let visitor = Visitor::new(&app.base);
    visitor.login("ada@example.com", PASSWORD).await;
    let csrf = visitor.get("/connections/gpt").await.csrf();

    for form in [
        vec![("display_name", "Hijacked")],
        vec![("display_name", "Hijacked"), ("csrf", "0000")],
        vec![("display_name", "Hijacked"), ("csrf", "")],
    ] {
        let page = visitor.post("/connections/gpt/rename", &form).await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("nothing was changed"));
    }
    for path in [
        "/connections/gpt/delete",
        "/connections/gpt/reconnect",
        "/logout",
    ] {
        assert_eq!(visitor.post(path, &[("csrf", "forged")]).await.status, 403);
    }
    let page = visitor
        .post(
            "/connections/new/openai",
            &[("display_name", "Forged"), ("f.secret_text", OPENAI_KEY)],
        )
        .await;
    assert_eq!(page.status, 403);
    let (_, list) = api.get("/connections").await;
    let names: Vec<&str> = list["connections"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["display_name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["GPT"]);
    assert_eq!(
        openai.requests().len(),
        1,
        "only the API's create reached the service"
    );

    // With the token the same form works; a login posted from another site does not.
    let page = visitor
        .post(
            "/connections/gpt/rename",
            &[("display_name", "GPT prod"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        (page.status, page.location()),
        (303, "/connections/gpt?done=renamed")
    );
    let cross_site = reqwest::Client::new()
        .post(format!("{}/login", app.base))
        .header("origin", "http://evil.example")
        .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("post");
    assert_eq!(cross_site.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_are_scoped_to_the_sessions_project_and_logout_ends_the_session() {
    let (home, acme, acme_token) = acme().await;
    let (globex, globex_token) = home.project("globex").await;
    home.user("gus@example.com", PASSWORD, false, &[&globex])
        .await;
    let app = TestApp::spawn(&home, Settings::default()).await;
    let pg = json!({"type": "custom", "props": {"host": "db.internal", "database": "d", "user": "u", "password": "pw-planted-0042"}});
    for (token, name) in [(&acme_token, "Acme DB"), (&globex_token, "Globex DB")] {
        let (status, body) = app
            .client(token)
            .post(
                "/connections",
                &json!({"piece": "postgres", "display_name": name, "value": pg}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    let gus = Visitor::new(&app.base);
    gus.login("gus@example.com", PASSWORD).await;
    let list = gus.get("/connections").await;
    assert!(list.body.contains("Globex DB") && !list.body.contains("Acme DB"));
    let missing = gus.get("/connections/no-such-connection").await;
    let other = gus.get("/connections/acme-db").await;
    assert_eq!((other.status, missing.status), (404, 404));
    assert_eq!(
        other.body, missing.body,
        "another project's connection looks missing"
    );
    let csrf = list.csrf();
    for path in ["/connections/acme-db/rename", "/connections/acme-db/delete"] {
        let page = gus
            .post(path, &[("csrf", &csrf), ("display_name", "mine now")])
            .await;
        assert_eq!(page.status, 404, "{path}");
    }
    // Switching to a project gus is not a member of is refused.
    assert_eq!(
        gus.post("/project", &[("csrf", &csrf), ("project", &acme)])
            .await
            .status,
        404
    );
    assert!(!gus.get("/connections").await.body.contains("Acme DB"));

    // Logging out ends the session on the server: the old cookie opens nothing.
    let page = gus.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!((page.status, page.location()), (303, "/login"));
    let page = gus.get("/connections").await;
    assert_eq!((page.status, page.location()), (303, "/login"));
    let (_, acme_list) = app.client(&acme_token).get("/connections/acme-db").await;
    assert_eq!(acme_list["display_name"], "Acme DB");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_sends_the_security_headers_and_no_secret_reaches_a_page_or_the_log() {
    let (home, _, token) = acme().await;
    let openai = openai_mock().await;
    let app = TestApp::spawn(
        &home,
        Settings::default().route("api.openai.com", &openai.base),
    )
    .await;
    let visitor = Visitor::new(&app.base);
    visitor.login("ada@example.com", PASSWORD).await;
    let csrf = visitor.get("/connections").await.csrf();

    // A refused key: the piece's message, the form again, the key not in it.
    let page = visitor
        .post(
            "/connections/new/openai",
            &[
                ("csrf", &csrf),
                ("display_name", "GPT"),
                ("external_id", "gpt"),
                ("f.secret_text", "sk-wrong-planted-1234"),
            ],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("Invalid API key"), "{}", page.body);
    assert!(page.body.contains("value=\"GPT\""));
    assert!(!page.body.contains("sk-wrong-planted-1234"));
    let page = visitor
        .post(
            "/connections/new/openai",
            &[
                ("csrf", &csrf),
                ("display_name", "GPT"),
                ("external_id", "gpt"),
                ("f.secret_text", OPENAI_KEY),
            ],
        )
        .await;
    assert_eq!((page.status, page.location()), (303, "/connections/gpt"));

    for path in [
        "/login",
        "/connections",
        "/connections?sort=used&dir=desc&status=active&q=g",
        "/connections/new",
        "/connections/new/openai",
        "/connections/new/postgres",
        "/connections/gpt",
        "/connections/nothing-here",
    ] {
        let page = visitor.get(path).await;
        assert!(matches!(page.status, 200 | 404), "{path}: {}", page.status);
        let header = |name: &str| {
            page.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let csp = header("content-security-policy");
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
        assert_eq!(header("cache-control"), "no-store", "{path}");
        assert!(
            !page.body.contains("<script>"),
            "{path} has an inline script"
        );
    }
    let css = visitor.get("/assets/app.css").await;
    assert_eq!(css.status, 200);
    assert!(
        css.headers["cache-control"]
            .to_str()
            .expect("header")
            .contains("max-age")
    );

    let pages = visitor.seen.lock().expect("pages").join("\n");
    for secret in [OPENAI_KEY, "sk-wrong-planted-1234", PASSWORD] {
        assert!(!pages.contains(secret), "a page holds a planted secret");
    }
    assert_nowhere(&home, &app, &app.client(&token), &[OPENAI_KEY, PASSWORD]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth_callback_is_refused_without_the_cookie_of_the_browser_that_started_it() {
    use thinkfleet_tests::oauth_fixture::{no_redirects, register_app, setup};
    let s = setup(false, Settings::default()).await;
    register_app(&s, "slack").await;
    s.home
        .user("ada@example.com", PASSWORD, true, &[&s.project])
        .await;
    let visitor = Visitor::new(&s.server.base);
    visitor.login("ada@example.com", PASSWORD).await;
    let csrf = visitor.get("/connections/new/slack").await.csrf();
    let connect = |external_id: &'static str| {
        let csrf = csrf.clone();
        let visitor = &visitor;
        async move {
            let page = visitor
                .post(
                    "/connections/new/slack/authorize",
                    &[
                        ("csrf", csrf.as_str()),
                        ("display_name", "Team Slack"),
                        ("external_id", external_id),
                    ],
                )
                .await;
            assert_eq!(page.status, 200, "{}", page.body);
            let cookie = page.headers["set-cookie"]
                .to_str()
                .expect("cookie")
                .to_owned();
            assert!(
                cookie.starts_with("tf_oauth=") && cookie.contains("HttpOnly"),
                "{cookie}"
            );
            assert_eq!(page.headers["referrer-policy"], "no-referrer");
            // The page sends the popup on to the provider, which approves and sends it
            // back to the callback.
            let start = page.body.find("href=\"http").expect("the provider link") + 6;
            let end = start + page.body[start..].find('"').expect("end");
            let url = page.body[start..end]
                .replace("&#38;", "&")
                .replace("&amp;", "&");
            let approved = no_redirects().get(url).send().await.expect("authorize");
            assert_eq!(approved.status(), 302);
            approved.headers()["location"]
                .to_str()
                .expect("callback")
                .to_owned()
        }
    };

    // An attacker who got the callback URL (or planted their own) into another
    // browser: refused, nothing stored, the code never exchanged.
    let callback = connect("slack-team").await;
    let path = callback.strip_prefix(&s.server.base).expect("our callback");
    let elsewhere = Visitor::new(&s.server.base).get(path).await;
    assert_eq!(elsewhere.status, 200);
    assert!(
        elsewhere.body.contains("started in another browser"),
        "{}",
        elsewhere.body
    );
    assert!(elsewhere.body.contains("data-ok=\"false\""));
    assert_eq!(s.provider.code_exchanges(), 0);
    let (_, list) = s.server.client(&s.token).get("/connections").await;
    assert_eq!(list["connections"].as_array().map(Vec::len), Some(0));

    // The browser that clicked Connect finishes it.
    let callback = connect("slack-team").await;
    let page = visitor
        .get(callback.strip_prefix(&s.server.base).expect("our callback"))
        .await;
    assert!(
        page.body.contains("Connected (slack-team)"),
        "{}",
        page.body
    );
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert!(
        page.headers["set-cookie"]
            .to_str()
            .expect("cookie")
            .contains("Max-Age=0")
    );
    let (status, conn) = s
        .server
        .client(&s.token)
        .get("/connections/slack-team")
        .await;
    assert_eq!(
        (status, conn["display_name"].as_str()),
        (200, Some("Team Slack"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_show_a_new_token_once_revoke_it_and_keep_oauth_secrets_write_only() {
    let (home, project, _) = acme().await;
    home.user("gus@example.com", PASSWORD, false, &[&project])
        .await;
    let app = TestApp::spawn(&home, Settings::default()).await;

    // A member who is not an admin: no Settings, and its forms are "not found".
    let gus = Visitor::new(&app.base);
    gus.login("gus@example.com", PASSWORD).await;
    let list = gus.get("/connections").await;
    assert!(!list.body.contains("href=\"/settings\""));
    assert_eq!(gus.get("/settings").await.status, 404);
    let gus_csrf = list.csrf();
    assert_eq!(
        gus.post("/settings/tokens", &[("csrf", &gus_csrf)])
            .await
            .status,
        404
    );

    let ada = Visitor::new(&app.base);
    ada.login("ada@example.com", PASSWORD).await;
    let page = ada.get("/settings").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("gus@example.com") && page.body.contains("/oauth2/callback"));
    let csrf = page.csrf();

    // A new token is shown once, works on the API, and stops working when revoked.
    let page = ada.post("/settings/tokens", &[("csrf", &csrf)]).await;
    let start = page.body.find("id=\"new-token\">").expect("the new token") + 15;
    let token = page.body[start..start + page.body[start..].find('<').expect("end")].to_owned();
    assert!(token.starts_with("tfk_"), "{token}");
    assert_eq!(app.client(&token).get("/connections").await.0, 200);
    let again = ada.get("/settings").await;
    assert!(!again.body.contains(&token), "the token is shown again");
    let id = token.split('_').nth(1).expect("id").to_owned();
    let page = ada
        .post(&format!("/settings/tokens/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!((page.status, page.location()), (303, "/settings"));
    assert_eq!(app.client(&token).get("/connections").await.0, 401);

    // An OAuth app: the client id is shown, the secret never.
    let page = ada
        .post(
            "/settings/oauth-apps/slack",
            &[
                ("csrf", &csrf),
                ("client_id", "slack-client-9"),
                ("client_secret", "slack-secret-planted-5"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("OAuth app saved") && page.body.contains("slack-client-9"));
    let page = ada.get("/connections/new/slack").await;
    assert!(
        !page.body.contains("no-oauth-app"),
        "the app is registered now"
    );
    let page = ada
        .post(
            "/settings/oauth-apps/openai",
            &[("csrf", &csrf), ("client_id", "x"), ("client_secret", "y")],
        )
        .await;
    assert_eq!(page.status, 422, "openai is not an OAuth2 piece");
    let pages = ada.seen.lock().expect("pages").join("\n");
    assert!(!pages.contains("slack-secret-planted-5"));
    assert!(!app.log().contains("slack-secret-planted-5"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_connection_is_easy_to_spot_and_says_what_fixes_it() {
    let (home, _, token) = acme().await;
    let app = TestApp::spawn(&home, Settings::default()).await;
    let api = app.client(&token);
    let pg = json!({"type": "custom", "props": {"host": "db.internal", "database": "d", "user": "u", "password": "pw"}});
    for name in ["Billing DB", "Search DB"] {
        let (status, _) = api
            .post(
                "/connections",
                &json!({"piece": "postgres", "display_name": name, "value": pg}),
            )
            .await;
        assert_eq!(status, 201);
    }
    // As the refresher leaves a revoked grant (behind the API's back).
    let mut db = home.connect().await;
    sqlx::query("UPDATE connections SET status = 'expired' WHERE external_id = 'billing-db'")
        .execute(&mut db)
        .await
        .expect("expire");
    let visitor = Visitor::new(&app.base);
    visitor.login("ada@example.com", PASSWORD).await;
    let page = visitor.get("/connections").await;
    assert!(
        page.body.contains("id=\"attention\""),
        "the sidebar counts it"
    );
    assert!(page.body.contains("status-expired") && page.body.contains("reconnect it"));
    let only = visitor.get("/connections?status=expired").await;
    assert!(only.body.contains("Billing DB") && !only.body.contains("Search DB"));
    let page = visitor.get("/connections/billing-db").await;
    assert!(page.body.contains("id=\"attention-note\""));
    assert!(page.body.contains("Reconnect"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_binary_prints_the_setup_link_and_user_commands_add_people() {
    let home = DataHome::new().await;
    let app = TestApp::spawn(&home, Settings::default().process()).await;
    let link = app.setup_link.clone().expect("serve printed a setup link");
    let path = link.strip_prefix(&app.base).expect("on this server");
    let token = path.split_once("token=").expect("token").1;
    let ada = Visitor::new(&app.base);
    let page = ada
        .post(
            "/setup",
            &[
                ("token", token),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
                ("project", "Acme"),
            ],
        )
        .await;
    assert_eq!((page.status, page.location()), (303, "/connections"));
    assert!(
        !app.log().contains(token),
        "the setup token reached the log"
    );

    // `user create` reads the password from the environment (or stdin), never argv.
    let mut db = home.connect().await;
    let (acme,): (String,) = sqlx::query_as("SELECT id FROM projects WHERE name = 'Acme'")
        .fetch_one(&mut db)
        .await
        .expect("the setup's project");
    let (code, out, err) = home
        .run(
            &["user", "create", "--email", "Bob@Example.com"],
            &[("THINKFLEET_USER_PASSWORD", PASSWORD)],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("bob@example.com"), "{out}");
    let (code, _, err) = home
        .run(
            &["user", "create", "--email", "bob@example.com"],
            &[("THINKFLEET_USER_PASSWORD", PASSWORD)],
        )
        .await;
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = home
        .run(
            &["user", "create", "--email", "eve@example.com"],
            &[("THINKFLEET_USER_PASSWORD", "short")],
        )
        .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("at least 10 characters") && !err.contains("short\""),
        "{err}"
    );

    // Bob belongs to no project until he is added.
    let bob = Visitor::new(&app.base);
    bob.login("bob@example.com", PASSWORD).await;
    let page = bob.get("/connections").await;
    assert_eq!(page.status, 403);
    assert!(
        page.body.contains("not a member of any project"),
        "{}",
        page.body
    );
    let (code, _, err) = home
        .run(
            &[
                "user",
                "add-to-project",
                "--email",
                "bob@example.com",
                "--project",
                &acme,
            ],
            &[],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    let page = bob.get("/connections").await;
    assert_eq!(
        page.status, 200,
        "the same session sees the project once added"
    );
    assert!(page.body.contains("Acme"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_ends_after_its_idle_time_and_after_its_absolute_lifetime() {
    use std::time::Duration;
    use thinkfleet::accounts::{Accounts, SessionPolicy};
    let (home, _, _) = acme().await;
    let store = thinkfleet::store::Store::open(&home.url())
        .await
        .expect("store");
    let localhost = "127.0.0.1".parse().expect("ip");
    let password = PASSWORD.to_owned().into();
    for policy in [
        SessionPolicy {
            idle: Duration::from_millis(300),
            absolute: Duration::from_secs(3600),
        },
        SessionPolicy {
            idle: Duration::from_secs(3600),
            absolute: Duration::from_millis(300),
        },
    ] {
        let accounts = Accounts::new(store.clone(), policy);
        let id = accounts
            .login("ada@example.com", &password, localhost)
            .await
            .expect("login");
        let cookie = thinkfleet::accounts::cookie_value(&id).to_owned();
        assert!(accounts.session(&cookie).await.expect("read").is_some());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            accounts.session(&cookie).await.expect("read").is_none(),
            "{policy:?}"
        );
        // A fresh id at every login: the old one stays dead.
        let again = accounts
            .login("ada@example.com", &password, localhost)
            .await
            .expect("login");
        assert_ne!(thinkfleet::accounts::cookie_value(&again), cookie);
        assert!(accounts.session(&cookie).await.expect("read").is_none());
    }
    store.close().await;
}
