//! What the S3 endpoint's tests do with the AWS SDK for Rust again and again: start
//! with a bucket, put and get, read a failure (status, code, message, request id) out
//! of the SDK's error, presign, and build ownership, encryption and ACL settings.

use std::{fmt::Debug, time::Duration};

use aws_sdk_s3::{
    Client,
    config::http::HttpResponse,
    error::{ProvideErrorMetadata, SdkError},
    operation::{
        get_object::GetObjectOutput, head_object::HeadObjectOutput, put_object::PutObjectOutput,
    },
    presigning::{PresignedRequest, PresigningConfig},
    primitives::{ByteStream, DateTime},
    types::{
        AccessControlPolicy, Grant, Grantee, ObjectOwnership, Owner, OwnershipControls,
        OwnershipControlsRule, Permission, ServerSideEncryption, ServerSideEncryptionByDefault,
        ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Type,
    },
};

use crate::{
    ObjectHarness, Who,
    kms::ACCOUNT,
    s3::{http, sdk_error, xml_field},
    texts::{ALL_USERS, NO_SUCH_BUCKET, NO_SUCH_KEY},
};

/// A harness, User1's SDK client and `bucket` (all defaults).
pub async fn start(bucket: &str) -> (ObjectHarness, Client) {
    let harness = ObjectHarness::start().await;
    let s3 = harness.s3(Who::User1);
    create_bucket(&s3, bucket).await;
    (harness, s3)
}

pub async fn create_bucket(s3: &Client, name: &str) {
    s3.create_bucket()
        .bucket(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
}

pub async fn put(s3: &Client, bucket: &str, key: &str, body: &[u8]) -> PutObjectOutput {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"))
}

pub async fn put_kms(
    s3: &Client,
    bucket: &str,
    key: &str,
    key_id: &str,
    body: &[u8],
) -> PutObjectOutput {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(key_id)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key} under {key_id}: {e:?}"))
}

pub async fn body_of(output: GetObjectOutput) -> Vec<u8> {
    output.body.collect().await.expect("the body").to_vec()
}

pub async fn get_object_output(s3: &Client, bucket: &str, key: &str) -> GetObjectOutput {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {bucket}/{key}: {e:?}"))
}

pub async fn get_bytes(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    body_of(get_object_output(s3, bucket, key).await).await
}

pub async fn head_object_output(s3: &Client, bucket: &str, key: &str) -> HeadObjectOutput {
    s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("head {bucket}/{key}: {e:?}"))
}

/// What a user sees of a failed call: the HTTP status, the S3 code and message (as
/// the SDK read them) and the raw error document.
#[derive(Debug)]
pub struct Failure {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub xml: String,
    pub request_id: String,
}

impl Failure {
    /// The text of `<name>` in the error document, unescaped.
    pub fn field(&self, name: &str) -> Option<String> {
        xml_field(&self.xml, name).map(|text| {
            text.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
    }
}

/// Reads a failed call, checking that its error document (HEAD and 304 answers have
/// none) is S3's: application/xml with Code, Message, RequestId matching the
/// x-amz-request-id header and HostId matching x-amz-id-2.
pub fn failure<E>(error: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + Debug,
{
    let raw = error
        .raw_response()
        .unwrap_or_else(|| panic!("no response: {error:?}"));
    let request_id = raw
        .headers()
        .get("x-amz-request-id")
        .expect("every response has x-amz-request-id")
        .to_owned();
    let xml = String::from_utf8_lossy(raw.body().bytes().unwrap_or_default()).into_owned();
    let (code, message) = sdk_error(error);
    if !xml.is_empty() {
        assert_eq!(
            raw.headers().get("content-type"),
            Some("application/xml"),
            "{xml}"
        );
        assert_eq!(
            xml_field(&xml, "Code").as_deref(),
            Some(code.as_str()),
            "{xml}"
        );
        assert!(xml_field(&xml, "Message").is_some(), "{xml}");
        assert_eq!(
            xml_field(&xml, "RequestId").as_deref(),
            Some(request_id.as_str()),
            "{xml}"
        );
        assert_eq!(
            xml_field(&xml, "HostId").as_deref(),
            raw.headers().get("x-amz-id-2"),
            "{xml}"
        );
    }
    Failure {
        status: raw.status().as_u16(),
        code,
        message,
        xml,
        request_id,
    }
}

/// The call failed with this status, S3 code and message.
#[track_caller]
pub fn assert_failure<T, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    status: u16,
    code: &str,
    message: &str,
) -> Failure
where
    T: Debug,
    E: ProvideErrorMetadata + Debug,
{
    let error = result.expect_err("the call should fail");
    let failure = failure(&error);
    assert_eq!(
        (
            failure.status,
            failure.code.as_str(),
            failure.message.as_str()
        ),
        (status, code, message),
        "{failure:?}"
    );
    failure
}

#[track_caller]
pub fn assert_no_such_key<T: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<T, SdkError<E, HttpResponse>>,
    key: &str,
) {
    let failure = assert_failure(result, 404, "NoSuchKey", NO_SUCH_KEY);
    assert_eq!(failure.field("Key").as_deref(), Some(key), "{failure:?}");
}

#[track_caller]
pub fn assert_no_such_bucket<T: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<T, SdkError<E, HttpResponse>>,
    bucket: &str,
) {
    let failure = assert_failure(result, 404, "NoSuchBucket", NO_SUCH_BUCKET);
    assert_eq!(
        failure.field("BucketName").as_deref(),
        Some(bucket),
        "{failure:?}"
    );
}

