//! kms-svc's tables (sqlx on Postgres). No domain rules here: the domain decides,
//! the store reads and writes.

use chrono::{DateTime, Utc};
use std::sync::Arc;

use sqlx::{PgPool, Row, postgres::PgRow};
use uuid::Uuid;

use crate::{
    change_counter::ChangeCounter,
    error::{KmsError, KmsResult},
    key_cache::KeyCache,
    key_ref::{KeyRef, Partition},
    model::{Alias, Key, KeyState, KeyWithMaterial},
};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Reads keys through an in-memory cache (`key_cache`) that every write here
/// invalidates, locally and, through the change counter, on the other replicas.
#[derive(Clone)]
pub struct KmsStore {
    pool: PgPool,
    partition: Partition,
    cache: Arc<KeyCache>,
    changes: ChangeCounter,
}

// Query fragments are macros so that queries stay `&'static str` (sqlx refuses
// strings built at run time, a guard against injection).
macro_rules! key_columns {
    () => {
        "k.key_id, k.description, k.key_usage, k.key_spec, k.key_manager, k.state, k.policy, \
         k.creation_date, k.deletion_date, k.pending_window_days, k.current_material_version"
    };
}

/// Resolves a key reference to a key id inside one query: `$1` a key id or NULL,
/// `$2` an alias name or NULL.
macro_rules! key_by_ref {
    () => {
        "k.key_id = COALESCE($1, (SELECT a.key_id FROM aliases a WHERE a.alias_name = $2))"
    };
}

fn ref_binds(key: &KeyRef) -> (Option<Uuid>, Option<&str>) {
    match key {
        KeyRef::Id(id) => (Some(*id), None),
        KeyRef::Alias(name) => (None, Some(name.as_str())),
    }
}

impl KmsStore {
    pub fn new(pool: PgPool, partition: Partition) -> Self {
        KmsStore {
            changes: ChangeCounter::new(pool.clone()),
            pool,
            partition,
            cache: Arc::default(),
        }
    }

    pub fn cache(&self) -> Arc<KeyCache> {
        self.cache.clone()
    }

    /// Forgets a changed key here and moves the change counter on for every replica.
    async fn key_changed(&self, key_id: Uuid) -> KmsResult<()> {
        self.cache.forget_key(key_id);
        self.count_change().await
    }

    async fn aliases_changed(&self) -> KmsResult<()> {
        self.cache.forget_aliases();
        self.count_change().await
    }

