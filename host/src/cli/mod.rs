//! The `thinkfleet` command line (clap). Each subcommand is a thin layer over the
//! library; errors are printed as one clear line and mapped to an exit code. Output
//! goes through [`out!`]: a reader that stops early (`thinkfleet piece inspect | head`)
//! ends the command quietly instead of a panic.

/// Prints a line to stdout like `println!`; a closed pipe ends the process quietly.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_line(format_args!($($arg)*))
    };
}

mod admin;
mod config_file;
mod piece;
mod sandbox;
mod scaffold;
mod serve;
mod store_args;
mod user;

pub use sandbox::SandboxArgs;
pub use store_args::StoreArgs;

use clap::{CommandFactory as _, Parser, Subcommand};
use std::process::ExitCode;

/// A secret from a flag or its environment variable (a key, a token); empty counts as
/// unset.
pub(crate) fn secret_arg(value: Option<&str>) -> Option<secrecy::SecretString> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| secrecy::SecretString::from(v.to_owned()))
}

/// Writes one line to stdout. A reader that went away (`| head`) is not an error of
/// the command: the process ends with success; any other write failure exits 1.
pub(crate) fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: writing to stdout: {e}");
            std::process::exit(1);
        }
    }
}

/// ThinkFleet Connections: the credential host for workflow automation pieces.
#[derive(Debug, Parser)]
#[command(name = "thinkfleet", version, about, propagate_version = true)]
pub struct Cli {
    /// How log lines are written to stderr: `text`, or `json` (one object per line).
    #[arg(long, global = true, env = "THINKFLEET_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// A TOML file of settings (keys are the flags' long names). A flag wins over its
    /// environment variable, which wins over the file.
    #[arg(long, global = true, env = "THINKFLEET_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The log's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (tracing-subscriber's JSON format), with the span
    /// fields (the request id) on each.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: the JSON API over the store, with the pieces loaded.
    Serve(serve::ServeArgs),
    /// Inspect, validate and run piece components locally.
    #[command(subcommand)]
    Piece(piece::PieceCommand),
    /// Create projects.
    #[command(subcommand)]
    Project(admin::ProjectCommand),
    /// Create project API tokens.
    #[command(subcommand)]
    Token(admin::TokenCommand),
    /// Register the OAuth apps of OAuth2 pieces.
    #[command(subcommand)]
    OauthApp(admin::OauthAppCommand),
    /// Manage the encryption keys of stored credentials.
    #[command(subcommand)]
    Keys(admin::KeysCommand),
    /// Move the store to another database.
    #[command(subcommand)]
    Store(admin::StoreCommand),
    /// Manage the people who sign in to the web UI.
    #[command(subcommand)]
    User(user::UserCommand),
}

/// Exit codes: 0 success, 1 the piece said no (invalid credentials, failed action),
/// 2 bad usage, a bad configuration, or a piece that cannot be loaded or misbehaved.
pub fn main() -> ExitCode {
    let args = config_file::with_config(std::env::args_os().collect(), &Cli::command(), &|k| {
        std::env::var(k).ok().filter(|v| !v.trim().is_empty())
    });
    let cli = match args {
        Ok(args) => Cli::parse_from(args),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let default_filter = match cli.command {
        Command::Serve(_) => "info",
        // A piece developer running a piece sees what it logs (to stderr).
        Command::Piece(_) => "warn,piece=debug",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let log = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match cli.log_format {
        LogFormat::Text => log.init(),
        LogFormat::Json => log.json().flatten_event(true).init(),
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Piece(cmd) => piece::run(cmd).await,
            Command::Project(cmd) => admin::project(cmd).await,
            Command::Token(cmd) => admin::token(cmd).await,
            Command::OauthApp(cmd) => admin::oauth_app(cmd).await,
            Command::Keys(cmd) => admin::keys(cmd).await,
            Command::Store(cmd) => admin::store(cmd).await,
            Command::User(cmd) => user::run(cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
