//! `thinkfleet-sdk`: everything a piece author needs to write a ThinkFleet piece.
//!
//! A piece is a WebAssembly component (`wasm32-wasip2`) that declares its metadata, the
//! one kind of credential it needs, a `validate` function and its actions. The host
//! renders connection forms from that schema, stores the credentials encrypted and calls
//! the piece in a sandbox. This crate hides the WIT bindings: implement [`Piece`], call
//! [`export_piece!`], build with `cargo build --target wasm32-wasip2`.
//!
//! # Example
//!
//! ```no_run
//! use thinkfleet_sdk::prelude::*;
//!
//! struct Weather;
//!
//! impl Piece for Weather {
//!     fn info() -> PieceInfo {
//!         PieceInfo::new("weather", "Weather", "Current weather by city.")
//!             .auth(AuthSchema::secret_text("API key", "Your weather.example key."))
//!             // The host puts `Authorization: Bearer <key>` on requests to this host
//!             // and no other; the piece itself only ever sees `Secret::Redacted`.
//!             .placement(AuthPlacement::Bearer)
//!             .credential_host("api.weather.example")
//!             .action(Action::new("current", "Current weather", "Weather now in a city.")
//!                 .prop(Prop::short_text("city", "City").required()))
//!     }
//!
//!     fn validate(_creds: &Credentials) -> Result<(), PieceError> {
//!         // 401/403 become "invalid credentials", other failures "upstream".
//!         http::Request::get("https://api.weather.example/v1/me").send()?.checked("Weather")?;
//!         Ok(())
//!     }
//!
//!     fn run_action(name: &str, input: Value, _creds: &Credentials) -> Result<Value, PieceError> {
//!         match name {
//!             "current" => {
//!                 let city = input["city"].as_str().ok_or_else(|| PieceError::InvalidInput("city is required".into()))?;
//!                 let url = format!("https://api.weather.example/v1/current?city={city}");
//!                 http::Request::get(&url).send()?.checked("Weather")?.json()
//!             }
//!             other => Err(PieceError::InvalidInput(format!("unknown action {other}"))),
//!         }
//!     }
//! }
//!
//! export_piece!(Weather);
//! ```
#![deny(missing_docs)]

mod builders;
mod credentials;
pub mod http;
pub mod log;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[doc(hidden)]
pub mod wit {
    //! Generated WIT bindings; piece authors never use these directly.
    #![allow(missing_docs)]
    wit_bindgen::generate!({
        path: "../wit",
        world: "piece-world",
        pub_export_macro: true,
        export_macro_name: "__export_piece_world",
        default_bindings_module: "thinkfleet_sdk::wit",
    });
}

#[doc(hidden)]
pub mod wit_session {
    //! Generated bindings of the optional `session` export; its types are `wit`'s.
    #![allow(missing_docs)]
    wit_bindgen::generate!({
        path: "../wit",
        world: "session-world",
        pub_export_macro: true,
        export_macro_name: "__export_session_world",
        default_bindings_module: "thinkfleet_sdk::wit_session",
        with: {
            "thinkfleet:piece/types@0.2.0": crate::wit::thinkfleet::piece::types,
            "thinkfleet:piece/host-log@0.2.0": crate::wit::thinkfleet::piece::host_log,
        },
    });
}

pub use serde_json::{Value, json};
pub use wit::thinkfleet::piece::types::{
    Action, AuthPlacement, AuthSchema, BasicConfig, BasicCredentials, Choice, Credentials,
    CustomValue, Oauth2Config, Oauth2Token, PieceError, PieceInfo, Prop, PropKind, Secret,
    SecretTextConfig, Template, TokenAuth,
};
pub use wit_session::exports::thinkfleet::piece::session::SessionToken;

/// What a piece implements. Exported with [`export_piece!`].
pub trait Piece {
    /// Metadata and auth schema. Must not make outbound calls.
    fn info() -> PieceInfo;
    /// Checks the credentials, usually with one cheap authenticated call to the service.
    fn validate(creds: &Credentials) -> Result<(), PieceError>;
    /// Runs the action `name` with a JSON input and returns its JSON output.
    fn run_action(name: &str, input: Value, creds: &Credentials) -> Result<Value, PieceError>;
}

/// A piece whose custom credential opens short-lived sessions (a login answering a
/// session token). Exported with `export_piece!(MyPiece, session)`: the host calls
/// [`Session::refresh`] when a connection is made or reconnected, and again before the
/// session expires — once across all its servers — and hands the session's fields to
/// every `validate` and `run_action` as secrets beside the entered ones.
pub trait Session: Piece {
    /// Opens a session with the connection's entered fields (secrets in the clear: the
    /// piece presents them to log in). `InvalidCredentials` means they no longer open
    /// sessions: the connection is marked expired until the user reconnects.
    fn refresh(creds: &Credentials) -> Result<SessionToken, PieceError>;
}

/// Everything a piece usually needs, in one import.
pub mod prelude {
    pub use crate::{
        Action, AuthPlacement, AuthSchema, Credentials, CustomValue, Piece, PieceError, PieceInfo,
        Prop, Secret, Session, SessionToken, Template, Value, export_piece, http, json, log,
    };
}

#[doc(hidden)]
pub mod __private {
    //! Glue used by [`export_piece!`](crate::export_piece).
    #![allow(missing_docs)]
    use super::*;

    pub fn run_action<P: Piece>(
        name: String,
        input: String,
        creds: Credentials,
    ) -> Result<String, PieceError> {
        let input: Value = if input.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(&input)
                .map_err(|e| PieceError::InvalidInput(format!("input is not JSON: {e}")))?
        };
        let output = P::run_action(&name, input, &creds)?;
        Ok(output.to_string())
    }
}

/// Exports a type implementing [`Piece`] as the component's `thinkfleet:piece/piece`;
/// `export_piece!(MyPiece, session)` also exports its [`Session`] as
/// `thinkfleet:piece/session`.
///
/// Use it once per piece crate, which must be a `cdylib`.
#[macro_export]
macro_rules! export_piece {
    ($piece:ty, session) => {
        $crate::export_piece!($piece);

        impl $crate::wit_session::exports::thinkfleet::piece::session::Guest
            for __ThinkfleetPieceExport
        {
            fn refresh(
                creds: $crate::Credentials,
            ) -> Result<$crate::SessionToken, $crate::PieceError> {
                <$piece as $crate::Session>::refresh(&creds)
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::wit_session::__export_session_world!(
            __ThinkfleetPieceExport with_types_in $crate::wit_session
        );
    };
    ($piece:ty) => {
        #[doc(hidden)]
        pub struct __ThinkfleetPieceExport;

        impl $crate::wit::exports::thinkfleet::piece::piece::Guest for __ThinkfleetPieceExport {
            fn info() -> $crate::PieceInfo {
                <$piece as $crate::Piece>::info()
            }
            fn validate(creds: $crate::Credentials) -> Result<(), $crate::PieceError> {
                <$piece as $crate::Piece>::validate(&creds)
            }
            fn run_action(
                name: String,
                input: String,
                creds: $crate::Credentials,
            ) -> Result<String, $crate::PieceError> {
                $crate::__private::run_action::<$piece>(name, input, creds)
            }
        }

        // The component's exports exist only in the wasm32 build: a native build of the
        // crate (`cargo build --workspace`, unit tests on the host) links without them.
        #[cfg(target_arch = "wasm32")]
        $crate::wit::__export_piece_world!(__ThinkfleetPieceExport with_types_in $crate::wit);
    };
}
