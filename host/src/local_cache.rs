//! A small process-local cache for the hot path of flow runs (API tokens, flows,
//! connections' sealed rows).
//!
//! Only used when the store is SQLite ([`crate::store::Store::process_local_caches`]):
//! then this process is the only server writing the file, every write goes through it,
//! and invalidating on its own writes keeps the cache exact. With PostgreSQL, several
//! replicas share the database and a local cache could serve a stale row, so none is
//! kept. Values are never plaintext secrets: connections are cached sealed.
//!
//! The CLI is another process on the same file: a write of its that a cache must not
//! outlive (revoking a token) rewrites a marker file beside the database with a value
//! never written before, and a cache that watches it ([`LocalCache::watching`]) starts
//! over when the file's content changes — one small read per lookup, checked before the
//! cached value is used. Content, not the modification time: two writes within one
//! tick of the file system's clock would look the same.

use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// At most this many entries; past it the cache starts over (simple and bounded).
const CAPACITY: usize = 10_000;

/// A bounded map from keys to shared values; disabled caches hold nothing.
pub struct LocalCache<K, V> {
    enabled: bool,
    map: RwLock<HashMap<K, Arc<V>>>,
    /// Bumped by every removal, so a value read from the store before a concurrent
    /// write is not cached after that write invalidated its key.
    generation: AtomicU64,
    /// The marker file of writes by other processes, and its metadata when last seen.
    marker: Option<(Arc<Path>, Mutex<FileStamp>)>,
}

/// A file's content, when it exists.
type FileStamp = Option<Vec<u8>>;

/// A cache's generation, taken before reading the store (see [`LocalCache::put`]).
#[derive(Debug, Clone, Copy)]
pub struct Stamp(u64);

impl<K: Eq + Hash, V> LocalCache<K, V> {
    /// A cache that keeps values only when `enabled`.
    pub fn new(enabled: bool) -> Self {
        LocalCache {
            enabled,
            map: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            marker: None,
        }
    }

    /// The same cache, also emptied whenever the file at `marker` changes (see the
    /// module docs); `None` watches nothing.
    pub fn watching(mut self, marker: Option<Arc<Path>>) -> Self {
        self.marker = marker.map(|path| {
            let seen = Self::file_stamp(&path);
            (path, Mutex::new(seen))
        });
        self
    }

    fn file_stamp(path: &Path) -> FileStamp {
        std::fs::read(path).ok()
    }

    /// Empties the cache if another process marked a write since the last look.
    fn forget_outside_writes(&self) {
        let Some((path, seen)) = &self.marker else {
            return;
        };
        let now = Self::file_stamp(path);
        let Ok(mut seen) = seen.lock() else {
            return;
        };
        if *seen != now {
            if let Ok(mut map) = self.map.write() {
                self.generation.fetch_add(1, Ordering::SeqCst);
                map.clear();
            }
            *seen = now;
        }
    }

    /// Take this before reading the value from the store.
    pub fn stamp(&self) -> Stamp {
        Stamp(self.generation.load(Ordering::SeqCst))
    }

    /// The cached value.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        if !self.enabled {
            return None;
        }
        self.forget_outside_writes();
        self.map.read().ok()?.get(key).cloned()
    }

    /// Caches a value read from the store after `stamp` was taken, unless something
    /// was invalidated since (then the value may be stale); returns it shared.
    pub fn put(&self, stamp: Stamp, key: K, value: V) -> Arc<V> {
        let value = Arc::new(value);
        if self.enabled
            && let Ok(mut map) = self.map.write()
            && self.generation.load(Ordering::SeqCst) == stamp.0
        {
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.insert(key, value.clone());
        }
        value
    }

    /// Forgets a key (call after the write to the store).
    pub fn remove(&self, key: &K) {
        if self.enabled
            && let Ok(mut map) = self.map.write()
        {
            self.generation.fetch_add(1, Ordering::SeqCst);
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LocalCache;

    #[test]
    fn keeps_only_when_enabled() {
        let on = LocalCache::new(true);
        on.put(on.stamp(), "a", 1);
        assert_eq!(on.get(&"a").as_deref(), Some(&1));
        on.remove(&"a");
        assert!(on.get(&"a").is_none());
        let off = LocalCache::new(false);
        assert_eq!(*off.put(off.stamp(), "a", 1), 1);
        assert!(off.get(&"a").is_none());
    }

    #[test]
    fn a_write_marked_by_another_process_empties_a_watching_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker: std::sync::Arc<std::path::Path> = dir.path().join("db-writes").into();
        let cache = LocalCache::new(true).watching(Some(marker.clone()));
        cache.put(cache.stamp(), "token", 1);
        assert_eq!(cache.get(&"token").as_deref(), Some(&1));
        // The CLI revokes: the marker appears (then changes) and the cache starts over,
        // however quickly the second write follows the first (same length, same tick).
        std::fs::write(&marker, "1\n").expect("write");
        assert!(cache.get(&"token").is_none());
        cache.put(cache.stamp(), "token", 2);
        assert_eq!(cache.get(&"token").as_deref(), Some(&2));
        std::fs::write(&marker, "2\n").expect("write");
        assert!(cache.get(&"token").is_none());
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_cached() {
        let cache = LocalCache::new(true);
        let before = cache.stamp();
        // A writer invalidates the key while the reader is still reading the store.
        cache.remove(&"a");
        assert_eq!(*cache.put(before, "a", "stale"), "stale");
        assert!(cache.get(&"a").is_none());
        cache.put(cache.stamp(), "a", "fresh");
        assert_eq!(cache.get(&"a").as_deref(), Some(&"fresh"));
    }
}
