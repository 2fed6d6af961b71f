//! The store: the only code that writes SQL. One schema, two backends (SQLite by
//! default, PostgreSQL when `DATABASE_URL` names one), reached through sqlx's `Any`
//! driver with `$N` placeholders, which both accept. Each backend has its own
//! migrations (`host/migrations/{sqlite,postgres}`), embedded in the binary.
//!
//! The store knows rows, not meanings: sealed credentials are opaque bytes here, and
//! every query about a project's data takes the project id.

pub mod accounts;
mod agents;
mod audit;
mod batch_pg;
mod connection_page;
mod connections;
mod copy;
mod flows;
mod group;
mod key_check;
mod oauth;
mod pieces;
mod projects;
mod runs;
mod webhooks;

pub use agents::{AgentRow, AgentTool};
pub use audit::{AuditEvent, AuditFilter, EVENT_KINDS, NewAuditEvent};
pub use connection_page::{PageQuery, SortKey};
pub use connections::{
    ConnectionRow, ConnectionStatus, LAST_USE_STEP_MS, NewConnection, SealedRow, UnknownStatus,
    UseRecord,
};
pub use copy::{CopyReport, TABLES};
pub use flows::{FlowRef, FlowRewrite, FlowRow};
pub use group::{BatchFuture, GroupCommit, WriteBatch};
pub use oauth::{RefreshFailure, RefreshRow, StateRow};
pub use pieces::{InstalledHead, NewInstall, PieceEvent};
pub use projects::{Revision, TokenInfo, TokenRow};
pub use runs::{NewRun, RUNS_KEPT, RunRecord, RunRow};
pub use webhooks::{Attempt, DeliveryRow, NewDelivery, StatusChange, WebhookRow};

use crate::vault::Sealed;
use sqlx::any::{AnyPoolOptions, AnyRow, install_default_drivers};
use sqlx::migrate::MigrateError;
use sqlx::{AnyPool, Executor as _, FromRow, Row as _};
use std::path::Path;
use std::sync::{Arc, Once};
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
        /// The driver's message with the URL taken out. Text, not the driver's error:
        /// drivers sometimes echo the URL, which may hold a password, and a source kept
        /// here would print it again wherever the error chain is reported.
        error: String,
    },
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[source] MigrateError),
    /// A unique key was violated (e.g. an external id already in use).
    #[error("already exists")]
    Conflict,
    /// Any other database error.
    #[error("database error: {0}")]
    Db(#[source] sqlx::Error),
    /// A stored JSON column does not parse: a bug, or a row written by another version.
    #[error("database error: {row}: {source}")]
    BadJson {
        /// The row, e.g. `flow <id>`.
        row: String,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// `thinkfleet store copy` cannot go on (a destination that is not empty, a table
    /// it does not know, a value it cannot read).
    #[error("store copy: {0}")]
    Copy(String),
    /// The group commit that carried this write failed; every write in the batch
    /// shares the one error.
    #[error(transparent)]
    Batch(Arc<StoreError>),
    /// A group-commit writer stopped (or answered a batch wrongly).
    #[error("database error: the group-commit writer stopped")]
    WriterStopped,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => StoreError::Db(e),
        }
    }
}

/// A pooled connection idle this long is pinged before it is handed out.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// How long `/readyz` waits for the database before calling it unreachable.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

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
    /// SQLite on a file: one connection of its own for the group-committed batches (runs
    /// and uses, [`Store::batch_pool`]).
    batches: Option<AnyPool>,
    backend: Backend,
    /// SQLite only: the file other processes (the CLI) touch after a write that a
    /// server's process-local caches must not outlive (see [`Store::outside_writes`]).
    outside_writes: Option<Arc<Path>>,
    /// Runs this process recorded per flow since it last pruned that flow's history.
    unpruned: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
}

/// The SQLite URL of the default database file in `data_dir`.
pub fn default_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("thinkfleet.db").display()
    )
}

/// The database file a SQLite URL names (`None` for an in-memory database).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest.trim_start_matches("//").split('?').next()?;
    (!path.is_empty() && !path.contains(":memory:")).then(|| path.into())
}

/// Makes a SQLite database private to this user before it is opened: a missing file is
/// created empty with mode 0600 (SQLite gives its `-wal` and `-shm` files the database
/// file's mode), and an existing one (and its `-wal`, `-shm`) open to others is
/// narrowed to 0600. Best effort: the open that follows reports what it cannot do.
fn private_database_file(db: &Path) {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    if !db.exists() {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(db);
        return;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_os_string();
        name.push(suffix);
        let path = std::path::PathBuf::from(name);
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.permissions().mode() & 0o077 != 0
        {
            match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
                Ok(()) => {
                    tracing::info!(file = %path.display(), "database file narrowed to mode 0600")
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "the database file is open to other users and could not be narrowed to 0600")
                }
            }
        }
    }
}

/// The marker file beside a SQLite database (`thinkfleet.db-writes`).
fn marker_path(db: &Path) -> std::path::PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push("-writes");
    db.with_file_name(name)
}

