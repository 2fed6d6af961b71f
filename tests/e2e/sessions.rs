//! Custom credentials that open short-lived sessions (a piece's `session` export),
//! against a strict local service: a login answers a session token that works for its
//! lifetime only, and every request after it is refused. The host opens a session when
//! the connection is made, applies it itself, and opens the next before it expires —
//! once, on one server or across two replicas sharing PostgreSQL, under sustained runs;
//! sessions the service ends early are replaced once and the runs retried. A password
//! changed at the service expires the connection until a reconnect.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::client::Client;
use thinkfleet_tests::home::{DataHome, uuid_like};
use thinkfleet_tests::load::sustain;
use thinkfleet_tests::web::Visitor;
use thinkfleet_tests::{Mock, Recorded, cache_dir, leak, piece_path, thinkfleet_bin};

const PASSWORD: &str = "pw-planted-session-7c19";
const NEW_PASSWORD: &str = "pw-planted-session-rotated-0b4e";

/// The service's books: the password it accepts, its sessions' lifetime, and what it saw.
struct Books {
    password: String,
    lifetime: Duration,
    /// Session token → when it was issued.
    sessions: HashMap<String, Instant>,
    logins: usize,
    refused_logins: usize,
    expired_uses: usize,
}

/// A strict session service at `login.session.test` and `api.session.test`.
struct Service {
    mock: Mock,
    books: Arc<Mutex<Books>>,
}

impl Service {
    async fn start(lifetime: Duration) -> Service {
        let books = Arc::new(Mutex::new(Books {
            password: PASSWORD.into(),
            lifetime,
            sessions: HashMap::new(),
            logins: 0,
            refused_logins: 0,
            expired_uses: 0,
        }));
        let shared = books.clone();
        let mock = Mock::start(move |r: &Recorded| {
            let mut b = shared.lock().expect("books");
            match (r.method.as_str(), r.path.as_str()) {
                ("POST", "/login") => {
                    let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
                    if body["user"] != "ann" || body["password"] != b.password.as_str() {
                        b.refused_logins += 1;
                        return (401, json!({"error": "bad login"}));
                    }
                    b.logins += 1;
                    let token = format!("sess-planted-{}-{}", b.logins, uuid_like());
                    leak::plant(&token);
                    b.sessions.insert(token.clone(), Instant::now());
                    let lifetime = b.lifetime.as_secs();
                    (200, json!({"token": token, "expires_in": lifetime}))
                }
                ("GET", "/me") => {
                    let lifetime = b.lifetime;
                    match b.sessions.get(r.header("x-session")).copied() {
                        Some(issued) if issued.elapsed() < lifetime => {
                            (200, json!({"user": "ann"}))
                        }
                        Some(_) => {
                            b.expired_uses += 1;
                            (401, json!({"error": "session expired"}))
                        }
                        None => (401, json!({"error": "no session"})),
                    }
                }
                _ => (404, json!({})),
            }
        })
        .await;
        Service { mock, books }
    }

    fn logins(&self) -> usize {
        self.books.lock().expect("books").logins
    }

    fn expired_uses(&self) -> usize {
        self.books.lock().expect("books").expired_uses
    }

    fn change_password(&self, password: &str) {
        self.books.lock().expect("books").password = password.into();
    }

    /// Ends every session at once, as a restarted service does.
    fn end_sessions(&self) {
        self.books.lock().expect("books").sessions.clear();
    }
}

/// A server on `home` with the session piece installed and its hosts sent to `service`.
async fn server(home: &DataHome, service: &Service) -> TestApp {
    let pieces = home.path().join("pieces");
    std::fs::create_dir_all(&pieces).expect("pieces dir");
    let installed = pieces.join("session-crm.wasm");
    if !installed.exists() {
        std::fs::copy(piece_path("session-crm"), installed).expect("install the piece");
    }
    let settings = Settings::default()
        .route("login.session.test", &service.mock.base)
        .route("api.session.test", &service.mock.base);
    TestApp::spawn(home, settings).await
}

fn value(password: &str) -> Value {
    json!({"type": "custom", "props": {"user": "ann", "password": password}})
}

