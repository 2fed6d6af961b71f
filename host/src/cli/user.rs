//! `thinkfleet user create` and `thinkfleet user add-to-project`: the people who sign in
//! to the web UI. The password is read from standard input (one line), or from
//! `THINKFLEET_USER_PASSWORD`, never from an argument `ps` would show.

use super::StoreArgs;
use crate::accounts::{Accounts, SessionPolicy};
use clap::Subcommand;
use secrecy::SecretString;
use std::io::BufRead as _;
use std::process::ExitCode;

/// `thinkfleet user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from stdin (or THINKFLEET_USER_PASSWORD).
    Create {
        /// The user's email address (their login).
        #[arg(long)]
        email: String,
        /// May open the settings pages.
        #[arg(long)]
        admin: bool,
        /// A project to make the user a member of (repeatable).
        #[arg(long = "project", value_name = "PROJECT_ID")]
        projects: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Make a user a member of a project.
    AddToProject {
        /// The user's email address.
        #[arg(long)]
        email: String,
        /// The project's id.
        #[arg(long)]
        project: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Runs `user …`.
pub async fn run(cmd: UserCommand) -> Result<ExitCode, String> {
    match cmd {
        UserCommand::Create {
            email,
            admin,
            projects,
            store,
        } => {
            let password = read_password()?;
            let db = store.open().await?;
            let accounts = Accounts::new(db.clone(), SessionPolicy::default());
            let id = accounts
                .create_user(&email, &password, admin)
                .await
                .map_err(|e| e.to_string())?;
            for project in &projects {
                accounts
                    .add_to_project(&email, project)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            out!("user {id} ({})", email.trim().to_lowercase());
            db.close().await;
        }
        UserCommand::AddToProject {
            email,
            project,
            store,
        } => {
            let db = store.open().await?;
            Accounts::new(db.clone(), SessionPolicy::default())
                .add_to_project(&email, &project)
                .await
                .map_err(|e| e.to_string())?;
            out!(
                "{} is now a member of {project}",
                email.trim().to_lowercase()
            );
            db.close().await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_password() -> Result<SecretString, String> {
    if let Ok(p) = std::env::var("THINKFLEET_USER_PASSWORD")
        && !p.is_empty()
    {
        return Ok(SecretString::from(p));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password from stdin: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err("no password: give it on standard input or in THINKFLEET_USER_PASSWORD".into());
    }
    Ok(SecretString::from(password))
}
