//! How the S3 endpoint authenticates, with the AWS SDK for Rust and hand-signed
//! requests: AWS's errors and texts (docs/aws-behaviour.md) (unknown key, bad signature, skewed
//! clock, expired presigned URL), SigV2 refused, presigned URLs capped at 7 days,
//! and every body encoding the CLI and SDKs use (single chunk, UNSIGNED-PAYLOAD,
//! aws-chunked with and without trailer), with wrong bodies refused and nothing
//! written.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::{presigning::PresigningConfig, primitives::ByteStream};
use keyhold_tests::{
    ObjectHarness, Who,
    s3::{Payload, RawSigner, http, raw_request, sdk_error, send_http2, send_raw, xml_field},
    s3_sdk::get_bytes,
};

const BAD_SIGNATURE: &str = "The request signature we calculated does not match the signature you provided. Check your key and signing method.";

async fn harness_with_bucket(bucket: &str) -> ObjectHarness {
    let harness = ObjectHarness::start().await;
    harness
        .s3(Who::User1)
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    harness
}

fn code_and_message(xml: &str) -> (String, String) {
    (
        xml_field(xml, "Code").unwrap_or_default(),
        xml_field(xml, "Message").unwrap_or_default(),
    )
}

#[tokio::test]
async fn credential_errors_have_the_aws_codes_and_texts() {
    let harness = ObjectHarness::start().await;
    let root = format!("{}/", harness.s3_endpoint());

    let error = harness
        .s3(Who::WrongSecret)
        .list_buckets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        sdk_error(&error),
        ("SignatureDoesNotMatch".to_owned(), BAD_SIGNATURE.to_owned())
    );

    let unknown = RawSigner::with_keys("AKIAKEYHOLDNOSUCHKEY", "whatever");
    let (headers, _) = unknown.sign("GET", &root, &[], Payload::Bytes(b""));
    let (status, xml) = send_raw("GET", &root, &headers, Vec::new()).await;
    assert_eq!(status, 403);
    assert_eq!(
        code_and_message(&xml),
        (
            "InvalidAccessKeyId".to_owned(),
            "The AWS Access Key Id you provided does not exist in our records.".to_owned()
        )
    );

    let mut skewed = RawSigner::new(Who::User1);
    skewed.time = SystemTime::now() - Duration::from_secs(16 * 60);
    let (headers, _) = skewed.sign("GET", &root, &[], Payload::Bytes(b""));
    let (status, xml) = send_raw("GET", &root, &headers, Vec::new()).await;
    assert_eq!(status, 403);
    assert_eq!(
        code_and_message(&xml),
        (
            "RequestTimeTooSkewed".to_owned(),
            "The difference between the request time and the current time is too large.".to_owned()
        )
    );
    // 14 minutes off is within S3's 15.
    skewed.time = SystemTime::now() - Duration::from_secs(14 * 60);
    let (headers, _) = skewed.sign("GET", &root, &[], Payload::Bytes(b""));
    assert_eq!(send_raw("GET", &root, &headers, Vec::new()).await.0, 200);

    // Signature Version 2, in the header or the query: refused, whatever it signs.
    let sigv2 = [(
        "authorization".to_owned(),
        "AWS AKIAKEYHOLDDEVUSER01:bm90IGEgc2lnbmF0dXJl".to_owned(),
    )];
    let (status, xml) = send_raw("GET", &root, &sigv2, Vec::new()).await;
    assert_eq!(status, 400);
    assert_eq!(
        code_and_message(&xml),
        (
            "InvalidRequest".to_owned(),
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.".to_owned()
        )
    );
    let query =
        format!("{root}?AWSAccessKeyId=AKIAKEYHOLDDEVUSER01&Expires=9999999999&Signature=abc");
    let (status, xml) = send_raw("GET", &query, &[], Vec::new()).await;
    assert_eq!(
        (status, code_and_message(&xml).0.as_str()),
        (400, "InvalidRequest")
    );

    // Every refusal is recorded, against the key that was presented.
    let events = harness.events_at_least(6).await;
    let refused = events
        .iter()
        .find(|e| e.error_code.as_deref() == Some("SignatureDoesNotMatch"))
        .unwrap();
    assert_eq!(refused.event_name, "ListBuckets");
    assert_eq!(refused.user_identity.account_id, "000000000000");
    assert_eq!(
        refused.user_identity.access_key_id.as_deref(),
        Some("AKIAKEYHOLDDEVUSER01")
    );
}

