//! The suite-wide secret-leak scan. Every secret that goes into the host during the
//! suite is registered ([`plant`]): credentials a test client posts, passwords a
//! visitor types, tokens the test OAuth provider issues, secrets a test names. What the
//! host leaves behind is kept as the suite goes ([`keep`]): each app's log and the API
//! responses its clients received, each SQLite data directory's database files before
//! it is deleted. After the run, `leak-scan` (`tests/src/bin/leak_scan.rs`) looks for
//! every registered secret, in every form a leak takes (raw, hex, base64, URL-encoded,
//! JSON-escaped), in all of it and in every PostgreSQL test database, and names each
//! place (never the secret).
//!
//! Collection is on when `THINKFLEET_LEAK_DIR` names a directory (`.ci/run` sets it);
//! otherwise [`plant`] and [`keep`] do nothing, and a local `cargo test` stays as fast.

use base64::Engine as _;
use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The shortest secret registered: shorter values (`pw`, `12345`) occur by chance in
/// any database file.
pub const MIN_SECRET: usize = 8;

/// The collection directory, when collection is on.
fn dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(std::env::var_os("THINKFLEET_LEAK_DIR")?);
        for sub in ["planted", "kept"] {
            std::fs::create_dir_all(dir.join(sub)).ok()?;
        }
        Some(dir)
    })
    .as_deref()
}

/// Registers a secret that must never come back out of the host. Secrets shorter than
/// [`MIN_SECRET`] are not registered.
pub fn plant(secret: &str) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let Some(dir) = dir() else { return };
    if secret.len() < MIN_SECRET {
        return;
    }
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if !seen.insert(secret.to_owned()) {
        return;
    }
    // Hex, one per line: the list itself holds no secret in a form the scan looks for.
    let path = dir
        .join("planted")
        .join(format!("{}.hex", std::process::id()));
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{}", hex::encode(secret.as_bytes()));
    }
}

/// Whether a form or JSON field of this name carries a secret: the credential fields
/// (`secret_text`, `password`, `client_secret`) and custom props named like one.
pub fn secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "secret_text" | "password" | "client_secret" | "access_token" | "refresh_token"
    ) || (["key", "secret", "password"]
        .iter()
        .any(|w| name.contains(w))
        && !name.ends_with("_url"))
}

