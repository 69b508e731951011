//! Endpoint differences that were found and fixed: each test collects every case that differs from S3, so its failure lists them all. The one still ignored is a known s3s 0.14 limitation, named in its ignore reason.

use super::*;

#[track_caller]
fn assert_none_wrong(wrong: Vec<String>) {
    assert!(
        wrong.is_empty(),
        "{} case(s) differ from S3: {wrong:#?}",
        wrong.len()
    );
}

#[tokio::test]
async fn every_invalid_bucket_name_is_named_in_the_error() {
    let harness = ObjectHarness::start().await;
    let s3 = harness.s3(Who::User1);
    let mut wrong = Vec::new();
    for name in ["Bad_Name", "ab", "xn--bucket", "192.168.5.4", "my..bucket"] {
        let error = s3.create_bucket().bucket(name).send().await.unwrap_err();
        let failure = failure(&error);
        let seen = (
            failure.status,
            failure.code.as_str(),
            failure.message.as_str(),
            failure.field("BucketName"),
        );
        if seen
            != (
                400,
                "InvalidBucketName",
                INVALID_BUCKET_NAME,
                Some(name.to_owned()),
            )
        {
            wrong.push(format!("{name}: {seen:?}"));
        }
    }
    assert_none_wrong(wrong);
}

#[tokio::test]
async fn an_unsigned_range_s3_ignores_serves_the_whole_object() {
    let (_harness, s3) = start().await;
    put(&s3, BUCKET, "small.txt", b"0123456789").await;
    let url = s3
        .get_object()
        .bucket(BUCKET)
        .key("small.txt")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(
                60,
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    for range in ["bytes=5-1", "bytes=0-1,5-6", "items=0-1", "bytes=abc"] {
        let got = keyhold_tests::s3::http()
            .get(url.uri())
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200, "{range}");
        assert!(got.headers().get("content-range").is_none(), "{range}");
        assert_eq!(
            got.bytes().await.unwrap().as_ref(),
            b"0123456789",
            "{range}"
        );
    }
}

#[tokio::test]
#[ignore = "known difference (s3s 0.14): a *signed* Range header S3 ignores is refused with 400 InvalidArgument \"invalid header: range: ...\"; the edge can drop it only when it is not signed"]
async fn a_range_s3_ignores_serves_the_whole_object() {
    let (_harness, s3) = start().await;
    put(&s3, BUCKET, "small.txt", b"0123456789").await;
    let mut wrong = Vec::new();
    for range in ["bytes=5-1", "bytes=0-1,5-6", "items=0-1", "bytes=abc"] {
        let got = s3
            .get_object()
            .bucket(BUCKET)
            .key("small.txt")
            .range(range)
            .send()
            .await;
        match got {
            Ok(got) if got.content_range().is_none() => {
                if body_of(got).await != b"0123456789" {
                    wrong.push(format!("{range}: other bytes"));
                }
            }
            Ok(got) => wrong.push(format!("{range}: Content-Range {:?}", got.content_range())),
            Err(error) => {
                let f = failure(&error);
                wrong.push(format!("{range}: {} {} {:?}", f.status, f.code, f.message));
            }
        }
    }
    assert_none_wrong(wrong);
}

