//! `GET /pieces`, `GET /pieces/{name}`: metadata and auth schemas of the loaded pieces.

use super::extract::ApiPath;
use super::{ApiError, ApiResult, AppState, Project};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Every loaded piece.
pub async fn list(State(state): State<AppState>, _: Project) -> ApiResult<Json<Value>> {
    let pieces: Vec<_> = state
        .connections
        .catalog()
        .iter()
        .map(|p| p.info())
        .collect();
    Ok(Json(json!({ "pieces": pieces })))
}

/// One piece.
pub async fn show(
    State(state): State<AppState>,
    _: Project,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let piece = state.connections.catalog().get(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "piece_not_found",
            format!("Piece not found: {name}"),
        )
    })?;
    Ok(Json(json!(piece.info())))
}
