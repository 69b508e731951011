//! Keys kept in memory, so a cryptographic call does not wait on reading its key.
//!
//! A key policy change must apply to the very next request, on every replica. Each
//! key or alias write moves the database's change counter (`key_changes`) on before
//! the call returns; every read served from this cache first reads that counter (one
//! single-row lookup) and, if it moved since the cached entries were read, forgets
//! them all and reads the key again. This process's own writes also forget the key
//! at once. A read that raced with an invalidation never stores what it read:
//! entries carry the generation they were read at.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
};

use keyhold_platform::metrics::{encode_counter, encode_gauge};
use prometheus_client::{collector::Collector, encoding::DescriptorEncoder};
use uuid::Uuid;

use crate::{key_ref::KeyRef, model::KeyWithMaterial};

#[derive(Default)]
pub struct KeyCache {
    /// Moves on at every invalidation in this process.
    generation: AtomicU64,
    /// The database's change counter the entries were read under.
    changes: AtomicI64,
    keys: RwLock<HashMap<Uuid, Arc<KeyWithMaterial>>>,
    aliases: RwLock<HashMap<String, Uuid>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl KeyCache {
    /// Read before going to the database; hand back to [`KeyCache::store`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The change counter the entries are valid for.
    pub fn changes(&self) -> i64 {
        self.changes.load(Ordering::Acquire)
    }

    /// The key (with its current material) named by `key`, if cached.
    pub fn get(&self, key: &KeyRef) -> Option<Arc<KeyWithMaterial>> {
        let found = self.lookup(key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn lookup(&self, key: &KeyRef) -> Option<Arc<KeyWithMaterial>> {
        let id = match key {
            KeyRef::Id(id) => *id,
            KeyRef::Alias(name) => *self.aliases.read().expect("cache lock").get(name)?,
        };
        self.keys.read().expect("cache lock").get(&id).cloned()
    }

    /// Caches what was read at `generation` with the database's counter at `changes`,
    /// unless something changed since.
    pub fn store(&self, generation: u64, changes: i64, key: &KeyRef, found: Arc<KeyWithMaterial>) {
        let mut keys = self.keys.write().expect("cache lock");
        let mut aliases = self.aliases.write().expect("cache lock");
        // Checked under both locks: invalidations bump the generation holding them.
        if self.generation() != generation || self.changes() != changes {
            return;
        }
        if let KeyRef::Alias(name) = key {
            aliases.insert(name.clone(), found.key.key_id);
        }
        keys.insert(found.key.key_id, found);
    }

    /// Forgets everything when the database's counter is past what the entries were
    /// read under, and takes the new value.
    pub fn catch_up(&self, changes: i64) {
        if changes <= self.changes() {
            return;
        }
        let mut keys = self.keys.write().expect("cache lock");
        let mut aliases = self.aliases.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.changes.fetch_max(changes, Ordering::AcqRel);
        keys.clear();
        aliases.clear();
    }

    pub fn forget_key(&self, key_id: Uuid) {
        let mut keys = self.keys.write().expect("cache lock");
        let _aliases = self.aliases.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        keys.remove(&key_id);
    }

    pub fn forget_aliases(&self) {
        let _keys = self.keys.write().expect("cache lock");
        let mut aliases = self.aliases.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        aliases.clear();
    }
}

/// The cache's hits and misses on the metrics endpoint, read at each scrape.
pub struct KeyCacheMetrics(pub Arc<KeyCache>);

impl std::fmt::Debug for KeyCacheMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCacheMetrics")
    }
}

impl Collector for KeyCacheMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let cache = &self.0;
        encode_counter(
            &mut encoder,
            "keyhold_key_cache_hits",
            "Key lookups served from memory (after the change counter said nothing moved).",
            cache.hits.load(Ordering::Relaxed),
        )?;
        encode_counter(
            &mut encoder,
            "keyhold_key_cache_misses",
            "Key lookups that read the key from the database.",
            cache.misses.load(Ordering::Relaxed),
        )?;
        encode_gauge(
            &mut encoder,
            "keyhold_key_cache_keys",
            "Keys held in memory now.",
            u64::try_from(cache.keys.read().expect("cache lock").len()).unwrap_or(u64::MAX),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Key, KeyState};

    fn entry(key_id: Uuid) -> Arc<KeyWithMaterial> {
        Arc::new(KeyWithMaterial {
            key: Key {
                key_id,
                arn: format!("arn:aws:kms:us-east-1:000000000000:key/{key_id}"),
                description: String::new(),
                key_usage: "ENCRYPT_DECRYPT".into(),
                key_spec: "SYMMETRIC_DEFAULT".into(),
                key_manager: "CUSTOMER".into(),
                state: KeyState::Enabled,
                policy: "{}".into(),
                creation_date: chrono::Utc::now(),
                deletion_date: None,
                pending_window_days: None,
                current_material_version: 1,
            },
            material_version: 1,
            wrapped_material: vec![1, 2, 3],
        })
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_not_cached() {
        let cache = KeyCache::default();
        let id = Uuid::new_v4();
        let before_read = cache.generation();
        cache.forget_key(id); // a write lands while the read is in flight
        cache.store(before_read, 0, &KeyRef::Id(id), entry(id));
        assert!(cache.get(&KeyRef::Id(id)).is_none());

        let alias = KeyRef::Alias("alias/a".into());
        cache.store(cache.generation(), 0, &alias, entry(id));
        assert!(cache.get(&alias).is_some());
        cache.forget_aliases();
        assert!(cache.get(&alias).is_none());
        assert!(cache.get(&KeyRef::Id(id)).is_some(), "the key itself stays");
        cache.forget_key(id);
        assert!(cache.get(&KeyRef::Id(id)).is_none());
    }

    #[test]
    fn a_moved_change_counter_empties_the_cache_and_old_reads_stay_out() {
        let cache = KeyCache::default();
        let id = Uuid::new_v4();
        cache.store(cache.generation(), 0, &KeyRef::Id(id), entry(id));
        assert!(cache.get(&KeyRef::Id(id)).is_some());
        cache.catch_up(0);
        assert!(cache.get(&KeyRef::Id(id)).is_some(), "nothing moved");
        cache.catch_up(3);
        assert!(cache.get(&KeyRef::Id(id)).is_none());
        assert_eq!(cache.changes(), 3);
        // A read made under the old counter is not cached.
        cache.store(cache.generation(), 2, &KeyRef::Id(id), entry(id));
        assert!(cache.get(&KeyRef::Id(id)).is_none());
        cache.store(cache.generation(), 3, &KeyRef::Id(id), entry(id));
        assert!(cache.get(&KeyRef::Id(id)).is_some());
        cache.catch_up(1);
        assert_eq!(cache.changes(), 3, "never backwards");
    }
}
