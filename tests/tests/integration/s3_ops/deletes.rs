//! Deletes

use super::*;

#[tokio::test]
async fn delete_object_and_delete_objects() {
    let (_harness, s3) = start().await;
    put(&s3, BUCKET, "gone.txt", b"gone").await;

    // 204, whether the key was there or not.
    for key in ["gone.txt", "gone.txt", "never-existed"] {
        let presigned = s3
            .delete_object()
            .bucket(BUCKET)
            .key(key)
            .presigned(presigning())
            .await
            .unwrap();
        let response = send_presigned(&presigned, None).await;
        assert_eq!(response.status(), 204, "{key}");
        assert!(response.headers().contains_key("x-amz-request-id"));
    }
    assert_no_such_key(
        s3.get_object().bucket(BUCKET).key("gone.txt").send().await,
        "gone.txt",
    );
    s3.delete_object()
        .bucket(BUCKET)
        .key("never-existed")
        .send()
        .await
        .expect("deleting a missing key succeeds");
    assert_no_such_bucket(
        s3.delete_object()
            .bucket("no-such-bucket")
            .key("k")
            .send()
            .await,
        "no-such-bucket",
    );

    // DeleteObjects, not quiet: every key named is reported deleted, missing ones too.
    for key in ["a", "b", "c", "d", "e"] {
        put(&s3, BUCKET, key, key.as_bytes()).await;
    }
    let identifiers = |keys: &[&str]| -> Delete {
        Delete::builder()
            .set_objects(Some(
                keys.iter()
                    .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
                    .collect(),
            ))
            .build()
            .unwrap()
    };
    let deleted = s3
        .delete_objects()
        .bucket(BUCKET)
        .delete(identifiers(&["a", "c", "missing"]))
        .send()
        .await
        .unwrap();
    let mut keys: Vec<&str> = deleted.deleted().iter().filter_map(|d| d.key()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["a", "c", "missing"]);
    assert!(deleted.errors().is_empty(), "{:?}", deleted.errors());
    let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let left: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(left, ["b", "d", "e"]);

    // Quiet: nothing reported, the keys gone all the same.
    let mut delete = identifiers(&["b", "e"]);
    delete.quiet = Some(true);
    let deleted = s3
        .delete_objects()
        .bucket(BUCKET)
        .delete(delete)
        .send()
        .await
        .unwrap();
    assert!(deleted.deleted().is_empty(), "{:?}", deleted.deleted());
    assert!(deleted.errors().is_empty(), "{:?}", deleted.errors());
    let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let left: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(left, ["d"]);
    assert_eq!(get_bytes(&s3, BUCKET, "d").await, b"d");

    assert_no_such_bucket(
        s3.delete_objects()
            .bucket("no-such-bucket")
            .delete(identifiers(&["d"]))
            .send()
            .await,
        "no-such-bucket",
    );
}
