//! Which key encrypts an object, and getting its plaintext data key back on read.
//! SSE-KMS keys come from kms-svc for the caller (so the key policy decides every
//! request); SSE-S3 keys are wrapped by object-svc's master key. A plaintext data key
//! lives only for the request that needs it.

use std::collections::BTreeMap;

use keyhold_crypto::{
    SecretKey,
    segments::{NoncePrefix, SEGMENT_SIZE},
};

use super::Objects;
use crate::{
    access::Requester,
    error::{ObjectError, ObjectResult},
    model::{Bucket, ObjectEncryption, ObjectRecord, SseAlgorithm},
};

/// The account's AWS managed key for S3, which kms-svc creates on first use.
pub const AWS_MANAGED_S3_KEY: &str = "alias/aws/s3";
/// The encryption context pair S3 always adds.
pub const S3_ARN_CONTEXT: &str = "aws:s3:arn";

/// The encryption a write asks for; empty fields mean "the bucket's default".
#[derive(Debug, Clone, Default)]
pub struct SseRequest {
    /// `AES256`, `aws:kms` or empty.
    pub server_side_encryption: String,
    pub kms_key_id: String,
    pub context: BTreeMap<String, String>,
    pub bucket_key_enabled: Option<bool>,
}

/// The SSE-KMS encryption context a request adds: at most KMS's 8 KiB of keys and
/// values, none holding a NUL (it is stored with the object, and Postgres cannot).
pub fn check_encryption_context<'a>(
    pairs: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> ObjectResult<()> {
    let invalid = |message: String| ObjectError::InvalidArgument {
        message,
        argument_name: Some(CONTEXT_HEADER.to_owned()),
        argument_value: None,
    };
    let mut size = 0;
    for (key, value) in pairs {
        if key.contains('\0') || value.contains('\0') {
            return Err(invalid(
                "The encryption context must not contain the NUL character".to_owned(),
            ));
        }
        size += key.len() + value.len();
    }
    if size > keyhold_crypto::MAX_CONTEXT_BYTES {
        return Err(invalid(format!(
            "The encryption context holds {size} bytes of keys and values; KMS accepts at most {}",
            keyhold_crypto::MAX_CONTEXT_BYTES
        )));
    }
    Ok(())
}

const CONTEXT_HEADER: &str = "x-amz-server-side-encryption-context";

impl SseRequest {
    fn algorithm(&self) -> ObjectResult<Option<SseAlgorithm>> {
        check_encryption_context(&self.context)?;
        if self.server_side_encryption.is_empty() {
            if !self.kms_key_id.is_empty() {
                return Err(ObjectError::InvalidArgument {
                    message: "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms".to_owned(),
                    argument_name: Some("x-amz-server-side-encryption-aws-kms-key-id".to_owned()),
                    argument_value: None,
                });
            }
            return Ok(None);
        }
        let algorithm = SseAlgorithm::parse(&self.server_side_encryption).ok_or_else(|| {
            ObjectError::InvalidArgument {
                message: "The encryption method specified is not supported".to_owned(),
                argument_name: Some("x-amz-server-side-encryption".to_owned()),
                argument_value: Some(self.server_side_encryption.clone()),
            }
        })?;
        if algorithm != SseAlgorithm::AwsKms
            && (!self.kms_key_id.is_empty() || !self.context.is_empty())
        {
            return Err(ObjectError::InvalidArgument {
                message: "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms".to_owned(),
                argument_name: Some("x-amz-server-side-encryption".to_owned()),
                argument_value: Some(self.server_side_encryption.clone()),
            });
        }
        Ok(Some(algorithm))
    }
}

