//! ACLs

use super::{copy_object::copy, listings::keys_of, *};
use keyhold_tests::texts::{ACCESS_DENIED, NO_SUCH_KEY};

#[tokio::test]
async fn object_and_bucket_acls() {
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
        b"public",
    )
    .await
    .unwrap();
    put(&mut user, put_header(BUCKET, "private.txt"), b"private")
        .await
        .unwrap();
    let acl = |bucket: &str, key: &str| GetObjectAclRequest {
        bucket: bucket.into(),
        key: key.into(),
    };
    let shown = user
        .get_object_acl(acl(BUCKET, "public.txt"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.owner.unwrap().id, ACCOUNT);
    assert_eq!(
        shown.grants,
        [owner_grant("FULL_CONTROL"), all_users_grant("READ")]
    );
    let shown = user
        .get_object_acl(acl(BUCKET, "private.txt"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.grants, [owner_grant("FULL_CONTROL")]);
    let (_, bytes) = get(&mut anonymous, BUCKET, "public.txt").await.unwrap();
    assert_eq!(bytes, b"public");
    assert_error(
        get(&mut anonymous, BUCKET, "private.txt").await,
        Code::PermissionDenied,
        "AccessDenied",
        ACCESS_DENIED,
    );

    // PutObjectAcl with an explicit policy, then back to private.
    user.put_object_acl(PutObjectAclRequest {
        bucket: BUCKET.into(),
        key: "private.txt".into(),
        access_control_policy: Some(AccessControlPolicy {
            owner: None,
            grants: vec![owner_grant("FULL_CONTROL"), all_users_grant("READ")],
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, bytes) = get(&mut anonymous, BUCKET, "private.txt").await.unwrap();
    assert_eq!(bytes, b"private");
    user.put_object_acl(PutObjectAclRequest {
        bucket: BUCKET.into(),
        key: "private.txt".into(),
        acl: "private".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_error(
        get(&mut anonymous, BUCKET, "private.txt").await,
        Code::PermissionDenied,
        "AccessDenied",
        ACCESS_DENIED,
    );

    // Anonymous listing: refused while the bucket ACL is private.
    let listing = || ListObjectsV2Request {
        bucket: BUCKET.into(),
        ..Default::default()
    };
    assert_error(
        anonymous.list_objects_v2(listing()).await,
        Code::PermissionDenied,
        "AccessDenied",
        ACCESS_DENIED,
    );
    // PutBucketAcl with an explicit AccessControlPolicy granting AllUsers READ.
    user.put_bucket_acl(PutBucketAclRequest {
        bucket: BUCKET.into(),
        access_control_policy: Some(AccessControlPolicy {
            owner: Some(Owner {
                id: ACCOUNT.into(),
                display_name: String::new(),
            }),
            grants: vec![owner_grant("FULL_CONTROL"), all_users_grant("READ")],
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let bucket_acl = user
        .get_bucket_acl(GetBucketAclRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        bucket_acl.grants,
        [owner_grant("FULL_CONTROL"), all_users_grant("READ")]
    );
    let listed = anonymous
        .list_objects_v2(listing())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keys_of(&listed), ["private.txt", "public.txt"]);
    // A caller who may list learns that a key is missing: NoSuchKey, as in S3.
    assert_error(
        get(&mut anonymous, BUCKET, "missing.txt").await,
        Code::NotFound,
        "NoSuchKey",
        NO_SUCH_KEY,
    );
    // Bucket READ does not make the objects readable.
    assert_error(
        get(&mut anonymous, BUCKET, "private.txt").await,
        Code::PermissionDenied,
        "AccessDenied",
        ACCESS_DENIED,
    );

    // IgnorePublicAcls, then ACLs disabled: the public-read bucket ACL stops counting.
    user.put_public_access_block(PutPublicAccessBlockRequest {
        bucket: BUCKET.into(),
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            ignore_public_acls: true,
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    assert_error(
        anonymous.list_objects_v2(listing()).await,
        Code::PermissionDenied,
        "AccessDenied",
        ACCESS_DENIED,
    );
    delete_block(&mut user, BUCKET).await;
    anonymous.list_objects_v2(listing()).await.unwrap();
    set_ownership(&mut user, BUCKET, "BucketOwnerEnforced").await;
    assert_error(
        anonymous.list_objects_v2(listing()).await,
        Code::PermissionDenied,
        "AccessDenied",
        ACCESS_DENIED,
    );
    assert_error(
        get(&mut anonymous, BUCKET, "public.txt").await,
        Code::PermissionDenied,
        "AccessDenied",
        ACCESS_DENIED,
    );
    // With ACLs disabled, the ACLs read as the owner's full control only.
    let bucket_acl = user
        .get_bucket_acl(GetBucketAclRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bucket_acl.grants, [owner_grant("FULL_CONTROL")]);
    let shown = user
        .get_object_acl(acl(BUCKET, "public.txt"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.grants, [owner_grant("FULL_CONTROL")]);
    // Enabled again, the stored ACLs are back.
    set_ownership(&mut user, BUCKET, "ObjectWriter").await;
    let (_, bytes) = get(&mut anonymous, BUCKET, "public.txt").await.unwrap();
    assert_eq!(bytes, b"public");
    anonymous.list_objects_v2(listing()).await.unwrap();
}

#[tokio::test]
async fn a_public_read_write_bucket_takes_anonymous_writes() {
    let (harness, mut user) = start().await;
    let mut anonymous = harness.client(Who::Anonymous);
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    delete_block(&mut user, BUCKET).await;
    user.put_bucket_acl(PutBucketAclRequest {
        bucket: BUCKET.into(),
        acl: "public-read-write".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let stored = put(
        &mut anonymous,
        put_header(BUCKET, "dropped.txt"),
        b"dropped",
    )
    .await
    .unwrap();
    assert_eq!(stored.server_side_encryption, "AES256");
    let (_, bytes) = get(&mut user, BUCKET, "dropped.txt").await.unwrap();
    assert_eq!(bytes, b"dropped");
    // The object itself is private: the bucket's WRITE is not the object's READ.
    assert_error(
        get(&mut anonymous, BUCKET, "dropped.txt").await,
        Code::PermissionDenied,
        "AccessDenied",
        ACCESS_DENIED,
    );
    anonymous
        .delete_object(DeleteObjectRequest {
            bucket: BUCKET.into(),
            key: "dropped.txt".into(),
        })
        .await
        .unwrap();
    assert_error(
        get(&mut user, BUCKET, "dropped.txt").await,
        Code::NotFound,
        "NoSuchKey",
        NO_SUCH_KEY,
    );
    // An anonymous SSE-KMS write cannot reach KMS.
    let status = put(
        &mut anonymous,
        sse_kms(BUCKET, "kms.txt", "alias/any"),
        b"k",
    )
    .await
    .unwrap_err();
    assert_eq!(
        (
            status.code(),
            keyhold_tests::exception(&status).as_str(),
            status.message()
        ),
        (
            Code::InvalidArgument,
            "InvalidArgument",
            "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4."
        )
    );
}

#[tokio::test]
async fn a_get_in_flight_survives_delete_and_overwrite() {
    use futures::StreamExt;
    let (_harness, mut user) = start().await;
    let body = seeded_bytes(8 * 1024 * 1024 + 5, 21);
    for change in ["delete", "overwrite"] {
        put(&mut user, put_header(BUCKET, "big.bin"), &body)
            .await
            .unwrap();
        let mut stream = user
            .get_object(GetObjectRequest {
                bucket: BUCKET.into(),
                key: "big.bin".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut received = Vec::new();
        // The head and the first chunk, then the object changes under the reader.
        for _ in 0..2 {
            match stream.next().await.unwrap().unwrap().part {
                Some(get_object_response::Part::Chunk(chunk)) => received.extend_from_slice(&chunk),
                Some(get_object_response::Part::Head(head)) => {
                    assert_eq!(head.size, body.len() as u64)
                }
                None => {}
            }
        }
        if change == "delete" {
            user.delete_object(DeleteObjectRequest {
                bucket: BUCKET.into(),
                key: "big.bin".into(),
            })
            .await
            .unwrap();
        } else {
            put(&mut user, put_header(BUCKET, "big.bin"), b"replacement")
                .await
                .unwrap();
        }
        while let Some(message) = stream.next().await {
            if let Some(get_object_response::Part::Chunk(chunk)) = message
                .unwrap_or_else(|e| panic!("{change} during GET: {e:?}"))
                .part
            {
                received.extend_from_slice(&chunk);
            }
        }
        assert!(
            received == body,
            "{change}: the GET in flight served other bytes"
        );
    }
    let (_, bytes) = get(&mut user, BUCKET, "big.bin").await.unwrap();
    assert_eq!(bytes, b"replacement");
}

#[tokio::test]
async fn copy_sources_are_url_encoded() {
    let (_harness, mut user) = start().await;
    // Keys that look URL-encoded themselves: the source names them encoded again.
    put(&mut user, put_header(BUCKET, "a%41"), b"literal percent")
        .await
        .unwrap();
    put(&mut user, put_header(BUCKET, "aA"), b"decoded")
        .await
        .unwrap();
    put(&mut user, put_header(BUCKET, "é ü/x+y"), b"unicode")
        .await
        .unwrap();
    for (source, expected) in [
        (format!("{BUCKET}/a%2541"), b"literal percent".as_slice()),
        (format!("{BUCKET}/a%41"), b"decoded".as_slice()),
        (format!("{BUCKET}/aA"), b"decoded".as_slice()),
        (
            format!("/{BUCKET}/%C3%A9%20%C3%BC/x+y"),
            b"unicode".as_slice(),
        ),
        (
            format!("{BUCKET}/%C3%A9%20%C3%BC%2Fx%2By"),
            b"unicode".as_slice(),
        ),
    ] {
        user.copy_object(copy(BUCKET, "target", &source))
            .await
            .unwrap_or_else(|e| panic!("{source}: {e:?}"));
        let (_, bytes) = get(&mut user, BUCKET, "target").await.unwrap();
        assert_eq!(bytes, expected, "{source}");
    }
}

#[tokio::test]
async fn create_bucket_with_ownership_and_acl() {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    user.create_bucket(CreateBucketRequest {
        bucket: "writer-bucket".into(),
        object_ownership: "ObjectWriter".into(),
        acl: "private".into(),
    })
    .await
    .unwrap();
    let rules = ownership_rules(&mut user, "writer-bucket").await;
    assert_eq!(
        rules,
        [OwnershipControlsRule {
            object_ownership: "ObjectWriter".into()
        }]
    );
    let acl = user
        .get_bucket_acl(GetBucketAclRequest {
            bucket: "writer-bucket".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acl.grants, [owner_grant("FULL_CONTROL")]);
    // Block Public Access is on for the new bucket all the same.
    let block = public_access_block(&mut user, "writer-bucket")
        .await
        .unwrap();
    assert!(block.block_public_acls && block.ignore_public_acls);
}
