//! The AWS JSON 1.1 protocol at the HTTP level, with requests signed by hand
//! (aws-sigv4, the SDKs' signer): AWS's answer to each protocol error and each
//! refused signature, and a record for every call that got past the protocol.

use std::time::Duration;

use keyhold_tests::{
    KmsHarness, Who,
    s3::{Payload, RawSigner, send_http2, send_raw},
};
use serde_json::{Value, json};

const JSON_1_1: &str = "application/x-amz-json-1.1";

/// POSTs `body` to kms-svc's AWS port as `X-Amz-Target: target`, signed by `signer`
/// (unsigned when None); the status, the JSON answer and its request id.
async fn post(
    kms: &KmsHarness,
    signer: Option<&RawSigner>,
    target: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Value) {
    let url = format!("{}/", kms.aws_endpoint());
    let headers = [("content-type", content_type), ("x-amz-target", target)];
    let headers: Vec<(String, String)> = match signer {
        Some(signer) => signer.sign("POST", &url, &headers, Payload::Bytes(body)).0,
        None => headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    };
    let (status, text) = send_raw("POST", &url, &headers, body.to_vec()).await;
    let answer = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, answer)
}

fn kms_signer(who: Who) -> RawSigner {
    RawSigner::new(who).for_service("kms")
}

