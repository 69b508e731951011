//! Every RPC x {account root, key administrator, key user, another user, no
//! credentials} against the console policy (administrator AWSLabsUser-0001, user
//! AWSLabsUser-0002; AWSLabsUser-0003 is in no statement). Each outcome asserted.

use keyhold_proto::kms::v1::*;
use keyhold_tests::{
    KmsClient, KmsHarness, Who, exception,
    kms::console_key,
    kms::{ROOT_ARN, USER1_ARN, USER2_ARN, USER3_ARN},
};
use tonic::Code;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
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

const Y: bool = true;
const N: bool = false;

/// (rpc, the action an AccessDenied names, allowed for [root, administrator, key user, other user]).
/// Alias and list calls are allowed to every lab user: their identity policy grants
/// them, and the console policy's first statement lets identity policies decide.
const MATRIX: &[(Rpc, &str, [bool; 4])] = &[
    (Rpc::CreateKey, "kms:CreateKey", [Y, Y, Y, Y]),
    (Rpc::DescribeKey, "kms:DescribeKey", [Y, Y, Y, N]),
    (Rpc::ListKeys, "kms:ListKeys", [Y, Y, Y, Y]),
    (
        Rpc::UpdateKeyDescription,
        "kms:UpdateKeyDescription",
        [Y, Y, N, N],
    ),
    (Rpc::EnableKey, "kms:EnableKey", [Y, Y, N, N]),
    (Rpc::DisableKey, "kms:DisableKey", [Y, Y, N, N]),
    (
        Rpc::ScheduleKeyDeletion,
        "kms:ScheduleKeyDeletion",
        [Y, Y, N, N],
    ),
    (
        Rpc::CancelKeyDeletion,
        "kms:CancelKeyDeletion",
        [Y, Y, N, N],
    ),
    (Rpc::CreateAlias, "kms:CreateAlias", [Y, Y, Y, Y]),
    (Rpc::UpdateAlias, "kms:UpdateAlias", [Y, Y, Y, Y]),
    (Rpc::DeleteAlias, "kms:DeleteAlias", [Y, Y, Y, Y]),
    (Rpc::ListAliases, "kms:ListAliases", [Y, Y, Y, Y]),
    (Rpc::GetKeyPolicy, "kms:GetKeyPolicy", [Y, Y, N, N]),
    (Rpc::PutKeyPolicy, "kms:PutKeyPolicy", [Y, Y, N, N]),
    (Rpc::ListKeyPolicies, "kms:ListKeyPolicies", [Y, Y, N, N]),
    (Rpc::AddKeyAdministrator, "kms:PutKeyPolicy", [Y, Y, N, N]),
    (
        Rpc::RemoveKeyAdministrator,
        "kms:PutKeyPolicy",
        [Y, Y, N, N],
    ),
    (Rpc::AddKeyUser, "kms:PutKeyPolicy", [Y, Y, N, N]),
    (Rpc::RemoveKeyUser, "kms:PutKeyPolicy", [Y, Y, N, N]),
    (Rpc::Encrypt, "kms:Encrypt", [Y, N, Y, N]),
    (Rpc::Decrypt, "kms:Decrypt", [Y, N, Y, N]),
    (Rpc::ReEncrypt, "kms:ReEncryptFrom", [Y, N, Y, N]),
    (Rpc::GenerateDataKey, "kms:GenerateDataKey", [Y, N, Y, N]),
    (
        Rpc::GenerateDataKeyWithoutPlaintext,
        "kms:GenerateDataKeyWithoutPlaintext",
        [Y, N, Y, N],
    ),
    (Rpc::GenerateRandom, "kms:GenerateRandom", [Y, Y, Y, Y]),
];

const CALLERS: [(Who, &str); 4] = [
    (Who::Root, ROOT_ARN),
    (Who::User1, USER1_ARN),
    (Who::User2, USER2_ARN),
    (Who::User3, USER3_ARN),
];

/// A fresh console-policy key per case, so no case sees another's changes.
struct Fixture {
    key_id: String,
    key_arn: String,
    alias: String,
    blob: Vec<u8>,
}

async fn fixture(root: &mut KmsClient, rpc: Rpc, case: usize) -> Fixture {
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

async fn call(
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

#[tokio::test]
async fn every_rpc_for_every_caller() {
    let kms = KmsHarness::start().await;
    let mut root = kms.client(Who::Root);
    let mut failures = Vec::new();
    for (case, &(rpc, action, allowed)) in MATRIX.iter().enumerate() {
        for (column, (who, arn)) in CALLERS.into_iter().enumerate() {
            let f = fixture(&mut root, rpc, case * 10 + column).await;
            let result = call(&mut kms.client(who), rpc, &f, &mut root).await;
            let resource = if matches!(
                rpc,
                Rpc::CreateKey | Rpc::ListKeys | Rpc::ListAliases | Rpc::GenerateRandom
            ) {
                "*".to_owned()
            } else {
                f.key_arn.clone()
            };
            let expected_denial = format!(
                "User: {arn} is not authorized to perform: {action} on resource: {resource}"
            );
            match (allowed[column], result) {
                (true, Ok(())) => {}
                (false, Err(status))
                    if status.code() == Code::PermissionDenied
                        && exception(&status) == "AccessDeniedException"
                        && status.message().starts_with(&expected_denial) => {}
                (expected, outcome) => failures.push(format!(
                    "{rpc:?} as {who:?}: expected allowed={expected}, got {outcome:?}"
                )),
            }
        }
        // No credentials: refused before anything else, the same way for every RPC.
        let f = fixture(&mut root, rpc, case * 10 + 9).await;
        match call(&mut kms.client(Who::Anonymous), rpc, &f, &mut root).await {
            Err(status)
                if status.code() == Code::Unauthenticated
                    && status.message()
                        == "The security token included in the request is invalid."
                    && exception(&status) == "UnrecognizedClientException" => {}
            other => failures.push(format!("{rpc:?} without credentials: {other:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
