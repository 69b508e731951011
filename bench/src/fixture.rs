//! The key and the ciphertext blob the measured calls use.

use std::collections::HashMap;

use keyhold_proto::kms::v1::{CreateKeyRequest, DecryptRequest, GenerateDataKeyRequest};
use tonic::transport::Channel;

use crate::client::{self, ROOT, USER1, USER1_NAME};

pub struct Fixture {
    pub key_arn: String,
    pub generate: GenerateDataKeyRequest,
    pub decrypt: DecryptRequest,
    /// What `decrypt` must give back, so a wrong answer counts as an error.
    pub plaintext: Vec<u8>,
}

/// A key made by root with the console policy naming AWSLabsUser-0001 as administrator
/// and user: the policy statements are real, so evaluation does real work on each call.
pub async fn prepare(channel: Channel) -> anyhow::Result<Fixture> {
    let mut root = client::kms(channel.clone(), ROOT);
    let created = root
        .create_key(CreateKeyRequest {
            description: "keyhold-loadgen benchmark key".into(),
            key_administrators: vec![USER1_NAME.into()],
            key_users: vec![USER1_NAME.into()],
            ..Default::default()
        })
        .await
        .map_err(|s| anyhow::anyhow!("CreateKey as root: {s}"))?
        .into_inner();
    let key = created
        .key_metadata
        .ok_or_else(|| anyhow::anyhow!("CreateKey returned no key metadata"))?;

    let generate = GenerateDataKeyRequest {
        key_id: key.key_id.clone(),
        encryption_context: encryption_context(),
        key_spec: "AES_256".into(),
        number_of_bytes: 0,
    };
    let mut user = client::kms(channel, USER1);
    let data_key = user
        .generate_data_key(generate.clone())
        .await
        .map_err(|s| anyhow::anyhow!("GenerateDataKey as {USER1_NAME}: {s}"))?
        .into_inner();
    let decrypt = DecryptRequest {
        ciphertext_blob: data_key.ciphertext_blob,
        encryption_context: encryption_context(),
        ..Default::default()
    };
    Ok(Fixture {
        key_arn: key.arn,
        generate,
        decrypt,
        plaintext: data_key.plaintext,
    })
}

/// What S3 sends for an SSE-KMS object.
fn encryption_context() -> HashMap<String, String> {
    HashMap::from([(
        "aws:s3:arn".to_owned(),
        "arn:aws:s3:::bench/object".to_owned(),
    )])
}
