//! The piece runtime: the only code that knows wasmtime.
//!
//! One [`Runtime`] per process holds the engine (pooling allocator, copy-on-write memory
//! init, epoch interruption), the linker (WASI with an empty context, filtered
//! `wasi:http`, the host log) and the compiled-component cache. [`Runtime::load`] turns a
//! component into a [`LoadedPiece`] with its `InstancePre`; each call gets a fresh store
//! and instance, bounded by a deadline, a memory limit and an output limit, so nothing
//! survives a call.

mod bindings;
mod cache;
mod convert;
mod error;
mod exports;
mod fair;
pub mod outbound;
pub mod pool;
mod scrub;
mod session;
mod state;
mod stderr;

pub use error::{CallError, EngineError, LoadError};
pub use outbound::{OutboundPolicy, Override};
pub use pool::{PoolTuning, SlotReset};

use crate::piece::{Credentials, OpenedSession, PieceInfo};
use bindings::{v0_1, v0_2, v0_2_session};
use state::{HostState, LogSink, MemoryLimiter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Store};

/// How often the epoch ticks; deadlines are counted in these.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Per-call bounds.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock deadline of one call, outbound HTTP included.
    pub call_timeout: Duration,
    /// Linear memory a piece may use.
    pub memory_bytes: usize,
    /// Largest action output, in bytes of JSON.
    pub output_bytes: usize,
    /// Calls running at once (the pooling allocator's slots).
    pub max_concurrent_calls: u32,
    /// Log lines a call may write.
    pub log_lines: usize,
    /// Longest log line or error message kept, in bytes.
    pub message_bytes: usize,
    /// Slots one project may hold at once (its share of `max_concurrent_calls`).
    pub max_calls_per_project: u32,
    /// Outbound requests one project may have in flight at once.
    pub max_outbound_per_project: u32,
    /// How long a call may wait for a slot before it fails `busy`.
    pub queue_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_timeout: Duration::from_secs(30),
            memory_bytes: 64 << 20,
            output_bytes: 1 << 20,
            max_concurrent_calls: 64,
            log_lines: 100,
            message_bytes: 2048,
            max_calls_per_project: 32,
            max_outbound_per_project: 32,
            queue_timeout: Duration::from_secs(10),
        }
    }
}

/// The runtime's configuration.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// Per-call bounds.
    pub limits: Limits,
    /// Outbound HTTP policy.
    pub outbound: OutboundPolicy,
    /// Where compiled components are kept; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// How pool slots are reset between calls (default: detected and measured).
    pub pool: PoolTuning,
}

struct Shared {
    engine: Engine,
    linker: Linker<HostState>,
    limits: Limits,
    outbound: Arc<OutboundPolicy>,
    egress: Arc<crate::egress::Egress>,
    cache: Option<cache::Cache>,
    permits: Arc<Semaphore>,
    shares: fair::Shares,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// The sandbox host for pieces. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

/// A loaded piece: its metadata and its pre-instantiated component. Cheap to clone.
#[derive(Clone)]
pub struct LoadedPiece {
    shared: Arc<Shared>,
    pre: InstancePre<HostState>,
    contract: Contract,
    /// Its exports' indices (`session.refresh` among them when it opens sessions).
    exports: Arc<exports::Exports>,
    info: Arc<PieceInfo>,
    allowed_hosts: Arc<[String]>,
    digest: Arc<str>,
}

/// The contract version a component was built against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Contract {
    V0_2,
    V0_1,
}

