//! Connection-health webhooks, end to end: set up from Settings (the secret shown
//! once), a connection refused by its service becomes Error and the receiver gets a
//! signed event (checked with the documented HMAC), retried after the receiver's
//! failures; recovering and failing again is a new event; two replicas on one database
//! announce each change once; a receiver that keeps failing is given up and the log
//! says so; private addresses are refused.

use crate::web_flows::{CHAT_KEY, chat_mock, openai_connection, openai_flow};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::web::Visitor;
use thinkfleet_tests::{Mock, Recorded};

const PASSWORD: &str = "webhook horse battery planted";
const HOOK_HOST: &str = "hooks.example.com";

/// A receiver that answers 500 to its first `failures` requests (or to all while
/// `down`), then 200.
async fn receiver(failures: usize, down: Arc<AtomicBool>) -> Mock {
    let seen = AtomicUsize::new(0);
    Mock::start(move |_: &Recorded| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        if n < failures || down.load(Ordering::SeqCst) {
            (500, json!({"error": "try later"}))
        } else {
            (200, json!({"ok": true}))
        }
    })
    .await
}

/// A server routing OpenAI to `chat` and the webhook host to `hook`, whose webhook
/// worker looks every 100 ms and retries after 200 ms, doubling, for `attempts`.
fn settings(chat: &Mock, hook: &Mock, attempts: u32) -> Settings {
    Settings::default()
        .route("api.openai.com", &chat.base)
        .route(HOOK_HOST, &hook.base)
        .webhooks(
            Duration::from_millis(100),
            Duration::from_millis(200),
            attempts,
        )
}

