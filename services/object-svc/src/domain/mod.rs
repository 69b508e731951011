//! object-svc's domain: buckets, their settings and objects, with no transport types,
//! so the gRPC API and the S3 endpoint share every rule.

mod authorization;
mod bucket_policy;
mod buckets;
mod conditions;
mod encryption;
mod multipart;
#[cfg(test)]
mod multipart_tests;
mod objects;

use std::collections::BTreeMap;

use keyhold_crypto::MasterKey;

pub use bucket_policy::{PolicyStatus, check_policy_size};
pub use buckets::{BucketRead, BucketSettingsChange, canned, grant, requested_acl};
pub use conditions::{ByteRange, Conditions, WriteCondition, parse_range, parse_time};
pub use encryption::{SseRequest, check_encryption_context};
pub use multipart::{
    CreateMultipartUploadInput, EncryptionSummary, MIN_PART_SIZE, MULTIPART_UPLOAD_IDLE_LIMIT,
    MultipartUpload, PartInfo, PartListing, UploadListing, UploadPartInput, UploadedPart,
};
pub use objects::{
    CopyObjectInput, GetObjectInput, ListObjectsInput, ListObjectsOutput, ObjectBody, ObjectRead,
    PutObjectInput, StoredObject, check_key,
};

use crate::{blobs::BlobStore, kms_client::KmsClient, model::ContentHeaders, store::MetadataStore};

/// The object service: its metadata store, the blob store of ciphertext, kms-svc for
/// SSE-KMS data keys and its own master key for SSE-S3.
pub struct Objects {
    store: MetadataStore,
    blobs: BlobStore,
    kms: KmsClient,
    master_key: MasterKey,
    account_id: String,
    region: String,
    policies: authorization::PolicyCache,
}

impl Objects {
    pub fn new(
        store: MetadataStore,
        blobs: BlobStore,
        kms: KmsClient,
        master_key: MasterKey,
        account_id: String,
        region: String,
    ) -> Self {
        Objects {
            store,
            blobs,
            kms,
            master_key,
            account_id,
            region,
            policies: Default::default(),
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Deletes blobs that no object references any more: those of objects replaced
    /// or deleted before `replaced_before`, and uploads abandoned before
    /// `abandoned_before` (their writer crashed). First it aborts the multipart
    /// uploads idle since then, and at least for [`MULTIPART_UPLOAD_IDLE_LIMIT`], so
    /// their parts go too.
    pub async fn sweep_blobs(
        &self,
        abandoned_before: chrono::DateTime<chrono::Utc>,
        replaced_before: chrono::DateTime<chrono::Utc>,
    ) -> crate::error::ObjectResult<usize> {
        let idle_before = abandoned_before.min(chrono::Utc::now() - MULTIPART_UPLOAD_IDLE_LIMIT);
        let expired = self.expire_multipart_uploads(idle_before).await?;
        if expired > 0 {
            tracing::info!(expired, "aborted idle multipart uploads");
        }
        let mut removed = 0;
        loop {
            let paths = self
                .store
                .collectable_blobs(abandoned_before, replaced_before, 500)
                .await?;
            if paths.is_empty() {
                return Ok(removed);
            }
            for path in &paths {
                self.blobs.delete(path).await?;
                self.store.forget_blob(path).await?;
                removed += 1;
            }
        }
    }

    /// Seals `body` into a new blob, registered as an upload first so that a crash
    /// leaves a trace for the sweeper, and removed again if the write fails. Returns
    /// the blob's path, for the row that will reference it.
    async fn write_new_blob<S>(
        &self,
        data_key: &keyhold_crypto::SecretKey,
        prefix: keyhold_crypto::NoncePrefix,
        body: S,
        content_length: Option<u64>,
        want_md5: bool,
    ) -> crate::error::ObjectResult<(String, crate::blobs::Written)>
    where
        S: futures::Stream<Item = Result<bytes::Bytes, crate::blobs::BlobError>> + Send + Unpin,
    {
        let blob_path = BlobStore::new_blob_path();
        self.store.register_upload(&blob_path).await?;
        let written = self
            .blobs
            .write_sealed(&blob_path, data_key, prefix, body, content_length, want_md5)
            .await;
        match written {
            Ok(written) => Ok((blob_path, written)),
            Err(error) => {
                self.discard_blob(&blob_path).await;
                Err(error.into())
            }
        }
    }

    /// Removes a blob nothing references any more; the sweeper retries on failure,
    /// since the store still lists it as garbage.
    async fn discard_blob(&self, path: &str) {
        let result = match self.blobs.delete(path).await {
            Ok(()) => self.store.forget_blob(path).await.map_err(Into::into),
            Err(error) => Err(crate::error::ObjectError::from(error)),
        };
        if let Err(error) = result {
            tracing::warn!(%error, path, "could not remove an unreferenced blob; the sweeper will");
        }
    }
}

/// Stored content headers and user metadata of a write.
#[derive(Debug, Clone, Default)]
pub struct ObjectAttributes {
    pub content: ContentHeaders,
    pub metadata: BTreeMap<String, String>,
}
