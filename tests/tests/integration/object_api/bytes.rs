//! Bytes: sizes, chunkings, ETags

use super::*;

#[tokio::test]
async fn every_size_and_chunking_round_trips() {
    let (harness, mut user) = start().await;
    let key = user_key(&harness).await;
    let sizes = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 1024 * 1024 + 3];
    for (i, size) in sizes.into_iter().enumerate() {
        let body = seeded_bytes(size, i as u32);
        for chunk in [1000, 70_000, SEGMENT] {
            for kms_key in ["", key.key_id.as_str()] {
                let name = format!("size-{size}-chunk-{chunk}-kms-{}", !kms_key.is_empty());
                let header = if kms_key.is_empty() {
                    put_header(BUCKET, &name)
                } else {
                    sse_kms(BUCKET, &name, kms_key)
                };
                let stored = put_object(&mut user, header, &body, chunk)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e:?}"));
                assert_eq!(stored.size, size as u64, "{name}");
                assert_etag_shape(&stored.etag);
                let (shown, bytes) = get(&mut user, BUCKET, &name).await.unwrap();
                assert!(bytes == body, "{name}: the bytes differ");
                assert_eq!(
                    (
                        shown.size,
                        shown.content_length,
                        shown.content_range.as_str()
                    ),
                    (size as u64, size as u64, ""),
                    "{name}"
                );
                assert_eq!(shown.etag, stored.etag, "{name}");
                let heard = head(&mut user, BUCKET, &name).await;
                assert_eq!(
                    (heard.size, heard.content_length),
                    (size as u64, size as u64)
                );
            }
        }
    }
}

#[tokio::test]
async fn etags_are_md5_for_sse_s3_and_random_for_sse_kms() {
    let (harness, mut user) = start().await;
    let key = user_key(&harness).await;
    let empty = put(&mut user, put_header(BUCKET, "empty"), b"")
        .await
        .unwrap();
    assert_eq!(empty.etag, MD5_EMPTY);
    // The digest does not depend on the chunking.
    let fox = put_object(&mut user, put_header(BUCKET, "fox"), FOX, 1)
        .await
        .unwrap();
    assert_eq!(fox.etag, MD5_FOX);
    assert_eq!(head(&mut user, BUCKET, "fox").await.etag, MD5_FOX);

    let body = seeded_bytes(300_000, 7);
    let first = put_object(&mut user, put_header(BUCKET, "one"), &body, 1000)
        .await
        .unwrap();
    let second = put_object(&mut user, put_header(BUCKET, "two"), &body, 70_000)
        .await
        .unwrap();
    assert_etag_shape(&first.etag);
    assert_eq!(first.etag, second.etag);
    let changed = put(
        &mut user,
        put_header(BUCKET, "three"),
        &seeded_bytes(300_000, 8),
    )
    .await
    .unwrap();
    assert_ne!(changed.etag, first.etag);

    let kms_one = put(&mut user, sse_kms(BUCKET, "kms-one", &key.key_id), &body)
        .await
        .unwrap();
    let kms_two = put(&mut user, sse_kms(BUCKET, "kms-two", &key.key_id), &body)
        .await
        .unwrap();
    assert_etag_shape(&kms_one.etag);
    assert_etag_shape(&kms_two.etag);
    assert_ne!(kms_one.etag, kms_two.etag);
    assert_ne!(kms_one.etag, first.etag);
    let kms_fox = put(&mut user, sse_kms(BUCKET, "kms-fox", &key.key_id), FOX)
        .await
        .unwrap();
    assert_ne!(kms_fox.etag, MD5_FOX);

    // ListObjectsV2 shows the same ETags and sizes.
    let listed = user
        .list_objects_v2(ListObjectsV2Request {
            bucket: BUCKET.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let etags: HashMap<String, (String, u64)> = listed
        .contents
        .into_iter()
        .map(|o| (o.key, (o.etag, o.size)))
        .collect();
    assert_eq!(etags["fox"], (MD5_FOX.to_owned(), FOX.len() as u64));
    assert_eq!(etags["kms-one"], (kms_one.etag, 300_000));
    assert_eq!(etags["empty"], (MD5_EMPTY.to_owned(), 0));
}
