//! The official Python MCP client (`mcp` from PyPI, pinned) for the agent tests, driven
//! through `tests/mcp/agent_client.py`. Its environment is made on first use: a venv
//! under the target directory (`THINKFLEET_TEST_PYTHON` names another interpreter that
//! has `mcp`), kept for later runs.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The `mcp` release the tests speak with.
pub const MCP_VERSION: &str = "2.3.0";

/// An interpreter with `mcp` installed.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(given) = std::env::var_os("THINKFLEET_TEST_PYTHON") {
                return PathBuf::from(given);
            }
            // The profile's directory of the target dir (`target/debug`), beside the
            // build's own outputs.
            let venv = Path::new(env!("OUT_DIR"))
                .join("../../..")
                .join(format!("mcp-{MCP_VERSION}"));
            let python = venv.join("bin/python");
            let ready = venv.join(".ready");
            if ready.exists() {
                return python;
            }
            let run = |program: &Path, args: &[&str]| {
                let out = std::process::Command::new(program)
                    .args(args)
                    .output()
                    .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
                assert!(
                    out.status.success(),
                    "{} {args:?}: {}",
                    program.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            let venv_text = venv.display().to_string();
            run(Path::new("python3"), &["-m", "venv", "--clear", &venv_text]);
            run(
                &python,
                &[
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    &format!("mcp=={MCP_VERSION}"),
                ],
            );
            std::fs::write(&ready, MCP_VERSION).expect("mark the venv ready");
            python
        })
        .clone()
}

/// Connects to `url` as the agent `token`, lists the tools and makes `calls` (a JSON
/// list of `[name, arguments]`); the client's report (see the script). What came back
/// is kept for the suite's leak scan.
pub async fn client(url: &str, token: &str, calls: &Value) -> Value {
    use tokio::io::AsyncWriteExt as _;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp/agent_client.py");
    let python = tokio::task::spawn_blocking(python).await.expect("python");
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .arg(url)
        .arg(token)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the MCP client");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(calls.to_string().as_bytes())
        .await
        .expect("write the calls");
    drop(stdin);
    let out = child.wait_with_output().await.expect("the MCP client");
    crate::leak::keep("mcp", &out.stdout);
    crate::leak::keep("mcp", &out.stderr);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the MCP client's report is not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