#[tokio::test]
async fn error_documents_carry_s3s_extra_elements() {
    let (_harness, s3) = start().await;
    put(&s3, BUCKET, "small.txt", b"0123456789").await;
    s3.delete_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let mut wrong = Vec::new();
    let mut expect = |failure: Failure, fields: &[(&str, &str)]| {
        for (name, value) in fields {
            if failure.field(name).as_deref() != Some(value) {
                wrong.push(format!(
                    "{}: no <{name}>{value}</{name}> in {}",
                    failure.code, failure.xml
                ));
            }
        }
    };
    let get = || s3.get_object().bucket(BUCKET).key("small.txt");
    expect(
        failure(&get().range("bytes=10-").send().await.unwrap_err()),
        &[("RangeRequested", "bytes=10-"), ("ActualObjectSize", "10")],
    );
    expect(
        failure(&get().if_match("\"other\"").send().await.unwrap_err()),
        &[("Condition", "If-Match")],
    );
    expect(
        failure(
            &get()
                .if_unmodified_since(DateTime::from_secs(946_684_800))
                .send()
                .await
                .unwrap_err(),
        ),
        &[("Condition", "If-Unmodified-Since")],
    );
    expect(
        failure(
            &s3.get_public_access_block()
                .bucket(BUCKET)
                .send()
                .await
                .unwrap_err(),
        ),
        &[("BucketName", BUCKET)],
    );
    assert_none_wrong(wrong);
}

#[tokio::test]
async fn not_modified_keeps_the_validators() {
    let (_harness, s3) = start().await;
    let stored = put(&s3, BUCKET, "c.txt", b"conditional").await;
    let etag = stored.e_tag().unwrap();
    let presigned = s3
        .get_object()
        .bucket(BUCKET)
        .key("c.txt")
        .if_none_match(etag)
        .presigned(presigning())
        .await
        .unwrap();
    let response = send_presigned(&presigned, None).await;
    assert_eq!(response.status(), 304);
    let headers = response.headers();
    let mut wrong = Vec::new();
    if headers.get("etag").and_then(|v| v.to_str().ok()) != Some(etag) {
        wrong.push(format!("ETag: {:?}", headers.get("etag")));
    }
    if !headers.contains_key("last-modified") {
        wrong.push("no Last-Modified".to_owned());
    }
    // A cache updates its stored headers from a 304 (RFC 9111 4.3.4).
    if headers
        .get("content-type")
        .is_some_and(|v| v == "application/xml")
    {
        wrong.push(
            "Content-Type: application/xml on a 304 (the object is application/octet-stream)"
                .to_owned(),
        );
    }
    assert_none_wrong(wrong);
}

#[tokio::test]
async fn head_object_with_a_range_is_partial_content() {
    let (_harness, s3) = start().await;
    put(&s3, BUCKET, "small.txt", b"0123456789").await;
    let presigned = s3
        .head_object()
        .bucket(BUCKET)
        .key("small.txt")
        .range("bytes=0-1")
        .presigned(presigning())
        .await
        .unwrap();
    let response = send_presigned(&presigned, None).await;
    let headers = response.headers();
    assert_eq!(
        (
            response.status().as_u16(),
            headers.get("content-range").and_then(|v| v.to_str().ok()),
            headers.get("content-length").and_then(|v| v.to_str().ok()),
        ),
        (206, Some("bytes 0-1/10"), Some("2"))
    );
}

#[tokio::test]
async fn conditional_writes() {
    let (_harness, s3) = start().await;
    let stored = put(&s3, BUCKET, "c.txt", b"original").await;
    let write = |key: &str| {
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from_static(b"overwritten"))
    };
    let mut wrong = Vec::new();
    for (case, result) in [
        (
            "If-None-Match: * on an existing key",
            write("c.txt").if_none_match("*").send().await,
        ),
        (
            "If-Match: another ETag",
            write("c.txt")
                .if_match("\"0123456789abcdef0123456789abcdef\"")
                .send()
                .await,
        ),
    ] {
        match result {
            Ok(_) => wrong.push(format!("{case}: written")),
            Err(error) => {
                let f = failure(&error);
                if (f.status, f.code.as_str(), f.message.as_str())
                    != (412, "PreconditionFailed", PRECONDITION_FAILED)
                {
                    wrong.push(format!("{case}: {} {} {:?}", f.status, f.code, f.message));
                }
            }
        }
    }
    if get_bytes(&s3, BUCKET, "c.txt").await != b"original" {
        wrong.push("c.txt was overwritten".to_owned());
    }
    match write("missing.txt")
        .if_match(stored.e_tag().unwrap())
        .send()
        .await
    {
        Ok(_) => wrong.push("If-Match on a missing key: written".to_owned()),
        Err(error) => {
            let f = failure(&error);
            if (f.status, f.code.as_str()) != (404, "NoSuchKey") {
                wrong.push(format!(
                    "If-Match on a missing key: {} {}",
                    f.status, f.code
                ));
            }
        }
    }
    // The one that holds: If-None-Match: * on a new key.
    if let Err(error) = write("new.txt").if_none_match("*").send().await {
        wrong.push(format!(
            "If-None-Match: * on a new key: {:?}",
            failure(&error)
        ));
    }
    assert_none_wrong(wrong);
}

