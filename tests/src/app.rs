//! The host under test. [`TestApp::spawn`] runs it in this process — its own tokio
//! runtime whose threads log into the app's own buffer, a loopback port, the test's
//! data home — with nothing built or spawned. [`Settings::process`] runs the real
//! `thinkfleet serve` binary instead, for what only a process shows: kill -9, the
//! flags and environment of `serve`, its startup messages.

use crate::cache_dir;
use crate::client::{Client, Seen};
use crate::home::{DataHome, uuid_like};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thinkfleet::runtime::{Limits, OutboundPolicy, Override, RuntimeConfig};
use thinkfleet::server::ServeConfig;
use thinkfleet::webhooks::WebhookTiming;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Child;
use tokio::sync::oneshot;

/// How the app under test is configured: the same knobs `thinkfleet serve` takes, typed.
#[derive(Clone, Debug)]
pub struct Settings {
    listen: String,
    routes: Vec<(String, String)>,
    admin_token: Option<String>,
    refresh_interval: Option<Duration>,
    log_filter: String,
    process: bool,
    webhooks: WebhookTiming,
    json_logs: bool,
    metrics_token: Option<String>,
    /// (pool slots, slots per project, queue deadline).
    shares: Option<(u32, u32, Duration)>,
    /// Another way to the home's database (e.g. through a proxy the test can cut).
    database_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:0".into(),
            routes: Vec::new(),
            admin_token: None,
            refresh_interval: None,
            log_filter: "debug".into(),
            process: false,
            webhooks: WebhookTiming::default(),
            json_logs: false,
            metrics_token: None,
            shares: None,
            database_url: None,
        }
    }
}

impl Settings {
    /// Listens on `addr` (e.g. a port chosen first so an OAuth2 provider knows the
    /// callback URL) instead of a free port.
    pub fn listen(mut self, addr: &str) -> Self {
        addr.clone_into(&mut self.listen);
        self
    }

    /// Sends the pieces' requests for `host` to `base` (an outbound override).
    pub fn route(mut self, host: &str, base: &str) -> Self {
        self.routes.push((host.to_owned(), base.to_owned()));
        self
    }

    /// Enables the admin API with `token`.
    pub fn admin_token(mut self, token: &str) -> Self {
        self.admin_token = Some(token.to_owned());
        self
    }

    /// How often the background refresher looks for tokens about to expire (default:
    /// `serve`'s, 60 s).
    pub fn refresh_every(mut self, interval: Duration) -> Self {
        self.refresh_interval = Some(interval);
        self
    }

    /// The background refresher's interval in force.
    fn refresh(&self) -> Duration {
        self.refresh_interval.unwrap_or(Duration::from_secs(60))
    }

    /// The log filter (`RUST_LOG` syntax; default `debug`, so leak scans see everything).
    pub fn log(mut self, filter: &str) -> Self {
        filter.clone_into(&mut self.log_filter);
        self
    }

    /// The webhook worker looks every `tick` and retries after `first_retry`, doubling,
    /// for `attempts` attempts (in-process apps only; default: `serve`'s).
    pub fn webhooks(mut self, tick: Duration, first_retry: Duration, attempts: u32) -> Self {
        self.webhooks = WebhookTiming {
            tick,
            first_retry,
            attempts,
        };
        self
    }

    /// Serves `/metrics` behind `token`.
    pub fn metrics_token(mut self, token: &str) -> Self {
        self.metrics_token = Some(token.to_owned());
        self
    }

    /// Logs one JSON object per line (`--log-format json`; the real binary only).
    pub fn json_logs(mut self) -> Self {
        self.json_logs = true;
        self
    }

    /// Runs the real `thinkfleet serve` binary as a child process.
    pub fn process(mut self) -> Self {
        self.process = true;
        self
    }

    /// A sandbox of `pool` slots, `per_project` of them at most for one project, and
    /// calls that wait longer than `queue` for a slot fail `busy`.
    pub fn sandbox_shares(mut self, pool: u32, per_project: u32, queue: Duration) -> Self {
        self.shares = Some((pool, per_project, queue));
        self
    }

    /// Whether the refresher's interval was chosen.
    pub fn refresh_is_set(&self) -> bool {
        self.refresh_interval.is_some()
    }

