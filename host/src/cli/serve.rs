//! `thinkfleet serve`.

use super::{SandboxArgs, StoreArgs};
use clap::Args;
use std::process::ExitCode;

/// `thinkfleet serve` flags. (`Debug` is not derived: the tokens are secrets.)
#[derive(Args)]
pub struct ServeArgs {
    /// The address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "THINKFLEET_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The URL browsers reach this server at, for OAuth2 callbacks
    /// (default: http://LISTEN-ADDRESS).
    #[arg(long, env = "THINKFLEET_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seconds between the background refresher's looks for OAuth2 tokens that expire
    /// within 5 minutes.
    #[arg(
        long,
        env = "THINKFLEET_OAUTH_REFRESH_INTERVAL_SECS",
        default_value_t = 60
    )]
    oauth_refresh_interval_secs: u64,
    /// The operators' token for the admin API (OAuth apps); unset, the admin API is
    /// off. Prefer the environment: a flag shows in the process list.
    #[arg(
        long,
        env = "THINKFLEET_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    admin_token: Option<String>,
    /// The token `/metrics` asks for; unset, `/metrics` is off.
    #[arg(
        long,
        env = "THINKFLEET_METRICS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    metrics_token: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("store", &self.store)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<ExitCode, String> {
    let config = crate::server::ServeConfig {
        listen: args.listen,
        data_dir: args.store.data_dir.clone(),
        database_url: args.store.url(),
        runtime: args.sandbox.runtime_config(),
        keys: args.store.keys(),
        public_url: args.public_url,
        admin_token: super::secret_arg(args.admin_token.as_deref()),
        refresh_interval: std::time::Duration::from_secs(args.oauth_refresh_interval_secs.max(1)),
        webhooks: crate::webhooks::WebhookTiming::default(),
        metrics_token: super::secret_arg(args.metrics_token.as_deref()),
    };
    crate::server::serve(config, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
