//! Each bad input of the issue, with the exact code, AWS exception and message.

use std::collections::HashMap;

use keyhold_proto::kms::v1::*;
use keyhold_tests::{KmsClient, KmsHarness, Who, assert_error, kms::lab_user_key};
use tonic::Code;

const ARN_PREFIX: &str = "arn:aws:kms:us-east-1:000000000000";

/// Encrypt, Decrypt and GenerateDataKey are all refused for the key's state.
async fn assert_crypto_refused(
    user: &mut KmsClient,
    (encrypt, decrypt, generate): (EncryptRequest, DecryptRequest, GenerateDataKeyRequest),
    exception: &str,
    message: &str,
) {
    for refused in [
        user.encrypt(encrypt).await.map(drop),
        user.decrypt(decrypt).await.map(drop),
        user.generate_data_key(generate).await.map(drop),
    ] {
        assert_error(refused, Code::FailedPrecondition, exception, message);
    }
}

fn context(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn unknown_keys_aliases_and_arns() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let missing = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let describe = |key_id: &str| DescribeKeyRequest {
        key_id: key_id.to_owned(),
    };
    assert_error(
        user.describe_key(describe(missing)).await,
        Code::NotFound,
        "NotFoundException",
        &format!("Key '{ARN_PREFIX}:key/{missing}' does not exist"),
    );
    assert_error(
        user.describe_key(describe("alias/nope")).await,
        Code::NotFound,
        "NotFoundException",
        &format!("Alias '{ARN_PREFIX}:alias/nope' is not found."),
    );
    assert_error(
        user.describe_key(describe(&format!("{ARN_PREFIX}:alias/nope")))
            .await,
        Code::NotFound,
        "NotFoundException",
        &format!("Alias '{ARN_PREFIX}:alias/nope' is not found."),
    );
    let foreign = format!("arn:aws:kms:eu-west-1:111111111111:key/{missing}");
    assert_error(
        user.describe_key(describe(&foreign)).await,
        Code::NotFound,
        "NotFoundException",
        &format!("Invalid arn {foreign}"),
    );
    assert_error(
        user.describe_key(describe("not-a-key")).await,
        Code::NotFound,
        "NotFoundException",
        "Invalid keyId 'not-a-key'",
    );
    assert_error(
        user.encrypt(EncryptRequest {
            key_id: missing.into(),
            plaintext: b"x".to_vec(),
            ..Default::default()
        })
        .await,
        Code::NotFound,
        "NotFoundException",
        &format!("Key '{ARN_PREFIX}:key/{missing}' does not exist"),
    );
}

#[tokio::test]
async fn alias_names() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let key = lab_user_key(&mut user).await;
    let create = |name: &str| CreateAliasRequest {
        alias_name: name.to_owned(),
        target_key_id: key.key_id.clone(),
    };
    assert_error(
        user.create_alias(create("myFirstKey")).await,
        Code::InvalidArgument,
        "InvalidAliasNameException",
        "Alias must start with the prefix \"alias/\" and name something: 'myFirstKey'.",
    );
    assert_error(
        user.create_alias(create("alias/aws/s3")).await,
        Code::InvalidArgument,
        "InvalidAliasNameException",
        "Alias 'alias/aws/s3' is reserved: the prefix alias/aws/ is for AWS managed keys.",
    );
    let long = format!("alias/{}", "k".repeat(251));
    assert_error(
        user.create_alias(create(&long)).await,
        Code::InvalidArgument,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{long}' at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to 256"
        ),
    );
    assert_error(
        user.create_alias(create("alias/my key!")).await,
        Code::InvalidArgument,
        "ValidationException",
        "1 validation error detected: Value 'alias/my key!' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9/_-]+$",
    );
    user.create_alias(create("alias/myFirstKey"))
        .await
        .expect("a good alias");
    assert_error(
        user.create_alias(create("alias/myFirstKey")).await,
        Code::AlreadyExists,
        "AlreadyExistsException",
        &format!("An alias with the name {ARN_PREFIX}:alias/myFirstKey already exists"),
    );
}

