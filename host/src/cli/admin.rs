//! Operator commands: `project create`, `token create`, `keys rotate`, `keys status`.

use super::StoreArgs;
use crate::projects::{create_project, create_token};
use crate::tokens::reveal;
use crate::vault::load_keys;
use clap::Subcommand;
use std::process::ExitCode;

/// `thinkfleet project …`.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project; prints its id and its first API token (shown once).
    Create {
        /// The project's name.
        name: String,
        /// Print `{"id","name","token"}`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `thinkfleet token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create another API token for a project (shown once).
    Create {
        /// The project's id.
        #[arg(long)]
        project: String,
        /// Print `{"project","token"}`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List a project's API tokens (ids and creation dates; never a secret).
    List {
        /// The project's id.
        #[arg(long)]
        project: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke one of a project's API tokens; a running server refuses it from its next
    /// request on.
    Revoke {
        /// The project's id.
        #[arg(long)]
        project: String,
        /// The token's public id (the `<id>` of `tfk_<id>_…`), or the whole token.
        token: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `thinkfleet oauth-app …`.
#[derive(Debug, Subcommand)]
pub enum OauthAppCommand {
    /// Register (or replace) the OAuth app a piece's connections authorize with.
    Set {
        /// The OAuth2 piece.
        piece: String,
        /// The app's client id.
        #[arg(long)]
        client_id: String,
        /// The app's client secret (prefer the environment variable: flags show in `ps`).
        #[arg(
            long,
            env = "THINKFLEET_OAUTH_CLIENT_SECRET",
            hide_env_values = true,
            value_parser = secret_arg
        )]
        client_secret: secrecy::SecretString,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        sandbox: super::SandboxArgs,
    },
}

/// `thinkfleet keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-encrypt every stored credential under the current key (AP_ENCRYPTION_KEY),
    /// opening old rows with AP_ENCRYPTION_KEY_PREVIOUS. Safe to interrupt and re-run.
    Rotate {
        /// Rows per batch.
        #[arg(long, default_value_t = 100)]
        batch: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show the current key version and how many credentials each version seals.
    Status {
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `thinkfleet store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy every row of this store into a new, empty database (SQLite to PostgreSQL,
    /// or back), in one transaction. Stop the servers first; start them on the new
    /// database with the same encryption key.
    Copy {
        /// The destination database (`postgres://…` or `sqlite:…`); it is migrated
        /// first and must hold no data.
        #[arg(
            long,
            value_name = "URL",
            env = "THINKFLEET_COPY_TO",
            hide_env_values = true
        )]
        to: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Runs `store …`.
pub async fn store(cmd: StoreCommand) -> Result<ExitCode, String> {
    let StoreCommand::Copy { to, store } = cmd;
    if !store.exists() {
        return Err(format!(
            "no store to copy: {} holds no database (check --data-dir or --database-url)",
            store.data_dir.display()
        ));
    }
    let source = store.open().await?;
    let dest = crate::store::Store::open(&to)
        .await
        .map_err(|e| format!("the destination: {e}"))?;
    let report = source.copy_into(&dest).await.map_err(|e| e.to_string())?;
    dest.close().await;
    source.close().await;
    let rows: u64 = report.tables.iter().map(|(_, n)| n).sum();
    for (table, n) in &report.tables {
        out!("{table}\t{n}");
    }
    out!(
        "copied {rows} rows of {} tables; start the servers with --database-url set to the \
         destination and the same encryption key",
        report.tables.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `project …`.
pub async fn project(cmd: ProjectCommand) -> Result<ExitCode, String> {
    let ProjectCommand::Create { name, json, store } = cmd;
    let db = store.open().await?;
    let made = create_project(&db, &name)
        .await
        .map_err(|e| e.to_string())?;
    if json {
        let out = serde_json::json!({
            "id": made.id,
            "name": made.name,
            "token": reveal(&made.token),
        });
        out!("{out}");
    } else {
        out!("project {} ({})", made.id, made.name);
        out!("token   {}", reveal(&made.token));
        out!("(the token is shown only now; keep it somewhere safe)");
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Runs `token …`.
pub async fn token(cmd: TokenCommand) -> Result<ExitCode, String> {
    match cmd {
        TokenCommand::Create {
            project,
            json,
            store,
        } => {
            let db = store.open().await?;
            let token = create_token(&db, &project)
                .await
                .map_err(|e| e.to_string())?;
            if json {
                let out = serde_json::json!({ "project": project, "token": reveal(&token) });
                out!("{out}");
            } else {
                out!("{}", reveal(&token));
            }
            db.close().await;
        }
        TokenCommand::List { project, store } => {
            let db = store.open().await?;
            let tokens = db.tokens_of(&project).await.map_err(|e| e.to_string())?;
            for t in tokens {
                out!("{}  created {}", t.id, crate::api::rfc3339(t.created_at));
            }
            db.close().await;
        }
        TokenCommand::Revoke {
            project,
            token,
            store,
        } => {
            // The whole token is accepted too; only its id is used.
            let id = crate::tokens::parse(&token).map_or(token.as_str(), |(id, _)| id);
            let db = store.open().await?;
            let revoked = db
                .delete_token(&project, id)
                .await
                .map_err(|e| e.to_string())?;
            db.close().await;
            if !revoked {
                return Err(format!("project {project} has no API token {id}"));
            }
            out!("revoked token {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn secret_arg(s: &str) -> Result<secrecy::SecretString, String> {
    Ok(secrecy::SecretString::from(s.to_owned()))
}

/// Runs `oauth-app …`.
pub async fn oauth_app(cmd: OauthAppCommand) -> Result<ExitCode, String> {
    let OauthAppCommand::Set {
        piece,
        client_id,
        client_secret,
        store,
        sandbox,
    } = cmd;
    // The key must already exist: a key made here would not be the server's.
    load_keys(&store.keys(), &store.data_dir, false).map_err(|e| e.to_string())?;
    let config = crate::server::ServeConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: store.data_dir.clone(),
        database_url: store.url(),
        runtime: sandbox.runtime_config(),
        keys: store.keys(),
        public_url: None,
        admin_token: None,
        refresh_interval: std::time::Duration::from_secs(3600),
        webhooks: crate::webhooks::WebhookTiming::default(),
        metrics_token: None,
    };
    let state = crate::server::state(&config)
        .await
        .map_err(|e| e.to_string())?;
    state
        .oauth
        .set_app(
            &piece,
            &client_id,
            &secrecy::SecretString::from(client_secret),
        )
        .await
        .map_err(|e| e.to_string())?;
    out!("OAuth app for {piece} set (client id {client_id})");
    state.connections.store().close().await;
    Ok(ExitCode::SUCCESS)
}

/// Runs `keys …`.
pub async fn keys(cmd: KeysCommand) -> Result<ExitCode, String> {
    match cmd {
        KeysCommand::Rotate { batch, store } => {
            let (vault, source) =
                load_keys(&store.keys(), &store.data_dir, false).map_err(|e| e.to_string())?;
            let db = store.open().await?;
            crate::key_check::verify(&db, &vault, &source)
                .await
                .map_err(|e| e.to_string())?;
            let report = crate::rotation::rotate(&db, &vault, batch, |r| {
                eprintln!("rotated {} so far", r.rotated);
            })
            .await
            .map_err(|e| format!("{e} (rows rotated so far stay rotated; re-run to resume)"))?;
            crate::key_check::reseal(&db, &vault)
                .await
                .map_err(|e| e.to_string())?;
            out!(
                "rotated {} credential(s) to key version {}",
                report.rotated,
                vault.current_version()
            );
            db.close().await;
        }
        KeysCommand::Status { store } => {
            let (vault, source) =
                load_keys(&store.keys(), &store.data_dir, false).map_err(|e| e.to_string())?;
            let db = store.open().await?;
            if let Err(e) = crate::key_check::inspect(&db, &vault, &source).await {
                out!("key check failed: {e}");
            }
            out!(
                "current key version {} (from {})",
                vault.current_version(),
                match &source {
                    crate::vault::KeySource::Environment => "AP_ENCRYPTION_KEY".to_owned(),
                    crate::vault::KeySource::File(p) | crate::vault::KeySource::Created(p) =>
                        p.display().to_string(),
                }
            );
            let apps = db
                .oauth_apps_to_rotate(vault.current_version())
                .await
                .map_err(|e| e.to_string())?;
            if !apps.is_empty() {
                out!(
                    "{} OAuth app secret(s) under an older key: run `thinkfleet keys rotate`",
                    apps.len()
                );
            }
            for (version, count) in db.key_versions().await.map_err(|e| e.to_string())? {
                let mark = if version == vault.current_version() {
                    " (current)"
                } else {
                    ""
                };
                out!("{version}: {count} credential(s){mark}");
            }
            db.close().await;
        }
    }
    Ok(ExitCode::SUCCESS)
}
