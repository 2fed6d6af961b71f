//! A test-only piece for a service with one host per customer: the connection names
//! its `subdomain`, and the host sends the API key to `{subdomain}.tenant.test` only.
//! `get` fetches any URL the test gives (within `*.tenant.test`) and reports what came
//! back, so a test can see which hosts received the key.

use thinkfleet_sdk::prelude::*;

struct Tenant;

impl Piece for Tenant {
    fn info() -> PieceInfo {
        PieceInfo::new("tenant", "Tenant", "One host per customer.")
            .auth(AuthSchema::custom(vec![
                Prop::short_text("subdomain", "Subdomain").required(),
                Prop::secret("api_key", "API key").required(),
            ]))
            .placement(AuthPlacement::header("X-Api-Key", "{api_key}"))
            .allow_host("*.tenant.test")
            .credential_host("{subdomain}.tenant.test")
            .website("https://tenant.test")
            .action(
                Action::new("get", "Get", "Fetches a URL.").prop(Prop::short_text("url", "URL")),
            )
    }

    fn validate(_creds: &Credentials) -> Result<(), PieceError> {
        Ok(())
    }

    fn run_action(name: &str, input: Value, _creds: &Credentials) -> Result<Value, PieceError> {
        match name {
            "get" => {
                let url = input["url"].as_str().unwrap_or_default();
                let res = http::Request::get(url).send()?;
                Ok(json!({"status": res.status, "body": res.text()}))
            }
            other => Err(PieceError::InvalidInput(format!("unknown action {other}"))),
        }
    }
}

export_piece!(Tenant);
