//! The AWS managed key `alias/aws/s3`: created by kms-svc the first time S3 (the
//! object service, calling for a user) names it, used only through S3, and managed
//! by nobody, the account root included.

use std::sync::Arc;

use keyhold_platform::auth::ClientCredentials;
use keyhold_proto::kms::v1::{kms_service_client::KmsServiceClient, *};
use keyhold_tests::{
    KmsClient, KmsHarness, Who, assert_error,
    kms::{ROOT_ARN, USER1_ARN, console_key},
};
use sqlx::Connection;
use tonic::Code;

const ALIAS: &str = "alias/aws/s3";
const ALIAS_ARN: &str = "arn:aws:kms:us-east-1:000000000000:alias/aws/s3";
const DESCRIPTION: &str = "Default key that protects my S3 objects when no other key is defined";
const NOT_FOUND: &str = "Alias 'arn:aws:kms:us-east-1:000000000000:alias/aws/s3' is not found.";

fn s3_context(object: &str) -> std::collections::HashMap<String, String> {
    [(
        "aws:s3:arn".to_owned(),
        format!("arn:aws:s3:::photos/{object}"),
    )]
    .into()
}

/// The policy AWS gives `alias/aws/s3`, written out by hand.
fn aws_s3_policy() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "auto-s3-2",
        "Statement": [
            {
                "Sid": "Allow access through S3 for all principals in the account that are authorized to use S3",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {
                    "kms:CallerAccount": "000000000000",
                    "kms:ViaService": "s3.us-east-1.amazonaws.com"
                }}
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                "Resource": "*"
            }
        ]
    })
}

fn denied(who: &str, action: &str, key_arn: &str) -> String {
    format!(
        "User: {who} is not authorized to perform: {action} on resource: {key_arn} because no resource-based policy allows the {action} action"
    )
}

/// A service principal's own credentials, acting for AWSLabsUser-0001 when `for_user`.
fn service_client(kms: &KmsHarness, akid: &str, secret: &str, for_user: bool) -> KmsClient {
    let credentials = ClientCredentials::new(akid, secret);
    let credentials = if for_user {
        credentials.on_behalf_of(USER1_ARN)
    } else {
        credentials
    };
    KmsServiceClient::with_interceptor(kms.channel(), credentials)
}

/// The calls whose first use through S3 creates the key.
#[derive(Debug, Clone, Copy)]
enum FirstUse {
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    Encrypt,
    DescribeKey,
}

const FIRST_USES: [FirstUse; 4] = [
    FirstUse::GenerateDataKey,
    FirstUse::GenerateDataKeyWithoutPlaintext,
    FirstUse::Encrypt,
    FirstUse::DescribeKey,
];

