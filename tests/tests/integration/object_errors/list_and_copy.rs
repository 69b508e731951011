//! ListObjectsV2 and CopyObject arguments

use super::*;

#[tokio::test]
async fn list_objects_arguments() {
    let (_harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    for max_keys in [-1, i32::MIN] {
        let value = max_keys.to_string();
        assert_s3_error(
            user.list_objects_v2(ListObjectsV2Request {
                max_keys: Some(max_keys),
                ..list_request(BUCKET)
            })
            .await,
            Code::InvalidArgument,
            "InvalidArgument",
            "Argument maxKeys must be an integer between 0 and 2147483647",
            &[("ArgumentName", "maxKeys"), ("ArgumentValue", &value)],
        );
    }
    for token in ["not a token!", "%%%", "gA"] {
        assert_s3_error(
            user.list_objects_v2(ListObjectsV2Request {
                continuation_token: token.into(),
                ..list_request(BUCKET)
            })
            .await,
            Code::InvalidArgument,
            "InvalidArgument",
            "The continuation token provided is incorrect",
            &[
                ("ArgumentName", "continuation-token"),
                ("ArgumentValue", token),
            ],
        );
    }
}

#[tokio::test]
async fn copy_object_arguments() {
    let (_harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    let copy = |source: &str| copy_request("a.txt", source);
    let to_itself = "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.";
    for source in [format!("{BUCKET}/a.txt"), format!("/{BUCKET}/a.txt")] {
        assert_s3_error(
            user.copy_object(copy(&source)).await,
            Code::InvalidArgument,
            "InvalidRequest",
            to_itself,
            &[],
        );
        assert_s3_error(
            user.copy_object(CopyObjectRequest {
                metadata_directive: "COPY".into(),
                ..copy(&source)
            })
            .await,
            Code::InvalidArgument,
            "InvalidRequest",
            to_itself,
            &[],
        );
    }
    for source in ["nobucket", "/nobucket", "bucket/", "/key-only", ""] {
        let argument_value = source.strip_prefix('/').unwrap_or(source);
        assert_s3_error(
            user.copy_object(copy(source)).await,
            Code::InvalidArgument,
            "InvalidArgument",
            "Invalid copy source object key",
            &[
                ("ArgumentName", "x-amz-copy-source"),
                ("ArgumentValue", argument_value),
            ],
        );
    }
    assert_s3_error(
        user.copy_object(CopyObjectRequest {
            metadata_directive: "MERGE".into(),
            ..copy(&format!("{BUCKET}/a.txt"))
        })
        .await,
        Code::InvalidArgument,
        "InvalidArgument",
        "Unknown metadata directive: MERGE",
        &[
            ("ArgumentName", "x-amz-metadata-directive"),
            ("ArgumentValue", "MERGE"),
        ],
    );
    // Changing something makes a copy onto itself legal.
    user.copy_object(CopyObjectRequest {
        metadata_directive: "REPLACE".into(),
        metadata: keyhold_tests::object::pairs(&[("color", "blue")]),
        ..copy(&format!("{BUCKET}/a.txt"))
    })
    .await
    .unwrap();
    let (head, bytes) = get(&mut user, BUCKET, "a.txt").await.unwrap();
    assert_eq!(bytes, b"a");
    assert_eq!(head.metadata.get("color").map(String::as_str), Some("blue"));
}

#[tokio::test]
async fn invalid_user_metadata_keys() {
    let (_harness, mut user) = start().await;
    for name in ["a b", "a:b", "é", ""] {
        assert_s3_error(
            put(
                &mut user,
                PutObjectHeader {
                    metadata: keyhold_tests::object::pairs(&[(name, "v")]),
                    ..put_header(BUCKET, "meta.txt")
                },
                b"m",
            )
            .await,
            Code::InvalidArgument,
            "InvalidArgument",
            &format!("Invalid user metadata key: {name:?}"),
            &[],
        );
    }
    assert_no_such_key(get(&mut user, BUCKET, "meta.txt").await, "meta.txt");
}
