//! object-svc's S3 REST endpoint operation by operation, with the official AWS SDK for
//! Rust as the signed user and a plain HTTP client where a browser or curl would be:
//! buckets and their settings, object writes and reads of awkward sizes, ranges,
//! conditions, deletes, listings, copies, ACLs, the SSE headers and KMS refusals, and
//! the S3 error document every refusal comes with. object_api.rs and object_errors.rs
//! cover the same domain over gRPC.

use std::{collections::HashMap, fmt::Debug, time::Duration};

use aws_sdk_s3::{
    Client,
    config::http::HttpResponse,
    error::{ProvideErrorMetadata, SdkError},
    operation::{get_object::GetObjectOutput, put_object::PutObjectOutput},
    presigning::{PresignedRequest, PresigningConfig},
    primitives::{ByteStream, DateTime},
    types::{
        AccessControlPolicy, BucketCannedAcl, Delete, Grant, Grantee, ObjectCannedAcl,
        ObjectIdentifier, ObjectOwnership, Owner, OwnershipControls, OwnershipControlsRule,
        Permission, PublicAccessBlockConfiguration, ServerSideEncryption,
        ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
        Type,
    },
};
use base64::Engine;
use keyhold_proto::kms::v1 as kms;
use keyhold_tests::{
    ObjectHarness, Who,
    kms::{ACCOUNT, console_key},
    s3::{http, sdk_error, xml_field},
    seeded_bytes,
};

const BUCKET: &str = "ops-bucket";
const OTHER: &str = "ops-other";
const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const KMS_ARN_PREFIX: &str = "arn:aws:kms:us-east-1:000000000000";
/// MD5 of no bytes, and of FOX: the ETags of SSE-S3 objects.
const MD5_EMPTY: &str = "\"d41d8cd98f00b204e9800998ecf8427e\"";
const MD5_FOX: &str = "\"9e107d9d372bb6826bd81d3542a419d6\"";
const FOX: &[u8] = b"The quick brown fox jumps over the lazy dog";
/// MD5_FOX as Content-MD5 sends it.
const FOX_MD5_BASE64: &str = "nhB9nTcrtoJr2B01QqQZ1g==";

const ACCESS_DENIED: &str = "Access Denied";
const NO_SUCH_BUCKET: &str = "The specified bucket does not exist";
const NO_SUCH_KEY: &str = "The specified key does not exist.";
const INVALID_BUCKET_NAME: &str = "The specified bucket is not valid.";
const ACLS_NOT_SUPPORTED: &str = "The bucket does not allow ACLs";
const NOT_SUPPORTED: &str = "The encryption method specified is not supported";
const KMS_NEEDS_HEADER: &str = "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms";
const BAD_CONTEXT: &str = "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map";
const PRECONDITION_FAILED: &str = "At least one of the pre-conditions you specified did not hold";
const INVALID_RANGE: &str = "The requested range is not satisfiable";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A harness, User1's SDK client and BUCKET (all defaults).
async fn start() -> (ObjectHarness, Client) {
    let harness = ObjectHarness::start().await;
    let s3 = harness.s3(Who::User1);
    create_bucket(&s3, BUCKET).await;
    (harness, s3)
}

