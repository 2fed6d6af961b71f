//! `thinkfleet piece new` makes a piece that builds anywhere: for each auth kind, a crate
//! made in a directory outside this workspace is built with plain `cargo build
//! --release`, its native unit test passes, and the CLI inspects it and validates it
//! against a local stand-in for its service — so the guide's first steps cannot rot.

use base64::Engine as _;
use serde_json::json;
use std::path::Path;
use thinkfleet_tests::{Mock, Recorded, cache_dir, cargo_command, thinkfleet_bin};

/// The stand-in service: `GET /v1/me` answers 200 for the scaffold's test credentials
/// (as the host applies them), 401 otherwise.
async fn example_service() -> Mock {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("me:pw-test")
    );
    Mock::start(move |r: &Recorded| {
        let good = r.path == "/v1/me"
            && match (r.header("authorization"), r.header("x-api-key")) {
                ("Bearer sk-test" | "Bearer at-test", _) => true,
                (auth, _) if auth == basic => true,
                (_, "key-test") => true,
                ("", "") => true,
                _ => false,
            };
        if good {
            (200, json!({"id": "me"}))
        } else {
            (401, json!({"error": "unauthorized"}))
        }
    })
    .await
}

/// Runs the CLI; returns (exit code, stdout, stderr).
fn thinkfleet(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(thinkfleet_bin())
        .args(args)
        .env("THINKFLEET_CACHE_DIR", cache_dir())
        .env_remove("THINKFLEET_OUTBOUND_OVERRIDES")
        .output()
        .expect("run thinkfleet");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `cargo ARGS` in `dir`, the pieces sharing one target directory (built once).
fn cargo(dir: &Path, target: &Path, args: &[&str]) {
    let out = cargo_command()
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .args(args)
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_piece_of_each_auth_kind_builds_out_of_the_tree_and_validates() {
    let service = example_service().await;
    let outside = tempfile::tempdir().expect("tempdir");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffolded-pieces");
    let host = host_triple();
    for (kind, good, bad, overridden) in [
        ("none", &[][..], &[][..], "api.example.com"),
        (
            "secret-text",
            &["secret_text=sk-test"][..],
            &["secret_text=sk-wrong"][..],
            "api.example.com",
        ),
        (
            "basic",
            &["username=me", "password=pw-test"][..],
            &["username=me", "password=nope"][..],
            "api.example.com",
        ),
        (
            "oauth2",
            &["access_token=at-test"][..],
            &["access_token=at-wrong"][..],
            "api.example.com",
        ),
        (
            "custom",
            &["subdomain=acme", "api_key=key-test"][..],
            &["subdomain=acme", "api_key=key-wrong"][..],
            "acme.example.com",
        ),
    ] {
        let name = format!("acme-{kind}");
        let dir = outside.path().join(&name);
        let (code, stdout, stderr) = thinkfleet(&[
            "piece",
            "new",
            &name,
            "--auth",
            kind,
            "--dir",
            &dir.display().to_string(),
        ]);
        assert_eq!(code, 0, "piece new --auth {kind}: {stderr}");
        assert!(stdout.contains("cargo build --release"), "{stdout}");
        cargo(&dir, &target, &["build", "--release", "-q"]);
        cargo(&dir, &target, &["test", "-q", "--target", &host]);
        let wasm = target
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let size = std::fs::metadata(&wasm).expect("the component").len();
        assert!(size < 1 << 20, "{kind}: {size} bytes");
        let wasm = wasm.display().to_string();
        let (code, stdout, stderr) = thinkfleet(&["piece", "inspect", &wasm]);
        assert_eq!(code, 0, "inspect {kind}: {stderr}");
        assert!(stdout.contains(&format!("({name})")), "{stdout}");
        assert!(
            stdout.contains("contract: thinkfleet:piece@0.2.0"),
            "{stdout}"
        );
        let route = format!("{overridden}={}", service.base);
        let validate = |fields: &[&str]| {
            let mut args = vec!["piece", "validate", wasm.as_str()];
            for f in fields {
                args.extend(["--auth", f]);
            }
            args.extend(["--outbound-override", route.as_str()]);
            thinkfleet(&args)
        };
        let (code, stdout, stderr) = validate(good);
        assert_eq!(
            (code, stdout.trim()),
            (0, "valid"),
            "validate {kind}: {stderr}"
        );
        if !bad.is_empty() {
            let (code, _, stderr) = validate(bad);
            assert_eq!(code, 1, "validate {kind} with a wrong credential: {stderr}");
            assert!(
                stderr.contains("Invalid API key (Example answered HTTP 401)"),
                "{stderr}"
            );
        }
    }
}

#[test]
fn a_name_that_is_not_a_piece_name_or_a_directory_in_use_is_refused() {
    let (code, _, stderr) = thinkfleet(&["piece", "new", "Bad Name"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("lower-case letters"), "{stderr}");
    let used = tempfile::tempdir().expect("tempdir");
    std::fs::write(used.path().join("notes.txt"), "mine").expect("write");
    let used = used.path().display().to_string();
    let (code, _, stderr) = thinkfleet(&["piece", "new", "again", "--dir", &used]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not empty"), "{stderr}");
}

/// The host's target triple, from `rustc -vV` (the scaffold's tests run natively).
fn host_triple() -> String {
    let out = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .expect("rustc -vV");
    out.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("host triple")
        .to_owned()
}