#[tokio::test]
async fn presigned_urls_work_until_they_expire_and_last_at_most_a_week() {
    let harness = harness_with_bucket("presigned").await;
    let s3 = harness.s3(Who::User1);

    // A presigned PUT, then a presigned GET of what it stored.
    let put = s3
        .put_object()
        .bucket("presigned")
        .key("note.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let stored = http()
        .put(put.uri())
        .body(b"sent with a presigned URL".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);
    let get = s3
        .get_object()
        .bucket("presigned")
        .key("note.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let opened = http().get(get.uri()).send().await.unwrap();
    assert_eq!(
        opened.bytes().await.unwrap().as_ref(),
        b"sent with a presigned URL"
    );

    let expired = s3
        .get_object()
        .bucket("presigned")
        .key("note.txt")
        .presigned(
            PresigningConfig::builder()
                .start_time(SystemTime::now() - Duration::from_secs(2 * 3600))
                .expires_in(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let refused = http().get(expired.uri()).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let xml = refused.text().await.unwrap();
    assert_eq!(
        code_and_message(&xml),
        ("AccessDenied".to_owned(), "Request has expired".to_owned())
    );

    // The SDK will not sign for more than a week; a hand-edited URL is refused.
    let too_long = get
        .uri()
        .replace("X-Amz-Expires=60", "X-Amz-Expires=604801");
    assert_ne!(too_long, get.uri());
    let (status, xml) = send_raw("GET", &too_long, &[], Vec::new()).await;
    assert_eq!(status, 400);
    assert_eq!(
        code_and_message(&xml),
        (
            "AuthorizationQueryParametersError".to_owned(),
            "X-Amz-Expires must be less than a week (in seconds) that is 604800".to_owned()
        )
    );
}

#[tokio::test]
async fn every_body_encoding_of_the_sdks_stores_the_same_bytes() {
    let harness = harness_with_bucket("bodies").await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let file = harness.workdir.join("upload.bin");
    std::fs::write(&file, &data).unwrap();

    // A file body over http: signed aws-chunked with a checksum trailer.
    let s3 = harness.s3(Who::User1);
    s3.put_object()
        .bucket("bodies")
        .key("from-file")
        .body(ByteStream::from_path(&file).await.unwrap())
        .send()
        .await
        .unwrap();
    // The same without checksums: no trailer.
    harness
        .s3_without_checksums(Who::User1)
        .put_object()
        .bucket("bodies")
        .key("from-file-no-trailer")
        .body(ByteStream::from_path(&file).await.unwrap())
        .send()
        .await
        .unwrap();
    for key in ["from-file", "from-file-no-trailer"] {
        assert!(
            get_bytes(&s3, "bodies", key).await == data,
            "{key} round trip"
        );
    }

    // Hand-made: every chunk signed, no trailer.
    let signer = RawSigner::new(Who::User1);
    let url = harness.object_url("bodies", "chunked");
    let (first, second) = data.split_at(65_536);
    let length = data.len().to_string();
    let (headers, seed) = signer.sign(
        "PUT",
        &url,
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", &length),
        ],
        Payload::StreamingSigned,
    );
    let body = signer.chunked_body(&seed, &[first, second]);
    assert_eq!(send_raw("PUT", &url, &headers, body).await.0, 200);
    assert!(get_bytes(&s3, "bodies", "chunked").await == data);

    // Unsigned aws-chunked with a checksum trailer (what the SDKs send over https).
    let url = harness.object_url("bodies", "unsigned-trailer");
    let (headers, _) = signer.sign(
        "PUT",
        &url,
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", &length),
            ("x-amz-trailer", "x-amz-checksum-sha256"),
        ],
        Payload::StreamingUnsignedTrailer,
    );
    let digest = {
        use sha2::{Digest, Sha256};
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            Sha256::digest(&data),
        )
    };
    let mut body = Vec::new();
    for chunk in [first, second] {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(chunk);
        body.extend_from_slice(b"\r\n");
    }
    let with_trailer = |checksum: &str| {
        let mut body = body.clone();
        body.extend_from_slice(format!("0\r\nx-amz-checksum-sha256:{checksum}\r\n\r\n").as_bytes());
        body
    };
    assert_eq!(
        send_raw("PUT", &url, &headers, with_trailer(&digest))
            .await
            .0,
        200
    );
    assert!(get_bytes(&s3, "bodies", "unsigned-trailer").await == data);
    // The same with a trailer that does not match the bytes: BadDigest, not stored.
    let url = harness.object_url("bodies", "bad-trailer");
    let wrong = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let (status, xml) = send_raw("PUT", &url, &headers, with_trailer(wrong)).await;
    assert_eq!(
        (status, xml_field(&xml, "Code").as_deref()),
        (403, Some("SignatureDoesNotMatch")),
        "signed for another object"
    );
    let (headers, _) = signer.sign(
        "PUT",
        &url,
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", &length),
            ("x-amz-trailer", "x-amz-checksum-sha256"),
        ],
        Payload::StreamingUnsignedTrailer,
    );
    let (status, xml) = send_raw("PUT", &url, &headers, with_trailer(wrong)).await;
    assert_eq!(
        (status, xml_field(&xml, "Code").as_deref()),
        (400, Some("BadDigest")),
        "{xml}"
    );
    let missing = s3
        .head_object()
        .bucket("bodies")
        .key("bad-trailer")
        .send()
        .await;
    assert!(missing.is_err());

    // UNSIGNED-PAYLOAD.
    let url = harness.object_url("bodies", "unsigned");
    let (headers, _) = signer.sign("PUT", &url, &[], Payload::Unsigned);
    assert_eq!(send_raw("PUT", &url, &headers, data.clone()).await.0, 200);
}

