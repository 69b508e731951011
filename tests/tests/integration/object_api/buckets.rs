//! Buckets

use super::*;

#[tokio::test]
async fn a_new_bucket_has_the_s3_defaults() {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    let created = user
        .create_bucket(CreateBucketRequest {
            bucket: BUCKET.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.location, format!("/{BUCKET}"));

    assert_eq!(
        bucket_encryption(&mut user, BUCKET).await,
        encryption_rule("AES256", "", false)
    );
    let block = public_access_block(&mut user, BUCKET).await;
    assert_eq!(
        block,
        Some(PublicAccessBlockConfiguration {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        })
    );
    assert_eq!(
        ownership_rules(&mut user, BUCKET).await,
        [OwnershipControlsRule {
            object_ownership: "BucketOwnerEnforced".into()
        }]
    );
    let acl = user
        .get_bucket_acl(GetBucketAclRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acl.owner.unwrap().id, ACCOUNT);
    assert_eq!(acl.grants, [owner_grant("FULL_CONTROL")]);
    let region = user
        .head_bucket(HeadBucketRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .bucket_region;
    assert_eq!(region, "us-east-1");

    // ListBuckets: by name, with the account as owner, for every principal of it.
    create_bucket(&mut user, "zz-last").await;
    create_bucket(&mut user, "0-first").await;
    create_bucket(&mut user, "api-bucket.b").await;
    for who in [Who::User1, Who::User2, Who::Root] {
        let listed = harness
            .client(who)
            .list_buckets(ListBucketsRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.owner.unwrap().id, ACCOUNT);
        let names: Vec<&str> = listed.buckets.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            names,
            ["0-first", BUCKET, "api-bucket.b", "zz-last"],
            "{who:?}"
        );
        for bucket in &listed.buckets {
            // RFC 3339 UTC with milliseconds: 2026-01-02T03:04:05.678Z
            assert_eq!(bucket.creation_date.len(), 24, "{}", bucket.creation_date);
            assert!(bucket.creation_date.ends_with('Z'));
        }
    }
}

#[tokio::test]
async fn bucket_settings_round_trip() {
    let (harness, mut user) = start().await;
    let key = user_key(&harness).await;

    for configuration in [
        encryption_rule("aws:kms", &key.key_id, true),
        encryption_rule("aws:kms", &key.arn, false),
        encryption_rule("aws:kms", "alias/some-alias", true),
        encryption_rule("aws:kms", "", false),
        encryption_rule("AES256", "", false),
    ] {
        set_default(&mut user, BUCKET, configuration.clone()).await;
        assert_eq!(bucket_encryption(&mut user, BUCKET).await, configuration);
    }
    set_default(
        &mut user,
        BUCKET,
        encryption_rule("aws:kms", &key.key_id, true),
    )
    .await;
    user.delete_bucket_encryption(DeleteBucketEncryptionRequest {
        bucket: BUCKET.into(),
    })
    .await
    .unwrap();
    assert_eq!(
        bucket_encryption(&mut user, BUCKET).await,
        encryption_rule("AES256", "", false)
    );

    let custom = PublicAccessBlockConfiguration {
        block_public_acls: false,
        ignore_public_acls: true,
        block_public_policy: false,
        restrict_public_buckets: true,
    };
    user.put_public_access_block(PutPublicAccessBlockRequest {
        bucket: BUCKET.into(),
        public_access_block_configuration: Some(custom),
    })
    .await
    .unwrap();
    let block = public_access_block(&mut user, BUCKET).await;
    assert_eq!(block, Some(custom));

    for ownership in [
        "ObjectWriter",
        "BucketOwnerPreferred",
        "BucketOwnerEnforced",
    ] {
        set_ownership(&mut user, BUCKET, ownership).await;
        let rules = ownership_rules(&mut user, BUCKET).await;
        assert_eq!(
            rules,
            [OwnershipControlsRule {
                object_ownership: ownership.into()
            }]
        );
    }
}

#[tokio::test]
async fn bucket_default_encryption_applies_to_writes() {
    let (harness, mut user) = start().await;
    let key = user_key(&harness).await;

    // aws:kms with a key and a bucket key: an object put with no SSE fields.
    set_default(
        &mut user,
        BUCKET,
        encryption_rule("aws:kms", &key.key_id, true),
    )
    .await;
    let stored = put(&mut user, put_header(BUCKET, "default.txt"), b"default")
        .await
        .unwrap();
    assert_eq!(
        (
            stored.server_side_encryption.as_str(),
            stored.ssekms_key_id.as_str(),
            stored.bucket_key_enabled
        ),
        ("aws:kms", key.arn.as_str(), true)
    );
    let shown = head(&mut user, BUCKET, "default.txt").await;
    assert_eq!(
        (
            shown.server_side_encryption.as_str(),
            shown.ssekms_key_id.as_str(),
            shown.bucket_key_enabled
        ),
        ("aws:kms", key.arn.as_str(), true)
    );
    let (_, bytes) = get(&mut user, BUCKET, "default.txt").await.unwrap();
    assert_eq!(bytes, b"default");

    // The request overrides the default: the bucket key off, SSE-S3, another key.
    let no_bucket_key = put(
        &mut user,
        PutObjectHeader {
            bucket_key_enabled: Some(false),
            ..put_header(BUCKET, "no-bucket-key.txt")
        },
        b"x",
    )
    .await
    .unwrap();
    assert_eq!(no_bucket_key.ssekms_key_id, key.arn);
    assert!(!no_bucket_key.bucket_key_enabled);
    assert!(
        !head(&mut user, BUCKET, "no-bucket-key.txt")
            .await
            .bucket_key_enabled
    );
    let sse_s3 = put(
        &mut user,
        PutObjectHeader {
            server_side_encryption: "AES256".into(),
            ..put_header(BUCKET, "sse-s3.txt")
        },
        FOX,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            sse_s3.server_side_encryption.as_str(),
            sse_s3.ssekms_key_id.as_str(),
            sse_s3.bucket_key_enabled,
            sse_s3.etag.as_str()
        ),
        ("AES256", "", false, MD5_FOX)
    );
    let other = user_key(&harness).await;
    let by_alias_arn = {
        let mut kms_user = harness.kms.client(Who::User1);
        kms_user
            .create_alias(kms::CreateAliasRequest {
                alias_name: "alias/other".into(),
                target_key_id: other.key_id.clone(),
            })
            .await
            .unwrap();
        put(
            &mut user,
            sse_kms(
                BUCKET,
                "other.txt",
                "arn:aws:kms:us-east-1:000000000000:alias/other",
            ),
            b"other",
        )
        .await
        .unwrap()
    };
    assert_eq!(by_alias_arn.ssekms_key_id, other.arn);
    assert!(
        by_alias_arn.bucket_key_enabled,
        "the bucket's bucket key setting"
    );

    // SSE-KMS requested explicitly with no key id uses the bucket's key.
    let explicit = put(&mut user, sse_kms(BUCKET, "explicit.txt", ""), b"e")
        .await
        .unwrap();
    assert_eq!(explicit.ssekms_key_id, key.arn);

    // bucket_key_enabled on the request, in an SSE-S3-default bucket.
    user.delete_bucket_encryption(DeleteBucketEncryptionRequest {
        bucket: BUCKET.into(),
    })
    .await
    .unwrap();
    let with_bucket_key = put(
        &mut user,
        PutObjectHeader {
            bucket_key_enabled: Some(true),
            ..sse_kms(BUCKET, "bucket-key.txt", &key.key_id)
        },
        b"bk",
    )
    .await
    .unwrap();
    assert!(with_bucket_key.bucket_key_enabled);
    let shown = head(&mut user, BUCKET, "bucket-key.txt").await;
    assert!(shown.bucket_key_enabled);
    assert_eq!(shown.ssekms_key_id, key.arn);
    let (_, bytes) = get(&mut user, BUCKET, "bucket-key.txt").await.unwrap();
    assert_eq!(bytes, b"bk");
    let plain = put(&mut user, put_header(BUCKET, "plain.txt"), b"")
        .await
        .unwrap();
    assert_eq!(
        (
            plain.server_side_encryption.as_str(),
            plain.bucket_key_enabled,
            plain.etag.as_str()
        ),
        ("AES256", false, MD5_EMPTY)
    );
}

