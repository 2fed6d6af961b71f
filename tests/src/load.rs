//! Sustained load, for the tests and benchmarks that drive runs across replicas (OAuth2
//! refresh, sessions, MCP calls): a fixed number of requests kept in flight, spread
//! round-robin over several servers, for a fixed time; every request's outcome and
//! latency is kept.

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
    let clients: Arc<[Client]> = clients.into();
    let path: Arc<str> = format!("/flows/{flow}/runs").into();
    keep_in_flight(clients.len(), in_flight, duration, move |replica| {
        let (client, path) = (clients[replica].clone(), path.clone());
        async move {
            let (status, report) = client.post(&path, &json!({})).await;
            let error_code = report["steps"]
                .as_array()
                .and_then(|steps| steps.iter().find(|s| s["status"] == "failed"))
                .and_then(|s| s["error"]["code"].as_str())
                .map(str::to_owned);
            let run = report["status"]
                .as_str()
                .map_or_else(|| report.to_string(), str::to_owned);
            (status, run, error_code)
        }
    })
    .await
}

/// What one request of a load came to: its HTTP status, its run's status (or the
/// answer, when it has none) and the first failed step's error code.
pub type Answer = (u16, String, Option<String>);

/// Keeps `in_flight` requests going for `duration`, worker `w` sending to replica
/// `w % replicas` with `request(replica)`; returns every request's outcome, timed, in
/// the order the workers finished.
pub async fn keep_in_flight<F, Fut>(
    replicas: usize,
    in_flight: usize,
    duration: Duration,
    request: F,
) -> Vec<Outcome>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Answer> + Send,
{
    let start = Instant::now();
    let workers: Vec<_> = (0..in_flight)
        .map(|w| {
            let replica = w % replicas.max(1);
            let request = request.clone();
            tokio::spawn(async move {
                let mut done = Vec::new();
                while start.elapsed() < duration {
                    let sent = start.elapsed();
                    let (status, run, error_code) = request(replica).await;
                    done.push(Outcome {
                        replica,
                        sent,
                        latency: start.elapsed() - sent,
                        status,
                        run,
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

/// A setting of a benchmark from the environment (`IN_FLIGHT=16`), or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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