#[tokio::test]
async fn bodies_that_do_not_match_their_signature_or_length_are_refused_and_not_stored() {
    let harness = harness_with_bucket("refused").await;
    let s3 = harness.s3(Who::User1);
    let signer = RawSigner::new(Who::User1);
    let data = vec![7u8; 200_000];
    let (first, second) = data.split_at(100_000);
    let length = data.len().to_string();
    let chunked = [
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", length.as_str()),
    ];

    // A chunk altered after signing.
    let url = harness.object_url("refused", "bad-chunk");
    let (headers, seed) = signer.sign("PUT", &url, &chunked, Payload::StreamingSigned);
    let mut body = signer.chunked_body(&seed, &[first, second]);
    let tampered = body.len() - 100;
    body[tampered] ^= 1;
    let (status, xml) = send_raw("PUT", &url, &headers, body).await;
    assert_eq!(
        (status, code_and_message(&xml)),
        (
            403,
            ("SignatureDoesNotMatch".to_owned(), BAD_SIGNATURE.to_owned())
        )
    );

    // A single-chunk body whose hash is not the signed one.
    let url = harness.object_url("refused", "bad-hash");
    let (headers, _) = signer.sign("PUT", &url, &[], Payload::Bytes(b"the signed bytes"));
    let (status, xml) = send_raw("PUT", &url, &headers, b"other bytes".to_vec()).await;
    assert_eq!(
        (status, code_and_message(&xml).0.as_str()),
        (400, "XAmzContentSHA256Mismatch")
    );

    // aws-chunked that ends before its declared decoded length.
    let url = harness.object_url("refused", "short-chunked");
    let (headers, seed) = signer.sign("PUT", &url, &chunked, Payload::StreamingSigned);
    let body = signer.chunked_body(&seed, &[first]);
    let (status, xml) = send_raw("PUT", &url, &headers, body).await;
    assert_eq!(
        (status, code_and_message(&xml).0.as_str()),
        (400, "IncompleteBody")
    );

    // aws-chunked that carries more than its declared decoded length.
    let url = harness.object_url("refused", "long-chunked");
    let half = (data.len() / 2).to_string();
    let (headers, seed) = signer.sign(
        "PUT",
        &url,
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", half.as_str()),
        ],
        Payload::StreamingSigned,
    );
    let body = signer.chunked_body(&seed, &[first, second]);
    let (status, xml) = send_raw("PUT", &url, &headers, body).await;
    assert_eq!(
        (status, code_and_message(&xml).0.as_str()),
        (400, "IncompleteBody"),
        "{xml}"
    );

    // A body shorter than its Content-Length: the client gives up half-way.
    let url = harness.object_url("refused", "short");
    let (headers, _) = signer.sign("PUT", &url, &[], Payload::Unsigned);
    let (status, response) = raw_request(
        harness.s3_address,
        "PUT /refused/short",
        &harness.s3_address.to_string(),
        &headers,
        Some(1000),
        &[1u8; 400],
    )
    .await;
    assert_eq!(status, 400, "{response}");
    assert_eq!(
        xml_field(&response, "Code").as_deref(),
        Some("IncompleteBody")
    );

    // No Content-Length at all (chunked transfer encoding, unsigned payload).
    let url = harness.object_url("refused", "no-length");
    let (headers, _) = signer.sign("PUT", &url, &[], Payload::Unsigned);
    let (status, response) = raw_request(
        harness.s3_address,
        "PUT /refused/no-length",
        &harness.s3_address.to_string(),
        &headers,
        None,
        b"abc",
    )
    .await;
    assert_eq!(status, 411, "{response}");
    assert_eq!(
        xml_field(&response, "Code").as_deref(),
        Some("MissingContentLength")
    );

    // Declared digests that do not match the bytes: Content-MD5, a checksum header.
    let wrong_md5 = s3
        .put_object()
        .bucket("refused")
        .key("bad-md5")
        .content_md5("AAAAAAAAAAAAAAAAAAAAAA==")
        .body(ByteStream::from_static(b"some bytes"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        sdk_error(&wrong_md5),
        (
            "BadDigest".to_owned(),
            "The Content-MD5 you specified did not match what we received.".to_owned()
        )
    );
    let invalid_md5 = s3
        .put_object()
        .bucket("refused")
        .key("invalid-md5")
        .content_md5("not-a-digest")
        .body(ByteStream::from_static(b"some bytes"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_error(&invalid_md5).0, "InvalidDigest");
    let url = harness.object_url("refused", "bad-checksum");
    let wrong_sha = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let (headers, _) = signer.sign(
        "PUT",
        &url,
        &[("x-amz-checksum-sha256", wrong_sha)],
        Payload::Bytes(b"checksummed"),
    );
    let (status, xml) = send_raw("PUT", &url, &headers, b"checksummed".to_vec()).await;
    assert_eq!(
        (status, code_and_message(&xml)),
        (
            400,
            (
                "BadDigest".to_owned(),
                "The SHA256 you specified did not match the calculated checksum.".to_owned()
            )
        )
    );
    // The right Content-MD5 is accepted.
    s3.put_object()
        .bucket("refused")
        .key("good-md5")
        .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    s3.delete_object()
        .bucket("refused")
        .key("good-md5")
        .send()
        .await
        .unwrap();

    // None of them left an object behind.
    let listed = s3.list_objects_v2().bucket("refused").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0));
}

