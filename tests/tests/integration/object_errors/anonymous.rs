//! Anonymous callers

use super::*;

#[tokio::test]
async fn anonymous_callers_are_denied_everything_on_a_private_bucket() {
    let (harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "secret.txt"), b"secret")
        .await
        .unwrap();
    let mut anonymous = harness.client(Who::Anonymous);

    // Reads: a private object, a missing key (AccessDenied, not NoSuchKey), HEAD.
    assert_denied(get(&mut anonymous, BUCKET, "secret.txt").await);
    assert_denied(get(&mut anonymous, BUCKET, "no-such-key").await);
    assert_denied(
        anonymous
            .head_object(head_request(BUCKET, "secret.txt"))
            .await,
    );
    assert_denied(
        anonymous
            .head_object(head_request(BUCKET, "no-such-key"))
            .await,
    );
    assert_denied(anonymous.list_objects_v2(list_request(BUCKET)).await);
    assert_denied(
        anonymous
            .get_object_acl(GetObjectAclRequest {
                bucket: BUCKET.into(),
                key: "secret.txt".into(),
            })
            .await,
    );

    // Writes.
    assert_denied(
        put(
            &mut anonymous,
            put_header(BUCKET, "secret.txt"),
            b"overwritten",
        )
        .await,
    );
    assert_denied(put(&mut anonymous, put_header(BUCKET, "new.txt"), b"new").await);
    assert_denied(
        anonymous
            .delete_object(DeleteObjectRequest {
                bucket: BUCKET.into(),
                key: "secret.txt".into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .copy_object(copy_request("copy.txt", &format!("{BUCKET}/secret.txt")))
            .await,
    );
    assert_denied(
        anonymous
            .put_object_acl(PutObjectAclRequest {
                bucket: BUCKET.into(),
                key: "secret.txt".into(),
                acl: "public-read".into(),
                ..Default::default()
            })
            .await,
    );

    // Buckets and their settings.
    assert_denied(
        anonymous
            .create_bucket(CreateBucketRequest {
                bucket: "anonymous-bucket".into(),
                ..Default::default()
            })
            .await,
    );
    assert_denied(anonymous.list_buckets(ListBucketsRequest {}).await);
    assert_denied(
        anonymous
            .head_bucket(HeadBucketRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .delete_bucket(DeleteBucketRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .get_bucket_encryption(GetBucketEncryptionRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .put_bucket_encryption(PutBucketEncryptionRequest {
                bucket: BUCKET.into(),
                server_side_encryption_configuration: Some(kms_rule("alias/x")),
            })
            .await,
    );
    assert_denied(
        anonymous
            .delete_bucket_encryption(DeleteBucketEncryptionRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .get_public_access_block(GetPublicAccessBlockRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .put_public_access_block(PutPublicAccessBlockRequest {
                bucket: BUCKET.into(),
                public_access_block_configuration: Some(PublicAccessBlockConfiguration::default()),
            })
            .await,
    );
    assert_denied(
        anonymous
            .delete_public_access_block(DeletePublicAccessBlockRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .get_bucket_ownership_controls(GetBucketOwnershipControlsRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .put_bucket_ownership_controls(PutBucketOwnershipControlsRequest {
                bucket: BUCKET.into(),
                ownership_controls: Some(OwnershipControls {
                    rules: vec![OwnershipControlsRule {
                        object_ownership: "ObjectWriter".into(),
                    }],
                }),
            })
            .await,
    );
    assert_denied(
        anonymous
            .get_bucket_acl(GetBucketAclRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .put_bucket_acl(PutBucketAclRequest {
                bucket: BUCKET.into(),
                acl: "public-read".into(),
                ..Default::default()
            })
            .await,
    );

    // Nothing changed.
    let (_, bytes) = get(&mut user, BUCKET, "secret.txt").await.unwrap();
    assert_eq!(bytes, b"secret");
    assert_no_such_key(get(&mut user, BUCKET, "new.txt").await, "new.txt");
    assert_no_such_key(get(&mut user, BUCKET, "copy.txt").await, "copy.txt");
    let block = public_access_block(&mut user, BUCKET).await.unwrap();
    assert!(block.block_public_acls && block.ignore_public_acls);
    let encryption = bucket_encryption(&mut user, BUCKET).await;
    assert_eq!(
        encryption.rules[0]
            .apply_server_side_encryption_by_default
            .as_ref()
            .unwrap()
            .sse_algorithm,
        "AES256"
    );
    let buckets = user
        .list_buckets(ListBucketsRequest {})
        .await
        .unwrap()
        .into_inner()
        .buckets;
    assert_eq!(
        buckets.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        [BUCKET]
    );
}

#[tokio::test]
async fn ignore_public_acls_hides_a_public_object() {
    let (harness, mut user) = start().await;
    let mut anonymous = harness.client(Who::Anonymous);
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    delete_block(&mut user, BUCKET).await;
    put(
        &mut user,
        PutObjectHeader {
            acl: "public-read".into(),
            ..put_header(BUCKET, "public.txt")
        },
        b"public bytes",
    )
    .await
    .unwrap();
    let (_, bytes) = get(&mut anonymous, BUCKET, "public.txt").await.unwrap();
    assert_eq!(bytes, b"public bytes");

    // IgnorePublicAcls alone: the ACL is still public-read, but no longer counts.
    user.put_public_access_block(PutPublicAccessBlockRequest {
        bucket: BUCKET.into(),
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            ignore_public_acls: true,
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    assert_denied(get(&mut anonymous, BUCKET, "public.txt").await);
    assert_denied(
        anonymous
            .head_object(head_request(BUCKET, "public.txt"))
            .await,
    );
    // An SSE-KMS object public by ACL is refused as AccessDenied before the SigV4
    // rule applies (authorize first).
    let mut kms_user = harness.kms.client(Who::User1);
    let key = lab_user_key(&mut kms_user).await;
    put(
        &mut user,
        PutObjectHeader {
            acl: "public-read".into(),
            ..sse_kms(BUCKET, "public-kms.txt", &key.key_id)
        },
        b"kms bytes",
    )
    .await
    .unwrap();
    assert_denied(get(&mut anonymous, BUCKET, "public-kms.txt").await);

    // The owner still reads, and the ACL still shows the public grant.
    let (_, bytes) = get(&mut user, BUCKET, "public.txt").await.unwrap();
    assert_eq!(bytes, b"public bytes");
    let acl = user
        .get_object_acl(GetObjectAclRequest {
            bucket: BUCKET.into(),
            key: "public.txt".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acl.grants.len(), 2);

    // Lifting IgnorePublicAcls makes it readable again.
    user.put_public_access_block(PutPublicAccessBlockRequest {
        bucket: BUCKET.into(),
        public_access_block_configuration: Some(PublicAccessBlockConfiguration::default()),
    })
    .await
    .unwrap();
    let (_, bytes) = get(&mut anonymous, BUCKET, "public.txt").await.unwrap();
    assert_eq!(bytes, b"public bytes");
}

#[tokio::test]
async fn anonymous_sse_kms_read_of_a_public_object_needs_sigv4() {
    let (harness, mut user) = start().await;
    let mut anonymous = harness.client(Who::Anonymous);
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    delete_block(&mut user, BUCKET).await;
    let mut kms_user = harness.kms.client(Who::User1);
    let key = lab_user_key(&mut kms_user).await;
    put(
        &mut user,
        PutObjectHeader {
            acl: "public-read".into(),
            ..sse_kms(BUCKET, "kms.txt", &key.key_id)
        },
        b"kms bytes",
    )
    .await
    .unwrap();
    let sigv4 = "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.";
    let fields = [("ArgumentName", "Authorization"), ("ArgumentValue", "null")];
    assert_s3_error(
        get(&mut anonymous, BUCKET, "kms.txt").await,
        Code::InvalidArgument,
        "InvalidArgument",
        sigv4,
        &fields,
    );
    assert_s3_error(
        anonymous.head_object(head_request(BUCKET, "kms.txt")).await,
        Code::InvalidArgument,
        "InvalidArgument",
        sigv4,
        &fields,
    );
}