/// Makes the call naming `key_id`; returns the ARN of the key that answered.
async fn call(
    client: &mut KmsClient,
    how: FirstUse,
    key_id: &str,
) -> Result<String, tonic::Status> {
    let key_id = key_id.to_owned();
    Ok(match how {
        FirstUse::GenerateDataKey => {
            client
                .generate_data_key(GenerateDataKeyRequest {
                    key_id,
                    encryption_context: s3_context("a.png"),
                    key_spec: "AES_256".into(),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .key_id
        }
        FirstUse::GenerateDataKeyWithoutPlaintext => {
            client
                .generate_data_key_without_plaintext(GenerateDataKeyWithoutPlaintextRequest {
                    key_id,
                    encryption_context: s3_context("b.png"),
                    number_of_bytes: 32,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .key_id
        }
        FirstUse::Encrypt => {
            client
                .encrypt(EncryptRequest {
                    key_id,
                    plaintext: b"data key".to_vec(),
                    encryption_context: s3_context("c.png"),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .key_id
        }
        FirstUse::DescribeKey => {
            client
                .describe_key(DescribeKeyRequest { key_id })
                .await?
                .into_inner()
                .key_metadata
                .expect("key metadata")
                .arn
        }
    })
}

async fn describe(client: &mut KmsClient, key_id: &str) -> KeyMetadata {
    client
        .describe_key(DescribeKeyRequest {
            key_id: key_id.to_owned(),
        })
        .await
        .expect("DescribeKey")
        .into_inner()
        .key_metadata
        .expect("key metadata")
}

async fn aliases(client: &mut KmsClient) -> Vec<AliasListEntry> {
    client
        .list_aliases(ListAliasesRequest::default())
        .await
        .expect("ListAliases")
        .into_inner()
        .aliases
}

async fn key_count(client: &mut KmsClient) -> usize {
    client
        .list_keys(ListKeysRequest::default())
        .await
        .expect("ListKeys")
        .into_inner()
        .keys
        .len()
}

/// Rows in kms-svc's tables, counted in the database itself.
async fn rows(kms: &KmsHarness, table: &str) -> i64 {
    let mut db = sqlx::PgConnection::connect(&kms.database_url)
        .await
        .expect("the test database");
    let query = format!("SELECT count(*) FROM {table}");
    let (count,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(query))
        .fetch_one(&mut db)
        .await
        .expect("count rows");
    count
}

#[tokio::test]
async fn the_first_use_through_s3_creates_the_aws_managed_key_and_later_uses_reuse_it() {
    let kms = KmsHarness::start().await;
    let mut root = kms.client(Who::Root);
    let mut user = kms.client(Who::User1);
    let mut s3 = kms.client(Who::ObjectSvcForUser1);
    assert!(
        aliases(&mut user)
            .await
            .iter()
            .all(|a| a.alias_name != ALIAS)
    );

    // A PUT with SSE-KMS and no key id: the object service asks for a data key
    // under alias/aws/s3, which does not exist yet.
    let context = s3_context("photo.png");
    let data_key = s3
        .generate_data_key(GenerateDataKeyRequest {
            key_id: ALIAS.into(),
            encryption_context: context.clone(),
            key_spec: "AES_256".into(),
            ..Default::default()
        })
        .await
        .expect("the first use through S3 creates the key")
        .into_inner();
    assert_eq!(data_key.plaintext.len(), 32);
    let key_arn = data_key.key_id.clone();
    let key_id = key_arn
        .strip_prefix("arn:aws:kms:us-east-1:000000000000:key/")
        .expect("a key ARN")
        .to_owned();

    let metadata = describe(&mut root, ALIAS).await;
    assert_eq!(
        (
            metadata.arn.as_str(),
            metadata.key_manager.as_str(),
            metadata.description.as_str(),
            metadata.key_state.as_str(),
            metadata.enabled,
            metadata.key_spec.as_str(),
            metadata.key_usage.as_str(),
            metadata.origin.as_str(),
        ),
        (
            key_arn.as_str(),
            "AWS",
            DESCRIPTION,
            "Enabled",
            true,
            "SYMMETRIC_DEFAULT",
            "ENCRYPT_DECRYPT",
            "AWS_KMS",
        )
    );
    assert_eq!(describe(&mut s3, &key_id).await.key_manager, "AWS");

    let listed: Vec<_> = aliases(&mut user)
        .await
        .into_iter()
        .filter(|a| a.alias_name == ALIAS)
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].alias_arn.as_str(),
            listed[0].target_key_id.as_str()
        ),
        (ALIAS_ARN, key_id.as_str())
    );
    let by_key = user
        .list_aliases(ListAliasesRequest {
            key_id: key_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .aliases;
    assert_eq!(
        by_key
            .iter()
            .map(|a| a.alias_name.as_str())
            .collect::<Vec<_>>(),
        [ALIAS]
    );

    let policy = root
        .get_key_policy(GetKeyPolicyRequest {
            key_id: ALIAS.into(),
            policy_name: "default".into(),
        })
        .await
        .expect("the root reads the policy")
        .into_inner()
        .policy;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&policy).unwrap(),
        aws_s3_policy()
    );

    // Later uses, by name or by alias ARN, get the same key.
    for how in FIRST_USES {
        for name in [ALIAS, ALIAS_ARN] {
            assert_eq!(
                call(&mut s3, how, name).await.expect("a later use"),
                key_arn,
                "{how:?} {name}"
            );
        }
    }
    assert_eq!(key_count(&mut root).await, 1);

    // A GET: the object service decrypts the data key for the user.
    let decrypt = |key_id: &str| DecryptRequest {
        ciphertext_blob: data_key.ciphertext_blob.clone(),
        encryption_context: context.clone(),
        key_id: key_id.to_owned(),
        ..Default::default()
    };
    for named in ["", ALIAS, key_arn.as_str()] {
        let decrypted = s3
            .decrypt(decrypt(named))
            .await
            .expect("Decrypt through S3")
            .into_inner();
        assert_eq!(decrypted.plaintext, data_key.plaintext);
        assert_eq!(decrypted.key_id, key_arn);
    }
    // The user cannot decrypt the data key directly.
    assert_error(
        user.decrypt(decrypt("")).await,
        Code::PermissionDenied,
        "AccessDeniedException",
        &denied(USER1_ARN, "kms:Decrypt", &key_arn),
    );
}

#[tokio::test]
async fn each_first_use_call_creates_the_key() {
    for how in FIRST_USES {
        let kms = KmsHarness::start().await;
        let mut s3 = kms.client(Who::ObjectSvcForUser1);
        let arn = call(&mut s3, how, ALIAS_ARN)
            .await
            .unwrap_or_else(|status| panic!("{how:?} creates the key: {status:?}"));
        let metadata = describe(&mut kms.client(Who::Root), ALIAS).await;
        assert_eq!(
            (
                metadata.arn.as_str(),
                metadata.key_manager.as_str(),
                metadata.description.as_str()
            ),
            (arn.as_str(), "AWS", DESCRIPTION),
            "{how:?}"
        );
        assert_eq!(key_count(&mut kms.client(Who::Root)).await, 1, "{how:?}");
    }
}

#[tokio::test]
async fn concurrent_first_uses_make_exactly_one_key_and_one_alias() {
    const CALLS: usize = 8;
    let kms = KmsHarness::start().await;
    let barrier = Arc::new(tokio::sync::Barrier::new(CALLS));
    let mut tasks = Vec::new();
    for i in 0..CALLS {
        let mut client = kms.client(Who::ObjectSvcForUser1);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            // Connected before the race starts, so the calls arrive together.
            client
                .generate_random(GenerateRandomRequest { number_of_bytes: 1 })
                .await
                .expect("warm up the connection");
            barrier.wait().await;
            call(&mut client, FIRST_USES[i % FIRST_USES.len()], ALIAS).await
        }));
    }
    let mut arns = Vec::new();
    for task in tasks {
        arns.push(task.await.unwrap().expect("every first use succeeds"));
    }
    arns.dedup();
    assert_eq!(arns.len(), 1, "every call got the same key: {arns:?}");

    assert_eq!(rows(&kms, "keys").await, 1);
    assert_eq!(rows(&kms, "key_material").await, 1);
    assert_eq!(rows(&kms, "aliases").await, 1);
    let mut root = kms.client(Who::Root);
    assert_eq!(key_count(&mut root).await, 1);
    let listed = aliases(&mut root).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        format!(
            "arn:aws:kms:us-east-1:000000000000:key/{}",
            listed[0].target_key_id
        ),
        arns[0]
    );
}