/// Nanoseconds since the epoch, as text for the marker file.
fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// The migrations this binary embeds for `backend`.
fn migrator(backend: Backend) -> sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("migrations/postgres"),
    }
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
            .acquire_timeout(Duration::from_secs(30))
            // No ping before each checkout of a busy connection: it doubled the round
            // trips of every query (a flow run on PostgreSQL went 3.2k → 3.95k runs/s
            // without it). One idle for a while is pinged first, so a connection the
            // server closed meanwhile (a restart, an idle timeout) is dropped and
            // another taken instead of failing a request.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            });
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
        // The SQLite database's file (none on PostgreSQL or in memory).
        let file = match backend {
            Backend::Sqlite => sqlite_file(url),
            Backend::Postgres => None,
        };
        if let Some(file) = &file {
            private_database_file(file);
        }
        let open_error = |e: sqlx::Error| StoreError::Open {
            backend: backend.name(),
            error: redact_url_errors(&e.to_string(), url),
        };
        let pool = options.clone().connect(url).await.map_err(open_error)?;
        migrator(backend)
            .run(&pool)
            .await
            .map_err(StoreError::Migrate)?;
        let batches = match &file {
            // Lazy: a CLI command that writes no batch never opens it.
            Some(_) => Some(
                options
                    .max_connections(1)
                    .connect_lazy(url)
                    .map_err(open_error)?,
            ),
            None => None,
        };
        if backend == Backend::Sqlite {
            tokio::spawn(checkpointer(pool.clone()));
        }
        let outside_writes = file.map(|db| Arc::from(marker_path(&db)));
        Ok(Store {
            pool,
            batches,
            backend,
            outside_writes,
            unpruned: Arc::default(),
        })
    }

    /// Whether the database answers and has every migration this binary embeds
    /// applied (for `/readyz`): (reachable, migrated). A database that does not answer
    /// within [`READINESS_TIMEOUT`] counts as unreachable, so a probe never waits out
    /// the pool's 30-second acquire timeout.
    pub async fn readiness(&self) -> (bool, bool) {
        tokio::time::timeout(READINESS_TIMEOUT, self.readiness_now())
            .await
            .unwrap_or((false, false))
    }

    async fn readiness_now(&self) -> (bool, bool) {
        let applied: std::result::Result<Vec<(i64,)>, sqlx::Error> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&self.pool)
                .await;
        match applied {
            Err(_) => (
                sqlx::query("SELECT 1").execute(&self.pool).await.is_ok(),
                false,
            ),
            Ok(rows) => {
                let applied: Vec<i64> = rows.into_iter().map(|(v,)| v).collect();
                let migrated = migrator(self.backend)
                    .iter()
                    .all(|m| applied.contains(&m.version));
                (true, migrated)
            }
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// SQLite only: the file whose change tells a server that another process (the
    /// CLI revoking a token) wrote something its caches hold; see [`Store::mark_write`].
    pub fn outside_writes(&self) -> Option<Arc<Path>> {
        self.outside_writes.clone()
    }

    /// Records, for servers on the same SQLite file, that a cached row just changed:
    /// rewrites the marker file, whose changed metadata makes their caches start over
    /// on their next read. Nothing to do on PostgreSQL (no process-local caches).
    pub(crate) fn mark_write(&self) {
        if let Some(path) = &self.outside_writes {
            // A value never written before: the time, this process and 64 random bits.
            let mut nonce = [0u8; 8];
            let _ = getrandom::fill(&mut nonce);
            let stamp = format!(
                "{} {} {}\n",
                now_nanos(),
                std::process::id(),
                hex::encode(nonce)
            );
            if let Err(e) = std::fs::write(path, stamp) {
                tracing::warn!(path = %path.display(), error = %e, "cannot touch the cache marker file");
            }
        }
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        if let Some(batches) = &self.batches {
            batches.close().await;
        }
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool the group-committed batches write through. On a SQLite file, a
    /// connection of its own: a connection's page cache holds only while no other
    /// connection writes, and the shared pool hands out its idle connections in turn,
    /// so each batch found the pages the previous one wrote stale and read them again
    /// (about 2.4 page reads per run). With the hot path's writes on one connection, its
    /// pages stay cached. On PostgreSQL (and an in-memory SQLite database, which a
    /// second pool could not share) the shared pool.
    pub(crate) fn batch_pool(&self) -> &AnyPool {
        self.batches.as_ref().unwrap_or(&self.pool)
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

/// A sealed value from a row that selected `key_version, nonce, ciphertext`, by column
/// name, so a query may select it beside other columns and a row struct may
/// `#[sqlx(flatten)]` it. Written here rather than derived in `vault`, which knows no SQL.
impl<'r> FromRow<'r, AnyRow> for Sealed {
    fn from_row(r: &'r AnyRow) -> sqlx::Result<Self> {
        Ok(Sealed {
            key_version: r.try_get("key_version")?,
            nonce: r.try_get("nonce")?,
            ciphertext: r.try_get("ciphertext")?,
        })
    }
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

    #[tokio::test]
    async fn a_sqlite_database_is_private_to_its_user() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let url = default_url(dir.path());
        let db = dir.path().join("thinkfleet.db");
        let mode = |suffix: &str| {
            let mut name = db.as_os_str().to_os_string();
            name.push(suffix);
            std::fs::metadata(std::path::PathBuf::from(name))
                .ok()
                .map(|m| m.permissions().mode() & 0o777)
        };
        let store = Store::open(&url).await.expect("open");
        assert_eq!(mode(""), Some(0o600));
        // The write-ahead log takes the database file's mode.
        assert_eq!(mode("-wal"), Some(0o600));
        store.close().await;
        // One left readable by others is narrowed when next opened.
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let store = Store::open(&url).await.expect("reopen");
        assert_eq!(mode(""), Some(0o600));
        store.close().await;
    }

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
    fn sealed(version: &str, byte: u8) -> Sealed {
        Sealed {
            key_version: version.into(),
            nonce: vec![byte; 12],
            ciphertext: vec![byte; 20],
        }
    }

    fn used(status: Option<ConnectionStatus>, at: i64) -> UseRecord {
        UseRecord {
            project_id: "p1".into(),
            connection_id: "c1".into(),
            external_id: "ext".into(),
            flow_id: Some("f1".into()),
            agent_id: None,
            detail: "{}".into(),
            status,
            at,
        }
    }

    /// Project `p1`'s `used` events, newest first (up to 500).
    async fn used_events(store: &Store) -> Vec<AuditEvent> {
        let used = AuditFilter {
            event: Some("used"),
            ..AuditFilter::default()
        };
        store
            .filter_audit("p1", &used, None, 500)
            .await
            .expect("audit")
    }

    /// A fresh database for a store test: a SQLite file in `dir`, or a new database on
    /// the PostgreSQL server `THINKFLEET_TEST_DATABASE` names (as the e2e suite does).
    async fn fresh_database(dir: &Path) -> String {
        let Ok(admin) = std::env::var("THINKFLEET_TEST_DATABASE") else {
            return default_url(dir);
        };
        install_default_drivers();
        let name = format!("tf_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("connect to THINKFLEET_TEST_DATABASE");
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create the test database");
        let (server, _) = admin.rsplit_once('/').expect("a URL ending in /DBNAME");
        format!("{server}/{name}")
    }

    /// A batched token read answers each id with its own row, whatever the batch's
    /// size (several queries past [`projects::TOKENS_PER_READ`], padded lists),
    /// repeats and unknown ids included, with the project's revision.
    #[tokio::test]
    async fn a_batch_of_token_reads_answers_each_id_with_its_own_row() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&fresh_database(dir.path()).await)
            .await
            .expect("open");
        for project in ["p1", "p2"] {
            store.create_project(project, "x").await.expect("project");
        }
        let mut ids = Vec::new();
        for i in 0..40 {
            let id = format!("t{i}");
            let project = if i % 2 == 0 { "p1" } else { "p2" };
            store
                .create_token(&id, project, &[i as u8; 4])
                .await
                .expect("token");
            ids.push(id);
        }
        for n in [1, 3, 32, 33, 40] {
            let mut asked: Vec<String> = ids[..n].to_vec();
            asked.push("unknown".into());
            asked.push(ids[0].clone());
            let answers = store.tokens_at(&asked).await.expect("read");
            assert_eq!(answers.len(), asked.len());
            for (id, answer) in asked.iter().zip(&answers) {
                match id.strip_prefix('t').and_then(|n| n.parse::<u8>().ok()) {
                    Some(i) => {
                        let (row, at) = answer.as_ref().expect("a known token");
                        assert_eq!(row.secret_hash, vec![i; 4], "{id}");
                        let project = if i % 2 == 0 { "p1" } else { "p2" };
                        assert_eq!(row.project_id, project, "{id}");
                        assert!(matches!(at, Revision::At(_)), "{id}");
                    }
                    None => assert!(answer.is_none(), "{id}"),
                }
            }
        }
        // A revoked token is gone from the next read.
        assert!(store.delete_token("p1", "t0").await.expect("revoke"));
        let answers = store.tokens_at(&ids[..2]).await.expect("read");
        assert!(answers[0].is_none());
        assert!(answers[1].is_some());
    }

    /// A fresh store with project `p1` and its flows `f1` and `f2`.
    async fn store_with_two_flows(dir: &Path) -> Store {
        let store = Store::open(&fresh_database(dir).await).await.expect("open");
        store.create_project("p1", "One").await.expect("project");
        for id in ["f1", "f2"] {
            let flow = FlowRow {
                id: id.into(),
                project_id: "p1".into(),
                name: "x".into(),
                definition: "{}".into(),
                created_at: 0,
                updated_at: 0,
            };
            store.insert_flow(&flow, &[]).await.expect("flow");
        }
        store
    }

    /// A succeeded run of project `p1`'s `flow`, with no uses.
    fn run_of(flow: &str, started_at: i64) -> RunRecord {
        RunRecord {
            uses: Vec::new(),
            run: NewRun {
                project_id: "p1".into(),
                flow_id: flow.into(),
                status: "succeeded",
                report: format!("{{\"n\":{started_at}}}"),
                started_at,
                finished_at: started_at + 1,
            },
        }
    }

    /// An active connection `id` of project `p1`, never used.
    async fn add_connection(store: &Store, id: &str) {
        let row = ConnectionRow {
            id: id.into(),
            project_id: "p1".into(),
            external_id: id.into(),
            display_name: id.into(),
            piece: "slack".into(),
            auth_type: "secret_text".into(),
            status: ConnectionStatus::Active,
            created_at: 0,
            updated_at: 0,
            last_used_at: None,
            expires_at: None,
            token_issued_at: None,
        };
        let created = NewAuditEvent::for_connection(&row, "created", None);
        let new = NewConnection {
            row: &row,
            sealed: &sealed("k1", 1),
        };
        store.insert_connection(new, created).await.expect("insert");
    }

    /// A row whose status is no known word (written by hand, or by another version)
    /// is left out of the changes to announce; the other rows' changes still come.
    #[tokio::test]
    async fn a_status_word_no_version_knows_does_not_hide_the_other_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_two_flows(dir.path()).await;
        add_connection(&store, "c1").await;
        add_connection(&store, "c2").await;
        for (id, status) in [("c1", "error"), ("c2", "paused")] {
            sqlx::query("UPDATE connections SET status = $1 WHERE id = $2")
                .bind(status)
                .bind(id)
                .execute(store.pool())
                .await
                .expect("update");
        }
        let changes = store.status_changes(10).await.expect("read");
        let seen: Vec<(&str, ConnectionStatus)> =
            changes.iter().map(|c| (c.id.as_str(), c.status)).collect();
        assert_eq!(seen, [("c1", ConnectionStatus::Error)]);
    }

    /// A batch whose runs use two connections, one refused in one run and fine in a
    /// later one, with a run of a deleted flow among them: every use is audited, each
    /// connection's row takes its latest use (the refusal sticking), and the runs get
    /// rising numbers in the batch's order.
    #[tokio::test]
    async fn a_batch_of_runs_over_two_connections_records_every_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_two_flows(dir.path()).await;
        add_connection(&store, "c1").await;
        add_connection(&store, "c2").await;
        let use_of = |connection: &str, status: Option<ConnectionStatus>, at: i64| UseRecord {
            connection_id: connection.into(),
            external_id: connection.into(),
            ..used(status, at)
        };
        let with_uses = |flow: &str, at: i64, uses: Vec<UseRecord>| RunRecord {
            uses,
            ..run_of(flow, at)
        };
        let batch = [
            with_uses("f1", 1, vec![use_of("c2", None, 10)]),
            with_uses(
                "gone",
                2,
                vec![use_of("c1", Some(ConnectionStatus::Error), 11)],
            ),
            with_uses(
                "f2",
                3,
                vec![use_of("c1", None, 12), use_of("c2", None, 13)],
            ),
        ];
        let ids = store.record_runs(&batch).await.expect("the batch commits");
        assert_eq!(ids[1], 0, "the deleted flow's run has no row");
        assert!(ids[0] > 0 && ids[2] > ids[0], "{ids:?}");
        let row = |id: &'static str| {
            let store = store.clone();
            async move {
                let row = store.find_connection("p1", id).await.expect("find");
                let row = row.expect("row");
                (row.status, row.last_used_at)
            }
        };
        assert_eq!(row("c1").await, (ConnectionStatus::Error, Some(11)));
        assert_eq!(row("c2").await, (ConnectionStatus::Active, Some(13)));
        let used_events = used_events(&store).await;
        assert_eq!(used_events.len(), 4);
        // A later run that works turns the refused connection back to active.
        let later = [with_uses("f1", 4, vec![use_of("c1", None, 14)])];
        let later_ids = store.record_runs(&later).await.expect("commits");
        assert!(later_ids[0] > ids[2]);
        assert_eq!(row("c1").await, (ConnectionStatus::Active, Some(14)));
    }

    /// A batch of any size is written whole (on PostgreSQL in one statement whose rows
    /// travel as JSON): every report and every use's detail reads back byte for byte,
    /// JSON's and SQL's special characters included, and the runs and the `used` events
    /// are numbered in the batch's order.
    #[tokio::test]
    async fn a_large_batch_keeps_every_value_and_the_batchs_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_two_flows(dir.path()).await;
        for id in ["c1", "c2", "c3"] {
            add_connection(&store, id).await;
        }
        let odd = serde_json::to_string(
            "quote \" backslash \\ newline \n tab \t 'single' é ✓ \u{1F600} </script> $1 \u{7f}",
        )
        .expect("json");
        // Runs of two flows and of one deleted (every 50th), each using a connection;
        // every 7th use an agent's (no flow).
        let flow_of = |i: i64| match (i % 50, i % 2) {
            (25, _) => "gone",
            (_, 0) => "f1",
            _ => "f2",
        };
        let records: Vec<RunRecord> = (0..150)
            .map(|i| {
                let connection = format!("c{}", i % 3 + 1);
                let agent = i % 7 == 0;
                RunRecord {
                    uses: vec![UseRecord {
                        external_id: format!("ext-{connection}"),
                        connection_id: connection,
                        detail: format!("{{\"i\":{i},\"s\":{odd}}}"),
                        flow_id: (!agent).then(|| flow_of(i).to_owned()),
                        agent_id: agent.then(|| format!("agent-{i}")),
                        ..used(None, 100 + i)
                    }],
                    run: NewRun {
                        report: format!("{{\"n\":{i},\"s\":{odd}}}"),
                        status: if i % 5 == 0 { "failed" } else { "succeeded" },
                        ..run_of(flow_of(i), i).run
                    },
                }
            })
            .collect();
        let uses: Vec<UseRecord> = records.iter().flat_map(|r| r.uses.clone()).collect();
        assert!(
            batch_pg::fits(&records, &uses),
            "one statement on PostgreSQL"
        );
        let ids = store
            .record_runs(&records)
            .await
            .expect("the batch commits");
        let (gone, kept): (Vec<_>, Vec<_>) = (0..150).partition(|i| flow_of(*i) == "gone");
        assert!(gone.iter().all(|&i| ids[i as usize] == 0), "{ids:?}");
        let kept: Vec<i64> = kept.iter().map(|&i| ids[i as usize]).collect();
        assert!(
            kept[0] > 0 && kept.windows(2).all(|w| w[0] < w[1]),
            "{ids:?}"
        );
        // The newest runs of each flow are kept past the pruning: each reads back whole.
        for (i, record) in records.iter().enumerate().skip(100) {
            if record.run.flow_id == "gone" {
                continue;
            }
            let row = store
                .get_run("p1", &record.run.flow_id, ids[i])
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("run {i} has a row"));
            assert_eq!(row.report, record.run.report);
            assert_eq!(
                (row.status.as_str(), row.started_at, row.finished_at),
                (
                    record.run.status,
                    record.run.started_at,
                    record.run.finished_at
                )
            );
        }
        let mut events = used_events(&store).await;
        events.reverse();
        let seen: Vec<_> = events
            .into_iter()
            .map(|e| (e.connection_id, e.external_id, e.flow_id, e.detail, e.at))
            .collect();
        let expected: Vec<_> = records
            .iter()
            .map(|r| {
                let u = &r.uses[0];
                let (id, external) = (Some(u.connection_id.clone()), Some(u.external_id.clone()));
                (
                    id,
                    external,
                    u.flow_id.clone(),
                    Some(u.detail.clone()),
                    u.at,
                )
            })
            .collect();
        assert_eq!(seen, expected, "every use audited, in the batch's order");
        for i in [0, 49, 147] {
            let agent = format!("agent-{i}");
            let filter = AuditFilter {
                agent_id: Some(&agent),
                ..AuditFilter::default()
            };
            let theirs = store.filter_audit("p1", &filter, None, 10).await;
            let theirs = theirs.expect("audit");
            assert_eq!(theirs.len(), 1, "{agent}");
            assert_eq!(theirs[0].detail, Some(records[i].uses[0].detail.clone()));
        }
        for (id, at) in [("c1", 247), ("c2", 248), ("c3", 249)] {
            let row = store.find_connection("p1", id).await.expect("find");
            assert_eq!(row.expect("row").last_used_at, Some(at), "{id}");
        }
        // A batch too big for one statement (reports of megabytes) is written whole too.
        let big: Vec<RunRecord> = (0..3)
            .map(|i| RunRecord {
                uses: vec![used(None, 300 + i)],
                run: NewRun {
                    report: format!("{{\"pad\":\"{}\"}}", "x".repeat(3 << 20)),
                    ..run_of("f1", 300 + i).run
                },
            })
            .collect();
        let big_uses: Vec<UseRecord> = big.iter().flat_map(|r| r.uses.clone()).collect();
        assert!(
            !batch_pg::fits(&big, &big_uses),
            "a transaction on PostgreSQL"
        );
        let ids = store
            .record_runs(&big)
            .await
            .expect("the big batch commits");
        let newest = store.get_run("p1", "f1", ids[2]).await.expect("read");
        assert_eq!(newest.expect("row").report, big[2].run.report);
    }

    /// Two servers pruning one flow at once: on PostgreSQL the second does not wait for
    /// the first (it skips the rows the first is deleting; they used to deadlock, a
    /// second each time), and the flow ends with its newest runs.
    #[tokio::test]
    async fn a_pruning_does_not_wait_for_another_servers_pruning_of_the_flow() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_two_flows(dir.path()).await;
        let records: Vec<RunRecord> = (0..40).map(|i| run_of("f1", i)).collect();
        for _ in 0..2 {
            store.record_runs(&records).await.expect("runs");
        }
        // Runs no pruning has seen yet: what both prunings below go for.
        for i in 0..10 {
            sqlx::query(
                "INSERT INTO flow_runs (project_id, flow_id, status, report, started_at, \
                 finished_at) VALUES ('p1', 'f1', 'succeeded', '{}', $1, $1)",
            )
            .bind(100 + i)
            .execute(store.pool())
            .await
            .expect("run");
        }
        assert!(store.list_runs("p1", "f1", 1000).await.expect("runs").len() as i64 > RUNS_KEPT);
        let newest = store.list_runs("p1", "f1", 1).await.expect("runs")[0].id;
        if store.backend() == Backend::Postgres {
            let mut first = store.pool().begin().await.expect("begin");
            runs::prune(&mut first, Backend::Postgres, "f1")
                .await
                .expect("first pruning");
            let mut second = store.pool().acquire().await.expect("connection");
            // Not a timing: a pruning that waits on the first never ends before it does.
            let alone = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                runs::prune(&mut second, Backend::Postgres, "f1"),
            )
            .await;
            assert!(
                matches!(alone, Ok(Ok(()))),
                "the second pruning waited for the first"
            );
            first.commit().await.expect("commit");
        } else {
            let mut conn = store.pool().acquire().await.expect("connection");
            runs::prune(&mut conn, Backend::Sqlite, "f1")
                .await
                .expect("pruning");
        }
        let kept = store.list_runs("p1", "f1", 1000).await.expect("runs");
        assert_eq!(kept.len() as i64, RUNS_KEPT);
        assert_eq!(kept[0].id, newest);
    }

    /// On PostgreSQL, a batch's statement reads the connections and flows it touches by
    /// their keys, not by scanning the tables, once they hold thousands of rows (the
    /// planner takes every `json_to_recordset` for 100 rows; see `batch_pg::statement`).
    #[tokio::test]
    async fn a_postgresql_batch_reads_only_its_own_connections_and_flows_in_large_tables() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_two_flows(dir.path()).await;
        if store.backend() != Backend::Postgres {
            eprintln!("SQLite run: the one-statement batch is PostgreSQL's");
            return;
        }
        add_connection(&store, "c1").await;
        // Thousands of rows in the batch's project and in another, so neither a scan
        // of the table nor one of the project's rows passes.
        for sql in [
            "INSERT INTO projects (id, name, created_at) VALUES ('p2', 'Two', 0)",
            "INSERT INTO connections (id, project_id, external_id, display_name, piece, \
             auth_type, status, key_version, nonce, ciphertext, created_at, updated_at) \
             SELECT 'bulk-' || g, 'p' || (g % 2 + 1), 'bulk-' || g, 'd', 'slack', \
             'secret_text', 'active', 'k1', '\\x00', '\\x00', 0, 0 \
             FROM generate_series(1, 5000) g",
            "INSERT INTO flows (id, project_id, name, definition, created_at, updated_at) \
             SELECT 'bulk-' || g, 'p' || (g % 2 + 1), 'x', '{}', 0, 0 \
             FROM generate_series(1, 5000) g",
            "ANALYZE connections, flows",
        ] {
            sqlx::query(sql).execute(store.pool()).await.expect(sql);
        }
        let records = vec![RunRecord {
            uses: vec![UseRecord {
                connection_id: "c1".into(),
                external_id: "c1".into(),
                ..used(None, 1_000_000)
            }],
            ..run_of("f1", 1_000_000)
        }];
        let uses: Vec<UseRecord> = records.iter().flat_map(|r| r.uses.clone()).collect();
        let params = batch_pg::params(&records, &uses).expect("params");
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {}", batch_pg::statement()))
            .bind(&params[0])
            .bind(&params[1])
            .bind(&params[2])
            .fetch_all(store.pool())
            .await
            .expect("explain");
        // Every read of the two tables goes through its primary key: the locking read
        // and the update of `connections`, the check of `flows`.
        let plan = plan.join("\n");
        for table in ["connections", "flows"] {
            assert!(
                !plan.contains(&format!("Seq Scan on {table}")),
                "the batch scans {table}:\n{plan}"
            );
        }
        for index in [
            "flows_by_project",
            "connections_project_id_external_id_key",
            "connections_to_announce",
            "connections_key_version",
        ] {
            assert!(!plan.contains(index), "the batch reads {index}:\n{plan}");
        }
        assert!(plan.matches("connections_pkey").count() >= 2, "{plan}");
        assert!(plan.contains("flows_pkey"), "{plan}");
        // And the batch itself.
        let ids = store.record_runs(&records).await.expect("batch");
        assert_eq!(ids.len(), 1);
        assert_eq!(used_events(&store).await.len(), 1);
    }

    /// On PostgreSQL a batch's one statement that lost a flow to a delete after its
    /// snapshot (a foreign-key violation) is tried again; a conflict is not.
    #[tokio::test]
    async fn a_batch_statement_is_tried_again_only_after_losing_a_race() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_two_flows(dir.path()).await;
        let orphan = sqlx::query(
            "INSERT INTO flow_runs (project_id, flow_id, status, report, started_at, \
             finished_at) VALUES ('p1', 'deleted-meanwhile', 'succeeded', '{}', 0, 0)",
        )
        .execute(store.pool())
        .await;
        if store.backend() == Backend::Postgres {
            let e = StoreError::from(orphan.expect_err("the foreign key holds"));
            assert!(batch_pg::worth_retrying(&e), "{e}");
        }
        let twice = store.create_project("p1", "Again").await;
        let e = twice.expect_err("the project exists");
        assert!(!batch_pg::worth_retrying(&e), "{e}");
    }

    #[tokio::test]
    async fn a_run_of_a_deleted_flow_is_dropped_without_failing_its_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_two_flows(dir.path()).await;
        let run = run_of;
        let batch = [
            run("gone", 1),
            run("f1", 2),
            run("f2", 3),
            run("gone", 4),
            run("f1", 5),
        ];
        let ids = store.record_runs(&batch).await.expect("the batch commits");
        assert_eq!((ids[0], ids[3]), (0, 0));
        // Each run's number is its own row's.
        for (i, record) in batch
            .iter()
            .enumerate()
            .filter(|(i, _)| ![0, 3].contains(i))
        {
            let row = store
                .get_run("p1", &record.run.flow_id, ids[i])
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("run {i} has a row"));
            assert_eq!(row.started_at, record.run.started_at);
        }
        assert_eq!(
            store.list_runs("p1", "f1", 10).await.expect("runs").len(),
            2
        );
    }

    /// Each flow keeps its newest RUNS_KEPT runs, and never many more than that, however
    /// the runs of several flows interleave.
    #[tokio::test]
    async fn a_flow_keeps_its_newest_runs_and_not_many_more() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_two_flows(dir.path()).await;
        let mut newest = 0;
        for batch in 0..30 {
            // Runs of two flows take turns (f1 every other run number), seven a batch.
            let records: Vec<RunRecord> = (0..14)
                .map(|i| run_of(if i % 2 == 0 { "f1" } else { "f2" }, batch * 14 + i))
                .collect();
            let ids = store.record_runs(&records).await.expect("runs");
            newest = ids[12];
            for flow in ["f1", "f2"] {
                let kept = store.list_runs("p1", flow, 10_000).await.expect("runs");
                let total = (batch + 1) * 7;
                assert!(kept.len() as i64 >= RUNS_KEPT.min(total), "{}", kept.len());
                assert!(
                    kept.len() as i64 <= RUNS_KEPT + runs::PRUNE_EVERY + 7,
                    "{flow}: {} rows kept",
                    kept.len()
                );
            }
        }
        let listed = store.list_runs("p1", "f1", RUNS_KEPT).await.expect("runs");
        assert_eq!(listed.len() as i64, RUNS_KEPT);
        assert_eq!(listed[0].id, newest);
    }

    #[tokio::test]
    async fn a_migrated_store_is_ready_and_a_closed_one_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&fresh_database(dir.path()).await)
            .await
            .expect("open");
        assert_eq!(store.readiness().await, (true, true));
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 7")
            .execute(store.pool())
            .await
            .expect("forget one migration");
        assert_eq!(store.readiness().await, (true, false));
        store.close().await;
        assert_eq!(store.readiness().await, (false, false));
    }

    /// Every row type reads back by column name through the `Any` driver, and every
    /// status the store writes is a [`ConnectionStatus`] word. SQLite, or PostgreSQL
    /// when `THINKFLEET_TEST_DATABASE` names a server.
    #[tokio::test]
    async fn rows_read_back_by_column_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = fresh_database(dir.path()).await;
        let store = Store::open(&url).await.expect("open");

        store.create_project("p1", "One").await.expect("project");
        let name = store.project_name("p1").await.expect("name");
        assert_eq!(name.as_deref(), Some("One"));
        store
            .create_token("t1", "p1", b"hash")
            .await
            .expect("token");
        let token = store.token("t1").await.expect("token").expect("found");
        assert_eq!(token.project_id, "p1");
        assert_eq!(token.secret_hash, b"hash");

        let new = ConnectionRow {
            id: "c1".into(),
            project_id: "p1".into(),
            external_id: "ext".into(),
            display_name: "Slack".into(),
            piece: "slack".into(),
            auth_type: "oauth2".into(),
            status: ConnectionStatus::Active,
            created_at: 0,
            updated_at: 0,
            last_used_at: None,
            expires_at: Some(1),
            token_issued_at: None,
        };
        let created = NewAuditEvent::for_connection(&new, "created", None);
        let stored = NewConnection {
            row: &new,
            sealed: &sealed("k1", 1),
        };
        store
            .insert_connection(stored, created)
            .await
            .expect("insert");
        let listed = store.list_connections("p1").await.expect("list");
        assert_eq!(listed.len(), 1);
        let row = listed[0].clone();
        assert!(row.has_status(ConnectionStatus::Active));
        assert_eq!((row.expires_at, row.last_used_at), (Some(1), None));
        assert!(row.token_issued_at.is_some() && row.created_at > 0);
        let found = store.find_connection("p1", "ext").await.expect("find");
        assert_eq!(found.as_ref(), Some(&row));
        let credential = store.sealed_credential("p1", "c1").await.expect("sealed");
        assert_eq!(credential, Some(sealed("k1", 1)));
        let by_reference = store.find_by_external_id("p1", "ext").await.expect("ref");
        assert_eq!(by_reference, Some((row.clone(), sealed("k1", 1))));
        let to_rotate = store.rows_to_rotate("k2", 10).await.expect("rotate");
        assert_eq!(to_rotate.len(), 1);
        assert_eq!(
            (to_rotate[0].id.as_str(), to_rotate[0].project_id.as_str()),
            ("c1", "p1")
        );
        assert_eq!(to_rotate[0].sealed, sealed("k1", 1));
        let versions = store.key_versions().await.expect("versions");
        assert_eq!(versions, vec![("k1".to_owned(), 1)]);

        // A refusal in a batch sticks; a later use that works turns `error` back.
        let batch = [used(Some(ConnectionStatus::Error), 5), used(None, 6)];
        store.record_uses(&batch).await.expect("uses");
        let row = store.find_connection("p1", "c1").await.expect("find");
        let row = row.expect("row");
        assert!(row.has_status(ConnectionStatus::Error));
        assert_eq!(row.last_used_at, Some(5));
        store.record_uses(&[used(None, 7)]).await.expect("uses");
        let row = store.find_connection("p1", "c1").await.expect("find");
        let row = row.expect("row");
        assert!(row.has_status(ConnectionStatus::Active));
        assert_eq!(row.last_used_at, Some(7));
        // An active connection's `last_used_at` moves by steps of at least
        // LAST_USE_STEP_MS; a refusal always lands.
        let last_used = |store: Store| async move {
            let row = store.find_connection("p1", "c1").await.expect("find");
            row.expect("row").last_used_at
        };
        store.record_uses(&[used(None, 8)]).await.expect("uses");
        assert_eq!(last_used(store.clone()).await, Some(7));
        store
            .record_uses(&[used(None, 7 + LAST_USE_STEP_MS + 1)])
            .await
            .expect("uses");
        assert_eq!(
            last_used(store.clone()).await,
            Some(7 + LAST_USE_STEP_MS + 1)
        );
        store
            .record_uses(&[used(
                Some(ConnectionStatus::Error),
                7 + LAST_USE_STEP_MS + 2,
            )])
            .await
            .expect("uses");
        let row = store.find_connection("p1", "c1").await.expect("find");
        assert!(row.expect("row").has_status(ConnectionStatus::Error));
        store
            .record_uses(&[used(None, 7 + LAST_USE_STEP_MS + 3)])
            .await
            .expect("uses");
        let row = store.find_connection("p1", "c1").await.expect("find");
        assert!(row.expect("row").has_status(ConnectionStatus::Active));
        let events = store
            .filter_audit(
                "p1",
                &AuditFilter {
                    connection_id: Some("c1"),
                    ..AuditFilter::default()
                },
                None,
                10,
            )
            .await
            .expect("audit");
        let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(
            names,
            [
                "used", "used", "used", "used", "used", "used", "used", "created"
            ]
        );
        assert_eq!(events[0].flow_id.as_deref(), Some("f1"));
        assert_eq!(
            (events[0].at, events[0].detail.as_deref()),
            (7 + LAST_USE_STEP_MS + 3, Some("{}"))
        );

        // The refresh path: a grant that is gone makes the connection `expired`.
        let due = store.refresh_candidates(10, 10).await.expect("due");
        assert_eq!(due, vec![("p1".to_owned(), "c1".to_owned())]);
        let read = store
            .connection_for_refresh("p1", "c1")
            .await
            .expect("read");
        let read = read.expect("row");
        assert_eq!(
            (read.version, read.failures, read.lease_holder.as_str()),
            (1, 0, "")
        );
        assert!(
            store
                .claim_refresh_lease(&read, "me", i64::MAX)
                .await
                .expect("claim")
        );
        let failure = RefreshFailure {
            reason: "revoked",
            expired: true,
            retry_at: 0,
            error_after: 3,
        };
        assert!(
            store
                .record_refresh_failure(&read, &failure)
                .await
                .expect("failure")
        );
        assert!(
            store
                .refresh_candidates(10, 10)
                .await
                .expect("due")
                .is_empty()
        );
        let read = store
            .connection_for_refresh("p1", "c1")
            .await
            .expect("read");
        let read = read.expect("row");
        assert!(read.row.has_status(ConnectionStatus::Expired));
        assert_eq!(read.failures, 1);
        let new_tokens = sealed("k1", 2);
        let refreshed = store.store_refreshed(&read, &new_tokens, Some(99), 0).await;
        assert!(refreshed.expect("refreshed"));
        let read = store
            .connection_for_refresh("p1", "c1")
            .await
            .expect("read");
        let read = read.expect("row");
        assert!(read.row.has_status(ConnectionStatus::Active));
        assert_eq!((read.version, read.sealed), (2, sealed("k1", 2)));

        let flow = FlowRow {
            id: "f1".into(),
            project_id: "p1".into(),
            name: "Daily".into(),
            definition: "{}".into(),
            created_at: 0,
            updated_at: 0,
        };
        store
            .insert_flow(&flow, &["ext".into()])
            .await
            .expect("flow");
        let flows = store.list_flows("p1").await.expect("flows");
        assert_eq!((flows.len(), flows[0].name.as_str()), (1, "Daily"));
        let got = store
            .get_flow("p1", "f1")
            .await
            .expect("flow")
            .expect("found");
        assert_eq!(got, flows[0]);
        let using = store.flows_using("p1", "ext").await.expect("using");
        let daily = FlowRef {
            id: "f1".into(),
            name: "Daily".into(),
        };
        assert_eq!(using, vec![daily]);

        store
            .set_oauth_app("slack", "client", &sealed("k1", 3))
            .await
            .expect("app");
        let app = store.oauth_app("slack").await.expect("app");
        assert_eq!(app, Some(("client".to_owned(), sealed("k1", 3))));
        let apps = store.oauth_apps_to_rotate("k2").await.expect("apps");
        assert_eq!(apps, vec![("slack".to_owned(), sealed("k1", 3))]);
        let state = StateRow {
            id: "s1".into(),
            secret_hash: b"state".to_vec(),
            project_id: "p1".into(),
            request: "{}".into(),
            sealed: sealed("k1", 4),
            expires_at: i64::MAX,
        };
        store.insert_oauth_state(&state).await.expect("state");
        // A wrong secret takes nothing and leaves the state for its owner.
        assert!(
            store
                .take_oauth_state("s1", b"guess")
                .await
                .expect("take")
                .is_none()
        );
        let taken = store
            .take_oauth_state("s1", b"state")
            .await
            .expect("take")
            .expect("found");
        assert_eq!(
            (taken.secret_hash, taken.sealed),
            (state.secret_hash, state.sealed)
        );
        assert!(
            store
                .take_oauth_state("s1", b"state")
                .await
                .expect("take")
                .is_none()
        );
        store.close().await;
    }

    /// A callback's sweep of expired states does not wait for another replica's sweep
    /// (on PostgreSQL; one server per SQLite file), and the expired states go.
    #[tokio::test]
    async fn an_oauth_callback_does_not_wait_for_another_servers_sweep() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&fresh_database(dir.path()).await)
            .await
            .expect("open");
        store.create_project("p1", "One").await.expect("project");
        for (id, expires_at) in [("old1", 1), ("old2", 2), ("live", i64::MAX)] {
            let state = StateRow {
                id: id.into(),
                secret_hash: id.as_bytes().to_vec(),
                project_id: "p1".into(),
                request: "{}".into(),
                sealed: sealed("k1", 4),
                expires_at,
            };
            store.insert_oauth_state(&state).await.expect("state");
        }
        let other_sweep = if store.backend() == Backend::Postgres {
            let mut tx = store.pool().begin().await.expect("begin");
            sqlx::query("DELETE FROM oauth_states WHERE id = 'old1'")
                .execute(&mut *tx)
                .await
                .expect("sweep");
            Some(tx)
        } else {
            None
        };
        // Not a timing: a sweep that waits on the other never ends before it does.
        let taken = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            store.take_oauth_state("live", b"live"),
        )
        .await;
        assert!(
            matches!(taken, Ok(Ok(Some(_)))),
            "the callback waited for the other sweep"
        );
        if let Some(tx) = other_sweep {
            tx.commit().await.expect("commit");
        }
        let left: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM oauth_states")
            .fetch_one(store.pool())
            .await
            .expect("count");
        assert_eq!(left.0, 0);
        store.close().await;
    }
}
