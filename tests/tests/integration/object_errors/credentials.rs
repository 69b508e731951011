//! Credentials

use super::*;

#[tokio::test]
async fn a_wrong_secret_is_unauthenticated() {
    let (harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    let mut wrong = harness.client(Who::WrongSecret);
    let refused = |result: Result<_, Status>| {
        assert_error(
            result,
            Code::Unauthenticated,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    };
    refused(wrong.list_buckets(ListBucketsRequest {}).await.map(|_| ()));
    refused(
        wrong
            .create_bucket(CreateBucketRequest {
                bucket: "wrong-secret".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
    );
    refused(get(&mut wrong, BUCKET, "a.txt").await.map(|_| ()));
    refused(
        wrong
            .head_object(head_request(BUCKET, "a.txt"))
            .await
            .map(|_| ()),
    );
    refused(
        put(&mut wrong, put_header(BUCKET, "a.txt"), b"overwritten")
            .await
            .map(|_| ()),
    );
    refused(
        wrong
            .delete_object(DeleteObjectRequest {
                bucket: BUCKET.into(),
                key: "a.txt".into(),
            })
            .await
            .map(|_| ()),
    );
    refused(
        wrong
            .list_objects_v2(list_request(BUCKET))
            .await
            .map(|_| ()),
    );
    // A wrong secret is not anonymous: not even a public object is served.
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    delete_block(&mut user, BUCKET).await;
    user.put_object_acl(PutObjectAclRequest {
        bucket: BUCKET.into(),
        key: "a.txt".into(),
        acl: "public-read".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    refused(get(&mut wrong, BUCKET, "a.txt").await.map(|_| ()));
    let (_, bytes) = get(&mut user, BUCKET, "a.txt").await.unwrap();
    assert_eq!(bytes, b"a");
    let mut anonymous = harness.client(Who::Anonymous);
    let (_, bytes) = get(&mut anonymous, BUCKET, "a.txt").await.unwrap();
    assert_eq!(bytes, b"a");
}
