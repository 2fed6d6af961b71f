//! Where a connection's credential goes: only to the hosts the piece names for it
//! (contract 0.2.0's `credential-hosts`, filled per connection where templated), and
//! told before it is given: `piece inspect`, the API's piece view and the New
//! Connection form name them ("Your credential will be sent only to api.openai.com").
//! A piece built against contract 0.1.0 still loads, with every declared host named.

use crate::web_flows::ChatApp;
use crate::web_ui::PASSWORD;
use secrecy::SecretString;
use serde_json::json;
use std::collections::BTreeMap;
use thinkfleet::piece::{Credentials, CustomValue};
use thinkfleet_tests::app::Settings;
use thinkfleet_tests::web::Visitor;
use thinkfleet_tests::{Mock, cache_dir, load, piece_path, runtime, thinkfleet_bin};

#[tokio::test(flavor = "multi_thread")]
async fn the_hosts_that_receive_a_credential_are_named_before_it_is_given() {
    let c = ChatApp::start(Settings::default()).await;
    let api = c.api();
    let (status, openai) = api.get("/pieces/openai").await;
    assert_eq!(status, 200);
    assert_eq!(openai["credential_hosts"], json!(["api.openai.com"]));
    assert_eq!(openai["contract"], "0.2.0");
    assert_eq!(openai["website"], "https://platform.openai.com/");
    let (_, pieces) = api.get("/pieces").await;
    let listed = pieces["pieces"]
        .as_array()
        .expect("pieces")
        .iter()
        .find(|p| p["name"] == "openai")
        .cloned()
        .expect("openai listed");
    assert_eq!(listed["credential_hosts"], json!(["api.openai.com"]));

    let ada = Visitor::new(&c.app.base);
    ada.login("ada@example.com", PASSWORD).await;
    let form = ada.get("/connections/new/openai").await;
    assert!(
        form.body
            .contains("Your credential will be sent only to <code>api.openai.com</code>."),
        "{}",
        form.body
    );

    let out = tokio::process::Command::new(thinkfleet_bin())
        .args([
            "piece",
            "inspect",
            &piece_path("openai").display().to_string(),
        ])
        .env("THINKFLEET_CACHE_DIR", cache_dir())
        .output()
        .await
        .expect("inspect");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("credential sent to: api.openai.com"),
        "{stdout}"
    );
    assert!(
        stdout.contains("contract: thinkfleet:piece@0.2.0"),
        "{stdout}"
    );
}

const PLANTED: &str = "planted-key-51c2e8d0";

fn token() -> Credentials {
    Credentials::SecretText(SecretString::from(PLANTED))
}

fn tenant(subdomain: &str) -> Credentials {
    Credentials::Custom(BTreeMap::from([
        (
            "subdomain".to_owned(),
            CustomValue::Text(subdomain.to_owned()),
        ),
        (
            "api_key".to_owned(),
            CustomValue::Secret(SecretString::from(PLANTED)),
        ),
    ]))
}

/// Every header value a mock received, for a planted-secret search.
fn everything_seen(mock: &Mock) -> String {
    mock.requests()
        .iter()
        .map(|r| format!("{r:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declared_host_not_named_for_the_credential_never_receives_it() {
    // The piece declares `collector.allowed.test` (a host it might control) beside the
    // one it names for its bearer token.
    let api = Mock::start(|_| (200, json!({"ok": true}))).await;
    let collector = Mock::start(|_| (200, json!({"ok": true}))).await;
    let rt = runtime(&[
        ("api.allowed.test", &api),
        ("collector.allowed.test", &collector),
    ]);
    let piece = load(&rt, "misbehave").await;
    assert_eq!(piece.info().credential_hosts, vec!["api.allowed.test"]);
    let out = piece
        .run_action(
            "echo",
            &json!({"url": "https://collector.allowed.test/echo"}),
            &token(),
        )
        .await
        .expect("the request itself is allowed");
    assert_eq!(out["status"], 200);
    let seen = collector.requests();
    assert_eq!(seen.len(), 1);
    // The collector got the guest's own header, not the user's key.
    assert_eq!(seen[0].header("authorization"), "Bearer guest-forged");
    assert!(!everything_seen(&collector).contains(PLANTED));
    // The named host still gets it.
    piece
        .run_action("echo", &json!({}), &token())
        .await
        .expect("echo");
    assert_eq!(
        api.requests()[0].header("authorization"),
        format!("Bearer {PLANTED}")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_templated_credential_host_is_filled_from_the_connections_own_fields() {
    let acme = Mock::start(|_| (200, json!({"tenant": "acme"}))).await;
    let other = Mock::start(|_| (200, json!({"tenant": "other"}))).await;
    let rt = runtime(&[("acme.tenant.test", &acme), ("other.tenant.test", &other)]);
    let piece = load(&rt, "tenant").await;
    assert_eq!(
        piece.info().credential_hosts,
        vec!["{subdomain}.tenant.test"]
    );
    let get = |url: &str| json!({ "url": url });
    // The connection's own host receives the key...
    let out = piece
        .run_action("get", &get("https://acme.tenant.test/me"), &tenant("Acme"))
        .await
        .expect("get");
    assert_eq!(out["status"], 200);
    assert_eq!(acme.requests()[0].header("x-api-key"), PLANTED);
    // ...another customer's host, though declared, does not.
    piece
        .run_action("get", &get("https://other.tenant.test/me"), &tenant("acme"))
        .await
        .expect("get");
    assert_eq!(other.requests()[0].header("x-api-key"), "");
    // A subdomain that would name another host fills nothing: the key goes nowhere.
    for hostile in ["other.tenant.test#", "x/../other", "other.tenant.test/", ""] {
        piece
            .run_action(
                "get",
                &get("https://other.tenant.test/me"),
                &tenant(hostile),
            )
            .await
            .expect("get");
    }
    assert!(!everything_seen(&other).contains(PLANTED));
    assert_eq!(other.requests().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_piece_built_against_contract_0_1_0_still_loads_and_runs() {
    let api = Mock::start(|r| (200, json!({"authorization": r.header("authorization")}))).await;
    let rt = runtime(&[("api.legacy.test", &api)]);
    let piece = load(&rt, "legacy").await;
    let info = piece.info();
    assert_eq!(info.contract, "0.1.0");
    // 0.1.0 cannot name narrower hosts: every declared host is named, and said.
    assert_eq!(info.credential_hosts, vec!["api.legacy.test"]);
    assert_eq!(info.logo, None);
    piece.validate(&token()).await.expect("validate");
    let out = piece
        .run_action("echo", &json!({}), &token())
        .await
        .expect("echo");
    assert_eq!(out["seen"], "redacted");
    assert_eq!(out["status"], 200);
    assert_eq!(
        api.requests()[0].header("authorization"),
        format!("Bearer {PLANTED}")
    );
    // The echoed key is masked before the piece reads it.
    assert!(!out.to_string().contains(PLANTED), "{out}");
}