    /// Reaches the home's database at `url` instead of the home's own URL.
    pub fn database_url(mut self, url: &str) -> Self {
        self.database_url = Some(url.to_owned());
        self
    }

    /// The environment that gives the binary these settings.
    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            (
                "THINKFLEET_OAUTH_REFRESH_INTERVAL_SECS",
                self.refresh().as_secs().max(1).to_string(),
            ),
            ("RUST_LOG", self.log_filter.clone()),
        ];
        if self.json_logs {
            env.push(("THINKFLEET_LOG_FORMAT", "json".into()));
        }
        if let Some(token) = &self.metrics_token {
            env.push(("THINKFLEET_METRICS_TOKEN", token.clone()));
        }
        if !self.routes.is_empty() {
            let routes: Vec<String> = self
                .routes
                .iter()
                .map(|(host, base)| format!("{host}={base}"))
                .collect();
            env.push(("THINKFLEET_OUTBOUND_OVERRIDES", routes.join(",")));
        }
        if let Some(token) = &self.admin_token {
            env.push(("THINKFLEET_ADMIN_TOKEN", token.clone()));
        }
        if let Some(url) = &self.database_url {
            env.push(("DATABASE_URL", url.clone()));
        }
        if let Some((pool, per_project, queue)) = self.shares {
            env.push(("THINKFLEET_MAX_CONCURRENT_CALLS", pool.to_string()));
            env.push(("THINKFLEET_MAX_CALLS_PER_PROJECT", per_project.to_string()));
            env.push(("THINKFLEET_QUEUE_TIMEOUT_MS", queue.as_millis().to_string()));
        }
        env
    }

    /// The configuration `serve` builds from the same settings.
    fn serve_config(&self, home: &DataHome, listen: String) -> ServeConfig {
        ServeConfig {
            listen,
            data_dir: home.path().to_owned(),
            database_url: self.database_url.clone().unwrap_or_else(|| home.url()),
            runtime: RuntimeConfig {
                limits: {
                    let mut limits = Limits {
                        call_timeout: Duration::from_secs(30),
                        memory_bytes: 64 << 20,
                        ..Limits::default()
                    };
                    if let Some((pool, per_project, queue)) = self.shares {
                        limits.max_concurrent_calls = pool;
                        limits.max_calls_per_project = per_project;
                        limits.queue_timeout = queue;
                    }
                    limits
                },
                outbound: OutboundPolicy {
                    overrides: self
                        .routes
                        .iter()
                        .map(|(host, base)| {
                            format!("{host}={base}")
                                .parse::<Override>()
                                .expect("outbound override")
                        })
                        .collect(),
                    ..OutboundPolicy::default()
                },
                cache_dir: Some(cache_dir()),
                ..RuntimeConfig::default()
            },
            keys: thinkfleet::vault::KeyConfig::default(),
            public_url: None,
            admin_token: self.admin_token.clone().map(Into::into),
            refresh_interval: self.refresh(),
            webhooks: self.webhooks,
            metrics_token: self.metrics_token.clone().map(Into::into),
        }
    }
}

/// The bytes an in-process app logged.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut log) = self.0.lock() {
            log.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Running {
    InProcess {
        runtime: Option<tokio::runtime::Runtime>,
        stop: Option<oneshot::Sender<()>>,
        served: Option<tokio::task::JoinHandle<()>>,
        log: LogBuffer,
    },
    Process {
        child: Child,
        log: PathBuf,
    },
}

/// A running host: in this process, or a `thinkfleet serve` child.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The one-time "create the first admin" link `serve` printed (no user yet).
    pub setup_link: Option<String>,
    running: Running,
    seen: Seen,
}

impl TestApp {
    /// Starts the host on `home` with `settings`, and returns once it serves.
    pub async fn spawn(home: &DataHome, settings: Settings) -> TestApp {
        if settings.process {
            Self::spawn_process(home, &settings).await
        } else {
            Self::spawn_in_process(home, &settings).await
        }
    }

