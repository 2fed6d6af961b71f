//! `leak-scan DIR`: after a test run with `THINKFLEET_LEAK_DIR=DIR`, looks for every
//! secret the suite registered in everything the host left behind there (logs, API
//! responses, SQLite files) and, when `THINKFLEET_TEST_DATABASE` is set, in every
//! PostgreSQL test database (`tf_test_*`, every table as text). Prints each finding by
//! place, form and a digest prefix of the secret, never the secret; exits 1 on any, and
//! 2 when nothing was registered or kept (a scan of nothing proves nothing).

use std::path::PathBuf;
use std::process::ExitCode;
use thinkfleet_tests::leak::{Finding, Patterns, planted};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: leak-scan DIR");
        return ExitCode::from(2);
    };
    let secrets = planted(&dir);
    let patterns = Patterns::new(&secrets);
    let mut findings: Vec<Finding> = Vec::new();
    let (mut files, mut bytes) = (0usize, 0usize);
    for entry in std::fs::read_dir(dir.join("kept"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(content) = std::fs::read(entry.path()) else {
            continue;
        };
        files += 1;
        bytes += content.len();
        let place = entry.file_name().to_string_lossy().into_owned();
        findings.extend(patterns.scan(&place, &content));
    }
    let mut databases = 0usize;
    if let Ok(url) = std::env::var("THINKFLEET_TEST_DATABASE") {
        match postgres_dumps(&url).await {
            Ok(dumps) => {
                for (name, text) in dumps {
                    databases += 1;
                    bytes += text.len();
                    findings.extend(patterns.scan(&format!("postgres:{name}"), text.as_bytes()));
                }
            }
            Err(e) => {
                eprintln!("leak-scan: cannot read the PostgreSQL test databases: {e}");
                return ExitCode::from(2);
            }
        }
    }
    println!(
        "leak-scan: {} secrets registered, {files} files and {databases} PostgreSQL databases ({bytes} bytes) scanned",
        secrets.len()
    );
    if secrets.is_empty() || files == 0 {
        eprintln!(
            "leak-scan: nothing registered or kept under {}; was THINKFLEET_LEAK_DIR set for the run?",
            dir.display()
        );
        return ExitCode::from(2);
    }
    if findings.is_empty() {
        println!("leak-scan: no planted secret found anywhere");
        return ExitCode::SUCCESS;
    }
    for f in &findings {
        println!("LEAK: {} holds secret {} ({})", f.place, f.secret, f.form);
    }
    ExitCode::from(1)
}

/// Every PostgreSQL test database as text: each table's rows (`bytea` as hex).
async fn postgres_dumps(url: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(url).await?;
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT datname FROM pg_database WHERE datname LIKE 'tf\\_test\\_%' ORDER BY datname",
    )
    .fetch_all(&mut admin)
    .await?;
    let base = url::Url::parse(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
    let mut dumps = Vec::new();
    for (name,) in names {
        let mut db_url = base.clone();
        db_url.set_path(&name);
        let mut conn = sqlx::AnyConnection::connect(db_url.as_str()).await?;
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&mut conn)
        .await?;
        let mut text = String::new();
        for (table,) in tables {
            let row: (Option<String>,) = sqlx::query_as(&format!(
                "SELECT string_agg(t::text, ' ') FROM \"{}\" t",
                table.replace('"', "\"\"")
            ))
            .fetch_one(&mut conn)
            .await?;
            text.push_str(&row.0.unwrap_or_default());
            text.push('\n');
        }
        conn.close().await?;
        dumps.push((name, text));
    }
    Ok(dumps)
}
