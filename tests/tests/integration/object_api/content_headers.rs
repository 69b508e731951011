//! Content headers and metadata

use super::*;

#[tokio::test]
async fn content_headers_and_user_metadata_round_trip() {
    let (_harness, mut user) = start().await;
    let metadata = pairs(&[("color", "blue"), ("x-y_z.1", "some value"), ("empty", "")]);
    put(
        &mut user,
        PutObjectHeader {
            content_type: "text/plain; charset=utf-8".into(),
            cache_control: "max-age=60".into(),
            content_disposition: "attachment; filename=\"a.txt\"".into(),
            content_encoding: "gzip".into(),
            content_language: "en-US".into(),
            metadata: metadata.clone(),
            ..put_header(BUCKET, "headers.txt")
        },
        b"with headers",
    )
    .await
    .unwrap();
    let (got, bytes) = get(&mut user, BUCKET, "headers.txt").await.unwrap();
    assert_eq!(bytes, b"with headers");
    let heard = head(&mut user, BUCKET, "headers.txt").await;
    for shown in [&got, &heard] {
        assert_eq!(shown.content_type, "text/plain; charset=utf-8");
        assert_eq!(shown.cache_control, "max-age=60");
        assert_eq!(shown.content_disposition, "attachment; filename=\"a.txt\"");
        assert_eq!(shown.content_encoding, "gzip");
        assert_eq!(shown.content_language, "en-US");
        assert_eq!(shown.metadata, metadata);
        assert_eq!(shown.accept_ranges, "bytes");
        assert_eq!(shown.server_side_encryption, "AES256");
        assert_eq!(shown.last_modified.len(), 24, "{}", shown.last_modified);
        assert!(shown.last_modified.ends_with('Z'));
    }
    assert_eq!(got, heard);

    put(&mut user, put_header(BUCKET, "bare.txt"), b"bare")
        .await
        .unwrap();
    let bare = head(&mut user, BUCKET, "bare.txt").await;
    assert_eq!(bare.content_type, "binary/octet-stream");
    assert_eq!(
        (
            bare.cache_control.as_str(),
            bare.content_disposition.as_str(),
            bare.content_encoding.as_str(),
            bare.content_language.as_str()
        ),
        ("", "", "", "")
    );
    assert!(bare.metadata.is_empty());

    // An overwrite replaces the headers and metadata too.
    put(&mut user, put_header(BUCKET, "headers.txt"), b"again")
        .await
        .unwrap();
    let replaced = head(&mut user, BUCKET, "headers.txt").await;
    assert_eq!(replaced.content_type, "binary/octet-stream");
    assert_eq!(replaced.cache_control, "");
    assert!(replaced.metadata.is_empty());
}
