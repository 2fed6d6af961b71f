//! One sandboxed call (fresh instance + `validate` of the postgres piece, which makes no
//! HTTP call) through the host's real call path, against two bare wasmtime baselines
//! running the same component with no host logic: the default (on-demand) allocator, and
//! pooling + copy-on-write (wasmtime's defaults, and the host's own pool settings). The
//! host path with the pool's slot reset as shipped and its alternatives, each also on
//! two threads at once; and bare wasmtime with the host's pool settings called
//! synchronously (no async support in the call), to weigh sync against async. The bare
//! calls type-check only `validate`, as the host does; `…_all_exports` goes through the
//! generated bindings, which check every export on each instantiation.
//!
//! Run: `cargo bench -p thinkfleet --bench sandbox`.

#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;
use common::postgres_creds;

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use thinkfleet::runtime::pool::pool_config;
use thinkfleet::runtime::{Limits, PoolTuning, Runtime, RuntimeConfig, SlotReset};
use wasmtime::component::{Component, ComponentExportIndex, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

mod bare {
    wasmtime::component::bindgen!({ path: "../wit", world: "piece-world", exports: { default: async } });
}
mod bare_sync {
    wasmtime::component::bindgen!({ path: "../wit", world: "piece-world" });
}
use bare::thinkfleet::piece::{host_log, types as wit};
use bare_sync::thinkfleet::piece::{host_log as sync_log, types as sync_wit};

struct BareState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for BareState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for BareState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

impl host_log::Host for BareState {
    fn log(&mut self, _level: host_log::Level, _message: String) {}
}

impl sync_log::Host for BareState {
    fn log(&mut self, _level: sync_log::Level, _message: String) {}
}

fn bare_engine(pool: Option<PoolingAllocationConfig>) -> Engine {
    let mut config = Config::new();
    if let Some(pool) = pool {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        config.memory_init_cow(true);
    }
    Engine::new(&config).expect("engine")
}

fn bare_state() -> BareState {
    BareState {
        wasi: WasiCtx::builder().build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
    }
}

fn bare_sync_pre(
    pool: PoolingAllocationConfig,
    bytes: &[u8],
) -> (Engine, bare_sync::PieceWorldPre<BareState>) {
    let engine = bare_engine(Some(pool));
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("wasi");
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker).expect("http");
    sync_log::add_to_linker::<BareState, HasSelf<BareState>>(&mut linker, |s| s).expect("log");
    let component = Component::new(&engine, bytes).expect("compile");
    let pre = bare_sync::PieceWorldPre::new(linker.instantiate_pre(&component).expect("pre"))
        .expect("world");
    (engine, pre)
}

/// `validate`'s index among a component's exports.
fn validate_index(component: &Component) -> ComponentExportIndex {
    let piece = component
        .get_export_index(None, "thinkfleet:piece/piece@0.2.0")
        .expect("piece interface");
    component
        .get_export_index(Some(&piece), "validate")
        .expect("validate")
}

fn bare_sync_call(
    engine: &Engine,
    pre: &bare_sync::PieceWorldPre<BareState>,
    validate: &ComponentExportIndex,
    creds: &sync_wit::Credentials,
) {
    let mut store = Store::new(engine, bare_state());
    let instance = pre
        .instance_pre()
        .instantiate(&mut store)
        .expect("instantiate");
    let func = instance
        .get_typed_func::<(&sync_wit::Credentials,), (Result<(), sync_wit::PieceError>,)>(
            &mut store, validate,
        )
        .expect("typed");
    let (result,) = func.call(&mut store, (creds,)).expect("call");
    result.expect("valid");
}

fn bare_pre(
    pool: Option<PoolingAllocationConfig>,
    bytes: &[u8],
) -> (Engine, bare::PieceWorldPre<BareState>) {
    let engine = bare_engine(pool);
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("wasi");
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).expect("http");
    host_log::add_to_linker::<BareState, HasSelf<BareState>>(&mut linker, |s| s).expect("log");
    let component = Component::new(&engine, bytes).expect("compile");
    let pre =
        bare::PieceWorldPre::new(linker.instantiate_pre(&component).expect("pre")).expect("world");
    (engine, pre)
}

/// Instantiates and calls `validate`, type-checking only that export, as the host does
/// (`host/src/runtime/exports.rs`).
async fn bare_call(
    engine: &Engine,
    pre: &bare::PieceWorldPre<BareState>,
    validate: &ComponentExportIndex,
    creds: &wit::Credentials,
) {
    let mut store = Store::new(engine, bare_state());
    let instance = pre
        .instance_pre()
        .instantiate_async(&mut store)
        .await
        .expect("instantiate");
    let func = instance
        .get_typed_func::<(&wit::Credentials,), (Result<(), wit::PieceError>,)>(
            &mut store, validate,
        )
        .expect("typed");
    let (result,) = func.call_async(&mut store, (creds,)).await.expect("call");
    result.expect("valid");
}