/// Issue 12, section 4: a SigV2 presigned URL with an added `X-Amz-Credential` (or
/// `X-Amz-Signature`) parameter was served and recorded as SigV4, because the edge
/// classified requests by the presence of one parameter while s3s checked the SigV2
/// signature. SigV2 is refused in every form (and so is its expiry, which knows no
/// 7-day limit); the record says what the request presented, never SigV4.
#[tokio::test]
async fn sigv2_is_refused_whatever_sigv4_parameters_come_with_it() {
    let harness = harness_with_bucket("sigv2").await;
    harness
        .s3(Who::User1)
        .put_object()
        .bucket("sigv2")
        .key("note.txt")
        .body(ByteStream::from_static(b"private"))
        .send()
        .await
        .unwrap();
    let url = keyhold_tests::s3::sigv2_presigned_get(
        &harness.s3_endpoint(),
        Who::User1,
        "sigv2",
        "note.txt",
        2_000_000_000,
    );
    for extra in [
        "",
        "&X-Amz-Credential=x",
        "&X-Amz-Signature=x",
        "&X-Amz-Credential=x&X-Amz-Signature=x&X-Amz-Expires=60",
    ] {
        let (status, xml) = send_raw("GET", &format!("{url}{extra}"), &[], Vec::new()).await;
        assert_eq!(
            (status, code_and_message(&xml)),
            (
                400,
                (
                    "InvalidRequest".to_owned(),
                    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.".to_owned()
                )
            ),
            "{extra}: {xml}"
        );
    }
    let events = harness.events_at_least(6).await;
    for event in events.iter().filter(|e| e.event_name == "GetObject") {
        assert_eq!(event.error_code.as_deref(), Some("InvalidRequest"));
        let additional = event.additional_event_data.as_ref().unwrap();
        assert_eq!(additional.get("SignatureVersion"), None, "{additional}");
        assert_eq!(additional.get("AuthenticationMethod"), None, "{additional}");
        assert_eq!(event.user_identity.principal_id, None);
    }
}

