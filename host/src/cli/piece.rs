//! `thinkfleet piece …`: inspect, validate and run piece components locally.

use super::sandbox::SandboxArgs;
use crate::auth_input::credentials_from_fields;
use crate::piece::{AuthSchema, PieceError, Prop};
use crate::runtime::{CallError, LoadedPiece, Runtime};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// List the example pieces this build ships, with their paths.
    List,
}

#[derive(Debug, Args)]
pub struct AuthArgs {
    /// A credential field, NAME=VALUE (repeatable): `secret_text` for secret text,
    /// `username`/`password` for basic, `access_token` for OAuth2, the prop names for custom.
    #[arg(long = "auth", value_name = "NAME=VALUE")]
    fields: Vec<String>,
}

impl AuthArgs {
    /// The fields by name. An error never repeats the value: it may be a secret.
    fn fields(&self) -> Result<BTreeMap<String, String>, String> {
        self.fields
            .iter()
            .enumerate()
            .map(|(i, s)| match s.split_once('=') {
                Some((k, v)) => Ok((k.trim().to_string(), v.to_string())),
                None => Err(format!("--auth value #{} must look like NAME=VALUE", i + 1)),
            })
            .collect()
    }
}

/// Runs a `piece` subcommand.
pub(super) async fn run(cmd: PieceCommand) -> Result<ExitCode, String> {
    match cmd {
        PieceCommand::List => {
            for (name, path) in crate::examples::EXAMPLE_PIECES {
                out!("{name}\t{path}");
            }
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
            match piece.validate(&creds).await {
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
            match piece.run_action(&action, &input, &creds).await {
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
            ..
        } => {
            out!(
                "  authorize: {auth_url}\n  token: {token_url}\n  scopes: {}",
                scopes.join(" ")
            );
            props.iter().collect()
        }
        AuthSchema::Custom { props } => props.iter().collect(),
    };
    for f in fields {
        let flags = [(f.required, "required"), (f.secret, "secret")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, s)| *s)
            .collect::<Vec<_>>()
            .join(", ");
        out!(
            "  - {} ({}) {}",
            f.name,
            f.display_name,
            if flags.is_empty() {
                String::new()
            } else {
                format!("[{flags}]")
            }
        );
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
    out!("actions:");
    for a in &info.actions {
        out!("  - {}: {}", a.name, a.description);
    }
    out!("digest: sha256:{}", piece.digest());
}
