//! Probes for operators and load balancers, outside `/api/v1` and without a token:
//! `/healthz` (the process serves) and `/readyz` (the store answers, every migration
//! this binary embeds is applied, pieces are loaded). They say nothing else.

use super::AppState;
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