/// Two Authorization headers: s3s checks none of them (it only reads a unique
/// one) and would serve the request as anonymous, while the edge took it for a
/// signed request (so it escaped the per-address quota of anonymous callers). When
/// the two disagree, the request is not served.
#[tokio::test]
async fn a_request_the_edge_and_s3s_classify_differently_is_not_served() {
    use aws_sdk_s3::types::{
        ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    };
    let harness = harness_with_bucket("public").await;
    let s3 = harness.s3(Who::User1);
    s3.delete_public_access_block()
        .bucket("public")
        .send()
        .await
        .unwrap();
    let rule = OwnershipControlsRule::builder()
        .object_ownership(ObjectOwnership::BucketOwnerPreferred)
        .build()
        .unwrap();
    s3.put_bucket_ownership_controls()
        .bucket("public")
        .ownership_controls(OwnershipControls::builder().rules(rule).build().unwrap())
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("public")
        .key("open.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"anyone may read this"))
        .send()
        .await
        .unwrap();
    let url = harness.object_url("public", "open.txt");
    let (status, body) = send_raw("GET", &url, &[], Vec::new()).await;
    assert_eq!((status, body.as_str()), (200, "anyone may read this"));

    let twice = [
        ("authorization".to_owned(), "AWS4-HMAC-SHA256 x".to_owned()),
        ("authorization".to_owned(), "AWS4-HMAC-SHA256 y".to_owned()),
    ];
    let (status, xml) = send_raw("GET", &url, &twice, Vec::new()).await;
    assert_eq!(
        (status, code_and_message(&xml)),
        (403, ("AccessDenied".to_owned(), "Access Denied".to_owned())),
        "{xml}"
    );
}

/// Over HTTP/2 the host is the `:authority` pseudo-header, not a Host header; a
/// request signed over HTTP/2 must verify on the S3 port too.
#[tokio::test]
async fn a_request_signed_over_http2_verifies() {
    let harness = harness_with_bucket("over-http2").await;
    let url = format!("{}/over-http2?list-type=2", harness.s3_endpoint());
    let (signed, _) = RawSigner::new(Who::User1).sign("GET", &url, &[], Payload::Bytes(b""));
    let (version, status, body) = send_http2("GET", &url, &signed, Vec::new()).await;
    assert_eq!(version, ::http::Version::HTTP_2);
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("<Name>over-http2</Name>"), "{text}");
}
