//! What many tests do before the call they test, over gRPC: start object-svc with a
//! bucket, change and read a bucket's ownership, public access and default encryption
//! settings, make a key the lab user administers and uses.

use keyhold_proto::{kms::v1 as kms, object::v1::*};

use crate::{ObjectClient, ObjectHarness, Who, kms::lab_user_key};

pub async fn create_bucket(client: &mut ObjectClient, name: &str) {
    client
        .create_bucket(CreateBucketRequest {
            bucket: name.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
}

/// A harness, User1's gRPC client and `bucket` (all defaults).
pub async fn start(bucket: &str) -> (ObjectHarness, ObjectClient) {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    create_bucket(&mut user, bucket).await;
    (harness, user)
}

/// A key User1 administers and may use, with the console's key policy.
pub async fn user_key(harness: &ObjectHarness) -> kms::KeyMetadata {
    let mut kms_user = harness.kms.client(Who::User1);
    lab_user_key(&mut kms_user).await
}

pub async fn set_ownership(client: &mut ObjectClient, bucket: &str, ownership: &str) {
    client
        .put_bucket_ownership_controls(PutBucketOwnershipControlsRequest {
            bucket: bucket.into(),
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: ownership.into(),
                }],
            }),
        })
        .await
        .unwrap();
}

/// Turns Block Public Access off (all four settings).
pub async fn delete_block(client: &mut ObjectClient, bucket: &str) {
    client
        .delete_public_access_block(DeletePublicAccessBlockRequest {
            bucket: bucket.into(),
        })
        .await
        .unwrap();
}

pub async fn ownership_rules(
    client: &mut ObjectClient,
    bucket: &str,
) -> Vec<OwnershipControlsRule> {
    client
        .get_bucket_ownership_controls(GetBucketOwnershipControlsRequest {
            bucket: bucket.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ownership_controls
        .unwrap()
        .rules
}

pub async fn public_access_block(
    client: &mut ObjectClient,
    bucket: &str,
) -> Option<PublicAccessBlockConfiguration> {
    client
        .get_public_access_block(GetPublicAccessBlockRequest {
            bucket: bucket.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .public_access_block_configuration
}

pub async fn bucket_encryption(
    client: &mut ObjectClient,
    bucket: &str,
) -> ServerSideEncryptionConfiguration {
    client
        .get_bucket_encryption(GetBucketEncryptionRequest {
            bucket: bucket.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .server_side_encryption_configuration
        .expect("a configuration")
}

/// A default encryption configuration of one rule.
pub fn encryption_rule(
    algorithm: &str,
    key_id: &str,
    bucket_key: bool,
) -> ServerSideEncryptionConfiguration {
    ServerSideEncryptionConfiguration {
        rules: vec![ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                sse_algorithm: algorithm.into(),
                kms_master_key_id: key_id.into(),
            }),
            bucket_key_enabled: bucket_key,
        }],
    }
}
