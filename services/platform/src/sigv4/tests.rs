//! Requests signed by AWS's own signer (aws-sigv4, what every SDK uses) must verify;
//! every way of getting one wrong is refused with AWS's exception.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};

use super::*;

const USER_KEY: &str = "AKIATESTUSER0000001";
const USER_SECRET: &str = "test-only-user-secret";
const SERVICE_KEY: &str = "AKIATESTSERVICE0001";
const SERVICE_SECRET: &str = "test-only-service-secret";
const KMS: Scope<'static> = Scope {
    service: "kms",
    region: "us-east-1",
};

fn principals() -> Principals {
    Principals::parse(&format!(
        r#"{{"account_id": "111122223333", "principals": [
            {{"name": "alice", "type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice",
              "access_key_id": "{USER_KEY}", "secret_access_key": "{USER_SECRET}"}},
            {{"name": "object-svc", "type": "AWSService", "arn": "arn:aws:iam::111122223333:role/object-svc",
              "service": "s3.amazonaws.com",
              "access_key_id": "{SERVICE_KEY}", "secret_access_key": "{SERVICE_SECRET}"}}
        ]}}"#
    ))
    .expect("test principals")
}

/// A KMS JSON request as the AWS CLI sends it, signed at `time` by `key`/`secret`
/// for `service` in `region`.
fn signed(
    key: &str,
    secret: &str,
    service: &str,
    region: &str,
    time: SystemTime,
    uri: &str,
    body: &[u8],
) -> http::Request<Vec<u8>> {
    let identity = aws_credential_types::Credentials::new(key, secret, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let headers = [
        ("host", "kms.keyhold.test:9001"),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "TrentService.Encrypt"),
        ("user-agent", "aws-cli/2   test   agent"),
    ];
    let signable = SignableRequest::new(
        "POST",
        format!("http://kms.keyhold.test:9001{uri}"),
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
    let mut request = http::Request::builder()
        .method("POST")
        .uri(uri)
        .body(body.to_vec())
        .expect("request");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(name, http::HeaderValue::from_static(value));
    }
    instructions.apply_to_request_http1x(&mut request);
    request
}

/// Who signed `request`, by name, or why it is refused.
fn check(request: &http::Request<Vec<u8>>, now: SystemTime) -> Result<String, SigV4Error> {
    verify(
        &principals(),
        &SignedRequest {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            body: request.body(),
        },
        KMS,
        now.into(),
    )
    .map(|principal| principal.name.clone())
}

const BODY: &[u8] = br#"{"KeyId":"alias/lab","Plaintext":"aGVsbG8="}"#;

#[test]
fn a_request_signed_by_the_aws_signer_verifies() {
    let now = SystemTime::now();
    let request = signed(USER_KEY, USER_SECRET, "kms", "us-east-1", now, "/", BODY);
    assert_eq!(check(&request, now).unwrap(), "alice");
    // A query string and an odd path are canonicalized the same way on both sides.
    let request = signed(
        USER_KEY,
        USER_SECRET,
        "kms",
        "us-east-1",
        now,
        "/a%20b/c?z=1&a=x%2Fy&m",
        BODY,
    );
    assert_eq!(check(&request, now).unwrap(), "alice");
}

#[test]
fn over_http2_the_signed_host_is_the_authority() {
    let now = SystemTime::now();
    let http1 = signed(USER_KEY, USER_SECRET, "kms", "us-east-1", now, "/", BODY);
    // What an HTTP/2 server sees of the same request: no Host header, the
    // :authority pseudo-header as the URI's authority.
    let (mut parts, body) = http1.into_parts();
    let host = parts
        .headers
        .remove(http::header::HOST)
        .expect("a Host header");
    parts.uri = format!("http://{}/", host.to_str().unwrap())
        .parse()
        .unwrap();
    let http2 = http::Request::from_parts(parts, body);
    assert_eq!(check(&http2, now).unwrap(), "alice");
    // Another authority is another request.
    let (mut parts, body) = http2.into_parts();
    parts.uri = "http://kms.elsewhere.test:9001/".parse().unwrap();
    let moved = http::Request::from_parts(parts, body);
    assert_eq!(
        check(&moved, now),
        Err(SigV4Error::invalid(SIGNATURE_MISMATCH))
    );
}

