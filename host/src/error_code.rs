//! Every stable error code the product answers — API error bodies, flow step errors,
//! agents' tool errors, webhook events — in one table. A code is part of the contract:
//! clients match on it, so it never changes once shipped.

use serde::{Serialize, Serializer};
use std::fmt;

/// A stable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A piece's action failed for a reason of its own.
    ActionFailed,
    /// The project has no live agent token with that id.
    AgentNotFound,
    /// The request body is larger than the endpoint takes.
    BodyTooLarge,
    /// No sandbox slot within the queue deadline; retry after `Retry-After`.
    Busy,
    /// A webhook event: the app refused the connection, or refreshing it kept failing.
    ConnectionError,
    /// The connection's grant was revoked or ended; reconnect it.
    ConnectionExpired,
    /// Flows use the connection; the delete must be confirmed.
    ConnectionInUse,
    /// The reference names no connection of the project.
    ConnectionNotFound,
    /// A step's connection is for another piece.
    ConnectionPieceMismatch,
    /// Another connection of the project has that external id.
    ExternalIdTaken,
    /// The project has no flow with that id.
    FlowNotFound,
    /// Something failed on the server; its log says what.
    Internal,
    /// The service refused the credential.
    InvalidApiKey,
    /// The JSON body does not have the shape the endpoint takes.
    InvalidBody,
    /// The piece refused the credentials it was given to validate.
    InvalidCredentials,
    /// The flow does not check against the catalog.
    InvalidFlow,
    /// A step's input is not what its action takes.
    InvalidInput,
    /// A path parameter is not valid.
    InvalidPath,
    /// The upload is not a piece this host can load.
    InvalidPiece,
    /// The query string is not valid.
    InvalidQuery,
    /// The request is well formed but not acceptable (a rule of the product).
    InvalidRequest,
    /// A step's input template does not parse or render.
    InvalidTemplate,
    /// The body is not valid JSON.
    MalformedJson,
    /// The endpoint does not take that method.
    MethodNotAllowed,
    /// No such endpoint.
    NotFound,
    /// The piece or the sandbox failed (trap, limit, timeout).
    PieceError,
    /// Flows use the piece; the uninstall must be forced.
    PieceInUse,
    /// A piece loaded from a file has that name.
    PieceNameTaken,
    /// No piece of that name is loaded.
    PieceNotFound,
    /// No installed piece of that name.
    PieceNotInstalled,
    /// The connection's token could not be refreshed.
    RefreshFailed,
    /// The project has no such API token.
    TokenNotFound,
    /// No valid token.
    Unauthorized,
    /// The body's content type is not one the endpoint takes.
    UnsupportedMediaType,
    /// The service behind the piece failed.
    UpstreamError,
    /// The project has no webhook set.
    WebhookNotFound,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 36] = [
        ErrorCode::ActionFailed,
        ErrorCode::AgentNotFound,
        ErrorCode::BodyTooLarge,
        ErrorCode::Busy,
        ErrorCode::ConnectionError,
        ErrorCode::ConnectionExpired,
        ErrorCode::ConnectionInUse,
        ErrorCode::ConnectionNotFound,
        ErrorCode::ConnectionPieceMismatch,
        ErrorCode::ExternalIdTaken,
        ErrorCode::FlowNotFound,
        ErrorCode::Internal,
        ErrorCode::InvalidApiKey,
        ErrorCode::InvalidBody,
        ErrorCode::InvalidCredentials,
        ErrorCode::InvalidFlow,
        ErrorCode::InvalidInput,
        ErrorCode::InvalidPath,
        ErrorCode::InvalidPiece,
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidTemplate,
        ErrorCode::MalformedJson,
        ErrorCode::MethodNotAllowed,
        ErrorCode::NotFound,
        ErrorCode::PieceError,
        ErrorCode::PieceInUse,
        ErrorCode::PieceNameTaken,
        ErrorCode::PieceNotFound,
        ErrorCode::PieceNotInstalled,
        ErrorCode::RefreshFailed,
        ErrorCode::TokenNotFound,
        ErrorCode::Unauthorized,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::UpstreamError,
        ErrorCode::WebhookNotFound,
    ];

    /// The code as clients see it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ActionFailed => "action_failed",
            ErrorCode::AgentNotFound => "agent_not_found",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::Busy => "busy",
            ErrorCode::ConnectionError => "connection_error",
            ErrorCode::ConnectionExpired => "connection_expired",
            ErrorCode::ConnectionInUse => "connection_in_use",
            ErrorCode::ConnectionNotFound => "connection_not_found",
            ErrorCode::ConnectionPieceMismatch => "connection_piece_mismatch",
            ErrorCode::ExternalIdTaken => "external_id_taken",
            ErrorCode::FlowNotFound => "flow_not_found",
            ErrorCode::Internal => "internal",
            ErrorCode::InvalidApiKey => "invalid_api_key",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::InvalidFlow => "invalid_flow",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::InvalidPiece => "invalid_piece",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidTemplate => "invalid_template",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::PieceError => "piece_error",
            ErrorCode::PieceInUse => "piece_in_use",
            ErrorCode::PieceNameTaken => "piece_name_taken",
            ErrorCode::PieceNotFound => "piece_not_found",
            ErrorCode::PieceNotInstalled => "piece_not_installed",
            ErrorCode::RefreshFailed => "refresh_failed",
            ErrorCode::TokenNotFound => "token_not_found",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::UpstreamError => "upstream_error",
            ErrorCode::WebhookNotFound => "webhook_not_found",
        }
    }

    /// The code with this text, if it is one.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn codes_are_distinct_snake_case_words_that_read_back() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(
                text.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    && !text.starts_with('_')
                    && !text.ends_with('_'),
                "{text}"
            );
            assert!(seen.insert(text), "{text} twice");
            assert_eq!(ErrorCode::parse(text), Some(code));
        }
        assert_eq!(ErrorCode::parse("nope"), None);
    }

    #[test]
    fn the_readme_lists_every_code() {
        let readme = include_str!("../../README.md");
        for code in ErrorCode::ALL {
            assert!(
                readme.contains(&format!("| `{code}` |")),
                "README.md does not list `{code}`"
            );
        }
    }
}
