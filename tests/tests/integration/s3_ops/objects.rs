//! PutObject, GetObject, HeadObject

use super::*;

#[tokio::test]
async fn objects_of_every_size_round_trip_byte_exact() {
    let (harness, s3) = start().await;
    let key = user_key(&harness).await;
    let sizes = [0, 1, 65_536, 65_537, 3 * 1024 * 1024 + 13];
    for (i, size) in sizes.into_iter().enumerate() {
        let body = seeded_bytes(size, i as u32);
        for kms_key in [None, Some(key.key_id.as_str())] {
            let name = format!("size-{size}-kms-{}", kms_key.is_some());
            let stored = match kms_key {
                None => put(&s3, BUCKET, &name, &body).await,
                Some(id) => put_kms(&s3, BUCKET, &name, id, &body).await,
            };
            assert_etag_shape(stored.e_tag());
            if size == 0 && kms_key.is_none() {
                assert_eq!(stored.e_tag(), Some(MD5_EMPTY));
            }
            let got = get_object_output(&s3, BUCKET, &name).await;
            assert_eq!(got.content_length(), Some(size as i64), "{name}");
            assert_eq!(got.e_tag(), stored.e_tag(), "{name}");
            assert_eq!(got.content_range(), None, "{name}");
            let bytes = body_of(got).await;
            assert!(bytes == body, "{name}: the bytes differ");
            let head = head_object_output(&s3, BUCKET, &name).await;
            assert_eq!(head.content_length(), Some(size as i64), "{name}");
            assert_eq!(head.e_tag(), stored.e_tag(), "{name}");
        }
    }
    // Content-MD5: the right digest is taken, a wrong one is 400 BadDigest and
    // writes nothing.
    s3.put_object()
        .bucket(BUCKET)
        .key("fox.txt")
        .content_md5(FOX_MD5_BASE64)
        .body(ByteStream::from_static(FOX))
        .send()
        .await
        .unwrap();
    assert_failure(
        s3.put_object()
            .bucket(BUCKET)
            .key("fox.txt")
            .content_md5(FOX_MD5_BASE64)
            .body(ByteStream::from_static(b"not the fox"))
            .send()
            .await,
        400,
        "BadDigest",
        "The Content-MD5 you specified did not match what we received.",
    );
    assert_eq!(get_bytes(&s3, BUCKET, "fox.txt").await, FOX);

    // A presigned GET serves the same bytes to a plain HTTP client.
    let name = format!("size-{}-kms-true", sizes[4]);
    let presigned = s3
        .get_object()
        .bucket(BUCKET)
        .key(&name)
        .presigned(presigning())
        .await
        .unwrap();
    let response = send_presigned(&presigned, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-length"],
        sizes[4].to_string().as_str()
    );
    assert!(response.bytes().await.unwrap().as_ref() == seeded_bytes(sizes[4], 4).as_slice());
}

