//! object-svc's client of kms-svc: data keys for SSE-KMS, always asked for on behalf
//! of the end user, so kms-svc evaluates the key policy for that user on every PUT
//! and GET. Nothing here caches a plaintext key.

use std::{collections::BTreeMap, time::Duration};

use keyhold_crypto::SecretKey;
use keyhold_platform::{
    auth::{AUTHORIZATION_HEADER, ON_BEHALF_OF_HEADER, bearer_value},
    error::exception_of,
    telemetry::{TraceContext, TraceContextLayer},
    tls::Tls,
};
use keyhold_proto::kms::v1::{
    DecryptRequest, GenerateDataKeyRequest, kms_service_client::KmsServiceClient,
};
use tonic::{
    Code, Request, Status,
    metadata::AsciiMetadataValue,
    transport::{Channel, Endpoint},
};
use zeroize::Zeroizing;

use crate::error::{ObjectError, ObjectResult};

/// A fresh data key: the plaintext to encrypt with (zeroized on drop) and the blob
/// kms-svc made of it, which is all that is stored.
pub struct DataKey {
    pub plaintext: SecretKey,
    pub ciphertext_blob: Vec<u8>,
    /// The key's ARN, as kms-svc reports it.
    pub key_arn: String,
}

#[derive(Clone)]
pub struct KmsClient {
    client: KmsServiceClient<TraceContext<Channel>>,
    /// None when object-svc's client certificate says who it is.
    authorization: Option<AsciiMetadataValue>,
}

impl KmsClient {
    /// Connects on first use, so object-svc starts even while kms-svc is not up yet.
    pub fn connect_lazy(
        endpoint: &str,
        credentials: Option<(&str, &str)>,
        tls: Option<&Tls>,
    ) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|e| anyhow::anyhow!("invalid kms endpoint {endpoint:?}: {e}"))?
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(30));
        let channel = keyhold_platform::tls::connect_lazy(channel, tls)?;
        let channel = tower::ServiceBuilder::new()
            .layer(TraceContextLayer)
            .service(channel);
        let authorization = match credentials {
            Some((access_key_id, secret_access_key)) => {
                let bearer = Zeroizing::new(bearer_value(access_key_id, secret_access_key));
                let mut authorization: AsciiMetadataValue = bearer.parse().map_err(|_| {
                    anyhow::anyhow!("the kms credentials are not valid header text")
                })?;
                authorization.set_sensitive(true);
                Some(authorization)
            }
            None => None,
        };
        Ok(KmsClient {
            client: KmsServiceClient::new(channel),
            authorization,
        })
    }

    /// GenerateDataKey (AES_256) under `key_id` for the user `user_arn`.
    pub async fn generate_data_key(
        &self,
        user_arn: &str,
        key_id: &str,
        encryption_context: &BTreeMap<String, String>,
    ) -> ObjectResult<DataKey> {
        let request = self.request(
            user_arn,
            GenerateDataKeyRequest {
                key_id: key_id.to_owned(),
                encryption_context: encryption_context.clone().into_iter().collect(),
                key_spec: "AES_256".to_owned(),
                number_of_bytes: 0,
            },
        )?;
        let response = self
            .client
            .clone()
            .generate_data_key(request)
            .await
            .map_err(kms_failure)?
            .into_inner();
        let plaintext = Zeroizing::new(response.plaintext);
        let plaintext = SecretKey::from_bytes(&plaintext).map_err(|_| {
            ObjectError::Internal("kms-svc sent a data key of the wrong size".into())
        })?;
        Ok(DataKey {
            plaintext,
            ciphertext_blob: response.ciphertext_blob,
            key_arn: response.key_id,
        })
    }

    /// Decrypt of an object's data key for the user `user_arn`.
    pub async fn decrypt(
        &self,
        user_arn: &str,
        key_arn: &str,
        ciphertext_blob: &[u8],
        encryption_context: &BTreeMap<String, String>,
    ) -> ObjectResult<SecretKey> {
        let request = self.request(
            user_arn,
            DecryptRequest {
                ciphertext_blob: ciphertext_blob.to_vec(),
                encryption_context: encryption_context.clone().into_iter().collect(),
                key_id: key_arn.to_owned(),
                encryption_algorithm: String::new(),
            },
        )?;
        let response = self
            .client
            .clone()
            .decrypt(request)
            .await
            .map_err(kms_failure)?
            .into_inner();
        let plaintext = Zeroizing::new(response.plaintext);
        SecretKey::from_bytes(&plaintext)
            .map_err(|_| ObjectError::Internal("kms-svc sent a data key of the wrong size".into()))
    }

    fn request<T>(&self, user_arn: &str, message: T) -> ObjectResult<Request<T>> {
        let mut request = Request::new(message);
        let user: AsciiMetadataValue = user_arn
            .parse()
            .map_err(|_| ObjectError::Internal(format!("user ARN {user_arn:?} is not ASCII")))?;
        let metadata = request.metadata_mut();
        if let Some(authorization) = &self.authorization {
            metadata.insert(AUTHORIZATION_HEADER, authorization.clone());
        }
        metadata.insert(ON_BEHALF_OF_HEADER, user);
        Ok(request)
    }
}

/// docs/aws-behaviour.md (S3 errors): KMS refusals reach S3 callers as `KMS.<exception>` (400), except a
/// policy refusal, which is S3's AccessDenied carrying the KMS message.
fn kms_failure(status: Status) -> ObjectError {
    let exception = exception_of(&status).unwrap_or_default();
    let message = status.message().to_owned();
    match (status.code(), exception.as_str()) {
        (_, "AccessDeniedException") => ObjectError::AccessDenied(message),
        (_, "DisabledException" | "KMSInvalidStateException" | "NotFoundException") => {
            ObjectError::Kms {
                code: format!("KMS.{exception}"),
                message,
            }
        }
        (Code::Unavailable, _) => {
            tracing::warn!(%message, "kms-svc unavailable");
            ObjectError::Unavailable
        }
        (Code::ResourceExhausted, _) => ObjectError::Kms {
            code: "KMS.ThrottlingException".to_owned(),
            message,
        },
        _ => ObjectError::Internal(format!(
            "kms-svc answered {:?} {exception}: {message}",
            status.code()
        )),
    }
}
