//! Probes for operators and load balancers, outside `/api/v1` and without a token:
//! `/healthz` (the process serves) and `/readyz` (the store answers, every migration
//! this binary embeds is applied, pieces are loaded). They say nothing else. And
//! `/metrics` (Prometheus text), with the metrics token, when one is configured.

use super::auth::MetricsReader;
use super::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// `GET /healthz`: 200 while the process serves.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when ready to take traffic, else 503; both with each check.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (reachable, migrated) = state.connections.store().readiness().await;
    let pieces = state.connections.catalog().len();
    let ready = reachable && migrated && pieces > 0;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "checks": {
                "store": reachable,
                "migrations": migrated,
                "pieces": pieces,
            },
        })),
    )
}

/// `GET /metrics`: the Prometheus exposition, with the state gauges read now.
pub async fn metrics(
    State(state): State<AppState>,
    _: MetricsReader,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), ApiError> {
    let Some(handle) = crate::metrics::install() else {
        return Err(ApiError::internal(&"the metrics recorder is not installed"));
    };
    let by_status = state
        .connections
        .store()
        .connections_by_status()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let (in_use, slots) = state.connections.catalog().runtime_slots();
    crate::metrics::state_gauges(&by_status, in_use, slots);
    handle.run_upkeep();
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    ))
}
