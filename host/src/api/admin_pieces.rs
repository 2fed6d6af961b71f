//! `/admin/pieces` (admin token): install or upgrade a piece on the live host, list the
//! installed pieces with their history, uninstall one. The work is
//! [`crate::catalog::Installer`]'s; these handlers read the request and say what
//! happened.

use super::auth::Admin;
use super::extract::{ApiPath, ApiQuery};
use super::views::{ErrorBody, rfc3339};
use super::{ApiError, ApiResult, AppState};
use crate::catalog::{
    InstallError, InstallReport, MAX_COMPONENT_BYTES, Pieces, Source, UninstallError,
};
use crate::error_code::ErrorCode;
use crate::runtime::LoadError;
use crate::store::{InstalledHead, PieceEvent};
use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How many history entries `GET /admin/pieces` returns.
const EVENTS_SHOWN: i64 = 100;

/// These routes. The upload reads its body itself, with its own limit
/// ([`MAX_COMPONENT_BYTES`], checked against `Content-Length` before reading).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, install))
        .routes(routes!(uninstall))
}

/// A component's bytes (`application/octet-stream` or `application/wasm`).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ComponentUpload(#[allow(dead_code)] Vec<u8>);

/// What an install did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstallView {
    /// `install`, `upgrade`, or `unchanged` (these exact bytes were installed already).
    action: String,
    /// The piece's name.
    name: String,
    /// The version now live.
    version: String,
    /// The component's SHA-256, hex.
    sha256: String,
    /// The version it replaced.
    previous_version: Option<String>,
    /// Whether this server offers it now (false when it was stored but loading it here
    /// failed; the server retries every 2 s and logs why).
    live: bool,
}

impl From<InstallReport> for InstallView {
    fn from(r: InstallReport) -> Self {
        InstallView {
            action: r.action.to_owned(),
            name: r.name,
            version: r.version,
            sha256: r.sha256,
            previous_version: r.previous_version,
            live: r.live,
        }
    }
}

/// An installed piece.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstalledPieceView {
    /// The piece's name.
    name: String,
    /// Its version.
    version: String,
    /// The component's SHA-256, hex.
    sha256: String,
    /// When (RFC 3339).
    installed_at: String,
    /// By whom (`admin API (ADDRESS)`, `cli (USER)`).
    installed_by: String,
    /// Whether this server offers exactly this version now (false for a moment after a
    /// change made on another replica, or when a file's piece of the same name is
    /// offered instead, or when this binary cannot load it: its log says which).
    live: bool,
}

impl InstalledPieceView {
    fn of(h: InstalledHead, pieces: &Pieces) -> Self {
        let live = matches!(pieces.source(&h.name), Some(Source::Installed))
            && pieces.get(&h.name).is_some_and(|p| p.digest() == h.sha256);
        InstalledPieceView {
            live,
            name: h.name,
            version: h.version,
            sha256: h.sha256,
            installed_at: rfc3339(h.installed_at),
            installed_by: h.installed_by,
        }
    }
}

/// One entry of the install history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PieceEventView {
    /// The catalog generation this change made (increasing).
    generation: i64,
    /// When (RFC 3339).
    at: String,
    /// `install`, `upgrade` or `uninstall`.
    action: String,
    /// The piece's name.
    name: String,
    /// The version installed (none for an uninstall).
    version: Option<String>,
    /// Its SHA-256.
    sha256: Option<String>,
    /// The version replaced or removed.
    previous_version: Option<String>,
    /// Its SHA-256.
    previous_sha256: Option<String>,
    /// Who did it.
    actor: String,
}

impl From<PieceEvent> for PieceEventView {
    fn from(e: PieceEvent) -> Self {
        PieceEventView {
            generation: e.generation,
            at: rfc3339(e.at),
            action: e.action,
            name: e.name,
            version: e.version,
            sha256: e.sha256,
            previous_version: e.previous_version,
            previous_sha256: e.previous_sha256,
            actor: e.actor,
        }
    }
}

/// The installed pieces and the newest history entries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstalledList {
    /// Installed pieces, by name (the examples and `DATA_DIR/pieces/` files are not here:
    /// see `GET /pieces`).
    pieces: Vec<InstalledPieceView>,
    /// The newest 100 installs, upgrades and uninstalls, newest first.
    events: Vec<PieceEventView>,
}

/// What an uninstall did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UninstallView {
    /// The piece's name.
    name: String,
    /// The version removed.
    removed_version: Option<String>,
    /// Flows that used it (forced uninstall): their steps now fail with `piece_not_found`.
    flows_affected: usize,
    /// Connections of the piece, kept (a reinstall brings them back to use).
    connections: i64,
}

