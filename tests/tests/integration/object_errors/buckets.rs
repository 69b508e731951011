//! Buckets

use super::*;
use keyhold_tests::texts::INVALID_BUCKET_NAME;

#[tokio::test]
async fn invalid_bucket_names() {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    let too_long = "a".repeat(64);
    for name in [
        "ab",
        "Upper",
        "192.168.5.4",
        "a..b",
        "-ab",
        "ab-",
        "a_b",
        too_long.as_str(),
        "",
    ] {
        assert_s3_error(
            user.create_bucket(CreateBucketRequest {
                bucket: name.into(),
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
            "InvalidBucketName",
            INVALID_BUCKET_NAME,
            &[("BucketName", name)],
        );
    }
    // The longest and shortest valid names.
    create_bucket(&mut user, &"a".repeat(63)).await;
    create_bucket(&mut user, "abc").await;
    let names: Vec<String> = user
        .list_buckets(ListBucketsRequest {})
        .await
        .unwrap()
        .into_inner()
        .buckets
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["a".repeat(63), "abc".to_owned()]);
}

#[tokio::test]
async fn bucket_conflicts_and_missing_buckets() {
    let (harness, mut user) = start().await;
    let already_owned = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::AlreadyExists,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
            &[("BucketName", BUCKET)],
        )
    };
    already_owned(
        user.create_bucket(CreateBucketRequest {
            bucket: BUCKET.into(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    // Another principal of the same account owns it too.
    let mut user2 = harness.client(Who::User2);
    already_owned(
        user2
            .create_bucket(CreateBucketRequest {
                bucket: BUCKET.into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
    );

    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    assert_s3_error(
        user.delete_bucket(DeleteBucketRequest {
            bucket: BUCKET.into(),
        })
        .await,
        Code::FailedPrecondition,
        "BucketNotEmpty",
        "The bucket you tried to delete is not empty",
        &[("BucketName", BUCKET)],
    );
    let (_, bytes) = get(&mut user, BUCKET, "a.txt").await.unwrap();
    assert_eq!(bytes, b"a");

    // GetPublicAccessBlock once there is none.
    delete_block(&mut user, BUCKET).await;
    assert_s3_error(
        user.get_public_access_block(GetPublicAccessBlockRequest {
            bucket: BUCKET.into(),
        })
        .await,
        Code::NotFound,
        "NoSuchPublicAccessBlockConfiguration",
        "The public access block configuration was not found",
        &[("BucketName", BUCKET)],
    );
}

#[tokio::test]
async fn every_operation_on_a_missing_bucket_is_no_such_bucket() {
    let (harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    let missing = "no-such-bucket";
    let b = || missing.to_owned();
    assert_no_such_bucket(
        user.head_bucket(HeadBucketRequest { bucket: b() }).await,
        missing,
    );
    assert_no_such_bucket(
        user.delete_bucket(DeleteBucketRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.get_bucket_encryption(GetBucketEncryptionRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.put_bucket_encryption(PutBucketEncryptionRequest {
            bucket: b(),
            server_side_encryption_configuration: Some(kms_rule("alias/x")),
        })
        .await,
        missing,
    );
    assert_no_such_bucket(
        user.delete_bucket_encryption(DeleteBucketEncryptionRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.get_public_access_block(GetPublicAccessBlockRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.put_public_access_block(PutPublicAccessBlockRequest {
            bucket: b(),
            public_access_block_configuration: Some(PublicAccessBlockConfiguration::default()),
        })
        .await,
        missing,
    );
    assert_no_such_bucket(
        user.delete_public_access_block(DeletePublicAccessBlockRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.get_bucket_ownership_controls(GetBucketOwnershipControlsRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.put_bucket_ownership_controls(PutBucketOwnershipControlsRequest {
            bucket: b(),
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: "ObjectWriter".into(),
                }],
            }),
        })
        .await,
        missing,
    );
    assert_no_such_bucket(
        user.get_bucket_acl(GetBucketAclRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.put_bucket_acl(PutBucketAclRequest {
            bucket: b(),
            acl: "private".into(),
            ..Default::default()
        })
        .await,
        missing,
    );
    assert_no_such_bucket(
        put(&mut user, put_header(missing, "a.txt"), b"a").await,
        missing,
    );
    assert_no_such_bucket(get(&mut user, missing, "a.txt").await, missing);
    assert_no_such_bucket(
        user.head_object(head_request(missing, "a.txt")).await,
        missing,
    );
    assert_no_such_bucket(
        user.delete_object(DeleteObjectRequest {
            bucket: b(),
            key: "a.txt".into(),
        })
        .await,
        missing,
    );
    assert_no_such_bucket(user.list_objects_v2(list_request(missing)).await, missing);
    assert_no_such_bucket(
        user.get_object_acl(GetObjectAclRequest {
            bucket: b(),
            key: "a.txt".into(),
        })
        .await,
        missing,
    );
    assert_no_such_bucket(
        user.put_object_acl(PutObjectAclRequest {
            bucket: b(),
            key: "a.txt".into(),
            acl: "private".into(),
            ..Default::default()
        })
        .await,
        missing,
    );
    // CopyObject: a missing destination, and a missing source bucket.
    assert_no_such_bucket(
        user.copy_object(CopyObjectRequest {
            bucket: b(),
            key: "a.txt".into(),
            copy_source: format!("{BUCKET}/a.txt"),
            ..Default::default()
        })
        .await,
        missing,
    );
    assert_no_such_bucket(
        user.copy_object(copy_request("b.txt", &format!("{missing}/a.txt")))
            .await,
        missing,
    );
    // Anonymous callers learn the same about a bucket that does not exist, as in S3.
    let mut anonymous = harness.client(Who::Anonymous);
    assert_no_such_bucket(get(&mut anonymous, missing, "a.txt").await, missing);
}

#[tokio::test]
async fn missing_keys_for_the_owner() {
    let (_harness, mut user) = start().await;
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    assert_no_such_key(get(&mut user, BUCKET, "missing.txt").await, "missing.txt");
    assert_no_such_key(
        user.head_object(head_request(BUCKET, "missing.txt")).await,
        "missing.txt",
    );
    assert_no_such_key(
        user.get_object_acl(GetObjectAclRequest {
            bucket: BUCKET.into(),
            key: "missing.txt".into(),
        })
        .await,
        "missing.txt",
    );
    assert_no_such_key(
        user.put_object_acl(PutObjectAclRequest {
            bucket: BUCKET.into(),
            key: "missing.txt".into(),
            acl: "private".into(),
            ..Default::default()
        })
        .await,
        "missing.txt",
    );
    assert_no_such_key(
        user.copy_object(copy_request("copy.txt", &format!("{BUCKET}/missing.txt")))
            .await,
        "missing.txt",
    );
}
