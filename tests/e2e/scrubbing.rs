//! What the host masks before a piece's words reach anyone: a service that echoes the
//! credential the host applied has it masked in the call's output and error messages —
//! also when the message is cut to its size cap inside the secret, and when the secret
//! holds characters JSON escapes — and a secret that looks like JSON (`true`, `12345`)
//! never rewrites the output's structure. And the piece itself never reads the applied
//! credential in an echoing service's answer: it is masked before the guest sees it,
//! so an encoding the output scrubber cannot recognise (hex) carries nothing.

use secrecy::SecretString;
use serde_json::{Value, json};
use thinkfleet::piece::{Credentials, PieceError};
use thinkfleet::runtime::CallError;
use thinkfleet_tests::{Mock, load, runtime};

/// A service that answers with the `Authorization` header it received.
async fn echoing_service() -> Mock {
    Mock::start(|r| (200, json!({"auth": r.header("authorization")}))).await
}

fn secret(text: &str) -> Credentials {
    Credentials::SecretText(SecretString::from(text.to_owned()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_cut_at_its_cap_inside_the_secret_shows_none_of_it() {
    const PLANTED: &str = "planted-7f3a9c-secret-0b5e21";
    let api = echoing_service().await;
    let rt = runtime(&[("api.allowed.test", &api)]);
    let piece = load(&rt, "misbehave").await;
    // The body is `{"auth":"Bearer <secret>"}`; the 2,048-byte cap falls 14 bytes into
    // the secret.
    let before_secret = r#"{"auth":"Bearer "#.len();
    let pad = 2048 - before_secret - 14;
    let err = piece
        .run_action("echo_error", &json!({"pad": pad}), &secret(PLANTED))
        .await
        .expect_err("the piece fails on purpose");
    let CallError::Piece(PieceError::Upstream(message)) = &err else {
        panic!("expected the piece's upstream error, got {err}");
    };
    assert!(message.len() <= 2048 + '…'.len_utf8(), "{}", message.len());
    for window in PLANTED.as_bytes().windows(6) {
        let part = std::str::from_utf8(window).expect("ascii");
        assert!(
            !message.contains(part),
            "{part:?} of the secret survived the cut"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_json_escapes_is_masked_in_output_and_errors() {
    const PLANTED: &str = r#"sk-"quoted"\path-4417"#;
    let api = echoing_service().await;
    let rt = runtime(&[("api.allowed.test", &api)]);
    let piece = load(&rt, "misbehave").await;
    let out = piece
        .run_action("echo", &json!({}), &secret(PLANTED))
        .await
        .expect("echo");
    assert_eq!(
        api.requests()[0].header("authorization"),
        format!("Bearer {PLANTED}"),
        "the service got the credential"
    );
    let escaped = serde_json::to_string(PLANTED).expect("json");
    let escaped = &escaped[1..escaped.len() - 1];
    let text = out.to_string();
    for form in [PLANTED, escaped, "quoted", "path-4417"] {
        assert!(!text.contains(form), "{form:?} in {text}");
    }
    assert!(text.contains("[REDACTED]"), "{text}");

    let err = piece
        .run_action("echo_error", &json!({}), &secret(PLANTED))
        .await
        .expect_err("fails on purpose");
    let text = err.to_string();
    for form in [PLANTED, escaped, "path-4417"] {
        assert!(!text.contains(form), "{form:?} in {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_that_looks_like_json_leaves_the_output_intact() {
    let api = echoing_service().await;
    let rt = runtime(&[("api.allowed.test", &api)]);
    let piece = load(&rt, "misbehave").await;
    for planted in ["true", "12345", "null"] {
        let out: Value = piece
            .run_action("echo", &json!({}), &secret(planted))
            .await
            .unwrap_or_else(|e| panic!("echo with secret {planted:?}: {e}"));
        assert_eq!(out["ok"], json!(true), "{planted}: {out}");
        assert_eq!(out["n"], json!(12345), "{planted}: {out}");
        assert_eq!(out["status"], json!(200), "{planted}: {out}");
        let body = out["body"].as_str().expect("body");
        assert!(
            body.contains("Bearer [REDACTED]") && !body.contains(&format!("Bearer {planted}")),
            "{planted}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_piece_never_reads_the_applied_credential_in_an_echoed_answer() {
    const PLANTED: &str = "sk-applied-echo-91f3";
    let api = echoing_service().await;
    let rt = runtime(&[("api.allowed.test", &api)]);
    let piece = load(&rt, "misbehave").await;
    let out = piece
        .run_action("echo_hex", &json!({}), &secret(PLANTED))
        .await
        .expect("echo_hex");
    assert_eq!(
        api.requests()[0].header("authorization"),
        format!("Bearer {PLANTED}"),
        "the service got the credential"
    );
    let hex = out["hex"].as_str().expect("hex");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    let seen = String::from_utf8(bytes).expect("utf8");
    assert!(!seen.contains(PLANTED), "the piece read the key: {seen}");
    assert!(seen.contains("[REDACTED]"), "{seen}");
}
