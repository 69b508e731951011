//! Buckets

use super::*;

#[tokio::test]
async fn create_list_head_and_delete_buckets() {
    let harness = ObjectHarness::start().await;
    let s3 = harness.s3(Who::User1);
    assert!(s3.list_buckets().send().await.unwrap().buckets().is_empty());

    let created = s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    assert_eq!(created.location(), Some("/ops-bucket"));
    create_bucket(&s3, "zz-last").await;
    create_bucket(&s3, "0-first").await;

    // ListBuckets: by name, the account as owner, for every principal of it.
    for who in [Who::User1, Who::User2, Who::Root] {
        let listed = harness.s3(who).list_buckets().send().await.unwrap();
        let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
        assert_eq!(names, ["0-first", BUCKET, "zz-last"], "{who:?}");
        assert_eq!(listed.owner().and_then(|o| o.id()), Some(ACCOUNT));
        for bucket in listed.buckets() {
            let created = bucket.creation_date().expect("a creation date").secs();
            assert!((now_secs() - created).abs() < 120, "{bucket:?}");
            assert_eq!(bucket.bucket_region(), Some("us-east-1"));
        }
    }

    // The name is taken by the account: 409 for any of its principals.
    for who in [Who::User1, Who::User2] {
        let failure = assert_failure(
            harness.s3(who).create_bucket().bucket(BUCKET).send().await,
            409,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        );
        assert_eq!(failure.field("BucketName").as_deref(), Some(BUCKET));
    }

    // Names S3 refuses, the rule kept by keyhold's validation.
    for name in ["sthree-bucket", "bucket-s3alias", "amzn-s3-demo-bucket"] {
        let failure = assert_failure(
            s3.create_bucket().bucket(name).send().await,
            400,
            "InvalidBucketName",
            INVALID_BUCKET_NAME,
        );
        assert_eq!(failure.field("BucketName").as_deref(), Some(name), "{name}");
    }
    let names: Vec<String> = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    assert_eq!(names, ["0-first", BUCKET, "zz-last"]);

    // HeadBucket: the region; a missing bucket is a bare 404.
    let head = s3.head_bucket().bucket(BUCKET).send().await.unwrap();
    assert_eq!(head.bucket_region(), Some("us-east-1"));
    let error = s3
        .head_bucket()
        .bucket("no-such-bucket")
        .send()
        .await
        .unwrap_err();
    assert!(
        error.as_service_error().is_some_and(|e| e.is_not_found()),
        "{error:?}"
    );
    assert_head_failure(s3.head_bucket().bucket("no-such-bucket").send().await, 404);

    // DeleteBucket: only when empty.
    put(&s3, BUCKET, "keep.txt", b"keep").await;
    let failure = assert_failure(
        s3.delete_bucket().bucket(BUCKET).send().await,
        409,
        "BucketNotEmpty",
        "The bucket you tried to delete is not empty",
    );
    assert_eq!(failure.field("BucketName").as_deref(), Some(BUCKET));
    assert_eq!(get_bytes(&s3, BUCKET, "keep.txt").await, b"keep");
    s3.delete_object()
        .bucket(BUCKET)
        .key("keep.txt")
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket(BUCKET).send().await.unwrap();
    assert_head_failure(s3.head_bucket().bucket(BUCKET).send().await, 404);
    assert_no_such_bucket(s3.delete_bucket().bucket(BUCKET).send().await, BUCKET);
    assert_no_such_bucket(s3.list_objects_v2().bucket(BUCKET).send().await, BUCKET);
    let listed = s3.list_buckets().send().await.unwrap();
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["0-first", "zz-last"]);

    // The name is free again, and the new bucket starts empty with the defaults.
    create_bucket(&s3, BUCKET).await;
    let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    assert!(listed.contents().is_empty());
    assert_eq!(
        default_encryption(&s3, BUCKET).await,
        ("AES256".to_owned(), None, Some(false))
    );
}