enum Call<'a> {
    Info,
    Validate(&'a Credentials),
    Run {
        action: &'a str,
        input: String,
        creds: &'a Credentials,
    },
    /// `session.refresh` with the entered fields; no credential applied by the host.
    Refresh(&'a Credentials),
}

enum Output {
    Info(Box<Result<PieceInfo, String>>),
    Validated,
    Ran(String),
    Session(OpenedSession),
}

/// The name of the optional `session` export in a component.
const SESSION_EXPORT: &str = "thinkfleet:piece/session@0.2.0";

/// The piece interface's full name in each contract version.
const PIECE_EXPORT_0_2: &str = "thinkfleet:piece/piece@0.2.0";
const PIECE_EXPORT_0_1: &str = "thinkfleet:piece/piece@0.1.0";

/// What a load says of a component whose export has another type than the contract's.
const MISTYPED_VALIDATE: &str = "export `validate` does not have the contract's type";
const MISTYPED_RUN_ACTION: &str = "export `run-action` does not have the contract's type";
const MISTYPED_INFO: &str = "export `info` does not have the contract's type";

/// One call of the piece interface on a fresh instance: the same code for each contract
/// version's generated types (`$version` names its bindings and its conversions in
/// [`convert`]).
macro_rules! call_world {
    ($pre:expr, $exports:expr, $store:expr, $call:expr, $withheld:expr, $version:ident) => {{
        use bindings::$version::wit;
        use convert::$version::{guest_credentials, piece_error, piece_info};
        use wasmtime::error::Context as _;
        type ValidateParams<'a> = (&'a wit::Credentials,);
        type ValidateResults = (Result<(), wit::PieceError>,);
        type RunParams<'a> = (&'a str, &'a str, &'a wit::Credentials);
        type RunResults = (Result<String, wit::PieceError>,);
        let (pre, exports, store) = ($pre, $exports, &mut $store);
        match $call {
            // Called once, at load: the instance checks every export's type first.
            Call::Info => {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance
                    .get_typed_func::<ValidateParams<'_>, ValidateResults>(
                        &mut *store,
                        &exports.validate,
                    )
                    .context(MISTYPED_VALIDATE)?;
                instance
                    .get_typed_func::<RunParams<'_>, RunResults>(&mut *store, &exports.run_action)
                    .context(MISTYPED_RUN_ACTION)?;
                if let Some(refresh) = &exports.refresh {
                    exports::check_refresh(&instance, &mut *store, refresh)?;
                }
                let info = instance
                    .get_typed_func::<(), (wit::PieceInfo,)>(&mut *store, &exports.info)
                    .context(MISTYPED_INFO)?;
                let (info,) = info.call_async(&mut *store, ()).await?;
                Ok(Output::Info(Box::new(piece_info(info))))
            }
            Call::Validate(c) => {
                let creds = guest_credentials(c, &$withheld);
                let (result,) = exports::call::<ValidateParams<'_>, ValidateResults>(
                    pre,
                    store,
                    &exports.validate,
                    (&creds,),
                )
                .await?;
                result.map(|()| Output::Validated).map_err(piece_error)
            }
            Call::Run {
                action,
                input,
                creds,
            } => {
                let creds = guest_credentials(creds, &$withheld);
                let (result,) = exports::call::<RunParams<'_>, RunResults>(
                    pre,
                    store,
                    &exports.run_action,
                    (action, &input, &creds),
                )
                .await?;
                result.map(Output::Ran).map_err(piece_error)
            }
            // Sent to the session export before this; never reaches a piece world.
            Call::Refresh(_) => {
                return Err(wasmtime::Error::msg("the piece exports no session"));
            }
        }
    }};
}

