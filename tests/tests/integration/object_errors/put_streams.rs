//! PutObject streams

use super::*;

#[tokio::test]
async fn put_object_streams_that_break_the_protocol() {
    let (harness, mut user) = start().await;
    let invalid_request = |result: Result<_, Status>, message: &str| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "InvalidRequest",
            message,
            &[],
        )
    };
    let header_first = "A PutObject stream starts with its header message";
    invalid_request(
        raw_put(&mut user, vec![chunk_message(b"no header")])
            .await
            .map(|_| ()),
        header_first,
    );
    invalid_request(
        raw_put(
            &mut user,
            vec![
                chunk_message(b"chunk"),
                header_message(put_header(BUCKET, "a.txt")),
            ],
        )
        .await
        .map(|_| ()),
        header_first,
    );
    invalid_request(raw_put(&mut user, vec![]).await.map(|_| ()), header_first);
    invalid_request(
        raw_put(
            &mut user,
            vec![
                header_message(put_header(BUCKET, "a.txt")),
                chunk_message(b"abc"),
                header_message(put_header(BUCKET, "b.txt")),
                chunk_message(b"def"),
            ],
        )
        .await
        .map(|_| ()),
        "A PutObject stream carries one header message, then chunks",
    );
    invalid_request(
        raw_put(
            &mut user,
            vec![
                header_message(put_header(BUCKET, "a.txt")),
                PutObjectRequest { part: None },
            ],
        )
        .await
        .map(|_| ()),
        "A PutObject stream carries one header message, then chunks",
    );
    assert_no_such_key(get(&mut user, BUCKET, "a.txt").await, "a.txt");
    assert_no_such_key(get(&mut user, BUCKET, "b.txt").await, "b.txt");
    assert!(
        files_under(&harness.blob_dir()).is_empty(),
        "no blob is left behind"
    );
}

#[tokio::test]
async fn a_body_of_another_length_than_declared_is_incomplete() {
    let (harness, mut user) = start().await;
    let declared = |key: &str, length: u64| PutObjectHeader {
        content_length: Some(length),
        ..put_header(BUCKET, key)
    };
    let incomplete = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "IncompleteBody",
            INCOMPLETE_BODY,
            &[],
        )
    };
    // A new key: short and long bodies, in one chunk and in many.
    incomplete(put(&mut user, declared("new.txt", 10), b"12345").await);
    incomplete(put(&mut user, declared("new.txt", 10), &[7u8; 20]).await);
    incomplete(put_object(&mut user, declared("new.txt", 10), &[7u8; 20], 3).await);
    incomplete(put(&mut user, declared("new.txt", 10), b"").await);
    incomplete(
        put_object(
            &mut user,
            declared("big.bin", 200_000),
            &[1u8; 150_000],
            7_000,
        )
        .await,
    );
    incomplete(
        put_object(
            &mut user,
            declared("big.bin", 100_000),
            &[1u8; 150_000],
            70_000,
        )
        .await,
    );
    assert_no_such_key(get(&mut user, BUCKET, "new.txt").await, "new.txt");
    assert_no_such_key(get(&mut user, BUCKET, "big.bin").await, "big.bin");

    // An existing key keeps its old bytes.
    let original = put(&mut user, put_header(BUCKET, "kept.txt"), b"original bytes")
        .await
        .unwrap();
    incomplete(put(&mut user, declared("kept.txt", 10), b"12345").await);
    incomplete(put(&mut user, declared("kept.txt", 10), &[9u8; 20]).await);
    let (head, bytes) = get(&mut user, BUCKET, "kept.txt").await.unwrap();
    assert_eq!(bytes, b"original bytes");
    assert_eq!(head.etag, original.etag);
    assert_eq!(head.size, 14);
    // The same under SSE-KMS.
    let mut kms_user = harness.kms.client(Who::User1);
    let key = lab_user_key(&mut kms_user).await;
    incomplete(
        put(
            &mut user,
            PutObjectHeader {
                content_length: Some(10),
                ..sse_kms(BUCKET, "kept.txt", &key.key_id)
            },
            b"12345",
        )
        .await,
    );
    let (head, bytes) = get(&mut user, BUCKET, "kept.txt").await.unwrap();
    assert_eq!(bytes, b"original bytes");
    assert_eq!(head.server_side_encryption, "AES256");

    // An exact length is fine. The stored objects are small (their ciphertext is in
    // their rows), and the refused writes left no blob behind.
    put(&mut user, declared("exact.txt", 5), b"12345")
        .await
        .unwrap();
    put(&mut user, declared("empty.txt", 0), b"").await.unwrap();
    assert_eq!(
        files_under(&harness.blob_dir()),
        Vec::<std::path::PathBuf>::new()
    );
}