/// Query parameters of an uninstall.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UninstallQuery {
    /// Uninstall even while flows use the piece.
    #[serde(default)]
    force: bool,
}

/// Installs a piece, or upgrades the installed piece of its name: the component is
/// loaded and checked as at start, stored in the database, and live on this server
/// when the answer comes (new calls use it; calls running finish on the old version),
/// on every other replica within seconds.
#[utoipa::path(post, path = "/admin/pieces", tag = "admin",
    security(("adminToken" = [])),
    request_body(content = ComponentUpload, content_type = "application/octet-stream",
        description = "The component (.wasm), at most 32 MiB; `application/wasm` is accepted too"),
    responses(
        (status = 200, description = "These exact bytes are installed already", body = InstallView),
        (status = 201, description = "Installed or upgraded", body = InstallView),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 409, description = "A piece loaded from a file has this name", body = ErrorBody),
        (status = 413, description = "Larger than 32 MiB", body = ErrorBody),
        (status = 415, description = "Not application/octet-stream or application/wasm", body = ErrorBody),
        (status = 422, description = "Not a piece this host can load", body = ErrorBody),
    ))]
pub async fn install(
    State(state): State<AppState>,
    _: Admin,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<InstallView>)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !matches!(
        content_type.as_deref(),
        Some("application/octet-stream" | "application/wasm")
    ) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the component's bytes with Content-Type: application/octet-stream (or \
             application/wasm)",
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_COMPONENT_BYTES as u64) {
        return Err(too_large());
    }
    let body = axum::body::to_bytes(body, MAX_COMPONENT_BYTES)
        .await
        .map_err(|_| too_large())?;
    let report = state
        .installer
        .install(&body, &actor(peer))
        .await
        .map_err(|e| match e {
            InstallError::TooLarge { .. } => too_large(),
            InstallError::Invalid(LoadError::Host(_) | LoadError::Engine(_)) => {
                ApiError::internal(&e)
            }
            InstallError::Invalid(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidPiece,
                e.to_string(),
            ),
            InstallError::NameTaken { .. } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::PieceNameTaken,
                e.to_string(),
            ),
            InstallError::Store(e) => ApiError::internal(&e),
        })?;
    let status = if report.action == "unchanged" {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(report.into())))
}

/// The installed pieces and the newest 100 entries of their history.
#[utoipa::path(get, path = "/admin/pieces", tag = "admin",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "Installed pieces and history", body = InstalledList),
        (status = 401, description = "No valid admin token", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>, _: Admin) -> ApiResult<Json<InstalledList>> {
    let (pieces, events) = state
        .installer
        .installed(EVENTS_SHOWN)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let offered = state.connections.catalog();
    Ok(Json(InstalledList {
        pieces: pieces
            .into_iter()
            .map(|h| InstalledPieceView::of(h, &offered))
            .collect(),
        events: events.into_iter().map(Into::into).collect(),
    }))
}

/// Uninstalls an installed piece; refused while flows use it unless `force=true`.
/// Its connections are kept.
#[utoipa::path(delete, path = "/admin/pieces/{name}", tag = "admin",
    security(("adminToken" = [])),
    params(("name" = String, Path, description = "The piece's name"), UninstallQuery),
    responses(
        (status = 200, description = "Uninstalled", body = UninstallView),
        (status = 400, description = "Bad path or query parameter", body = ErrorBody),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 404, description = "No installed piece of this name", body = ErrorBody),
        (status = 409, description = "Flows use it (the message names them)", body = ErrorBody),
    ))]
pub async fn uninstall(
    State(state): State<AppState>,
    _: Admin,
    Peer(peer): Peer,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<UninstallQuery>,
) -> ApiResult<Json<UninstallView>> {
    let (event, users) = state
        .installer
        .uninstall(&name, q.force, &actor(peer))
        .await
        .map_err(|e| match e {
            UninstallError::NotInstalled { .. } => ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::PieceNotInstalled,
                e.to_string(),
            ),
            UninstallError::InUse { .. } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::PieceInUse, e.to_string())
            }
            UninstallError::Store(e) => ApiError::internal(&e),
        })?;
    Ok(Json(UninstallView {
        name,
        removed_version: event.previous_version,
        flows_affected: users.flows.len(),
        connections: users.connections,
    }))
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::BodyTooLarge,
        format!("the component could not be read or exceeds {MAX_COMPONENT_BYTES} bytes"),
    )
}

/// How the history names an admin API caller: the token is shared, so the address.
fn actor(peer: Option<SocketAddr>) -> String {
    match peer {
        Some(addr) => format!("admin API ({})", addr.ip()),
        None => "admin API".to_owned(),
    }
}

/// The caller's address, when the accept loop recorded it.
pub struct Peer(Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}
