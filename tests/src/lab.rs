//! docs/lab.md's starting point, shared by the tests that walk through the lab over
//! gRPC, the S3 endpoint and the AWS CLI: both services running and the lab user's
//! key under alias/myFirstKey.

use keyhold_proto::kms::v1::{CreateAliasRequest, KeyMetadata};

use crate::{KmsClient, ObjectHarness, Who, kms::lab_user_key};

/// The lab's bucket name.
pub const BUCKET: &str = "mycloudtrailbucket1234";
/// The lab's object key.
pub const IMAGE: &str = "images/lab-image.png";
pub const ALIAS: &str = "alias/myFirstKey";
/// S3's refusal of an SSE-KMS read that is not signed with SigV4 (anonymous ones too).
pub const SIGV4: &str = "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.";

/// The lab's image: bigger than a few segments, not a multiple of the segment size.
pub fn image() -> Vec<u8> {
    (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// Both services, User1's KMS client and the key User1 made and named ALIAS.
pub async fn start() -> (ObjectHarness, KmsClient, KeyMetadata) {
    let harness = ObjectHarness::start().await;
    let mut kms_user = harness.kms.client(Who::User1);
    let key = lab_user_key(&mut kms_user).await;
    kms_user
        .create_alias(CreateAliasRequest {
            alias_name: ALIAS.into(),
            target_key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
    (harness, kms_user, key)
}
