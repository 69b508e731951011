//! The CloudTrail records of object-svc (eventSource s3.amazonaws.com) and of the
//! kms-svc calls it makes for the user: bucket settings as management events, object
//! reads and writes as data events with the bytes moved and the encryption applied,
//! the KMS GenerateDataKey / Decrypt behind each SSE-KMS PUT / GET recorded as the
//! user's calls invoked by S3 with the object's encryption context, refusals as
//! AccessDenied on both sides, anonymous callers as CloudTrail's "Unknown" identity,
//! and never a byte of object data in any record.

use base64::{Engine, engine::general_purpose::STANDARD};
use keyhold_platform::CloudTrailEvent;
use keyhold_proto::{kms::v1 as kms, object::v1::*};
use keyhold_tests::{
    ObjectHarness, Who,
    kms::{ACCOUNT, USER1_ARN, lab_user_key},
    object::{get, put, put_header, sse_kms},
    setup,
};
use serde_json::{Value, json};

const BUCKET: &str = "keyhold-audited";
const MARKER: &[u8] = b"KEYHOLD-PLAINTEXT-MARKER";

fn marked(len: usize) -> Vec<u8> {
    MARKER.iter().copied().cycle().take(len).collect()
}

fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

fn to_json(event: &CloudTrailEvent) -> Value {
    serde_json::to_value(event).expect("a record serializes")
}

/// The last record named `name` once `count` records are in, as JSON.
fn last_named(events: &[CloudTrailEvent], name: &str) -> Value {
    events
        .iter()
        .rev()
        .find(|e| e.event_name == name)
        .map(to_json)
        .unwrap_or_else(|| panic!("no {name} record among {events:#?}"))
}

