//! S3 authorization as AWS decides it: identity policies, bucket policies, public
//! ACL grants, Block Public Access's policy half, across accounts, over gRPC and the
//! S3 endpoint alike.

mod matrix;
mod messages;
mod policies;
mod public;
mod replicas;
mod services;

use keyhold_proto::object::v1::*;
use keyhold_tests::{
    ObjectClient, ObjectHarness, Who,
    kms::{PARTNER_ARN, USER5_ARN},
    object::{put, put_header},
    setup::create_bucket,
};
use serde_json::json;

/// Owned by AWSLabsUser-0001 of account 000000000000, holding [`OBJECT`] (SSE-S3).
pub const BUCKET: &str = "authz-bucket";
pub const OBJECT: &str = "doc.txt";

/// A harness with [`BUCKET`] and [`OBJECT`], and the bucket account's root over gRPC
/// (who may always set the bucket's policy).
pub async fn start() -> (ObjectHarness, ObjectClient) {
    let harness = ObjectHarness::start().await;
    let mut owner = harness.client(Who::User1);
    create_bucket(&mut owner, BUCKET).await;
    put(&mut owner, put_header(BUCKET, OBJECT), b"the document")
        .await
        .expect("put the document");
    let root = harness.client(Who::Root);
    (harness, root)
}

/// The actions [`granting_policy`] grants to PartnerUser and AWSLabsUser-0005.
pub const GRANTED: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:GetBucketAcl",
    "s3:GetBucketPolicy",
];

/// The actions [`denying_policy`] denies to everyone, the account root included.
pub const DENIED: &[&str] = &["s3:GetObject", "s3:PutObject", "s3:ListBucket"];

fn resources() -> serde_json::Value {
    json!([
        format!("arn:aws:s3:::{BUCKET}"),
        format!("arn:aws:s3:::{BUCKET}/*")
    ])
}

/// Grants [`GRANTED`] to a user of another account and to a user of the bucket's
/// account whose identity policy allows no S3 action.
pub fn granting_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PartnerAndUser5",
            "Effect": "Allow",
            "Principal": {"AWS": [PARTNER_ARN, USER5_ARN]},
            "Action": GRANTED,
            "Resource": resources(),
        }]
    })
    .to_string()
}

/// Denies [`DENIED`] to every principal.
pub fn denying_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "NobodyReadsOrWrites",
            "Effect": "Deny",
            "Principal": "*",
            "Action": DENIED,
            "Resource": resources(),
        }]
    })
    .to_string()
}

/// Sets (or with None removes) [`BUCKET`]'s policy as the account root.
pub async fn set_policy(root: &mut ObjectClient, policy: Option<&str>) {
    match policy {
        Some(policy) => root
            .put_bucket_policy(PutBucketPolicyRequest {
                bucket: BUCKET.into(),
                policy: policy.into(),
            })
            .await
            .map(drop),
        None => root
            .delete_bucket_policy(DeleteBucketPolicyRequest {
                bucket: BUCKET.into(),
            })
            .await
            .map(drop),
    }
    .expect("the root sets the bucket policy");
}
