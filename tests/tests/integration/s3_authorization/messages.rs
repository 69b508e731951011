//! What a refused caller reads: AWS's explicit AccessDenied messages within the
//! bucket's account, plain "Access Denied" for anonymous callers and other accounts,
//! NoSuchKey only for callers who may list, and the CloudTrail records of it all.

use aws_sdk_s3::primitives::ByteStream;
use keyhold_tests::texts::ACCESS_DENIED;
use keyhold_tests::{
    Who,
    kms::{PARTNER_ARN, READER_ARN},
    s3_sdk::{assert_failure, assert_no_such_key, get_bytes},
};
use serde_json::json;

use super::{BUCKET, OBJECT, denying_policy, set_policy, start};

fn refused(who: &str, action: &str, resource: &str, why: &str) -> String {
    format!("User: {who} is not authorized to perform: {action} on resource: \"{resource}\" {why}")
}

#[tokio::test]
async fn a_user_of_the_account_reads_why() {
    let (harness, mut root) = start().await;
    let reader = harness.s3(Who::Reader);
    // Read-only: reading works, writing names the action and the missing allow.
    assert_eq!(get_bytes(&reader, BUCKET, OBJECT).await, b"the document");
    assert_failure(
        reader
            .put_object()
            .bucket(BUCKET)
            .key("new.txt")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        403,
        "AccessDenied",
        &refused(
            READER_ARN,
            "s3:PutObject",
            &format!("arn:aws:s3:::{BUCKET}/new.txt"),
            "because no identity-based policy allows the s3:PutObject action",
        ),
    );

    // A Deny in the bucket policy says so, also to a user allowed everything by IAM.
    set_policy(&mut root, Some(&denying_policy())).await;
    let user = harness.s3(Who::User1);
    assert_failure(
        user.get_object().bucket(BUCKET).key(OBJECT).send().await,
        403,
        "AccessDenied",
        &refused(
            keyhold_tests::kms::USER1_ARN,
            "s3:GetObject",
            &format!("arn:aws:s3:::{BUCKET}/{OBJECT}"),
            "with an explicit deny in a resource-based policy",
        ),
    );
}

#[tokio::test]
async fn other_accounts_and_anonymous_callers_read_access_denied() {
    let (harness, mut root) = start().await;
    for who in [Who::Partner, Who::Anonymous] {
        assert_failure(
            harness
                .s3(who)
                .get_object()
                .bucket(BUCKET)
                .key(OBJECT)
                .send()
                .await,
            403,
            "AccessDenied",
            ACCESS_DENIED,
        );
    }

    // GetObject alone: the partner reads the document, and a missing key stays a
    // secret (AccessDenied) until the policy lets it list the bucket too.
    let grant = |actions: &[&str]| {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": PARTNER_ARN},
                "Action": actions,
                "Resource": [format!("arn:aws:s3:::{BUCKET}"), format!("arn:aws:s3:::{BUCKET}/*")],
            }]
        })
        .to_string()
    };
    set_policy(&mut root, Some(&grant(&["s3:GetObject"]))).await;
    let partner = harness.s3(Who::Partner);
    assert_eq!(get_bytes(&partner, BUCKET, OBJECT).await, b"the document");
    assert_failure(
        partner
            .get_object()
            .bucket(BUCKET)
            .key("absent")
            .send()
            .await,
        403,
        "AccessDenied",
        ACCESS_DENIED,
    );
    set_policy(&mut root, Some(&grant(&["s3:GetObject", "s3:ListBucket"]))).await;
    assert_no_such_key(
        partner
            .get_object()
            .bucket(BUCKET)
            .key("absent")
            .send()
            .await,
        "absent",
    );
    // Still nothing else: writing needs its own grant.
    assert_failure(
        partner
            .put_object()
            .bucket(BUCKET)
            .key("from-partner")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        403,
        "AccessDenied",
        ACCESS_DENIED,
    );
}

#[tokio::test]
async fn policy_calls_are_recorded_with_the_document_and_refusals_with_their_code() {
    let (harness, _root) = start().await;
    let owner = harness.s3(Who::User1);
    let policy = denying_policy();
    owner
        .put_bucket_policy()
        .bucket(BUCKET)
        .policy(&policy)
        .send()
        .await
        .expect("the owner puts a policy");
    let refused = harness
        .s3(Who::Reader)
        .get_object()
        .bucket(BUCKET)
        .key(OBJECT)
        .send()
        .await;
    assert!(refused.is_err());

    // The same call over gRPC is recorded the same way.
    harness
        .client(Who::User1)
        .put_bucket_policy(keyhold_proto::object::v1::PutBucketPolicyRequest {
            bucket: BUCKET.into(),
            policy: policy.clone(),
        })
        .await
        .expect("the owner puts a policy over gRPC");

    let events = harness.events_at_least(5).await;
    let puts: Vec<_> = events
        .iter()
        .filter(|e| e.event_name == "PutBucketPolicy")
        .collect();
    assert_eq!(puts.len(), 2, "one over each API");
    for put in puts {
        assert!(put.management_event);
        assert!(!put.read_only);
        assert_eq!(
            put.request_parameters["bucketPolicy"],
            serde_json::from_str::<serde_json::Value>(&policy).unwrap()
        );
        assert_eq!(put.request_parameters["bucketName"], BUCKET);
    }
    let get = events
        .iter()
        .rev()
        .find(|e| e.event_name == "GetObject")
        .expect("a GetObject record");
    assert_eq!(get.error_code.as_deref(), Some("AccessDenied"));
    assert_eq!(get.user_identity.arn.as_deref(), Some(READER_ARN));
}
