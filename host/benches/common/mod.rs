//! What the benches share: the credentials of the `postgres` piece's `validate`.

use secrecy::SecretString;
use thinkfleet::piece::{Credentials, CustomValue};

/// Custom credentials the `postgres` piece accepts (a format check, no connection).
pub fn postgres_creds() -> Credentials {
    let text = |s: &str| CustomValue::Text(s.into());
    Credentials::Custom(
        [
            ("host".to_string(), text("db.example.com")),
            ("database".to_string(), text("app")),
            ("user".to_string(), text("svc")),
            (
                "password".to_string(),
                CustomValue::Secret(SecretString::from("pw")),
            ),
        ]
        .into_iter()
        .collect(),
    )
}