impl Runtime {
    /// Builds the engine and linker.
    pub fn new(config: RuntimeConfig) -> Result<Self, LoadError> {
        let host = |e: wasmtime::Error| LoadError::Engine(EngineError::new(e));
        let limits = config.limits;
        let slots = limits.max_concurrent_calls.max(1);
        let (reset, keep_resident) = config.pool.resolve();
        let pool = pool::pool_config(&limits, config.pool);
        tracing::info!(
            slot_reset = ?reset,
            keep_resident_kib = keep_resident >> 10,
            slots,
            "sandbox pool"
        );
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(host)?;

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(host)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(host)?;
        v0_2::host_log::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(host)?;
        v0_1::host_log::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(host)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone());
        let shares = fair::Shares::new(
            limits.max_calls_per_project as usize,
            limits.max_outbound_per_project as usize,
            limits.queue_timeout,
        );
        Ok(Runtime {
            shared: Arc::new(Shared {
                engine,
                linker,
                limits,
                egress: crate::egress::Egress::new(config.outbound.address_policy()),
                outbound: Arc::new(config.outbound),
                cache: config.cache_dir.as_deref().and_then(cache::Cache::open),
                permits: Arc::new(Semaphore::new(slots as usize)),
                shares,
                ticker_stop,
            }),
        })
    }

    /// Loads a piece from a file.
    pub async fn load_file(&self, path: &Path) -> Result<LoadedPiece, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        self.load(&bytes).await
    }

    /// Loads a piece: checks it is a component for the piece world, compiles it (or
    /// takes it from the cache), pre-instantiates it and reads its metadata.
    pub async fn load(&self, bytes: &[u8]) -> Result<LoadedPiece, LoadError> {
        if !bytes.starts_with(b"\0asm") {
            return Err(LoadError::NotWasm);
        }
        if wasmparser::Parser::is_core_wasm(bytes) {
            return Err(LoadError::CoreModule);
        }
        let shared = &self.shared;
        let digest = cache::digest(bytes);
        // Compiling takes cranelift a second or more for a large piece: on a blocking
        // thread, so a live install does not stall the server's request threads.
        let component = {
            let runtime = self.clone();
            let (bytes, digest) = (bytes.to_vec(), digest.clone());
            tokio::task::spawn_blocking(move || runtime.compile(&bytes, &digest))
                .await
                .map_err(|e| LoadError::Host(format!("compile task: {e}")))??
        };
        let instance_pre = shared
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Imports(EngineError::new(e)))?;
        // The world's exports by name: the current contract first; a piece built against
        // 0.1.0 still loads. Their types are checked by the `info` call below, once; a
        // call then checks only the function it calls.
        let (contract, interface) = match v0_2::PieceWorldPre::new(instance_pre.clone()) {
            Ok(_) => (Contract::V0_2, PIECE_EXPORT_0_2),
            Err(current) => match v0_1::PieceWorldPre::new(instance_pre.clone()) {
                Ok(_) => (Contract::V0_1, PIECE_EXPORT_0_1),
                Err(older) => {
                    let both = current.context(format!(
                        "not a thinkfleet:piece@0.2.0 component, nor a 0.1.0 one ({older})"
                    ));
                    return Err(LoadError::NotAPiece(EngineError::new(both)));
                }
            },
        };
        // The optional `session` export: present means it must have the contract's
        // names (here) and types (with the others', by the `info` call below).
        let exports_session = component
            .component_type()
            .exports(&shared.engine)
            .any(|(name, _)| name == SESSION_EXPORT);
        let session = if exports_session && contract == Contract::V0_2 {
            v0_2_session::SessionWorldPre::new(instance_pre.clone())
                .map_err(|e| LoadError::NotAPiece(EngineError::new(e)))?;
            Some(SESSION_EXPORT)
        } else {
            None
        };
        let exports = exports::Exports::find(&component, interface, session)
            .map_err(|e| LoadError::NotAPiece(EngineError::new(e)))?;
        let mut piece = LoadedPiece {
            shared: shared.clone(),
            pre: instance_pre,
            contract,
            exports: Arc::new(exports),
            info: Arc::new(PieceInfo::default()),
            allowed_hosts: Arc::from(Vec::new()),
            digest: digest.into(),
        };
        let mut info = match piece.invoke(Call::Info, None).await {
            Ok(Output::Info(info)) => (*info).map_err(LoadError::BadInfo)?,
            Ok(_) => return Err(LoadError::Host("unexpected output of info()".into())),
            Err(e) => return Err(LoadError::InfoFailed(e)),
        };
        if info.contract == convert::CONTRACT_0_1 && info.placement.is_some() {
            tracing::warn!(
                piece = %info.name,
                "piece built against thinkfleet:piece@0.1.0: its credential goes to every host it declares; rebuild it against 0.2.0 to name the hosts that receive it"
            );
        }
        if piece.exports.refresh.is_some() {
            session::check_declared(&info.auth, info.placement.as_ref())
                .map_err(LoadError::BadInfo)?;
            info.sessions = true;
        }
        piece.allowed_hosts = info.allowed_hosts.clone().into();
        piece.info = Arc::new(info);
        Ok(piece)
    }

    fn compile(&self, bytes: &[u8], digest: &str) -> Result<Component, LoadError> {
        let engine = &self.shared.engine;
        let cache = self.shared.cache.as_ref();
        let entry = cache.map(|c| c.entry(engine, digest));
        if let (Some(cache), Some(path)) = (cache, &entry)
            && let Some(component) = cache.load(engine, path)
        {
            return Ok(component);
        }
        let component =
            Component::new(engine, bytes).map_err(|e| LoadError::Invalid(EngineError::new(e)))?;
        if let (Some(cache), Some(path)) = (cache, entry)
            && let Err(e) = cache.store(&component, &path)
        {
            tracing::warn!(path = %path.display(), error = %e, "could not cache compiled component");
        }
        Ok(component)
    }

    /// The outbound path this runtime's pieces use, for the host's own requests
    /// (OAuth2, webhooks) to share.
    pub fn egress(&self) -> Arc<crate::egress::Egress> {
        self.shared.egress.clone()
    }

    /// The per-call limits in force.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the runtime is dropped.
fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("thinkfleet-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the epoch ticker; deadlines rely on the wall-clock timeout");
    }
}

impl LoadedPiece {
    /// The piece's metadata and auth schema.
    pub fn info(&self) -> &PieceInfo {
        &self.info
    }

    /// The SHA-256 of the component, hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Runs the piece's `validate` with these credentials (for no project: the CLI).
    pub async fn validate(&self, creds: &Credentials) -> Result<(), CallError> {
        self.validate_for(None, creds).await
    }

    /// Runs `validate` on behalf of `project`, within its share of the pool.
    pub async fn validate_for(
        &self,
        project: Option<&str>,
        creds: &Credentials,
    ) -> Result<(), CallError> {
        match self.invoke(Call::Validate(creds), project).await? {
            Output::Validated => Ok(()),
            _ => Err(CallError::Host("unexpected output of validate".into())),
        }
    }

    /// Opens a session with the connection's entered fields (the piece's `session`
    /// export) on behalf of `project`, or for no project (the CLI).
    pub async fn open_session_for(
        &self,
        project: Option<&str>,
        entered: &Credentials,
    ) -> Result<OpenedSession, CallError> {
        if self.exports.refresh.is_none() {
            return Err(CallError::Host(format!(
                "piece {} opens no sessions",
                self.info.name
            )));
        }
        match self.invoke(Call::Refresh(entered), project).await? {
            Output::Session(session) => {
                session::check(&session, &self.info.auth).map_err(CallError::BadSession)?;
                Ok(session)
            }
            _ => Err(CallError::Host("unexpected output of refresh".into())),
        }
    }

    /// Runs an action with a JSON input; returns its JSON output (for no project).
    pub async fn run_action(
        &self,
        action: &str,
        input: &serde_json::Value,
        creds: &Credentials,
    ) -> Result<serde_json::Value, CallError> {
        self.run_action_for(None, action, input, creds).await
    }

    /// Runs an action on behalf of `project`, within its share of the pool.
    pub async fn run_action_for(
        &self,
        project: Option<&str>,
        action: &str,
        input: &serde_json::Value,
        creds: &Credentials,
    ) -> Result<serde_json::Value, CallError> {
        let input = input.to_string();
        let call = Call::Run {
            action,
            input,
            creds,
        };
        match self.invoke(call, project).await? {
            Output::Ran(json) => serde_json::from_str(&json).map_err(CallError::BadOutput),
            _ => Err(CallError::Host("unexpected output of run-action".into())),
        }
    }

    /// One sandboxed call, counted and timed (see [`crate::metrics::piece_call`]).
    async fn invoke(&self, call: Call<'_>, project: Option<&str>) -> Result<Output, CallError> {
        let name = match &call {
            Call::Info => "info".to_owned(),
            Call::Validate(_) => "validate".to_owned(),
            Call::Run { action, .. } => (*action).to_owned(),
            Call::Refresh(_) => "refresh".to_owned(),
        };
        let started = std::time::Instant::now();
        let result = self.call_sandboxed(call, project).await;
        let outcome = result.as_ref().map_or_else(CallError::kind, |_| "ok");
        crate::metrics::piece_call(&self.info.name, &name, outcome, started.elapsed());
        result
    }

    /// Pool slots in use now, and in all.
    pub fn slots(&self) -> (usize, usize) {
        let all = self.shared.limits.max_concurrent_calls.max(1) as usize;
        (all - self.shared.permits.available_permits().min(all), all)
    }

