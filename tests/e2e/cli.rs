//! The `thinkfleet piece …` commands, run as the real binary.

use serde_json::{Value, json};
use thinkfleet_tests::{Mock, Recorded, cache_dir, piece_path, thinkfleet_bin};

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn thinkfleet(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = tokio::process::Command::new(thinkfleet_bin())
        .args(args)
        .env("THINKFLEET_CACHE_DIR", cache_dir())
        .env_remove("THINKFLEET_OUTBOUND_OVERRIDES")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run thinkfleet");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn path(name: &str) -> String {
    piece_path(name).display().to_string()
}

async fn openai_mock() -> Mock {
    Mock::start(|r: &Recorded| match r.header("authorization") {
        "Bearer sk-good" if r.path == "/v1/models" => {
            (200, json!({"data": [{"id": "gpt-4o"}, {"id": "o3"}]}))
        }
        _ => (
            401,
            json!({"error": {"message": "Incorrect API key provided"}}),
        ),
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_json_shows_a_secret_text_auth_with_the_field_marked_secret() {
    let out = thinkfleet(&["piece", "inspect", &path("openai"), "--json"], &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let info: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(info["name"], "openai");
    assert_eq!(info["auth"]["type"], "secret_text");
    assert_eq!(info["auth"]["field"]["name"], "secret_text");
    assert_eq!(info["auth"]["field"]["secret"], true);
    assert_eq!(info["auth"]["field"]["kind"]["type"], "secret_text");
    assert_eq!(info["allowed_hosts"], json!(["api.openai.com"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_text_lists_fields_and_actions() {
    let out = thinkfleet(&["piece", "inspect", &path("twilio")], &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("auth: basic"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("password (Auth Token) [required, secret]"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("send_sms"), "{}", out.stdout);
    // Defaults and a dropdown's choices are shown too.
    let out = thinkfleet(&["piece", "inspect", &path("postgres")], &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("- port (Port)\n      default: 5432"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("      choices: require (Encrypt only), verify-ca (Verify the certificate)"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_exits_0_when_valid_and_1_with_the_pieces_message() {
    let api = openai_mock().await;
    let route = format!("api.openai.com={}", api.base);
    let good = thinkfleet(
        &[
            "piece",
            "validate",
            &path("openai"),
            "--auth",
            "secret_text=sk-good",
            "--outbound-override",
            &route,
        ],
        &[],
    )
    .await;
    assert_eq!(
        (good.code, good.stdout.trim()),
        (0, "valid"),
        "{}",
        good.stderr
    );
    let bad = thinkfleet(
        &[
            "piece",
            "validate",
            &path("openai"),
            "--auth",
            "secret_text=sk-bad",
            "--outbound-override",
            &route,
        ],
        &[],
    )
    .await;
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("Invalid API key"), "{}", bad.stderr);
    assert!(
        !bad.stderr.contains("sk-bad"),
        "the secret leaked: {}",
        bad.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_can_come_from_a_file_or_standard_input_instead_of_the_process_list() {
    let api = openai_mock().await;
    let route = format!("api.openai.com={}", api.base);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("openai.auth");
    std::fs::write(&file, "# the key\n\nsecret_text=sk-good\r\n").expect("write");
    let from_file = thinkfleet(
        &[
            "piece",
            "validate",
            &path("openai"),
            "--auth-file",
            &file.display().to_string(),
            "--outbound-override",
            &route,
        ],
        &[],
    )
    .await;
    assert_eq!(
        (from_file.code, from_file.stdout.trim()),
        (0, "valid"),
        "{}",
        from_file.stderr
    );
    // `--auth -`: the same line on standard input.
    let mut child = tokio::process::Command::new(thinkfleet_bin())
        .args(["piece", "validate", &path("openai"), "--auth", "-"])
        .args(["--outbound-override", &route])
        .env("THINKFLEET_CACHE_DIR", cache_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use tokio::io::AsyncWriteExt as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"secret_text=sk-good\n")
            .await
            .expect("write");
    }
    let out = child.wait_with_output().await.expect("wait");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "valid",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A malformed line is named by its number, never shown.
    std::fs::write(&file, "secret_text=sk-good\nsk-oops-planted\n").expect("write");
    let bad = thinkfleet(
        &[
            "piece",
            "validate",
            &path("openai"),
            "--auth-file",
            &file.display().to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("line 2: must look like NAME=VALUE"),
        "{}",
        bad.stderr
    );
    assert!(!bad.stderr.contains("sk-oops"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_shows_the_examples_the_installed_pieces_and_what_is_skipped() {
    let data = tempfile::tempdir().expect("tempdir");
    let installed = data.path().join("pieces");
    std::fs::create_dir_all(&installed).expect("pieces dir");
    std::fs::copy(piece_path("tenant"), installed.join("tenant.wasm")).expect("copy");
    std::fs::write(installed.join("broken.wasm"), b"not wasm").expect("write");
    let out = thinkfleet(
        &[
            "piece",
            "list",
            "--data-dir",
            &data.path().display().to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name}\t")))
            .unwrap_or_else(|| panic!("{name} not listed: {}", out.stdout))
            .to_owned()
    };
    assert!(line("openai").ends_with("openai.wasm"));
    assert!(line("tenant").ends_with(&format!("{}", installed.join("tenant.wasm").display())));
    let skipped = line("(skipped)");
    assert!(
        skipped.contains("broken.wasm") && skipped.contains("not a WebAssembly file"),
        "{skipped}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn overrides_also_come_from_the_environment() {
    let api = openai_mock().await;
    let route = format!(
        "api.example.org=http://127.0.0.1:9,api.openai.com={}",
        api.base
    );
    let out = thinkfleet(
        &[
            "piece",
            "run",
            &path("openai"),
            "list_models",
            "--auth",
            "secret_text=sk-good",
        ],
        &[("THINKFLEET_OUTBOUND_OVERRIDES", &route)],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let output: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(output, json!({"models": ["gpt-4o", "o3"]}));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_error() {
    let not_wasm =
        std::env::temp_dir().join(format!("thinkfleet-not-wasm-{}.wasm", std::process::id()));
    std::fs::write(&not_wasm, "hello").expect("write");
    let out = thinkfleet(&["piece", "inspect", not_wasm.to_str().expect("utf8")], &[]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("not a WebAssembly file"),
        "{}",
        out.stderr
    );
    std::fs::remove_file(&not_wasm).ok();

    let missing = thinkfleet(
        &[
            "piece",
            "validate",
            &path("twilio"),
            "--auth",
            "username=AC1",
        ],
        &[],
    )
    .await;
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("missing required field `password`"),
        "{}",
        missing.stderr
    );

    let unknown = thinkfleet(
        &[
            "piece",
            "run",
            &path("openai"),
            "no_such_action",
            "--auth",
            "secret_text=x",
        ],
        &[],
    )
    .await;
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("has no action \"no_such_action\""),
        "{}",
        unknown.stderr
    );

    let bad_override = thinkfleet(
        &[
            "piece",
            "inspect",
            &path("openai"),
            "--outbound-override",
            "nonsense",
        ],
        &[],
    )
    .await;
    assert_eq!(bad_override.code, 2);
    assert!(
        bad_override.stderr.contains("HOST=BASE_URL"),
        "{}",
        bad_override.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_that_stops_early_ends_the_command_quietly() {
    // `thinkfleet piece inspect … | head -1`: stdout closes after the first read.
    let mut child = tokio::process::Command::new(thinkfleet_bin())
        .args(["piece", "inspect", &path("slack")])
        .env("THINKFLEET_CACHE_DIR", cache_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().await.expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
