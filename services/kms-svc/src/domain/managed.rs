//! AWS managed keys: `alias/aws/s3`, which KMS creates the first time Amazon S3
//! uses it for the account (an SSE-KMS object written without a key id).
//!
//! Only S3 creates it: a call naming the missing alias that did not come through
//! S3 is told the alias does not exist, as before. Nobody manages the key once it
//! exists: its policy ([`s3_managed_key_policy`]) grants the account metadata reads
//! and use through S3, and no administrative action to anyone, so PutKeyPolicy,
//! DisableKey, ScheduleKeyDeletion and the like are refused by the policy itself.
//! Users cannot create, retarget or delete `alias/aws/` names (see
//! `validate::alias_name`).

use keyhold_key_policy::s3_managed_key_policy;
use uuid::Uuid;

use super::{Call, Kms};
use crate::{
    error::KmsResult,
    key_ref::KeyRef,
    model::{Key, KeyWithMaterial},
};

/// The alias of the account's AWS managed key for Amazon S3.
pub const S3_MANAGED_ALIAS: &str = "alias/aws/s3";
/// The service principal name whose calls may create it.
pub const S3_SERVICE: &str = "s3.amazonaws.com";
pub const S3_MANAGED_DESCRIPTION: &str =
    "Default key that protects my S3 objects when no other key is defined";
pub const AWS_KEY_MANAGER: &str = "AWS";

impl Kms {
    /// The key (with its current material) named by `key_ref`, creating the AWS
    /// managed key on S3's first use of its alias. NotFound otherwise.
    pub(super) async fn load_key_with_material_or_first_use(
        &self,
        call: Call<'_>,
        key_ref: &KeyRef,
    ) -> KmsResult<KeyWithMaterial> {
        if let Some(found) = self.load_key_with_material(call, key_ref, None).await? {
            return Ok(found);
        }
        if self.create_managed_key_on_first_use(call, key_ref).await? {
            // Created here or by a concurrent first use: either way it is there now.
            if let Some(found) = self.load_key_with_material(call, key_ref, None).await? {
                return Ok(found);
            }
        }
        Err(self.not_found(key_ref))
    }

    /// Like [`Kms::load_key_with_material_or_first_use`], for calls that need no
    /// material (DescribeKey).
    pub(super) async fn load_key_or_first_use(
        &self,
        call: Call<'_>,
        key_id: &str,
    ) -> KmsResult<Key> {
        let key_ref = self.partition.parse_key_ref(key_id)?;
        Ok(self
            .load_key_with_material_or_first_use(call, &key_ref)
            .await?
            .key)
    }

    /// Creates the AWS managed key `key_ref` names when this call may create it:
    /// the alias is `alias/aws/s3` and the caller came through S3. True when the
    /// key exists afterwards (made by this call or by a concurrent one), false when
    /// this call may not create it.
    async fn create_managed_key_on_first_use(
        &self,
        call: Call<'_>,
        key_ref: &KeyRef,
    ) -> KmsResult<bool> {
        let KeyRef::Alias(alias_name) = key_ref else {
            return Ok(false);
        };
        if alias_name != S3_MANAGED_ALIAS || call.caller.via_service() != Some(S3_SERVICE) {
            return Ok(false);
        }
        let policy = s3_managed_key_policy(&self.partition.account_id, &self.partition.region);
        let (key, wrapped) = self.new_key(
            Uuid::new_v4(),
            S3_MANAGED_DESCRIPTION.to_owned(),
            AWS_KEY_MANAGER,
            policy,
        );
        let created = self
            .store
            .insert_key_with_alias(&key, &wrapped, alias_name)
            .await?;
        if created {
            tracing::info!(key = %key.arn, alias = alias_name, "created the AWS managed key on first use");
        }
        Ok(true)
    }
}