    /// One sandboxed call: a fresh store and instance, bounded, then dropped.
    async fn call_sandboxed(
        &self,
        call: Call<'_>,
        project: Option<&str>,
    ) -> Result<Output, CallError> {
        let shared = &self.shared;
        let limits = &shared.limits;
        let share = project.map(|p| shared.shares.of(p));
        let _permits = shared
            .shares
            .admit(share.as_deref(), &shared.permits)
            .await
            .map_err(|busy| CallError::Busy {
                retry_after_secs: busy.retry_after_secs,
            })?;

        // What the log and errors are scrubbed of; and what the host applies, never on
        // `refresh` (it logs in with the entered fields itself).
        let (creds, placed) = match &call {
            Call::Info => (None, None),
            Call::Validate(c) | Call::Run { creds: c, .. } => (Some(*c), Some(*c)),
            Call::Refresh(c) => (Some(*c), None),
        };
        let (applied, mut withheld) = match (&self.info.placement, placed) {
            (Some(placement), Some(creds)) => {
                match outbound::applied_credential(placement, creds) {
                    Some((applied, withheld)) => (Some(applied), withheld),
                    None => (None, Vec::new()),
                }
            }
            _ => (None, Vec::new()),
        };
        if self.info.sessions && placed.is_some() {
            withheld.extend(session::entered_secrets(&self.info.auth));
        }
        let credential_hosts = match (&applied, creds) {
            (Some(_), Some(creds)) => convert::fill_credential_hosts(
                &self.info.credential_hosts,
                &self.info.allowed_hosts,
                creds,
            ),
            _ => Vec::new(),
        };
        let mask = match (&applied, creds) {
            (Some(applied), Some(creds)) => outbound::ResponseMask::new(applied, &withheld, creds),
            _ => None,
        };
        let stderr = stderr::StderrTail::default();
        let state = HostState {
            wasi: {
                let mut wasi = wasmtime_wasi::WasiCtx::builder();
                wasi.stderr(stderr.clone());
                wasi.build()
            },
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: outbound::OutboundHooks {
                piece: self.info.name.clone(),
                policy: shared.outbound.clone(),
                egress: shared.egress.clone(),
                allowed_hosts: self.allowed_hosts.clone(),
                applied,
                credential_hosts,
                mask,
                requests: 0,
                in_flight: share.as_ref().map(|s| s.outbound.clone()),
            },
            memory: MemoryLimiter {
                limit: limits.memory_bytes,
                used: 0,
                exceeded: false,
            },
            log: LogSink {
                piece: self.info.name.clone(),
                lines: 0,
                max_lines: limits.log_lines,
                max_line_bytes: limits.message_bytes,
                scrub: scrub::Scrubber::new(creds),
            },
        };
        let mut store = Store::new(&shared.engine, state);
        store.limiter(|s| &mut s.memory);
        let ticks = (limits.call_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();

        let run = async {
            let (pre, exports) = (&self.pre, &*self.exports);
            wasmtime::Result::Ok(match (self.contract, call) {
                (_, Call::Refresh(c)) => {
                    use convert::v0_2::{guest_credentials, piece_error};
                    use exports::{RefreshParams, RefreshResults};
                    let index = exports
                        .refresh
                        .as_ref()
                        .ok_or_else(|| wasmtime::Error::msg("the piece exports no session"))?;
                    let creds = guest_credentials(c, &withheld);
                    let (result,) = exports::call::<RefreshParams<'_>, RefreshResults>(
                        pre,
                        &mut store,
                        index,
                        (&creds,),
                    )
                    .await?;
                    result
                        .map(|t| {
                            Output::Session(OpenedSession {
                                fields: t
                                    .fields
                                    .into_iter()
                                    .map(|(name, value)| (name, value.into()))
                                    .collect(),
                                expires_in: t.expires_in,
                            })
                        })
                        .map_err(piece_error)
                }
                (Contract::V0_2, call) => {
                    call_world!(pre, exports, store, call, withheld, v0_2)
                }
                (Contract::V0_1, call) => {
                    call_world!(pre, exports, store, call, withheld, v0_1)
                }
            })
        };
        let outcome = tokio::time::timeout(limits.call_timeout, run).await;
        let memory_exceeded = store.data().memory.exceeded;
        let scrubber = &store.data().log.scrub;
        match outcome {
            Err(_) => Err(CallError::Timeout(limits.call_timeout.as_millis())),
            Ok(Err(_)) if memory_exceeded => Err(CallError::MemoryLimit(limits.memory_bytes >> 20)),
            Ok(Err(e)) => Err(match classify_trap(e, limits) {
                // The piece's last words on stderr (a panic message) say why.
                CallError::Trap(what) => match stderr.last_words() {
                    Some(words) => CallError::Trap(convert::truncate(
                        state::escape_controls(&scrubber.scrub(&format!("{what}: {words}"))),
                        limits.message_bytes,
                    )),
                    None => CallError::Trap(what),
                },
                other => other,
            }),
            Ok(Ok(Err(e))) => {
                // Scrubbed whole, then cut: a cut first would leave a secret's head.
                Err(CallError::Piece(e.map_message(|m| {
                    convert::truncate(
                        state::escape_controls(&scrubber.scrub(m)),
                        limits.message_bytes,
                    )
                })))
            }
            Ok(Ok(Ok(Output::Ran(json)))) if json.len() > limits.output_bytes => {
                Err(CallError::OutputTooLarge {
                    actual: json.len(),
                    limit: limits.output_bytes,
                })
            }
            Ok(Ok(Ok(Output::Ran(json)))) => Ok(Output::Ran(scrubber.scrub_json(json))),
            Ok(Ok(Ok(output))) => Ok(output),
        }
    }
}

