//! Every KMS RPC as data: a fixture key for each call, and one call of each RPC, so
//! tests can walk all of them (authorization matrix, audit records).

use keyhold_proto::kms::v1::*;

use crate::{KmsClient, kms::console_key};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rpc {
    CreateKey,
    DescribeKey,
    ListKeys,
    UpdateKeyDescription,
    EnableKey,
    DisableKey,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    CreateAlias,
    UpdateAlias,
    DeleteAlias,
    ListAliases,
    GetKeyPolicy,
    PutKeyPolicy,
    ListKeyPolicies,
    AddKeyAdministrator,
    RemoveKeyAdministrator,
    AddKeyUser,
    RemoveKeyUser,
    Encrypt,
    Decrypt,
    ReEncrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    GenerateRandom,
}

impl Rpc {
    pub const ALL: [Rpc; 25] = [
        Rpc::CreateKey,
        Rpc::DescribeKey,
        Rpc::ListKeys,
        Rpc::UpdateKeyDescription,
        Rpc::EnableKey,
        Rpc::DisableKey,
        Rpc::ScheduleKeyDeletion,
        Rpc::CancelKeyDeletion,
        Rpc::CreateAlias,
        Rpc::UpdateAlias,
        Rpc::DeleteAlias,
        Rpc::ListAliases,
        Rpc::GetKeyPolicy,
        Rpc::PutKeyPolicy,
        Rpc::ListKeyPolicies,
        Rpc::AddKeyAdministrator,
        Rpc::RemoveKeyAdministrator,
        Rpc::AddKeyUser,
        Rpc::RemoveKeyUser,
        Rpc::Encrypt,
        Rpc::Decrypt,
        Rpc::ReEncrypt,
        Rpc::GenerateDataKey,
        Rpc::GenerateDataKeyWithoutPlaintext,
        Rpc::GenerateRandom,
    ];

    /// The AWS operation name, which is also the RPC and CloudTrail event name.
    pub fn name(self) -> String {
        format!("{self:?}")
    }

    /// Calls that act on no key.
    pub fn targets_no_key(self) -> bool {
        matches!(
            self,
            Rpc::CreateKey | Rpc::ListKeys | Rpc::ListAliases | Rpc::GenerateRandom
        )
    }
}

/// A fresh console-policy key per case, so no case sees another's changes.
pub struct Fixture {
    pub key_id: String,
    pub key_arn: String,
    pub alias: String,
    pub blob: Vec<u8>,
}