#[test]
fn a_changed_body_header_or_secret_is_a_mismatch() {
    let now = SystemTime::now();
    let mismatch = Err(SigV4Error::invalid(SIGNATURE_MISMATCH));
    let mut request = signed(USER_KEY, USER_SECRET, "kms", "us-east-1", now, "/", BODY);
    request.body_mut()[3] ^= 1;
    assert_eq!(check(&request, now), mismatch);

    let mut request = signed(USER_KEY, USER_SECRET, "kms", "us-east-1", now, "/", BODY);
    request.headers_mut().insert(
        "x-amz-target",
        http::HeaderValue::from_static("TrentService.Decrypt"),
    );
    assert_eq!(check(&request, now), mismatch);

    let request = signed(
        USER_KEY,
        "not-the-secret",
        "kms",
        "us-east-1",
        now,
        "/",
        BODY,
    );
    assert_eq!(check(&request, now), mismatch);
}

#[test]
fn unknown_keys_and_service_principals_are_unrecognized() {
    let now = SystemTime::now();
    for (key, secret) in [("AKIANOBODY000000000", "x"), (SERVICE_KEY, SERVICE_SECRET)] {
        let request = signed(key, secret, "kms", "us-east-1", now, "/", BODY);
        assert_eq!(
            check(&request, now).unwrap_err().exception,
            "UnrecognizedClientException"
        );
    }
}

#[test]
fn a_skewed_clock_or_the_wrong_scope_is_refused() {
    let now = SystemTime::now();
    let late = signed(
        USER_KEY,
        USER_SECRET,
        "kms",
        "us-east-1",
        now - Duration::from_secs(6 * 60),
        "/",
        BODY,
    );
    let error = check(&late, now).unwrap_err();
    assert_eq!(error.exception, "InvalidSignatureException");
    assert!(
        error.message.starts_with("Signature expired: "),
        "{error:?}"
    );
    assert!(error.message.ends_with(" - 5 min.)"), "{error:?}");
    let early = signed(
        USER_KEY,
        USER_SECRET,
        "kms",
        "us-east-1",
        now + Duration::from_secs(6 * 60),
        "/",
        BODY,
    );
    let error = check(&early, now).unwrap_err();
    assert!(
        error.message.starts_with("Signature not yet current: "),
        "{error:?}"
    );
    // Four minutes off is within AWS's five.
    let close = signed(
        USER_KEY,
        USER_SECRET,
        "kms",
        "us-east-1",
        now - Duration::from_secs(4 * 60),
        "/",
        BODY,
    );
    assert!(check(&close, now).is_ok());

    let cloudtrail = signed(
        USER_KEY,
        USER_SECRET,
        "cloudtrail",
        "us-east-1",
        now,
        "/",
        BODY,
    );
    assert_eq!(
        check(&cloudtrail, now),
        Err(SigV4Error::invalid(
            "Credential should be scoped to correct service: 'kms'."
        ))
    );
    let elsewhere = signed(USER_KEY, USER_SECRET, "kms", "eu-west-1", now, "/", BODY);
    assert_eq!(
        check(&elsewhere, now),
        Err(SigV4Error::invalid(
            "Credential should be scoped to a valid region, not 'eu-west-1'."
        ))
    );
}

#[test]
fn missing_or_malformed_authorization() {
    let now = SystemTime::now();
    let mut request = signed(USER_KEY, USER_SECRET, "kms", "us-east-1", now, "/", BODY);
    request.headers_mut().remove(http::header::AUTHORIZATION);
    assert_eq!(
        check(&request, now).unwrap_err().exception,
        "MissingAuthenticationTokenException"
    );
    for bad in [
        "AWS4-HMAC-SHA256 Credential=AKIA/20250101/us-east-1/kms/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AKIA/20250101/us-east-1/kms, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256Credential=x",
        "AWS AKIA:signature",
    ] {
        request.headers_mut().insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static(bad),
        );
        assert_eq!(
            check(&request, now).unwrap_err().exception,
            "IncompleteSignatureException",
            "{bad}"
        );
    }
    let mut request = signed(USER_KEY, USER_SECRET, "kms", "us-east-1", now, "/", BODY);
    request.headers_mut().remove("x-amz-date");
    assert_eq!(
        check(&request, now).unwrap_err().exception,
        "IncompleteSignatureException"
    );
}

#[test]
fn parses_the_authorization_header() {
    let parsed = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=AKIAX/20250131/us-east-1/kms/aws4_request, SignedHeaders=Host;x-amz-date, Signature=abc",
    )
    .unwrap();
    assert_eq!(
        parsed,
        Authorization {
            access_key_id: "AKIAX".into(),
            date: "20250131".into(),
            region: "us-east-1".into(),
            service: "kms".into(),
            signed_headers: vec!["host".into(), "x-amz-date".into()],
            signature: "abc".into(),
        }
    );
}
