//! The gRPC adapter: take the caller from the request, convert the message, call the
//! domain, convert back. Rules live in the domain, statuses in error.rs.

use std::{collections::HashMap, sync::Arc};

use keyhold_crypto::EncryptionContext;
use keyhold_platform::{AuditNotes, Caller};
use keyhold_proto::kms::v1::{self as pb, kms_service_server::KmsService};
use tonic::{Request, Response, Status};

use crate::{
    domain::{Call, CreateKeyInput, Kms, Page, PolicyEdit},
    limits::RequestLimits,
    model::{Key, rfc3339},
};

pub struct KmsGrpc {
    kms: Arc<Kms>,
}

impl KmsGrpc {
    pub fn new(kms: Arc<Kms>) -> Self {
        KmsGrpc { kms }
    }
}

type GrpcResult<T> = Result<Response<T>, Status>;

/// The authenticated caller and audit notes the platform stack put on the request.
struct CallContext {
    caller: Caller,
    notes: Option<AuditNotes>,
}

impl CallContext {
    fn of<T>(request: &Request<T>) -> Result<CallContext, Status> {
        let caller = request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated(keyhold_platform::error::UNRECOGNIZED_CLIENT))?;
        Ok(CallContext {
            caller,
            notes: request.extensions().get::<AuditNotes>().cloned(),
        })
    }

    fn call(&self) -> Call<'_> {
        Call {
            caller: &self.caller,
            notes: self.notes.as_ref(),
        }
    }
}

/// Splits a request into its call context and message, once the message is within
/// AWS's limits.
fn open<T: RequestLimits>(request: Request<T>) -> Result<(CallContext, T), Status> {
    let context = CallContext::of(&request)?;
    let message = request.into_inner();
    message.check_limits()?;
    Ok((context, message))
}

fn context_of(pairs: HashMap<String, String>) -> EncryptionContext {
    pairs.into_iter().collect()
}

fn metadata(key: &Key, account_id: &str) -> pb::KeyMetadata {
    pb::KeyMetadata {
        aws_account_id: account_id.to_owned(),
        key_id: key.key_id.to_string(),
        arn: key.arn.clone(),
        creation_date: rfc3339(key.creation_date),
        enabled: key.state == crate::model::KeyState::Enabled,
        description: key.description.clone(),
        key_usage: key.key_usage.clone(),
        key_state: key.state.as_str().to_owned(),
        deletion_date: key.deletion_date.map(rfc3339).unwrap_or_default(),
        origin: "AWS_KMS".to_owned(),
        key_manager: key.key_manager.clone(),
        key_spec: key.key_spec.clone(),
        encryption_algorithms: vec!["SYMMETRIC_DEFAULT".to_owned()],
        multi_region: false,
        pending_deletion_window_in_days: key.pending_window_days.unwrap_or_default(),
    }
}

fn marker<T>(page: &Page<T>) -> (String, bool) {
    (
        page.next_marker.clone().unwrap_or_default(),
        page.next_marker.is_some(),
    )
}

#[tonic::async_trait]
impl KmsService for KmsGrpc {
    async fn create_key(
        &self,
        request: Request<pb::CreateKeyRequest>,
    ) -> GrpcResult<pb::CreateKeyResponse> {
        let (ctx, req) = open(request)?;
        let input = CreateKeyInput {
            description: req.description,
            key_usage: req.key_usage,
            key_spec: req.key_spec,
            policy: req.policy,
            bypass_policy_lockout_safety_check: req.bypass_policy_lockout_safety_check,
            tags: req
                .tags
                .into_iter()
                .map(|t| (t.tag_key, t.tag_value))
                .collect(),
            key_administrators: req.key_administrators,
            key_users: req.key_users,
        };
        let key = self.kms.create_key(ctx.call(), input).await?;
        let key_metadata = Some(metadata(&key, &self.kms.partition().account_id));
        Ok(Response::new(pb::CreateKeyResponse { key_metadata }))
    }

    async fn describe_key(
        &self,
        request: Request<pb::DescribeKeyRequest>,
    ) -> GrpcResult<pb::DescribeKeyResponse> {
        let (ctx, req) = open(request)?;
        let key = self.kms.describe_key(ctx.call(), &req.key_id).await?;
        let key_metadata = Some(metadata(&key, &self.kms.partition().account_id));
        Ok(Response::new(pb::DescribeKeyResponse { key_metadata }))
    }

