//! A real `thinkfleet serve` for end-to-end tests: its own data directory, its own
//! database (a SQLite file, or a fresh PostgreSQL database when
//! `THINKFLEET_TEST_DATABASE` names a server), a loopback port, its log captured, and a
//! small JSON client that keeps every response it saw so a test can prove no secret
//! ever came back.

use crate::{cache_dir, thinkfleet_bin};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// The environment variable naming a PostgreSQL server (an admin URL such as
/// `postgres://postgres@127.0.0.1:5432/test`) to run the suite against.
pub const TEST_DATABASE_VAR: &str = "THINKFLEET_TEST_DATABASE";

/// The database a test uses: `None` is the SQLite file in the data directory; `Some`
/// is a fresh PostgreSQL database made for this test only.
pub async fn fresh_database() -> Option<String> {
    let admin = std::env::var(TEST_DATABASE_VAR).ok()?;
    sqlx::any::install_default_drivers();
    let name = format!("tf_test_{}", uuid_like());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("connect to THINKFLEET_TEST_DATABASE");
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b)
        .expect("THINKFLEET_TEST_DATABASE ends with /DBNAME");
    Some(format!("{base}/{name}"))
}

fn uuid_like() -> String {
    let mut b = [0u8; 8];
    getrandom_fill(&mut b);
    hex::encode(b)
}

fn getrandom_fill(buf: &mut [u8]) {
    use std::io::Read as _;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("random bytes");
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where a test's data lives.
pub struct DataHome {
    /// The data directory.
    pub dir: tempfile::TempDir,
    /// The PostgreSQL URL, when the suite runs against PostgreSQL.
    pub database_url: Option<String>,
}

impl DataHome {
    /// A new, empty home with a fresh database.
    pub async fn new() -> DataHome {
        DataHome {
            dir: tempfile::tempdir().expect("tempdir"),
            database_url: fresh_database().await,
        }
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The database URL in force (the SQLite default when not PostgreSQL).
    pub fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| thinkfleet::store::default_url(self.path()))
    }

    /// A direct connection to this home's database, for checks behind the API's back.
    pub async fn connect(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        <sqlx::AnyConnection as sqlx::Connection>::connect(&self.url())
            .await
            .expect("connect to the test database")
    }

    /// A `thinkfleet` command on this home's data directory and database.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(thinkfleet_bin());
        cmd.args(args)
            .env("THINKFLEET_DATA_DIR", self.path())
            .env("THINKFLEET_CACHE_DIR", cache_dir())
            .env_remove("THINKFLEET_OUTBOUND_OVERRIDES")
            .env_remove("AP_ENCRYPTION_KEY")
            .env_remove("AP_ENCRYPTION_KEY_PREVIOUS")
            .env_remove("RUST_LOG")
            .kill_on_drop(true);
        match &self.database_url {
            Some(url) => cmd.env("DATABASE_URL", url),
            None => cmd.env_remove("DATABASE_URL"),
        };
        cmd
    }

    /// Runs `thinkfleet ARGS` with `env`; returns (exit code, stdout, stderr).
    pub async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let out = self
            .command(args)
            .envs(env.iter().copied())
            .output()
            .await
            .expect("run thinkfleet");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Creates a project with the CLI; returns (id, token).
    pub async fn project(&self, name: &str) -> (String, String) {
        let (code, out, err) = self.run(&["project", "create", name, "--json"], &[]).await;
        assert_eq!(code, 0, "project create failed: {err}");
        let v: Value = serde_json::from_str(&out).expect("project create --json");
        (
            v["id"].as_str().expect("id").to_owned(),
            v["token"].as_str().expect("token").to_owned(),
        )
    }
}

/// A running `thinkfleet serve`.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: Child,
    log: PathBuf,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `thinkfleet serve` on `home` with extra environment (outbound overrides,
    /// keys), logging at debug level to a file in the data directory.
    pub async fn start(home: &DataHome, env: &[(&str, &str)]) -> Server {
        Self::start_on(home, "127.0.0.1:0", env).await
    }

    /// Like [`Server::start`], listening on `listen` (e.g. a port chosen in advance
    /// with [`free_port`] so an OAuth2 provider can know the callback URL).
    pub async fn start_on(home: &DataHome, listen: &str, env: &[(&str, &str)]) -> Server {
        let log = home.path().join(format!("server-{}.log", uuid_like()));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut child = home
            .command(&["serve", "--listen", listen])
            .env("RUST_LOG", "debug")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn thinkfleet serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next_line().await.expect("read serve stdout") {
                Some(line) => {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        break addr.trim().to_owned();
                    }
                }
                None => panic!(
                    "thinkfleet serve exited before listening:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
            }
        };
        Server {
            base,
            child,
            log,
            seen: Arc::default(),
        }
    }

    /// A client acting with `token`.
    pub fn client(&self, token: &str) -> Client {
        Client {
            base: format!("{}/api/v1", self.base),
            token: Some(token.to_owned()),
            http: reqwest::Client::new(),
            seen: self.seen.clone(),
        }
    }

    /// A client without a token.
    pub fn anonymous(&self) -> Client {
        Client {
            token: None,
            ..self.client("")
        }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every response body any client of this server received.
    pub fn responses(&self) -> String {
        self.seen.lock().map(|s| s.join("\n")).unwrap_or_default()
    }

    /// Stops the server (SIGTERM-free: the process is killed) and returns its log.
    pub async fn stop(mut self) -> String {
        let _ = self.child.kill().await;
        self.log()
    }
}

/// A JSON client of the API under `/api/v1`.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Client {
    /// Sends a request with an optional JSON body; returns (status, JSON body or Null).
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        self.finish(req).await
    }

    /// Sends raw bytes as the body with a content type.
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        self.finish(req).await
    }

    async fn finish(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(text.clone());
        }
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send("POST", path, Some(body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send("PATCH", path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send("DELETE", path, None).await
    }
}