#[tokio::test]
async fn metadata_and_content_headers_round_trip() {
    let (_harness, s3) = start().await;
    let stored = s3
        .put_object()
        .bucket(BUCKET)
        .key("headers.txt")
        .content_type("text/plain; charset=utf-8")
        .cache_control("max-age=60")
        .content_disposition("attachment; filename=\"a.txt\"")
        .content_language("en-US")
        .metadata("color", "blue")
        .metadata("x-y_z.1", "some value")
        .body(ByteStream::from_static(FOX))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.e_tag(), Some(MD5_FOX));
    assert_eq!(
        stored.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let metadata: HashMap<String, String> = [("color", "blue"), ("x-y_z.1", "some value")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();

    let head = head_object_output(&s3, BUCKET, "headers.txt").await;
    let got = get_object_output(&s3, BUCKET, "headers.txt").await;
    assert_eq!(
        (
            head.content_type(),
            head.cache_control(),
            head.content_disposition(),
            head.content_language(),
            head.metadata(),
            head.accept_ranges(),
            head.content_length(),
            head.e_tag(),
        ),
        (
            Some("text/plain; charset=utf-8"),
            Some("max-age=60"),
            Some("attachment; filename=\"a.txt\""),
            Some("en-US"),
            Some(&metadata),
            Some("bytes"),
            Some(FOX.len() as i64),
            Some(MD5_FOX),
        )
    );
    assert_eq!(
        (
            got.content_type(),
            got.cache_control(),
            got.content_disposition(),
            got.content_language(),
            got.metadata(),
            got.accept_ranges(),
        ),
        (
            head.content_type(),
            head.cache_control(),
            head.content_disposition(),
            head.content_language(),
            head.metadata(),
            head.accept_ranges(),
        )
    );
    let modified = head.last_modified().expect("Last-Modified").secs();
    assert!((now_secs() - modified).abs() < 120);
    assert_eq!(got.last_modified(), head.last_modified());
    assert_eq!(body_of(got).await, FOX);

    // The same, as a browser sees it.
    let presigned = s3
        .get_object()
        .bucket(BUCKET)
        .key("headers.txt")
        .presigned(presigning())
        .await
        .unwrap();
    let response = send_presigned(&presigned, None).await;
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(headers["cache-control"], "max-age=60");
    assert_eq!(headers["x-amz-meta-color"], "blue");
    assert_eq!(headers["x-amz-meta-x-y_z.1"], "some value");
    assert_eq!(headers["etag"], MD5_FOX);
    assert_eq!(headers["x-amz-server-side-encryption"], "AES256");

    // A GET may override the content headers of its response (response-* parameters).
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key("headers.txt")
        .response_content_type("application/json")
        .response_cache_control("no-store")
        .response_content_disposition("inline")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            got.content_type(),
            got.cache_control(),
            got.content_disposition()
        ),
        (Some("application/json"), Some("no-store"), Some("inline"))
    );
    let stored_head = head_object_output(&s3, BUCKET, "headers.txt").await;
    assert_eq!(
        stored_head.content_type(),
        Some("text/plain; charset=utf-8"),
        "only the response changes"
    );

    // An overwrite replaces them all. (The SDK sends application/octet-stream when
    // given no content type.)
    put(&s3, BUCKET, "headers.txt", b"again").await;
    let head = head_object_output(&s3, BUCKET, "headers.txt").await;
    assert_eq!(head.content_type(), Some("application/octet-stream"));
    assert_eq!(head.cache_control(), None);
    assert!(head.metadata().is_none_or(HashMap::is_empty));
    assert_eq!(get_bytes(&s3, BUCKET, "headers.txt").await, b"again");

    // A PUT with no Content-Type at all: served as binary/octet-stream, as S3 does.
    let presigned = s3
        .put_object()
        .bucket(BUCKET)
        .key("bare.bin")
        .presigned(presigning())
        .await
        .unwrap();
    assert!(
        presigned
            .headers()
            .all(|(name, _)| !name.eq_ignore_ascii_case("content-type"))
    );
    let response = send_presigned(&presigned, Some(b"bare".to_vec())).await;
    assert_eq!(response.status(), 200);
    // MD5 of "bare".
    assert_eq!(
        response.headers()["etag"],
        "\"8604aecae9ee64a74c52d4c1965bb0ef\""
    );
    let head = head_object_output(&s3, BUCKET, "bare.bin").await;
    assert_eq!(head.content_type(), Some("binary/octet-stream"));
}

