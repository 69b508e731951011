//! Ranges and conditions

use super::*;

#[tokio::test]
async fn range_reads() {
    let (harness, mut user) = start().await;
    let key = user_key(&harness).await;
    let size = 200_000usize;
    let body = seeded_bytes(size, 3);
    put(&mut user, put_header(BUCKET, "s3"), &body)
        .await
        .unwrap();
    put(&mut user, sse_kms(BUCKET, "kms", &key.key_id), &body)
        .await
        .unwrap();
    let cases: [(&str, usize, usize); 9] = [
        ("bytes=0-0", 0, 0),
        ("bytes=199999-199999", 199_999, 199_999),
        ("bytes=199999-", 199_999, 199_999),
        ("bytes=65530-65545", 65_530, 65_545),
        ("bytes=65535-65536", 65_535, 65_536),
        ("bytes=-10", 199_990, 199_999),
        ("bytes=100000-", 100_000, 199_999),
        ("bytes=1000-150000", 1000, 150_000),
        ("bytes=199990-300000", 199_990, 199_999),
    ];
    for object in ["s3", "kms"] {
        for (range, first, last) in cases {
            let (shown, bytes) = get_object(&mut user, range_request(BUCKET, object, range))
                .await
                .unwrap_or_else(|e| panic!("{object} {range}: {e:?}"));
            assert!(
                bytes == body[first..=last],
                "{object} {range}: the bytes differ"
            );
            assert_eq!(
                (
                    shown.content_range.as_str(),
                    shown.content_length,
                    shown.size
                ),
                (
                    format!("bytes {first}-{last}/{size}").as_str(),
                    (last - first + 1) as u64,
                    size as u64
                ),
                "{object} {range}"
            );
            let heard = user
                .head_object(HeadObjectRequest {
                    bucket: BUCKET.into(),
                    key: object.into(),
                    range: range.into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .head
                .unwrap();
            assert_eq!(heard.content_range, shown.content_range);
            assert_eq!(heard.content_length, shown.content_length);
        }
        // A suffix longer than the object is the whole object; ranges S3 ignores
        // (reversed, several, another unit) serve the whole object without a range.
        let (shown, bytes) = get_object(&mut user, range_request(BUCKET, object, "bytes=-500000"))
            .await
            .unwrap();
        assert!(bytes == body);
        assert_eq!(shown.content_range, format!("bytes 0-199999/{size}"));
        for ignored in ["bytes=5-1", "bytes=0-1,5-6", "items=0-1", "bytes=abc"] {
            let (shown, bytes) = get_object(&mut user, range_request(BUCKET, object, ignored))
                .await
                .unwrap();
            assert!(bytes == body, "{ignored}");
            assert_eq!(
                (shown.content_range.as_str(), shown.content_length),
                ("", size as u64),
                "{ignored}"
            );
        }
        assert_eq!(head(&mut user, BUCKET, object).await.accept_ranges, "bytes");
    }
}

#[tokio::test]
async fn conditional_reads() {
    let (_harness, mut user) = start().await;
    let stored = put(&mut user, put_header(BUCKET, "c.txt"), b"conditional")
        .await
        .unwrap();
    let modified = head(&mut user, BUCKET, "c.txt").await.last_modified;
    let past = "2000-01-01T00:00:00Z";
    let future = "2100-01-01T00:00:00Z";
    let request = || GetObjectRequest {
        bucket: BUCKET.into(),
        key: "c.txt".into(),
        ..Default::default()
    };
    let ok = |result: Result<(ObjectHead, Vec<u8>), Status>| {
        let (_, bytes) = result.expect("the conditions hold");
        assert_eq!(bytes, b"conditional");
    };
    let not_modified = |result: Result<(ObjectHead, Vec<u8>), Status>| {
        assert_error(
            result,
            Code::FailedPrecondition,
            "NotModified",
            "Not Modified",
        )
    };
    let failed = |result: Result<(ObjectHead, Vec<u8>), Status>| {
        assert_error(
            result,
            Code::FailedPrecondition,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
    };

    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_modified_since: past.into(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_modified_since: "Sat, 01 Jan 2000 00:00:00 GMT".into(),
            ..request()
        },
    )
    .await);
    not_modified(
        get_object(
            &mut user,
            GetObjectRequest {
                if_modified_since: future.into(),
                ..request()
            },
        )
        .await,
    );
    not_modified(
        get_object(
            &mut user,
            GetObjectRequest {
                if_modified_since: modified.clone(),
                ..request()
            },
        )
        .await,
    );
    failed(
        get_object(
            &mut user,
            GetObjectRequest {
                if_unmodified_since: past.into(),
                ..request()
            },
        )
        .await,
    );
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_unmodified_since: future.into(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_unmodified_since: modified.clone(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_match: stored.etag.clone(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_match: stored.etag.trim_matches('"').into(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_match: "*".into(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_match: format!("\"other\", {}", stored.etag),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_none_match: "\"other\"".into(),
            ..request()
        },
    )
    .await);
    not_modified(
        get_object(
            &mut user,
            GetObjectRequest {
                if_none_match: "*".into(),
                ..request()
            },
        )
        .await,
    );
    // S3's precedence: a matching If-Match wins over a failing If-Unmodified-Since, a
    // non-matching If-None-Match over a failing If-Modified-Since.
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_match: stored.etag.clone(),
            if_unmodified_since: past.into(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_none_match: "\"other\"".into(),
            if_modified_since: future.into(),
            ..request()
        },
    )
    .await);
    // A date S3 cannot read is ignored.
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_modified_since: "yesterday".into(),
            ..request()
        },
    )
    .await);
    // HeadObject applies the same rules.
    let heard = user
        .head_object(HeadObjectRequest {
            bucket: BUCKET.into(),
            key: "c.txt".into(),
            if_modified_since: future.into(),
            ..Default::default()
        })
        .await;
    assert_error(
        heard,
        Code::FailedPrecondition,
        "NotModified",
        "Not Modified",
    );
}
