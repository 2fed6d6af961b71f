//! Sandbox flags shared by every command that runs a piece (`piece …`, `serve`).

use crate::runtime::{Limits, OutboundPolicy, Override, PoolTuning, RuntimeConfig};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Sandbox settings shared by every command that runs a piece.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Route a host to another base URL, HOST=BASE_URL (repeatable; the target may be loopback).
    #[arg(
        long = "outbound-override",
        value_name = "HOST=BASE_URL",
        env = "THINKFLEET_OUTBOUND_OVERRIDES",
        value_delimiter = ','
    )]
    overrides: Vec<Override>,
    /// Allow pieces to reach loopback and private addresses.
    #[arg(long, env = "THINKFLEET_ALLOW_PRIVATE_NETWORKS")]
    allow_private_networks: bool,
    /// Only these hosts (of those a piece declares) may be reached (repeatable).
    #[arg(long = "narrow-outbound", value_name = "HOST")]
    narrow: Vec<String>,
    /// Deadline of one call, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// Memory limit of one call, in MiB.
    #[arg(long, default_value_t = 64)]
    memory_mib: usize,
    /// Where compiled components are cached (default: $XDG_CACHE_HOME/thinkfleet or ~/.cache/thinkfleet).
    #[arg(long, env = "THINKFLEET_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every time; keep no cache.
    #[arg(long)]
    no_cache: bool,
}

impl SandboxArgs {
    /// The runtime configuration these flags describe.
    pub fn runtime_config(&self) -> RuntimeConfig {
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        };
        RuntimeConfig {
            limits: Limits {
                call_timeout: Duration::from_millis(self.timeout_ms),
                memory_bytes: self.memory_mib << 20,
                ..Limits::default()
            },
            outbound: OutboundPolicy {
                overrides: self.overrides.clone(),
                allow_private: self.allow_private_networks,
                narrow_to: (!self.narrow.is_empty())
                    .then(|| self.narrow.iter().map(|h| h.to_ascii_lowercase()).collect()),
            },
            cache_dir,
            pool: PoolTuning::default(),
        }
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("thinkfleet").join("components"))
}