/// Signs in as the admin and sets the webhook URL; the secret the page showed once.
async fn set_webhook(app: &TestApp, email: &str) -> (Visitor, String) {
    let visitor = Visitor::new(&app.base);
    assert_eq!(visitor.login(email, PASSWORD).await.status, 303);
    let page = visitor.get("/settings/webhook").await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    let set = visitor
        .post(
            "/settings/webhook",
            &[("csrf", &csrf), ("url", &format!("https://{HOOK_HOST}/tf"))],
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let marker = "id=\"webhook-secret\">";
    let start = set.body.find(marker).expect("the secret is shown") + marker.len();
    let end = set.body[start..].find('<').expect("end") + start;
    let secret = set.body[start..end].to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    // Shown once: the page never shows it again.
    let again = visitor.get("/settings/webhook").await;
    assert!(!again.body.contains(&secret));
    assert!(again.body.contains(&format!("https://{HOOK_HOST}/tf")));
    (visitor, secret)
}

/// Waits until `mock` has received `n` requests; them.
async fn wait_for_requests(mock: &Mock, n: usize) -> Vec<Recorded> {
    for _ in 0..200 {
        let seen = mock.requests();
        if seen.len() >= n {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the receiver got {} request(s), not {n}",
        mock.requests().len()
    );
}

/// The request's signature checked with the documented algorithm: HMAC-SHA256 of the
/// exact body under the secret, hex, after `sha256=`.
fn assert_signed(request: &Recorded, secret: &str) {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(request.body.as_bytes());
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(request.header("x-thinkfleet-signature"), expected);
}

/// Runs the flow and returns its status.
async fn run(app: &TestApp, token: &str, flow: &str) -> Value {
    let (status, report) = app
        .client(token)
        .post(&format!("/flows/{flow}/runs"), &json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn the_webhook_setting_refuses_urls_that_are_not_public_https() {
    let chat = chat_mock(Arc::default()).await;
    let hook = receiver(0, Arc::default()).await;
    let home = DataHome::new().await;
    let (project, token) = home.project("Acme").await;
    home.user("ops@example.com", PASSWORD, true, &[&project])
        .await;
    let app = TestApp::spawn(&home, settings(&chat, &hook, 5)).await;
    let visitor = Visitor::new(&app.base);
    visitor.login("ops@example.com", PASSWORD).await;
    let csrf = visitor.get("/settings/webhook").await.csrf();
    // Not https, a loopback address, localhost, a user name and password in the URL.
    for (url, why) in [
        ("http://example.com/x", "https://"),
        ("https://127.0.0.1:9/x", "private or loopback"),
        ("https://localhost/x", "private or loopback"),
        ("https://user:pw@example.com/x", "user name or password"),
    ] {
        let page = visitor
            .post("/settings/webhook", &[("csrf", &csrf), ("url", url)])
            .await;
        assert_eq!(page.status, 422, "{url}");
        assert!(page.body.contains(why), "{url}: {}", page.body);
    }
    let (status, body) = app.client(&token).get("/webhook").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("webhook_not_found")),
        "nothing was set: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_turns_error_sends_a_signed_event_retried_until_the_receiver_takes_it() {
    let refuse = Arc::new(AtomicBool::new(false));
    let chat = chat_mock(refuse.clone()).await;
    let hook = receiver(2, Arc::default()).await;
    let home = DataHome::new().await;
    let (project, token) = home.project("Acme").await;
    home.user("ops@example.com", PASSWORD, true, &[&project])
        .await;
    let app = TestApp::spawn(&home, settings(&chat, &hook, 5)).await;

    let (visitor, secret) = set_webhook(&app, "ops@example.com").await;

    let api = app.client(&token);
    openai_connection(&api, "gpt", CHAT_KEY).await;
    let flow = openai_flow(&api, "Digest", "gpt", 1).await;
    assert_eq!(run(&app, &token, &flow).await["status"], "succeeded");
    // The service starts refusing the key: the run says so and the connection is Error.
    refuse.store(true, Ordering::SeqCst);
    let report = run(&app, &token, &flow).await;
    assert_eq!(report["steps"][0]["error"]["code"], "invalid_api_key");
    assert_eq!(api.get("/connections/gpt").await.1["status"], "error");
    // The uses' audit rows say how each call ended, newest first.
    let (_, used) = api.get("/audit?event=used").await;
    let outcomes: Vec<&str> = used["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["detail"]["outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(outcomes, ["invalid_api_key", "ok"], "{used}");

    // Two failures of the receiver, then it takes the event: three identical requests.
    let seen = wait_for_requests(&hook, 3).await;
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/tf");
        assert_eq!(request.body, seen[0].body);
        assert_eq!(request.header("content-type"), "application/json");
        assert_eq!(request.header("x-thinkfleet-event"), "connection.error");
        assert_signed(request, &secret);
        for planted in [CHAT_KEY, secret.as_str()] {
            assert!(!request.body.contains(planted));
            assert!(!request.headers.values().any(|v| v.contains(planted)));
        }
    }
    let event: Value = serde_json::from_str(&seen[0].body).expect("JSON");
    assert_eq!(event["type"], "connection.error");
    assert_eq!(event["id"], seen[0].header("x-thinkfleet-event-id"));
    assert_eq!(event["project_id"], project);
    assert_eq!(event["connection"]["external_id"], "gpt");
    assert_eq!(event["connection"]["status"], "error");
    assert_eq!(
        event["connection"]["url"],
        format!("{}/connections/gpt", app.base)
    );
    assert_eq!(
        event["error"]["fix"],
        "Open the connection and click Reconnect."
    );
    // A tampered body no longer matches the signature.
    let mut forged = seen[0].clone();
    forged.body = forged.body.replace("\"error\"", "\"active\"");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(forged.body.as_bytes());
    assert_ne!(
        format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        forged.header("x-thinkfleet-signature")
    );

    // The delivery log: delivered on the third attempt.
    let log = visitor.get("/settings/webhook").await;
    assert!(log.body.contains("Delivered"), "{}", log.body);
    assert!(log.body.contains("<td>3</td>"), "{}", log.body);

    // It recovers (a run that works clears Error); failing again is a new event.
    refuse.store(false, Ordering::SeqCst);
    assert_eq!(run(&app, &token, &flow).await["status"], "succeeded");
    assert_eq!(api.get("/connections/gpt").await.1["status"], "active");
    tokio::time::sleep(Duration::from_millis(400)).await;
    refuse.store(true, Ordering::SeqCst);
    run(&app, &token, &flow).await;
    let seen = wait_for_requests(&hook, 4).await;
    assert_ne!(
        seen[3].header("x-thinkfleet-event-id"),
        seen[0].header("x-thinkfleet-event-id")
    );
    assert_signed(&seen[3], &secret);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(hook.requests().len(), 4, "each change is announced once");
    let log = app.log();
    for planted in [CHAT_KEY, secret.as_str(), PASSWORD] {
        assert!(!log.contains(planted), "the log holds a planted secret");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_announce_each_change_once_and_a_receiver_that_keeps_failing_is_given_up() {
    let refuse = Arc::new(AtomicBool::new(false));
    let down = Arc::new(AtomicBool::new(false));
    let chat = chat_mock(refuse.clone()).await;
    let hook = receiver(0, down.clone()).await;
    let home = DataHome::new().await;
    let (project, token) = home.project("Acme").await;
    home.user("ops@example.com", PASSWORD, true, &[&project])
        .await;
    let one = TestApp::spawn(&home, settings(&chat, &hook, 3)).await;
    let two = TestApp::spawn(&home, settings(&chat, &hook, 3)).await;
    let (visitor, secret) = set_webhook(&one, "ops@example.com").await;
    let api = one.client(&token);
    openai_connection(&api, "gpt", CHAT_KEY).await;
    let flow = openai_flow(&api, "Digest", "gpt", 1).await;

    // Five times over: the key is refused (Error, announced), then works again.
    for round in 1..=5 {
        refuse.store(true, Ordering::SeqCst);
        let app = if round % 2 == 0 { &one } else { &two };
        run(app, &token, &flow).await;
        let seen = wait_for_requests(&hook, round).await;
        assert_signed(&seen[round - 1], &secret);
        refuse.store(false, Ordering::SeqCst);
        assert_eq!(run(app, &token, &flow).await["status"], "succeeded");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids: std::collections::HashSet<String> = hook
        .requests()
        .iter()
        .map(|r| r.header("x-thinkfleet-event-id").to_owned())
        .collect();
    assert_eq!(hook.requests().len(), 5, "no change announced twice");
    assert_eq!(ids.len(), 5);

    // The receiver goes down: three attempts, then the delivery is given up.
    down.store(true, Ordering::SeqCst);
    refuse.store(true, Ordering::SeqCst);
    run(&one, &token, &flow).await;
    wait_for_requests(&hook, 8).await;
    let mut page = String::new();
    for _ in 0..100 {
        page = visitor.get("/settings/webhook").await.body;
        if page.contains("Failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(page.contains("Failed"), "{page}");
    assert!(page.contains("the receiver answered HTTP 500"), "{page}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hook.requests().len(), 8, "no attempt after the last");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_webhook_api_answers_the_secret_once_refuses_private_urls_and_lists_deliveries() {
    let refuse = Arc::new(AtomicBool::new(false));
    let chat = chat_mock(refuse.clone()).await;
    let hook = receiver(1, Arc::default()).await;
    let home = DataHome::new().await;
    let (_, token) = home.project("Acme").await;
    let app = TestApp::spawn(&home, settings(&chat, &hook, 5)).await;
    let api = app.client(&token);
    assert_eq!(
        api.get("/webhook").await.1["code"],
        json!("webhook_not_found")
    );
    for url in ["https://10.0.0.8/x", "http://example.com/x", "nonsense"] {
        let (status, body) = api
            .send("PUT", "/webhook", Some(&json!({"url": url})))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("invalid_request")),
            "{url}"
        );
    }
    let url = format!("https://{HOOK_HOST}/api");
    let (status, set) = api
        .send("PUT", "/webhook", Some(&json!({"url": url})))
        .await;
    assert_eq!(status, 200, "{set}");
    let secret = set["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    let (status, shown) = api.get("/webhook").await;
    assert_eq!((status, shown["url"].as_str()), (200, Some(url.as_str())));
    assert!(!shown.to_string().contains(&secret));

    let api_flow = {
        openai_connection(&api, "gpt", CHAT_KEY).await;
        openai_flow(&api, "Digest", "gpt", 1).await
    };
    refuse.store(true, Ordering::SeqCst);
    run(&app, &token, &api_flow).await;
    let seen = wait_for_requests(&hook, 2).await;
    assert_signed(&seen[1], &secret);
    let mut log = Value::Null;
    for _ in 0..50 {
        log = api.get("/webhook/deliveries").await.1;
        if log["deliveries"][0]["state"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivery = &log["deliveries"][0];
    assert_eq!(delivery["state"], "delivered", "{log}");
    assert_eq!(delivery["type"], "connection.error");
    assert_eq!(delivery["attempts"], 2);
    assert_eq!(delivery["last_status"], 200);
    assert_eq!(
        delivery["event_id"],
        seen[1].header("x-thinkfleet-event-id")
    );
    assert!(!log.to_string().contains(&secret));

    // Removed: nothing more is sent.
    assert_eq!(api.delete("/webhook").await.0, 204);
    assert_eq!(api.delete("/webhook").await.0, 404);
    refuse.store(false, Ordering::SeqCst);
    run(&app, &token, &api_flow).await;
    refuse.store(true, Ordering::SeqCst);
    run(&app, &token, &api_flow).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(hook.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_whose_webhook_was_removed_fails_at_once() {
    let refuse = Arc::new(AtomicBool::new(false));
    let down = Arc::new(AtomicBool::new(true));
    let chat = chat_mock(refuse.clone()).await;
    let hook = receiver(0, down.clone()).await;
    let home = DataHome::new().await;
    let (_, token) = home.project("Acme").await;
    // Slow retries: the removal lands between the first attempt and the second.
    let app = TestApp::spawn(
        &home,
        Settings::default()
            .route("api.openai.com", &chat.base)
            .route(HOOK_HOST, &hook.base)
            .webhooks(Duration::from_millis(100), Duration::from_secs(1), 8),
    )
    .await;
    let api = app.client(&token);
    let url = format!("https://{HOOK_HOST}/x");
    assert_eq!(
        api.send("PUT", "/webhook", Some(&json!({"url": url})))
            .await
            .0,
        200
    );
    openai_connection(&api, "gpt", CHAT_KEY).await;
    let flow = openai_flow(&api, "Digest", "gpt", 1).await;
    refuse.store(true, Ordering::SeqCst);
    run(&app, &token, &flow).await;
    wait_for_requests(&hook, 1).await;
    assert_eq!(api.delete("/webhook").await.0, 204);
    let mut delivery = Value::Null;
    for _ in 0..50 {
        delivery = api.get("/webhook/deliveries").await.1["deliveries"][0].clone();
        if delivery["state"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivery["state"], "failed", "{delivery}");
    assert_eq!(delivery["attempts"], 2);
    assert_eq!(delivery["last_error"], "the project has no webhook URL");
    assert_eq!(hook.requests().len(), 1, "nothing sent after the removal");
}
