//! `thinkfleet piece …`: inspect, validate and run piece components locally.

use super::sandbox::SandboxArgs;
use super::store_args::StoreArgs;
use crate::auth_input::credentials_from_fields;
use crate::catalog::{Catalog, Installer, Skipped};
use crate::piece::{AuthSchema, Credentials, PieceError, Prop, PropKind};
use crate::runtime::{CallError, LoadedPiece, Runtime};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `thinkfleet piece …`.
#[derive(Debug, Subcommand)]
pub enum PieceCommand {
    /// Show a piece's metadata, auth schema and actions.
    Inspect {
        /// The piece's component (.wasm).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Run the piece's `validate` with credentials; exit 0 when valid, 1 when not.
    Validate {
        /// The piece's component (.wasm).
        file: PathBuf,
        #[command(flatten)]
        auth: AuthArgs,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Run one action of the piece and print its JSON output.
    Run {
        /// The piece's component (.wasm).
        file: PathBuf,
        /// The action's name.
        action: String,
        /// The action's input, as JSON.
        #[arg(long, default_value = "{}")]
        input: String,
        #[command(flatten)]
        auth: AuthArgs,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Create a new piece crate that builds anywhere with `cargo build --release`.
    New(super::scaffold::NewArgs),
    /// List the pieces a server on this data directory and database offers (the
    /// examples this build ships, `DATA_DIR/pieces/*.wasm`, then the installed pieces),
    /// with their versions and where they come from, and what it would skip, with why.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Install a piece into the database, or upgrade the installed piece of its name:
    /// every server on this database offers it within seconds, without a restart (calls
    /// already running finish on the old version).
    Install {
        /// The piece's component (.wasm).
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Uninstall an installed piece; refused while flows use it unless `--force`.
    /// Its connections are kept.
    Uninstall {
        /// The piece's name.
        name: String,
        /// Uninstall even while flows use it (their steps then fail with
        /// `piece_not_found`).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
}

#[derive(Args)]
pub struct AuthArgs {
    /// A credential field, NAME=VALUE (repeatable): `secret_text` for secret text,
    /// `username`/`password` for basic, `access_token` for OAuth2, the prop names for
    /// custom. `--auth -` reads NAME=VALUE lines from standard input instead, so no
    /// secret shows in the process list.
    #[arg(long = "auth", value_name = "NAME=VALUE")]
    fields: Vec<String>,
    /// A file of NAME=VALUE lines (blank lines and lines starting with `#` skipped).
    #[arg(long = "auth-file", value_name = "FILE")]
    auth_file: Option<std::path::PathBuf>,
}

/// Never shows a value: they are secrets.
impl std::fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthArgs")
            .field("fields", &self.fields.len())
            .field("auth_file", &self.auth_file)
            .finish()
    }
}

impl AuthArgs {
    /// The fields by name, from the flags, standard input (`--auth -`) and the file. An
    /// error never repeats a value: it may be a secret.
    fn fields(&self) -> Result<BTreeMap<String, String>, String> {
        let mut lines: Vec<(String, String)> = Vec::new();
        for (i, field) in self.fields.iter().enumerate() {
            if field == "-" {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                    .map_err(|e| format!("--auth -: reading standard input: {e}"))?;
                lines.extend(auth_lines(&text, "standard input")?);
            } else {
                lines.push(
                    split_field(field).ok_or_else(|| {
                        format!("--auth value #{} must look like NAME=VALUE", i + 1)
                    })?,
                );
            }
        }
        if let Some(path) = &self.auth_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--auth-file {}: {e}", path.display()))?;
            lines.extend(auth_lines(&text, &path.display().to_string())?);
        }
        Ok(lines.into_iter().collect())
    }
}

/// `NAME=VALUE` split at the first `=`; the name trimmed, the value as given.
fn split_field(field: &str) -> Option<(String, String)> {
    let (name, value) = field.split_once('=')?;
    let name = name.trim();
    (!name.is_empty()).then(|| (name.to_owned(), value.to_owned()))
}

/// The NAME=VALUE lines of a file or of standard input (line ends, blank lines and
/// `#` comments dropped); an error names the line, never its content.
fn auth_lines(text: &str, source: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i, line.trim_end_matches('\r')))
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(i, line)| {
            split_field(line)
                .ok_or_else(|| format!("{source}, line {}: must look like NAME=VALUE", i + 1))
        })
        .collect()
}

