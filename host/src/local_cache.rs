//! A small process-local cache for the hot path of flow runs (API tokens, flows,
//! connections' sealed rows). Values are never plaintext secrets: connections are
//! cached sealed.
//!
//! Exact on both backends, in two ways ([`Revision`]):
//! - SQLite: this process is the only server writing the file, every write goes
//!   through it, and invalidating on its own writes keeps the cache exact. The CLI is
//!   another process on the same file: a write of its that a cache must not outlive
//!   (revoking a token) rewrites a marker file beside the database with a value never
//!   written before, and a cache that watches it ([`LocalCache::watching`]) starts over
//!   when the file's content changes — one small read per lookup, checked before the
//!   cached value is used. Content, not the modification time: two writes within one
//!   tick of the file system's clock would look the same.
//! - PostgreSQL: replicas share the database, so each value is tagged with the
//!   project's revision it was read at, and a lookup names the revision the request
//!   read (with its API token, in the same round trip); a value of another revision is
//!   not served. Triggers move the revision with every write that matters, from any
//!   process. The token itself is not cached there.

use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::store::Revision;

/// At most this many entries; past it the cache starts over (simple and bounded).
const CAPACITY: usize = 10_000;

/// A cached value with the revision it was read at (`None`: [`Revision::Local`]).
type Entry<V> = (Arc<V>, Option<i64>);

/// A bounded map from keys to shared values, each with the revision it was read at.
pub struct LocalCache<K, V> {
    map: RwLock<HashMap<K, Entry<V>>>,
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
    /// An empty cache.
    pub fn new() -> Self {
        LocalCache {
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

    /// The cached value, if it is current at revision `at`.
    pub fn get(&self, key: &K, at: Revision) -> Option<Arc<V>> {
        self.forget_outside_writes();
        let map = self.map.read().ok()?;
        let (value, read_at) = map.get(key)?;
        (*read_at == tag(at)).then(|| value.clone())
    }

    /// Caches a value read from the store at revision `at`, after `stamp` was taken,
    /// unless something was invalidated since (then the value may be stale); returns
    /// it shared. `at` must have been read before the value was.
    pub fn put(&self, stamp: Stamp, key: K, value: V, at: Revision) -> Arc<V> {
        let value = Arc::new(value);
        if let Ok(mut map) = self.map.write()
            && self.generation.load(Ordering::SeqCst) == stamp.0
        {
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.insert(key, (value.clone(), tag(at)));
        }
        value
    }

    /// Forgets a key (call after the write to the store).
    pub fn remove(&self, key: &K) {
        if let Ok(mut map) = self.map.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            map.remove(key);
        }
    }
}

impl<K: Eq + Hash, V> Default for LocalCache<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// What an entry records of the revision it was read at.
fn tag(at: Revision) -> Option<i64> {
    match at {
        Revision::Local => None,
        Revision::At(n) => Some(n),
    }
}

#[cfg(test)]
mod tests {
    use super::LocalCache;
    use crate::store::Revision::{At, Local};

    #[test]
    fn keeps_a_value_until_it_is_removed() {
        let cache = LocalCache::new();
        cache.put(cache.stamp(), "a", 1, Local);
        assert_eq!(cache.get(&"a", Local).as_deref(), Some(&1));
        cache.remove(&"a");
        assert!(cache.get(&"a", Local).is_none());
    }

    #[test]
    fn serves_a_value_only_at_the_revision_it_was_read_at() {
        let cache = LocalCache::new();
        cache.put(cache.stamp(), "flow", "v1", At(3));
        assert_eq!(cache.get(&"flow", At(3)).as_deref(), Some(&"v1"));
        // Another replica wrote: the project moved on, the value is read again.
        assert!(cache.get(&"flow", At(4)).is_none());
        cache.put(cache.stamp(), "flow", "v2", At(4));
        assert_eq!(cache.get(&"flow", At(4)).as_deref(), Some(&"v2"));
        // A request that read the revision before that write may still finish, but
        // the older value is gone.
        assert!(cache.get(&"flow", At(3)).is_none());
    }

    #[test]
    fn a_write_marked_by_another_process_empties_a_watching_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker: std::sync::Arc<std::path::Path> = dir.path().join("db-writes").into();
        let cache = LocalCache::new().watching(Some(marker.clone()));
        cache.put(cache.stamp(), "token", 1, Local);
        assert_eq!(cache.get(&"token", Local).as_deref(), Some(&1));
        // The CLI revokes: the marker appears (then changes) and the cache starts over,
        // however quickly the second write follows the first (same length, same tick).
        std::fs::write(&marker, "1\n").expect("write");
        assert!(cache.get(&"token", Local).is_none());
        cache.put(cache.stamp(), "token", 2, Local);
        assert_eq!(cache.get(&"token", Local).as_deref(), Some(&2));
        std::fs::write(&marker, "2\n").expect("write");
        assert!(cache.get(&"token", Local).is_none());
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_cached() {
        let cache = LocalCache::new();
        let before = cache.stamp();
        // A writer invalidates the key while the reader is still reading the store.
        cache.remove(&"a");
        assert_eq!(*cache.put(before, "a", "stale", Local), "stale");
        assert!(cache.get(&"a", Local).is_none());
        cache.put(cache.stamp(), "a", "fresh", Local);
        assert_eq!(cache.get(&"a", Local).as_deref(), Some(&"fresh"));
    }
}