#[tokio::test]
async fn head_object_shows_size_etag_metadata_and_encryption() {
    let (harness, s3) = start().await;
    let key = user_key(&harness).await;
    let sse_s3 = s3
        .put_object()
        .bucket(BUCKET)
        .key("s3.bin")
        .metadata("origin", "head-test")
        .body(ByteStream::from(seeded_bytes(70_000, 1)))
        .send()
        .await
        .unwrap();
    let head = head_object_output(&s3, BUCKET, "s3.bin").await;
    assert_eq!(head.content_length(), Some(70_000));
    assert_eq!(head.e_tag(), sse_s3.e_tag());
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("head-test")
    );
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(head.ssekms_key_id(), None);
    assert_eq!(head.bucket_key_enabled(), None);

    let kms_object = put_kms(&s3, BUCKET, "kms.bin", &key.arn, &seeded_bytes(10, 2)).await;
    let head = head_object_output(&s3, BUCKET, "kms.bin").await;
    assert_eq!(head.content_length(), Some(10));
    assert_eq!(head.e_tag(), kms_object.e_tag());
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(key.arn.as_str()));

    // A missing key or bucket: 404 without a body.
    let error = s3
        .head_object()
        .bucket(BUCKET)
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert!(
        error.as_service_error().is_some_and(|e| e.is_not_found()),
        "{error:?}"
    );
    assert_head_failure(
        s3.head_object().bucket(BUCKET).key("missing").send().await,
        404,
    );
    assert_head_failure(
        s3.head_object()
            .bucket("no-such-bucket")
            .key("k")
            .send()
            .await,
        404,
    );
    // Anonymous: 403, whether the key exists or not.
    for key in ["s3.bin", "missing"] {
        let response = http()
            .head(harness.object_url(BUCKET, key))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{key}");
    }
}

#[tokio::test]
async fn range_reads() {
    let (harness, s3) = start().await;
    let key = user_key(&harness).await;
    let size = 200_000usize;
    let body = seeded_bytes(size, 3);
    put(&s3, BUCKET, "s3.bin", &body).await;
    put_kms(&s3, BUCKET, "kms.bin", &key.key_id, &body).await;
    let cases: [(&str, usize, usize); 6] = [
        ("bytes=0-99", 0, 99),
        ("bytes=-10", size - 10, size - 1),
        ("bytes=100000-", 100_000, size - 1),
        ("bytes=65530-65545", 65_530, 65_545),
        ("bytes=199990-300000", 199_990, size - 1),
        ("bytes=-500000", 0, size - 1),
    ];
    for object in ["s3.bin", "kms.bin"] {
        for (range, first, last) in cases {
            let got = s3
                .get_object()
                .bucket(BUCKET)
                .key(object)
                .range(range)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{object} {range}: {e:?}"));
            assert_eq!(
                (got.content_range(), got.content_length()),
                (
                    Some(format!("bytes {first}-{last}/{size}").as_str()),
                    Some((last - first + 1) as i64)
                ),
                "{object} {range}"
            );
            let bytes = body_of(got).await;
            assert!(
                bytes == body[first..=last],
                "{object} {range}: the bytes differ"
            );
        }
        // Past the end: 416 InvalidRange; the whole object is still there.
        for range in [
            format!("bytes={size}-"),
            format!("bytes={}-{}", size + 5, size + 10),
        ] {
            assert_failure(
                s3.get_object()
                    .bucket(BUCKET)
                    .key(object)
                    .range(&range)
                    .send()
                    .await,
                416,
                "InvalidRange",
                INVALID_RANGE,
            );
        }
    }

    // A plain HTTP client sees 206 and the Content-Range header.
    let presigned = s3
        .get_object()
        .bucket(BUCKET)
        .key("kms.bin")
        .range("bytes=0-99")
        .presigned(presigning())
        .await
        .unwrap();
    let response = send_presigned(&presigned, None).await;
    assert_eq!(response.status(), 206);
    assert_eq!(response.headers()["content-range"], "bytes 0-99/200000");
    assert_eq!(response.headers()["content-length"], "100");
    assert_eq!(response.headers()["accept-ranges"], "bytes");
    assert!(response.bytes().await.unwrap().as_ref() == &body[..100]);
}

