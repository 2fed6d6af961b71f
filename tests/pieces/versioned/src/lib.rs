//! A test-only piece that says which version of it answered, built twice from this one
//! source (`piece-versioned` 1.0.0 and `piece-versioned-two` 2.0.0), so a test can
//! install one, upgrade to the other on a live host and see which version served each
//! call. `wait` holds its call open on a request to `slow.versioned.test` (the test's
//! mock answers when the test says), so an upgrade can happen while it runs.

use thinkfleet_sdk::prelude::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");

struct Versioned;

impl Piece for Versioned {
    fn info() -> PieceInfo {
        PieceInfo::new("versioned", "Versioned", "Says which version answered.")
            .version(VERSION)
            .allow_host("slow.versioned.test")
            .action(Action::new(
                "version",
                "Version",
                "Answers with its version.",
            ))
            .action(
                Action::new("wait", "Wait", "Answers once the slow host does.")
                    .prop(Prop::short_text("url", "URL")),
            )
    }

    fn validate(_creds: &Credentials) -> Result<(), PieceError> {
        Ok(())
    }

    fn run_action(name: &str, input: Value, _creds: &Credentials) -> Result<Value, PieceError> {
        match name {
            "version" => Ok(json!({"version": VERSION})),
            "wait" => {
                let url = input["url"]
                    .as_str()
                    .unwrap_or("https://slow.versioned.test/wait");
                let res = http::Request::get(url).send()?;
                Ok(json!({"version": VERSION, "status": res.status}))
            }
            other => Err(PieceError::InvalidInput(format!("unknown action {other}"))),
        }
    }
}

export_piece!(Versioned);
