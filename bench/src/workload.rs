//! The call each phase repeats.

use std::sync::Arc;

use keyhold_proto::kms::v1::{DecryptRequest, GenerateDataKeyRequest};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{
    client::{self, KmsClient, USER1},
    fixture::Fixture,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Health,
    GenerateDataKey,
    /// GenerateDataKey over the AWS JSON protocol, with the AWS SDK for Rust.
    GenerateDataKeyJson,
    Decrypt,
}

/// One task's client and request; the request is cloned per call, as a real client
/// builds a fresh one each time.
pub enum Worker {
    Health(HealthClient<Channel>),
    GenerateDataKey(KmsClient, GenerateDataKeyRequest),
    GenerateDataKeyJson(aws_sdk_kms::Client, GenerateDataKeyRequest),
    Decrypt(KmsClient, DecryptRequest, Arc<[u8]>),
}

impl Worker {
    /// `aws` is the SDK client of [`Kind::GenerateDataKeyJson`] (shared: it pools
    /// its HTTP connections).
    pub fn new(
        kind: Kind,
        channel: Channel,
        aws: Option<&aws_sdk_kms::Client>,
        fixture: &Fixture,
    ) -> Worker {
        match kind {
            // Health is unauthenticated: the ceiling is the transport and the shared
            // tower stack's pass-through, nothing of KMS.
            Kind::Health => Worker::Health(HealthClient::new(channel)),
            Kind::GenerateDataKey => {
                Worker::GenerateDataKey(client::kms(channel, USER1), fixture.generate.clone())
            }
            Kind::GenerateDataKeyJson => Worker::GenerateDataKeyJson(
                aws.expect("an AWS SDK client for the AWS JSON phase")
                    .clone(),
                fixture.generate.clone(),
            ),
            Kind::Decrypt => Worker::Decrypt(
                client::kms(channel, USER1),
                fixture.decrypt.clone(),
                fixture.plaintext.clone().into(),
            ),
        }
    }

    /// One call; the error says what went wrong in one line.
    pub async fn call(&mut self) -> Result<(), String> {
        match self {
            Worker::Health(health) => {
                let response = health
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .map_err(|s| status_line(&s))?;
                // Anything else means the ceiling measured a server on its way out.
                match response.into_inner().status {
                    client::SERVING => Ok(()),
                    other => Err(format!("health status {other}, not SERVING")),
                }
            }
            Worker::GenerateDataKey(kms, request) => {
                let response = kms
                    .generate_data_key(request.clone())
                    .await
                    .map_err(|s| status_line(&s))?;
                match response.into_inner().plaintext.len() {
                    32 => Ok(()),
                    n => Err(format!(
                        "GenerateDataKey returned {n} plaintext bytes, not 32"
                    )),
                }
            }
            // The same request as the gRPC phase's: key id, key spec, encryption context.
            Worker::GenerateDataKeyJson(kms, request) => {
                let response = kms
                    .generate_data_key()
                    .key_id(request.key_id.as_str())
                    .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
                    .set_encryption_context(Some(request.encryption_context.clone()))
                    .send()
                    .await
                    .map_err(|e| format!("{}", aws_sdk_kms::error::DisplayErrorContext(e)))?;
                match response.plaintext().map(|p| p.as_ref().len()) {
                    Some(32) => Ok(()),
                    n => Err(format!(
                        "GenerateDataKey (AWS JSON) returned {n:?} plaintext bytes, not 32"
                    )),
                }
            }
            Worker::Decrypt(kms, request, expected) => {
                let response = kms
                    .decrypt(request.clone())
                    .await
                    .map_err(|s| status_line(&s))?;
                if response.into_inner().plaintext.as_slice() == &expected[..] {
                    Ok(())
                } else {
                    Err("Decrypt returned a different plaintext".to_owned())
                }
            }
        }
    }
}

fn status_line(status: &tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}