/// The same through the generated bindings, which load and type-check every export of
/// the world on each instantiation.
async fn bare_call_all_exports(
    engine: &Engine,
    pre: &bare::PieceWorldPre<BareState>,
    creds: &wit::Credentials,
) {
    let mut store = Store::new(engine, bare_state());
    let world = pre
        .instantiate_async(&mut store)
        .await
        .expect("instantiate");
    world
        .thinkfleet_piece_piece()
        .call_validate(&mut store, creds)
        .await
        .expect("call")
        .expect("valid");
}

/// The credentials of [`postgres_creds`] as the bindings of module `$wit` type them.
macro_rules! wit_creds {
    ($wit:ident) => {{
        let text = |s: &str| $wit::CustomValue::Text(s.into());
        $wit::Credentials::Custom(vec![
            ("database".into(), text("app")),
            ("host".into(), text("db.example.com")),
            (
                "password".into(),
                $wit::CustomValue::Secret($wit::Secret::Value("pw".into())),
            ),
            ("user".into(), text("svc")),
        ])
    }};
}

/// Wall time of `iters` calls shared by two threads, each with its own current-thread
/// tokio runtime and its own call made by `each()`.
fn two_threads<F>(iters: u64, each: impl Fn() -> F) -> Duration
where
    F: Fn(&tokio::runtime::Runtime) + Send,
{
    let start = Instant::now();
    std::thread::scope(|s| {
        for share in [iters / 2, iters - iters / 2] {
            let call = each();
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio");
                for _ in 0..share {
                    call(&rt);
                }
            });
        }
    });
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let path = thinkfleet::examples::path("postgres").expect("postgres piece built");
    let bytes = std::fs::read(&path).expect("read piece");
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");

    let creds = postgres_creds();
    let mut group = c.benchmark_group("validate_no_http");
    group.measurement_time(Duration::from_secs(6));
    // The host's real call path, with the pool's slot reset as shipped (PAGEMAP_SCAN
    // where the kernel has it) and the alternatives, each on one and on two threads.
    let tunings = [
        ("host_path", PoolTuning::default()),
        (
            "host_path_scan_4mib",
            PoolTuning {
                reset: Some(SlotReset::PagemapScan),
                keep_resident: Some(4 << 20),
            },
        ),
        (
            "host_path_memset_fallback",
            PoolTuning {
                reset: Some(SlotReset::Memset),
                keep_resident: None,
            },
        ),
    ];
    for (name, pool) in tunings {
        if pool.reset == Some(SlotReset::PagemapScan)
            && SlotReset::detect() != SlotReset::PagemapScan
        {
            continue;
        }
        let runtime = Runtime::new(RuntimeConfig {
            pool,
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        let piece = tokio.block_on(runtime.load(&bytes)).expect("load");
        group.bench_function(name, |b| {
            b.iter(|| tokio.block_on(piece.validate(&creds)).expect("valid"));
        });
        group.bench_function(format!("{name}_2_threads_per_call"), |b| {
            b.iter_custom(|iters| {
                two_threads(iters, || {
                    let piece = piece.clone();
                    let creds = creds.clone();
                    move |rt: &tokio::runtime::Runtime| {
                        rt.block_on(piece.validate(&creds)).expect("valid");
                    }
                })
            });
        });
    }
    // Bare wasmtime, no host logic: the on-demand allocator, wasmtime's default pool,
    // and the host's own pool settings.
    for (name, pool) in [
        ("bare_default_allocator", None),
        ("bare_pooling_cow", Some(PoolingAllocationConfig::default())),
        (
            "bare_pooling_host_settings",
            Some(pool_config(&Limits::default(), PoolTuning::default())),
        ),
    ] {
        let (engine, pre) = bare_pre(pool, &bytes);
        let validate = validate_index(pre.instance_pre().component());
        let creds = wit_creds!(wit);
        group.bench_function(name, |b| {
            b.iter(|| tokio.block_on(bare_call(&engine, &pre, &validate, &creds)))
        });
        group.bench_function(format!("{name}_2_threads_per_call"), |b| {
            b.iter_custom(|iters| {
                two_threads(iters, || {
                    let (engine, pre, creds) = (engine.clone(), pre.clone(), creds.clone());
                    move |rt: &tokio::runtime::Runtime| {
                        rt.block_on(bare_call(&engine, &pre, &validate, &creds));
                    }
                })
            });
        });
        if name == "bare_pooling_host_settings" {
            group.bench_function(format!("{name}_all_exports"), |b| {
                b.iter(|| tokio.block_on(bare_call_all_exports(&engine, &pre, &creds)))
            });
        }
    }
    // The host's pool settings again, called synchronously.
    let (engine, pre) = bare_sync_pre(
        pool_config(&Limits::default(), PoolTuning::default()),
        &bytes,
    );
    let validate = validate_index(pre.instance_pre().component());
    let creds = wit_creds!(sync_wit);
    group.bench_function("bare_pooling_host_settings_sync", |b| {
        b.iter(|| bare_sync_call(&engine, &pre, &validate, &creds))
    });
    group.bench_function("bare_pooling_host_settings_sync_2_threads_per_call", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                let (engine, pre, creds) = (engine.clone(), pre.clone(), creds.clone());
                move |_: &tokio::runtime::Runtime| bare_sync_call(&engine, &pre, &validate, &creds)
            })
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
