//! An AWS service principal calling for itself (CloudTrail delivering log files):
//! it has no identity policy, so only a bucket policy naming its service lets it in,
//! and the policy can pin the resource it acts for (`aws:SourceArn`), as the bucket
//! policy AWS's console writes for a trail does.

use keyhold_proto::object::v1::{PutObjectHeader, object_service_client::ObjectServiceClient};
use keyhold_tests::texts::ACCESS_DENIED;
use keyhold_tests::{
    ObjectClient, ObjectHarness, Who,
    kms::{ACCOUNT, credentials},
    object::{assert_s3_error, put, put_header},
};
use serde_json::json;
use tonic::Code;

use super::{BUCKET, set_policy, start};

const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:000000000000:trail/myTrail";

/// AWS's CloudTrail bucket policy: the ACL check and the write, for this trail only.
fn cloudtrail_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSCloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": format!("arn:aws:s3:::{BUCKET}"),
                "Condition": {"StringEquals": {"aws:SourceArn": TRAIL}},
            },
            {
                "Sid": "AWSCloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": format!("arn:aws:s3:::{BUCKET}/AWSLogs/{ACCOUNT}/*"),
                "Condition": {"StringEquals": {
                    "s3:x-amz-acl": "bucket-owner-full-control",
                    "aws:SourceArn": TRAIL,
                }},
            },
        ]
    })
    .to_string()
}

fn cloudtrail_for(harness: &ObjectHarness, trail: &str) -> ObjectClient {
    ObjectServiceClient::with_interceptor(
        harness.channel(),
        credentials(Who::CloudTrail).for_source(trail, ACCOUNT),
    )
}

fn log_file() -> PutObjectHeader {
    PutObjectHeader {
        acl: "bucket-owner-full-control".into(),
        ..put_header(BUCKET, &format!("AWSLogs/{ACCOUNT}/CloudTrail/log.json.gz"))
    }
}

#[tokio::test]
async fn only_the_bucket_policy_lets_a_service_in_for_the_named_trail() {
    let (harness, mut root) = start().await;
    let mut trail = cloudtrail_for(&harness, TRAIL);
    assert_s3_error(
        put(&mut trail, log_file(), b"{}").await,
        Code::PermissionDenied,
        "AccessDenied",
        ACCESS_DENIED,
        &[],
    );

    set_policy(&mut root, Some(&cloudtrail_policy())).await;
    put(&mut trail, log_file(), b"{}")
        .await
        .expect("the policy lets this trail write its log files");
    // Outside the prefix, without the ACL, or for another trail: refused.
    let elsewhere = put_header(BUCKET, "elsewhere.json");
    let without_acl = put_header(BUCKET, &format!("AWSLogs/{ACCOUNT}/x.json"));
    for header in [elsewhere, without_acl] {
        let refused = put(&mut trail, header, b"{}").await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
    }
    let mut other_trail = cloudtrail_for(
        &harness,
        "arn:aws:cloudtrail:us-east-1:000000000000:trail/otherTrail",
    );
    let refused = put(&mut other_trail, log_file(), b"{}").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    // A user cannot pretend to act for the trail: aws:SourceArn is kept from service
    // principals only. Here the policy names anyone who acts for the trail.
    let for_the_trail_only = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::{BUCKET}/AWSLogs/*"),
            "Condition": {"ArnEquals": {"aws:SourceArn": TRAIL}},
        }]
    });
    set_policy(&mut root, Some(&for_the_trail_only.to_string())).await;
    put(&mut trail, log_file(), b"{}")
        .await
        .expect("the service acting for the trail");
    let mut user = ObjectServiceClient::with_interceptor(
        harness.channel(),
        credentials(Who::NoS3).for_source(TRAIL, ACCOUNT),
    );
    let refused = put(&mut user, log_file(), b"{}").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
}
