//! Where the data lives and the keys that open it: the flags every command that
//! touches the store shares.

use crate::store::{Store, default_url};
use crate::vault::KeyConfig;
use clap::Args;
use std::path::PathBuf;

/// `--data-dir`, `--database-url` and the encryption keys. `Debug` hides the URL (it
/// may hold a password) and the keys.
#[derive(Clone, Args)]
pub struct StoreArgs {
    /// The data directory: the SQLite database, the generated key file, `pieces/`.
    #[arg(long, env = "THINKFLEET_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The database (`sqlite:…` or `postgres://…`); default: a SQLite file in the data
    /// directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The key that seals stored credentials: 32 bytes as 64 hex characters or base64.
    /// Prefer the environment (a flag shows in the process list); unset, the key file
    /// in the data directory is used, created on the server's first start.
    #[arg(
        long = "encryption-key",
        env = "AP_ENCRYPTION_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    encryption_key: Option<String>,
    /// Earlier keys, comma-separated, still accepted for opening credentials (until
    /// `thinkfleet keys rotate` has resealed them with the current key).
    #[arg(
        long = "previous-encryption-keys",
        env = "AP_ENCRYPTION_KEY_PREVIOUS",
        hide_env_values = true,
        value_name = "KEYS"
    )]
    previous_keys: Option<String>,
}

impl std::fmt::Debug for StoreArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreArgs")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_ref().map(|_| "***"))
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "***"),
            )
            .field("previous_keys", &self.previous_keys.as_ref().map(|_| "***"))
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

    /// The configured keys.
    pub fn keys(&self) -> KeyConfig {
        KeyConfig {
            current: super::secret_arg(self.encryption_key.as_deref()),
            previous: super::secret_arg(self.previous_keys.as_deref()),
        }
    }

    /// Whether the store exists: always for PostgreSQL, the file for SQLite (a command
    /// that only reads need not create one).
    pub fn exists(&self) -> bool {
        crate::store::sqlite_file(&self.url()).is_none_or(|file| file.exists())
    }

    /// Creates the data directory if needed (mode 0700) and opens (and migrates) the
    /// store.
    pub async fn open(&self) -> Result<Store, String> {
        crate::data_dir::prepare(&self.data_dir)?;
        Store::open(&self.url()).await.map_err(|e| e.to_string())
    }
}