#[tokio::test]
async fn sizes_of_plaintext_and_random_bytes() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let key = lab_user_key(&mut user).await;
    assert_error(
        user.encrypt(EncryptRequest {
            key_id: key.key_id.clone(),
            plaintext: vec![7; 4097],
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "ValidationException",
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
    );
    user.encrypt(EncryptRequest {
        key_id: key.key_id.clone(),
        plaintext: vec![7; 4096],
        ..Default::default()
    })
    .await
    .expect("4096 bytes is the limit, not over it");
    // A message past the 4 MiB gRPC limit is refused before anything buffers it all.
    let huge = user
        .encrypt(EncryptRequest {
            key_id: key.key_id.clone(),
            plaintext: vec![7; 5 << 20],
            ..Default::default()
        })
        .await
        .expect_err("5 MiB is over the limit");
    assert_eq!(huge.code(), Code::OutOfRange, "{huge:?}");
    for (n, bound) in [
        (0, "greater than or equal to 1"),
        (1025, "less than or equal to 1024"),
    ] {
        let message = format!(
            "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value {bound}"
        );
        assert_error(
            user.generate_random(GenerateRandomRequest { number_of_bytes: n })
                .await,
            Code::InvalidArgument,
            "ValidationException",
            &message,
        );
        assert_error(
            user.generate_data_key(GenerateDataKeyRequest {
                key_id: key.key_id.clone(),
                number_of_bytes: n,
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
            "ValidationException",
            // NumberOfBytes 0 is "not given" in proto3, so neither size was specified.
            &if n == 0 {
                "Please specify either number of bytes or key spec.".to_owned()
            } else {
                message
            },
        );
    }
    assert_eq!(
        user.generate_random(GenerateRandomRequest {
            number_of_bytes: 1024
        })
        .await
        .unwrap()
        .into_inner()
        .plaintext
        .len(),
        1024
    );
    assert_error(
        user.generate_data_key(GenerateDataKeyRequest {
            key_id: key.key_id.clone(),
            key_spec: "AES_256".into(),
            number_of_bytes: 32,
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "ValidationException",
        "Please specify either number of bytes or key spec.",
    );
}

#[tokio::test]
async fn damaged_blobs_and_encryption_contexts() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let key = lab_user_key(&mut user).await;
    let other = lab_user_key(&mut user).await;
    let ctx = context(&[("purpose", "lab"), ("bucket", "b1")]);
    let blob = user
        .encrypt(EncryptRequest {
            key_id: key.key_id.clone(),
            plaintext: b"secret".to_vec(),
            encryption_context: ctx.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ciphertext_blob;
    let decrypt = |blob: Vec<u8>, encryption_context: HashMap<String, String>| DecryptRequest {
        ciphertext_blob: blob,
        encryption_context,
        ..Default::default()
    };
    let invalid = "The ciphertext is invalid, was not made by this service, or the encryption context differs from the one used to encrypt it.";

    assert_error(
        user.decrypt(decrypt(Vec::new(), ctx.clone())).await,
        Code::InvalidArgument,
        "ValidationException",
        "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    for cut in [1, 20, blob.len() - 1] {
        assert_error(
            user.decrypt(decrypt(blob[..cut].to_vec(), ctx.clone()))
                .await,
            Code::InvalidArgument,
            "InvalidCiphertextException",
            invalid,
        );
    }
    let mut flipped = blob.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    assert_error(
        user.decrypt(decrypt(flipped, ctx.clone())).await,
        Code::InvalidArgument,
        "InvalidCiphertextException",
        invalid,
    );
    let mut flipped_body = blob.clone();
    flipped_body[40] ^= 0x80;
    assert_error(
        user.decrypt(decrypt(flipped_body, ctx.clone())).await,
        Code::InvalidArgument,
        "InvalidCiphertextException",
        invalid,
    );

    for wrong in [
        context(&[("purpose", "lab"), ("bucket", "b2")]),
        context(&[("purpose", "lab")]),
        context(&[("purpose", "lab"), ("bucket", "b1"), ("extra", "x")]),
        context(&[("Purpose", "lab"), ("bucket", "b1")]),
        HashMap::new(),
    ] {
        assert_error(
            user.decrypt(decrypt(blob.clone(), wrong)).await,
            Code::InvalidArgument,
            "InvalidCiphertextException",
            invalid,
        );
    }
    // The same pairs given in another order are the same context.
    let reordered: HashMap<String, String> = [("bucket", "b1"), ("purpose", "lab")]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let plaintext = user
        .decrypt(decrypt(blob.clone(), reordered))
        .await
        .expect("order is free")
        .into_inner()
        .plaintext;
    assert_eq!(plaintext, b"secret");

    assert_error(
        user.decrypt(DecryptRequest {
            ciphertext_blob: blob.clone(),
            encryption_context: ctx.clone(),
            key_id: other.key_id.clone(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "IncorrectKeyException",
        "The key ID in the request does not identify a KMS key that can perform this operation.",
    );
    user.decrypt(DecryptRequest {
        ciphertext_blob: blob,
        encryption_context: ctx,
        key_id: key.arn.clone(),
        ..Default::default()
    })
    .await
    .expect("the blob's own key, named by ARN");
}

#[tokio::test]
async fn key_policies_that_are_refused() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let key = lab_user_key(&mut user).await;
    let put = |policy: String| PutKeyPolicyRequest {
        key_id: key.key_id.clone(),
        policy_name: "default".into(),
        policy,
        ..Default::default()
    };

    assert_error(
        user.put_key_policy(put("{not json".into())).await,
        Code::InvalidArgument,
        "MalformedPolicyDocumentException",
        "The new key policy is not valid JSON: key must be a string at line 1 column 2.",
    );
    let big = format!(
        r#"{{"Version":"2012-10-17","Id":"{}","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:root"}},"Action":"kms:*","Resource":"*"}}]}}"#,
        "x".repeat(32 * 1024)
    );
    assert_error(
        user.put_key_policy(put(big)).await,
        Code::InvalidArgument,
        "ValidationException",
        "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 32768",
    );
    let permit = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Permit","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}"#;
    assert_error(
        user.put_key_policy(put(permit.into())).await,
        Code::InvalidArgument,
        "MalformedPolicyDocumentException",
        "Policy contains a statement with an invalid Effect \"Permit\": it must be \"Allow\" or \"Deny\".",
    );
    // Only AWSLabsUser-0002 may use the key: the caller could never change it again.
    let lockout = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/AWSLabsUser-0002"},"Action":"kms:*","Resource":"*"}]}"#;
    let lockout_message =
        "The new key policy will not allow you to update the key policy in the future.";
    assert_error(
        user.put_key_policy(put(lockout.into())).await,
        Code::InvalidArgument,
        "MalformedPolicyDocumentException",
        lockout_message,
    );
    assert_error(
        user.create_key(CreateKeyRequest {
            policy: lockout.into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "MalformedPolicyDocumentException",
        lockout_message,
    );
    assert_error(
        user.create_key(CreateKeyRequest {
            policy: permit.replace("Permit", "Allow"),
            key_users: vec!["AWSLabsUser-0001".into()],
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "ValidationException",
        "Specify either a key policy or key administrators and key users, not both.",
    );
    // The stored policy is unchanged by every refusal above.
    let stored = user
        .get_key_policy(GetKeyPolicyRequest {
            key_id: key.key_id.clone(),
            policy_name: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy;
    assert!(stored.contains("key-consolepolicy-3"));
    // Bypassing the check is the caller's explicit choice.
    user.put_key_policy(PutKeyPolicyRequest {
        bypass_policy_lockout_safety_check: true,
        ..put(lockout.into())
    })
    .await
    .expect("bypass");
}

#[tokio::test]
async fn deletion_windows_and_key_states() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let key = lab_user_key(&mut user).await;
    let arn = key.arn.clone();
    for (days, bound) in [
        (6, "greater than or equal to 7"),
        (31, "less than or equal to 30"),
    ] {
        assert_error(
            user.schedule_key_deletion(ScheduleKeyDeletionRequest {
                key_id: key.key_id.clone(),
                pending_window_in_days: days,
            })
            .await,
            Code::InvalidArgument,
            "ValidationException",
            &format!(
                "1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value {bound}"
            ),
        );
    }
    assert_error(
        user.cancel_key_deletion(CancelKeyDeletionRequest {
            key_id: key.key_id.clone(),
        })
        .await,
        Code::FailedPrecondition,
        "KMSInvalidStateException",
        &format!("{arn} is not pending deletion."),
    );

    let encrypt = || EncryptRequest {
        key_id: key.key_id.clone(),
        plaintext: b"x".to_vec(),
        ..Default::default()
    };
    let blob = user
        .encrypt(encrypt())
        .await
        .unwrap()
        .into_inner()
        .ciphertext_blob;
    let decrypt = || DecryptRequest {
        ciphertext_blob: blob.clone(),
        ..Default::default()
    };
    let gdk = || GenerateDataKeyRequest {
        key_id: key.key_id.clone(),
        key_spec: "AES_256".into(),
        ..Default::default()
    };

    user.disable_key(DisableKeyRequest {
        key_id: key.key_id.clone(),
    })
    .await
    .unwrap();
    let disabled = format!("{arn} is disabled.");
    let requests = (encrypt(), decrypt(), gdk());
    assert_crypto_refused(&mut user, requests, "DisabledException", &disabled).await;
    user.enable_key(EnableKeyRequest {
        key_id: key.key_id.clone(),
    })
    .await
    .unwrap();
    user.decrypt(decrypt()).await.expect("enabled again");

    let scheduled = user
        .schedule_key_deletion(ScheduleKeyDeletionRequest {
            key_id: key.key_id.clone(),
            pending_window_in_days: 7,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            scheduled.key_state.as_str(),
            scheduled.pending_window_in_days
        ),
        ("PendingDeletion", 7)
    );
    let pending = format!("{arn} is pending deletion.");
    let requests = (encrypt(), decrypt(), gdk());
    assert_crypto_refused(&mut user, requests, "KMSInvalidStateException", &pending).await;
    assert_error(
        user.enable_key(EnableKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await,
        Code::FailedPrecondition,
        "KMSInvalidStateException",
        &pending,
    );
    // DescribeKey and GetKeyPolicy work in every state.
    let described = user
        .describe_key(DescribeKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .key_metadata
        .unwrap();
    assert_eq!(described.key_state, "PendingDeletion");
    assert!(!described.deletion_date.is_empty());
    user.get_key_policy(GetKeyPolicyRequest {
        key_id: key.key_id.clone(),
        policy_name: String::new(),
    })
    .await
    .unwrap();

    let cancelled = user
        .cancel_key_deletion(CancelKeyDeletionRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.key_id, arn);
    let described = user
        .describe_key(DescribeKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .key_metadata
        .unwrap();
    assert_eq!(
        described.key_state, "Disabled",
        "a cancelled deletion leaves the key disabled, as in AWS"
    );
}

#[tokio::test]
async fn credentials_that_are_refused() {
    let kms = KmsHarness::start().await;
    for who in [Who::Anonymous, Who::WrongSecret] {
        assert_error(
            kms.client(who).list_keys(ListKeysRequest::default()).await,
            Code::Unauthenticated,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        );
    }
    let events = kms.events_at_least(2).await;
    assert_eq!(events.len(), 2, "refused calls are recorded too");
    assert!(events.iter().all(
        |e| e.error_code.as_deref() == Some("UnrecognizedClientException")
            && e.user_identity.kind == "Unknown"
    ));
    assert_eq!(
        events[1].user_identity.access_key_id.as_deref(),
        Some("AKIAKEYHOLDDEVUSER01")
    );
}
