//! `thinkfleet serve`.

use super::{SandboxArgs, StoreArgs};
use clap::Args;
use std::process::ExitCode;

/// `thinkfleet serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "THINKFLEET_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<ExitCode, String> {
    let config = crate::server::ServeConfig {
        listen: args.listen,
        data_dir: args.store.data_dir.clone(),
        database_url: args.store.url(),
        runtime: args.sandbox.runtime_config(),
        keys: crate::vault::KeyConfig::from_env(),
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