pub async fn fixture(root: &mut KmsClient, rpc: Rpc, case: usize) -> Fixture {
    let key = console_key(root, &["AWSLabsUser-0001"], &["AWSLabsUser-0002"]).await;
    let alias = format!(
        "alias/matrix-{rpc:?}-{case}-{}",
        uuid::Uuid::new_v4().simple()
    );
    root.create_alias(CreateAliasRequest {
        alias_name: alias.clone(),
        target_key_id: key.key_id.clone(),
    })
    .await
    .unwrap();
    let blob = root
        .encrypt(EncryptRequest {
            key_id: key.key_id.clone(),
            plaintext: b"matrix".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ciphertext_blob;
    if rpc == Rpc::CancelKeyDeletion {
        root.schedule_key_deletion(ScheduleKeyDeletionRequest {
            key_id: key.key_id.clone(),
            pending_window_in_days: 7,
        })
        .await
        .unwrap();
    }
    Fixture {
        key_id: key.key_id,
        key_arn: key.arn,
        alias,
        blob,
    }
}

pub async fn call(
    client: &mut KmsClient,
    rpc: Rpc,
    f: &Fixture,
    root: &mut KmsClient,
) -> Result<(), tonic::Status> {
    let key_id = f.key_id.clone();
    match rpc {
        Rpc::CreateKey => client
            .create_key(CreateKeyRequest::default())
            .await
            .map(drop),
        Rpc::DescribeKey => client
            .describe_key(DescribeKeyRequest { key_id })
            .await
            .map(drop),
        Rpc::ListKeys => client.list_keys(ListKeysRequest::default()).await.map(drop),
        Rpc::UpdateKeyDescription => client
            .update_key_description(UpdateKeyDescriptionRequest {
                key_id,
                description: "new".into(),
            })
            .await
            .map(drop),
        Rpc::EnableKey => client
            .enable_key(EnableKeyRequest { key_id })
            .await
            .map(drop),
        Rpc::DisableKey => client
            .disable_key(DisableKeyRequest { key_id })
            .await
            .map(drop),
        Rpc::ScheduleKeyDeletion => client
            .schedule_key_deletion(ScheduleKeyDeletionRequest {
                key_id,
                pending_window_in_days: 7,
            })
            .await
            .map(drop),
        Rpc::CancelKeyDeletion => client
            .cancel_key_deletion(CancelKeyDeletionRequest { key_id })
            .await
            .map(drop),
        Rpc::CreateAlias => client
            .create_alias(CreateAliasRequest {
                alias_name: format!("{}-new", f.alias),
                target_key_id: key_id,
            })
            .await
            .map(drop),
        Rpc::UpdateAlias => {
            // Retarget to a second key the caller has the same rights on.
            let other = fixture(root, Rpc::UpdateAlias, usize::MAX).await;
            client
                .update_alias(UpdateAliasRequest {
                    alias_name: f.alias.clone(),
                    target_key_id: other.key_id,
                })
                .await
                .map(drop)
        }
        Rpc::DeleteAlias => client
            .delete_alias(DeleteAliasRequest {
                alias_name: f.alias.clone(),
            })
            .await
            .map(drop),
        Rpc::ListAliases => client
            .list_aliases(ListAliasesRequest::default())
            .await
            .map(drop),
        Rpc::GetKeyPolicy => client
            .get_key_policy(GetKeyPolicyRequest {
                key_id,
                policy_name: String::new(),
            })
            .await
            .map(drop),
        Rpc::PutKeyPolicy => {
            let policy = root
                .get_key_policy(GetKeyPolicyRequest {
                    key_id: key_id.clone(),
                    policy_name: String::new(),
                })
                .await?
                .into_inner()
                .policy;
            client
                .put_key_policy(PutKeyPolicyRequest {
                    key_id,
                    policy,
                    ..Default::default()
                })
                .await
                .map(drop)
        }
        Rpc::ListKeyPolicies => client
            .list_key_policies(ListKeyPoliciesRequest {
                key_id,
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::AddKeyAdministrator => client
            .add_key_administrator(AddKeyAdministratorRequest {
                key_id,
                principal: "AWSLabsUser-0002".into(),
            })
            .await
            .map(drop),
        Rpc::RemoveKeyAdministrator => client
            // Root stays allowed through the account statement, so no lockout.
            .remove_key_administrator(RemoveKeyAdministratorRequest {
                key_id,
                principal: "AWSLabsUser-0002".into(),
            })
            .await
            .map(drop),
        Rpc::AddKeyUser => client
            .add_key_user(AddKeyUserRequest {
                key_id,
                principal: "AWSLabsUser-0003".into(),
            })
            .await
            .map(drop),
        Rpc::RemoveKeyUser => client
            .remove_key_user(RemoveKeyUserRequest {
                key_id,
                principal: "AWSLabsUser-0002".into(),
            })
            .await
            .map(drop),
        Rpc::Encrypt => client
            .encrypt(EncryptRequest {
                key_id,
                plaintext: b"x".to_vec(),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::Decrypt => client
            .decrypt(DecryptRequest {
                ciphertext_blob: f.blob.clone(),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::ReEncrypt => client
            .re_encrypt(ReEncryptRequest {
                ciphertext_blob: f.blob.clone(),
                destination_key_id: key_id,
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::GenerateDataKey => client
            .generate_data_key(GenerateDataKeyRequest {
                key_id,
                key_spec: "AES_256".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::GenerateDataKeyWithoutPlaintext => client
            .generate_data_key_without_plaintext(GenerateDataKeyWithoutPlaintextRequest {
                key_id,
                number_of_bytes: 64,
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::GenerateRandom => client
            .generate_random(GenerateRandomRequest {
                number_of_bytes: 16,
            })
            .await
            .map(drop),
    }
}
