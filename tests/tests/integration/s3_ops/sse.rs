//! SSE headers and KMS refusals

use super::*;

/// The encryption context kms-svc saw on a GenerateDataKey for `object_arn`.
async fn context_sent_to_kms(harness: &ObjectHarness, object_arn: &str) -> serde_json::Value {
    for _ in 0..200 {
        let found = harness.kms.sink.events().into_iter().find(|e| {
            e.event_name == "GenerateDataKey"
                && e.request_parameters["encryptionContext"]["aws:s3:arn"] == object_arn
        });
        if let Some(event) = found {
            return event.request_parameters["encryptionContext"].clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no GenerateDataKey for {object_arn}");
}

#[tokio::test]
async fn sse_kms_headers() {
    let (harness, s3) = start().await;
    let key = user_key(&harness).await;
    harness
        .kms
        .client(Who::User1)
        .create_alias(kms::CreateAliasRequest {
            alias_name: "alias/ops-key".into(),
            target_key_id: key.key_id.clone(),
        })
        .await
        .unwrap();

    // An alias, by name and by ARN: the response names the key by its ARN.
    for (object, key_id) in [
        ("by-alias.txt", "alias/ops-key".to_owned()),
        (
            "by-alias-arn.txt",
            format!("{KMS_ARN_PREFIX}:alias/ops-key"),
        ),
        ("by-id.txt", key.key_id.clone()),
    ] {
        let stored = put_kms(&s3, BUCKET, object, &key_id, b"kms bytes").await;
        assert_eq!(
            stored.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms)
        );
        assert_eq!(stored.ssekms_key_id(), Some(key.arn.as_str()), "{key_id}");
        let got = get_object_output(&s3, BUCKET, object).await;
        assert_eq!(got.ssekms_key_id(), Some(key.arn.as_str()));
        assert_eq!(body_of(got).await, b"kms bytes");
    }
    // The header itself, as a plain HTTP client receives it.
    let presigned = s3
        .head_object()
        .bucket(BUCKET)
        .key("by-alias.txt")
        .presigned(presigning())
        .await
        .unwrap();
    let response = send_presigned(&presigned, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-amz-server-side-encryption"],
        "aws:kms"
    );
    assert_eq!(
        response.headers()["x-amz-server-side-encryption-aws-kms-key-id"],
        key.arn.as_str()
    );

    // The bucket key flag on the request is kept and shown.
    let stored = s3
        .put_object()
        .bucket(BUCKET)
        .key("bucket-key.txt")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key.key_id)
        .bucket_key_enabled(true)
        .body(ByteStream::from_static(b"bucket key"))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.bucket_key_enabled(), Some(true));
    let got = get_object_output(&s3, BUCKET, "bucket-key.txt").await;
    assert_eq!(got.bucket_key_enabled(), Some(true));
    assert_eq!(body_of(got).await, b"bucket key");

    // An encryption context: base64 JSON; the service adds aws:s3:arn, and the GET
    // (which does not resend it) still opens the object.
    let context = base64::engine::general_purpose::STANDARD.encode(r#"{"purpose":"ops-test"}"#);
    let stored = s3
        .put_object()
        .bucket(BUCKET)
        .key("context.txt")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key.key_id)
        .ssekms_encryption_context(&context)
        .body(ByteStream::from_static(b"with context"))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.ssekms_key_id(), Some(key.arn.as_str()));
    let object_arn = format!("arn:aws:s3:::{BUCKET}/context.txt");
    assert_eq!(
        context_sent_to_kms(&harness, &object_arn).await,
        serde_json::json!({"purpose": "ops-test", "aws:s3:arn": object_arn})
    );
    assert_eq!(get_bytes(&s3, BUCKET, "context.txt").await, b"with context");

    // Refusals; none of them writes anything.
    let put_with = |object: &str| {
        s3.put_object()
            .bucket(BUCKET)
            .key(object)
            .body(ByteStream::from_static(b"refused"))
    };
    let failure = assert_failure(
        put_with("bad-context.txt")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&key.key_id)
            .ssekms_encryption_context("not base64!")
            .send()
            .await,
        400,
        "InvalidArgument",
        BAD_CONTEXT,
    );
    assert_eq!(
        failure.field("ArgumentName").as_deref(),
        Some("x-amz-server-side-encryption-context")
    );
    let not_a_map = base64::engine::general_purpose::STANDARD.encode(r#"["a","b"]"#);
    assert_failure(
        put_with("bad-context.txt")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_encryption_context(&not_a_map)
            .send()
            .await,
        400,
        "InvalidArgument",
        BAD_CONTEXT,
    );
    let failure = assert_failure(
        put_with("bogus.txt")
            .server_side_encryption(ServerSideEncryption::from("bogus"))
            .send()
            .await,
        400,
        "InvalidArgument",
        NOT_SUPPORTED,
    );
    assert_eq!(
        failure.field("ArgumentName").as_deref(),
        Some("x-amz-server-side-encryption")
    );
    assert_eq!(failure.field("ArgumentValue").as_deref(), Some("bogus"));
    assert_failure(
        put_with("no-sse.txt")
            .ssekms_key_id(&key.key_id)
            .send()
            .await,
        400,
        "InvalidArgument",
        KMS_NEEDS_HEADER,
    );
    assert_failure(
        put_with("aes-with-key.txt")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .ssekms_key_id(&key.key_id)
            .send()
            .await,
        400,
        "InvalidArgument",
        KMS_NEEDS_HEADER,
    );
    assert_failure(
        put_with("aes-with-context.txt")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .ssekms_encryption_context(&context)
            .send()
            .await,
        400,
        "InvalidArgument",
        KMS_NEEDS_HEADER,
    );
    // Unknown keys: by id, by ARN, malformed, an unknown alias.
    let missing = uuid::Uuid::new_v4().to_string();
    let does_not_exist = format!("Key '{KMS_ARN_PREFIX}:key/{missing}' does not exist");
    for (key_id, message) in [
        (missing.clone(), does_not_exist.clone()),
        (format!("{KMS_ARN_PREFIX}:key/{missing}"), does_not_exist),
        ("nope".to_owned(), "Invalid keyId 'nope'".to_owned()),
        (
            "alias/nope".to_owned(),
            format!("Alias '{KMS_ARN_PREFIX}:alias/nope' is not found."),
        ),
    ] {
        assert_failure(
            put_with("unknown-key.txt")
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(&key_id)
                .send()
                .await,
            400,
            "KMS.NotFoundException",
            &message,
        );
    }
    for object in [
        "bad-context.txt",
        "bogus.txt",
        "no-sse.txt",
        "aes-with-key.txt",
        "aes-with-context.txt",
        "unknown-key.txt",
    ] {
        assert_no_such_key(
            s3.get_object().bucket(BUCKET).key(object).send().await,
            object,
        );
    }
}

