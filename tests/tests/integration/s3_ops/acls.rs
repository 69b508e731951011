//! Object ACLs

use aws_sdk_s3::{operation::get_object_acl::GetObjectAclOutput, types::AccessControlPolicy};

use super::*;

#[tokio::test]
async fn object_acls() {
    let (harness, s3) = start().await;
    put(&s3, BUCKET, "a.txt", b"object bytes").await;
    let url = harness.object_url(BUCKET, "a.txt");
    let acl = object_acl(&s3).await;
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(ACCOUNT));
    assert_eq!(grants_of(acl.grants()), [owner_full_control()]);

    // BucketOwnerEnforced: no ACLs, canned or on the PUT.
    assert_failure(
        s3.put_object_acl()
            .bucket(BUCKET)
            .key("a.txt")
            .acl(ObjectCannedAcl::PublicRead)
            .send()
            .await,
        400,
        "AccessControlListNotSupported",
        ACLS_NOT_SUPPORTED,
    );
    assert_failure(
        s3.put_object()
            .bucket(BUCKET)
            .key("public.txt")
            .acl(ObjectCannedAcl::PublicRead)
            .body(ByteStream::from_static(b"public"))
            .send()
            .await,
        400,
        "AccessControlListNotSupported",
        ACLS_NOT_SUPPORTED,
    );
    // The owner's full control is accepted all the same.
    s3.put_object()
        .bucket(BUCKET)
        .key("owned.txt")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(ByteStream::from_static(b"owned"))
        .send()
        .await
        .unwrap();

    // ACLs on, Block Public Access on: public-read is 403.
    set_ownership(&s3, BUCKET, ObjectOwnership::BucketOwnerPreferred).await;
    assert_failure(
        s3.put_object_acl()
            .bucket(BUCKET)
            .key("a.txt")
            .acl(ObjectCannedAcl::PublicRead)
            .send()
            .await,
        403,
        "AccessDenied",
        ACCESS_DENIED,
    );
    assert_eq!(http().get(&url).send().await.unwrap().status(), 403);

    // Block Public Access off: canned public-read, readable by its URL.
    s3.delete_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    s3.put_object_acl()
        .bucket(BUCKET)
        .key("a.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    assert_eq!(
        grants_of(object_acl(&s3).await.grants()),
        [owner_full_control(), all_users_read()]
    );
    let opened = http().get(&url).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    assert_eq!(opened.bytes().await.unwrap().as_ref(), b"object bytes");

    // An AccessControlPolicy: owner only (private), then AllUsers READ again.
    put_object_acl(&s3, policy(vec![owner_grant(Permission::FullControl)])).await;
    assert_eq!(
        grants_of(object_acl(&s3).await.grants()),
        [owner_full_control()]
    );
    let (status, xml) = http_failure(http().get(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, xml_field(&xml, "Code").as_deref()),
        (403, Some("AccessDenied"))
    );
    put_object_acl(
        &s3,
        policy(vec![
            owner_grant(Permission::FullControl),
            all_users_grant(Permission::Read),
        ]),
    )
    .await;
    assert_eq!(
        grants_of(object_acl(&s3).await.grants()),
        [owner_full_control(), all_users_read()]
    );
    assert_eq!(http().get(&url).send().await.unwrap().status(), 200);

    // A public-read PutObject now works; missing objects have no ACL.
    s3.put_object()
        .bucket(BUCKET)
        .key("public.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"public"))
        .send()
        .await
        .unwrap();
    let opened = http()
        .get(harness.object_url(BUCKET, "public.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);
    assert_no_such_key(
        s3.get_object_acl()
            .bucket(BUCKET)
            .key("missing")
            .send()
            .await,
        "missing",
    );
    assert_no_such_key(
        s3.put_object_acl()
            .bucket(BUCKET)
            .key("missing")
            .acl(ObjectCannedAcl::Private)
            .send()
            .await,
        "missing",
    );
}

async fn object_acl(s3: &Client) -> GetObjectAclOutput {
    s3.get_object_acl()
        .bucket(BUCKET)
        .key("a.txt")
        .send()
        .await
        .unwrap()
}

async fn put_object_acl(s3: &Client, policy: AccessControlPolicy) {
    s3.put_object_acl()
        .bucket(BUCKET)
        .key("a.txt")
        .access_control_policy(policy)
        .send()
        .await
        .unwrap();
}
