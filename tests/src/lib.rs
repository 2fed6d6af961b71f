//! Shared helpers of the end-to-end suite: local mock services over loopback, runtimes
//! whose outbound overrides point real pieces at them, and the built pieces' paths.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
pub mod app;
pub mod browser;
pub mod client;
pub mod home;
pub mod leak;
pub mod load;
pub mod mcp;
pub mod oauth_fixture;
pub mod oauth_provider;
pub mod requests;
pub mod web;

use thinkfleet::runtime::{Limits, LoadedPiece, OutboundPolicy, Override, Runtime, RuntimeConfig};

include!(concat!(env!("OUT_DIR"), "/test_pieces.rs"));

/// The path of a built piece: an example piece or a test-only one.
pub fn piece_path(name: &str) -> PathBuf {
    thinkfleet::examples::path(name)
        .or_else(|| {
            TEST_PIECES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, p)| p.into())
        })
        .unwrap_or_else(|| panic!("no built piece named {name}"))
}

/// One request a mock service received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Headers, names lower-case.
    pub headers: HashMap<String, String>,
    /// Body as text.
    pub body: String,
}

impl Recorded {
    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

type Responder = dyn Fn(&Recorded) -> (u16, serde_json::Value) + Send + Sync;

/// A local HTTP service on 127.0.0.1 that records every request and answers with a
/// closure, standing in for a real API the pieces call.
pub struct Mock {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The bound address.
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    gate: Arc<Gate>,
}

/// Holds back a mock's answers to chosen requests until opened.
struct Gate {
    open: tokio::sync::watch::Sender<bool>,
    /// Requests being held now.
    held: std::sync::atomic::AtomicUsize,
}

type Holder = dyn Fn(&Recorded) -> bool + Send + Sync;

impl Mock {
    /// Starts a mock on an ephemeral loopback port.
    pub async fn start(
        respond: impl Fn(&Recorded) -> (u16, serde_json::Value) + Send + Sync + 'static,
    ) -> Mock {
        Self::start_holding(respond, |_| false).await
    }

    /// Starts a mock whose answers to the requests `hold` picks wait, while its gate
    /// is closed ([`Mock::close`]), until it opens ([`Mock::open`]).
    pub async fn start_holding(
        respond: impl Fn(&Recorded) -> (u16, serde_json::Value) + Send + Sync + 'static,
        hold: impl Fn(&Recorded) -> bool + Send + Sync + 'static,
    ) -> Mock {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Responder> = Arc::new(respond);
        let hold: Arc<Holder> = Arc::new(hold);
        let gate = Arc::new(Gate {
            open: tokio::sync::watch::Sender::new(true),
            held: 0.into(),
        });
        let seen = requests.clone();
        let held_by = gate.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let seen = seen.clone();
            let respond = respond.clone();
            let hold = hold.clone();
            let gate = held_by.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                let recorded = Recorded {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    query: parts.uri.query().unwrap_or("").to_string(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_string(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                if hold(&recorded) {
                    use std::sync::atomic::Ordering::SeqCst;
                    gate.held.fetch_add(1, SeqCst);
                    let mut open = gate.open.subscribe();
                    let _ = open.wait_for(|open| *open).await;
                    gate.held.fetch_sub(1, SeqCst);
                }
                let (status, json) = respond(&recorded);
                seen.lock().expect("mock lock").push(recorded);
                let status = axum::http::StatusCode::from_u16(status).expect("status");
                (status, axum::Json(json))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind mock");
        let addr = listener.local_addr().expect("mock addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("mock server");
        });
        Mock {
            base: format!("http://{addr}"),
            addr,
            requests,
            gate,
        }
    }

    /// Closes the gate: requests the mock holds wait for [`Mock::open`].
    pub fn close(&self) {
        self.gate.open.send_replace(false);
    }

    /// Opens the gate: held requests are answered.
    pub fn open(&self) {
        self.gate.open.send_replace(true);
    }

    /// Requests held at the gate now.
    pub fn held(&self) -> usize {
        self.gate.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("mock lock").clone()
    }
}

/// Where the suite caches compiled components (shared by all tests; keyed by digest).
pub fn cache_dir() -> PathBuf {
    piece_path("openai")
        .parent()
        .expect("pieces dir")
        .join("test-cache")
}

/// A runtime whose overrides send `host` to each mock, with small limits for tests.
pub fn runtime(overrides: &[(&str, &Mock)]) -> Runtime {
    runtime_with(overrides, |_, _| {})
}

/// Like [`runtime`], letting the test adjust the limits and policy.
pub fn runtime_with(
    overrides: &[(&str, &Mock)],
    adjust: impl FnOnce(&mut Limits, &mut OutboundPolicy),
) -> Runtime {
    let mut limits = Limits {
        max_concurrent_calls: 16,
        ..Limits::default()
    };
    let mut outbound = OutboundPolicy {
        overrides: overrides
            .iter()
            .map(|(host, mock)| {
                format!("{host}={}", mock.base)
                    .parse::<Override>()
                    .expect("override")
            })
            .collect(),
        ..OutboundPolicy::default()
    };
    adjust(&mut limits, &mut outbound);
    Runtime::new(RuntimeConfig {
        limits,
        outbound,
        cache_dir: Some(cache_dir()),
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

/// Loads a built piece.
pub async fn load(runtime: &Runtime, name: &str) -> LoadedPiece {
    runtime
        .load_file(&piece_path(name))
        .await
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

/// The `thinkfleet` binary, built from this workspace (fresh: cargo rebuilds it if needed),
/// or the one `THINKFLEET_BIN` names (a release build, for benchmarks).
pub fn thinkfleet_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(bin) = std::env::var_os("THINKFLEET_BIN") {
                return PathBuf::from(bin);
            }
            let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("root")
                .to_path_buf();
            let mut command = cargo_command();
            let status = command
                .current_dir(&workspace)
                // With `--tests` the features are resolved as for `cargo test` (dev-
                // dependencies included), so the binary links against the artifacts the
                // test build already made instead of rebuilding tokio, hyper and the rest
                // with a different feature set.
                .args(["build", "-q", "--bins", "--tests"])
                .status()
                .expect("cargo build thinkfleet");
            assert!(status.success(), "building the thinkfleet binary failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or(workspace.join("target"));
            target.join("debug").join("thinkfleet")
        })
        .clone()
}

/// A nested `cargo` command, without the variables `cargo test` gives this process (the
/// test crate's `CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, `OUT_DIR`…): build scripts (ring's,
/// cc's) watch those names, so a nested cargo that saw them would rebuild their crates,
/// and the next top-level `cargo test` would rebuild them back.
pub fn cargo_command() -> std::process::Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo_test = name == "OUT_DIR"
            || [
                "CARGO_MANIFEST_",
                "CARGO_PKG_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
            ]
            .iter()
            .any(|p| name.starts_with(p))
            || name == "CARGO_PRIMARY_PACKAGE"
            || name == "CARGO_TARGET_TMPDIR";
        if set_by_cargo_test {
            command.env_remove(name.as_ref());
        }
    }
    command
}
