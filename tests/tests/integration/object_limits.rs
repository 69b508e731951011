//! S3's limits on every object-svc request field, over gRPC and the S3 endpoint,
//! checked before the call's record names the bucket or the domain does any work: an
//! oversized field gets S3's error code and message, never a success, a 500, a lost
//! connection or an error as large as the request.

use keyhold_proto::object::v1::*;
use keyhold_tests::texts::INVALID_BUCKET_NAME;
use keyhold_tests::{
    ObjectClient, ObjectHarness, Who,
    object::{assert_s3_error, get, get_object, pairs, put, put_header},
    s3::sdk_error,
};
use tonic::Code;

const BUCKET: &str = "limits-bucket";
const HEADERS_TOO_LARGE: &str = "The request header and query parameters used to make the request exceed the maximum allowed size.";
const METADATA_TOO_LARGE: &str = "Your metadata headers exceed the maximum allowed metadata size.";
const CONTEXT: &str = "x-amz-server-side-encryption-context";

async fn start() -> (ObjectHarness, ObjectClient) {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    user.create_bucket(CreateBucketRequest {
        bucket: BUCKET.into(),
        object_ownership: "BucketOwnerPreferred".into(),
        ..Default::default()
    })
    .await
    .expect("create the bucket");
    (harness, user)
}

#[track_caller]
fn invalid_bucket<T: std::fmt::Debug>(result: Result<T, tonic::Status>, shown: Option<&str>) {
    let fields: Vec<(&str, &str)> = shown.map(|name| ("BucketName", name)).into_iter().collect();
    assert_s3_error(
        result,
        Code::InvalidArgument,
        "InvalidBucketName",
        INVALID_BUCKET_NAME,
        &fields,
    );
}

#[track_caller]
fn headers_too_large<T: std::fmt::Debug>(result: Result<T, tonic::Status>) {
    assert_s3_error(
        result,
        Code::InvalidArgument,
        "RequestHeaderSectionTooLarge",
        HEADERS_TOO_LARGE,
        &[],
    );
}

/// Issue 12's repro: a raw GetObject whose bucket is 3,000,000 bytes of 0x01. The
/// name came back whole in the error, which the client's HTTP/2 refused (the
/// connection was lost), and the record was built around it.
#[tokio::test]
async fn a_3_mb_bucket_name_is_an_invalid_bucket_name() {
    let (harness, mut user) = start().await;
    let huge = "\u{1}".repeat(3_000_000);
    invalid_bucket(get(&mut user, &huge, "k").await.map(|_| ()), None);
    // The connection is still there, and the record names no bucket.
    put(&mut user, put_header(BUCKET, "k"), b"still here")
        .await
        .expect("the same client goes on");
    let events = harness.events_at_least(3).await;
    let refused = events
        .iter()
        .find(|e| e.event_name == "GetObject")
        .expect("the GetObject record");
    assert_eq!(refused.error_code.as_deref(), Some("InvalidBucketName"));
    assert!(refused.resources.is_empty(), "{:?}", refused.resources);
    invalid_bucket(
        user.head_object(HeadObjectRequest {
            bucket: huge.clone(),
            key: "k".into(),
            ..Default::default()
        })
        .await,
        None,
    );
    invalid_bucket(
        user.create_bucket(CreateBucketRequest {
            bucket: huge,
            ..Default::default()
        })
        .await,
        None,
    );
}

