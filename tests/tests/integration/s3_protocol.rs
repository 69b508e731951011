//! Protocol details of the S3 endpoint: malformed XML bodies, virtual-hosted-style
//! addressing when a base domain is configured, and operations keyhold does not
//! serve.

use aws_sdk_s3::primitives::ByteStream;
use keyhold_tests::{
    ObjectHarness, Who,
    s3::{Payload, RawSigner, raw_request, send_raw, xml_field},
    s3_sdk::get_object_output,
};

const MALFORMED: &str =
    "The XML you provided was not well-formed or did not validate against our published schema";

#[tokio::test]
async fn malformed_xml_bodies_are_refused_with_malformed_xml() {
    let harness = ObjectHarness::start().await;
    let s3 = harness.s3(Who::User1);
    s3.create_bucket().bucket("xml").send().await.unwrap();
    s3.put_object()
        .bucket("xml")
        .key("kept")
        .body(ByteStream::from_static(b"still here"))
        .send()
        .await
        .unwrap();
    let signer = RawSigner::new(Who::User1);
    let upload_id = s3
        .create_multipart_upload()
        .bucket("xml")
        .key("mp")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let endpoint = harness.s3_endpoint();
    let cases = [
        (
            "POST",
            format!("{endpoint}/xml?delete"),
            "<Delete><Object><Key>kept",
        ),
        (
            "POST",
            format!("{endpoint}/xml/mp?uploadId={upload_id}"),
            "<CompleteMultipartUpload><Part>",
        ),
        (
            "PUT",
            format!("{endpoint}/xml?encryption"),
            "not xml at all",
        ),
    ];
    for (method, url, body) in cases {
        let md5 = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            md5_of(body.as_bytes()),
        );
        let (headers, _) = signer.sign(
            method,
            &url,
            &[("content-md5", md5.as_str())],
            Payload::Bytes(body.as_bytes()),
        );
        let (status, xml) = send_raw(method, &url, &headers, body.as_bytes().to_vec()).await;
        assert_eq!(status, 400, "{method} {url}: {xml}");
        assert_eq!(
            xml_field(&xml, "Code").as_deref(),
            Some("MalformedXML"),
            "{url}"
        );
        assert_eq!(
            xml_field(&xml, "Message").as_deref(),
            Some(MALFORMED),
            "{url}"
        );
    }
    // Nothing changed: the object is there, the upload still open.
    s3.head_object()
        .bucket("xml")
        .key("kept")
        .send()
        .await
        .unwrap();
    let uploads = s3
        .list_multipart_uploads()
        .bucket("xml")
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads().len(), 1);
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::digest(bytes).into()
}

#[tokio::test]
async fn virtual_hosted_style_requests_work_with_a_base_domain() {
    let harness = ObjectHarness::start_with_flags(&["--s3-base-domain", "s3.keyhold.local"]).await;
    let s3 = harness.s3(Who::User1);
    s3.create_bucket().bucket("vhost").send().await.unwrap();
    let port = harness.s3_address.port();
    let host = format!("vhost.s3.keyhold.local:{port}");

    // Signed PUT and GET addressed to the bucket's own host name.
    let signer = RawSigner::new(Who::User1);
    let url = format!("http://{host}/hello.txt");
    let (headers, _) = signer.sign("PUT", &url, &[], Payload::Bytes(b"virtual host"));
    let headers: Vec<(String, String)> = headers
        .into_iter()
        .filter(|(name, _)| name != "host")
        .collect();
    let (status, response) = raw_request(
        harness.s3_address,
        "PUT /hello.txt",
        &host,
        &headers,
        Some(12),
        b"virtual host",
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let (headers, _) = signer.sign("GET", &url, &[], Payload::Bytes(b""));
    let (status, response) = raw_request(
        harness.s3_address,
        "GET /hello.txt",
        &host,
        &headers,
        Some(0),
        b"",
    )
    .await;
    assert_eq!(status, 200, "{response}");
    assert!(response.ends_with("virtual host"), "{response}");
    // Path-style keeps working beside it.
    let got = get_object_output(&s3, "vhost", "hello.txt").await;
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"virtual host"
    );
}

#[tokio::test]
async fn operations_keyhold_does_not_serve_say_so() {
    let harness = ObjectHarness::start().await;
    let s3 = harness.s3(Who::User1);
    s3.create_bucket().bucket("unserved").send().await.unwrap();
    let error = s3
        .get_bucket_versioning()
        .bucket("unserved")
        .send()
        .await
        .unwrap_err();
    let service = error.into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&service),
        Some("NotImplemented")
    );
}

#[tokio::test]
async fn the_quota_counts_verified_principals_not_presented_key_ids() {
    let harness = ObjectHarness::start_with_flags(&["--requests-per-second", "3"]).await;
    let root = format!("{}/", harness.s3_endpoint());
    let list = |who: Who| {
        let (headers, _) = RawSigner::new(who).sign("GET", &root, &[], Payload::Bytes(b""));
        let root = root.clone();
        async move { send_raw("GET", &root, &headers, Vec::new()).await }
    };
    // Forged requests presenting User1's key id spend nothing of User1's quota.
    for _ in 0..10 {
        assert_eq!(list(Who::WrongSecret).await.0, 403);
    }
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(list(Who::User1).await);
    }
    assert_eq!(statuses[0].0, 200, "the first call is within the quota");
    let (status, xml) = statuses
        .iter()
        .find(|(status, _)| *status != 200)
        .expect("a burst past 3 requests per second is refused");
    assert_eq!(*status, 503);
    assert_eq!(xml_field(xml, "Code").as_deref(), Some("SlowDown"));
    assert_eq!(
        xml_field(xml, "Message").as_deref(),
        Some("Please reduce your request rate.")
    );
    // Another principal has its own quota.
    assert_eq!(list(Who::User2).await.0, 200);
}
