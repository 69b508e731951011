//! Error documents and anonymous callers

use super::*;

#[tokio::test]
async fn error_documents_as_a_browser_sees_them() {
    let (_harness, s3) = start().await;
    let presigned = s3
        .get_object()
        .bucket(BUCKET)
        .key("dir/missing.txt")
        .presigned(presigning())
        .await
        .unwrap();
    let (status, xml) = http_failure(send_presigned(&presigned, None).await).await;
    assert_eq!(status, 404);
    assert_eq!(
        xml_field(&xml, "Code").as_deref(),
        Some("NoSuchKey"),
        "{xml}"
    );
    assert_eq!(xml_field(&xml, "Message").as_deref(), Some(NO_SUCH_KEY));
    assert_eq!(xml_field(&xml, "Key").as_deref(), Some("dir/missing.txt"));
    assert!(xml_field(&xml, "HostId").is_some());

    let presigned = s3
        .get_object()
        .bucket("no-such-bucket")
        .key("a.txt")
        .presigned(presigning())
        .await
        .unwrap();
    let (status, xml) = http_failure(send_presigned(&presigned, None).await).await;
    assert_eq!(status, 404);
    assert_eq!(
        xml_field(&xml, "Code").as_deref(),
        Some("NoSuchBucket"),
        "{xml}"
    );
    assert_eq!(xml_field(&xml, "Message").as_deref(), Some(NO_SUCH_BUCKET));
    assert_eq!(
        xml_field(&xml, "BucketName").as_deref(),
        Some("no-such-bucket")
    );

    // A presigned PUT refused for its SSE header: the argument is named.
    let presigned = s3
        .put_object()
        .bucket(BUCKET)
        .key("bogus.txt")
        .server_side_encryption(ServerSideEncryption::from("bogus"))
        .presigned(presigning())
        .await
        .unwrap();
    let (status, xml) =
        http_failure(send_presigned(&presigned, Some(b"bytes".to_vec())).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        xml_field(&xml, "Code").as_deref(),
        Some("InvalidArgument"),
        "{xml}"
    );
    assert_eq!(xml_field(&xml, "Message").as_deref(), Some(NOT_SUPPORTED));
    assert_eq!(
        xml_field(&xml, "ArgumentName").as_deref(),
        Some("x-amz-server-side-encryption")
    );
    assert_eq!(xml_field(&xml, "ArgumentValue").as_deref(), Some("bogus"));

    // The SDK reads the same request id.
    use aws_sdk_s3::operation::RequestId;
    let error = s3
        .get_object()
        .bucket(BUCKET)
        .key("missing")
        .send()
        .await
        .unwrap_err();
    let failure = failure(&error);
    assert_eq!(error.request_id(), Some(failure.request_id.as_str()));
}

#[tokio::test]
async fn an_anonymous_put_is_refused_and_writes_nothing() {
    let (harness, s3) = start().await;
    put(&s3, BUCKET, "existing.txt", b"original").await;
    for key in ["anonymous.txt", "existing.txt"] {
        let response = http()
            .put(harness.object_url(BUCKET, key))
            .body(b"anonymous bytes".to_vec())
            .send()
            .await
            .unwrap();
        let (status, xml) = http_failure(response).await;
        assert_eq!(status, 403, "{key}");
        assert_eq!(
            xml_field(&xml, "Code").as_deref(),
            Some("AccessDenied"),
            "{xml}"
        );
        assert_eq!(xml_field(&xml, "Message").as_deref(), Some(ACCESS_DENIED));
    }
    assert_no_such_key(
        s3.get_object()
            .bucket(BUCKET)
            .key("anonymous.txt")
            .send()
            .await,
        "anonymous.txt",
    );
    assert_eq!(get_bytes(&s3, BUCKET, "existing.txt").await, b"original");
    let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    assert_eq!(keys_v2(&listed), ["existing.txt"]);
    // Nor may an anonymous caller delete.
    let response = http()
        .delete(harness.object_url(BUCKET, "existing.txt"))
        .send()
        .await
        .unwrap();
    let (status, _) = http_failure(response).await;
    assert_eq!(status, 403);
    assert_eq!(get_bytes(&s3, BUCKET, "existing.txt").await, b"original");
}