async fn connect(api: &Client) -> Value {
    let (status, created) = api
        .post(
            "/connections",
            &json!({"piece": "session-crm", "display_name": "CRM", "external_id": "crm",
                    "value": value(PASSWORD)}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created
}

async fn whoami_flow(api: &Client) -> String {
    let (status, flow) = api
        .post(
            "/flows",
            &json!({"name": "who", "steps": [{"name": "me", "piece": "session-crm",
                "action": "whoami", "auth": "{{connections['crm']}}", "input": {}}]}),
        )
        .await;
    assert_eq!(status, 201, "{flow}");
    flow["id"].as_str().expect("id").to_owned()
}

async fn run(api: &Client, flow: &str) -> Value {
    let (status, report) = api.post(&format!("/flows/{flow}/runs"), &json!({})).await;
    assert_eq!(status, 200, "{report}");
    report
}

/// Sessions a load of `elapsed` may open, the first at connect included: at most one
/// per three quarters of a lifetime (each is renewed with a quarter left) plus the one
/// in flight at the end; at least one per lifetime.
fn bounds(elapsed: Duration, lifetime: Duration) -> std::ops::RangeInclusive<usize> {
    let fewest = (elapsed.as_secs_f64() / lifetime.as_secs_f64()).floor() as usize;
    let most = (elapsed.as_secs_f64() / (lifetime.as_secs_f64() * 0.75)).floor() as usize + 2;
    fewest.max(1)..=most
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_is_opened_at_connect_applied_by_the_host_and_renewed_once_before_each_expiry() {
    let lifetime = Duration::from_secs(4);
    let service = Service::start(lifetime).await;
    let home = DataHome::new().await;
    let (project, token) = home.project("acme").await;
    let app = server(&home, &service).await;
    let api = app.client(&token);

    let (_, piece) = api.get("/pieces/session-crm").await;
    assert_eq!(piece["sessions"], true, "{piece}");
    let connected = Instant::now();
    let created = connect(&api).await;
    assert_eq!(created["status"], "active");
    assert_eq!(service.logins(), 1, "one login opens the first session");

    let flow = whoami_flow(&api).await;
    let report = run(&api, &flow).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(
        report["steps"][0]["output"],
        json!({"user": "ann", "session_redacted": true, "password_redacted": true}),
        "the host applied the session; the piece held neither it nor the password"
    );
    let visitor_password = "visitor-pw-planted-2f0c";
    home.user("ann@example.com", visitor_password, false, &[&project])
        .await;
    let ann = Visitor::new(&app.base);
    ann.login("ann@example.com", visitor_password).await;
    let form = ann.get("/connections/new/session-crm").await;
    assert!(
        form.body.contains(
            "This app logs in with your credential at <code>login.session.test</code>, \
             <code>api.session.test</code>; the session it opens is sent only to \
             <code>api.session.test</code>."
        ),
        "{}",
        form.body
    );

    let outcomes = sustain(
        std::slice::from_ref(&api),
        &flow,
        8,
        Duration::from_secs(11),
    )
    .await;
    let elapsed = connected.elapsed();
    assert!(
        outcomes.iter().all(|o| o.succeeded()),
        "{:?}",
        outcomes.iter().find(|o| !o.succeeded())
    );
    assert_eq!(
        service.expired_uses(),
        0,
        "an expired session was presented"
    );
    let logins = service.logins();
    assert!(
        bounds(elapsed, lifetime).contains(&logins),
        "{logins} logins in {elapsed:?} of {} runs",
        outcomes.len()
    );
    let connection = created["id"].as_str().expect("id");
    let (_, audit) = api
        .get(&format!("/audit?connection={connection}&event=refreshed"))
        .await;
    let refreshed = audit["events"].as_array().map_or(0, Vec::len);
    assert_eq!(refreshed, logins - 1, "each later session is audited once");
    let log = app.log();
    assert!(!log.contains(PASSWORD) && !log.contains("sess-planted-"));
    let beyond_login: Vec<Recorded> = service
        .mock
        .requests()
        .into_iter()
        .filter(|r| r.path != "/login")
        .collect();
    assert!(!beyond_login.is_empty());
    assert!(
        beyond_login
            .iter()
            .all(|r| !format!("{r:?}").contains(PASSWORD)),
        "the password went beyond the login"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_open_each_session_once_under_sustained_runs() {
    let lifetime = Duration::from_secs(4);
    let service = Service::start(lifetime).await;
    let home = DataHome::new().await;
    if home.database_url.is_none() {
        eprintln!("SQLite run: replicas share PostgreSQL; this test runs in the PostgreSQL pass");
        return;
    }
    let (_, token) = home.project("acme").await;
    let one = server(&home, &service).await;
    let two = server(&home, &service).await;
    let replicas = [one.client(&token), two.client(&token)];
    let connected = Instant::now();
    connect(&replicas[0]).await;
    let flow = whoami_flow(&replicas[1]).await;

    let outcomes = sustain(&replicas, &flow, 24, Duration::from_secs(13)).await;
    let elapsed = connected.elapsed();
    assert!(
        outcomes.iter().all(|o| o.succeeded()),
        "{:?}",
        outcomes.iter().find(|o| !o.succeeded())
    );
    assert!(outcomes.iter().any(|o| o.replica == 0) && outcomes.iter().any(|o| o.replica == 1));
    assert_eq!(service.expired_uses(), 0);
    let logins = service.logins();
    assert!(
        bounds(elapsed, lifetime).contains(&logins),
        "{logins} logins in {elapsed:?} across two replicas"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_login_stores_nothing_and_a_changed_password_expires_the_connection() {
    let lifetime = Duration::from_secs(2);
    let service = Service::start(lifetime).await;
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let app = server(&home, &service).await;
    let api = app.client(&token);

    let (status, refused) = api
        .post(
            "/connections",
            &json!({"piece": "session-crm", "display_name": "CRM", "external_id": "crm",
                    "value": value("pw-planted-wrong-3e1d")}),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "invalid_credentials");
    assert_eq!(
        refused["message"],
        "Invalid API key (Session CRM answered HTTP 401)"
    );
    assert_eq!(api.get("/connections").await.1["connections"], json!([]));

    connect(&api).await;
    let flow = whoami_flow(&api).await;
    assert_eq!(run(&api, &flow).await["status"], "succeeded");

    // The password changes at the service: the next session cannot be opened.
    service.change_password(NEW_PASSWORD);
    tokio::time::sleep(lifetime).await;
    let report = run(&api, &flow).await;
    assert_eq!(report["status"], "failed", "{report}");
    assert_eq!(
        report["steps"][0]["error"]["code"], "connection_expired",
        "{report}"
    );
    let (_, connection) = api.get("/connections/crm").await;
    assert_eq!(connection["status"], "expired");
    // Expired is final until a reconnect: no more logins are tried.
    let tried = service.books.lock().expect("books").refused_logins;
    run(&api, &flow).await;
    assert_eq!(service.books.lock().expect("books").refused_logins, tried);

    let (status, reconnected) = api
        .post(
            "/connections/crm/reconnect",
            &json!({"value": value(NEW_PASSWORD)}),
        )
        .await;
    assert_eq!(status, 200, "{reconnected}");
    assert_eq!(reconnected["status"], "active");
    assert_eq!(run(&api, &flow).await["status"], "succeeded");
    assert_eq!(service.expired_uses(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_opens_a_session_to_validate_and_run_a_piece() {
    let service = Service::start(Duration::from_secs(60)).await;
    let wasm = piece_path("session-crm").display().to_string();
    let cli = |args: Vec<String>| {
        let service = service.mock.base.clone();
        async move {
            let out = tokio::process::Command::new(thinkfleet_bin())
                .args(&args)
                .args([
                    "--outbound-override".to_owned(),
                    format!("login.session.test={service}"),
                    "--outbound-override".to_owned(),
                    format!("api.session.test={service}"),
                ])
                .env("THINKFLEET_CACHE_DIR", cache_dir())
                .output()
                .await
                .expect("thinkfleet");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let auth = |password: &str| {
        vec![
            "--auth".to_owned(),
            "user=ann".to_owned(),
            "--auth".to_owned(),
            format!("password={password}"),
        ]
    };
    let command = |words: &[&str], password: &str| {
        let mut args: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        args.extend(auth(password));
        args
    };

    let (code, stdout, stderr) = cli(vec!["piece".into(), "inspect".into(), wasm.clone()]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("sessions: opened by the piece with the entered fields"),
        "{stdout}"
    );
    let (code, stdout, stderr) = cli(command(&["piece", "validate", &wasm], PASSWORD)).await;
    assert_eq!((code, stdout.trim()), (Some(0), "valid"), "{stderr}");
    let (code, stdout, stderr) = cli(command(
        &["piece", "run", &wasm, "whoami", "--input", "{}"],
        PASSWORD,
    ))
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let output: Value = serde_json::from_str(&stdout).expect("json output");
    assert_eq!(
        output,
        json!({"user": "ann", "session_redacted": true, "password_redacted": true})
    );
    let (code, _, stderr) = cli(command(
        &["piece", "validate", &wasm],
        "pw-planted-wrong-77a0",
    ))
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("Invalid API key (Session CRM answered HTTP 401)"),
        "{stderr}"
    );
    assert_eq!(service.logins(), 2);
    assert_eq!(service.expired_uses(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_the_service_ends_early_are_replaced_once_and_no_run_fails() {
    // Sessions that would last a minute; the service ends them all three times.
    let service = Service::start(Duration::from_secs(60)).await;
    let home = DataHome::new().await;
    let (_, token) = home.project("acme").await;
    let app = server(&home, &service).await;
    let api = app.client(&token);
    connect(&api).await;
    let flow = whoami_flow(&api).await;
    assert_eq!(run(&api, &flow).await["status"], "succeeded");

    let load = {
        let api = api.clone();
        let flow = flow.clone();
        tokio::spawn(async move {
            sustain(std::slice::from_ref(&api), &flow, 8, Duration::from_secs(5)).await
        })
    };
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        service.end_sessions();
    }
    let outcomes = load.await.expect("load");
    assert!(
        outcomes.iter().all(|o| o.succeeded()),
        "{:?}",
        outcomes.iter().find(|o| !o.succeeded())
    );
    assert_eq!(
        service.logins(),
        4,
        "one login at connect and one per ended session"
    );
    let (_, connection) = api.get("/connections/crm").await;
    assert_eq!(connection["status"], "active");
}