/// `__type` and `message` of an error answer.
fn error_of(answer: &Value) -> (&str, &str) {
    (
        answer["__type"].as_str().unwrap_or_default(),
        answer["message"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn protocol_errors_get_aws_exceptions_and_leave_no_record() {
    let kms = KmsHarness::start().await;
    let user = kms_signer(Who::User1);
    let call = |target: &'static str, content_type: &'static str, body: &'static [u8]| {
        let (kms, user) = (&kms, &user);
        async move { post(kms, Some(user), target, content_type, body).await }
    };

    let (status, answer) = call("TrentService.NoSuchOperation", JSON_1_1, b"{}").await;
    assert_eq!(status, 400);
    assert_eq!(error_of(&answer).0, "UnknownOperationException");
    // keyhold's own console edits are gRPC only.
    let (status, answer) = call("TrentService.AddKeyUser", JSON_1_1, b"{}").await;
    assert_eq!(
        (status, error_of(&answer).0),
        (400, "UnknownOperationException")
    );
    let (status, answer) = call("DynamoDB_20120810.ListTables", JSON_1_1, b"{}").await;
    assert_eq!(
        (status, error_of(&answer).0),
        (400, "UnknownOperationException")
    );

    let (status, answer) = call("TrentService.ListKeys", "application/json", b"{}").await;
    assert_eq!(status, 400);
    assert_eq!(
        error_of(&answer),
        (
            "SerializationException",
            "The request's Content-Type must be application/x-amz-json-1.1."
        )
    );
    let (status, answer) = call("TrentService.ListKeys", JSON_1_1, b"{\"Limit\": ").await;
    assert_eq!(
        (status, error_of(&answer).0),
        (400, "SerializationException")
    );
    let (status, answer) = call("TrentService.ListKeys", JSON_1_1, b"[]").await;
    assert_eq!(
        (status, error_of(&answer)),
        (
            400,
            (
                "SerializationException",
                "The request body must be a JSON object."
            )
        )
    );
    let (status, answer) = call("TrentService.ListKeys", JSON_1_1, b"{\"Limit\": \"ten\"}").await;
    assert_eq!(
        (status, error_of(&answer)),
        (
            400,
            (
                "SerializationException",
                "The value of member 'Limit' is not of the expected type."
            )
        )
    );
    let (status, answer) = call(
        "TrentService.CreateKey",
        JSON_1_1,
        b"{\"Origin\": \"EXTERNAL\"}",
    )
    .await;
    assert_eq!(
        (status, error_of(&answer)),
        (
            400,
            (
                "UnsupportedOperationException",
                "keyhold does not support the member 'Origin' with this value."
            )
        )
    );
    let too_large = vec![b' '; 1024 * 1024 + 1];
    let (status, answer) = post(
        &kms,
        Some(&user),
        "TrentService.ListKeys",
        JSON_1_1,
        &too_large,
    )
    .await;
    assert_eq!(
        (status, error_of(&answer).0),
        (413, "RequestEntityTooLargeException")
    );

    // None of these reached the service.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(kms.sink.events().is_empty(), "{:?}", kms.sink.events());
}

#[tokio::test]
async fn service_errors_keep_their_aws_text_and_status_and_are_recorded() {
    let kms = KmsHarness::start().await;
    let user = kms_signer(Who::User1);
    let (status, answer) = post(
        &kms,
        Some(&user),
        "TrentService.DescribeKey",
        JSON_1_1,
        b"{}",
    )
    .await;
    assert_eq!(
        (status, error_of(&answer)),
        (
            400,
            (
                "ValidationException",
                "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
            )
        )
    );
    let missing = json!({"KeyId": "alias/nothing-here"}).to_string();
    let (status, answer) = post(
        &kms,
        Some(&user),
        "TrentService.DescribeKey",
        JSON_1_1,
        missing.as_bytes(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(error_of(&answer).0, "NotFoundException");

    let (status, answer) = post(&kms, Some(&user), "TrentService.ListKeys", JSON_1_1, b"").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"Keys": [], "Truncated": false}));

    let events = kms.events_at_least(3).await;
    let names: Vec<_> = events
        .iter()
        .map(|e| (e.event_name.as_str(), e.error_code.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("DescribeKey", Some("ValidationException")),
            ("DescribeKey", Some("NotFoundException")),
            ("ListKeys", None)
        ]
    );
    assert_eq!(
        events[1].request_parameters,
        json!({"keyId": "alias/nothing-here"})
    );
}

#[tokio::test]
async fn refused_signatures_get_aws_exceptions_and_are_recorded() {
    let kms = KmsHarness::start().await;
    let list = |signer: Option<RawSigner>| {
        let kms = &kms;
        async move {
            post(
                kms,
                signer.as_ref(),
                "TrentService.ListKeys",
                JSON_1_1,
                b"{}",
            )
            .await
        }
    };
    let (user_key, _) = Who::User1.credentials().unwrap();

    let (status, answer) = list(None).await;
    assert_eq!(
        (status, error_of(&answer)),
        (
            400,
            (
                "MissingAuthenticationTokenException",
                "Missing Authentication Token"
            )
        )
    );
    let (status, answer) = list(Some(
        RawSigner::with_keys("AKIAKEYHOLDNOSUCHKEY", "x").for_service("kms"),
    ))
    .await;
    assert_eq!(
        (status, error_of(&answer)),
        (
            400,
            (
                "UnrecognizedClientException",
                "The security token included in the request is invalid."
            )
        )
    );
    // A service principal cannot sign: there is no user for it to act as.
    let (status, answer) = list(Some(kms_signer(Who::KmsSvc))).await;
    assert_eq!(
        (status, error_of(&answer).0),
        (400, "UnrecognizedClientException")
    );
    let (status, answer) = list(Some(kms_signer(Who::WrongSecret))).await;
    assert_eq!(
        (status, error_of(&answer)),
        (
            400,
            (
                "InvalidSignatureException",
                keyhold_platform::sigv4::SIGNATURE_MISMATCH
            )
        )
    );
    let (status, answer) = list(Some(RawSigner::new(Who::User1))).await;
    assert_eq!(
        (status, error_of(&answer)),
        (
            400,
            (
                "InvalidSignatureException",
                "Credential should be scoped to correct service: 'kms'."
            )
        )
    );
    let mut skewed = kms_signer(Who::User1);
    skewed.time -= Duration::from_secs(6 * 60);
    let (status, answer) = list(Some(skewed)).await;
    assert_eq!(status, 400);
    let (exception, message) = error_of(&answer);
    assert_eq!(exception, "InvalidSignatureException");
    assert!(
        message.starts_with("Signature expired: ") && message.ends_with(" - 5 min.)"),
        "{message}"
    );

    let events = kms.events_at_least(6).await;
    let codes: Vec<_> = events
        .iter()
        .map(|e| e.error_code.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(
        codes,
        [
            "MissingAuthenticationTokenException",
            "UnrecognizedClientException",
            "UnrecognizedClientException",
            "InvalidSignatureException",
            "InvalidSignatureException",
            "InvalidSignatureException"
        ]
    );
    assert!(events.iter().all(|e| e.event_name == "ListKeys"));
    assert_eq!(
        events[3].user_identity.access_key_id.as_deref(),
        Some(user_key)
    );
}

/// Over HTTP/2 the host is the `:authority` pseudo-header, not a Host header; what
/// the client signed as `host` must still verify.
#[tokio::test]
async fn a_request_signed_over_http2_verifies() {
    let kms = KmsHarness::start().await;
    let url = format!("{}/", kms.aws_endpoint());
    let headers = [
        ("content-type", JSON_1_1),
        ("x-amz-target", "TrentService.ListKeys"),
    ];
    let (signed, _) = kms_signer(Who::User1).sign("POST", &url, &headers, Payload::Bytes(b"{}"));
    let (version, status, body) = send_http2("POST", &url, &signed, b"{}".to_vec()).await;
    assert_eq!(version, http::Version::HTTP_2);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert!(answer["Keys"].is_array(), "{answer}");
}
