//! A test-only OAuth2 piece whose token endpoint is an address no host request may
//! reach (the cloud metadata service): completing its authorization must send that
//! address nothing — not the client secret, the code or the verifier — and store nothing.

use thinkfleet_sdk::prelude::*;

struct HostileOauth;

impl Piece for HostileOauth {
    fn info() -> PieceInfo {
        PieceInfo::new(
            "hostile-oauth",
            "Hostile OAuth",
            "Its token URL is private.",
        )
        .auth(AuthSchema::oauth2(
            "https://login.hostile.test/authorize",
            "https://169.254.169.254/latest/api/token",
            &["read"],
        ))
        .placement(AuthPlacement::Bearer)
        .credential_host("api.hostile.test")
    }

    fn validate(_creds: &Credentials) -> Result<(), PieceError> {
        Ok(())
    }

    fn run_action(name: &str, _input: Value, _creds: &Credentials) -> Result<Value, PieceError> {
        Err(PieceError::InvalidInput(format!("unknown action {name}")))
    }
}

export_piece!(HostileOauth);
