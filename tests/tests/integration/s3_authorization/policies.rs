//! PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy: what is kept, and each
//! document S3 refuses, with S3's code and message over both APIs.

use keyhold_proto::object::v1::*;
use keyhold_tests::{Who, object::assert_s3_error, s3_sdk::assert_failure};
use serde_json::json;
use tonic::Code;

use super::{BUCKET, granting_policy, start};

const NO_POLICY: &str = "The bucket policy does not exist";

fn statement_with(field: &str, value: serde_json::Value) -> String {
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{BUCKET}/*"),
    });
    if value.is_null() {
        statement.as_object_mut().unwrap().remove(field);
    } else {
        statement[field] = value;
    }
    json!({"Version": "2012-10-17", "Statement": [statement]}).to_string()
}

/// Each document S3 refuses, and its message.
fn refused_documents() -> Vec<(&'static str, String, &'static str)> {
    let oversized = {
        let mut policy: serde_json::Value = serde_json::from_str(&granting_policy()).unwrap();
        policy["Id"] = "x".repeat(20 * 1024).into();
        policy.to_string()
    };
    vec![
        (
            "not JSON",
            "Version: 2012-10-17".to_owned(),
            "Policies must be valid JSON and the first byte must be '{'",
        ),
        (
            "broken JSON",
            "{\"Version\": ".to_owned(),
            "This policy contains invalid Json",
        ),
        (
            "unknown action",
            statement_with("Action", json!("s3:FlyAway")),
            "Policy has invalid action",
        ),
        (
            "another service's action",
            statement_with("Action", json!("kms:Decrypt")),
            "Policy has invalid action",
        ),
        (
            "invalid principal",
            statement_with("Principal", json!({"AWS": "AWSLabsUser-0001"})),
            "Invalid principal in policy",
        ),
        (
            "no principal",
            statement_with("Principal", serde_json::Value::Null),
            "Missing required field Principal",
        ),
        (
            "a resource of another bucket",
            statement_with("Resource", json!("arn:aws:s3:::another-bucket/*")),
            "Policy has invalid resource",
        ),
        (
            "over 20 KB",
            oversized,
            "Policy exceeds the maximum allowed document size.",
        ),
    ]
}

#[tokio::test]
async fn the_owner_puts_gets_and_deletes_a_policy() {
    let (harness, _root) = start().await;
    let mut owner = harness.client(Who::User1);
    let get = || GetBucketPolicyRequest {
        bucket: BUCKET.into(),
    };
    assert_s3_error(
        owner.get_bucket_policy(get()).await,
        Code::NotFound,
        "NoSuchBucketPolicy",
        NO_POLICY,
        &[("BucketName", BUCKET)],
    );
    // Kept as sent, spacing and all (only the first byte must be `{`).
    let policy = format!(
        "{}\n",
        serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&granting_policy()).unwrap()
        )
        .unwrap()
    );
    owner
        .put_bucket_policy(PutBucketPolicyRequest {
            bucket: BUCKET.into(),
            policy: policy.clone(),
        })
        .await
        .unwrap();
    let kept = owner.get_bucket_policy(get()).await.unwrap().into_inner();
    assert_eq!(kept.policy, policy);
    let s3 = harness.s3(Who::User1);
    let over_s3 = s3.get_bucket_policy().bucket(BUCKET).send().await.unwrap();
    assert_eq!(over_s3.policy(), Some(policy.as_str()));

    s3.delete_bucket_policy()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_s3_error(
        owner.get_bucket_policy(get()).await,
        Code::NotFound,
        "NoSuchBucketPolicy",
        NO_POLICY,
        &[("BucketName", BUCKET)],
    );
    // Deleting what is not there succeeds, as in S3.
    s3.delete_bucket_policy()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn each_refused_document_gets_s3s_message_over_both_apis() {
    let (harness, _root) = start().await;
    let mut owner = harness.client(Who::User1);
    let s3 = harness.s3(Who::User1);
    for (case, document, message) in refused_documents() {
        let over_grpc = owner
            .put_bucket_policy(PutBucketPolicyRequest {
                bucket: BUCKET.into(),
                policy: document.clone(),
            })
            .await;
        let status = over_grpc.expect_err(case);
        assert_eq!(
            (status.code(), status.message()),
            (Code::InvalidArgument, message),
            "{case} over gRPC"
        );
        let failure = assert_failure(
            s3.put_bucket_policy()
                .bucket(BUCKET)
                .policy(document)
                .send()
                .await,
            400,
            "MalformedPolicy",
            message,
        );
        assert!(failure.field("RequestId").is_some(), "{case}");
    }
    // Nothing refused was kept.
    assert_failure(
        s3.get_bucket_policy().bucket(BUCKET).send().await,
        404,
        "NoSuchBucketPolicy",
        NO_POLICY,
    );
}