#[tokio::test]
async fn callers_not_coming_through_s3_get_not_found_and_create_nothing() {
    let kms = KmsHarness::start().await;
    let mut callers = vec![
        ("root", kms.client(Who::Root)),
        ("user", kms.client(Who::User1)),
        (
            "object-svc as itself",
            service_client(
                &kms,
                "AKIAKEYHOLDDEVOBJSVC",
                "dev-only-object-svc-secret-not-for-production",
                false,
            ),
        ),
        (
            "the user through CloudTrail",
            service_client(
                &kms,
                "AKIAKEYHOLDDEVAUDITS",
                "dev-only-audit-svc-secret-not-for-production",
                true,
            ),
        ),
    ];
    for (who, client) in &mut callers {
        for how in FIRST_USES {
            for name in [ALIAS, ALIAS_ARN] {
                let result = call(client, how, name).await;
                let status = result.expect_err(&format!("{who} {how:?} {name}"));
                assert_eq!(
                    (
                        status.code(),
                        keyhold_tests::exception(&status).as_str(),
                        status.message()
                    ),
                    (Code::NotFound, "NotFoundException", NOT_FOUND),
                    "{who} {how:?} {name}"
                );
            }
        }
    }

    // Through S3, only alias/aws/s3 is created, and only by the calls that use it.
    let mut s3 = kms.client(Who::ObjectSvcForUser1);
    assert_error(
        call(&mut s3, FirstUse::GenerateDataKey, "alias/aws/ebs").await,
        Code::NotFound,
        "NotFoundException",
        "Alias 'arn:aws:kms:us-east-1:000000000000:alias/aws/ebs' is not found.",
    );
    assert_error(
        s3.get_key_policy(GetKeyPolicyRequest {
            key_id: ALIAS.into(),
            policy_name: String::new(),
        })
        .await,
        Code::NotFound,
        "NotFoundException",
        NOT_FOUND,
    );
    assert_eq!(key_count(&mut kms.client(Who::Root)).await, 0);
    assert_eq!(rows(&kms, "keys").await, 0);
    assert!(aliases(&mut kms.client(Who::Root)).await.is_empty());
}

