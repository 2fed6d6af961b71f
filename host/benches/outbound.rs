//! One outbound request: a piece call that makes one HTTP request, against the same
//! request made by plain Rust. The `openai` piece's `validate` (`GET /v1/models` with
//! the key the host applies, the answer masked before the guest reads it) goes through
//! the host's real path — sandboxed call, `wasi:http` hooks, policy, override to a
//! loopback server, the egress client — and is compared with:
//!
//! - `plain_pooled`: hyper's pooled client (what the egress path uses), keep-alive;
//! - `plain_new_connection`: a new TCP connection and HTTP/1.1 handshake per request;
//! - `piece_no_request`: the `postgres` piece's `validate`, no request at all (what the
//!   sandboxed call itself costs).
//!
//! So `piece_one_request − piece_no_request − plain_pooled` is what the host adds to a
//! request. The server answers from its own thread. Run:
//! `cargo bench -p thinkfleet --bench outbound`.

#![allow(missing_docs)]

mod common;
use common::postgres_creds;

use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::time::Duration;
use thinkfleet::piece::Credentials;
use thinkfleet::runtime::{OutboundPolicy, Runtime, RuntimeConfig};

const MODELS: &str = r#"{"data":[{"id":"gpt-4o-mini"}]}"#;

/// A keep-alive HTTP/1.1 server on loopback answering every request with [`MODELS`],
/// on its own thread and runtime.
fn server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(MODELS.as_bytes())))
                                .expect("response"),
                        )
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

async fn get_models(client: &Client<HttpConnector, Empty<Bytes>>, url: &hyper::Uri) {
    let req = hyper::Request::get(url.clone())
        .header("authorization", "Bearer sk-bench-key")
        .body(Empty::new())
        .expect("request");
    let res = client.request(req).await.expect("response");
    assert!(res.status().is_success());
    res.into_body().collect().await.expect("body");
}

async fn get_models_new_connection(addr: SocketAddr) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = hyper::Request::get("/v1/models")
        .header("host", "api.openai.com")
        .header("authorization", "Bearer sk-bench-key")
        .body(Empty::<Bytes>::new())
        .expect("request");
    let res = sender.send_request(req).await.expect("response");
    assert!(res.status().is_success());
    res.into_body().collect().await.expect("body");
}

fn bench(c: &mut Criterion) {
    let addr = server();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let runtime = Runtime::new(RuntimeConfig {
        outbound: OutboundPolicy {
            overrides: vec![
                format!("api.openai.com=http://{addr}")
                    .parse()
                    .expect("override"),
            ],
            ..OutboundPolicy::default()
        },
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let load = |name: &str| {
        let bytes = std::fs::read(thinkfleet::examples::path(name).expect("piece built"))
            .expect("read piece");
        tokio.block_on(runtime.load(&bytes)).expect("load")
    };
    let openai = load("openai");
    let postgres = load("postgres");
    let key = Credentials::SecretText(SecretString::from("sk-bench-key"));
    let custom = postgres_creds();
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let url: hyper::Uri = format!("http://{addr}/v1/models").parse().expect("url");

    let mut group = c.benchmark_group("one_request");
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("piece_one_request", |b| {
        b.iter(|| tokio.block_on(openai.validate(&key)).expect("valid"))
    });
    group.bench_function("piece_no_request", |b| {
        b.iter(|| tokio.block_on(postgres.validate(&custom)).expect("valid"))
    });
    group.bench_function("plain_pooled", |b| {
        b.iter(|| tokio.block_on(get_models(&client, &url)))
    });
    group.bench_function("plain_new_connection", |b| {
        b.iter(|| tokio.block_on(get_models_new_connection(addr)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
