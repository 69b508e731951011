//! Overwrites and deletes

use super::*;
use keyhold_tests::texts::{NO_SUCH_BUCKET, NO_SUCH_KEY};

#[tokio::test]
async fn overwrite_delete_and_bucket_lifecycle() {
    let (harness, mut user) = start().await;
    let key = user_key(&harness).await;
    let first = put(&mut user, put_header(BUCKET, "k"), b"first")
        .await
        .unwrap();
    let second = put(
        &mut user,
        sse_kms(BUCKET, "k", &key.key_id),
        b"second version",
    )
    .await
    .unwrap();
    assert_ne!(first.etag, second.etag);
    let (shown, bytes) = get(&mut user, BUCKET, "k").await.unwrap();
    assert_eq!(bytes, b"second version");
    assert_eq!(
        (shown.etag.as_str(), shown.size),
        (second.etag.as_str(), 14)
    );
    assert_eq!(shown.ssekms_key_id, key.arn);
    let third = put(&mut user, put_header(BUCKET, "k"), b"third")
        .await
        .unwrap();
    let (shown, bytes) = get(&mut user, BUCKET, "k").await.unwrap();
    assert_eq!(bytes, b"third");
    assert_eq!(
        (
            shown.etag.as_str(),
            shown.server_side_encryption.as_str(),
            shown.ssekms_key_id.as_str()
        ),
        (third.etag.as_str(), "AES256", "")
    );
    assert_ne!(third.etag, first.etag);

    user.delete_object(DeleteObjectRequest {
        bucket: BUCKET.into(),
        key: "k".into(),
    })
    .await
    .unwrap();
    assert_error(
        get(&mut user, BUCKET, "k").await,
        Code::NotFound,
        "NoSuchKey",
        NO_SUCH_KEY,
    );
    // Deleting what is not there succeeds, as in S3.
    for _ in 0..2 {
        user.delete_object(DeleteObjectRequest {
            bucket: BUCKET.into(),
            key: "never-existed".into(),
        })
        .await
        .unwrap();
    }
    // A deleted key can be written again.
    put(&mut user, put_header(BUCKET, "k"), b"back")
        .await
        .unwrap();
    let (_, bytes) = get(&mut user, BUCKET, "k").await.unwrap();
    assert_eq!(bytes, b"back");
    user.delete_object(DeleteObjectRequest {
        bucket: BUCKET.into(),
        key: "k".into(),
    })
    .await
    .unwrap();

    // An empty bucket deletes; afterwards it is gone and its name is free.
    user.delete_bucket(DeleteBucketRequest {
        bucket: BUCKET.into(),
    })
    .await
    .unwrap();
    assert_error(
        user.head_bucket(HeadBucketRequest {
            bucket: BUCKET.into(),
        })
        .await,
        Code::NotFound,
        "NoSuchBucket",
        NO_SUCH_BUCKET,
    );
    assert_error(
        user.delete_bucket(DeleteBucketRequest {
            bucket: BUCKET.into(),
        })
        .await,
        Code::NotFound,
        "NoSuchBucket",
        NO_SUCH_BUCKET,
    );
    let listed = user
        .list_buckets(ListBucketsRequest {})
        .await
        .unwrap()
        .into_inner()
        .buckets;
    assert!(listed.is_empty());
    create_bucket(&mut user, BUCKET).await;
    assert_eq!(
        bucket_encryption(&mut user, BUCKET).await,
        encryption_rule("AES256", "", false)
    );
    let listed = user
        .list_objects_v2(ListObjectsV2Request {
            bucket: BUCKET.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.contents.is_empty(),
        "a recreated bucket starts empty"
    );
}
