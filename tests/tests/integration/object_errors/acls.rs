//! ACLs: Block Public Access and Object Ownership

use super::*;

#[tokio::test]
async fn public_acls_are_refused_while_block_public_acls() {
    let (_harness, mut user) = start().await;
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    put(&mut user, put_header(BUCKET, "object.txt"), b"bytes")
        .await
        .unwrap();

    assert_denied(
        user.put_object_acl(PutObjectAclRequest {
            bucket: BUCKET.into(),
            key: "object.txt".into(),
            acl: "public-read".into(),
            ..Default::default()
        })
        .await,
    );
    assert_denied(
        user.put_object_acl(PutObjectAclRequest {
            bucket: BUCKET.into(),
            key: "object.txt".into(),
            access_control_policy: Some(public_read_policy()),
            ..Default::default()
        })
        .await,
    );
    assert_denied(
        put(
            &mut user,
            PutObjectHeader {
                acl: "public-read".into(),
                ..put_header(BUCKET, "public.txt")
            },
            b"public",
        )
        .await,
    );
    assert_no_such_key(get(&mut user, BUCKET, "public.txt").await, "public.txt");
    assert_denied(
        user.put_bucket_acl(PutBucketAclRequest {
            bucket: BUCKET.into(),
            acl: "public-read".into(),
            ..Default::default()
        })
        .await,
    );
    assert_denied(
        user.copy_object(CopyObjectRequest {
            bucket: BUCKET.into(),
            key: "copy.txt".into(),
            copy_source: format!("{BUCKET}/object.txt"),
            acl: "public-read".into(),
            ..Default::default()
        })
        .await,
    );

    // The ACL did not change; private ACLs are fine.
    let acl = user
        .get_object_acl(GetObjectAclRequest {
            bucket: BUCKET.into(),
            key: "object.txt".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acl.grants.len(), 1);
    assert_eq!(acl.grants[0].permission, "FULL_CONTROL");
    user.put_object_acl(PutObjectAclRequest {
        bucket: BUCKET.into(),
        key: "object.txt".into(),
        acl: "private".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    put(
        &mut user,
        PutObjectHeader {
            acl: "private".into(),
            ..put_header(BUCKET, "private.txt")
        },
        b"private",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn any_acl_is_refused_while_bucket_owner_enforced() {
    let (_harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "object.txt"), b"bytes")
        .await
        .unwrap();
    let not_supported = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "AccessControlListNotSupported",
            ACLS_NOT_SUPPORTED,
            &[],
        )
    };
    for acl in ["public-read", "private"] {
        not_supported(
            user.put_object_acl(PutObjectAclRequest {
                bucket: BUCKET.into(),
                key: "object.txt".into(),
                acl: acl.into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        );
        not_supported(
            user.put_bucket_acl(PutBucketAclRequest {
                bucket: BUCKET.into(),
                acl: acl.into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        );
    }
    not_supported(
        user.put_bucket_acl(PutBucketAclRequest {
            bucket: BUCKET.into(),
            access_control_policy: Some(public_read_policy()),
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    not_supported(
        put(
            &mut user,
            PutObjectHeader {
                acl: "public-read".into(),
                ..put_header(BUCKET, "public.txt")
            },
            b"public",
        )
        .await
        .map(|_| ()),
    );
    assert_no_such_key(get(&mut user, BUCKET, "public.txt").await, "public.txt");
    // docs/aws-behaviour.md: AccessControlListNotSupported for any ACL while enforced. (AWS
    // itself answers CreateBucket with InvalidBucketAclWithObjectOwnership here.)
    not_supported(
        user.create_bucket(CreateBucketRequest {
            bucket: "public-bucket".into(),
            acl: "public-read".into(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    assert_no_such_bucket(
        user.head_bucket(HeadBucketRequest {
            bucket: "public-bucket".into(),
        })
        .await,
        "public-bucket",
    );

    // bucket-owner-full-control is the one ACL a write may carry.
    let response = put(
        &mut user,
        PutObjectHeader {
            acl: "bucket-owner-full-control".into(),
            ..put_header(BUCKET, "owned.txt")
        },
        b"owned",
    )
    .await
    .unwrap();
    assert_eq!(response.size, 5);
    let (_, bytes) = get(&mut user, BUCKET, "owned.txt").await.unwrap();
    assert_eq!(bytes, b"owned");
}

#[tokio::test]
async fn create_bucket_with_a_private_acl_under_bucket_owner_enforced() {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    user.create_bucket(CreateBucketRequest {
        bucket: "private-acl-bucket".into(),
        acl: "private".into(),
        ..Default::default()
    })
    .await
    .expect("a private ACL is accepted while ACLs are disabled");
}