#[tokio::test]
async fn nobody_uses_the_key_directly() {
    let kms = KmsHarness::start().await;
    let arn = call(
        &mut kms.client(Who::ObjectSvcForUser1),
        FirstUse::GenerateDataKey,
        ALIAS,
    )
    .await
    .expect("created through S3");
    for (who, arn_of_who) in [(Who::User1, USER1_ARN), (Who::Root, ROOT_ARN)] {
        let mut client = kms.client(who);
        for (how, action) in [
            (FirstUse::GenerateDataKey, "kms:GenerateDataKey"),
            (
                FirstUse::GenerateDataKeyWithoutPlaintext,
                "kms:GenerateDataKeyWithoutPlaintext",
            ),
            (FirstUse::Encrypt, "kms:Encrypt"),
        ] {
            assert_error(
                call(&mut client, how, ALIAS).await,
                Code::PermissionDenied,
                "AccessDeniedException",
                &denied(arn_of_who, action, &arn),
            );
        }
    }
    // Metadata: the account statement serves the root; the user's identity policy
    // does not allow kms:DescribeKey, so the user needs S3 for it too.
    assert_eq!(
        call(&mut kms.client(Who::Root), FirstUse::DescribeKey, ALIAS)
            .await
            .unwrap(),
        arn
    );
    assert_error(
        call(&mut kms.client(Who::User1), FirstUse::DescribeKey, ALIAS).await,
        Code::PermissionDenied,
        "AccessDeniedException",
        &denied(USER1_ARN, "kms:DescribeKey", &arn),
    );
}