    async fn list_keys(
        &self,
        request: Request<pb::ListKeysRequest>,
    ) -> GrpcResult<pb::ListKeysResponse> {
        let (ctx, req) = open(request)?;
        let page = self
            .kms
            .list_keys(ctx.call(), req.limit, &req.marker)
            .await?;
        let (next_marker, truncated) = marker(&page);
        let partition = self.kms.partition();
        let keys = page
            .items
            .into_iter()
            .map(|id| pb::KeyListEntry {
                key_id: id.to_string(),
                key_arn: partition.key_arn(id),
            })
            .collect();
        Ok(Response::new(pb::ListKeysResponse {
            keys,
            next_marker,
            truncated,
        }))
    }

    async fn update_key_description(
        &self,
        request: Request<pb::UpdateKeyDescriptionRequest>,
    ) -> GrpcResult<pb::UpdateKeyDescriptionResponse> {
        let (ctx, req) = open(request)?;
        self.kms
            .update_key_description(ctx.call(), &req.key_id, &req.description)
            .await?;
        Ok(Response::new(pb::UpdateKeyDescriptionResponse {}))
    }

    async fn enable_key(
        &self,
        request: Request<pb::EnableKeyRequest>,
    ) -> GrpcResult<pb::EnableKeyResponse> {
        let (ctx, req) = open(request)?;
        self.kms.enable_key(ctx.call(), &req.key_id).await?;
        Ok(Response::new(pb::EnableKeyResponse {}))
    }

    async fn disable_key(
        &self,
        request: Request<pb::DisableKeyRequest>,
    ) -> GrpcResult<pb::DisableKeyResponse> {
        let (ctx, req) = open(request)?;
        self.kms.disable_key(ctx.call(), &req.key_id).await?;
        Ok(Response::new(pb::DisableKeyResponse {}))
    }

    async fn schedule_key_deletion(
        &self,
        request: Request<pb::ScheduleKeyDeletionRequest>,
    ) -> GrpcResult<pb::ScheduleKeyDeletionResponse> {
        let (ctx, req) = open(request)?;
        let key = self
            .kms
            .schedule_key_deletion(ctx.call(), &req.key_id, req.pending_window_in_days)
            .await?;
        Ok(Response::new(pb::ScheduleKeyDeletionResponse {
            key_id: key.arn.clone(),
            deletion_date: key.deletion_date.map(rfc3339).unwrap_or_default(),
            key_state: key.state.as_str().to_owned(),
            pending_window_in_days: key.pending_window_days.unwrap_or_default(),
        }))
    }

    async fn cancel_key_deletion(
        &self,
        request: Request<pb::CancelKeyDeletionRequest>,
    ) -> GrpcResult<pb::CancelKeyDeletionResponse> {
        let (ctx, req) = open(request)?;
        let key = self
            .kms
            .cancel_key_deletion(ctx.call(), &req.key_id)
            .await?;
        Ok(Response::new(pb::CancelKeyDeletionResponse {
            key_id: key.arn,
        }))
    }

    async fn create_alias(
        &self,
        request: Request<pb::CreateAliasRequest>,
    ) -> GrpcResult<pb::CreateAliasResponse> {
        let (ctx, req) = open(request)?;
        self.kms
            .create_alias(ctx.call(), &req.alias_name, &req.target_key_id)
            .await?;
        Ok(Response::new(pb::CreateAliasResponse {}))
    }

    async fn update_alias(
        &self,
        request: Request<pb::UpdateAliasRequest>,
    ) -> GrpcResult<pb::UpdateAliasResponse> {
        let (ctx, req) = open(request)?;
        self.kms
            .update_alias(ctx.call(), &req.alias_name, &req.target_key_id)
            .await?;
        Ok(Response::new(pb::UpdateAliasResponse {}))
    }

    async fn delete_alias(
        &self,
        request: Request<pb::DeleteAliasRequest>,
    ) -> GrpcResult<pb::DeleteAliasResponse> {
        let (ctx, req) = open(request)?;
        self.kms.delete_alias(ctx.call(), &req.alias_name).await?;
        Ok(Response::new(pb::DeleteAliasResponse {}))
    }