/// What a server on `store` offers: the files' pieces, what it skips, and (when the
/// store exists, or `create` is set) the installer with the installed pieces loaded.
async fn offered(
    store: &StoreArgs,
    sandbox: &SandboxArgs,
    create: bool,
) -> Result<(Arc<Catalog>, Vec<Skipped>, Option<Installer>), String> {
    let runtime = Runtime::new(sandbox.runtime_config()).map_err(|e| e.to_string())?;
    let files = crate::catalog::piece_files(&store.data_dir);
    let (catalog, skipped) = Catalog::load(&runtime, &files).await;
    let catalog = Arc::new(catalog);
    if !create && !store.exists() {
        return Ok((catalog, skipped, None));
    }
    let installer = Installer::new(runtime, store.open().await?, catalog.clone());
    installer.sync().await.map_err(|e| e.to_string())?;
    Ok((catalog, skipped, Some(installer)))
}

/// How the install history names a CLI user.
fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown user".to_owned());
    format!("cli ({user})")
}

/// Runs a `piece` subcommand.
pub(super) async fn run(cmd: PieceCommand) -> Result<ExitCode, String> {
    match cmd {
        PieceCommand::New(args) => super::scaffold::run(args),
        PieceCommand::List { store, sandbox } => {
            let (catalog, skipped, installer) = offered(&store, &sandbox, false).await?;
            let pieces = catalog.pieces();
            for piece in pieces.iter() {
                let info = piece.info();
                let from = pieces
                    .source(&info.name)
                    .map_or_else(|| "?".to_owned(), ToString::to_string);
                out!("{}\t{}\t{}", info.name, info.version, from);
            }
            for s in skipped {
                out!("(skipped)\t-\t{}: {}", s.path.display(), s.reason);
            }
            if let Some(installer) = installer {
                let (_, events) = installer.installed(5).await.map_err(|e| e.to_string())?;
                for e in events {
                    out!(
                        "(history)\t{}\t{} {} {} by {}",
                        crate::api::rfc3339(e.at),
                        e.action,
                        e.name,
                        e.version.or(e.previous_version).unwrap_or_default(),
                        e.actor
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PieceCommand::Install {
            file,
            store,
            sandbox,
        } => {
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let (_, _, installer) = offered(&store, &sandbox, true).await?;
            let installer = installer.ok_or("no store")?;
            let report = installer
                .install(&bytes, &cli_actor())
                .await
                .map_err(|e| e.to_string())?;
            match (report.action, &report.previous_version) {
                ("unchanged", _) => out!(
                    "{} {} is installed already (sha256 {})",
                    report.name,
                    report.version,
                    report.sha256
                ),
                (_, Some(previous)) => out!(
                    "upgraded {} from {previous} to {} (sha256 {}); servers on this database \
                     offer it within seconds",
                    report.name,
                    report.version,
                    report.sha256
                ),
                (_, None) => out!(
                    "installed {} {} (sha256 {}); servers on this database offer it within \
                     seconds",
                    report.name,
                    report.version,
                    report.sha256
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        PieceCommand::Uninstall {
            name,
            force,
            store,
            sandbox,
        } => {
            let (_, _, installer) = offered(&store, &sandbox, true).await?;
            let installer = installer.ok_or("no store")?;
            let (event, users) = installer
                .uninstall(&name, force, &cli_actor())
                .await
                .map_err(|e| e.to_string())?;
            out!(
                "uninstalled {name} {}{}",
                event.previous_version.unwrap_or_default(),
                if users.flows.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} flow(s) using it now fail with piece_not_found",
                        users.flows.len()
                    )
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        PieceCommand::Inspect {
            file,
            json,
            sandbox,
        } => {
            let piece = load(&file, &sandbox).await?;
            if json {
                let text = serde_json::to_string_pretty(piece.info()).map_err(|e| e.to_string())?;
                out!("{text}");
            } else {
                print_info(&piece);
            }
            Ok(ExitCode::SUCCESS)
        }
        PieceCommand::Validate {
            file,
            auth,
            sandbox,
        } => {
            let piece = load(&file, &sandbox).await?;
            let creds = credentials_from_fields(&piece.info().auth, auth.fields()?)
                .map_err(|e| e.to_string())?;
            let validated = match call_credentials(&piece, creds).await {
                Ok(creds) => piece.validate(&creds).await,
                Err(e) => Err(e),
            };
            match validated {
                Ok(()) => {
                    out!("valid");
                    Ok(ExitCode::SUCCESS)
                }
                Err(CallError::Piece(e)) => {
                    eprintln!("invalid: {}", piece_message(&e));
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.to_string()),
            }
        }
        PieceCommand::Run {
            file,
            action,
            input,
            auth,
            sandbox,
        } => {
            let piece = load(&file, &sandbox).await?;
            if !piece.info().actions.iter().any(|a| a.name == action) {
                let names: Vec<_> = piece
                    .info()
                    .actions
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect();
                return Err(format!(
                    "piece {} has no action {action:?}; it has: {}",
                    piece.info().name,
                    names.join(", ")
                ));
            }
            let input: serde_json::Value =
                serde_json::from_str(&input).map_err(|e| format!("--input is not JSON: {e}"))?;
            let creds = credentials_from_fields(&piece.info().auth, auth.fields()?)
                .map_err(|e| e.to_string())?;
            let ran = match call_credentials(&piece, creds).await {
                Ok(creds) => piece.run_action(&action, &input, &creds).await,
                Err(e) => Err(e),
            };
            match ran {
                Ok(output) => {
                    out!(
                        "{}",
                        serde_json::to_string_pretty(&output).map_err(|e| e.to_string())?
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(CallError::Piece(e)) => {
                    eprintln!("failed: {}", piece_message(&e));
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

/// The credentials a call receives: for a piece with sessions, the entered fields and
/// the fields of a session opened with them, as a server would give.
async fn call_credentials(
    piece: &LoadedPiece,
    creds: Credentials,
) -> Result<Credentials, CallError> {
    if !piece.info().sessions {
        return Ok(creds);
    }
    let session = piece.open_session_for(None, &creds).await?;
    let mut creds = creds;
    creds.add_session(session.fields.iter().map(|(n, v)| (n.as_str(), v)));
    Ok(creds)
}

async fn load(file: &std::path::Path, sandbox: &SandboxArgs) -> Result<LoadedPiece, String> {
    let runtime = Runtime::new(sandbox.runtime_config()).map_err(|e| e.to_string())?;
    runtime
        .load_file(file)
        .await
        .map_err(|e| format!("{}: {e}", file.display()))
}

fn piece_message(e: &PieceError) -> String {
    match e {
        PieceError::InvalidCredentials(m) => format!("invalid credentials: {m}"),
        PieceError::InvalidInput(m) => format!("invalid input: {m}"),
        PieceError::Upstream(m) => format!("the service failed: {m}"),
        PieceError::Other(m) => m.clone(),
    }
}

fn print_info(piece: &LoadedPiece) {
    let info = piece.info();
    out!("{} ({}) v{}", info.display_name, info.name, info.version);
    out!("contract: thinkfleet:piece@{}", info.contract);
    if let Some(website) = &info.website {
        out!("website: {website}");
    }
    out!("  {}", info.description);
    out!("auth: {}", info.auth.kind());
    let fields: Vec<&Prop> = match &info.auth {
        AuthSchema::None => Vec::new(),
        AuthSchema::SecretText { field } => vec![field],
        AuthSchema::Basic { username, password } => vec![username, password],
        AuthSchema::Oauth2 {
            auth_url,
            token_url,
            scopes,
            props,
            token_auth,
            token_props,
            ..
        } => {
            out!(
                "  authorize: {auth_url}\n  token: {token_url} ({})\n  scopes: {}",
                serde_json::to_value(token_auth)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                scopes.join(" ")
            );
            if !token_props.is_empty() {
                out!("  token props: {}", token_props.join(", "));
            }
            props.iter().collect()
        }
        AuthSchema::Custom { props } => props.iter().collect(),
    };
    for f in fields {
        print_prop(f, "  ");
    }
    match &info.placement {
        Some(p) => out!(
            "credential applied by the host: {}",
            serde_json::to_string(p).unwrap_or_default()
        ),
        None => out!("credential passed in to the piece"),
    }
    out!(
        "outbound hosts: {}",
        if info.allowed_hosts.is_empty() {
            "none".into()
        } else {
            info.allowed_hosts.join(", ")
        }
    );
    if !info.credential_hosts.is_empty() {
        out!("credential sent to: {}", info.credential_hosts.join(", "));
    }
    if info.sessions {
        out!(
            "sessions: opened by the piece with the entered fields, renewed by the host before they expire"
        );
    }
    out!("actions:");
    for a in &info.actions {
        out!("  - {}: {}", a.name, a.description);
        for p in &a.props {
            print_prop(p, "      ");
        }
    }
    out!("digest: sha256:{}", piece.digest());
}

/// One form field: its name, label and flags, then its default and its dropdown's
/// choices when it has them.
fn print_prop(f: &Prop, indent: &str) {
    let flags = [(f.required, "required"), (f.secret, "secret")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, s)| *s)
        .collect::<Vec<_>>()
        .join(", ");
    out!(
        "{indent}- {} ({}){}",
        f.name,
        f.display_name,
        if flags.is_empty() {
            String::new()
        } else {
            format!(" [{flags}]")
        }
    );
    if let Some(default) = &f.default_value {
        out!("{indent}    default: {default}");
    }
    if let PropKind::StaticDropdown { choices } = &f.kind {
        let shown: Vec<String> = choices
            .iter()
            .map(|c| format!("{} ({})", c.value, c.label))
            .collect();
        out!("{indent}    choices: {}", shown.join(", "));
    }
}
