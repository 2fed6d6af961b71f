//! Where the data lives: the flags every command that touches the store shares.

use crate::store::{Store, default_url};
use clap::Args;
use std::path::PathBuf;

/// `--data-dir` and `--database-url`. `Debug` hides the URL (it may hold a password).
#[derive(Clone, Args)]
pub struct StoreArgs {
    /// The data directory: the SQLite database, the generated key file, `pieces/`.
    #[arg(long, env = "THINKFLEET_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The database (`sqlite:…` or `postgres://…`); default: a SQLite file in the data
    /// directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl std::fmt::Debug for StoreArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreArgs")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_ref().map(|_| "***"))
            .finish()
    }
}

impl StoreArgs {
    /// The database URL in force.
    pub fn url(&self) -> String {
        self.database_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| default_url(&self.data_dir))
    }

    /// Creates the data directory if needed and opens (and migrates) the store.
    pub async fn open(&self) -> Result<Store, String> {
        std::fs::create_dir_all(&self.data_dir).map_err(|e| {
            format!(
                "cannot create the data directory {}: {e}",
                self.data_dir.display()
            )
        })?;
        Store::open(&self.url()).await.map_err(|e| e.to_string())
    }
}
