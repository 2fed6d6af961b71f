//! Prometheus metrics for operators: recorded through the `metrics` facade where things
//! happen (piece calls, flow runs, OAuth2 refreshes, outbound requests, webhook
//! deliveries) and rendered by `metrics-exporter-prometheus` at `/metrics`, which is off
//! unless `THINKFLEET_METRICS_TOKEN` is set and then asks for that token. Gauges that
//! describe state (connections by status, pool slots in use) are read at scrape time.
//! Labels hold names the operator chose or the code defines — never a user's value.
//!
//! The facade's recorder is process-wide: [`install`] sets it once; until then every
//! record is a no-op.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Histogram buckets of the `_seconds` metrics: 100 µs to 30 s.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0,
];

/// Histogram buckets of the `_rows` metrics: 1 to 512 rows, by powers of two.
const ROW_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once); the handle that renders it, if it could be
/// installed.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_rows".into()), &ROW_BUCKETS)
                })
                .and_then(PrometheusBuilder::install_recorder);
            built
                .inspect_err(|e| tracing::error!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .as_ref()
}

/// A finished piece call: `call` is `info`, `validate` or the action's name.
pub fn piece_call(piece: &str, call: &str, outcome: &'static str, took: Duration) {
    let labels = [
        ("piece", piece.to_owned()),
        ("call", call.to_owned()),
        ("outcome", outcome.to_owned()),
    ];
    ::metrics::counter!("thinkfleet_piece_calls_total", &labels).increment(1);
    ::metrics::histogram!(
        "thinkfleet_piece_call_seconds",
        "piece" => piece.to_owned(),
        "call" => call.to_owned()
    )
    .record(took.as_secs_f64());
}

/// A finished flow run, with the stable code of its failed step.
pub fn flow_run(status: &'static str, error_code: Option<&'static str>, took: Duration) {
    ::metrics::counter!(
        "thinkfleet_flow_runs_total",
        "status" => status,
        "error_code" => error_code.unwrap_or("")
    )
    .increment(1);
    ::metrics::histogram!("thinkfleet_flow_run_seconds").record(took.as_secs_f64());
}

/// A group-committed batch (`store/group.rs`): `writer` names what it writes or reads
/// (`flow runs`, `agent calls`, `API token reads`), `rows` how many requests it served.
/// How full the batches are says what one commit or query costs each request.
pub fn store_batch(writer: &'static str, rows: usize) {
    ::metrics::histogram!("thinkfleet_store_batch_rows", "writer" => writer).record(rows as f64);
}

/// An OAuth2 token refresh: `stored`, `raced` (another replica stored first),
/// `expired` (the grant is gone) or `failed`.
pub fn oauth_refresh(outcome: &'static str) {
    ::metrics::counter!("thinkfleet_oauth_refreshes_total", "outcome" => outcome).increment(1);
}

/// An outbound request of a piece: the answer's status class, or `refused` / `failed`.
pub fn outbound(piece: &str, status: &'static str) {
    ::metrics::counter!(
        "thinkfleet_outbound_requests_total",
        "piece" => piece.to_owned(),
        "status" => status
    )
    .increment(1);
}

/// A webhook delivery attempt: `delivered`, `retrying` or `failed`.
pub fn webhook_attempt(outcome: &'static str) {
    ::metrics::counter!("thinkfleet_webhook_attempts_total", "outcome" => outcome).increment(1);
}

/// The state gauges, set just before a scrape renders.
pub fn state_gauges(connections: &[(String, i64)], slots_in_use: usize, slots: usize) {
    // A status no connection has any more reads 0, not its last count.
    for status in crate::store::ConnectionStatus::ALL {
        ::metrics::gauge!("thinkfleet_connections", "status" => status.as_str()).set(0.0);
    }
    for (status, count) in connections {
        ::metrics::gauge!("thinkfleet_connections", "status" => status.clone()).set(*count as f64);
    }
    ::metrics::gauge!("thinkfleet_sandbox_slots_in_use").set(slots_in_use as f64);
    ::metrics::gauge!("thinkfleet_sandbox_slots").set(slots as f64);
}

/// An HTTP status as its class: `2xx`, `3xx`, `4xx`, `5xx`.
pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
