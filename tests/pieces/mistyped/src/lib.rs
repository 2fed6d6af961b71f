//! A test-only component with every export name of `thinkfleet:piece@0.2.0` and a
//! well-formed `info`, but whose `validate` takes a string (`wit/piece.wit` here is the
//! contract with that one change). The host must refuse it when it loads, not install
//! it and fail each later call.

#[allow(unsafe_code, missing_docs)] // generated glue
mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "piece-world",
    });

    #[cfg(target_arch = "wasm32")]
    use super::Mistyped;
    #[cfg(target_arch = "wasm32")]
    export!(Mistyped with_types_in crate::bindings);
}

use bindings::exports::thinkfleet::piece::piece::Guest;
use bindings::thinkfleet::piece::types::{AuthSchema, Credentials, PieceError, PieceInfo};

struct Mistyped;

impl Guest for Mistyped {
    fn info() -> PieceInfo {
        PieceInfo {
            name: "mistyped".into(),
            display_name: "Mistyped".into(),
            version: "0.1.0".into(),
            description: "Its validate has another type than the contract's.".into(),
            logo: None,
            website: None,
            auth: AuthSchema::None,
            placement: None,
            credential_hosts: Vec::new(),
            allowed_hosts: Vec::new(),
            actions: Vec::new(),
        }
    }

    fn validate(_creds: String) -> Result<(), PieceError> {
        Ok(())
    }

    fn run_action(
        _name: String,
        _input: String,
        _creds: Credentials,
    ) -> Result<String, PieceError> {
        Ok("{}".into())
    }
}