#[tokio::test]
async fn conditional_copies() {
    let (_harness, s3) = start().await;
    let stored = put(&s3, BUCKET, "source.txt", b"source").await;
    let etag = stored.e_tag().unwrap();
    let copy = || {
        s3.copy_object()
            .bucket(BUCKET)
            .key("copy.txt")
            .copy_source(format!("{BUCKET}/source.txt"))
    };
    let mut wrong = Vec::new();
    for (case, result) in [
        (
            "copy-source-if-match: another ETag",
            copy().copy_source_if_match("\"other\"").send().await,
        ),
        (
            "copy-source-if-none-match: its ETag",
            copy().copy_source_if_none_match(etag).send().await,
        ),
        (
            "copy-source-if-unmodified-since: 2000",
            copy()
                .copy_source_if_unmodified_since(DateTime::from_secs(946_684_800))
                .send()
                .await,
        ),
        (
            "copy-source-if-modified-since: 2100",
            copy()
                .copy_source_if_modified_since(DateTime::from_secs(4_102_444_800))
                .send()
                .await,
        ),
    ] {
        match result {
            Ok(_) => wrong.push(format!("{case}: copied")),
            Err(error) => {
                let f = failure(&error);
                if (f.status, f.code.as_str()) != (412, "PreconditionFailed") {
                    wrong.push(format!("{case}: {} {}", f.status, f.code));
                }
            }
        }
    }
    if s3
        .head_object()
        .bucket(BUCKET)
        .key("copy.txt")
        .send()
        .await
        .is_ok()
    {
        wrong.push("copy.txt exists".to_owned());
    }
    assert_none_wrong(wrong);
}

#[tokio::test]
async fn list_buckets_by_prefix_and_page() {
    let harness = ObjectHarness::start().await;
    let s3 = harness.s3(Who::User1);
    for name in ["aa-one", "aa-two", "bb-three"] {
        create_bucket(&s3, name).await;
    }
    let names = |output: &aws_sdk_s3::operation::list_buckets::ListBucketsOutput| -> Vec<String> {
        output
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_owned))
            .collect()
    };
    let mut wrong = Vec::new();
    let by_prefix = s3.list_buckets().prefix("aa-").send().await.unwrap();
    if names(&by_prefix) != ["aa-one", "aa-two"] || by_prefix.prefix() != Some("aa-") {
        wrong.push(format!(
            "prefix aa-: {:?} prefix {:?}",
            names(&by_prefix),
            by_prefix.prefix()
        ));
    }
    let first = s3.list_buckets().max_buckets(2).send().await.unwrap();
    if names(&first) != ["aa-one", "aa-two"] || first.continuation_token().is_none() {
        wrong.push(format!(
            "max-buckets 2: {:?} token {:?}",
            names(&first),
            first.continuation_token()
        ));
    }
    if let Some(token) = first.continuation_token() {
        let second = s3
            .list_buckets()
            .max_buckets(2)
            .continuation_token(token)
            .send()
            .await
            .unwrap();
        if names(&second) != ["bb-three"] || second.continuation_token().is_some() {
            wrong.push(format!("second page: {:?}", names(&second)));
        }
    }
    assert_none_wrong(wrong);
}