/// What a failed call's engine error means: the deadline (the epoch interrupt), a trap
/// (the piece's fault), or the engine running out of room (the host's).
fn classify_trap(e: wasmtime::Error, limits: &Limits) -> CallError {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => CallError::Timeout(limits.call_timeout.as_millis()),
        Some(trap) => CallError::Trap(trap.to_string()),
        None if e.is::<wasmtime::PoolConcurrencyLimitError>() || is_untyped_engine_limit(&e) => {
            CallError::Engine(EngineError::new(e))
        }
        None => CallError::Trap(convert::truncate(format!("{e}"), limits.message_bytes)),
    }
}

/// Whether an error is one of the engine's limits that wasmtime 48 reports as bare
/// messages, with no type to downcast to: a component that does not fit the pooling
/// allocator's per-component limits ("… in the pooling allocator", "… does not fit in
/// pooling allocator requirements") and a store's instance, memory or table count
/// ("resource limit exceeded: …", `StoreOpaque::bump_resource_counts`). Slots running
/// out is typed (`PoolConcurrencyLimitError`) and checked before this.
fn is_untyped_engine_limit(e: &wasmtime::Error) -> bool {
    let message = e.to_string();
    message.contains("pooling allocator") || message.contains("resource limit")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(e: wasmtime::Error) -> CallError {
        classify_trap(e, &Limits::default())
    }

    #[test]
    fn traps_are_the_pieces_fault_and_the_interrupt_is_the_deadline() {
        assert!(matches!(
            classify(wasmtime::Trap::Interrupt.into()),
            CallError::Timeout(30_000)
        ));
        assert!(matches!(
            classify(wasmtime::Trap::UnreachableCodeReached.into()),
            CallError::Trap(_)
        ));
        assert!(matches!(
            classify(wasmtime::Error::msg("guest panicked")),
            CallError::Trap(_)
        ));
    }

    #[test]
    fn engine_errors_keep_wasmtimes_chain_as_their_source() {
        let e = EngineError::new(wasmtime::Error::msg("root cause").context("outer"));
        assert_eq!(format!("{e}"), "outer");
        assert_eq!(format!("{e:#}"), "outer: root cause");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("root cause"));
        let load = LoadError::Invalid(e);
        assert_eq!(load.to_string(), "invalid component: outer: root cause");
        let source = std::error::Error::source(&load).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("outer"));
    }

    #[test]
    fn engine_limits_are_the_hosts_fault_with_their_message() {
        for message in [
            "resource limit exceeded: instance count too high at 10001",
            "The component transitively contains 20 tables, which exceeds the configured \
             maximum of 8 in the pooling allocator",
        ] {
            let e = classify(wasmtime::Error::msg(message));
            assert!(matches!(e, CallError::Engine(_)), "{e:?}");
            assert_eq!(e.to_string(), format!("host error: {message}"));
        }
    }
}