#[tokio::test]
async fn aws_kms_without_a_key_uses_the_aws_managed_key() {
    let (harness, mut user) = start().await;
    set_default(&mut user, BUCKET, encryption_rule("aws:kms", "", false)).await;
    let stored = put(&mut user, put_header(BUCKET, "managed.txt"), b"managed")
        .await
        .unwrap();
    assert_eq!(stored.server_side_encryption, "aws:kms");
    let mut root = harness.kms.client(Who::Root);
    let managed = root
        .describe_key(kms::DescribeKeyRequest {
            key_id: "alias/aws/s3".into(),
        })
        .await
        .expect("alias/aws/s3 exists after S3's first use")
        .into_inner()
        .key_metadata
        .unwrap();
    assert_eq!(managed.key_manager, "AWS");
    assert_eq!(managed.key_state, "Enabled");
    assert_eq!(stored.ssekms_key_id, managed.arn);
    assert_eq!(
        head(&mut user, BUCKET, "managed.txt").await.ssekms_key_id,
        managed.arn
    );
    let (_, bytes) = get(&mut user, BUCKET, "managed.txt").await.unwrap();
    assert_eq!(bytes, b"managed");

    // The same key again for an explicit aws:kms with no key id, also by User2.
    let explicit = put(&mut user, sse_kms(BUCKET, "explicit.txt", ""), b"x")
        .await
        .unwrap();
    assert_eq!(explicit.ssekms_key_id, managed.arn);
    let mut user2 = harness.client(Who::User2);
    let by_user2 = put(&mut user2, sse_kms(BUCKET, "user2.txt", ""), b"u2")
        .await
        .unwrap();
    assert_eq!(by_user2.ssekms_key_id, managed.arn);
    let (_, bytes) = get(&mut user2, BUCKET, "managed.txt").await.unwrap();
    assert_eq!(bytes, b"managed");
    let keys = root
        .list_aliases(kms::ListAliasesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .aliases;
    assert_eq!(
        keys.iter()
            .filter(|a| a.alias_name == "alias/aws/s3")
            .count(),
        1
    );
}
