//! Public bucket policies and Block Public Access's policy half: BlockPublicPolicy
//! refuses them, RestrictPublicBuckets makes them grant nothing outside the account,
//! and with both off anonymous callers read SSE-S3 objects (never SSE-KMS ones).
//! Condition keys of the connection narrow a policy: then it is not public.

use keyhold_proto::object::v1::*;
use keyhold_tests::{
    ObjectClient, Who,
    kms::USER1_ARN,
    object::{put, sse_kms},
    s3_sdk::{assert_failure, get_bytes},
    setup::user_key,
    texts::ACCESS_DENIED,
};
use serde_json::{Value, json};

use super::{BUCKET, OBJECT, start};

const SIGV4_REQUIRED: &str = "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.";

fn public_read(condition: Option<Value>) -> String {
    let mut statement = json!({
        "Sid": "PublicRead",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{BUCKET}/*"),
    });
    if let Some(condition) = condition {
        statement["Condition"] = condition;
    }
    json!({"Version": "2012-10-17", "Statement": [statement]}).to_string()
}

async fn block(owner: &mut ObjectClient, block_public_policy: bool, restrict: bool) {
    owner
        .put_public_access_block(PutPublicAccessBlockRequest {
            bucket: BUCKET.into(),
            public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                block_public_acls: true,
                ignore_public_acls: true,
                block_public_policy,
                restrict_public_buckets: restrict,
            }),
        })
        .await
        .unwrap();
}

async fn is_public(owner: &mut ObjectClient) -> bool {
    owner
        .get_bucket_policy_status(GetBucketPolicyStatusRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy_status
        .unwrap()
        .is_public
}

#[tokio::test]
async fn block_public_policy_refuses_a_public_policy() {
    let (harness, _root) = start().await;
    let owner = harness.s3(Who::User1);
    assert_failure(
        owner
            .put_bucket_policy()
            .bucket(BUCKET)
            .policy(public_read(None))
            .send()
            .await,
        403,
        "AccessDenied",
        &format!(
            "User: {USER1_ARN} is not authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::{BUCKET}\" because public policies are blocked by the BlockPublicPolicy block public access setting."
        ),
    );
    // Nothing was stored.
    assert_failure(
        owner.get_bucket_policy().bucket(BUCKET).send().await,
        404,
        "NoSuchBucketPolicy",
        "The bucket policy does not exist",
    );
}

#[tokio::test]
async fn restrict_public_buckets_then_no_block_at_all() {
    let (harness, _root) = start().await;
    let mut owner = harness.client(Who::User1);
    let key = user_key(&harness).await;
    put(
        &mut owner,
        sse_kms(BUCKET, "kms.txt", &key.key_id),
        b"sealed",
    )
    .await
    .unwrap();
    block(&mut owner, false, true).await;
    owner
        .put_bucket_policy(PutBucketPolicyRequest {
            bucket: BUCKET.into(),
            policy: public_read(None),
        })
        .await
        .expect("BlockPublicPolicy is off");
    assert!(is_public(&mut owner).await);

    // RestrictPublicBuckets: the public statement reaches nobody outside the account.
    for who in [Who::Anonymous, Who::Partner] {
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

    // No block at all: anyone reads the SSE-S3 object, the partner account too
    // (its own identity policy allows s3:*); an SSE-KMS object needs a signed caller.
    owner
        .delete_public_access_block(DeletePublicAccessBlockRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap();
    let anonymous = harness.s3(Who::Anonymous);
    assert_eq!(get_bytes(&anonymous, BUCKET, OBJECT).await, b"the document");
    assert_eq!(
        get_bytes(&harness.s3(Who::Partner), BUCKET, OBJECT).await,
        b"the document"
    );
    let failure = assert_failure(
        anonymous
            .get_object()
            .bucket(BUCKET)
            .key("kms.txt")
            .send()
            .await,
        400,
        "InvalidArgument",
        SIGV4_REQUIRED,
    );
    assert_eq!(
        failure.field("ArgumentName").as_deref(),
        Some("Authorization")
    );
    // The policy grants GetObject only.
    assert_failure(
        anonymous.list_objects_v2().bucket(BUCKET).send().await,
        403,
        "AccessDenied",
        ACCESS_DENIED,
    );
}

#[tokio::test]
async fn a_policy_narrowed_by_source_ip_is_not_public_and_admits_that_address() {
    let (harness, _root) = start().await;
    let mut owner = harness.client(Who::User1);
    let narrowed = |cidr: &str| public_read(Some(json!({"IpAddress": {"aws:SourceIp": cidr}})));
    // Block Public Access stays on: a policy pinned to one address is not public.
    owner
        .put_bucket_policy(PutBucketPolicyRequest {
            bucket: BUCKET.into(),
            policy: narrowed("127.0.0.1/32"),
        })
        .await
        .expect("not public, so not blocked");
    assert!(!is_public(&mut owner).await);
    let anonymous = harness.s3(Who::Anonymous);
    assert_eq!(get_bytes(&anonymous, BUCKET, OBJECT).await, b"the document");

    // Another address: nothing for this caller.
    owner
        .put_bucket_policy(PutBucketPolicyRequest {
            bucket: BUCKET.into(),
            policy: narrowed("192.0.2.0/24"),
        })
        .await
        .unwrap();
    assert_failure(
        anonymous
            .get_object()
            .bucket(BUCKET)
            .key(OBJECT)
            .send()
            .await,
        403,
        "AccessDenied",
        ACCESS_DENIED,
    );

    // The whole internet is no narrowing at all.
    let refused = owner
        .put_bucket_policy(PutBucketPolicyRequest {
            bucket: BUCKET.into(),
            policy: narrowed("0.0.0.0/0"),
        })
        .await
        .expect_err("0.0.0.0/0 is public");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
}

#[tokio::test]
async fn a_deny_without_secure_transport_refuses_plain_http() {
    let (harness, _root) = start().await;
    let mut owner = harness.client(Who::User1);
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{BUCKET}"), format!("arn:aws:s3:::{BUCKET}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }]
    });
    owner
        .put_bucket_policy(PutBucketPolicyRequest {
            bucket: BUCKET.into(),
            policy: policy.to_string(),
        })
        .await
        .unwrap();
    // keyhold's ports serve plain HTTP: the deny holds for everyone but the root's
    // policy calls, which stay allowed so the owner can undo it.
    assert_failure(
        harness
            .s3(Who::User1)
            .get_object()
            .bucket(BUCKET)
            .key(OBJECT)
            .send()
            .await,
        403,
        "AccessDenied",
        &format!(
            "User: {USER1_ARN} is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::{BUCKET}/{OBJECT}\" with an explicit deny in a resource-based policy"
        ),
    );
    harness
        .s3(Who::Root)
        .delete_bucket_policy()
        .bucket(BUCKET)
        .send()
        .await
        .expect("the root may always remove the policy");
    assert_eq!(
        get_bytes(&harness.s3(Who::User1), BUCKET, OBJECT).await,
        b"the document"
    );
}
