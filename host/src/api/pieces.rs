//! `GET /pieces`, `GET /pieces/{name}`: metadata and auth schemas of the loaded pieces.

use super::extract::ApiPath;
use super::views::{ErrorBody, PieceList};
use super::{ApiResult, AppState, Project};
use crate::piece::PieceInfo;
use axum::Json;
use axum::extract::State;

/// Every loaded piece.
#[utoipa::path(get, path = "/pieces", tag = "pieces",
    responses(
        (status = 200, description = "The loaded pieces", body = PieceList),
        (status = 401, description = "No valid project token", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>, _: Project) -> ApiResult<Json<PieceList>> {
    let pieces = state
        .connections
        .catalog()
        .iter()
        .map(|p| p.info().clone())
        .collect();
    Ok(Json(PieceList { pieces }))
}

/// One piece.
#[utoipa::path(get, path = "/pieces/{name}", tag = "pieces",
    params(("name" = String, Path, description = "The piece's name")),
    responses(
        (status = 200, description = "The piece: metadata, auth schema, actions", body = PieceInfo),
        (status = 400, description = "Bad path parameter", body = ErrorBody),
        (status = 401, description = "No valid project token", body = ErrorBody),
        (status = 404, description = "Piece not found", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    _: Project,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<PieceInfo>> {
    let piece = state.connections.piece(&name)?;
    Ok(Json(piece.info().clone()))
}
