//! An [`ObjectStore`] in memory, for tests and benchmarks (and tampering with).

use std::{
    collections::BTreeMap,
    sync::{Mutex, PoisonError},
};

use super::{Metadata, ObjectError, ObjectStore, StoredObject};

#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<(String, String), StoredObject>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<(String, String), StoredObject>) -> R) -> R {
        f(&mut self.objects.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn insert(&self, bucket: &str, key: &str, object: StoredObject) {
        self.with(|objects| objects.insert((bucket.to_owned(), key.to_owned()), object));
    }

    pub fn object(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        self.with(|objects| objects.get(&(bucket.to_owned(), key.to_owned())).cloned())
    }

    pub fn remove(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        self.with(|objects| objects.remove(&(bucket.to_owned(), key.to_owned())))
    }

    /// The keys of `bucket` under `prefix`, in key order.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.with(|objects| {
            objects
                .keys()
                .filter(|(b, k)| b == bucket && k.starts_with(prefix))
                .map(|(_, k)| k.clone())
                .collect()
        })
    }
}

impl ObjectStore for MemoryStore {
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        metadata: Metadata,
    ) -> Result<(), ObjectError> {
        self.insert(bucket, key, StoredObject { bytes, metadata });
        Ok(())
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<StoredObject, ObjectError> {
        self.object(bucket, key).ok_or(ObjectError::NoSuchKey)
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, ObjectError> {
        Ok(self.keys(bucket, prefix))
    }
}