/// Registers the secrets of a JSON body the host is sent: the credential fields of a
/// connection's `value` (and its custom `props`) and any `client_secret`.
pub fn plant_json(body: &serde_json::Value) {
    match body {
        serde_json::Value::Object(fields) => {
            for (name, value) in fields {
                match value {
                    serde_json::Value::String(s) if secret_field(name) => plant(s),
                    other => plant_json(other),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(plant_json),
        _ => {}
    }
}

/// Keeps what the host left behind (`kind`: `log`, `responses`, `sqlite`…) for the
/// scan.
pub fn keep(kind: &str, bytes: &[u8]) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let Some(dir) = dir() else { return };
    if bytes.is_empty() {
        return;
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = dir
        .join("kept")
        .join(format!("{kind}-{}-{n}", std::process::id()));
    let _ = std::fs::write(path, bytes);
}

/// The forms in which a secret shows up when it leaks.
pub fn forms(secret: &str) -> Vec<(&'static str, String)> {
    let bytes = secret.as_bytes();
    let json = serde_json::to_string(secret).unwrap_or_default();
    let mut forms = vec![
        ("raw", secret.to_owned()),
        ("hex", hex::encode(bytes)),
        ("HEX", hex::encode_upper(bytes)),
        ("base64", base64_at(bytes, 0)),
        // Inside a longer encoded text (`user:password` in a Basic header), a secret's
        // base64 depends on where it starts: its two other alignments.
        ("base64", base64_at(bytes, 1)),
        ("base64", base64_at(bytes, 2)),
        (
            "url-encoded",
            url::form_urlencoded::byte_serialize(bytes).collect(),
        ),
        ("json-escaped", json.trim_matches('"').to_owned()),
    ];
    forms.sort_by(|a, b| a.1.cmp(&b.1));
    forms.dedup_by(|a, b| a.1 == b.1);
    forms
}

/// The base64 characters that encode only `secret` when it starts `offset` bytes into
/// an encoded text (0, 1 or 2): those a leak shows whatever surrounds it.
fn base64_at(secret: &[u8], offset: usize) -> String {
    let mut text = vec![0u8; offset];
    text.extend_from_slice(secret);
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&text);
    let start = (offset * 4).div_ceil(3);
    let end = (text.len() * 4 / 3).min(encoded.len());
    encoded.get(start..end).unwrap_or_default().to_owned()
}

/// One leak found: where, in which form, and a short fingerprint of which secret (the
/// first characters of its SHA-256), never the secret.
#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    /// The file or database.
    pub place: String,
    /// The form it took.
    pub form: &'static str,
    /// `sha256:` and 12 hex characters of the secret's digest.
    pub secret: String,
}

/// Every form of every secret, compiled once for scanning many files.
pub struct Patterns {
    matcher: aho_corasick::AhoCorasick,
    /// For each pattern: its form and the secret's fingerprint.
    what: Vec<(&'static str, String)>,
}

impl Patterns {
    /// Compiles the forms of `secrets`.
    pub fn new(secrets: &[String]) -> Patterns {
        use sha2::Digest as _;
        let mut patterns = Vec::new();
        let mut what = Vec::new();
        for secret in secrets {
            let digest = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
            for (form, pattern) in forms(secret) {
                patterns.push(pattern);
                what.push((form, format!("sha256:{}", &digest[..12])));
            }
        }
        let matcher = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::Standard)
            .build(&patterns)
            .expect("the secrets' patterns compile");
        Patterns { matcher, what }
    }

    /// Looks for every pattern in `text`, reporting each (form, secret) once.
    pub fn scan(&self, place: &str, text: &[u8]) -> Vec<Finding> {
        let mut hit = vec![false; self.what.len()];
        for m in self.matcher.find_overlapping_iter(text) {
            hit[m.pattern().as_usize()] = true;
        }
        hit.iter()
            .enumerate()
            .filter(|(_, h)| **h)
            .map(|(i, _)| Finding {
                place: place.to_owned(),
                form: self.what[i].0,
                secret: self.what[i].1.clone(),
            })
            .collect()
    }
}

/// Every row of every table of a PostgreSQL database's `public` schema, as text
/// (`bytea` as hex), a table a line: what a stolen dump would show.
pub async fn dump_tables(conn: &mut sqlx::AnyConnection) -> Result<String, sqlx::Error> {
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut text = String::new();
    for (table,) in tables {
        let row: (Option<String>,) = sqlx::query_as(&format!(
            "SELECT string_agg(t::text, ' ') FROM \"{}\" t",
            table.replace('"', "\"\"")
        ))
        .fetch_one(&mut *conn)
        .await?;
        text.push_str(&row.0.unwrap_or_default());
        text.push('\n');
    }
    Ok(text)
}

/// The secrets registered in a collection directory.
pub fn planted(dir: &Path) -> Vec<String> {
    let mut secrets: Vec<String> = std::fs::read_dir(dir.join("planted"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| hex::decode(l.trim()).ok())
                .filter_map(|b| String::from_utf8(b).ok())
                .collect::<Vec<_>>()
        })
        .collect();
    secrets.sort();
    secrets.dedup();
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_is_found_and_reported_without_it() {
        let secret = "sk-planted/42 \"x\"".to_string();
        let hay = format!(
            "a {} b {} c",
            hex::encode(secret.as_bytes()),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>()
        );
        let patterns = Patterns::new(std::slice::from_ref(&secret));
        let found = patterns.scan("log", hay.as_bytes());
        let mut forms: Vec<&str> = found.iter().map(|f| f.form).collect();
        forms.sort();
        assert_eq!(forms, vec!["hex", "url-encoded"]);
        assert!(!format!("{found:?}").contains("planted"));
        assert!(patterns.scan("log", b"nothing here").is_empty());
    }

    #[test]
    fn a_secret_is_found_inside_a_longer_base64_text() {
        let secret = "pw-planted-0042".to_string();
        let patterns = Patterns::new(std::slice::from_ref(&secret));
        for user in ["a", "ab", "abc"] {
            let header =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
            let found = patterns.scan("log", header.as_bytes());
            assert!(found.iter().any(|f| f.form == "base64"), "{user}: {header}");
        }
    }

    #[test]
    fn credential_fields_are_told_from_settings() {
        for name in [
            "secret_text",
            "password",
            "api_key",
            "secret_key",
            "client_secret",
        ] {
            assert!(secret_field(name), "{name}");
        }
        for name in [
            "host",
            "username",
            "external_id",
            "token_url",
            "display_name",
        ] {
            assert!(!secret_field(name), "{name}");
        }
    }
}