    async fn list_aliases(
        &self,
        request: Request<pb::ListAliasesRequest>,
    ) -> GrpcResult<pb::ListAliasesResponse> {
        let (ctx, req) = open(request)?;
        let page = self
            .kms
            .list_aliases(ctx.call(), &req.key_id, req.limit, &req.marker)
            .await?;
        let (next_marker, truncated) = marker(&page);
        let partition = self.kms.partition();
        let aliases = page
            .items
            .into_iter()
            .map(|alias| pb::AliasListEntry {
                alias_arn: partition.alias_arn(&alias.alias_name),
                alias_name: alias.alias_name,
                target_key_id: alias.key_id.to_string(),
                creation_date: rfc3339(alias.creation_date),
                last_updated_date: rfc3339(alias.last_updated_date),
            })
            .collect();
        Ok(Response::new(pb::ListAliasesResponse {
            aliases,
            next_marker,
            truncated,
        }))
    }

    async fn get_key_policy(
        &self,
        request: Request<pb::GetKeyPolicyRequest>,
    ) -> GrpcResult<pb::GetKeyPolicyResponse> {
        let (ctx, req) = open(request)?;
        let policy = self
            .kms
            .get_key_policy(ctx.call(), &req.key_id, &req.policy_name)
            .await?;
        Ok(Response::new(pb::GetKeyPolicyResponse {
            policy,
            policy_name: "default".to_owned(),
        }))
    }

    async fn put_key_policy(
        &self,
        request: Request<pb::PutKeyPolicyRequest>,
    ) -> GrpcResult<pb::PutKeyPolicyResponse> {
        let (ctx, req) = open(request)?;
        self.kms
            .put_key_policy(
                ctx.call(),
                &req.key_id,
                &req.policy_name,
                &req.policy,
                req.bypass_policy_lockout_safety_check,
            )
            .await?;
        Ok(Response::new(pb::PutKeyPolicyResponse {}))
    }

    async fn list_key_policies(
        &self,
        request: Request<pb::ListKeyPoliciesRequest>,
    ) -> GrpcResult<pb::ListKeyPoliciesResponse> {
        let (ctx, req) = open(request)?;
        let page = self
            .kms
            .list_key_policies(ctx.call(), &req.key_id, req.limit)
            .await?;
        let (next_marker, truncated) = marker(&page);
        Ok(Response::new(pb::ListKeyPoliciesResponse {
            policy_names: page.items,
            next_marker,
            truncated,
        }))
    }

    async fn add_key_administrator(
        &self,
        request: Request<pb::AddKeyAdministratorRequest>,
    ) -> GrpcResult<pb::AddKeyAdministratorResponse> {
        let (ctx, req) = open(request)?;
        let policy = self
            .kms
            .edit_key_policy(
                ctx.call(),
                &req.key_id,
                &req.principal,
                PolicyEdit::AddAdministrator,
            )
            .await?;
        Ok(Response::new(pb::AddKeyAdministratorResponse { policy }))
    }

    async fn remove_key_administrator(
        &self,
        request: Request<pb::RemoveKeyAdministratorRequest>,
    ) -> GrpcResult<pb::RemoveKeyAdministratorResponse> {
        let (ctx, req) = open(request)?;
        let policy = self
            .kms
            .edit_key_policy(
                ctx.call(),
                &req.key_id,
                &req.principal,
                PolicyEdit::RemoveAdministrator,
            )
            .await?;
        Ok(Response::new(pb::RemoveKeyAdministratorResponse { policy }))
    }

    async fn add_key_user(
        &self,
        request: Request<pb::AddKeyUserRequest>,
    ) -> GrpcResult<pb::AddKeyUserResponse> {
        let (ctx, req) = open(request)?;
        let policy = self
            .kms
            .edit_key_policy(ctx.call(), &req.key_id, &req.principal, PolicyEdit::AddUser)
            .await?;
        Ok(Response::new(pb::AddKeyUserResponse { policy }))
    }

    async fn remove_key_user(
        &self,
        request: Request<pb::RemoveKeyUserRequest>,
    ) -> GrpcResult<pb::RemoveKeyUserResponse> {
        let (ctx, req) = open(request)?;
        let policy = self
            .kms
            .edit_key_policy(
                ctx.call(),
                &req.key_id,
                &req.principal,
                PolicyEdit::RemoveUser,
            )
            .await?;
        Ok(Response::new(pb::RemoveKeyUserResponse { policy }))
    }

