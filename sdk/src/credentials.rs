//! Typed access to the credentials a call receives.

use crate::{Credentials, CustomValue, PieceError, Secret};

impl Secret {
    /// The secret's value, or `None` when the host applies it itself (`Redacted`).
    pub fn expose(&self) -> Option<&str> {
        match self {
            Secret::Value(v) => Some(v),
            Secret::Redacted => None,
        }
    }

    /// The value, or an error naming `what` when the host withheld it.
    pub fn require(&self, what: &str) -> Result<&str, PieceError> {
        self.expose().ok_or_else(|| {
            PieceError::Other(format!(
                "{what} is applied by the host and not visible to the piece"
            ))
        })
    }
}

impl Credentials {
    /// The secret of a secret-text credential.
    pub fn secret_text(&self) -> Result<&Secret, PieceError> {
        match self {
            Credentials::SecretText(s) => Ok(s),
            _ => Err(wrong_kind("secret text")),
        }
    }

    /// The OAuth2 access token.
    pub fn access_token(&self) -> Result<&Secret, PieceError> {
        match self {
            Credentials::Oauth2(t) => Ok(&t.access_token),
            _ => Err(wrong_kind("OAuth2")),
        }
    }

    /// One field of a custom credential.
    pub fn custom(&self, name: &str) -> Option<&CustomValue> {
        match self {
            Credentials::Custom(fields) => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A custom text or secret field as a string; an error naming it when it is missing.
    pub fn custom_str(&self, name: &str) -> Result<&str, PieceError> {
        match self.custom(name) {
            Some(CustomValue::Text(t)) => Ok(t),
            Some(CustomValue::Secret(s)) => s.require(name),
            Some(_) => Err(PieceError::InvalidCredentials(format!(
                "{name} must be text"
            ))),
            None => Err(PieceError::InvalidCredentials(format!(
                "{name} is required"
            ))),
        }
    }

    /// An optional custom text or secret field: `None` when the user left it out; an
    /// error when it is not text or the host withheld it.
    pub fn custom_optional_str(&self, name: &str) -> Result<Option<&str>, PieceError> {
        match self.custom(name) {
            None => Ok(None),
            Some(_) => self.custom_str(name).map(Some),
        }
    }

    /// A custom number field.
    pub fn custom_number(&self, name: &str) -> Option<f64> {
        match self.custom(name) {
            Some(CustomValue::Number(n)) => Some(*n),
            Some(CustomValue::Text(t)) => t.parse().ok(),
            _ => None,
        }
    }

    /// A custom checkbox field (`false` when absent).
    pub fn custom_flag(&self, name: &str) -> bool {
        matches!(self.custom(name), Some(CustomValue::Flag(true)))
    }
}

fn wrong_kind(expected: &str) -> PieceError {
    PieceError::InvalidCredentials(format!("expected {expected} credentials"))
}