#[tokio::test]
async fn bucket_default_encryption() {
    let (harness, s3) = start().await;
    let key = user_key(&harness).await;

    // SSE-S3 by default.
    assert_eq!(
        default_encryption(&s3, BUCKET).await,
        ("AES256".to_owned(), None, Some(false))
    );
    let plain = put(&s3, BUCKET, "before.txt", FOX).await;
    assert_eq!(
        plain.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(plain.ssekms_key_id(), None);
    assert_eq!(plain.e_tag(), Some(MD5_FOX));

    // aws:kms with a key id and a bucket key: objects put with no SSE headers use it.
    s3.put_bucket_encryption()
        .bucket(BUCKET)
        .server_side_encryption_configuration(encryption_rule(
            ServerSideEncryption::AwsKms,
            Some(&key.key_id),
            true,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        default_encryption(&s3, BUCKET).await,
        ("aws:kms".to_owned(), Some(key.key_id.clone()), Some(true))
    );
    let stored = put(&s3, BUCKET, "default.txt", FOX).await;
    assert_eq!(
        stored.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(stored.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(stored.bucket_key_enabled(), Some(true));
    assert_etag_shape(stored.e_tag());
    assert_ne!(stored.e_tag(), Some(MD5_FOX), "an SSE-KMS ETag is no MD5");
    let head = head_object_output(&s3, BUCKET, "default.txt").await;
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(head.bucket_key_enabled(), Some(true));
    let got = get_object_output(&s3, BUCKET, "default.txt").await;
    assert_eq!(got.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(body_of(got).await, FOX);
    // The request's own SSE-S3 wins over the default.
    let overridden = s3
        .put_object()
        .bucket(BUCKET)
        .key("sse-s3.txt")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(FOX))
        .send()
        .await
        .unwrap();
    assert_eq!(
        overridden.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(overridden.ssekms_key_id(), None);

    // aws:kms without a key id: the account's AWS managed key alias/aws/s3.
    s3.put_bucket_encryption()
        .bucket(BUCKET)
        .server_side_encryption_configuration(encryption_rule(
            ServerSideEncryption::AwsKms,
            None,
            false,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        default_encryption(&s3, BUCKET).await,
        ("aws:kms".to_owned(), None, Some(false))
    );
    let managed = put(&s3, BUCKET, "managed.txt", b"managed").await;
    let aws_s3 = harness
        .kms
        .client(Who::Root)
        .describe_key(kms::DescribeKeyRequest {
            key_id: "alias/aws/s3".into(),
        })
        .await
        .expect("alias/aws/s3 exists after its first use")
        .into_inner()
        .key_metadata
        .unwrap();
    assert_eq!(managed.ssekms_key_id(), Some(aws_s3.arn.as_str()));
    assert_eq!(managed.bucket_key_enabled(), None, "shown only when set");

    // DeleteBucketEncryption: back to SSE-S3; what was written stays as it was.
    s3.delete_bucket_encryption()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(
        default_encryption(&s3, BUCKET).await,
        ("AES256".to_owned(), None, Some(false))
    );
    let after = put(&s3, BUCKET, "after.txt", b"").await;
    assert_eq!(
        after.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(after.ssekms_key_id(), None);
    assert_eq!(after.e_tag(), Some(MD5_EMPTY));
    let head = head_object_output(&s3, BUCKET, "default.txt").await;
    assert_eq!(head.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(get_bytes(&s3, BUCKET, "default.txt").await, FOX);

    // A key id with AES256 is refused, and changes nothing.
    assert_failure(
        s3.put_bucket_encryption()
            .bucket(BUCKET)
            .server_side_encryption_configuration(encryption_rule(
                ServerSideEncryption::Aes256,
                Some(&key.key_id),
                false,
            ))
            .send()
            .await,
        400,
        "InvalidArgument",
        "a KMS key id is only valid with aws:kms",
    );
    assert_eq!(
        default_encryption(&s3, BUCKET).await,
        ("AES256".to_owned(), None, Some(false))
    );
    assert_no_such_bucket(
        s3.get_bucket_encryption()
            .bucket("no-such-bucket")
            .send()
            .await,
        "no-such-bucket",
    );
}

#[tokio::test]
async fn public_access_block_settings() {
    let (_harness, s3) = start().await;
    let all_on = (Some(true), Some(true), Some(true), Some(true));
    assert_eq!(
        public_access_block(&s3, BUCKET).await,
        all_on,
        "all four flags on a new bucket"
    );

    put_public_access_block(&s3, (Some(false), Some(true), Some(false), Some(true))).await;
    assert_eq!(
        public_access_block(&s3, BUCKET).await,
        (Some(false), Some(true), Some(false), Some(true))
    );

    // A missing flag is false, as in S3.
    put_public_access_block(&s3, (Some(true), None, None, None)).await;
    assert_eq!(
        public_access_block(&s3, BUCKET).await,
        (Some(true), Some(false), Some(false), Some(false))
    );

    delete_public_access_block(&s3).await;
    assert_failure(
        s3.get_public_access_block().bucket(BUCKET).send().await,
        404,
        "NoSuchPublicAccessBlockConfiguration",
        "The public access block configuration was not found",
    );
    // Deleting again is fine; putting one back shows it again.
    delete_public_access_block(&s3).await;
    put_public_access_block(&s3, all_on).await;
    assert_eq!(public_access_block(&s3, BUCKET).await, all_on);
    assert_no_such_bucket(
        s3.get_public_access_block()
            .bucket("no-such-bucket")
            .send()
            .await,
        "no-such-bucket",
    );
}

/// Block Public Access's four flags in S3's order: BlockPublicAcls, IgnorePublicAcls,
/// BlockPublicPolicy, RestrictPublicBuckets.
type BlockFlags = (Option<bool>, Option<bool>, Option<bool>, Option<bool>);

async fn public_access_block(s3: &Client, bucket: &str) -> BlockFlags {
    let output = s3
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let c = output
        .public_access_block_configuration()
        .expect("a configuration");
    (
        c.block_public_acls(),
        c.ignore_public_acls(),
        c.block_public_policy(),
        c.restrict_public_buckets(),
    )
}

/// Puts BUCKET's flags, leaving out of the request those that are None.
async fn put_public_access_block(s3: &Client, (acls, ignore, policy, restrict): BlockFlags) {
    s3.put_public_access_block()
        .bucket(BUCKET)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .set_block_public_acls(acls)
                .set_ignore_public_acls(ignore)
                .set_block_public_policy(policy)
                .set_restrict_public_buckets(restrict)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn delete_public_access_block(s3: &Client) {
    s3.delete_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn ownership_controls_and_bucket_acls() {
    let (harness, s3) = start().await;
    assert_eq!(
        ownership_rule(&s3, BUCKET).await,
        ObjectOwnership::BucketOwnerEnforced
    );
    let acl = s3.get_bucket_acl().bucket(BUCKET).send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(ACCOUNT));
    assert_eq!(grants_of(acl.grants()), [owner_full_control()]);

    // CreateBucket may choose the ownership and a canned ACL; Block Public Access is
    // on all the same, so a public ACL is refused and no bucket is made.
    s3.create_bucket()
        .bucket("writer-bucket")
        .object_ownership(ObjectOwnership::ObjectWriter)
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ownership_rule(&s3, "writer-bucket").await,
        ObjectOwnership::ObjectWriter
    );
    let (block_acls, ignore_acls, ..) = public_access_block(&s3, "writer-bucket").await;
    assert_eq!((block_acls, ignore_acls), (Some(true), Some(true)));
    assert_failure(
        s3.create_bucket()
            .bucket("public-bucket")
            .object_ownership(ObjectOwnership::ObjectWriter)
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
        403,
        "AccessDenied",
        ACCESS_DENIED,
    );
    assert_head_failure(s3.head_bucket().bucket("public-bucket").send().await, 404);

    // ACLs are disabled: any PutBucketAcl is refused.
    for canned in [BucketCannedAcl::PublicRead, BucketCannedAcl::Private] {
        assert_failure(
            s3.put_bucket_acl().bucket(BUCKET).acl(canned).send().await,
            400,
            "AccessControlListNotSupported",
            ACLS_NOT_SUPPORTED,
        );
    }

    for rule in [
        ObjectOwnership::ObjectWriter,
        ObjectOwnership::BucketOwnerEnforced,
        ObjectOwnership::BucketOwnerPreferred,
    ] {
        set_ownership(&s3, BUCKET, rule.clone()).await;
        assert_eq!(ownership_rule(&s3, BUCKET).await, rule);
    }

    // ACLs on, Block Public Access still on: a public ACL is refused, a private one taken.
    assert_failure(
        s3.put_bucket_acl()
            .bucket(BUCKET)
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
        403,
        "AccessDenied",
        ACCESS_DENIED,
    );
    put_canned_acl(&s3, BucketCannedAcl::Private).await;

    // Block Public Access off: public-read, and anonymous callers may list.
    delete_public_access_block(&s3).await;
    put(&s3, BUCKET, "listed.txt", b"listed").await;
    let bucket_url = format!("{}/{BUCKET}", harness.s3_endpoint());
    let refused = http().get(&bucket_url).send().await.unwrap();
    let (status, xml) = http_failure(refused).await;
    assert_eq!(status, 403);
    assert_eq!(xml_field(&xml, "Code").as_deref(), Some("AccessDenied"));
    put_canned_acl(&s3, BucketCannedAcl::PublicRead).await;
    assert_eq!(
        bucket_grants(&s3).await,
        [owner_full_control(), all_users_read()]
    );
    let listing = http().get(&bucket_url).send().await.unwrap();
    assert_eq!(listing.status(), 200);
    let xml = listing.text().await.unwrap();
    assert_eq!(
        xml_field(&xml, "Key").as_deref(),
        Some("listed.txt"),
        "{xml}"
    );

    // An AccessControlPolicy: the owner's full control only, private again.
    s3.put_bucket_acl()
        .bucket(BUCKET)
        .access_control_policy(policy(vec![owner_grant(Permission::FullControl)]))
        .send()
        .await
        .unwrap();
    assert_eq!(bucket_grants(&s3).await, [owner_full_control()]);
    assert_eq!(http().get(&bucket_url).send().await.unwrap().status(), 403);

    // BucketOwnerEnforced again: the ACL reads as the owner's, and is refused.
    put_canned_acl(&s3, BucketCannedAcl::PublicRead).await;
    set_ownership(&s3, BUCKET, ObjectOwnership::BucketOwnerEnforced).await;
    assert_eq!(bucket_grants(&s3).await, [owner_full_control()]);
    assert_eq!(http().get(&bucket_url).send().await.unwrap().status(), 403);
    assert_failure(
        s3.put_bucket_acl()
            .bucket(BUCKET)
            .access_control_policy(policy(vec![owner_grant(Permission::FullControl)]))
            .send()
            .await,
        400,
        "AccessControlListNotSupported",
        ACLS_NOT_SUPPORTED,
    );
}

/// The bucket's one ownership rule.
async fn ownership_rule(s3: &Client, bucket: &str) -> ObjectOwnership {
    let output = s3
        .get_bucket_ownership_controls()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let rules = output.ownership_controls().expect("controls").rules();
    assert_eq!(rules.len(), 1);
    rules[0].object_ownership().clone()
}

async fn put_canned_acl(s3: &Client, canned: BucketCannedAcl) {
    s3.put_bucket_acl()
        .bucket(BUCKET)
        .acl(canned)
        .send()
        .await
        .unwrap();
}

async fn bucket_grants(s3: &Client) -> Vec<(String, String)> {
    let acl = s3.get_bucket_acl().bucket(BUCKET).send().await.unwrap();
    grants_of(acl.grants())
}