/// The length rule holds on every operation; the name is repeated while it is short.
#[tokio::test]
async fn every_operation_refuses_a_bucket_name_of_64_characters() {
    let (_harness, mut user) = start().await;
    let long = "b".repeat(64);
    let b = || long.clone();
    let shown = Some(long.as_str());
    invalid_bucket(
        user.head_bucket(HeadBucketRequest { bucket: b() }).await,
        shown,
    );
    invalid_bucket(
        user.delete_bucket(DeleteBucketRequest { bucket: b() })
            .await,
        shown,
    );
    invalid_bucket(
        user.get_bucket_encryption(GetBucketEncryptionRequest { bucket: b() })
            .await,
        shown,
    );
    invalid_bucket(
        user.put_bucket_encryption(PutBucketEncryptionRequest {
            bucket: b(),
            ..Default::default()
        })
        .await,
        shown,
    );
    invalid_bucket(
        user.delete_bucket_encryption(DeleteBucketEncryptionRequest { bucket: b() })
            .await,
        shown,
    );
    invalid_bucket(
        user.put_public_access_block(PutPublicAccessBlockRequest {
            bucket: b(),
            ..Default::default()
        })
        .await,
        shown,
    );
    invalid_bucket(
        user.get_public_access_block(GetPublicAccessBlockRequest { bucket: b() })
            .await,
        shown,
    );
    invalid_bucket(
        user.delete_public_access_block(DeletePublicAccessBlockRequest { bucket: b() })
            .await,
        shown,
    );
    invalid_bucket(
        user.put_bucket_ownership_controls(PutBucketOwnershipControlsRequest {
            bucket: b(),
            ..Default::default()
        })
        .await,
        shown,
    );
    invalid_bucket(
        user.get_bucket_ownership_controls(GetBucketOwnershipControlsRequest { bucket: b() })
            .await,
        shown,
    );
    invalid_bucket(
        user.put_bucket_acl(PutBucketAclRequest {
            bucket: b(),
            acl: "private".into(),
            ..Default::default()
        })
        .await,
        shown,
    );
    invalid_bucket(
        user.get_bucket_acl(GetBucketAclRequest { bucket: b() })
            .await,
        shown,
    );
    invalid_bucket(put(&mut user, put_header(&long, "k"), b"x").await, shown);
    invalid_bucket(get(&mut user, &long, "k").await.map(|_| ()), shown);
    invalid_bucket(
        user.delete_object(DeleteObjectRequest {
            bucket: b(),
            key: "k".into(),
        })
        .await,
        shown,
    );
    invalid_bucket(
        user.list_objects_v2(ListObjectsV2Request {
            bucket: b(),
            ..Default::default()
        })
        .await,
        shown,
    );
    invalid_bucket(
        user.copy_object(CopyObjectRequest {
            bucket: b(),
            key: "k".into(),
            copy_source: format!("{BUCKET}/k"),
            ..Default::default()
        })
        .await,
        shown,
    );
    invalid_bucket(
        user.put_object_acl(PutObjectAclRequest {
            bucket: b(),
            key: "k".into(),
            acl: "private".into(),
            ..Default::default()
        })
        .await,
        shown,
    );
    invalid_bucket(
        user.get_object_acl(GetObjectAclRequest {
            bucket: b(),
            key: "k".into(),
        })
        .await,
        shown,
    );
    // Too short too, on a read.
    invalid_bucket(get(&mut user, "ab", "k").await.map(|_| ()), Some("ab"));
}

#[tokio::test]
async fn a_3_mb_key_is_too_long_everywhere() {
    let (harness, mut user) = start().await;
    let huge = "k".repeat(3_000_000);
    let key_too_long = |result: Result<(), tonic::Status>| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "KeyTooLongError",
            "Your key is too long",
            &[],
        )
    };
    key_too_long(get(&mut user, BUCKET, &huge).await.map(|_| ()));
    // The record names no object built from the refused key.
    let events = harness.events_at_least(2).await;
    let refused = events
        .iter()
        .find(|e| e.event_name == "GetObject")
        .expect("the GetObject record");
    assert!(
        refused.resources.is_empty(),
        "{} resources",
        refused.resources.len()
    );
    key_too_long(
        put(&mut user, put_header(BUCKET, &huge), b"x")
            .await
            .map(|_| ()),
    );
    key_too_long(
        user.get_object_acl(GetObjectAclRequest {
            bucket: BUCKET.into(),
            key: huge.clone(),
        })
        .await
        .map(|_| ()),
    );
}

/// What S3 carries in headers and the query string: 8 KiB at most.
#[tokio::test]
async fn header_and_query_fields_add_up_to_8_kib_at_most() {
    let (_harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "k"), b"x").await.unwrap();
    let list = |prefix: String, continuation_token: String| ListObjectsV2Request {
        bucket: BUCKET.into(),
        prefix,
        continuation_token,
        ..Default::default()
    };
    let listed = user
        .list_objects_v2(list("p".repeat(8192), String::new()))
        .await
        .expect("8 KiB is the limit, not over it")
        .into_inner();
    assert!(listed.contents.is_empty());
    headers_too_large(
        user.list_objects_v2(list("p".repeat(8192), "t".into()))
            .await,
    );
    headers_too_large(
        user.list_objects_v2(list(String::new(), "A".repeat(3_000_000)))
            .await,
    );
    headers_too_large(
        get_object(
            &mut user,
            GetObjectRequest {
                bucket: BUCKET.into(),
                key: "k".into(),
                range: format!("bytes=0-{}", "0".repeat(9000)),
                ..Default::default()
            },
        )
        .await,
    );
    headers_too_large(
        put(
            &mut user,
            PutObjectHeader {
                content_type: "t".repeat(8193),
                ..put_header(BUCKET, "big")
            },
            b"x",
        )
        .await,
    );
    headers_too_large(
        user.copy_object(CopyObjectRequest {
            bucket: BUCKET.into(),
            key: "copy".into(),
            copy_source: format!("{BUCKET}/k{}", "?".repeat(9000)),
            ..Default::default()
        })
        .await,
    );
    // A token that is not ours (and too long to be) is refused without being repeated.
    assert_s3_error(
        user.list_objects_v2(list(String::new(), "A".repeat(2000)))
            .await,
        Code::InvalidArgument,
        "InvalidArgument",
        "The continuation token provided is incorrect",
        &[("ArgumentName", "continuation-token")],
    );
}