#[tokio::test]
async fn conditional_reads() {
    let (_harness, s3) = start().await;
    let stored = put(&s3, BUCKET, "c.txt", b"conditional").await;
    let etag = stored.e_tag().unwrap().to_owned();
    let past = DateTime::from_secs(946_684_800); // 2000-01-01
    let future = DateTime::from_secs(4_102_444_800); // 2100-01-01
    let get = || s3.get_object().bucket(BUCKET).key("c.txt");
    let ok = |result: Result<GetObjectOutput, _>| async move {
        let output = result.expect("the conditions hold");
        assert_eq!(body_of(output).await, b"conditional");
    };
    // 304: the SDK reports an error with the status, and no document.
    let not_modified = |result: Result<GetObjectOutput, SdkError<_, HttpResponse>>| {
        let error = result.expect_err("304");
        let failure = failure(&error);
        assert_eq!(failure.status, 304, "{failure:?}");
        assert!(failure.xml.is_empty(), "a 304 has no body: {failure:?}");
    };

    ok(get().if_match(&etag).send().await).await;
    ok(get().if_match(etag.trim_matches('"')).send().await).await;
    ok(get().if_match("*").send().await).await;
    assert_failure(
        get()
            .if_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        412,
        "PreconditionFailed",
        PRECONDITION_FAILED,
    );
    not_modified(get().if_none_match(&etag).send().await);
    not_modified(get().if_none_match("*").send().await);
    ok(get().if_none_match("\"other\"").send().await).await;
    ok(get().if_modified_since(past).send().await).await;
    not_modified(get().if_modified_since(future).send().await);
    assert_failure(
        get().if_unmodified_since(past).send().await,
        412,
        "PreconditionFailed",
        PRECONDITION_FAILED,
    );
    ok(get().if_unmodified_since(future).send().await).await;
    // S3's precedence: a matching If-Match wins over a failing If-Unmodified-Since,
    // a non-matching If-None-Match over a failing If-Modified-Since.
    ok(get().if_match(&etag).if_unmodified_since(past).send().await).await;
    ok(get()
        .if_none_match("\"other\"")
        .if_modified_since(future)
        .send()
        .await)
    .await;

    // HeadObject applies the same rules.
    let head = || s3.head_object().bucket(BUCKET).key("c.txt");
    assert_head_failure(head().if_none_match(&etag).send().await, 304);
    assert_head_failure(head().if_match("\"other\"").send().await, 412);
    assert_head_failure(head().if_modified_since(future).send().await, 304);
    head().if_none_match("\"other\"").send().await.unwrap();

    // What a browser revalidating its copy sees: 304, the request id, no body.
    let presigned = s3
        .get_object()
        .bucket(BUCKET)
        .key("c.txt")
        .if_none_match(&etag)
        .presigned(presigning())
        .await
        .unwrap();
    let response = send_presigned(&presigned, None).await;
    assert_eq!(response.status(), 304);
    assert!(response.headers().contains_key("x-amz-request-id"));
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn keys_with_awkward_characters() {
    let (_harness, s3) = start().await;
    let keys = [
        "dir/a b+c=d&é.txt",
        "q?x=1#frag",
        "x//y",
        "100%.txt",
        "~tilde",
    ];
    for (i, key) in keys.iter().enumerate() {
        let body = seeded_bytes(100 + i, i as u32);
        put(&s3, BUCKET, key, &body).await;
        assert!(get_bytes(&s3, BUCKET, key).await == body, "{key}");
        let head = head_object_output(&s3, BUCKET, key).await;
        assert_eq!(head.content_length(), Some(100 + i as i64), "{key}");
    }
    let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let mut sorted = keys.map(str::to_owned).to_vec();
    sorted.sort();
    assert_eq!(keys_v2(&listed), sorted);
    // CopyObject names its source URL-encoded.
    s3.copy_object()
        .bucket(BUCKET)
        .key("copied.txt")
        .copy_source(format!("{BUCKET}/dir/a%20b%2Bc%3Dd%26%C3%A9.txt"))
        .send()
        .await
        .unwrap();
    assert!(get_bytes(&s3, BUCKET, "copied.txt").await == seeded_bytes(100, 0));
    for key in keys {
        s3.delete_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_no_such_key(s3.get_object().bucket(BUCKET).key(key).send().await, key);
    }
}