async fn create_bucket(s3: &Client, name: &str) {
    s3.create_bucket()
        .bucket(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
}

/// A key User1 administers and may use, with the console's key policy.
async fn user_key(harness: &ObjectHarness) -> kms::KeyMetadata {
    let mut kms_user = harness.kms.client(Who::User1);
    console_key(&mut kms_user, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await
}

async fn put(s3: &Client, bucket: &str, key: &str, body: &[u8]) -> PutObjectOutput {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"))
}

async fn put_kms(
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

async fn body_of(output: GetObjectOutput) -> Vec<u8> {
    output.body.collect().await.expect("the body").to_vec()
}

async fn get_bytes(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let output = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {bucket}/{key}: {e:?}"));
    body_of(output).await
}

/// What a user sees of a failed call: the HTTP status, the S3 code and message (as
/// the SDK read them) and the raw error document.
#[derive(Debug)]
struct Failure {
    status: u16,
    code: String,
    message: String,
    xml: String,
    request_id: String,
}

impl Failure {
    /// The text of `<name>` in the error document, unescaped.
    fn field(&self, name: &str) -> Option<String> {
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
fn failure<E>(error: &SdkError<E, HttpResponse>) -> Failure
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
fn assert_failure<T, E>(
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
fn assert_no_such_key<T: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<T, SdkError<E, HttpResponse>>,
    key: &str,
) {
    let failure = assert_failure(result, 404, "NoSuchKey", NO_SUCH_KEY);
    assert_eq!(failure.field("Key").as_deref(), Some(key), "{failure:?}");
}

#[track_caller]
fn assert_no_such_bucket<T: Debug, E: ProvideErrorMetadata + Debug>(
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
fn assert_head_failure<T: Debug, E: ProvideErrorMetadata + Debug>(
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
async fn send_presigned(presigned: &PresignedRequest, body: Option<Vec<u8>>) -> reqwest::Response {
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

fn presigning() -> PresigningConfig {
    PresigningConfig::expires_in(Duration::from_secs(300)).unwrap()
}

/// A plain HTTP error response: its status and its error document, after checking
/// that the document is S3's XML and its RequestId the x-amz-request-id header.
async fn http_failure(response: reqwest::Response) -> (u16, String) {
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

fn ownership(rule: ObjectOwnership) -> OwnershipControls {
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

async fn set_ownership(s3: &Client, bucket: &str, rule: ObjectOwnership) {
    s3.put_bucket_ownership_controls()
        .bucket(bucket)
        .ownership_controls(ownership(rule))
        .send()
        .await
        .unwrap();
}

fn encryption_rule(
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
async fn default_encryption(s3: &Client, bucket: &str) -> (String, Option<String>, Option<bool>) {
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

fn owner_grant(permission: Permission) -> Grant {
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

fn all_users_grant(permission: Permission) -> Grant {
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

fn policy(grants: Vec<Grant>) -> AccessControlPolicy {
    AccessControlPolicy::builder()
        .owner(Owner::builder().id(ACCOUNT).build())
        .set_grants(Some(grants))
        .build()
}

/// Grants as `(grantee, permission)`: `CanonicalUser:<id>` or `Group:<uri>`.
fn grants_of(grants: &[Grant]) -> Vec<(String, String)> {
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

fn owner_full_control() -> (String, String) {
    (
        format!("CanonicalUser:{ACCOUNT}"),
        "FULL_CONTROL".to_owned(),
    )
}

fn all_users_read() -> (String, String) {
    (format!("Group:{ALL_USERS}"), "READ".to_owned())
}

/// A quoted, lower-case hex MD5-sized ETag.
#[track_caller]
fn assert_etag_shape(etag: Option<&str>) {
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

fn now_secs() -> i64 {
    DateTime::from(std::time::SystemTime::now()).secs()
}

// ---------------------------------------------------------------------------
// Buckets
// ---------------------------------------------------------------------------

#[tokio::test]
async fn create_list_head_and_delete_buckets() {
    let harness = ObjectHarness::start().await;
    let s3 = harness.s3(Who::User1);
    assert!(s3.list_buckets().send().await.unwrap().buckets().is_empty());

    let created = s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    assert_eq!(created.location(), Some("/ops-bucket"));
    create_bucket(&s3, "zz-last").await;
    create_bucket(&s3, "0-first").await;

    // ListBuckets: by name, the account as owner, for every principal of it.
    for who in [Who::User1, Who::User2, Who::Root] {
        let listed = harness.s3(who).list_buckets().send().await.unwrap();
        let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
        assert_eq!(names, ["0-first", BUCKET, "zz-last"], "{who:?}");
        assert_eq!(listed.owner().and_then(|o| o.id()), Some(ACCOUNT));
        for bucket in listed.buckets() {
            let created = bucket.creation_date().expect("a creation date").secs();
            assert!((now_secs() - created).abs() < 120, "{bucket:?}");
            assert_eq!(bucket.bucket_region(), Some("us-east-1"));
        }
    }

    // The name is taken by the account: 409 for any of its principals.
    for who in [Who::User1, Who::User2] {
        let failure = assert_failure(
            harness.s3(who).create_bucket().bucket(BUCKET).send().await,
            409,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        );
        assert_eq!(failure.field("BucketName").as_deref(), Some(BUCKET));
    }

    // Names S3 refuses, the rule kept by keyhold's validation.
    for name in ["sthree-bucket", "bucket-s3alias", "amzn-s3-demo-bucket"] {
        let failure = assert_failure(
            s3.create_bucket().bucket(name).send().await,
            400,
            "InvalidBucketName",
            INVALID_BUCKET_NAME,
        );
        assert_eq!(failure.field("BucketName").as_deref(), Some(name), "{name}");
    }
    let names: Vec<String> = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    assert_eq!(names, ["0-first", BUCKET, "zz-last"]);

    // HeadBucket: the region; a missing bucket is a bare 404.
    let head = s3.head_bucket().bucket(BUCKET).send().await.unwrap();
    assert_eq!(head.bucket_region(), Some("us-east-1"));
    let error = s3
        .head_bucket()
        .bucket("no-such-bucket")
        .send()
        .await
        .unwrap_err();
    assert!(
        error.as_service_error().is_some_and(|e| e.is_not_found()),
        "{error:?}"
    );
    assert_head_failure(s3.head_bucket().bucket("no-such-bucket").send().await, 404);

    // DeleteBucket: only when empty.
    put(&s3, BUCKET, "keep.txt", b"keep").await;
    let failure = assert_failure(
        s3.delete_bucket().bucket(BUCKET).send().await,
        409,
        "BucketNotEmpty",
        "The bucket you tried to delete is not empty",
    );
    assert_eq!(failure.field("BucketName").as_deref(), Some(BUCKET));
    assert_eq!(get_bytes(&s3, BUCKET, "keep.txt").await, b"keep");
    s3.delete_object()
        .bucket(BUCKET)
        .key("keep.txt")
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket(BUCKET).send().await.unwrap();
    assert_head_failure(s3.head_bucket().bucket(BUCKET).send().await, 404);
    assert_no_such_bucket(s3.delete_bucket().bucket(BUCKET).send().await, BUCKET);
    assert_no_such_bucket(s3.list_objects_v2().bucket(BUCKET).send().await, BUCKET);
    let listed = s3.list_buckets().send().await.unwrap();
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["0-first", "zz-last"]);

    // The name is free again, and the new bucket starts empty with the defaults.
    create_bucket(&s3, BUCKET).await;
    let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    assert!(listed.contents().is_empty());
    assert_eq!(
        default_encryption(&s3, BUCKET).await,
        ("AES256".to_owned(), None, Some(false))
    );
}

#[tokio::test]
async fn bucket_default_encryption() {
    let (harness, s3) = start().await;
    let key = user_key(&harness).await;

    // SSE-S3 by default.
    assert_eq!(
        default_encryption(&s3, BUCKET).await,
        ("AES256".to_owned(), None, Some(false))
    );
    let plain = put(&s3, BUCKET, "before.txt", FOX).await;
    assert_eq!(
        plain.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(plain.ssekms_key_id(), None);
    assert_eq!(plain.e_tag(), Some(MD5_FOX));

    // aws:kms with a key id and a bucket key: objects put with no SSE headers use it.
    s3.put_bucket_encryption()
        .bucket(BUCKET)
        .server_side_encryption_configuration(encryption_rule(
            ServerSideEncryption::AwsKms,
            Some(&key.key_id),
            true,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        default_encryption(&s3, BUCKET).await,
        ("aws:kms".to_owned(), Some(key.key_id.clone()), Some(true))
    );
    let stored = put(&s3, BUCKET, "default.txt", FOX).await;
    assert_eq!(
        stored.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(stored.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(stored.bucket_key_enabled(), Some(true));
    assert_etag_shape(stored.e_tag());
    assert_ne!(stored.e_tag(), Some(MD5_FOX), "an SSE-KMS ETag is no MD5");
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("default.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(head.bucket_key_enabled(), Some(true));
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key("default.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(body_of(got).await, FOX);
    // The request's own SSE-S3 wins over the default.
    let overridden = s3
        .put_object()
        .bucket(BUCKET)
        .key("sse-s3.txt")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(FOX))
        .send()
        .await
        .unwrap();
    assert_eq!(
        overridden.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(overridden.ssekms_key_id(), None);

    // aws:kms without a key id: the account's AWS managed key alias/aws/s3.
    s3.put_bucket_encryption()
        .bucket(BUCKET)
        .server_side_encryption_configuration(encryption_rule(
            ServerSideEncryption::AwsKms,
            None,
            false,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        default_encryption(&s3, BUCKET).await,
        ("aws:kms".to_owned(), None, Some(false))
    );
    let managed = put(&s3, BUCKET, "managed.txt", b"managed").await;
    let aws_s3 = harness
        .kms
        .client(Who::Root)
        .describe_key(kms::DescribeKeyRequest {
            key_id: "alias/aws/s3".into(),
        })
        .await
        .expect("alias/aws/s3 exists after its first use")
        .into_inner()
        .key_metadata
        .unwrap();
    assert_eq!(managed.ssekms_key_id(), Some(aws_s3.arn.as_str()));
    assert_eq!(managed.bucket_key_enabled(), None, "shown only when set");

    // DeleteBucketEncryption: back to SSE-S3; what was written stays as it was.
    s3.delete_bucket_encryption()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(
        default_encryption(&s3, BUCKET).await,
        ("AES256".to_owned(), None, Some(false))
    );
    let after = put(&s3, BUCKET, "after.txt", b"").await;
    assert_eq!(
        after.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(after.ssekms_key_id(), None);
    assert_eq!(after.e_tag(), Some(MD5_EMPTY));
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("default.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(get_bytes(&s3, BUCKET, "default.txt").await, FOX);

    // A key id with AES256 is refused, and changes nothing.
    assert_failure(
        s3.put_bucket_encryption()
            .bucket(BUCKET)
            .server_side_encryption_configuration(encryption_rule(
                ServerSideEncryption::Aes256,
                Some(&key.key_id),
                false,
            ))
            .send()
            .await,
        400,
        "InvalidArgument",
        "a KMS key id is only valid with aws:kms",
    );
    assert_eq!(
        default_encryption(&s3, BUCKET).await,
        ("AES256".to_owned(), None, Some(false))
    );
    assert_no_such_bucket(
        s3.get_bucket_encryption()
            .bucket("no-such-bucket")
            .send()
            .await,
        "no-such-bucket",
    );
}

#[tokio::test]
async fn public_access_block_settings() {
    let (_harness, s3) = start().await;
    let shown =
        |output: aws_sdk_s3::operation::get_public_access_block::GetPublicAccessBlockOutput| {
            let c = output
                .public_access_block_configuration()
                .expect("a configuration")
                .clone();
            (
                c.block_public_acls(),
                c.ignore_public_acls(),
                c.block_public_policy(),
                c.restrict_public_buckets(),
            )
        };
    let all_on = (Some(true), Some(true), Some(true), Some(true));
    let block = s3
        .get_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(shown(block), all_on, "all four flags on a new bucket");

    s3.put_public_access_block()
        .bucket(BUCKET)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(false)
                .ignore_public_acls(true)
                .block_public_policy(false)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let block = s3
        .get_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(
        shown(block),
        (Some(false), Some(true), Some(false), Some(true))
    );

    // A missing flag is false, as in S3.
    s3.put_public_access_block()
        .bucket(BUCKET)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let block = s3
        .get_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(
        shown(block),
        (Some(true), Some(false), Some(false), Some(false))
    );

    s3.delete_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_failure(
        s3.get_public_access_block().bucket(BUCKET).send().await,
        404,
        "NoSuchPublicAccessBlockConfiguration",
        "The public access block configuration was not found",
    );
    // Deleting again is fine; putting one back shows it again.
    s3.delete_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    s3.put_public_access_block()
        .bucket(BUCKET)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let block = s3
        .get_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(shown(block), all_on);
    assert_no_such_bucket(
        s3.get_public_access_block()
            .bucket("no-such-bucket")
            .send()
            .await,
        "no-such-bucket",
    );
}

#[tokio::test]
async fn ownership_controls_and_bucket_acls() {
    let (harness, s3) = start().await;
    let rule_of = |output: aws_sdk_s3::operation::get_bucket_ownership_controls::GetBucketOwnershipControlsOutput| {
        let rules = output.ownership_controls().expect("controls").rules();
        assert_eq!(rules.len(), 1);
        rules[0].object_ownership().clone()
    };
    let shown = s3
        .get_bucket_ownership_controls()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(rule_of(shown), ObjectOwnership::BucketOwnerEnforced);
    let acl = s3.get_bucket_acl().bucket(BUCKET).send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(ACCOUNT));
    assert_eq!(grants_of(acl.grants()), [owner_full_control()]);

    // CreateBucket may choose the ownership and a canned ACL; Block Public Access is
    // on all the same, so a public ACL is refused and no bucket is made.
    s3.create_bucket()
        .bucket("writer-bucket")
        .object_ownership(ObjectOwnership::ObjectWriter)
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    let shown = s3
        .get_bucket_ownership_controls()
        .bucket("writer-bucket")
        .send()
        .await
        .unwrap();
    assert_eq!(rule_of(shown), ObjectOwnership::ObjectWriter);
    let block = s3
        .get_public_access_block()
        .bucket("writer-bucket")
        .send()
        .await
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        (block.block_public_acls(), block.ignore_public_acls()),
        (Some(true), Some(true))
    );
    assert_failure(
        s3.create_bucket()
            .bucket("public-bucket")
            .object_ownership(ObjectOwnership::ObjectWriter)
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
        403,
        "AccessDenied",
        ACCESS_DENIED,
    );
    assert_head_failure(s3.head_bucket().bucket("public-bucket").send().await, 404);

    // ACLs are disabled: any PutBucketAcl is refused.
    for canned in [BucketCannedAcl::PublicRead, BucketCannedAcl::Private] {
        assert_failure(
            s3.put_bucket_acl().bucket(BUCKET).acl(canned).send().await,
            400,
            "AccessControlListNotSupported",
            ACLS_NOT_SUPPORTED,
        );
    }

    for rule in [
        ObjectOwnership::ObjectWriter,
        ObjectOwnership::BucketOwnerEnforced,
        ObjectOwnership::BucketOwnerPreferred,
    ] {
        set_ownership(&s3, BUCKET, rule.clone()).await;
        let shown = s3
            .get_bucket_ownership_controls()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        assert_eq!(rule_of(shown), rule);
    }

    // ACLs on, Block Public Access still on: a public ACL is refused, a private one taken.
    assert_failure(
        s3.put_bucket_acl()
            .bucket(BUCKET)
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
        403,
        "AccessDenied",
        ACCESS_DENIED,
    );
    s3.put_bucket_acl()
        .bucket(BUCKET)
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();

    // Block Public Access off: public-read, and anonymous callers may list.
    s3.delete_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    put(&s3, BUCKET, "listed.txt", b"listed").await;
    let bucket_url = format!("{}/{BUCKET}", harness.s3_endpoint());
    let refused = http().get(&bucket_url).send().await.unwrap();
    let (status, xml) = http_failure(refused).await;
    assert_eq!(status, 403);
    assert_eq!(xml_field(&xml, "Code").as_deref(), Some("AccessDenied"));
    s3.put_bucket_acl()
        .bucket(BUCKET)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let acl = s3.get_bucket_acl().bucket(BUCKET).send().await.unwrap();
    assert_eq!(
        grants_of(acl.grants()),
        [owner_full_control(), all_users_read()]
    );
    let listing = http().get(&bucket_url).send().await.unwrap();
    assert_eq!(listing.status(), 200);
    let xml = listing.text().await.unwrap();
    assert_eq!(
        xml_field(&xml, "Key").as_deref(),
        Some("listed.txt"),
        "{xml}"
    );

    // An AccessControlPolicy: the owner's full control only, private again.
    s3.put_bucket_acl()
        .bucket(BUCKET)
        .access_control_policy(policy(vec![owner_grant(Permission::FullControl)]))
        .send()
        .await
        .unwrap();
    let acl = s3.get_bucket_acl().bucket(BUCKET).send().await.unwrap();
    assert_eq!(grants_of(acl.grants()), [owner_full_control()]);
    assert_eq!(http().get(&bucket_url).send().await.unwrap().status(), 403);

    // BucketOwnerEnforced again: the ACL reads as the owner's, and is refused.
    s3.put_bucket_acl()
        .bucket(BUCKET)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    set_ownership(&s3, BUCKET, ObjectOwnership::BucketOwnerEnforced).await;
    let acl = s3.get_bucket_acl().bucket(BUCKET).send().await.unwrap();
    assert_eq!(grants_of(acl.grants()), [owner_full_control()]);
    assert_eq!(http().get(&bucket_url).send().await.unwrap().status(), 403);
    assert_failure(
        s3.put_bucket_acl()
            .bucket(BUCKET)
            .access_control_policy(policy(vec![owner_grant(Permission::FullControl)]))
            .send()
            .await,
        400,
        "AccessControlListNotSupported",
        ACLS_NOT_SUPPORTED,
    );
}

// ---------------------------------------------------------------------------
// PutObject, GetObject, HeadObject
// ---------------------------------------------------------------------------

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
            let got = s3
                .get_object()
                .bucket(BUCKET)
                .key(&name)
                .send()
                .await
                .unwrap();
            assert_eq!(got.content_length(), Some(size as i64), "{name}");
            assert_eq!(got.e_tag(), stored.e_tag(), "{name}");
            assert_eq!(got.content_range(), None, "{name}");
            let bytes = body_of(got).await;
            assert!(bytes == body, "{name}: the bytes differ");
            let head = s3
                .head_object()
                .bucket(BUCKET)
                .key(&name)
                .send()
                .await
                .unwrap();
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

    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("headers.txt")
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key("headers.txt")
        .send()
        .await
        .unwrap();
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
    let stored_head = s3
        .head_object()
        .bucket(BUCKET)
        .key("headers.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored_head.content_type(),
        Some("text/plain; charset=utf-8"),
        "only the response changes"
    );

    // An overwrite replaces them all. (The SDK sends application/octet-stream when
    // given no content type.)
    put(&s3, BUCKET, "headers.txt", b"again").await;
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("headers.txt")
        .send()
        .await
        .unwrap();
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
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("bare.bin")
        .send()
        .await
        .unwrap();
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
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("s3.bin")
        .send()
        .await
        .unwrap();
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
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("kms.bin")
        .send()
        .await
        .unwrap();
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
        let head = s3
            .head_object()
            .bucket(BUCKET)
            .key(*key)
            .send()
            .await
            .unwrap();
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

// ---------------------------------------------------------------------------
// Deletes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn delete_object_and_delete_objects() {
    let (_harness, s3) = start().await;
    put(&s3, BUCKET, "gone.txt", b"gone").await;

    // 204, whether the key was there or not.
    for key in ["gone.txt", "gone.txt", "never-existed"] {
        let presigned = s3
            .delete_object()
            .bucket(BUCKET)
            .key(key)
            .presigned(presigning())
            .await
            .unwrap();
        let response = send_presigned(&presigned, None).await;
        assert_eq!(response.status(), 204, "{key}");
        assert!(response.headers().contains_key("x-amz-request-id"));
    }
    assert_no_such_key(
        s3.get_object().bucket(BUCKET).key("gone.txt").send().await,
        "gone.txt",
    );
    s3.delete_object()
        .bucket(BUCKET)
        .key("never-existed")
        .send()
        .await
        .expect("deleting a missing key succeeds");
    assert_no_such_bucket(
        s3.delete_object()
            .bucket("no-such-bucket")
            .key("k")
            .send()
            .await,
        "no-such-bucket",
    );

    // DeleteObjects, not quiet: every key named is reported deleted, missing ones too.
    for key in ["a", "b", "c", "d", "e"] {
        put(&s3, BUCKET, key, key.as_bytes()).await;
    }
    let identifiers = |keys: &[&str]| -> Delete {
        Delete::builder()
            .set_objects(Some(
                keys.iter()
                    .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
                    .collect(),
            ))
            .build()
            .unwrap()
    };
    let deleted = s3
        .delete_objects()
        .bucket(BUCKET)
        .delete(identifiers(&["a", "c", "missing"]))
        .send()
        .await
        .unwrap();
    let mut keys: Vec<&str> = deleted.deleted().iter().filter_map(|d| d.key()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["a", "c", "missing"]);
    assert!(deleted.errors().is_empty(), "{:?}", deleted.errors());
    let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let left: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(left, ["b", "d", "e"]);

    // Quiet: nothing reported, the keys gone all the same.
    let mut delete = identifiers(&["b", "e"]);
    delete.quiet = Some(true);
    let deleted = s3
        .delete_objects()
        .bucket(BUCKET)
        .delete(delete)
        .send()
        .await
        .unwrap();
    assert!(deleted.deleted().is_empty(), "{:?}", deleted.deleted());
    assert!(deleted.errors().is_empty(), "{:?}", deleted.errors());
    let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let left: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(left, ["d"]);
    assert_eq!(get_bytes(&s3, BUCKET, "d").await, b"d");

    assert_no_such_bucket(
        s3.delete_objects()
            .bucket("no-such-bucket")
            .delete(identifiers(&["d"]))
            .send()
            .await,
        "no-such-bucket",
    );
}

// ---------------------------------------------------------------------------
// Listings
// ---------------------------------------------------------------------------

const LIST_KEYS: [&str; 7] = ["a.txt", "b/1", "b/2", "b/c/3", "c/1", "d", "e"];

async fn listing_bucket() -> (ObjectHarness, Client) {
    let (harness, s3) = start().await;
    for (i, key) in LIST_KEYS.iter().enumerate() {
        put(&s3, BUCKET, key, &seeded_bytes(i, i as u32)).await;
    }
    (harness, s3)
}

fn keys_v2(output: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output) -> Vec<String> {
    output
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

fn prefixes_v2(
    output: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output,
) -> Vec<String> {
    output
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn list_objects_v2() {
    let (_harness, s3) = listing_bucket().await;
    let list = || s3.list_objects_v2().bucket(BUCKET);

    let all = list().send().await.unwrap();
    assert_eq!(keys_v2(&all), LIST_KEYS);
    assert_eq!(
        (
            all.name(),
            all.key_count(),
            all.max_keys(),
            all.is_truncated()
        ),
        (Some(BUCKET), Some(7), Some(1000), Some(false))
    );
    assert_eq!(all.next_continuation_token(), None);
    for (i, object) in all.contents().iter().enumerate() {
        assert_eq!(object.size(), Some(i as i64), "{object:?}");
        assert_etag_shape(object.e_tag());
        assert_eq!(object.storage_class().map(|c| c.as_str()), Some("STANDARD"));
        assert!(object.last_modified().is_some());
        assert!(object.owner().is_none(), "no owner without fetch-owner");
    }
    let owned = list().prefix("b/").fetch_owner(true).send().await.unwrap();
    assert!(
        owned
            .contents()
            .iter()
            .all(|o| o.owner().and_then(|owner| owner.id()) == Some(ACCOUNT))
    );

    // Prefix, delimiter, both.
    let by_prefix = list().prefix("b/").send().await.unwrap();
    assert_eq!(keys_v2(&by_prefix), ["b/1", "b/2", "b/c/3"]);
    assert_eq!(by_prefix.prefix(), Some("b/"));
    assert!(prefixes_v2(&by_prefix).is_empty());
    let top = list().delimiter("/").send().await.unwrap();
    assert_eq!(keys_v2(&top), ["a.txt", "d", "e"]);
    assert_eq!(prefixes_v2(&top), ["b/", "c/"]);
    assert_eq!((top.key_count(), top.delimiter()), (Some(5), Some("/")));
    let under_b = list().prefix("b/").delimiter("/").send().await.unwrap();
    assert_eq!(keys_v2(&under_b), ["b/1", "b/2"]);
    assert_eq!(prefixes_v2(&under_b), ["b/c/"]);
    assert!(keys_v2(&list().prefix("nothing").send().await.unwrap()).is_empty());

    // max-keys 3 over 7 keys: three pages, each token leading to the next.
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = list()
            .max_keys(3)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(page.max_keys(), Some(3));
        assert_eq!(page.continuation_token(), token.as_deref());
        assert_eq!(page.key_count(), Some(page.contents().len() as i32));
        pages.push(keys_v2(&page));
        assert!(pages.len() <= 3, "pagination does not end: {pages:?}");
        if page.is_truncated() == Some(true) {
            token = Some(
                page.next_continuation_token()
                    .expect("a truncated page has a token")
                    .to_owned(),
            );
        } else {
            assert_eq!(page.next_continuation_token(), None);
            break;
        }
    }
    assert_eq!(
        pages,
        [
            vec!["a.txt", "b/1", "b/2"],
            vec!["b/c/3", "c/1", "d"],
            vec!["e"],
        ]
    );
    // The SDK's paginator walks the same pages.
    let mut paginated = Vec::new();
    let mut paginator = list().max_keys(2).into_paginator().send();
    while let Some(page) = paginator.next().await {
        paginated.extend(keys_v2(&page.unwrap()));
    }
    assert_eq!(paginated, LIST_KEYS);

    // start-after: keys after it (it need not exist); with a delimiter, a common
    // prefix named by start-after is skipped whole.
    let after = list().start_after("b/2").send().await.unwrap();
    assert_eq!(keys_v2(&after), ["b/c/3", "c/1", "d", "e"]);
    assert_eq!(after.start_after(), Some("b/2"));
    let after = list().start_after("b/10").send().await.unwrap();
    assert_eq!(keys_v2(&after), ["b/2", "b/c/3", "c/1", "d", "e"]);
    let after = list()
        .start_after("b/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(keys_v2(&after), ["d", "e"]);
    assert_eq!(prefixes_v2(&after), ["c/"]);

    // max-keys 0 and -1, a bad token, a missing bucket.
    let none = list().max_keys(0).send().await.unwrap();
    assert_eq!(
        (none.key_count(), none.is_truncated(), none.contents().len()),
        (Some(0), Some(false), 0)
    );
    let failure = assert_failure(
        list().max_keys(-1).send().await,
        400,
        "InvalidArgument",
        "Argument maxKeys must be an integer between 0 and 2147483647",
    );
    assert_eq!(failure.field("ArgumentName").as_deref(), Some("maxKeys"));
    assert_eq!(failure.field("ArgumentValue").as_deref(), Some("-1"));
    let failure = assert_failure(
        list().continuation_token("AA").send().await,
        400,
        "InvalidArgument",
        "The continuation token provided is incorrect",
    );
    assert_eq!(
        failure.field("ArgumentName").as_deref(),
        Some("continuation-token")
    );
    assert_eq!(failure.field("ArgumentValue").as_deref(), Some("AA"));
    assert_no_such_bucket(
        s3.list_objects_v2().bucket("no-such-bucket").send().await,
        "no-such-bucket",
    );
}

#[tokio::test]
async fn list_objects_v1() {
    let (_harness, s3) = listing_bucket().await;
    let list = || s3.list_objects().bucket(BUCKET);
    let keys = |output: &aws_sdk_s3::operation::list_objects::ListObjectsOutput| -> Vec<String> {
        output
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    };
    let prefixes =
        |output: &aws_sdk_s3::operation::list_objects::ListObjectsOutput| -> Vec<String> {
            output
                .common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned))
                .collect()
        };

    let all = list().send().await.unwrap();
    assert_eq!(keys(&all), LIST_KEYS);
    assert_eq!(all.is_truncated(), Some(false));
    assert_eq!(all.next_marker(), None);
    // V1 always names the owner.
    assert!(
        all.contents()
            .iter()
            .all(|o| o.owner().and_then(|owner| owner.id()) == Some(ACCOUNT))
    );

    // A marker: the keys after it.
    let after = list().marker("b/2").send().await.unwrap();
    assert_eq!(keys(&after), ["b/c/3", "c/1", "d", "e"]);
    assert_eq!(after.marker(), Some("b/2"));

    // Without a delimiter a truncated page has no NextMarker: the last key is the marker.
    let first = list().max_keys(3).send().await.unwrap();
    assert_eq!(keys(&first), ["a.txt", "b/1", "b/2"]);
    assert_eq!(first.is_truncated(), Some(true));
    assert_eq!(first.next_marker(), None);
    let second = list().max_keys(3).marker("b/2").send().await.unwrap();
    assert_eq!(keys(&second), ["b/c/3", "c/1", "d"]);

    // With a delimiter, NextMarker (a key or a common prefix) leads on, visiting
    // every key and prefix once.
    let mut seen: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    for page_number in 0.. {
        assert!(page_number < 5, "pagination does not end: {seen:?}");
        let page = list()
            .delimiter("/")
            .max_keys(2)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        seen.extend(keys(&page));
        seen.extend(prefixes(&page));
        if page.is_truncated() != Some(true) {
            assert_eq!(page.next_marker(), None);
            break;
        }
        marker = Some(
            page.next_marker()
                .expect("a NextMarker with a delimiter")
                .to_owned(),
        );
    }
    seen.sort();
    assert_eq!(seen, ["a.txt", "b/", "c/", "d", "e"]);
    let page = list().delimiter("/").max_keys(2).send().await.unwrap();
    assert_eq!(
        (keys(&page), prefixes(&page), page.next_marker()),
        (vec!["a.txt".to_owned()], vec!["b/".to_owned()], Some("b/"))
    );
    assert_no_such_bucket(
        s3.list_objects().bucket("no-such-bucket").send().await,
        "no-such-bucket",
    );
}

// ---------------------------------------------------------------------------
// CopyObject
// ---------------------------------------------------------------------------

#[tokio::test]
async fn copy_object_in_and_across_buckets() {
    let (harness, s3) = start().await;
    let key = user_key(&harness).await;
    create_bucket(&s3, OTHER).await;
    let body = seeded_bytes(300_000, 11);
    let source = s3
        .put_object()
        .bucket(BUCKET)
        .key("src/s3.bin")
        .content_type("application/x-test")
        .metadata("color", "blue")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();

    // Same bucket: bytes, content type and metadata copied; SSE-S3, the same MD5 ETag.
    let copied = s3
        .copy_object()
        .bucket(BUCKET)
        .key("dst/copy.bin")
        .copy_source(format!("{BUCKET}/src/s3.bin"))
        .send()
        .await
        .unwrap();
    let result = copied.copy_object_result().expect("a CopyObjectResult");
    assert_eq!(result.e_tag(), source.e_tag());
    assert!(result.last_modified().is_some());
    assert_eq!(
        copied.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key("dst/copy.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("blue")
    );
    assert!(body_of(got).await == body);

    // REPLACE takes the request's metadata instead.
    s3.copy_object()
        .bucket(BUCKET)
        .key("dst/replaced.bin")
        .copy_source(format!("{BUCKET}/src/s3.bin"))
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .metadata("shape", "round")
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("dst/replaced.bin")
        .send()
        .await
        .unwrap();
    let expected: HashMap<String, String> = [("shape".to_owned(), "round".to_owned())].into();
    assert_eq!(head.metadata(), Some(&expected));
    assert_eq!(head.content_type(), Some("binary/octet-stream"));

    // Across buckets, SSE-S3 source to an SSE-KMS destination.
    let copied = s3
        .copy_object()
        .bucket(OTHER)
        .key("kms.bin")
        .copy_source(format!("{BUCKET}/src/s3.bin"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key.key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        copied.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(copied.ssekms_key_id(), Some(key.arn.as_str()));
    let kms_etag = copied
        .copy_object_result()
        .unwrap()
        .e_tag()
        .map(str::to_owned);
    assert_etag_shape(kms_etag.as_deref());
    assert_ne!(kms_etag.as_deref(), source.e_tag());
    let got = s3
        .get_object()
        .bucket(OTHER)
        .key("kms.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(got.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(got.e_tag(), kms_etag.as_deref());
    assert!(body_of(got).await == body, "the copied bytes differ");

    // And back, with no SSE headers: the destination bucket's default, SSE-S3.
    let back = s3
        .copy_object()
        .bucket(BUCKET)
        .key("dst/back.bin")
        .copy_source(format!("/{OTHER}/kms.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        back.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(back.ssekms_key_id(), None);
    assert_eq!(back.copy_object_result().unwrap().e_tag(), source.e_tag());
    assert!(get_bytes(&s3, BUCKET, "dst/back.bin").await == body);

    // A missing source key or bucket; a copy onto itself that changes nothing.
    assert_no_such_key(
        s3.copy_object()
            .bucket(BUCKET)
            .key("dst/none")
            .copy_source(format!("{BUCKET}/src/missing"))
            .send()
            .await,
        "src/missing",
    );
    assert_no_such_bucket(
        s3.copy_object()
            .bucket(BUCKET)
            .key("dst/none")
            .copy_source("no-such-bucket/src/s3.bin")
            .send()
            .await,
        "no-such-bucket",
    );
    assert_no_such_bucket(
        s3.copy_object()
            .bucket("no-such-bucket")
            .key("dst/none")
            .copy_source(format!("{BUCKET}/src/s3.bin"))
            .send()
            .await,
        "no-such-bucket",
    );
    assert_failure(
        s3.copy_object()
            .bucket(BUCKET)
            .key("src/s3.bin")
            .copy_source(format!("{BUCKET}/src/s3.bin"))
            .send()
            .await,
        400,
        "InvalidRequest",
        "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
    assert_head_failure(
        s3.head_object().bucket(BUCKET).key("dst/none").send().await,
        404,
    );
}

// ---------------------------------------------------------------------------
// Object ACLs
// ---------------------------------------------------------------------------

#[tokio::test]
async fn object_acls() {
    let (harness, s3) = start().await;
    put(&s3, BUCKET, "a.txt", b"object bytes").await;
    let url = harness.object_url(BUCKET, "a.txt");
    let acl = s3
        .get_object_acl()
        .bucket(BUCKET)
        .key("a.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(ACCOUNT));
    assert_eq!(grants_of(acl.grants()), [owner_full_control()]);

    // BucketOwnerEnforced: no ACLs, canned or on the PUT.
    assert_failure(
        s3.put_object_acl()
            .bucket(BUCKET)
            .key("a.txt")
            .acl(ObjectCannedAcl::PublicRead)
            .send()
            .await,
        400,
        "AccessControlListNotSupported",
        ACLS_NOT_SUPPORTED,
    );
    assert_failure(
        s3.put_object()
            .bucket(BUCKET)
            .key("public.txt")
            .acl(ObjectCannedAcl::PublicRead)
            .body(ByteStream::from_static(b"public"))
            .send()
            .await,
        400,
        "AccessControlListNotSupported",
        ACLS_NOT_SUPPORTED,
    );
    // The owner's full control is accepted all the same.
    s3.put_object()
        .bucket(BUCKET)
        .key("owned.txt")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(ByteStream::from_static(b"owned"))
        .send()
        .await
        .unwrap();

    // ACLs on, Block Public Access on: public-read is 403.
    set_ownership(&s3, BUCKET, ObjectOwnership::BucketOwnerPreferred).await;
    assert_failure(
        s3.put_object_acl()
            .bucket(BUCKET)
            .key("a.txt")
            .acl(ObjectCannedAcl::PublicRead)
            .send()
            .await,
        403,
        "AccessDenied",
        ACCESS_DENIED,
    );
    assert_eq!(http().get(&url).send().await.unwrap().status(), 403);

    // Block Public Access off: canned public-read, readable by its URL.
    s3.delete_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    s3.put_object_acl()
        .bucket(BUCKET)
        .key("a.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let acl = s3
        .get_object_acl()
        .bucket(BUCKET)
        .key("a.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        grants_of(acl.grants()),
        [owner_full_control(), all_users_read()]
    );
    let opened = http().get(&url).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    assert_eq!(opened.bytes().await.unwrap().as_ref(), b"object bytes");

    // An AccessControlPolicy: owner only (private), then AllUsers READ again.
    s3.put_object_acl()
        .bucket(BUCKET)
        .key("a.txt")
        .access_control_policy(policy(vec![owner_grant(Permission::FullControl)]))
        .send()
        .await
        .unwrap();
    let acl = s3
        .get_object_acl()
        .bucket(BUCKET)
        .key("a.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(grants_of(acl.grants()), [owner_full_control()]);
    let (status, xml) = http_failure(http().get(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, xml_field(&xml, "Code").as_deref()),
        (403, Some("AccessDenied"))
    );
    s3.put_object_acl()
        .bucket(BUCKET)
        .key("a.txt")
        .access_control_policy(policy(vec![
            owner_grant(Permission::FullControl),
            all_users_grant(Permission::Read),
        ]))
        .send()
        .await
        .unwrap();
    let acl = s3
        .get_object_acl()
        .bucket(BUCKET)
        .key("a.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        grants_of(acl.grants()),
        [owner_full_control(), all_users_read()]
    );
    assert_eq!(http().get(&url).send().await.unwrap().status(), 200);

    // A public-read PutObject now works; missing objects have no ACL.
    s3.put_object()
        .bucket(BUCKET)
        .key("public.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"public"))
        .send()
        .await
        .unwrap();
    let opened = http()
        .get(harness.object_url(BUCKET, "public.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);
    assert_no_such_key(
        s3.get_object_acl()
            .bucket(BUCKET)
            .key("missing")
            .send()
            .await,
        "missing",
    );
    assert_no_such_key(
        s3.put_object_acl()
            .bucket(BUCKET)
            .key("missing")
            .acl(ObjectCannedAcl::Private)
            .send()
            .await,
        "missing",
    );
}

// ---------------------------------------------------------------------------
// SSE headers and KMS refusals
// ---------------------------------------------------------------------------

/// The encryption context kms-svc saw on a GenerateDataKey for `object_arn`.
async fn context_sent_to_kms(harness: &ObjectHarness, object_arn: &str) -> serde_json::Value {
    for _ in 0..200 {
        let found = harness.kms.sink.events().into_iter().find(|e| {
            e.event_name == "GenerateDataKey"
                && e.request_parameters["encryptionContext"]["aws:s3:arn"] == object_arn
        });
        if let Some(event) = found {
            return event.request_parameters["encryptionContext"].clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no GenerateDataKey for {object_arn}");
}

#[tokio::test]
async fn sse_kms_headers() {
    let (harness, s3) = start().await;
    let key = user_key(&harness).await;
    harness
        .kms
        .client(Who::User1)
        .create_alias(kms::CreateAliasRequest {
            alias_name: "alias/ops-key".into(),
            target_key_id: key.key_id.clone(),
        })
        .await
        .unwrap();

    // An alias, by name and by ARN: the response names the key by its ARN.
    for (object, key_id) in [
        ("by-alias.txt", "alias/ops-key".to_owned()),
        (
            "by-alias-arn.txt",
            format!("{KMS_ARN_PREFIX}:alias/ops-key"),
        ),
        ("by-id.txt", key.key_id.clone()),
    ] {
        let stored = put_kms(&s3, BUCKET, object, &key_id, b"kms bytes").await;
        assert_eq!(
            stored.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms)
        );
        assert_eq!(stored.ssekms_key_id(), Some(key.arn.as_str()), "{key_id}");
        let got = s3
            .get_object()
            .bucket(BUCKET)
            .key(object)
            .send()
            .await
            .unwrap();
        assert_eq!(got.ssekms_key_id(), Some(key.arn.as_str()));
        assert_eq!(body_of(got).await, b"kms bytes");
    }
    // The header itself, as a plain HTTP client receives it.
    let presigned = s3
        .head_object()
        .bucket(BUCKET)
        .key("by-alias.txt")
        .presigned(presigning())
        .await
        .unwrap();
    let response = send_presigned(&presigned, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-amz-server-side-encryption"],
        "aws:kms"
    );
    assert_eq!(
        response.headers()["x-amz-server-side-encryption-aws-kms-key-id"],
        key.arn.as_str()
    );

    // The bucket key flag on the request is kept and shown.
    let stored = s3
        .put_object()
        .bucket(BUCKET)
        .key("bucket-key.txt")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key.key_id)
        .bucket_key_enabled(true)
        .body(ByteStream::from_static(b"bucket key"))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.bucket_key_enabled(), Some(true));
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key("bucket-key.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.bucket_key_enabled(), Some(true));
    assert_eq!(body_of(got).await, b"bucket key");

    // An encryption context: base64 JSON; the service adds aws:s3:arn, and the GET
    // (which does not resend it) still opens the object.
    let context = base64::engine::general_purpose::STANDARD.encode(r#"{"purpose":"ops-test"}"#);
    let stored = s3
        .put_object()
        .bucket(BUCKET)
        .key("context.txt")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key.key_id)
        .ssekms_encryption_context(&context)
        .body(ByteStream::from_static(b"with context"))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.ssekms_key_id(), Some(key.arn.as_str()));
    let object_arn = format!("arn:aws:s3:::{BUCKET}/context.txt");
    assert_eq!(
        context_sent_to_kms(&harness, &object_arn).await,
        serde_json::json!({"purpose": "ops-test", "aws:s3:arn": object_arn})
    );
    assert_eq!(get_bytes(&s3, BUCKET, "context.txt").await, b"with context");

    // Refusals; none of them writes anything.
    let put_with = |object: &str| {
        s3.put_object()
            .bucket(BUCKET)
            .key(object)
            .body(ByteStream::from_static(b"refused"))
    };
    let failure = assert_failure(
        put_with("bad-context.txt")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&key.key_id)
            .ssekms_encryption_context("not base64!")
            .send()
            .await,
        400,
        "InvalidArgument",
        BAD_CONTEXT,
    );
    assert_eq!(
        failure.field("ArgumentName").as_deref(),
        Some("x-amz-server-side-encryption-context")
    );
    let not_a_map = base64::engine::general_purpose::STANDARD.encode(r#"["a","b"]"#);
    assert_failure(
        put_with("bad-context.txt")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_encryption_context(&not_a_map)
            .send()
            .await,
        400,
        "InvalidArgument",
        BAD_CONTEXT,
    );
    let failure = assert_failure(
        put_with("bogus.txt")
            .server_side_encryption(ServerSideEncryption::from("bogus"))
            .send()
            .await,
        400,
        "InvalidArgument",
        NOT_SUPPORTED,
    );
    assert_eq!(
        failure.field("ArgumentName").as_deref(),
        Some("x-amz-server-side-encryption")
    );
    assert_eq!(failure.field("ArgumentValue").as_deref(), Some("bogus"));
    assert_failure(
        put_with("no-sse.txt")
            .ssekms_key_id(&key.key_id)
            .send()
            .await,
        400,
        "InvalidArgument",
        KMS_NEEDS_HEADER,
    );
    assert_failure(
        put_with("aes-with-key.txt")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .ssekms_key_id(&key.key_id)
            .send()
            .await,
        400,
        "InvalidArgument",
        KMS_NEEDS_HEADER,
    );
    assert_failure(
        put_with("aes-with-context.txt")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .ssekms_encryption_context(&context)
            .send()
            .await,
        400,
        "InvalidArgument",
        KMS_NEEDS_HEADER,
    );
    // Unknown keys: by id, by ARN, malformed, an unknown alias.
    let missing = uuid::Uuid::new_v4().to_string();
    let does_not_exist = format!("Key '{KMS_ARN_PREFIX}:key/{missing}' does not exist");
    for (key_id, message) in [
        (missing.clone(), does_not_exist.clone()),
        (format!("{KMS_ARN_PREFIX}:key/{missing}"), does_not_exist),
        ("nope".to_owned(), "Invalid keyId 'nope'".to_owned()),
        (
            "alias/nope".to_owned(),
            format!("Alias '{KMS_ARN_PREFIX}:alias/nope' is not found."),
        ),
    ] {
        assert_failure(
            put_with("unknown-key.txt")
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(&key_id)
                .send()
                .await,
            400,
            "KMS.NotFoundException",
            &message,
        );
    }
    for object in [
        "bad-context.txt",
        "bogus.txt",
        "no-sse.txt",
        "aes-with-key.txt",
        "aes-with-context.txt",
        "unknown-key.txt",
    ] {
        assert_no_such_key(
            s3.get_object().bucket(BUCKET).key(object).send().await,
            object,
        );
    }
}

#[tokio::test]
async fn a_disabled_key_refuses_put_and_get() {
    let (harness, s3) = start().await;
    let key = user_key(&harness).await;
    put_kms(&s3, BUCKET, "kms.txt", &key.key_id, b"kms bytes").await;
    let mut kms_user = harness.kms.client(Who::User1);
    kms_user
        .disable_key(kms::DisableKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
    let disabled = format!("{} is disabled.", key.arn);

    assert_failure(
        s3.get_object().bucket(BUCKET).key("kms.txt").send().await,
        400,
        "KMS.DisabledException",
        &disabled,
    );
    assert_failure(
        s3.put_object()
            .bucket(BUCKET)
            .key("new.txt")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&key.arn)
            .body(ByteStream::from_static(b"new"))
            .send()
            .await,
        400,
        "KMS.DisabledException",
        &disabled,
    );
    assert_no_such_key(
        s3.get_object().bucket(BUCKET).key("new.txt").send().await,
        "new.txt",
    );
    // CopyObject decrypts its source first: the same refusal.
    assert_failure(
        s3.copy_object()
            .bucket(BUCKET)
            .key("copy.txt")
            .copy_source(format!("{BUCKET}/kms.txt"))
            .send()
            .await,
        400,
        "KMS.DisabledException",
        &disabled,
    );
    // HeadObject needs no Decrypt.
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("kms.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(head.content_length(), Some(9));

    kms_user
        .enable_key(kms::EnableKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(get_bytes(&s3, BUCKET, "kms.txt").await, b"kms bytes");
}

// ---------------------------------------------------------------------------
// Error documents and anonymous callers
// ---------------------------------------------------------------------------

#[tokio::test]
async fn error_documents_as_a_browser_sees_them() {
    let (_harness, s3) = start().await;
    let presigned = s3
        .get_object()
        .bucket(BUCKET)
        .key("dir/missing.txt")
        .presigned(presigning())
        .await
        .unwrap();
    let (status, xml) = http_failure(send_presigned(&presigned, None).await).await;
    assert_eq!(status, 404);
    assert_eq!(
        xml_field(&xml, "Code").as_deref(),
        Some("NoSuchKey"),
        "{xml}"
    );
    assert_eq!(xml_field(&xml, "Message").as_deref(), Some(NO_SUCH_KEY));
    assert_eq!(xml_field(&xml, "Key").as_deref(), Some("dir/missing.txt"));
    assert!(xml_field(&xml, "HostId").is_some());

    let presigned = s3
        .get_object()
        .bucket("no-such-bucket")
        .key("a.txt")
        .presigned(presigning())
        .await
        .unwrap();
    let (status, xml) = http_failure(send_presigned(&presigned, None).await).await;
    assert_eq!(status, 404);
    assert_eq!(
        xml_field(&xml, "Code").as_deref(),
        Some("NoSuchBucket"),
        "{xml}"
    );
    assert_eq!(xml_field(&xml, "Message").as_deref(), Some(NO_SUCH_BUCKET));
    assert_eq!(
        xml_field(&xml, "BucketName").as_deref(),
        Some("no-such-bucket")
    );

    // A presigned PUT refused for its SSE header: the argument is named.
    let presigned = s3
        .put_object()
        .bucket(BUCKET)
        .key("bogus.txt")
        .server_side_encryption(ServerSideEncryption::from("bogus"))
        .presigned(presigning())
        .await
        .unwrap();
    let (status, xml) =
        http_failure(send_presigned(&presigned, Some(b"bytes".to_vec())).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        xml_field(&xml, "Code").as_deref(),
        Some("InvalidArgument"),
        "{xml}"
    );
    assert_eq!(xml_field(&xml, "Message").as_deref(), Some(NOT_SUPPORTED));
    assert_eq!(
        xml_field(&xml, "ArgumentName").as_deref(),
        Some("x-amz-server-side-encryption")
    );
    assert_eq!(xml_field(&xml, "ArgumentValue").as_deref(), Some("bogus"));

    // The SDK reads the same request id.
    use aws_sdk_s3::operation::RequestId;
    let error = s3
        .get_object()
        .bucket(BUCKET)
        .key("missing")
        .send()
        .await
        .unwrap_err();
    let failure = failure(&error);
    assert_eq!(error.request_id(), Some(failure.request_id.as_str()));
}

#[tokio::test]
async fn an_anonymous_put_is_refused_and_writes_nothing() {
    let (harness, s3) = start().await;
    put(&s3, BUCKET, "existing.txt", b"original").await;
    for key in ["anonymous.txt", "existing.txt"] {
        let response = http()
            .put(harness.object_url(BUCKET, key))
            .body(b"anonymous bytes".to_vec())
            .send()
            .await
            .unwrap();
        let (status, xml) = http_failure(response).await;
        assert_eq!(status, 403, "{key}");
        assert_eq!(
            xml_field(&xml, "Code").as_deref(),
            Some("AccessDenied"),
            "{xml}"
        );
        assert_eq!(xml_field(&xml, "Message").as_deref(), Some(ACCESS_DENIED));
    }
    assert_no_such_key(
        s3.get_object()
            .bucket(BUCKET)
            .key("anonymous.txt")
            .send()
            .await,
        "anonymous.txt",
    );
    assert_eq!(get_bytes(&s3, BUCKET, "existing.txt").await, b"original");
    let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    assert_eq!(keys_v2(&listed), ["existing.txt"]);
    // Nor may an anonymous caller delete.
    let response = http()
        .delete(harness.object_url(BUCKET, "existing.txt"))
        .send()
        .await
        .unwrap();
    let (status, _) = http_failure(response).await;
    assert_eq!(status, 403);
    assert_eq!(get_bytes(&s3, BUCKET, "existing.txt").await, b"original");
}

// ---------------------------------------------------------------------------
// Endpoint differences that were found and fixed: each test collects every case
// that differs from S3, so its failure lists them all. The one still ignored is a
// known s3s 0.14 limitation, named in its ignore reason.
// ---------------------------------------------------------------------------

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
