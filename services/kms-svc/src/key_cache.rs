//! Keys kept in memory, so a cryptographic call does not wait on Postgres.
//!
//! A key policy change must apply to the very next request. This process's own
//! writes invalidate the cache before they return, and every write also sends a
//! Postgres notification that other kms-svc replicas receive (see `listen`); a
//! replica whose notification connection drops forgets everything, since it
//! cannot know what it missed. A read that raced with an invalidation never stores
//! what it read: entries carry the generation they were read at.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use sqlx::{PgPool, postgres::PgListener};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{key_ref::KeyRef, model::KeyWithMaterial};

/// The channel kms-svc replicas announce key and alias changes on.
pub const CHANGES_CHANNEL: &str = "keyhold_kms_changes";
/// Payload meaning "forget every alias" (aliases are few and change rarely).
const ALIASES_CHANGED: &str = "aliases";

#[derive(Default)]
pub struct KeyCache {
    generation: AtomicU64,
    keys: RwLock<HashMap<Uuid, Arc<KeyWithMaterial>>>,
    aliases: RwLock<HashMap<String, Uuid>>,
}

impl KeyCache {
    /// Read before going to the database; hand back to [`KeyCache::store`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The key (with its current material) named by `key`, if cached.
    pub fn get(&self, key: &KeyRef) -> Option<Arc<KeyWithMaterial>> {
        let id = match key {
            KeyRef::Id(id) => *id,
            KeyRef::Alias(name) => *self.aliases.read().expect("cache lock").get(name)?,
        };
        self.keys.read().expect("cache lock").get(&id).cloned()
    }

    /// Caches what was read at `generation`, unless something changed since.
    pub fn store(&self, generation: u64, key: &KeyRef, found: Arc<KeyWithMaterial>) {
        let mut keys = self.keys.write().expect("cache lock");
        let mut aliases = self.aliases.write().expect("cache lock");
        // Checked under both locks: invalidations bump the generation holding them.
        if self.generation() != generation {
            return;
        }
        if let KeyRef::Alias(name) = key {
            aliases.insert(name.clone(), found.key.key_id);
        }
        keys.insert(found.key.key_id, found);
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

    pub fn forget_everything(&self) {
        let mut keys = self.keys.write().expect("cache lock");
        let mut aliases = self.aliases.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        keys.clear();
        aliases.clear();
    }

    /// Applies a change announced on [`CHANGES_CHANNEL`].
    fn apply(&self, payload: &str) {
        match Uuid::try_parse(payload) {
            Ok(key_id) => self.forget_key(key_id),
            Err(_) if payload == ALIASES_CHANGED => self.forget_aliases(),
            Err(_) => self.forget_everything(),
        }
    }
}

/// The notification payload for a change of `key_id`.
pub fn key_changed(key_id: Uuid) -> String {
    key_id.to_string()
}

pub fn aliases_changed() -> &'static str {
    ALIASES_CHANGED
}

/// Follows other replicas' changes until `shutdown`.
pub async fn listen(pool: PgPool, cache: Arc<KeyCache>, shutdown: CancellationToken) {
    loop {
        match follow(&pool, &cache, &shutdown).await {
            Ok(()) => return,
            Err(error) => {
                // Whatever was announced while we were not listening is unknown.
                cache.forget_everything();
                tracing::warn!(%error, "lost the key change notifications; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

async fn follow(
    pool: &PgPool,
    cache: &KeyCache,
    shutdown: &CancellationToken,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANGES_CHANNEL).await?;
    // Changes made before we listened are unknown too.
    cache.forget_everything();
    loop {
        let notification = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            received = listener.try_recv() => received?,
        };
        match notification {
            Some(notification) => cache.apply(notification.payload()),
            // The connection dropped; sqlx reconnects on the next receive.
            None => cache.forget_everything(),
        }
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
        cache.store(before_read, &KeyRef::Id(id), entry(id));
        assert!(cache.get(&KeyRef::Id(id)).is_none());

        cache.store(
            cache.generation(),
            &KeyRef::Alias("alias/a".into()),
            entry(id),
        );
        assert!(cache.get(&KeyRef::Alias("alias/a".into())).is_some());
        cache.apply(ALIASES_CHANGED);
        assert!(cache.get(&KeyRef::Alias("alias/a".into())).is_none());
        assert!(cache.get(&KeyRef::Id(id)).is_some(), "the key itself stays");
        cache.apply(&id.to_string());
        assert!(cache.get(&KeyRef::Id(id)).is_none());
    }
}