    async fn encrypt(
        &self,
        request: Request<pb::EncryptRequest>,
    ) -> GrpcResult<pb::EncryptResponse> {
        let (ctx, req) = open(request)?;
        let plaintext = zeroize::Zeroizing::new(req.plaintext);
        crate::validate::encryption_algorithm(&req.encryption_algorithm)?;
        let context = context_of(req.encryption_context);
        let (ciphertext_blob, key) = self
            .kms
            .encrypt(ctx.call(), &req.key_id, &plaintext, &context)
            .await?;
        Ok(Response::new(pb::EncryptResponse {
            ciphertext_blob,
            key_id: key.arn,
            encryption_algorithm: "SYMMETRIC_DEFAULT".to_owned(),
        }))
    }

    async fn decrypt(
        &self,
        request: Request<pb::DecryptRequest>,
    ) -> GrpcResult<pb::DecryptResponse> {
        let (ctx, req) = open(request)?;
        crate::validate::encryption_algorithm(&req.encryption_algorithm)?;
        let context = context_of(req.encryption_context);
        let decrypted = self
            .kms
            .decrypt(ctx.call(), &req.ciphertext_blob, &context, &req.key_id)
            .await?;
        Ok(Response::new(pb::DecryptResponse {
            key_id: decrypted.key.arn.clone(),
            // prost needs an owned Vec; the zeroized original is wiped when dropped.
            plaintext: decrypted.plaintext.to_vec(),
            encryption_algorithm: "SYMMETRIC_DEFAULT".to_owned(),
        }))
    }

    async fn re_encrypt(
        &self,
        request: Request<pb::ReEncryptRequest>,
    ) -> GrpcResult<pb::ReEncryptResponse> {
        let (ctx, req) = open(request)?;
        crate::validate::encryption_algorithm(&req.source_encryption_algorithm)?;
        crate::validate::encryption_algorithm(&req.destination_encryption_algorithm)?;
        let (ciphertext_blob, source, destination) = self
            .kms
            .re_encrypt(
                ctx.call(),
                &req.ciphertext_blob,
                &context_of(req.source_encryption_context),
                &req.source_key_id,
                &req.destination_key_id,
                &context_of(req.destination_encryption_context),
            )
            .await?;
        Ok(Response::new(pb::ReEncryptResponse {
            ciphertext_blob,
            source_key_id: source.arn,
            key_id: destination.arn,
            source_encryption_algorithm: "SYMMETRIC_DEFAULT".to_owned(),
            destination_encryption_algorithm: "SYMMETRIC_DEFAULT".to_owned(),
        }))
    }

    async fn generate_data_key(
        &self,
        request: Request<pb::GenerateDataKeyRequest>,
    ) -> GrpcResult<pb::GenerateDataKeyResponse> {
        let (ctx, req) = open(request)?;
        let context = context_of(req.encryption_context);
        let data_key = self
            .kms
            .generate_data_key(
                ctx.call(),
                &req.key_id,
                &context,
                &req.key_spec,
                req.number_of_bytes,
                "kms:GenerateDataKey",
            )
            .await?;
        Ok(Response::new(pb::GenerateDataKeyResponse {
            ciphertext_blob: data_key.ciphertext_blob,
            plaintext: data_key.plaintext.to_vec(),
            key_id: data_key.key.arn,
        }))
    }

    async fn generate_data_key_without_plaintext(
        &self,
        request: Request<pb::GenerateDataKeyWithoutPlaintextRequest>,
    ) -> GrpcResult<pb::GenerateDataKeyWithoutPlaintextResponse> {
        let (ctx, req) = open(request)?;
        let context = context_of(req.encryption_context);
        let data_key = self
            .kms
            .generate_data_key(
                ctx.call(),
                &req.key_id,
                &context,
                &req.key_spec,
                req.number_of_bytes,
                "kms:GenerateDataKeyWithoutPlaintext",
            )
            .await?;
        Ok(Response::new(pb::GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: data_key.ciphertext_blob,
            key_id: data_key.key.arn,
        }))
    }

    async fn generate_random(
        &self,
        request: Request<pb::GenerateRandomRequest>,
    ) -> GrpcResult<pb::GenerateRandomResponse> {
        let (ctx, req) = open(request)?;
        let plaintext = self
            .kms
            .generate_random(ctx.call(), req.number_of_bytes)
            .await?;
        Ok(Response::new(pb::GenerateRandomResponse {
            plaintext: plaintext.to_vec(),
        }))
    }
}