/// The records of object-svc, once one more than `before` named `name` is in.
async fn next_s3(harness: &ObjectHarness, name: &str, before: usize) -> Value {
    for _ in 0..200 {
        let events = harness.sink.events();
        if events.iter().filter(|e| e.event_name == name).count() > before {
            return last_named(&events, name);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no new {name} record from object-svc");
}

async fn next_kms(harness: &ObjectHarness, name: &str, before: usize) -> Value {
    for _ in 0..200 {
        let events = harness.kms.sink.events();
        if events.iter().filter(|e| e.event_name == name).count() > before {
            return last_named(&events, name);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no new {name} record from kms-svc");
}

fn count_s3(harness: &ObjectHarness, name: &str) -> usize {
    harness
        .sink
        .events()
        .iter()
        .filter(|e| e.event_name == name)
        .count()
}

fn count_kms(harness: &ObjectHarness, name: &str) -> usize {
    harness
        .kms
        .sink
        .events()
        .iter()
        .filter(|e| e.event_name == name)
        .count()
}

/// The user's identity as both services record it (invoked by S3 on the KMS side).
#[track_caller]
fn assert_user1(event: &Value, invoked_by: Option<&str>) {
    let identity = &event["userIdentity"];
    assert_eq!(identity["type"], "IAMUser", "{event:#}");
    assert_eq!(identity["arn"], USER1_ARN, "{event:#}");
    assert_eq!(identity["accountId"], ACCOUNT, "{event:#}");
    assert_eq!(identity["userName"], "AWSLabsUser-0001", "{event:#}");
    assert_eq!(identity["accessKeyId"], "AKIAKEYHOLDDEVUSER01", "{event:#}");
    match invoked_by {
        Some(service) => {
            assert_eq!(identity["invokedBy"], service, "{event:#}");
            assert_eq!(event["sourceIPAddress"], service, "{event:#}");
        }
        None => {
            assert!(identity.get("invokedBy").is_none(), "{event:#}");
            assert_eq!(event["sourceIPAddress"], "127.0.0.1", "{event:#}");
        }
    }
}

#[track_caller]
fn assert_common(event: &Value) {
    assert_eq!(event["eventVersion"], "1.11", "{event:#}");
    assert_eq!(event["eventType"], "AwsApiCall", "{event:#}");
    assert_eq!(event["recipientAccountId"], ACCOUNT, "{event:#}");
    assert!(event["eventID"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(event["requestID"].as_str().is_some_and(|id| !id.is_empty()));
}

/// A bucket-level call: a management event touching just the bucket.
#[track_caller]
fn assert_management(event: &Value, bucket: &str, read_only: bool) {
    assert_common(event);
    assert_eq!(event["eventSource"], "s3.amazonaws.com", "{event:#}");
    assert_eq!(event["managementEvent"], true, "{event:#}");
    assert_eq!(event["eventCategory"], "Management", "{event:#}");
    assert_eq!(event["readOnly"], read_only, "{event:#}");
    assert_eq!(
        event["resources"],
        json!([{"type": "AWS::S3::Bucket", "ARN": bucket_arn(bucket), "accountId": ACCOUNT}]),
        "{event:#}"
    );
    assert!(event.get("errorCode").is_none(), "{event:#}");
    assert_user1(event, None);
}

/// An object call: a data event touching the object and its bucket.
#[track_caller]
fn assert_data(event: &Value, bucket: &str, key: &str, read_only: bool) {
    assert_common(event);
    assert_eq!(event["eventSource"], "s3.amazonaws.com", "{event:#}");
    assert_eq!(event["managementEvent"], false, "{event:#}");
    assert_eq!(event["eventCategory"], "Data", "{event:#}");
    assert_eq!(event["readOnly"], read_only, "{event:#}");
    assert_eq!(
        event["resources"],
        json!([
            {"type": "AWS::S3::Object", "ARN": object_arn(bucket, key), "accountId": ACCOUNT},
            {"type": "AWS::S3::Bucket", "ARN": bucket_arn(bucket), "accountId": ACCOUNT},
        ]),
        "{event:#}"
    );
}

/// No object bytes in a record: neither the marker as text nor base64 of it (how
/// a bytes field would render), at any alignment.
#[track_caller]
fn assert_no_object_bytes(event: &Value) {
    let text = serde_json::to_string(event).unwrap();
    let cycle = marked(4 * MARKER.len());
    assert!(
        !text.contains(&String::from_utf8_lossy(&MARKER[..12]).into_owned()),
        "object bytes in {text}"
    );
    for offset in 0..3 {
        let encoded = STANDARD.encode(&cycle[offset..offset + 3 * MARKER.len()]);
        assert!(
            !text.contains(&encoded[4..28]),
            "base64 object bytes in {text}"
        );
    }
}

/// A KMS record of a call object-svc made for AWSLabsUser-0001 about `object`:
/// the user's call, invoked by S3, with the object's encryption context and no
/// key material.
#[track_caller]
fn assert_kms_for_object(event: &Value, key_arn: &str, object: &str) {
    assert_common(event);
    assert_eq!(event["eventSource"], "kms.amazonaws.com", "{event:#}");
    assert_eq!(event["readOnly"], true, "{event:#}");
    assert_eq!(event["eventCategory"], "Management", "{event:#}");
    assert_user1(event, Some("s3.amazonaws.com"));
    assert_eq!(
        event["requestParameters"]["encryptionContext"],
        json!({"aws:s3:arn": object}),
        "{event:#}"
    );
    let arns: Vec<&str> = event["resources"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["ARN"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(arns, vec![key_arn], "{event:#}");
    assert_eq!(event["responseElements"], Value::Null, "{event:#}");
    let text = serde_json::to_string(event).unwrap().to_lowercase();
    for secret in ["plaintext", "ciphertextblob", "ciphertext_blob"] {
        assert!(!text.contains(secret), "{secret} in {event:#}");
    }
}

#[tokio::test]
async fn bucket_settings_are_management_events() {
    let harness = ObjectHarness::start().await;
    let key = setup::user_key(&harness).await;
    let mut user = harness.client(Who::User1);

    user.create_bucket(CreateBucketRequest {
        bucket: BUCKET.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let event = next_s3(&harness, "CreateBucket", 0).await;
    assert_management(&event, BUCKET, false);
    assert_eq!(
        event["requestParameters"]["bucketName"], BUCKET,
        "{event:#}"
    );
    assert_eq!(
        event["responseElements"],
        json!({"location": format!("/{BUCKET}")}),
        "{event:#}"
    );

    user.put_bucket_encryption(PutBucketEncryptionRequest {
        bucket: BUCKET.into(),
        server_side_encryption_configuration: Some(setup::encryption_rule(
            "aws:kms", &key.arn, false,
        )),
    })
    .await
    .unwrap();
    let event = next_s3(&harness, "PutBucketEncryption", 0).await;
    assert_management(&event, BUCKET, false);
    assert_eq!(
        event["requestParameters"]["bucketName"], BUCKET,
        "{event:#}"
    );
    assert_eq!(
        event["requestParameters"]["serverSideEncryptionConfiguration"],
        json!({"rules": [{"applyServerSideEncryptionByDefault": {
            "sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.arn,
        }}]}),
        "{event:#}"
    );

    user.put_public_access_block(PutPublicAccessBlockRequest {
        bucket: BUCKET.into(),
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: false,
        }),
    })
    .await
    .unwrap();
    let event = next_s3(&harness, "PutPublicAccessBlock", 0).await;
    assert_management(&event, BUCKET, false);
    assert_eq!(
        event["requestParameters"]["publicAccessBlockConfiguration"],
        json!({"blockPublicAcls": true, "ignorePublicAcls": true, "blockPublicPolicy": true}),
        "{event:#}"
    );

    let got = user
        .get_bucket_encryption(GetBucketEncryptionRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(got.server_side_encryption_configuration.is_some());
    let event = next_s3(&harness, "GetBucketEncryption", 0).await;
    assert_management(&event, BUCKET, true);
    assert_eq!(event["requestParameters"], json!({"bucketName": BUCKET}));
    // Reads are recorded without their answer, as CloudTrail does.
    assert_eq!(event["responseElements"], Value::Null, "{event:#}");

    // Nothing but object-svc's own calls: bucket settings do not touch KMS.
    assert_eq!(count_kms(&harness, "GenerateDataKey"), 0);
    assert_eq!(count_kms(&harness, "Decrypt"), 0);
}

#[tokio::test]
async fn sse_kms_put_and_get_are_data_events_with_their_kms_calls() {
    let harness = ObjectHarness::start().await;
    let mut kms_user = harness.kms.client(Who::User1);
    let key = lab_user_key(&mut kms_user).await;
    let mut user = harness.client(Who::User1);
    setup::create_bucket(&mut user, BUCKET).await;
    let object_key = "images/marker.bin";
    let object = object_arn(BUCKET, object_key);
    let body = marked(300_000);

    // PutObject, and the GenerateDataKey kms-svc records for it.
    let stored = put(&mut user, sse_kms(BUCKET, object_key, &key.key_id), &body)
        .await
        .unwrap();
    let event = next_s3(&harness, "PutObject", 0).await;
    assert_data(&event, BUCKET, object_key, false);
    assert_user1(&event, None);
    assert!(event.get("errorCode").is_none(), "{event:#}");
    let parameters = &event["requestParameters"];
    assert_eq!(parameters["bucketName"], BUCKET, "{event:#}");
    assert_eq!(parameters["key"], object_key, "{event:#}");
    assert_eq!(
        parameters["x-amz-server-side-encryption"], "aws:kms",
        "{event:#}"
    );
    assert_eq!(
        parameters["x-amz-server-side-encryption-aws-kms-key-id"], key.key_id,
        "{event:#}"
    );
    assert_eq!(
        event["additionalEventData"],
        json!({"bytesTransferredIn": 300_000, "bytesTransferredOut": 0, "SSEApplied": "SSE_KMS"}),
        "{event:#}"
    );
    // The response as rendered from PutObjectResponse (proto3 JSON: uint64 as a
    // string, false left out).
    assert_eq!(
        event["responseElements"],
        json!({
            "etag": stored.etag,
            "serverSideEncryption": "aws:kms",
            "ssekmsKeyId": key.arn,
            "size": "300000",
        }),
        "{event:#}"
    );
    assert_no_object_bytes(&event);

    let generate = next_kms(&harness, "GenerateDataKey", 0).await;
    assert_kms_for_object(&generate, &key.arn, &object);
    assert_eq!(generate["requestParameters"]["keyId"], key.key_id);
    assert_eq!(generate["requestParameters"]["keySpec"], "AES_256");
    assert!(generate.get("errorCode").is_none(), "{generate:#}");
    assert_no_object_bytes(&generate);

    // GetObject: recorded when the stream ends, with the bytes that went out.
    let (_, bytes) = get(&mut user, BUCKET, object_key).await.unwrap();
    assert!(bytes == body);
    let event = next_s3(&harness, "GetObject", 0).await;
    assert_data(&event, BUCKET, object_key, true);
    assert_user1(&event, None);
    assert!(event.get("errorCode").is_none(), "{event:#}");
    assert_eq!(
        event["requestParameters"],
        json!({"bucketName": BUCKET, "key": object_key}),
        "{event:#}"
    );
    assert_eq!(
        event["additionalEventData"],
        json!({"bytesTransferredIn": 0, "bytesTransferredOut": 300_000, "SSEApplied": "SSE_KMS"}),
        "{event:#}"
    );
    assert_eq!(event["responseElements"], Value::Null, "{event:#}");
    assert_no_object_bytes(&event);

    let decrypt = next_kms(&harness, "Decrypt", 0).await;
    assert_kms_for_object(&decrypt, &key.arn, &object);
    assert!(decrypt.get("errorCode").is_none(), "{decrypt:#}");

    // HeadObject needs no Decrypt.
    let decrypts = count_kms(&harness, "Decrypt");
    user.head_object(HeadObjectRequest {
        bucket: BUCKET.into(),
        key: object_key.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let event = next_s3(&harness, "HeadObject", 0).await;
    assert_data(&event, BUCKET, object_key, true);
    assert_eq!(count_kms(&harness, "Decrypt"), decrypts);

    // The user is no longer a key user: the next GET is refused, and recorded as
    // refused on both sides.
    kms_user
        .remove_key_user(kms::RemoveKeyUserRequest {
            key_id: key.key_id.clone(),
            principal: "AWSLabsUser-0001".into(),
        })
        .await
        .unwrap();
    let (gets, decrypts) = (count_s3(&harness, "GetObject"), decrypts);
    let refused = get(&mut user, BUCKET, object_key)
        .await
        .expect_err("no longer a key user");
    let message = format!(
        "User: {USER1_ARN} is not authorized to perform: kms:Decrypt on resource: {} because no resource-based policy allows the kms:Decrypt action",
        key.arn
    );
    assert_eq!(refused.message(), message);

    let decrypt = next_kms(&harness, "Decrypt", decrypts).await;
    assert_kms_for_object(&decrypt, &key.arn, &object);
    assert_eq!(decrypt["errorCode"], "AccessDenied", "{decrypt:#}");
    assert_eq!(decrypt["errorMessage"], message, "{decrypt:#}");

    let event = next_s3(&harness, "GetObject", gets).await;
    assert_data(&event, BUCKET, object_key, true);
    assert_user1(&event, None);
    assert_eq!(event["errorCode"], "AccessDenied", "{event:#}");
    assert_eq!(event["errorMessage"], message, "{event:#}");
    assert_no_object_bytes(&event);

    // A refused PUT likewise: GenerateDataKey refused, PutObject AccessDenied.
    let (puts, generates) = (
        count_s3(&harness, "PutObject"),
        count_kms(&harness, "GenerateDataKey"),
    );
    put(&mut user, sse_kms(BUCKET, "again.bin", &key.key_id), &body)
        .await
        .expect_err("no longer a key user");
    let generate = next_kms(&harness, "GenerateDataKey", generates).await;
    assert_kms_for_object(&generate, &key.arn, &object_arn(BUCKET, "again.bin"));
    assert_eq!(generate["errorCode"], "AccessDenied", "{generate:#}");
    let event = next_s3(&harness, "PutObject", puts).await;
    assert_data(&event, BUCKET, "again.bin", false);
    assert_eq!(event["errorCode"], "AccessDenied", "{event:#}");
    assert_eq!(event["responseElements"], Value::Null, "{event:#}");
    assert_no_object_bytes(&event);
}

#[tokio::test]
async fn sse_s3_objects_need_no_kms_call() {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    user.create_bucket(CreateBucketRequest {
        bucket: BUCKET.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let body = marked(70_000);
    put(&mut user, put_header(BUCKET, "plain.bin"), &body)
        .await
        .unwrap();
    let event = next_s3(&harness, "PutObject", 0).await;
    assert_data(&event, BUCKET, "plain.bin", false);
    assert_eq!(
        event["requestParameters"]["x-amz-server-side-encryption"],
        Value::Null,
        "{event:#}"
    );
    assert_eq!(
        event["additionalEventData"],
        json!({"bytesTransferredIn": 70_000, "bytesTransferredOut": 0, "SSEApplied": "Default_SSE_S3"}),
        "{event:#}"
    );
    assert_eq!(
        event["responseElements"]["serverSideEncryption"], "AES256",
        "{event:#}"
    );
    assert_no_object_bytes(&event);

    // A range GET counts the bytes of the range.
    keyhold_tests::object::get_object(
        &mut user,
        GetObjectRequest {
            bucket: BUCKET.into(),
            key: "plain.bin".into(),
            range: "bytes=100-1099".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let event = next_s3(&harness, "GetObject", 0).await;
    assert_data(&event, BUCKET, "plain.bin", true);
    assert_eq!(
        event["additionalEventData"]["bytesTransferredOut"], 1000,
        "{event:#}"
    );
    assert_no_object_bytes(&event);
    assert_eq!(count_kms(&harness, "GenerateDataKey"), 0);
    assert_eq!(count_kms(&harness, "Decrypt"), 0);
}

#[tokio::test]
async fn anonymous_reads_are_recorded_as_unknown_and_refused() {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    user.create_bucket(CreateBucketRequest {
        bucket: BUCKET.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    put(&mut user, put_header(BUCKET, "private.bin"), &marked(1000))
        .await
        .unwrap();

    let mut anonymous = harness.client(Who::Anonymous);
    for (n, key) in ["private.bin", "no-such-key"].into_iter().enumerate() {
        get(&mut anonymous, BUCKET, key)
            .await
            .expect_err("anonymous callers may not read");
        let event = next_s3(&harness, "GetObject", n).await;
        assert_data(&event, BUCKET, key, true);
        assert_eq!(
            event["userIdentity"],
            json!({"type": "Unknown", "accountId": "anonymous"}),
            "{event:#}"
        );
        assert_eq!(event["sourceIPAddress"], "127.0.0.1", "{event:#}");
        assert_eq!(event["errorCode"], "AccessDenied", "{event:#}");
        assert_eq!(event["errorMessage"], "Access Denied", "{event:#}");
        assert_no_object_bytes(&event);
    }
    // Anonymous callers never reach KMS.
    assert_eq!(count_kms(&harness, "Decrypt"), 0);
}
