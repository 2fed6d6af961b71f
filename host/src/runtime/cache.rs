//! The compiled-component cache: a component is compiled once and kept on disk under a
//! key of the engine's compatibility hash and the component's SHA-256, so restarts (and
//! every CLI invocation) skip compilation.
//!
//! A cached artifact is native code that wasmtime loads without checking it, so each
//! entry is authenticated: the file ends with an HMAC-SHA256, under a key kept in the
//! cache directory (`.key`: random, mode 0600, owned by this user — a key file anyone
//! else made or could read is not used), of the entry's name and the artifact. Swapping
//! one entry for another (another piece's code under this piece's name), editing one, or
//! planting one without the key is refused: the component is compiled again and the
//! entry rewritten. A cache directory another user owns or can write to is not used.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Bytes of the MAC at the end of an entry.
const MAC_LEN: usize = 32;

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

/// A cache directory and the key that authenticates its entries.
pub struct Cache {
    dir: PathBuf,
    key: zeroize::Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("dir", &self.dir).finish()
    }
}

impl Cache {
    /// The cache in `dir`, with its key (made on first use). `None`, with a warning,
    /// when the directory or a trustworthy key cannot be had: then nothing is cached.
    pub fn open(dir: &Path) -> Option<Cache> {
        match read_or_make_key(dir) {
            Ok(key) => Some(Cache {
                dir: dir.to_owned(),
                key,
            }),
            Err(why) => {
                tracing::warn!(dir = %dir.display(), "not caching compiled components: {why}");
                None
            }
        }
    }

    /// Where a component's compiled artifact lives.
    pub fn entry(&self, engine: &Engine, digest: &str) -> PathBuf {
        self.dir
            .join(format!("{}-{digest}.cwasm", engine_key(engine)))
    }

    fn mac(&self, path: &Path, artifact: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_slice())
            .expect("HMAC takes any key length");
        let name = path.file_name().unwrap_or_default().as_encoded_bytes();
        mac.update(&(name.len() as u64).to_be_bytes());
        mac.update(name);
        mac.update(artifact);
        mac
    }

    /// Loads a compiled artifact written by [`Cache::store`], if one is there, carries
    /// a valid MAC for its name, and is usable by this engine.
    #[allow(unsafe_code)]
    pub fn load(&self, engine: &Engine, path: &Path) -> Option<Component> {
        let bytes = std::fs::read(path).ok()?;
        let authentic = bytes.len() > MAC_LEN && {
            let (artifact, tag) = bytes.split_at(bytes.len() - MAC_LEN);
            self.mac(path, artifact).verify_slice(tag).is_ok()
        };
        if !authentic {
            tracing::warn!(path = %path.display(), "refusing a compiled component whose MAC does not match: compiling again");
            let _ = std::fs::remove_file(path);
            return None;
        }
        let artifact = &bytes[..bytes.len() - MAC_LEN];
        // SAFETY: `Component::deserialize` trusts its input. These bytes carry an HMAC,
        // under a key only this user can read, of this entry's name and the bytes, so
        // they are the artifact this host compiled from the component of this digest
        // (wasmtime also checks the header against the engine's configuration).
        match unsafe { Component::deserialize(engine, artifact) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable compiled component");
                None
            }
        }
    }

    /// Writes a compiled artifact and its MAC atomically (temporary file, then rename).
    pub fn store(&self, component: &Component, path: &Path) -> std::io::Result<()> {
        let mut bytes = component.serialize().map_err(std::io::Error::other)?;
        let tag = self.mac(path, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        // A name unique to this process and write, so concurrent writers never share a file.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let n = WRITES.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }
}

/// The cache's key: read when this user owns it and no one else can read or write it,
/// else made (only when there is none).
fn read_or_make_key(dir: &Path) -> Result<zeroize::Zeroizing<[u8; 32]>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the directory: {e}"))?;
    let me = rustix::process::geteuid().as_raw();
    let dir_meta = std::fs::metadata(dir).map_err(|e| format!("cannot read the directory: {e}"))?;
    if dir_meta.uid() != me || dir_meta.mode() & 0o022 != 0 {
        // Another user could plant entries, or a key of their own, in it.
        return Err(format!(
            "{} belongs to another user or others can write to it",
            dir.display()
        ));
    }
    let path = dir.join(".key");
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            Err(format!("{} is a symbolic link", path.display()))
        }
        Ok(meta) => {
            if meta.uid() != me {
                return Err(format!("{} belongs to another user", path.display()));
            }
            if meta.mode() & 0o077 != 0 {
                return Err(format!(
                    "{} is readable or writable by others (chmod 600 it, or delete it)",
                    path.display()
                ));
            }
            let bytes = std::fs::read(&path).map_err(|e| format!("cannot read the key: {e}"))?;
            if bytes.len() != key.len() {
                return Err(format!("{} is not a cache key", path.display()));
            }
            key.copy_from_slice(&bytes);
            Ok(key)
        }
        Err(_) => {
            getrandom::fill(key.as_mut_slice()).map_err(|e| e.to_string())?;
            // Written whole under a private name, then linked into place: a concurrent
            // reader never sees a half-written key, and the first process to link wins.
            let mut nonce = [0u8; 8];
            getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
            let tmp = dir.join(format!(".key.tmp-{}", hex::encode(nonce)));
            let made = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&tmp)
                .and_then(|mut f| f.write_all(key.as_slice()))
                .and_then(|()| std::fs::hard_link(&tmp, &path));
            let _ = std::fs::remove_file(&tmp);
            match made {
                Ok(()) => Ok(key),
                // Another process made it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_or_make_key(dir),
                Err(e) => Err(format!("cannot write the key: {e}")),
            }
        }
    }
}
