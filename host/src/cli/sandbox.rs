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
    /// Networks no outbound request reaches, even with --allow-private-networks, e.g.
    /// 169.254.0.0/16 (repeatable; overrides' targets excepted).
    #[arg(
        long = "outbound-block",
        value_name = "CIDR",
        env = "THINKFLEET_OUTBOUND_BLOCKED_NETWORKS",
        value_delimiter = ','
    )]
    blocked: Vec<ipnet::IpNet>,
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
    /// Calls running at once in the whole sandbox (its pool's slots).
    #[arg(long, env = "THINKFLEET_MAX_CONCURRENT_CALLS", default_value_t = Limits::default().max_concurrent_calls)]
    max_concurrent_calls: u32,
    /// Slots one project may hold at once, so one project's flood cannot starve others.
    #[arg(long, env = "THINKFLEET_MAX_CALLS_PER_PROJECT", default_value_t = Limits::default().max_calls_per_project)]
    max_calls_per_project: u32,
    /// Outbound requests one project's calls may have in flight at once.
    #[arg(long, env = "THINKFLEET_MAX_OUTBOUND_PER_PROJECT", default_value_t = Limits::default().max_outbound_per_project)]
    max_outbound_per_project: u32,
    /// How long a call may wait for a slot before it fails `busy` (HTTP 429), in ms.
    #[arg(long, env = "THINKFLEET_QUEUE_TIMEOUT_MS", default_value_t = 10_000)]
    queue_timeout_ms: u64,
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
                max_concurrent_calls: self.max_concurrent_calls.max(1),
                max_calls_per_project: self.max_calls_per_project.max(1),
                max_outbound_per_project: self.max_outbound_per_project.max(1),
                queue_timeout: Duration::from_millis(self.queue_timeout_ms),
                ..Limits::default()
            },
            outbound: OutboundPolicy {
                overrides: self.overrides.clone(),
                allow_private: self.allow_private_networks,
                narrow_to: (!self.narrow.is_empty())
                    .then(|| self.narrow.iter().map(|h| h.to_ascii_lowercase()).collect()),
                blocked: self.blocked.clone(),
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
