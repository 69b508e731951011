//! Every RPC x {account root, key administrator, key user, another user, no
//! credentials} against the console policy (administrator AWSLabsUser-0001, user
//! AWSLabsUser-0002; AWSLabsUser-0003 is in no statement). Each outcome asserted.

use keyhold_tests::{
    KmsHarness, Who, exception,
    kms::{ROOT_ARN, USER1_ARN, USER2_ARN, USER3_ARN},
    rpcs::{Rpc, call, fixture},
};
use tonic::Code;

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

#[tokio::test]
async fn every_rpc_for_every_caller() {
    let covered: Vec<Rpc> = MATRIX.iter().map(|(rpc, _, _)| *rpc).collect();
    assert_eq!(covered, Rpc::ALL, "the matrix has a row for every RPC");
    let kms = KmsHarness::start().await;
    let mut root = kms.client(Who::Root);
    let mut failures = Vec::new();
    for (case, &(rpc, action, allowed)) in MATRIX.iter().enumerate() {
        for (column, (who, arn)) in CALLERS.into_iter().enumerate() {
            let f = fixture(&mut root, rpc, case * 10 + column).await;
            let result = call(&mut kms.client(who), rpc, &f, &mut root).await;
            let resource = if rpc.targets_no_key() {
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
