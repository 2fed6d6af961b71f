//! Sustained flow-run load, for the tests and the benchmark that drive OAuth2 refresh
//! across replicas: a fixed number of runs kept in flight, spread round-robin over
//! several servers, for a fixed time; every run's outcome and latency is kept.

use crate::client::Client;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One finished run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Which client (server) answered it.
    pub replica: usize,
    /// When it was sent, from the start of the load.
    pub sent: Duration,
    /// How long it took.
    pub latency: Duration,
    /// The HTTP status (0: no answer).
    pub status: u16,
    /// The run's status (`succeeded`, `failed`), or the error when there was no report.
    pub run: String,
    /// The first failed step's error code, if any.
    pub error_code: Option<String>,
}

impl Outcome {
    /// Whether the run succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == 200 && self.run == "succeeded"
    }
}

/// Keeps `in_flight` runs of `flow` going over `clients` for `duration`; returns every
/// run's outcome, in the order they finished.
pub async fn sustain(
    clients: &[Client],
    flow: &str,
    in_flight: usize,
    duration: Duration,
) -> Vec<Outcome> {
    let start = Instant::now();
    let path: Arc<str> = format!("/flows/{flow}/runs").into();
    let workers: Vec<_> = (0..in_flight)
        .map(|w| {
            let replica = w % clients.len();
            let client = clients[replica].clone();
            let path = path.clone();
            tokio::spawn(async move {
                let mut done = Vec::new();
                while start.elapsed() < duration {
                    let sent = start.elapsed();
                    let (status, report) = client.post(&path, &json!({})).await;
                    let error_code = report["steps"]
                        .as_array()
                        .and_then(|steps| steps.iter().find(|s| s["status"] == "failed"))
                        .and_then(|s| s["error"]["code"].as_str())
                        .map(str::to_owned);
                    done.push(Outcome {
                        replica,
                        sent,
                        latency: start.elapsed() - sent,
                        status,
                        run: report["status"]
                            .as_str()
                            .map_or_else(|| report.to_string(), str::to_owned),
                        error_code,
                    });
                }
                done
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("load worker"));
    }
    all
}

/// Summary figures of a load: runs per second and latency percentiles.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// Runs finished per second.
    pub runs_per_sec: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Slowest run.
    pub max: Duration,
}

/// The figures of `outcomes` over `duration`.
pub fn figures(outcomes: &[Outcome], duration: Duration) -> Figures {
    let mut latencies: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Figures {
        runs_per_sec: outcomes.len() as f64 / duration.as_secs_f64(),
        p50: at(0.5),
        p99: at(0.99),
        max: latencies.last().copied().unwrap_or_default(),
    }
}
