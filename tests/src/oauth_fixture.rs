//! The OAuth2 fixture of the end-to-end suite and the refresh benchmark: a strict local
//! provider standing in for Slack or Google, a `thinkfleet serve` whose callback it
//! knows, and helpers to register the operator's app, run the popup flow and make a
//! flow that uses the connection.

use crate::app::{Settings, TestApp};
use crate::client::Client;
use crate::home::{DataHome, free_port};
use crate::oauth_provider::{OAuthProvider, ProviderConfig};
use crate::requests::{NewFlow, Step};
use serde_json::{Value, json};

/// The client id of the provider's one client.
pub const CLIENT_ID: &str = "tf-client";
/// Its secret (planted: the leak scans look for it).
pub const CLIENT_SECRET: &str = "tf-client-secret-planted-42";
/// The admin token the servers are started with.
pub const ADMIN_TOKEN: &str = "admin-token-for-tests";

/// A provider, and a server on a port chosen first so the callback URL is known.
pub struct Setup {
    /// The provider.
    pub provider: OAuthProvider,
    /// The server's data and database.
    pub home: DataHome,
    /// The id of the project `acme`.
    pub project: String,
    /// The API token of the project `acme`.
    pub token: String,
    /// The server.
    pub server: TestApp,
    /// Its address (the provider knows its callback URL).
    pub listen: String,
}

/// An HTTP client that follows no redirect (the popup's hops are checked one by one).
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A provider (Google's paths with `google`, else Slack's), a fresh data home with the
/// project `acme`, and a server on it, started with `settings` (see [`start_server`]).
pub async fn setup(google: bool, settings: Settings) -> Setup {
    let listen = format!("127.0.0.1:{}", free_port());
    let callback = format!("http://{listen}/oauth2/callback");
    let config = if google {
        ProviderConfig::google(CLIENT_ID, CLIENT_SECRET, &callback)
    } else {
        ProviderConfig::slack(CLIENT_ID, CLIENT_SECRET, &callback)
    };
    let provider = OAuthProvider::start(config).await;
    let home = DataHome::new().await;
    let (project, token) = home.project("acme").await;
    let server = start_server(&home, &listen, &provider, settings).await;
    Setup {
        provider,
        home,
        project,
        token,
        server,
        listen,
    }
}

/// A server on `home` listening on `listen`, reaching the provider for every Slack
/// and Google host, with the admin token, and with `settings` (whose refresh
/// interval, unless set, leaves the background refresher idle).
pub async fn start_server(
    home: &DataHome,
    listen: &str,
    provider: &OAuthProvider,
    settings: Settings,
) -> TestApp {
    let mut settings = settings.listen(listen).admin_token(ADMIN_TOKEN);
    if !settings.refresh_is_set() {
        settings = settings.refresh_every(std::time::Duration::from_secs(3600));
    }
    for host in [
        "slack.com",
        "accounts.google.com",
        "oauth2.googleapis.com",
        "www.googleapis.com",
        "sheets.googleapis.com",
    ] {
        settings = settings.route(host, &provider.base);
    }
    TestApp::spawn(home, settings).await
}

/// Registers the operator's OAuth app through the admin API.
pub async fn register_app(s: &Setup, piece: &str) {
    register_app_on(&s.server, piece).await;
}

/// Registers the operator's OAuth app for `piece` on `server` (started with
/// [`ADMIN_TOKEN`]) through the admin API.
pub async fn register_app_on(server: &TestApp, piece: &str) {
    let admin = server.client(ADMIN_TOKEN);
    let body = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    let (status, _) = admin
        .send("PUT", &format!("/admin/oauth-apps/{piece}"), Some(&body))
        .await;
    assert_eq!(status, 204);
}

/// Starts an authorization, lets the provider approve it, and follows its redirect to
/// our callback; returns the callback page.
pub async fn authorize(api: &Client, start: Value) -> String {
    let (status, started) = api.post("/oauth2/start", &start).await;
    assert_eq!(status, 200, "{started}");
    let url = started["authorize_url"].as_str().expect("authorize_url");
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let http = no_redirects();
    let approved = http.get(url).send().await.expect("authorize");
    assert_eq!(approved.status(), 302, "the provider refused: {url}");
    let callback = approved
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .expect("redirect")
        .to_owned();
    let page = http.get(&callback).send().await.expect("callback");
    assert_eq!(page.status(), 200);
    page.text().await.expect("page")
}

/// Connects Slack through the popup flow as `external_id`.
pub async fn connect_slack(s: &Setup, external_id: &str) {
    let api = s.server.client(&s.token);
    let page = authorize(
        &api,
        json!({"piece": "slack", "display_name": external_id, "external_id": external_id}),
    )
    .await;
    assert!(
        page.contains(&format!("Connected ({external_id})")),
        "{page}"
    );
}

/// Connects Google Sheets through the popup flow as `external_id`, with the
/// connection's own OAuth client; returns the callback page.
pub async fn connect_sheets(s: &Setup, external_id: &str) -> String {
    let api = s.server.client(&s.token);
    let page = authorize(
        &api,
        json!({"piece": "google-sheets", "display_name": "Sheets", "external_id": external_id,
               "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
    )
    .await;
    assert!(
        page.contains(&format!("Connected ({external_id})")),
        "{page}"
    );
    page
}

/// A flow appending a row to a sheet through `connection`; returns its id.
pub async fn sheets_flow(api: &Client, connection: &str) -> String {
    let (status, flow) = api
        .post(
            "/flows",
            &json!({"name": "log", "steps": [{"name": "row", "piece": "google-sheets",
                "action": "append_row", "auth": format!("{{{{connections['{connection}']}}}}"),
                "input": {"spreadsheet_id": "abc", "values": ["a", 1]}}]}),
        )
        .await;
    assert_eq!(status, 201, "{flow}");
    flow["id"].as_str().expect("id").to_owned()
}

/// A flow posting to Slack through `connection`; returns its id.
pub async fn slack_flow(api: &Client, connection: &str) -> String {
    let step = Step::new("post", "slack", "send_message")
        .using(connection)
        .input(json!({"channel": "#general", "text": "deployed"}));
    let new = NewFlow::new(&format!("notify via {connection}"), vec![step]);
    api.create_flow(&new).await.expect("the flow is created").id
}

/// Runs a flow; the run report.
pub async fn run(api: &Client, flow: &str) -> Value {
    let (status, report) = api.post(&format!("/flows/{flow}/runs"), &json!({})).await;
    assert_eq!(status, 200, "{report}");
    report
}

/// How many events of `kind` an audit page holds.
pub fn events(audit: &Value, kind: &str) -> usize {
    audit["events"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["event"] == kind).count())
        .unwrap_or(0)
}