#[tokio::test]
async fn a_disabled_key_refuses_put_and_get() {
    let (harness, s3) = start().await;
    let key = user_key(&harness).await;
    put_kms(&s3, BUCKET, "kms.txt", &key.key_id, b"kms bytes").await;
    let mut kms_user = harness.kms.client(Who::User1);
    kms_user
        .disable_key(kms::DisableKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
    let disabled = format!("{} is disabled.", key.arn);

    assert_failure(
        s3.get_object().bucket(BUCKET).key("kms.txt").send().await,
        400,
        "KMS.DisabledException",
        &disabled,
    );
    assert_failure(
        s3.put_object()
            .bucket(BUCKET)
            .key("new.txt")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&key.arn)
            .body(ByteStream::from_static(b"new"))
            .send()
            .await,
        400,
        "KMS.DisabledException",
        &disabled,
    );
    assert_no_such_key(
        s3.get_object().bucket(BUCKET).key("new.txt").send().await,
        "new.txt",
    );
    // CopyObject decrypts its source first: the same refusal.
    assert_failure(
        s3.copy_object()
            .bucket(BUCKET)
            .key("copy.txt")
            .copy_source(format!("{BUCKET}/kms.txt"))
            .send()
            .await,
        400,
        "KMS.DisabledException",
        &disabled,
    );
    // HeadObject needs no Decrypt.
    let head = head_object_output(&s3, BUCKET, "kms.txt").await;
    assert_eq!(head.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(head.content_length(), Some(9));

    kms_user
        .enable_key(kms::EnableKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(get_bytes(&s3, BUCKET, "kms.txt").await, b"kms bytes");
}
