//! The store: the only code that writes SQL. One schema, two backends (SQLite by
//! default, PostgreSQL when `DATABASE_URL` names one), reached through sqlx's `Any`
//! driver with `$N` placeholders, which both accept. Each backend has its own
//! migrations (`host/migrations/{sqlite,postgres}`), embedded in the binary.
//!
//! The store knows rows, not meanings: sealed credentials are opaque bytes here, and
//! every query about a project's data takes the project id.

mod audit;
mod connections;
mod flows;
mod oauth;
mod projects;

pub use audit::{AuditEvent, NewAuditEvent};
pub use connections::{ConnectionRow, NewConnection, SealedRow, UseRecord};
pub use flows::{FlowRef, FlowRow};
pub use oauth::{RefreshFailure, RefreshRow, StateRow};
pub use projects::TokenRow;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor as _};
use std::path::Path;
use std::sync::Once;
use std::time::Duration;

/// Store errors. Never carries a row's sealed bytes or a database URL's password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names a database this build does not speak.
    #[error(
        "DATABASE_URL must start with `sqlite:` or `postgres://` (got scheme `{0}`); \
         leave it unset to use a SQLite file in the data directory"
    )]
    UnsupportedScheme(String),
    /// The database could not be reached or opened.
    #[error("cannot open the database ({backend}): {error}")]
    Open {
        /// SQLite or PostgreSQL.
        backend: &'static str,
        /// The driver's message.
        error: String,
    },
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// A unique key was violated (e.g. an external id already in use).
    #[error("already exists")]
    Conflict,
    /// Any other database error.
    #[error("database error: {0}")]
    Db(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => StoreError::Db(e.to_string()),
        }
    }
}

/// Store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a URL names, or why none.
    pub fn of_url(url: &str) -> Result<Backend> {
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(StoreError::UnsupportedScheme(scheme)),
        }
    }

    /// The backend's name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// A connection pool to the database, migrated.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// The SQLite URL of the default database file in `data_dir`.
pub fn default_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("thinkfleet.db").display()
    )
}

impl Store {
    /// Opens the database `url` and runs its migrations.
    pub async fn open(url: &str) -> Result<Store> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(install_default_drivers);
        let backend = Backend::of_url(url)?;
        let options = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(30));
        let options = if backend == Backend::Sqlite {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL lets readers run beside the writer; the busy timeout makes
                    // concurrent writers wait instead of failing.
                    // Checkpoints run in the background (see `checkpointer`), not inside
                    // whichever commit happens to cross the WAL threshold: that commit's
                    // callers would wait for the whole checkpoint.
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                         PRAGMA wal_autocheckpoint = 0;",
                    )
                    .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(url).await.map_err(|e| StoreError::Open {
            backend: backend.name(),
            error: redact_url_errors(&e.to_string(), url),
        })?;
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))?;
        if backend == Backend::Sqlite {
            tokio::spawn(checkpointer(pool.clone()));
        }
        Ok(Store { pool, backend })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether process-local caches of rows are exact: true for SQLite, where this
    /// process is the only server on the file and sees every write; false for
    /// PostgreSQL, which replicas share.
    pub fn process_local_caches(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Copies the SQLite write-ahead log into the database every half second (PASSIVE:
/// never waits for readers or writers), so commits on the request path never pay for a
/// checkpoint and the WAL stays small. Ends when the pool is closed.
async fn checkpointer(pool: AnyPool) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::debug!(error = %e, "WAL checkpoint skipped");
        }
    }
}

/// Drivers sometimes echo the URL; a URL may hold a password.
fn redact_url_errors(message: &str, url: &str) -> String {
    message.replace(url, "<DATABASE_URL>")
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// When the background refresher may first renew an OAuth2 token issued at `issued`
/// that expires at `expires_at`: after half its lifetime, so a short-lived token is not
/// renewed on every pass (0: whenever it is due).
pub fn background_refresh_after(issued: i64, expires_at: Option<i64>) -> i64 {
    expires_at.map_or(0, |t| issued + (t - issued).max(0) / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_schemes() {
        assert_eq!(
            Backend::of_url("sqlite://x.db").expect("sqlite"),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::of_url("postgresql://u@h/db").expect("pg"),
            Backend::Postgres
        );
        let err = Backend::of_url("mysql://root:pw@h/db").expect_err("mysql");
        let text = err.to_string();
        assert!(text.contains("`mysql`") && !text.contains("pw"), "{text}");
    }
}
