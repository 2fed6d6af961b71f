//! The compiled-component cache: a component is compiled once and kept on disk under a
//! key of the engine's compatibility hash and the component's SHA-256, so restarts (and
//! every CLI invocation) skip compilation.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The SHA-256 of a component, hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn engine_key(engine: &Engine) -> String {
    // `DefaultHasher::new()` uses fixed keys, so the key is stable across runs of one build.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Where a component's compiled artifact lives in `dir`.
pub fn entry(dir: &Path, engine: &Engine, digest: &str) -> PathBuf {
    dir.join(format!("{}-{digest}.cwasm", engine_key(engine)))
}

/// Loads a compiled artifact written by [`store`], if one is there and still usable.
#[allow(unsafe_code)]
pub fn load(engine: &Engine, path: &Path) -> Option<Component> {
    if !path.is_file() {
        return None;
    }
    // SAFETY: `Component::deserialize_file` trusts its input. The file is one this host
    // wrote itself with `Component::serialize` into its own cache directory, named by the
    // engine's compatibility hash (wasmtime also checks the header and refuses artifacts
    // of another engine configuration).
    match unsafe { Component::deserialize_file(engine, path) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring unusable compiled component");
            None
        }
    }
}

/// Writes a compiled artifact atomically (temporary file, then rename).
pub fn store(component: &Component, path: &Path) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A name unique to this process and write, so concurrent writers never share a file.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
