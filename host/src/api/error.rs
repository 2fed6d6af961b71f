//! The API's one error type: a status, a stable `code` and a human `message`, answered
//! as JSON. Internal failures are logged and answered as a generic 500, so no store or
//! vault detail reaches a client.

use crate::connections::ConnectionError;
use crate::error_code::ErrorCode;
use crate::flows::FlowError;
use crate::oauth::OAuthError;
use crate::trouble::Trouble;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    /// Extra top-level fields of the body (e.g. the flows that block a delete).
    extra: Option<(&'static str, serde_json::Value)>,
    /// With 429: seconds for `Retry-After`.
    retry_after: Option<u64>,
}

/// API results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            extra: None,
            retry_after: None,
        }
    }

    /// 429 `busy`: the project's share of the sandbox (or the whole pool) stayed full
    /// past the queue deadline.
    pub fn busy(retry_after_secs: u64) -> Self {
        let mut err = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Busy,
            format!(
                "the sandbox is busy with this project's other calls; retry in {retry_after_secs} s"
            ),
        );
        err.retry_after = Some(retry_after_secs);
        err
    }

    /// 401: no valid project token.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "a valid project API token is required: Authorization: Bearer <token>",
        )
    }

    /// 404 for a path that names nothing.
    pub fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such endpoint",
        )
    }

    /// 500, logged with its cause; the client learns nothing more.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; see the server log",
        )
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some((key, value)) = self.extra {
            body[key] = value;
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<ConnectionError> for ApiError {
    fn from(e: ConnectionError) -> Self {
        use ConnectionError as E;
        let (status, code) = match &e {
            E::NotFound => (
                StatusCode::NOT_FOUND,
                Trouble::ConnectionNotFound.error_code(),
            ),
            E::UnknownPiece(_) => (StatusCode::NOT_FOUND, ErrorCode::PieceNotFound),
            E::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidRequest),
            E::Rejected(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidCredentials,
            ),
            E::Upstream(_) => (StatusCode::BAD_GATEWAY, ErrorCode::UpstreamError),
            E::Piece(crate::runtime::CallError::Busy { retry_after_secs }) => {
                return ApiError::busy(*retry_after_secs);
            }
            E::Piece(_) => (StatusCode::BAD_GATEWAY, ErrorCode::PieceError),
            E::ExternalIdTaken(_) => (StatusCode::CONFLICT, ErrorCode::ExternalIdTaken),
            E::Expired => (
                StatusCode::CONFLICT,
                Trouble::ConnectionExpired.error_code(),
            ),
            E::InUse(flows) => {
                let mut err = ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::ConnectionInUse,
                    e.to_string(),
                );
                err.extra = Some(("flows", serde_json::json!(flows)));
                return err;
            }
            E::Store(_) | E::Vault(_) => return ApiError::internal(&e),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> Self {
        match &e {
            FlowError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::FlowNotFound,
                e.to_string(),
            ),
            FlowError::Invalid(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidFlow,
                e.to_string(),
            ),
            FlowError::Busy(secs) => ApiError::busy(*secs),
            FlowError::Store(_) => ApiError::internal(&e),
        }
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        match e {
            OAuthError::Connection(c) => c.into(),
            OAuthError::Invalid(m) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                m,
            ),
            OAuthError::Token(t) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::UpstreamError,
                t.to_string(),
            ),
            other => ApiError::internal(&other),
        }
    }
}
