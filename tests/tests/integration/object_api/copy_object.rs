//! CopyObject

use super::*;

pub(super) fn copy(bucket: &str, key: &str, source: &str) -> CopyObjectRequest {
    CopyObjectRequest {
        bucket: bucket.into(),
        key: key.into(),
        copy_source: source.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn copy_object_re_encrypts() {
    let (harness, mut user) = start().await;
    let key_a = user_key(&harness).await;
    let key_b = user_key(&harness).await;
    let body = seeded_bytes(300_000, 11);
    let source = put(&mut user, put_header(BUCKET, "src/s3.bin"), &body)
        .await
        .unwrap();

    // SSE-S3 -> SSE-KMS under key B.
    let copied = user
        .copy_object(CopyObjectRequest {
            server_side_encryption: "aws:kms".into(),
            ssekms_key_id: key_b.key_id.clone(),
            ..copy(BUCKET, "dst/kms-b.bin", &format!("{BUCKET}/src/s3.bin"))
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            copied.server_side_encryption.as_str(),
            copied.ssekms_key_id.as_str(),
            copied.bucket_key_enabled
        ),
        ("aws:kms", key_b.arn.as_str(), false)
    );
    let result = copied.copy_object_result.unwrap();
    assert_etag_shape(&result.etag);
    assert_ne!(result.etag, source.etag);
    assert!(result.last_modified.ends_with('Z'));
    let (shown, bytes) = get(&mut user, BUCKET, "dst/kms-b.bin").await.unwrap();
    assert!(bytes == body);
    assert_eq!(
        (
            shown.server_side_encryption.as_str(),
            shown.ssekms_key_id.as_str(),
            shown.etag.as_str(),
            shown.size
        ),
        ("aws:kms", key_b.arn.as_str(), result.etag.as_str(), 300_000)
    );

    // KMS key A -> key B.
    put(
        &mut user,
        sse_kms(BUCKET, "src/kms-a.bin", &key_a.arn),
        &body,
    )
    .await
    .unwrap();
    let copied = user
        .copy_object(CopyObjectRequest {
            server_side_encryption: "aws:kms".into(),
            ssekms_key_id: key_b.arn.clone(),
            ..copy(
                BUCKET,
                "dst/a-to-b.bin",
                &format!("/{BUCKET}/src/kms-a.bin"),
            )
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(copied.ssekms_key_id, key_b.arn);
    let (shown, bytes) = get(&mut user, BUCKET, "dst/a-to-b.bin").await.unwrap();
    assert!(bytes == body);
    assert_eq!(shown.ssekms_key_id, key_b.arn);
    // Re-encrypting an object in place under another key is a legal copy onto itself.
    let in_place = user
        .copy_object(CopyObjectRequest {
            server_side_encryption: "aws:kms".into(),
            ssekms_key_id: key_b.key_id.clone(),
            ..copy(BUCKET, "src/kms-a.bin", &format!("{BUCKET}/src/kms-a.bin"))
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(in_place.ssekms_key_id, key_b.arn);
    let (shown, bytes) = get(&mut user, BUCKET, "src/kms-a.bin").await.unwrap();
    assert!(bytes == body);
    assert_eq!(shown.ssekms_key_id, key_b.arn);

    // SSE-KMS -> a copy with no SSE fields takes the destination bucket's default:
    // SSE-S3 here, with the MD5 ETag.
    put(&mut user, sse_kms(BUCKET, "src/fox", &key_a.key_id), FOX)
        .await
        .unwrap();
    let copied = user
        .copy_object(copy(BUCKET, "dst/fox", &format!("{BUCKET}/src/fox")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            copied.server_side_encryption.as_str(),
            copied.ssekms_key_id.as_str(),
            copied.copy_object_result.unwrap().etag.as_str()
        ),
        ("AES256", "", MD5_FOX)
    );

    // Into another bucket whose default is aws:kms with key A.
    create_bucket(&mut user, "kms-default").await;
    set_default(
        &mut user,
        "kms-default",
        encryption_rule("aws:kms", &key_a.key_id, true),
    )
    .await;
    let copied = user
        .copy_object(copy(
            "kms-default",
            "copy.bin",
            &format!("{BUCKET}/src/s3.bin"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            copied.server_side_encryption.as_str(),
            copied.ssekms_key_id.as_str(),
            copied.bucket_key_enabled
        ),
        ("aws:kms", key_a.arn.as_str(), true)
    );
    let (shown, bytes) = get(&mut user, "kms-default", "copy.bin").await.unwrap();
    assert!(bytes == body);
    assert_eq!(shown.ssekms_key_id, key_a.arn);
    assert!(shown.bucket_key_enabled);

    // A URL-encoded source key, as the AWS CLI sends it.
    put(&mut user, put_header(BUCKET, "dir/a b+c.txt"), b"spaced")
        .await
        .unwrap();
    user.copy_object(copy(
        BUCKET,
        "dir/copied.txt",
        &format!("{BUCKET}/dir/a%20b%2Bc.txt"),
    ))
    .await
    .unwrap();
    let (_, bytes) = get(&mut user, BUCKET, "dir/copied.txt").await.unwrap();
    assert_eq!(bytes, b"spaced");
}

#[tokio::test]
async fn copy_object_metadata_directives() {
    let (_harness, mut user) = start().await;
    let metadata = pairs(&[("color", "blue"), ("size", "large")]);
    put(
        &mut user,
        PutObjectHeader {
            content_type: "text/plain".into(),
            cache_control: "no-cache".into(),
            content_disposition: "inline".into(),
            content_encoding: "identity".into(),
            content_language: "fr".into(),
            metadata: metadata.clone(),
            ..put_header(BUCKET, "source.txt")
        },
        b"source bytes",
    )
    .await
    .unwrap();
    let source = head(&mut user, BUCKET, "source.txt").await;

    // COPY (the default, and explicit): everything kept; request metadata ignored.
    for directive in ["", "COPY"] {
        let target = format!("copy-{directive}.txt");
        user.copy_object(CopyObjectRequest {
            metadata_directive: directive.into(),
            metadata: pairs(&[("ignored", "yes")]),
            content_type: "application/ignored".into(),
            ..copy(BUCKET, &target, &format!("{BUCKET}/source.txt"))
        })
        .await
        .unwrap();
        let copied = head(&mut user, BUCKET, &target).await;
        assert_eq!(copied.metadata, metadata, "{directive:?}");
        assert_eq!(
            (
                copied.content_type.as_str(),
                copied.cache_control.as_str(),
                copied.content_disposition.as_str(),
                copied.content_encoding.as_str(),
                copied.content_language.as_str()
            ),
            ("text/plain", "no-cache", "inline", "identity", "fr"),
            "{directive:?}"
        );
        assert_eq!(copied.etag, source.etag, "SSE-S3: the same plaintext MD5");
    }

    // REPLACE: the request's metadata and content type, nothing of the source's.
    let replacement = pairs(&[("shape", "round")]);
    user.copy_object(CopyObjectRequest {
        metadata_directive: "REPLACE".into(),
        metadata: replacement.clone(),
        content_type: "application/json".into(),
        ..copy(BUCKET, "replaced.txt", &format!("{BUCKET}/source.txt"))
    })
    .await
    .unwrap();
    let replaced = head(&mut user, BUCKET, "replaced.txt").await;
    assert_eq!(replaced.metadata, replacement);
    assert_eq!(
        (
            replaced.content_type.as_str(),
            replaced.cache_control.as_str(),
            replaced.content_language.as_str()
        ),
        ("application/json", "", "")
    );
    user.copy_object(CopyObjectRequest {
        metadata_directive: "REPLACE".into(),
        ..copy(BUCKET, "bare.txt", &format!("{BUCKET}/source.txt"))
    })
    .await
    .unwrap();
    let bare = head(&mut user, BUCKET, "bare.txt").await;
    assert!(bare.metadata.is_empty());
    assert_eq!(bare.content_type, "binary/octet-stream");
    let (_, bytes) = get(&mut user, BUCKET, "bare.txt").await.unwrap();
    assert_eq!(bytes, b"source bytes");
}