#[tokio::test]
async fn user_metadata_is_2_kb_at_most() {
    let (harness, mut user) = start().await;
    // "m" + 2047 bytes: exactly 2 KB.
    put(
        &mut user,
        PutObjectHeader {
            metadata: pairs(&[("m", &"v".repeat(2047))]),
            ..put_header(BUCKET, "fits")
        },
        b"x",
    )
    .await
    .expect("2 KB of metadata is the limit, not over it");
    assert_s3_error(
        put(
            &mut user,
            PutObjectHeader {
                metadata: pairs(&[("m", &"v".repeat(2048))]),
                ..put_header(BUCKET, "over")
            },
            b"x",
        )
        .await,
        Code::InvalidArgument,
        "MetadataTooLarge",
        METADATA_TOO_LARGE,
        &[("Size", "2049"), ("MaxSizeAllowed", "2048")],
    );
    assert_s3_error(
        put(
            &mut user,
            PutObjectHeader {
                metadata: pairs(&[("m", &"v".repeat(3_000_000))]),
                ..put_header(BUCKET, "huge")
            },
            b"x",
        )
        .await,
        Code::InvalidArgument,
        "MetadataTooLarge",
        METADATA_TOO_LARGE,
        &[("Size", "3000001"), ("MaxSizeAllowed", "2048")],
    );
    let error = harness
        .s3(Who::User1)
        .put_object()
        .bucket(BUCKET)
        .key("s3-over")
        .metadata("m", "v".repeat(2048))
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect_err("over 2 KB on the S3 endpoint too");
    assert_eq!(
        sdk_error(&error),
        ("MetadataTooLarge".to_owned(), METADATA_TOO_LARGE.to_owned())
    );
}

