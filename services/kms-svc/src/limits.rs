//! Every request's fields against AWS's limits, checked by the gRPC adapter before the
//! domain does any work with them. `open` in grpc.rs needs this trait, so a new RPC
//! cannot be served without deciding its limits.

use keyhold_proto::kms::v1 as pb;

use crate::{error::KmsResult, validate};

pub trait RequestLimits {
    fn check_limits(&self) -> KmsResult<()>;
}

/// Requests whose only client field is a KeyId.
macro_rules! key_id_only {
    ($($request:ty),+) => {$(
        impl RequestLimits for $request {
            fn check_limits(&self) -> KmsResult<()> {
                validate::key_id("keyId", &self.key_id)
            }
        }
    )+};
}

key_id_only!(
    pb::DescribeKeyRequest,
    pb::EnableKeyRequest,
    pb::DisableKeyRequest,
    pb::ScheduleKeyDeletionRequest,
    pb::CancelKeyDeletionRequest
);

/// The console edits: a key and a principal.
macro_rules! policy_edit {
    ($($request:ty),+) => {$(
        impl RequestLimits for $request {
            fn check_limits(&self) -> KmsResult<()> {
                validate::key_id("keyId", &self.key_id)?;
                validate::principal("principal", &self.principal)
            }
        }
    )+};
}

policy_edit!(
    pb::AddKeyAdministratorRequest,
    pb::RemoveKeyAdministratorRequest,
    pb::AddKeyUserRequest,
    pb::RemoveKeyUserRequest
);

impl RequestLimits for pb::CreateKeyRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::description(&self.description)?;
        validate::policy(&self.policy)?;
        validate::tags(
            self.tags
                .iter()
                .map(|t| (t.tag_key.as_str(), t.tag_value.as_str())),
        )?;
        for name in &self.key_administrators {
            validate::principal("keyAdministrators", name)?;
        }
        for name in &self.key_users {
            validate::principal("keyUsers", name)?;
        }
        Ok(())
    }
}

impl RequestLimits for pb::ListKeysRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::marker(&self.marker)
    }
}

impl RequestLimits for pb::UpdateKeyDescriptionRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::key_id("keyId", &self.key_id)?;
        validate::description(&self.description)
    }
}

/// Alias names have their own rules (validate::alias_name), applied by the domain
/// first thing; here only the key they point at.
impl RequestLimits for pb::CreateAliasRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::alias_name(&self.alias_name)?;
        validate::key_id("targetKeyId", &self.target_key_id)
    }
}

impl RequestLimits for pb::UpdateAliasRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::alias_name(&self.alias_name)?;
        validate::key_id("targetKeyId", &self.target_key_id)
    }
}

impl RequestLimits for pb::DeleteAliasRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::alias_name(&self.alias_name)
    }
}

impl RequestLimits for pb::ListAliasesRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::key_id("keyId", &self.key_id)?;
        validate::marker(&self.marker)
    }
}

impl RequestLimits for pb::GetKeyPolicyRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::key_id("keyId", &self.key_id)?;
        validate::policy_name(&self.policy_name)
    }
}

impl RequestLimits for pb::PutKeyPolicyRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::key_id("keyId", &self.key_id)?;
        validate::policy_name(&self.policy_name)?;
        validate::policy(&self.policy)
    }
}

impl RequestLimits for pb::ListKeyPoliciesRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::key_id("keyId", &self.key_id)?;
        validate::marker(&self.marker)
    }
}

impl RequestLimits for pb::EncryptRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::key_id("keyId", &self.key_id)?;
        validate::encryption_context("encryptionContext", &self.encryption_context)
    }
}

impl RequestLimits for pb::DecryptRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::key_id("keyId", &self.key_id)?;
        validate::encryption_context("encryptionContext", &self.encryption_context)
    }
}

impl RequestLimits for pb::ReEncryptRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::key_id("sourceKeyId", &self.source_key_id)?;
        validate::key_id("destinationKeyId", &self.destination_key_id)?;
        validate::encryption_context("sourceEncryptionContext", &self.source_encryption_context)?;
        validate::encryption_context(
            "destinationEncryptionContext",
            &self.destination_encryption_context,
        )
    }
}

impl RequestLimits for pb::GenerateDataKeyRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::key_id("keyId", &self.key_id)?;
        validate::encryption_context("encryptionContext", &self.encryption_context)
    }
}

impl RequestLimits for pb::GenerateDataKeyWithoutPlaintextRequest {
    fn check_limits(&self) -> KmsResult<()> {
        validate::key_id("keyId", &self.key_id)?;
        validate::encryption_context("encryptionContext", &self.encryption_context)
    }
}

/// Its one field, a number, is checked by the domain.
impl RequestLimits for pb::GenerateRandomRequest {
    fn check_limits(&self) -> KmsResult<()> {
        Ok(())
    }
}
