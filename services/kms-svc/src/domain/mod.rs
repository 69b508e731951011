//! kms-svc's domain: every operation resolves its key, authorizes the caller against
//! the key policy, checks the key state, and only then acts. No tonic types here.

mod aliases;
mod crypto_ops;
mod keys;
mod managed;
mod policies;

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use keyhold_crypto::{MasterKey, SecretKey, material_aad};
use keyhold_platform::{AuditNotes, Caller, Principals};

pub use keys::{CreateKeyInput, policy_error};
pub use policies::PolicyEdit;

use crate::{
    authz::PolicyCache,
    error::{KmsError, KmsResult},
    key_ref::{KeyRef, Partition},
    model::{Key, KeyState, KeyWithMaterial},
    store::KmsStore,
};

pub struct Kms {
    store: KmsStore,
    partition: Partition,
    master_key: MasterKey,
    principals: Arc<Principals>,
    policies: PolicyCache,
}

/// Who makes the call, and where its audit record notes the resources it touches.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub caller: &'a Caller,
    pub notes: Option<&'a AuditNotes>,
}

/// One page of a list, with AWS's opaque marker for the next.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_marker: Option<String>,
}

impl<T> Page<T> {
    /// `rows` holds up to `limit` + 1 items; the extra one only says more exist.
    fn from_rows(mut rows: Vec<T>, limit: i64, marker_of: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_marker = more
            .then(|| rows.last().map(|last| encode_marker(&marker_of(last))))
            .flatten();
        Page {
            items: rows,
            next_marker,
        }
    }
}

fn encode_marker(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position)
}

fn decode_marker(marker: &str) -> KmsResult<Option<String>> {
    if marker.is_empty() {
        return Ok(None);
    }
    URL_SAFE_NO_PAD
        .decode(marker)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        // No position we hand out holds a NUL (Postgres text cannot).
        .filter(|position| !position.contains('\0'))
        .map(Some)
        .ok_or_else(|| KmsError::InvalidMarker(format!("Invalid marker: {marker}")))
}

pub const KEY_RESOURCE: &str = "AWS::KMS::Key";

impl Kms {
    pub fn new(
        store: KmsStore,
        partition: Partition,
        master_key: MasterKey,
        principals: Arc<Principals>,
    ) -> Self {
        Kms {
            store,
            partition,
            master_key,
            principals,
            policies: PolicyCache::default(),
        }
    }

    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    pub fn store(&self) -> &KmsStore {
        &self.store
    }

    fn not_found(&self, key: &KeyRef) -> KmsError {
        match key {
            KeyRef::Id(id) => KmsError::NotFound(format!(
                "Key '{}' does not exist",
                self.partition.key_arn(*id)
            )),
            KeyRef::Alias(name) => KmsError::NotFound(format!(
                "Alias '{}' is not found.",
                self.partition.alias_arn(name)
            )),
        }
    }

    /// Resolves a KeyId argument to its key and notes it in the call's record.
    async fn load_key(&self, call: Call<'_>, key_id: &str) -> KmsResult<Key> {
        let key_ref = self.partition.parse_key_ref(key_id)?;
        let key = self
            .store
            .find_key(&key_ref)
            .await?
            .ok_or_else(|| self.not_found(&key_ref))?;
        self.note(call, &key);
        Ok(key)
    }

    async fn load_key_with_material(
        &self,
        call: Call<'_>,
        key_ref: &KeyRef,
        version: Option<i32>,
    ) -> KmsResult<Option<KeyWithMaterial>> {
        let found = self.store.find_key_with_material(key_ref, version).await?;
        if let Some(found) = &found {
            self.note(call, &found.key);
        }
        Ok(found)
    }

    fn note(&self, call: Call<'_>, key: &Key) {
        if let Some(notes) = call.notes {
            notes.add_resource(KEY_RESOURCE, &key.arn, &self.partition.account_id);
        }
    }

    fn unwrap_material(&self, found: &KeyWithMaterial) -> KmsResult<SecretKey> {
        let aad = material_aad(&found.key.arn, found.material_version as u32);
        let material = self
            .master_key
            .unwrap(&found.wrapped_material, &aad)
            .map_err(|_| {
                KmsError::Internal(format!(
                    "key material of {} does not unwrap: wrong master key?",
                    found.key.arn
                ))
            })?;
        SecretKey::from_bytes(&material).map_err(|e| KmsError::Internal(e.to_string()))
    }
}

/// Cryptographic operations need an Enabled key; the error names the key's state.
fn require_enabled(key: &Key) -> KmsResult<()> {
    match key.state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(KmsError::Disabled(key.arn.clone())),
        KeyState::PendingDeletion => Err(KmsError::pending_deletion(&key.arn)),
    }
}

/// Changes other than deletion scheduling are refused while a key awaits deletion.
fn require_not_pending_deletion(key: &Key) -> KmsResult<()> {
    match key.state {
        KeyState::PendingDeletion => Err(KmsError::pending_deletion(&key.arn)),
        _ => Ok(()),
    }
}
