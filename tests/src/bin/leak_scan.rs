//! `leak-scan DIR`: after a test run with `THINKFLEET_LEAK_DIR=DIR`, looks for every
//! secret the suite registered in everything the host left behind there (logs, API
//! responses, SQLite files) and, when `THINKFLEET_TEST_DATABASE` is set, in every
//! PostgreSQL test database (`tf_test_*`, every table as text). Prints each finding by
//! place, form and a digest prefix of the secret, never the secret; exits 1 on any, and
//! 2 when nothing was registered or kept (a scan of nothing proves nothing).

use std::collections::BTreeMap;
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
    let mut bytes = 0usize;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let kept = std::fs::read_dir(dir.join("kept"));
    for entry in kept.into_iter().flatten().flatten() {
        let Ok(content) = std::fs::read(entry.path()) else {
            continue;
        };
        bytes += content.len();
        let place = entry.file_name().to_string_lossy().into_owned();
        let kind = place.split('-').next().unwrap_or_default().to_owned();
        *kinds.entry(kind).or_default() += 1;
        findings.extend(patterns.scan(&place, &content));
    }
    let postgres = std::env::var("THINKFLEET_TEST_DATABASE").ok();
    if let Some(url) = &postgres {
        match postgres_dumps(url).await {
            Ok(dumps) => {
                for (name, text) in dumps {
                    *kinds.entry("postgres".into()).or_default() += 1;
                    bytes += text.len();
                    let place = format!("postgres:{name}");
                    findings.extend(patterns.scan(&place, text.as_bytes()));
                }
            }
            Err(e) => {
                eprintln!("leak-scan: cannot read the PostgreSQL test databases: {e}");
                return ExitCode::from(2);
            }
        }
    }
    println!(
        "leak-scan: {} secrets registered; scanned {kinds:?} ({bytes} bytes)",
        secrets.len()
    );
    // A scan of nothing proves nothing: every kind a run leaves must be there.
    let missing: Vec<&str> = ["log", "responses", "pages", "sqlite"]
        .into_iter()
        .chain(postgres.is_some().then_some("postgres"))
        .filter(|k| !kinds.contains_key(*k))
        .collect();
    if secrets.is_empty() || !missing.is_empty() {
        eprintln!(
            "leak-scan: under {}: {} secrets registered, nothing of {missing:?} kept; \
             was THINKFLEET_LEAK_DIR set for the run?",
            dir.display(),
            secrets.len()
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
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'tf\\_test\\_%' ORDER BY datname",
    )
    .fetch_all(&mut admin)
    .await?;
    let base = url::Url::parse(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
    let mut dumps = Vec::new();
    for (name,) in names {
        let mut db_url = base.clone();
        db_url.set_path(&name);
        let mut conn = sqlx::AnyConnection::connect(db_url.as_str()).await?;
        let text = thinkfleet_tests::leak::dump_tables(&mut conn).await?;
        conn.close().await?;
        dumps.push((name, text));
    }
    Ok(dumps)
}