    async fn count_change(&self) -> KmsResult<()> {
        sqlx::query("UPDATE key_changes SET value = value + 1")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The database's change counter, read after this call began.
    async fn current_changes(&self) -> KmsResult<i64> {
        self.changes.current().await.map_err(|error| {
            tracing::warn!(%error, "reading the key change counter");
            KmsError::Unavailable
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn key_from_row(&self, row: &PgRow) -> KmsResult<Key> {
        let key_id: Uuid = row.try_get("key_id")?;
        let state: String = row.try_get("state")?;
        Ok(Key {
            key_id,
            arn: self.partition.key_arn(key_id),
            description: row.try_get("description")?,
            key_usage: row.try_get("key_usage")?,
            key_spec: row.try_get("key_spec")?,
            key_manager: row.try_get("key_manager")?,
            state: KeyState::parse(&state)
                .ok_or_else(|| KmsError::Internal(format!("unknown key state {state}")))?,
            policy: row.try_get::<String, _>("policy")?.into(),
            creation_date: row.try_get("creation_date")?,
            deletion_date: row.try_get("deletion_date")?,
            pending_window_days: row.try_get("pending_window_days")?,
            current_material_version: row.try_get("current_material_version")?,
        })
    }

    pub async fn insert_key(
        &self,
        key: &Key,
        wrapped_material: &[u8],
        tags: &[(String, String)],
    ) -> KmsResult<()> {
        let mut tx = self.pool.begin().await?;
        insert_key_rows(&mut tx, key, wrapped_material).await?;
        for (tag_key, tag_value) in tags {
            sqlx::query(
                "INSERT INTO key_tags (key_id, tag_key, tag_value) VALUES ($1, $2, $3) \
                 ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = EXCLUDED.tag_value",
            )
            .bind(key.key_id)
            .bind(tag_key)
            .bind(tag_value)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Inserts a key together with its alias, or nothing at all: false when the
    /// alias name is taken, as when a concurrent call created the same AWS managed
    /// key first (the alias's primary key decides who wins; the loser's key, never
    /// seen by anyone, is rolled back with its material).
    pub async fn insert_key_with_alias(
        &self,
        key: &Key,
        wrapped_material: &[u8],
        alias_name: &str,
    ) -> KmsResult<bool> {
        let mut tx = self.pool.begin().await?;
        insert_key_rows(&mut tx, key, wrapped_material).await?;
        let inserted = sqlx::query(
            "INSERT INTO aliases (alias_name, key_id, creation_date, last_updated_date) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (alias_name) DO NOTHING",
        )
        .bind(alias_name)
        .bind(key.key_id)
        .bind(key.creation_date)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        self.aliases_changed().await?;
        Ok(true)
    }

    pub async fn find_key(&self, key: &KeyRef) -> KmsResult<Option<Key>> {
        Ok(self
            .find_key_with_material(key, None)
            .await?
            .map(|found| found.key))
    }

    /// The hot path of every cryptographic call: the key, its state and policy, and
    /// one material version (the current one when `version` is None) in one query.
    pub async fn find_key_with_material(
        &self,
        key: &KeyRef,
        version: Option<i32>,
    ) -> KmsResult<Option<KeyWithMaterial>> {
        if let Some(hit) = self.cache.get(key)
            && version.is_none_or(|v| v == hit.material_version)
        {
            let changes = self.current_changes().await?;
            if changes == self.cache.changes() {
                return Ok(Some((*hit).clone()));
            }
            // Another replica (or this one) changed a key or alias since.
            self.cache.catch_up(changes);
        }
        let generation = self.cache.generation();
        let (found, changes) = self.read_key_with_material(key, version).await?;
        if changes > self.cache.changes() {
            // Cached from the next read on: catching up forgets what is in flight.
            self.cache.catch_up(changes);
        } else if let Some(found) = &found
            && found.material_version == found.key.current_material_version
        {
            self.cache
                .store(generation, changes, key, Arc::new(found.clone()));
        }
        Ok(found)
    }

    /// The key with one material version, and the change counter, from one snapshot.
    async fn read_key_with_material(
        &self,
        key: &KeyRef,
        version: Option<i32>,
    ) -> KmsResult<(Option<KeyWithMaterial>, i64)> {
        let (id, alias) = ref_binds(key);
        let row = sqlx::query(concat!(
            "SELECT c.value AS changes, found.* FROM key_changes c LEFT JOIN (SELECT ",
            key_columns!(),
            ", m.version, m.wrapped FROM keys k JOIN key_material m ON m.key_id = k.key_id \
             AND m.version = COALESCE($3, k.current_material_version) WHERE ",
            key_by_ref!(),
            ") found ON TRUE"
        ))
        .bind(id)
        .bind(alias)
        .bind(version)
        .fetch_one(&self.pool)
        .await?;
        let changes: i64 = row.try_get("changes")?;
        let key_id: Option<Uuid> = row.try_get("key_id")?;
        if key_id.is_none() {
            return Ok((None, changes));
        }
        let found = KeyWithMaterial {
            key: self.key_from_row(&row)?,
            material_version: row.try_get("version")?,
            wrapped_material: row.try_get("wrapped")?,
        };
        Ok((Some(found), changes))
    }

    /// Key ids after `after`, in id order, at most `limit` + 1 (the extra one says
    /// whether another page exists).
    pub async fn list_key_ids(&self, after: Option<Uuid>, limit: i64) -> KmsResult<Vec<Uuid>> {
        let rows = sqlx::query(
            "SELECT key_id FROM keys WHERE ($1::uuid IS NULL OR key_id > $1) ORDER BY key_id LIMIT $2",
        )
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok(row.try_get("key_id")?)).collect()
    }

    pub async fn set_description(&self, key_id: Uuid, description: &str) -> KmsResult<()> {
        sqlx::query("UPDATE keys SET description = $2 WHERE key_id = $1")
            .bind(key_id)
            .bind(description)
            .execute(&self.pool)
            .await?;
        self.key_changed(key_id).await
    }

    pub async fn set_policy(&self, key_id: Uuid, policy: &str) -> KmsResult<()> {
        sqlx::query("UPDATE keys SET policy = $2 WHERE key_id = $1")
            .bind(key_id)
            .bind(policy)
            .execute(&self.pool)
            .await?;
        self.key_changed(key_id).await
    }

    pub async fn set_state(
        &self,
        key_id: Uuid,
        state: KeyState,
        deletion: Option<(DateTime<Utc>, i32)>,
    ) -> KmsResult<()> {
        sqlx::query(
            "UPDATE keys SET state = $2, deletion_date = $3, pending_window_days = $4 WHERE key_id = $1",
        )
        .bind(key_id)
        .bind(state.as_str())
        .bind(deletion.map(|(date, _)| date))
        .bind(deletion.map(|(_, days)| days))
        .execute(&self.pool)
        .await?;
        self.key_changed(key_id).await
    }

    /// Deletes the keys whose deletion date has passed, with their material,
    /// aliases and tags (ON DELETE CASCADE). Returns the ids deleted.
    pub async fn delete_expired_keys(&self, now: DateTime<Utc>) -> KmsResult<Vec<Uuid>> {
        let rows = sqlx::query(
            "DELETE FROM keys WHERE state = 'PendingDeletion' AND deletion_date <= $1 RETURNING key_id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let deleted: Vec<Uuid> = rows
            .iter()
            .map(|row| row.try_get("key_id"))
            .collect::<Result<_, _>>()?;
        for key_id in &deleted {
            self.key_changed(*key_id).await?;
        }
        if !deleted.is_empty() {
            // Their aliases went with them.
            self.aliases_changed().await?;
        }
        Ok(deleted)
    }

    /// Inserts an alias; false when the name is taken.
    pub async fn insert_alias(
        &self,
        alias_name: &str,
        key_id: Uuid,
        now: DateTime<Utc>,
    ) -> KmsResult<bool> {
        let result = sqlx::query(
            "INSERT INTO aliases (alias_name, key_id, creation_date, last_updated_date) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (alias_name) DO NOTHING",
        )
        .bind(alias_name)
        .bind(key_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn find_alias(&self, alias_name: &str) -> KmsResult<Option<Alias>> {
        let row = sqlx::query(
            "SELECT alias_name, key_id, creation_date, last_updated_date FROM aliases WHERE alias_name = $1",
        )
        .bind(alias_name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| alias_from_row(&row)).transpose()
    }

    pub async fn retarget_alias(
        &self,
        alias_name: &str,
        key_id: Uuid,
        now: DateTime<Utc>,
    ) -> KmsResult<()> {
        sqlx::query("UPDATE aliases SET key_id = $2, last_updated_date = $3 WHERE alias_name = $1")
            .bind(alias_name)
            .bind(key_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        self.aliases_changed().await
    }

    pub async fn delete_alias(&self, alias_name: &str) -> KmsResult<()> {
        sqlx::query("DELETE FROM aliases WHERE alias_name = $1")
            .bind(alias_name)
            .execute(&self.pool)
            .await?;
        self.aliases_changed().await
    }

    /// Aliases after `after` in name order (of one key when `key_id` is set), at
    /// most `limit` + 1.
    pub async fn list_aliases(
        &self,
        key_id: Option<Uuid>,
        after: Option<&str>,
        limit: i64,
    ) -> KmsResult<Vec<Alias>> {
        let rows = sqlx::query(
            "SELECT alias_name, key_id, creation_date, last_updated_date FROM aliases \
             WHERE ($1::uuid IS NULL OR key_id = $1) AND ($2::text IS NULL OR alias_name > $2) \
             ORDER BY alias_name LIMIT $3",
        )
        .bind(key_id)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alias_from_row).collect()
    }
}

/// A key's row and its first material version.
async fn insert_key_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    key: &Key,
    wrapped_material: &[u8],
) -> KmsResult<()> {
    sqlx::query(
        "INSERT INTO keys (key_id, description, key_usage, key_spec, key_manager, state, policy, \
         creation_date, current_material_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(key.key_id)
    .bind(&key.description)
    .bind(&key.key_usage)
    .bind(&key.key_spec)
    .bind(&key.key_manager)
    .bind(key.state.as_str())
    .bind(&*key.policy)
    .bind(key.creation_date)
    .bind(key.current_material_version)
    .execute(&mut **tx)
    .await?;
    sqlx::query("INSERT INTO key_material (key_id, version, wrapped) VALUES ($1, $2, $3)")
        .bind(key.key_id)
        .bind(key.current_material_version)
        .bind(wrapped_material)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn alias_from_row(row: &PgRow) -> KmsResult<Alias> {
    Ok(Alias {
        alias_name: row.try_get("alias_name")?,
        key_id: row.try_get("key_id")?,
        creation_date: row.try_get("creation_date")?,
        last_updated_date: row.try_get("last_updated_date")?,
    })
}
