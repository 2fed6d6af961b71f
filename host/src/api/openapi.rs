//! `GET /openapi.json`: the API's OpenAPI 3.1 document, kept beside the code it
//! describes (`openapi.json`); a test checks every route is in it.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as written.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Serves the document.
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
