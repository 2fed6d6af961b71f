//! The API's extractors: [`ApiJson`], [`ApiQuery`] and [`ApiPath`] answer a bad request
//! with the API's JSON error (a stable code and a message that names the JSON path and
//! the kind of problem) instead of axum's plain-text rejections.
//!
//! Messages are built from the error's structure — its category, the path
//! (`serde_path_to_error`) and what the type expected — never from the value sent,
//! which may be a secret typed into the wrong field.

use super::ApiError;
use crate::error_code::ErrorCode;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json);
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::BodyTooLarge,
                    format!(
                        "the body could not be read or exceeds {} bytes",
                        super::MAX_BODY_BYTES
                    ),
                )
            })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value: T = serde_path_to_error::deserialize(&mut de).map_err(body_error)?;
        de.end().map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MalformedJson,
                format!(
                    "the body is not valid JSON: trailing characters at line {}, column {}",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        Ok(ApiJson(value))
    }
}

/// `application/json` or `application/…+json`, parameters aside (axum's rule).
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// The API error for a body that did not deserialize.
fn body_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let message = e.inner().to_string();
    let path = shown_path(e.path(), message.starts_with("unknown field"));
    let inner = e.into_inner();
    match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedJson,
            format!(
                "the body is not valid JSON (line {}, column {})",
                inner.line(),
                inner.column()
            ),
        ),
        serde_json::error::Category::Io | serde_json::error::Category::Data => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidBody,
            format!("`{path}`: {}", describe(&message)),
        ),
    }
}

/// The JSON path as `serde_path_to_error` writes it (`tools[0].connection`, `.` for
/// the top), without its last key when that key is the unknown field: that name is the
/// client's, and a secret pasted as a key must not come back.
fn shown_path(path: &serde_path_to_error::Path, drop_last: bool) -> String {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let kept = match (drop_last, segments.last()) {
        (true, Some(Segment::Map { .. })) => &segments[..segments.len() - 1],
        _ => &segments[..],
    };
    let mut shown = String::new();
    for segment in kept {
        if !shown.is_empty() && !matches!(segment, Segment::Seq { .. }) {
            shown.push('.');
        }
        shown.push_str(&segment.to_string());
    }
    if shown.is_empty() {
        shown.push('.');
    }
    shown
}

/// What serde's message says went wrong, without the value it quotes: the kind of
/// problem, the field or variant names the type declares, and what it expected.
fn describe(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message).trim();
    let expected = message
        .split_once(", expected ")
        .map(|(_, e)| format!(", expected {e}"))
        .unwrap_or_default();
    let kind = if message.starts_with("invalid type") {
        "wrong type"
    } else if message.starts_with("invalid value") {
        "invalid value"
    } else if message.starts_with("unknown variant") {
        "unknown variant"
    } else if message.starts_with("invalid length") {
        return message.to_owned();
    } else if message.starts_with("unknown field") {
        // The name is the client's (a secret pasted as a key would come back); the
        // names the type takes say enough.
        "unknown field"
    } else if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field)
    {
        return format!("missing field `{field}`");
    } else if message.starts_with("duplicate field") {
        return message.to_owned();
    } else {
        "invalid value"
    };
    format!("{kind}{expected}")
}

/// A query string of type `T`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|r| {
                let text = r.body_text();
                let detail = text.split_once(": ").map_or(text.as_str(), |(_, d)| d);
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidQuery,
                    format!("invalid query string: {}", describe(detail)),
                )
            })
    }
}

/// Path parameters of type `T`.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| ApiPath(p))
            .map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidPath,
                    "a path parameter is not valid (percent-encoded UTF-8 expected)",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::{body_error, describe};

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Tool {
        connection: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        tools: Vec<Tool>,
    }

    /// The message an API client gets for `json`.
    fn message(json: &str) -> String {
        let mut de = serde_json::Deserializer::from_str(json);
        let e = serde_path_to_error::deserialize::<_, Body>(&mut de).expect_err(json);
        format!("{:?}", body_error(e))
    }

    #[test]
    fn an_unknown_key_is_never_echoed_but_the_path_to_it_is() {
        let top = message(r#"{"tools": [], "sk-pasted-top": 1}"#);
        assert!(!top.contains("sk-pasted-top"), "{top}");
        let nested = message(r#"{"tools": [{"connection": "c", "sk-pasted-nested": 1}]}"#);
        assert!(!nested.contains("sk-pasted-nested"), "{nested}");
        assert!(
            nested.contains("`tools[0]`: unknown field, expected `connection`"),
            "{nested}"
        );
    }

    #[test]
    fn messages_keep_names_and_expectations_and_drop_values() {
        for (serde, want) in [
            (
                "invalid type: string \"sk-live-123\", expected u64 at line 1 column 9",
                "wrong type, expected u64",
            ),
            (
                "unknown variant `sk-x`, expected one of `basic`, `custom`",
                "unknown variant, expected one of `basic`, `custom`",
            ),
            (
                "unknown field `sk-pasted-as-a-key`, expected `display_name`",
                "unknown field, expected `display_name`",
            ),
            (
                "unknown field `x`, expected one of `a`, `b`",
                "unknown field, expected one of `a`, `b`",
            ),
            ("missing field `value`", "missing field `value`"),
            (
                "invalid value: string \"a\\\"sk-leak\", expected a token",
                "invalid value, expected a token",
            ),
            ("something new \"sk-1\"", "invalid value"),
            ("invalid digit found in string", "invalid value"),
        ] {
            assert_eq!(describe(serde), want, "{serde}");
        }
    }
}
