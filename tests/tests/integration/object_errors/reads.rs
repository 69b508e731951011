//! Reads: ranges and conditions

use super::*;

#[tokio::test]
async fn unsatisfiable_ranges_and_failed_conditions() {
    let (_harness, mut user) = start().await;
    let stored = put(&mut user, put_header(BUCKET, "ten.txt"), b"0123456789")
        .await
        .unwrap();
    put(&mut user, put_header(BUCKET, "empty.txt"), b"")
        .await
        .unwrap();
    // S3's InvalidRange names the range and the object's size.
    let invalid_range = |result: Result<_, Status>, range: &str, size: &str| {
        assert_s3_error(
            result,
            Code::OutOfRange,
            "InvalidRange",
            "The requested range is not satisfiable",
            &[("RangeRequested", range), ("ActualObjectSize", size)],
        )
    };
    for (key, range, size) in [
        ("ten.txt", "bytes=1000-", "10"),
        ("ten.txt", "bytes=10-20", "10"),
        ("ten.txt", "bytes=-0", "10"),
        ("empty.txt", "bytes=0-", "0"),
    ] {
        invalid_range(
            get_object(
                &mut user,
                GetObjectRequest {
                    range: range.into(),
                    ..get_request(BUCKET, key)
                },
            )
            .await
            .map(|_| ()),
            range,
            size,
        );
        invalid_range(
            user.head_object(HeadObjectRequest {
                range: range.into(),
                ..head_request(BUCKET, key)
            })
            .await
            .map(|_| ()),
            range,
            size,
        );
    }

    let precondition_failed = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::FailedPrecondition,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            &[("Condition", "If-Match")],
        )
    };
    let not_modified = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::FailedPrecondition,
            "NotModified",
            "Not Modified",
            &[],
        )
    };
    precondition_failed(
        get_object(
            &mut user,
            GetObjectRequest {
                if_match: "\"0123456789abcdef0123456789abcdef\"".into(),
                ..get_request(BUCKET, "ten.txt")
            },
        )
        .await
        .map(|_| ()),
    );
    precondition_failed(
        user.head_object(HeadObjectRequest {
            if_match: "\"0123456789abcdef0123456789abcdef\"".into(),
            ..head_request(BUCKET, "ten.txt")
        })
        .await
        .map(|_| ()),
    );
    not_modified(
        get_object(
            &mut user,
            GetObjectRequest {
                if_none_match: stored.etag.clone(),
                ..get_request(BUCKET, "ten.txt")
            },
        )
        .await
        .map(|_| ()),
    );
    not_modified(
        user.head_object(HeadObjectRequest {
            if_none_match: stored.etag.clone(),
            ..head_request(BUCKET, "ten.txt")
        })
        .await
        .map(|_| ()),
    );
    // Conditions come before the range.
    not_modified(
        get_object(
            &mut user,
            GetObjectRequest {
                if_none_match: "*".into(),
                range: "bytes=1000-".into(),
                ..get_request(BUCKET, "ten.txt")
            },
        )
        .await
        .map(|_| ()),
    );
}
