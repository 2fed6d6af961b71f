//! A test's data home: its own data directory and its own database (a SQLite file, or
//! a fresh PostgreSQL database when `THINKFLEET_TEST_DATABASE` names a server),
//! projects made through the library, and the `thinkfleet` CLI run on it.

use crate::{cache_dir, thinkfleet_bin};
use std::path::Path;
use tokio::process::Command;

/// The environment variable naming a PostgreSQL server (an admin URL such as
/// `postgres://postgres@127.0.0.1:5432/test`) to run the suite against.
pub const TEST_DATABASE_VAR: &str = "THINKFLEET_TEST_DATABASE";

/// The database a test uses: `None` is the SQLite file in the data directory; `Some`
/// is a fresh PostgreSQL database made for this test only.
pub async fn fresh_database() -> Option<String> {
    let admin = std::env::var(TEST_DATABASE_VAR).ok()?;
    sqlx::any::install_default_drivers();
    let name = format!("tf_test_{}", uuid_like());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("connect to THINKFLEET_TEST_DATABASE");
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b)
        .expect("THINKFLEET_TEST_DATABASE ends with /DBNAME");
    Some(format!("{base}/{name}"))
}

/// 16 random hex characters.
pub fn uuid_like() -> String {
    let mut b = [0u8; 8];
    getrandom_fill(&mut b);
    hex::encode(b)
}

fn getrandom_fill(buf: &mut [u8]) {
    use std::io::Read as _;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("random bytes");
}

/// A loopback port that was free a moment ago, for a server that must listen on a port
/// known in advance (and listen there again after a restart). Chosen at random below
/// the kernel's ephemeral range (32768 and up on Linux), which outgoing connections and
/// port-0 listeners draw from: none of them can take it between the check and the
/// server's bind.
pub fn free_port() -> u16 {
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    for _ in 0..1000 {
        let mut b = [0u8; 2];
        getrandom_fill(&mut b);
        let port = LOW + u16::from_le_bytes(b) % SPAN;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where a test's data lives.
pub struct DataHome {
    /// The data directory.
    pub dir: tempfile::TempDir,
    /// The PostgreSQL URL, when the suite runs against PostgreSQL.
    pub database_url: Option<String>,
}

/// A SQLite data directory's database files are kept for the leak scan before the
/// directory is deleted (a PostgreSQL test database outlives the test: the scan reads
/// it where it is).
impl Drop for DataHome {
    fn drop(&mut self) {
        if self.database_url.is_some() {
            return;
        }
        for bytes in self.sqlite_files() {
            crate::leak::keep("sqlite", &bytes);
        }
    }
}

impl DataHome {
    /// A new, empty home with a fresh database.
    pub async fn new() -> DataHome {
        DataHome {
            dir: tempfile::tempdir().expect("tempdir"),
            database_url: fresh_database().await,
        }
    }

    /// The bytes of each SQLite database file in the data directory (`thinkfleet.db`
    /// and its `-wal`, `-shm`…); none on PostgreSQL.
    pub fn sqlite_files(&self) -> Vec<Vec<u8>> {
        std::fs::read_dir(self.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("thinkfleet.db"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .collect()
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The database URL in force (the SQLite default when not PostgreSQL).
    pub fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| thinkfleet::store::default_url(self.path()))
    }

    /// A direct connection to this home's database, for checks behind the API's back.
    pub async fn connect(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        <sqlx::AnyConnection as sqlx::Connection>::connect(&self.url())
            .await
            .expect("connect to the test database")
    }

    /// A `thinkfleet` command on this home's data directory and database.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(thinkfleet_bin());
        cmd.args(args)
            .env("THINKFLEET_DATA_DIR", self.path())
            .env("THINKFLEET_CACHE_DIR", cache_dir())
            .env_remove("THINKFLEET_OUTBOUND_OVERRIDES")
            .env_remove("AP_ENCRYPTION_KEY")
            .env_remove("AP_ENCRYPTION_KEY_PREVIOUS")
            .env_remove("RUST_LOG")
            .kill_on_drop(true);
        match &self.database_url {
            Some(url) => cmd.env("DATABASE_URL", url),
            None => cmd.env_remove("DATABASE_URL"),
        };
        cmd
    }

    /// Runs `thinkfleet ARGS` with `env`; returns (exit code, stdout, stderr).
    pub async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let out = self
            .command(args)
            .envs(env.iter().copied())
            .output()
            .await
            .expect("run thinkfleet");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Creates a project through the library (as `thinkfleet project create` does);
    /// returns (id, first API token).
    pub async fn project(&self, name: &str) -> (String, String) {
        let store = thinkfleet::store::Store::open(&self.url())
            .await
            .expect("open the test store");
        let made = thinkfleet::projects::create_project(&store, name)
            .await
            .expect("create project");
        store.close().await;
        (made.id, thinkfleet::tokens::reveal(&made.token).to_owned())
    }

    /// Makes another API token for `project` through the library (as `thinkfleet token
    /// create` does).
    pub async fn token(&self, project: &str) -> String {
        let store = thinkfleet::store::Store::open(&self.url())
            .await
            .expect("open the test store");
        let token = thinkfleet::projects::create_token(&store, project)
            .await
            .expect("create token");
        store.close().await;
        thinkfleet::tokens::reveal(&token).to_owned()
    }

    /// Creates a web UI user through the library, a member of `projects`.
    pub async fn user(&self, email: &str, password: &str, admin: bool, projects: &[&str]) {
        let store = thinkfleet::store::Store::open(&self.url())
            .await
            .expect("open the test store");
        let accounts = thinkfleet::accounts::Accounts::new(store.clone(), Default::default());
        accounts
            .create_user(email, &password.to_owned().into(), admin)
            .await
            .expect("create user");
        for project in projects {
            accounts
                .add_to_project(email, project)
                .await
                .expect("add to project");
        }
        store.close().await;
    }
}
