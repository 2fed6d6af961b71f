//! The three troubleshooting errors of the product docs, in one table: their stable
//! code, the exact words users see, and the fix the docs give. Flow runs, the API and
//! the pages all take them from here. Their codes are in [`ErrorCode`]'s table.

use crate::error_code::ErrorCode;

/// A connection problem a user fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// The reference names no connection of the project (missing, deleted, another
    /// project's).
    ConnectionNotFound,
    /// The refresh token was revoked or its lifetime ended.
    ConnectionExpired,
    /// The service refused the credential.
    InvalidApiKey,
}

impl Trouble {
    /// The stable code (API bodies, step errors).
    pub const fn error_code(self) -> ErrorCode {
        match self {
            Trouble::ConnectionNotFound => ErrorCode::ConnectionNotFound,
            Trouble::ConnectionExpired => ErrorCode::ConnectionExpired,
            Trouble::InvalidApiKey => ErrorCode::InvalidApiKey,
        }
    }

    /// The stable code's text.
    pub const fn code(self) -> &'static str {
        self.error_code().as_str()
    }

    /// The trouble with this stable code, if it is one of the three.
    pub fn from_code(code: &str) -> Option<Trouble> {
        [
            Trouble::ConnectionNotFound,
            Trouble::ConnectionExpired,
            Trouble::InvalidApiKey,
        ]
        .into_iter()
        .find(|t| t.code() == code)
    }

    /// The words users see.
    pub const fn message(self) -> &'static str {
        match self {
            Trouble::ConnectionNotFound => "Connection not found",
            Trouble::ConnectionExpired => "Connection expired",
            Trouble::InvalidApiKey => "Invalid API key",
        }
    }

    /// What fixes it.
    pub const fn fix(self) -> &'static str {
        match self {
            Trouble::ConnectionNotFound => {
                "Edit the flow step and select a valid connection from the dropdown."
            }
            Trouble::ConnectionExpired | Trouble::InvalidApiKey => {
                "Open the connection and click Reconnect."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_messages_in_snake_case() {
        for t in [
            Trouble::ConnectionNotFound,
            Trouble::ConnectionExpired,
            Trouble::InvalidApiKey,
        ] {
            assert_eq!(t.code(), t.message().to_lowercase().replace(' ', "_"));
            assert!(!t.fix().is_empty());
            assert_eq!(Trouble::from_code(t.code()), Some(t));
        }
    }
}