impl Objects {
    /// A fresh data key for a new object `bucket/key`, under the request's encryption
    /// or else the bucket's default.
    pub(super) async fn new_data_key(
        &self,
        requester: &Requester,
        bucket: &Bucket,
        key: &str,
        sse: &SseRequest,
    ) -> ObjectResult<(SecretKey, ObjectEncryption)> {
        let default = &bucket.encryption;
        let algorithm = sse.algorithm()?.unwrap_or(default.algorithm);
        let nonce_prefix = NoncePrefix::generate().as_bytes().to_vec();
        let segment_size = SEGMENT_SIZE as u32;
        match algorithm {
            SseAlgorithm::Aes256 => {
                let plaintext = SecretKey::generate();
                let wrapped_key = self
                    .master_key
                    .wrap(plaintext.expose(), &sse_s3_aad(&bucket.name, key));
                Ok((
                    plaintext,
                    ObjectEncryption {
                        algorithm,
                        kms_key_arn: None,
                        bucket_key_enabled: false,
                        wrapped_key,
                        encryption_context: BTreeMap::new(),
                        nonce_prefix,
                        segment_size,
                    },
                ))
            }
            SseAlgorithm::AwsKms => {
                let user = requester.kms_user()?;
                let bucket_default_is_kms = default.algorithm == SseAlgorithm::AwsKms;
                let key_id = if !sse.kms_key_id.is_empty() {
                    sse.kms_key_id.clone()
                } else {
                    default
                        .kms_master_key_id
                        .clone()
                        .filter(|id| bucket_default_is_kms && !id.is_empty())
                        .unwrap_or_else(|| AWS_MANAGED_S3_KEY.to_owned())
                };
                let bucket_key_enabled = sse
                    .bucket_key_enabled
                    .unwrap_or(bucket_default_is_kms && default.bucket_key_enabled);
                let mut context = sse.context.clone();
                let arn = if bucket_key_enabled {
                    bucket.arn()
                } else {
                    format!("arn:aws:s3:::{}/{key}", bucket.name)
                };
                context.insert(S3_ARN_CONTEXT.to_owned(), arn);
                let data_key = self.kms.generate_data_key(user, &key_id, &context).await?;
                Ok((
                    data_key.plaintext,
                    ObjectEncryption {
                        algorithm,
                        kms_key_arn: Some(data_key.key_arn),
                        bucket_key_enabled,
                        wrapped_key: data_key.ciphertext_blob,
                        encryption_context: context,
                        nonce_prefix,
                        segment_size,
                    },
                ))
            }
        }
    }

    /// The plaintext data key of a stored object. For SSE-KMS this is a Decrypt that
    /// kms-svc allows (or refuses) for this caller, now.
    pub(super) async fn data_key(
        &self,
        requester: &Requester,
        object: &ObjectRecord,
    ) -> ObjectResult<SecretKey> {
        self.unwrap_data_key(requester, &object.bucket, &object.key, &object.encryption)
            .await
    }

    /// The plaintext data key of `encryption`, the encryption of the object (or
    /// multipart upload) `bucket/key`; see [`Self::data_key`].
    pub(super) async fn unwrap_data_key(
        &self,
        requester: &Requester,
        bucket: &str,
        key: &str,
        encryption: &ObjectEncryption,
    ) -> ObjectResult<SecretKey> {
        let arn = format!("arn:aws:s3:::{bucket}/{key}");
        match encryption.algorithm {
            SseAlgorithm::Aes256 => {
                let plaintext = self
                    .master_key
                    .unwrap(&encryption.wrapped_key, &sse_s3_aad(bucket, key))
                    .map_err(|e| ObjectError::Corrupt(format!("SSE-S3 key of {arn}: {e}")))?;
                SecretKey::from_bytes(&plaintext)
                    .map_err(|e| ObjectError::Corrupt(format!("SSE-S3 key of {arn}: {e}")))
            }
            SseAlgorithm::AwsKms => {
                let user = requester.kms_user()?;
                // The context is what binds the data key to its object; a row whose
                // context names another object was moved, and must not open.
                let expected = if encryption.bucket_key_enabled {
                    format!("arn:aws:s3:::{bucket}")
                } else {
                    arn.clone()
                };
                if encryption.encryption_context.get(S3_ARN_CONTEXT) != Some(&expected) {
                    return Err(ObjectError::Corrupt(format!(
                        "the SSE-KMS encryption context of {arn} names another object"
                    )));
                }
                let key_arn = encryption.kms_key_arn.as_deref().unwrap_or_default();
                self.kms
                    .decrypt(
                        user,
                        key_arn,
                        &encryption.wrapped_key,
                        &encryption.encryption_context,
                    )
                    .await
            }
        }
    }
}

/// Binds an SSE-S3 wrapped key to its object, so a key row copied onto another
/// object does not open.
fn sse_s3_aad(bucket: &str, key: &str) -> Vec<u8> {
    format!("keyhold/sse-s3/v1\0{bucket}\0{key}").into_bytes()
}