    async fn spawn_in_process(home: &DataHome, settings: &Settings) -> TestApp {
        let log = LogBuffer::default();
        let sink = log.clone();
        let dispatch = tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(&settings.log_filter))
                .with_ansi(false)
                .with_writer(move || sink.clone())
                .finish(),
        );
        // Every thread of the app's runtime (workers and blocking pool) logs into the
        // app's own buffer, so each test reads only its own app's log.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || {
                std::mem::forget(tracing::dispatcher::set_default(&dispatch));
            })
            .build()
            .expect("the app's runtime");
        let listener = std::net::TcpListener::bind(&settings.listen).expect("bind the app");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("the app's address");
        let config = settings.serve_config(home, addr.to_string());
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, started) = oneshot::channel::<Result<Option<String>, String>>();
        let served = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            match thinkfleet::server::state(&config).await {
                Err(e) => {
                    let _ = ready.send(Err(e.to_string()));
                }
                Ok(state) => {
                    let link = thinkfleet::server::setup_link(&state)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = ready.send(link);
                    let stopped = async {
                        let _ = stopped.await;
                    };
                    let _ =
                        thinkfleet::server::run(listener, state, config.refresh_interval, stopped)
                            .await;
                }
            }
        });
        let setup_link = match started
            .await
            .unwrap_or_else(|_| Err("the app panicked".into()))
        {
            Ok(link) => link,
            Err(e) => {
                let log = String::from_utf8_lossy(&log.0.lock().expect("log")).into_owned();
                runtime.shutdown_background();
                panic!("the app did not start: {e}\n{log}");
            }
        };
        TestApp {
            base: format!("http://{addr}"),
            setup_link,
            running: Running::InProcess {
                runtime: Some(runtime),
                stop: Some(stop),
                served: Some(served),
                log,
            },
            seen: Seen::default(),
        }
    }

    async fn spawn_process(home: &DataHome, settings: &Settings) -> TestApp {
        let log = home.path().join(format!("server-{}.log", uuid_like()));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut child = home
            .command(&["serve", "--listen", &settings.listen])
            .envs(settings.env())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn thinkfleet serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut setup_link = None;
        let base = loop {
            match lines.next_line().await.expect("read serve stdout") {
                Some(line) => {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        break addr.trim().to_owned();
                    }
                    if let Some((_, rest)) = line.split_once("Create the first admin at ") {
                        setup_link = rest.split_whitespace().next().map(str::to_owned);
                    }
                }
                None => panic!(
                    "thinkfleet serve exited before listening:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
            }
        };
        TestApp {
            base,
            setup_link,
            running: Running::Process { child, log },
            seen: Seen::default(),
        }
    }

    /// A client acting with `token`.
    pub fn client(&self, token: &str) -> Client {
        Client::new(&self.base, Some(token), self.seen.clone())
    }

    /// A client without a token.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.base, None, self.seen.clone())
    }

    /// Everything the app logged so far.
    pub fn log(&self) -> String {
        match &self.running {
            Running::InProcess { log, .. } => log
                .0
                .lock()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default(),
            Running::Process { log, .. } => std::fs::read_to_string(log).unwrap_or_default(),
        }
    }

    /// Every response body any client of this app received.
    pub fn responses(&self) -> String {
        self.seen.lock().map(|s| s.join("\n")).unwrap_or_default()
    }

    /// Shuts the app down gracefully (in flight requests finish, the store is closed)
    /// and returns its log; a child process is killed.
    pub async fn stop(mut self) -> String {
        match &mut self.running {
            Running::InProcess { stop, served, .. } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                if let Some(served) = served.take() {
                    let _ = tokio::time::timeout(Duration::from_secs(10), served).await;
                }
            }
            Running::Process { child, .. } => {
                let _ = child.kill().await;
            }
        }
        self.log()
    }

    /// Ends the app at once, as a crash would: a child process gets SIGKILL; an
    /// in-process app's tasks are dropped where they stand.
    pub async fn kill(mut self) -> String {
        match &mut self.running {
            Running::InProcess { runtime, .. } => {
                if let Some(runtime) = runtime.take() {
                    runtime.shutdown_background();
                }
            }
            Running::Process { child, .. } => {
                let _ = child.kill().await;
            }
        }
        self.log()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        crate::leak::keep("log", self.log().as_bytes());
        crate::leak::keep("responses", self.responses().as_bytes());
        if let Running::InProcess { stop, runtime, .. } = &mut self.running {
            if let Some(stop) = stop.take() {
                let _ = stop.send(());
            }
            if let Some(runtime) = runtime.take() {
                runtime.shutdown_background();
            }
        }
    }
}
