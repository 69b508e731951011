//! SSE-KMS: key states, unknown keys, key policy refusals

use keyhold_tests::kms::KmsClient;

use super::*;

#[tokio::test]
async fn a_disabled_key_refuses_put_and_get() {
    let (_harness, mut user, mut kms_user, key) = start_with_kms_object().await;
    kms_user
        .disable_key(kms::DisableKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
    let disabled = format!("{} is disabled.", key.arn);
    assert_kms_refusal(
        get(&mut user, BUCKET, "kms.txt").await,
        "KMS.DisabledException",
        &disabled,
    );
    assert_kms_refusal(
        put(&mut user, sse_kms(BUCKET, "new.txt", &key.arn), b"new").await,
        "KMS.DisabledException",
        &disabled,
    );
    assert_no_such_key(get(&mut user, BUCKET, "new.txt").await, "new.txt");
    // An overwrite under the disabled key leaves the old object in place.
    assert_kms_refusal(
        put(&mut user, sse_kms(BUCKET, "kms.txt", &key.key_id), b"other").await,
        "KMS.DisabledException",
        &disabled,
    );
    // A bucket default naming the key fails the same way.
    user.put_bucket_encryption(PutBucketEncryptionRequest {
        bucket: BUCKET.into(),
        server_side_encryption_configuration: Some(kms_rule(&key.key_id)),
    })
    .await
    .unwrap();
    assert_kms_refusal(
        put(&mut user, put_header(BUCKET, "default.txt"), b"default").await,
        "KMS.DisabledException",
        &disabled,
    );
    // HeadObject does not need the key.
    let head = user
        .head_object(head_request(BUCKET, "kms.txt"))
        .await
        .unwrap()
        .into_inner()
        .head
        .unwrap();
    assert_eq!(head.ssekms_key_id, key.arn);
    assert_eq!(head.size, 9);

    kms_user
        .enable_key(kms::EnableKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
    let (_, bytes) = get(&mut user, BUCKET, "kms.txt").await.unwrap();
    assert_eq!(bytes, b"kms bytes");
}

#[tokio::test]
async fn a_key_pending_deletion_refuses_put_and_get() {
    let (_harness, mut user, mut kms_user, key) = start_with_kms_object().await;
    kms_user
        .schedule_key_deletion(kms::ScheduleKeyDeletionRequest {
            key_id: key.key_id.clone(),
            pending_window_in_days: 7,
        })
        .await
        .unwrap();
    let pending = format!("{} is pending deletion.", key.arn);
    assert_kms_refusal(
        get(&mut user, BUCKET, "kms.txt").await,
        "KMS.KMSInvalidStateException",
        &pending,
    );
    assert_kms_refusal(
        put(&mut user, sse_kms(BUCKET, "new.txt", &key.key_id), b"new").await,
        "KMS.KMSInvalidStateException",
        &pending,
    );
    assert_no_such_key(get(&mut user, BUCKET, "new.txt").await, "new.txt");
    // CopyObject reads the source first: the same refusal.
    assert_kms_refusal(
        user.copy_object(copy_request("copy.txt", &format!("{BUCKET}/kms.txt")))
            .await,
        "KMS.KMSInvalidStateException",
        &pending,
    );
}

#[tokio::test]
async fn unknown_keys_are_kms_not_found() {
    let (_harness, mut user) = start().await;
    let missing = uuid::Uuid::new_v4().to_string();
    let not_found = |result: Result<PutObjectResponse, Status>, message: &str| {
        assert_s3_error(
            result,
            Code::NotFound,
            "KMS.NotFoundException",
            message,
            &[],
        )
    };
    let does_not_exist = format!("Key '{KMS_ARN_PREFIX}:key/{missing}' does not exist");
    not_found(
        put(&mut user, sse_kms(BUCKET, "a.txt", &missing), b"a").await,
        &does_not_exist,
    );
    not_found(
        put(
            &mut user,
            sse_kms(BUCKET, "a.txt", &format!("{KMS_ARN_PREFIX}:key/{missing}")),
            b"a",
        )
        .await,
        &does_not_exist,
    );
    // A malformed key id: kms-svc's message, as docs/aws-behaviour.md has it.
    not_found(
        put(&mut user, sse_kms(BUCKET, "a.txt", "nope"), b"a").await,
        "Invalid keyId 'nope'",
    );
    // An unknown alias, by name and by ARN.
    let alias_not_found = format!("Alias '{KMS_ARN_PREFIX}:alias/nope' is not found.");
    not_found(
        put(&mut user, sse_kms(BUCKET, "a.txt", "alias/nope"), b"a").await,
        &alias_not_found,
    );
    not_found(
        put(
            &mut user,
            sse_kms(BUCKET, "a.txt", &format!("{KMS_ARN_PREFIX}:alias/nope")),
            b"a",
        )
        .await,
        &alias_not_found,
    );
    // A key ARN of another account and region.
    let foreign = format!("arn:aws:kms:eu-west-1:111111111111:key/{missing}");
    not_found(
        put(&mut user, sse_kms(BUCKET, "a.txt", &foreign), b"a").await,
        &format!("Invalid arn {foreign}"),
    );
    // The bucket default is not checked when it is set, only when it is used.
    user.put_bucket_encryption(PutBucketEncryptionRequest {
        bucket: BUCKET.into(),
        server_side_encryption_configuration: Some(kms_rule("alias/nope")),
    })
    .await
    .unwrap();
    not_found(
        put(&mut user, put_header(BUCKET, "a.txt"), b"a").await,
        &alias_not_found,
    );
    assert_no_such_key(get(&mut user, BUCKET, "a.txt").await, "a.txt");
}

#[tokio::test]
async fn a_caller_the_key_policy_does_not_allow_is_denied() {
    let (harness, mut user, _, key) = start_with_kms_object().await;
    put(&mut user, put_header(BUCKET, "s3.txt"), b"s3 bytes")
        .await
        .unwrap();

    // User2 is of the bucket's account, but not a user of User1's key.
    let mut user2 = harness.client(Who::User2);
    let denied = |action: &str| {
        format!(
            "User: {USER2_ARN} is not authorized to perform: kms:{action} on resource: {} because no resource-based policy allows the kms:{action} action",
            key.arn
        )
    };
    assert_s3_error(
        put(&mut user2, sse_kms(BUCKET, "user2.txt", &key.arn), b"user2").await,
        Code::PermissionDenied,
        "AccessDenied",
        &denied("GenerateDataKey"),
        &[],
    );
    assert_no_such_key(get(&mut user, BUCKET, "user2.txt").await, "user2.txt");
    assert_s3_error(
        get(&mut user2, BUCKET, "kms.txt").await,
        Code::PermissionDenied,
        "AccessDenied",
        &denied("Decrypt"),
        &[],
    );
    // Copying it decrypts the source: the same refusal.
    assert_s3_error(
        user2
            .copy_object(copy_request("copy.txt", &format!("{BUCKET}/kms.txt")))
            .await,
        Code::PermissionDenied,
        "AccessDenied",
        &denied("Decrypt"),
        &[],
    );
    // What needs no key works for User2: HEAD, and SSE-S3 objects.
    user2
        .head_object(head_request(BUCKET, "kms.txt"))
        .await
        .unwrap();
    let (_, bytes) = get(&mut user2, BUCKET, "s3.txt").await.unwrap();
    assert_eq!(bytes, b"s3 bytes");
}

#[tokio::test]
async fn server_side_encryption_arguments() {
    let (_harness, mut user) = start().await;
    let refused_headers = [
        (
            "AES512",
            "",
            NOT_SUPPORTED,
            [
                ("ArgumentName", "x-amz-server-side-encryption"),
                ("ArgumentValue", "AES512"),
            ],
        ),
        (
            "",
            "alias/any",
            KMS_NEEDS_HEADER,
            [
                (
                    "ArgumentName",
                    "x-amz-server-side-encryption-aws-kms-key-id",
                ),
                ("ArgumentValue", "null"),
            ],
        ),
        (
            "AES256",
            "alias/any",
            KMS_NEEDS_HEADER,
            [
                ("ArgumentName", "x-amz-server-side-encryption"),
                ("ArgumentValue", "AES256"),
            ],
        ),
    ];
    for (server_side_encryption, ssekms_key_id, message, fields) in refused_headers {
        let header = PutObjectHeader {
            server_side_encryption: server_side_encryption.into(),
            ssekms_key_id: ssekms_key_id.into(),
            ..put_header(BUCKET, "a.txt")
        };
        assert_s3_error(
            put(&mut user, header, b"a").await,
            Code::InvalidArgument,
            "InvalidArgument",
            message,
            &fields,
        );
    }
    put(&mut user, put_header(BUCKET, "source.txt"), b"source")
        .await
        .unwrap();
    assert_s3_error(
        user.copy_object(CopyObjectRequest {
            bucket: BUCKET.into(),
            key: "copy.txt".into(),
            copy_source: format!("{BUCKET}/source.txt"),
            server_side_encryption: "AES512".into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "InvalidArgument",
        NOT_SUPPORTED,
        &[
            ("ArgumentName", "x-amz-server-side-encryption"),
            ("ArgumentValue", "AES512"),
        ],
    );
    assert_s3_error(
        user.put_bucket_encryption(PutBucketEncryptionRequest {
            bucket: BUCKET.into(),
            server_side_encryption_configuration: Some(encryption_rule("AES512", "", false)),
        })
        .await,
        Code::InvalidArgument,
        "InvalidArgument",
        NOT_SUPPORTED,
        &[],
    );
    assert_no_such_key(get(&mut user, BUCKET, "a.txt").await, "a.txt");
    assert_no_such_key(get(&mut user, BUCKET, "copy.txt").await, "copy.txt");
}

/// A harness, User1's object and KMS clients, and a console-policy key of User1's under
/// which BUCKET/kms.txt holds "kms bytes".
async fn start_with_kms_object() -> (ObjectHarness, ObjectClient, KmsClient, kms::KeyMetadata) {
    let (harness, mut user) = start().await;
    let mut kms_user = harness.kms.client(Who::User1);
    let key = lab_user_key(&mut kms_user).await;
    put(
        &mut user,
        sse_kms(BUCKET, "kms.txt", &key.key_id),
        b"kms bytes",
    )
    .await
    .unwrap();
    (harness, user, kms_user, key)
}

/// A refusal for the key's state: FailedPrecondition with KMS's code and message.
#[track_caller]
fn assert_kms_refusal<T: std::fmt::Debug>(result: Result<T, Status>, code: &str, message: &str) {
    assert_s3_error(result, Code::FailedPrecondition, code, message, &[]);
}
