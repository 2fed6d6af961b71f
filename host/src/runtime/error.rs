//! Errors of the sandbox boundary, each saying whose fault it is.

use crate::piece::PieceError;
use std::fmt;

/// A failure inside the WebAssembly engine (compiling, linking, instantiating), kept
/// whole as an error source without showing wasmtime's types outside the runtime.
/// Displays as wasmtime does: its outermost message, or with `{:#}` the whole chain.
#[derive(Debug)]
pub struct EngineError(wasmtime::Error);

impl EngineError {
    pub(super) fn new(e: wasmtime::Error) -> Self {
        EngineError(e)
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // `self` shows wasmtime's outermost message, so its source is the next one down.
        self.0.source()
    }
}

/// Why a file could not be loaded as a piece. The host goes on serving.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Reading the file failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not WebAssembly at all.
    #[error("not a WebAssembly file (no `\\0asm` header)")]
    NotWasm,
    /// A core module, not a component.
    #[error(
        "this is a core WebAssembly module, not a component: build the piece for wasm32-wasip2 (cargo build --target wasm32-wasip2)"
    )]
    CoreModule,
    /// The component is malformed.
    #[error("invalid component: {0:#}")]
    Invalid(#[source] EngineError),
    /// The component needs imports the host does not grant.
    #[error("the component imports something the host does not grant: {0:#}")]
    Imports(#[source] EngineError),
    /// A component for another world.
    #[error(
        "not a ThinkFleet piece: the component does not export thinkfleet:piece/piece@0.1.0 ({0:#})"
    )]
    NotAPiece(#[source] EngineError),
    /// The piece's `info()` returned unusable metadata.
    #[error("the piece's metadata is unusable: {0}")]
    BadInfo(String),
    /// The piece's `info()` call failed.
    #[error("the piece's metadata is unusable: {0}")]
    InfoFailed(#[source] CallError),
    /// The engine could not be set up (not the piece's fault).
    #[error("host error while loading: {0}")]
    Engine(#[source] EngineError),
    /// The host itself failed.
    #[error("host error while loading: {0}")]
    Host(String),
}

/// Why a call into a piece failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The piece returned an error (its own message). Not a sandbox failure.
    #[error("{0}")]
    Piece(PieceError),
    /// The piece trapped (panicked, hit `unreachable`, …). The piece's fault. A
    /// message rather than wasmtime's error: it is cut to `Limits::message_bytes`, and a
    /// source kept beside it would carry the whole text again.
    #[error("the piece crashed: {0}")]
    Trap(String),
    /// The call ran past its deadline. The piece's fault.
    #[error("the piece did not finish within {0} ms and was stopped")]
    Timeout(u128),
    /// The piece tried to use more memory than allowed. The piece's fault.
    #[error("the piece exceeded its memory limit of {0} MiB and was stopped")]
    MemoryLimit(usize),
    /// The piece returned more output than allowed. The piece's fault.
    #[error("the piece's output of {actual} bytes exceeds the limit of {limit} bytes")]
    OutputTooLarge {
        /// Bytes returned.
        actual: usize,
        /// The limit.
        limit: usize,
    },
    /// The action's output is not JSON. The piece's fault.
    #[error("the piece's output is not JSON: {0}")]
    BadOutput(#[source] serde_json::Error),
    /// The session the piece opened is unusable (a field's name or size). The piece's
    /// fault.
    #[error("the piece's session is unusable: {0}")]
    BadSession(String),
    /// The engine could not run the call: the pool's slots or a store's resource limits
    /// ran out, or the component does not fit the pool. Not the piece's fault.
    #[error("host error: {0}")]
    Engine(#[source] EngineError),
    /// The host failed (not the piece's fault).
    #[error("host error: {0}")]
    Host(String),
    /// No sandbox slot came free within the queue deadline (this project's share, or
    /// the whole pool, is in use). Not the piece's fault; retry later.
    #[error("the sandbox is busy; retry in {retry_after_secs} s")]
    Busy {
        /// Seconds after which a retry is sensible.
        retry_after_secs: u64,
    },
}

impl CallError {
    /// A word for the kind of failure (metrics labels).
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Piece(_) => "piece_error",
            CallError::Trap(_) => "trap",
            CallError::Timeout(_) => "timeout",
            CallError::MemoryLimit(_) => "memory_limit",
            CallError::OutputTooLarge { .. } => "output_too_large",
            CallError::BadOutput(_) | CallError::BadSession(_) => "bad_output",
            CallError::Engine(_) => "engine",
            CallError::Host(_) => "host",
            CallError::Busy { .. } => "busy",
        }
    }
}