/// Values Postgres cannot store, or that could not be served back as headers,
/// answered 500 InternalError (after storing the body) before.
#[tokio::test]
async fn unstorable_characters_are_client_errors() {
    let (harness, mut user) = start().await;
    assert_s3_error(
        put(
            &mut user,
            PutObjectHeader {
                metadata: pairs(&[("m", "a\0b")]),
                ..put_header(BUCKET, "a")
            },
            b"x",
        )
        .await,
        Code::InvalidArgument,
        "InvalidArgument",
        "Invalid user metadata value for key \"m\": HTTP header values hold no control characters",
        &[],
    );
    for content_type in ["a\0b", "text/plain\r\nX-Injected: 1"] {
        assert_s3_error(
            put(
                &mut user,
                PutObjectHeader {
                    content_type: content_type.into(),
                    ..put_header(BUCKET, "b")
                },
                b"x",
            )
            .await,
            Code::InvalidArgument,
            "InvalidArgument",
            "Invalid value for header Content-Type: HTTP header values hold no control characters",
            &[("ArgumentName", "Content-Type"), ("ArgumentValue", "null")],
        );
    }
    let sse = |context: &[(&str, &str)]| PutObjectHeader {
        server_side_encryption: "aws:kms".into(),
        ssekms_encryption_context: pairs(context),
        ..put_header(BUCKET, "c")
    };
    assert_s3_error(
        put(&mut user, sse(&[("m", "a\0b")]), b"x").await,
        Code::InvalidArgument,
        "InvalidArgument",
        "The encryption context must not contain the NUL character",
        &[("ArgumentName", CONTEXT), ("ArgumentValue", "null")],
    );
    assert!(
        get(&mut user, BUCKET, "c").await.is_err(),
        "nothing was stored"
    );

    // The same context through the S3 endpoint's header (base64 of JSON).
    let encoded = base64_json(r#"{"m":"a\u0000b"}"#);
    let error = harness
        .s3(Who::User1)
        .put_object()
        .bucket(BUCKET)
        .key("s3-nul")
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
        .ssekms_encryption_context(encoded)
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect_err("a NUL in the context is refused");
    assert_eq!(
        sdk_error(&error),
        (
            "InvalidArgument".to_owned(),
            "The encryption context must not contain the NUL character".to_owned()
        )
    );
}

fn base64_json(json: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(json)
}

#[tokio::test]
async fn an_encryption_context_over_8_kib_is_refused_before_kms_is_asked() {
    let (harness, mut user) = start().await;
    let sse = |value: String| PutObjectHeader {
        server_side_encryption: "aws:kms".into(),
        ssekms_encryption_context: [("m".to_owned(), value)].into(),
        ..put_header(BUCKET, "c")
    };
    let over = |size: usize| {
        format!(
            "The encryption context holds {size} bytes of keys and values; KMS accepts at most 8192"
        )
    };
    assert_s3_error(
        put(&mut user, sse("v".repeat(3_000_000)), b"x").await,
        Code::InvalidArgument,
        "InvalidArgument",
        &over(3_000_001),
        &[("ArgumentName", CONTEXT), ("ArgumentValue", "null")],
    );
    assert_s3_error(
        user.copy_object(CopyObjectRequest {
            bucket: BUCKET.into(),
            key: "copy".into(),
            copy_source: format!("{BUCKET}/c"),
            server_side_encryption: "aws:kms".into(),
            ssekms_encryption_context: [("m".to_owned(), "v".repeat(8192))].into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "InvalidArgument",
        &over(8193),
        &[("ArgumentName", CONTEXT), ("ArgumentValue", "null")],
    );
    let json = format!(r#"{{"m":"{}"}}"#, "v".repeat(8192));
    let error = harness
        .s3(Who::User1)
        .put_object()
        .bucket(BUCKET)
        .key("s3-big")
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
        .ssekms_encryption_context(base64_json(&json))
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect_err("over 8 KiB on the S3 endpoint too");
    assert_eq!(
        sdk_error(&error),
        ("InvalidArgument".to_owned(), over(8193))
    );
}

#[tokio::test]
async fn acl_bodies_and_encryption_rules_are_bounded() {
    let (_harness, mut user) = start().await;
    let grant = |id: String| Grant {
        grantee: Some(Grantee {
            r#type: "CanonicalUser".into(),
            id,
            ..Default::default()
        }),
        permission: "READ".into(),
    };
    let put_acl = |grants: Vec<Grant>| PutBucketAclRequest {
        bucket: BUCKET.into(),
        access_control_policy: Some(AccessControlPolicy {
            owner: None,
            grants,
        }),
        ..Default::default()
    };
    let malformed = |result: Result<tonic::Response<PutBucketAclResponse>, tonic::Status>| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "MalformedACLError",
            "The XML you provided was not well-formed or did not validate against our published schema",
            &[],
        )
    };
    let account = "000000000000".to_owned();
    user.put_bucket_acl(put_acl(vec![grant(account.clone()); 100]))
        .await
        .expect("100 grants is S3's limit, not over it");
    malformed(
        user.put_bucket_acl(put_acl(vec![grant(account); 101]))
            .await,
    );
    malformed(
        user.put_bucket_acl(put_acl(vec![grant("i".repeat(3_000_000))]))
            .await,
    );
    malformed(
        user.put_bucket_acl(put_acl(vec![grant("a\0b".into())]))
            .await,
    );

    let encryption = |key_id: String| PutBucketEncryptionRequest {
        bucket: BUCKET.into(),
        server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
            rules: vec![ServerSideEncryptionRule {
                apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                    sse_algorithm: "aws:kms".into(),
                    kms_master_key_id: key_id,
                }),
                bucket_key_enabled: false,
            }],
        }),
    };
    for (key_id, message) in [
        (
            "k".repeat(3_000_000),
            "KMSMasterKeyID must be at most 2048 characters long",
        ),
        (
            "alias/a\0b".to_owned(),
            "KMSMasterKeyID must not contain the NUL character",
        ),
    ] {
        assert_s3_error(
            user.put_bucket_encryption(encryption(key_id)).await,
            Code::InvalidArgument,
            "InvalidArgument",
            message,
            &[
                ("ArgumentName", "KMSMasterKeyID"),
                ("ArgumentValue", "null"),
            ],
        );
    }
    user.put_bucket_encryption(encryption(format!("alias/{}", "k".repeat(2042))))
        .await
        .expect("2048 characters fit");
}