#[tokio::test]
async fn nobody_administers_the_key_not_even_the_root() {
    let kms = KmsHarness::start().await;
    let mut s3 = kms.client(Who::ObjectSvcForUser1);
    let arn = call(&mut s3, FirstUse::Encrypt, ALIAS)
        .await
        .expect("created through S3");
    let policy_before = aws_s3_policy();
    let open_policy = everything_for(ROOT_ARN);

    for (name, mut client, who) in [
        ("root", kms.client(Who::Root), ROOT_ARN),
        ("user through S3", s3.clone(), USER1_ARN),
    ] {
        let key_id = || ALIAS.to_owned();
        let refusals: Vec<(&str, Result<(), tonic::Status>)> = vec![
            (
                "kms:PutKeyPolicy",
                client
                    .put_key_policy(PutKeyPolicyRequest {
                        key_id: key_id(),
                        policy_name: "default".into(),
                        policy: open_policy.clone(),
                        bypass_policy_lockout_safety_check: true,
                    })
                    .await
                    .map(drop),
            ),
            (
                "kms:DisableKey",
                client
                    .disable_key(DisableKeyRequest { key_id: key_id() })
                    .await
                    .map(drop),
            ),
            (
                "kms:EnableKey",
                client
                    .enable_key(EnableKeyRequest { key_id: key_id() })
                    .await
                    .map(drop),
            ),
            (
                "kms:ScheduleKeyDeletion",
                client
                    .schedule_key_deletion(ScheduleKeyDeletionRequest {
                        key_id: key_id(),
                        pending_window_in_days: 7,
                    })
                    .await
                    .map(drop),
            ),
            (
                "kms:CancelKeyDeletion",
                client
                    .cancel_key_deletion(CancelKeyDeletionRequest { key_id: key_id() })
                    .await
                    .map(drop),
            ),
            (
                "kms:UpdateKeyDescription",
                client
                    .update_key_description(UpdateKeyDescriptionRequest {
                        key_id: key_id(),
                        description: "mine now".into(),
                    })
                    .await
                    .map(drop),
            ),
            (
                "kms:PutKeyPolicy",
                client
                    .add_key_user(AddKeyUserRequest {
                        key_id: key_id(),
                        principal: "AWSLabsUser-0002".into(),
                    })
                    .await
                    .map(drop),
            ),
            (
                "kms:PutKeyPolicy",
                client
                    .remove_key_user(RemoveKeyUserRequest {
                        key_id: key_id(),
                        principal: "AWSLabsUser-0002".into(),
                    })
                    .await
                    .map(drop),
            ),
            (
                "kms:PutKeyPolicy",
                client
                    .add_key_administrator(AddKeyAdministratorRequest {
                        key_id: key_id(),
                        principal: "AWSLabsUser-0002".into(),
                    })
                    .await
                    .map(drop),
            ),
            (
                "kms:PutKeyPolicy",
                client
                    .remove_key_administrator(RemoveKeyAdministratorRequest {
                        key_id: key_id(),
                        principal: "AWSLabsUser-0002".into(),
                    })
                    .await
                    .map(drop),
            ),
            (
                "kms:CreateAlias",
                client
                    .create_alias(CreateAliasRequest {
                        alias_name: "alias/my-s3-key".into(),
                        target_key_id: key_id(),
                    })
                    .await
                    .map(drop),
            ),
        ];
        for (i, (action, result)) in refusals.into_iter().enumerate() {
            let status = result.expect_err(&format!("{name}: refusal #{i} ({action})"));
            assert_eq!(
                (
                    status.code(),
                    keyhold_tests::exception(&status).as_str(),
                    status.message()
                ),
                (
                    Code::PermissionDenied,
                    "AccessDeniedException",
                    denied(who, action, &arn).as_str()
                ),
                "{name}: refusal #{i} ({action})"
            );
        }
    }

    // A customer alias cannot be moved onto it either.
    let mut root = kms.client(Who::Root);
    let own = console_key(&mut root, &[], &[]).await;
    root.create_alias(CreateAliasRequest {
        alias_name: "alias/mine".into(),
        target_key_id: own.key_id.clone(),
    })
    .await
    .expect("a customer alias");
    assert_error(
        root.update_alias(UpdateAliasRequest {
            alias_name: "alias/mine".into(),
            target_key_id: ALIAS.into(),
        })
        .await,
        Code::PermissionDenied,
        "AccessDeniedException",
        &denied(ROOT_ARN, "kms:UpdateAlias", &arn),
    );

    // alias/aws/ names stay reserved: the alias can be neither moved nor deleted.
    let reserved =
        "Alias 'alias/aws/s3' is reserved: the prefix alias/aws/ is for AWS managed keys.";
    assert_error(
        root.update_alias(UpdateAliasRequest {
            alias_name: ALIAS.into(),
            target_key_id: own.key_id.clone(),
        })
        .await,
        Code::InvalidArgument,
        "InvalidAliasNameException",
        reserved,
    );
    assert_error(
        root.delete_alias(DeleteAliasRequest {
            alias_name: ALIAS.into(),
        })
        .await,
        Code::InvalidArgument,
        "InvalidAliasNameException",
        reserved,
    );
    assert_error(
        root.create_alias(CreateAliasRequest {
            alias_name: "alias/aws/s3-copy".into(),
            target_key_id: own.key_id.clone(),
        })
        .await,
        Code::InvalidArgument,
        "InvalidAliasNameException",
        "Alias 'alias/aws/s3-copy' is reserved: the prefix alias/aws/ is for AWS managed keys.",
    );

    // Nothing changed.
    let metadata = describe(&mut root, ALIAS).await;
    assert_eq!(
        (
            metadata.arn.as_str(),
            metadata.key_state.as_str(),
            metadata.description.as_str()
        ),
        (arn.as_str(), "Enabled", DESCRIPTION)
    );
    let policy = root
        .get_key_policy(GetKeyPolicyRequest {
            key_id: ALIAS.into(),
            policy_name: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&policy).unwrap(),
        policy_before
    );
    let names: Vec<String> = aliases(&mut root)
        .await
        .into_iter()
        .map(|a| a.alias_name)
        .collect();
    assert_eq!(names, ["alias/aws/s3", "alias/mine"]);
    call(&mut s3, FirstUse::GenerateDataKey, ALIAS)
        .await
        .expect("S3 still uses it");
}

/// A policy that would give `root` everything, as `key-default-1` does.
fn everything_for(root: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                       "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"}]
    })
    .to_string()
}
