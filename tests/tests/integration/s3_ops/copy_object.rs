//! CopyObject

use super::*;

#[tokio::test]
async fn copy_object_in_and_across_buckets() {
    let (harness, s3) = start().await;
    let key = user_key(&harness).await;
    create_bucket(&s3, OTHER).await;
    let body = seeded_bytes(300_000, 11);
    let source = s3
        .put_object()
        .bucket(BUCKET)
        .key("src/s3.bin")
        .content_type("application/x-test")
        .metadata("color", "blue")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();

    // Same bucket: bytes, content type and metadata copied; SSE-S3, the same MD5 ETag.
    let copied = s3
        .copy_object()
        .bucket(BUCKET)
        .key("dst/copy.bin")
        .copy_source(format!("{BUCKET}/src/s3.bin"))
        .send()
        .await
        .unwrap();
    let result = copied.copy_object_result().expect("a CopyObjectResult");
    assert_eq!(result.e_tag(), source.e_tag());
    assert!(result.last_modified().is_some());
    assert_eq!(
        copied.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let got = get_object_output(&s3, BUCKET, "dst/copy.bin").await;
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("blue")
    );
    assert!(body_of(got).await == body);

    // REPLACE takes the request's metadata instead.
    s3.copy_object()
        .bucket(BUCKET)
        .key("dst/replaced.bin")
        .copy_source(format!("{BUCKET}/src/s3.bin"))
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .metadata("shape", "round")
        .send()
        .await
        .unwrap();
    let head = head_object_output(&s3, BUCKET, "dst/replaced.bin").await;
    let expected: HashMap<String, String> = [("shape".to_owned(), "round".to_owned())].into();
    assert_eq!(head.metadata(), Some(&expected));
    assert_eq!(head.content_type(), Some("binary/octet-stream"));

    // Across buckets, SSE-S3 source to an SSE-KMS destination.
    let copied = s3
        .copy_object()
        .bucket(OTHER)
        .key("kms.bin")
        .copy_source(format!("{BUCKET}/src/s3.bin"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key.key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        copied.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(copied.ssekms_key_id(), Some(key.arn.as_str()));
    let kms_etag = copied
        .copy_object_result()
        .unwrap()
        .e_tag()
        .map(str::to_owned);
    assert_etag_shape(kms_etag.as_deref());
    assert_ne!(kms_etag.as_deref(), source.e_tag());
    let got = get_object_output(&s3, OTHER, "kms.bin").await;
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(got.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(got.e_tag(), kms_etag.as_deref());
    assert!(body_of(got).await == body, "the copied bytes differ");

    // And back, with no SSE headers: the destination bucket's default, SSE-S3.
    let back = s3
        .copy_object()
        .bucket(BUCKET)
        .key("dst/back.bin")
        .copy_source(format!("/{OTHER}/kms.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        back.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(back.ssekms_key_id(), None);
    assert_eq!(back.copy_object_result().unwrap().e_tag(), source.e_tag());
    assert!(get_bytes(&s3, BUCKET, "dst/back.bin").await == body);

    // A missing source key or bucket; a copy onto itself that changes nothing.
    assert_no_such_key(
        s3.copy_object()
            .bucket(BUCKET)
            .key("dst/none")
            .copy_source(format!("{BUCKET}/src/missing"))
            .send()
            .await,
        "src/missing",
    );
    assert_no_such_bucket(
        s3.copy_object()
            .bucket(BUCKET)
            .key("dst/none")
            .copy_source("no-such-bucket/src/s3.bin")
            .send()
            .await,
        "no-such-bucket",
    );
    assert_no_such_bucket(
        s3.copy_object()
            .bucket("no-such-bucket")
            .key("dst/none")
            .copy_source(format!("{BUCKET}/src/s3.bin"))
            .send()
            .await,
        "no-such-bucket",
    );
    assert_failure(
        s3.copy_object()
            .bucket(BUCKET)
            .key("src/s3.bin")
            .copy_source(format!("{BUCKET}/src/s3.bin"))
            .send()
            .await,
        400,
        "InvalidRequest",
        "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
    assert_head_failure(
        s3.head_object().bucket(BUCKET).key("dst/none").send().await,
        404,
    );
}