/// A HEAD refused with `status`: no body, the SDK knows it only by its status.
#[track_caller]
pub fn assert_head_failure<T: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<T, SdkError<E, HttpResponse>>,
    status: u16,
) {
    let error = result.expect_err("the HEAD should fail");
    let failure = failure(&error);
    assert_eq!(failure.status, status, "{failure:?}");
    assert!(
        failure.xml.is_empty(),
        "a HEAD answer has no body: {failure:?}"
    );
    assert!(!failure.request_id.is_empty());
}

/// Sends a presigned request as a browser or curl would, with the headers it needs.
pub async fn send_presigned(
    presigned: &PresignedRequest,
    body: Option<Vec<u8>>,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(presigned.method().as_bytes()).unwrap();
    let mut request = http().request(method, presigned.uri());
    for (name, value) in presigned.headers() {
        request = request.header(name, value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    request.send().await.expect("the endpoint answers")
}

pub fn presigning() -> PresigningConfig {
    PresigningConfig::expires_in(Duration::from_secs(300)).unwrap()
}

/// A plain HTTP error response: its status and its error document, after checking
/// that the document is S3's XML and its RequestId the x-amz-request-id header.
pub async fn http_failure(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let request_id = response.headers()["x-amz-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.headers()["content-type"], "application/xml");
    let xml = response.text().await.unwrap();
    assert!(
        xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><Error>"#),
        "{xml}"
    );
    assert_eq!(xml_field(&xml, "RequestId"), Some(request_id), "{xml}");
    (status, xml)
}

pub fn ownership(rule: ObjectOwnership) -> OwnershipControls {
    OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(rule)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

pub async fn set_ownership(s3: &Client, bucket: &str, rule: ObjectOwnership) {
    s3.put_bucket_ownership_controls()
        .bucket(bucket)
        .ownership_controls(ownership(rule))
        .send()
        .await
        .unwrap();
}

pub fn encryption_rule(
    algorithm: ServerSideEncryption,
    key_id: Option<&str>,
    bucket_key: bool,
) -> ServerSideEncryptionConfiguration {
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(algorithm)
        .set_kms_master_key_id(key_id.map(str::to_owned))
        .build()
        .unwrap();
    ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(by_default)
                .bucket_key_enabled(bucket_key)
                .build(),
        )
        .build()
        .unwrap()
}

/// The bucket's default encryption: algorithm, key id, bucket key.
pub async fn default_encryption(
    s3: &Client,
    bucket: &str,
) -> (String, Option<String>, Option<bool>) {
    let output = s3
        .get_bucket_encryption()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let rules = output
        .server_side_encryption_configuration()
        .expect("a configuration")
        .rules();
    assert_eq!(rules.len(), 1);
    let by_default = rules[0]
        .apply_server_side_encryption_by_default()
        .expect("a default");
    (
        by_default.sse_algorithm().as_str().to_owned(),
        by_default.kms_master_key_id().map(str::to_owned),
        rules[0].bucket_key_enabled(),
    )
}

pub fn owner_grant(permission: Permission) -> Grant {
    Grant::builder()
        .grantee(
            Grantee::builder()
                .r#type(Type::CanonicalUser)
                .id(ACCOUNT)
                .build()
                .unwrap(),
        )
        .permission(permission)
        .build()
}

pub fn all_users_grant(permission: Permission) -> Grant {
    Grant::builder()
        .grantee(
            Grantee::builder()
                .r#type(Type::Group)
                .uri(ALL_USERS)
                .build()
                .unwrap(),
        )
        .permission(permission)
        .build()
}

pub fn policy(grants: Vec<Grant>) -> AccessControlPolicy {
    AccessControlPolicy::builder()
        .owner(Owner::builder().id(ACCOUNT).build())
        .set_grants(Some(grants))
        .build()
}

/// Grants as `(grantee, permission)`: `CanonicalUser:<id>` or `Group:<uri>`.
pub fn grants_of(grants: &[Grant]) -> Vec<(String, String)> {
    grants
        .iter()
        .map(|grant| {
            let grantee = grant.grantee().expect("a grantee");
            let who = match grantee.r#type() {
                Type::Group => format!("Group:{}", grantee.uri().unwrap_or_default()),
                other => format!("{}:{}", other.as_str(), grantee.id().unwrap_or_default()),
            };
            let permission = grant
                .permission()
                .expect("a permission")
                .as_str()
                .to_owned();
            (who, permission)
        })
        .collect()
}

pub fn owner_full_control() -> (String, String) {
    (
        format!("CanonicalUser:{ACCOUNT}"),
        "FULL_CONTROL".to_owned(),
    )
}

pub fn all_users_read() -> (String, String) {
    (format!("Group:{ALL_USERS}"), "READ".to_owned())
}

/// A quoted, lower-case hex MD5-sized ETag.
#[track_caller]
pub fn assert_etag_shape(etag: Option<&str>) {
    let etag = etag.expect("an ETag");
    assert_eq!(etag.len(), 34, "{etag}");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(
        etag[1..33]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{etag}"
    );
}

pub fn now_secs() -> i64 {
    DateTime::from(std::time::SystemTime::now()).secs()
}

/// The keys of a ListObjectsV2 page, in order.
pub fn keys_v2(
    output: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output,
) -> Vec<String> {
    output
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}
