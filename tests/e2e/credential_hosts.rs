//! Where a connection's credential goes, told before it is given: `piece inspect`, the
//! API's piece view and the New Connection form name the hosts that receive it ("Your
//! credential will be sent only to api.openai.com").

use crate::web_flows::ChatApp;
use crate::web_ui::PASSWORD;
use serde_json::json;
use thinkfleet_tests::app::Settings;
use thinkfleet_tests::web::Visitor;
use thinkfleet_tests::{cache_dir, piece_path, thinkfleet_bin};

#[tokio::test(flavor = "multi_thread")]
async fn the_hosts_that_receive_a_credential_are_named_before_it_is_given() {
    let c = ChatApp::start(Settings::default()).await;
    let api = c.api();
    let (status, openai) = api.get("/pieces/openai").await;
    assert_eq!(status, 200);
    assert_eq!(openai["credential_hosts"], json!(["api.openai.com"]));
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
}
