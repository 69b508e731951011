//! Malformed settings and ACL arguments

use super::*;

#[tokio::test]
async fn malformed_acl_arguments() {
    let (_harness, mut user) = start().await;
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    let malformed =
        "The XML you provided was not well-formed or did not validate against our published schema";
    let grant = |kind: &str, id: &str, uri: &str, permission: &str| Grant {
        grantee: Some(Grantee {
            r#type: kind.into(),
            id: id.into(),
            uri: uri.into(),
            ..Default::default()
        }),
        permission: permission.into(),
    };
    let all_users = "http://acs.amazonaws.com/groups/global/AllUsers";
    let one_grant = |grant: Grant| {
        Some(AccessControlPolicy {
            owner: None,
            grants: vec![grant],
        })
    };
    for policy in [
        None,
        one_grant(grant("Group", "", all_users, "READS")),
        one_grant(grant("CanonicalUser", "", "", "READ")),
        one_grant(grant("Group", "", "", "READ")),
        one_grant(grant("AmazonCustomerByEmail", "x", "", "READ")),
        one_grant(Grant {
            grantee: None,
            permission: "READ".into(),
        }),
    ] {
        assert_s3_error(
            user.put_bucket_acl(PutBucketAclRequest {
                bucket: BUCKET.into(),
                access_control_policy: policy.clone(),
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
            "MalformedACLError",
            malformed,
            &[],
        );
        assert_s3_error(
            user.put_object_acl(PutObjectAclRequest {
                bucket: BUCKET.into(),
                key: "a.txt".into(),
                access_control_policy: policy,
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
            "MalformedACLError",
            malformed,
            &[],
        );
    }
    assert_s3_error(
        user.put_object_acl(PutObjectAclRequest {
            bucket: BUCKET.into(),
            key: "a.txt".into(),
            acl: "private".into(),
            access_control_policy: Some(AccessControlPolicy::default()),
        })
        .await,
        Code::InvalidArgument,
        "InvalidRequest",
        "Specifying both Canned ACLs and Header Grants is not allowed",
        &[],
    );
    let unknown_canned = |result: Result<_, Status>, name: &str| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "InvalidArgument",
            &format!("{name} is not a valid canned ACL"),
            &[("ArgumentName", "x-amz-acl"), ("ArgumentValue", name)],
        )
    };
    unknown_canned(
        user.put_bucket_acl(PutBucketAclRequest {
            bucket: BUCKET.into(),
            acl: "public".into(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
        "public",
    );
    unknown_canned(
        put(
            &mut user,
            PutObjectHeader {
                acl: "Private".into(),
                ..put_header(BUCKET, "b.txt")
            },
            b"b",
        )
        .await
        .map(|_| ()),
        "Private",
    );
    unknown_canned(
        user.create_bucket(CreateBucketRequest {
            bucket: "canned-bucket".into(),
            acl: "everyone".into(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
        "everyone",
    );
    // A public canned ACL on a new bucket that honours ACLs: Block Public Access is
    // on from the start, so it is refused like any public ACL.
    assert_denied(
        user.create_bucket(CreateBucketRequest {
            bucket: "writer-bucket".into(),
            object_ownership: "ObjectWriter".into(),
            acl: "public-read".into(),
        })
        .await,
    );
    assert_no_such_bucket(
        user.head_bucket(HeadBucketRequest {
            bucket: "writer-bucket".into(),
        })
        .await,
        "writer-bucket",
    );
}

#[tokio::test]
async fn malformed_bucket_settings() {
    let (_harness, mut user) = start().await;
    let invalid = |result: Result<_, Status>, message: &str| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "InvalidArgument",
            message,
            &[],
        )
    };
    invalid(
        user.create_bucket(CreateBucketRequest {
            bucket: "ownership-bucket".into(),
            object_ownership: "Foo".into(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
        "Invalid x-amz-object-ownership header: Foo",
    );
    let one_rule = "OwnershipControls needs exactly one rule: BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter";
    for rules in [
        vec![],
        vec!["Foo"],
        vec!["ObjectWriter", "BucketOwnerPreferred"],
    ] {
        invalid(
            user.put_bucket_ownership_controls(PutBucketOwnershipControlsRequest {
                bucket: BUCKET.into(),
                ownership_controls: Some(OwnershipControls {
                    rules: rules
                        .into_iter()
                        .map(|r| OwnershipControlsRule {
                            object_ownership: r.into(),
                        })
                        .collect(),
                }),
            })
            .await
            .map(|_| ()),
            one_rule,
        );
    }
    invalid(
        user.put_public_access_block(PutPublicAccessBlockRequest {
            bucket: BUCKET.into(),
            public_access_block_configuration: None,
        })
        .await
        .map(|_| ()),
        "PublicAccessBlockConfiguration is required",
    );
    let one_encryption_rule = "The server side encryption configuration needs exactly one rule with ApplyServerSideEncryptionByDefault";
    for configuration in [
        None,
        Some(ServerSideEncryptionConfiguration { rules: vec![] }),
        Some(ServerSideEncryptionConfiguration {
            rules: vec![ServerSideEncryptionRule {
                apply_server_side_encryption_by_default: None,
                bucket_key_enabled: true,
            }],
        }),
        Some(ServerSideEncryptionConfiguration {
            rules: vec![kms_rule("alias/a").rules[0].clone(); 2],
        }),
    ] {
        invalid(
            user.put_bucket_encryption(PutBucketEncryptionRequest {
                bucket: BUCKET.into(),
                server_side_encryption_configuration: configuration,
            })
            .await
            .map(|_| ()),
            one_encryption_rule,
        );
    }
    invalid(
        user.put_bucket_encryption(PutBucketEncryptionRequest {
            bucket: BUCKET.into(),
            server_side_encryption_configuration: Some(encryption_rule("AES256", "alias/a", false)),
        })
        .await
        .map(|_| ()),
        "a KMS key id is only valid with aws:kms",
    );
    // Nothing changed.
    assert_no_such_bucket(
        user.head_bucket(HeadBucketRequest {
            bucket: "ownership-bucket".into(),
        })
        .await,
        "ownership-bucket",
    );
    let rules = ownership_rules(&mut user, BUCKET).await;
    assert_eq!(rules[0].object_ownership, "BucketOwnerEnforced");
    let encryption = bucket_encryption(&mut user, BUCKET).await;
    assert_eq!(
        encryption.rules[0]
            .apply_server_side_encryption_by_default
            .as_ref()
            .unwrap()
            .sse_algorithm,
        "AES256"
    );
}

#[tokio::test]
async fn a_put_chunk_over_four_mib_is_accepted() {
    let (_harness, mut user) = start().await;
    let body: Vec<u8> = (0..5 * 1024 * 1024 + 7).map(|i| (i % 253) as u8).collect();
    let stored = put_object(&mut user, put_header(BUCKET, "big.bin"), &body, body.len())
        .await
        .expect("one chunk of 5 MiB");
    assert_eq!(stored.size, body.len() as u64);
    let (_, bytes) = get(&mut user, BUCKET, "big.bin").await.unwrap();
    assert!(bytes == body);
}
