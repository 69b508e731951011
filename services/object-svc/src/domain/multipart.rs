//! Multipart uploads (docs/s3-endpoint-plan.md section 4, option C). An upload has one
//! data key, made at CreateMultipartUpload (SSE-KMS: GenerateDataKey for the caller)
//! and stored wrapped. Every UploadPart unwraps it (SSE-KMS: Decrypt for the caller,
//! so the key policy decides every part) and seals the part into a blob of its own
//! under a fresh nonce prefix: a retried part number never reuses nonces. Complete
//! copies no bytes: the object row names the parts, in order, and GetObject chains
//! the part blobs (`read_plaintext`). The part list in the database (blobs, sizes,
//! prefixes, order) is what detects dropped, swapped or reordered parts; the segment
//! cipher detects anything done to the bytes of one part.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, stream::BoxStream};
use keyhold_crypto::{
    SecretKey,
    segments::{NoncePrefix, SegmentLayout},
};
use md5::{Digest, Md5};

use super::{
    ObjectAttributes, Objects,
    encryption::SseRequest,
    objects::{StoredObject, check_key, hex, rand_etag, truncate_to_millis, write_attributes},
};
use crate::{
    access::{Check, Requester},
    blobs::{BlobError, BlobStore},
    error::{ObjectError, ObjectResult},
    model::{ObjectEncryption, ObjectRecord, Permission, SseAlgorithm},
    store::multipart::{
        CompleteOutcome, ObjectCiphertext, ObjectPart, PartRecord, PutPartOutcome,
        UploadListing as StoredListing, UploadRecord,
    },
};

/// Every part of a completed upload but the last must be at least this big.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Part numbers are 1..=MAX_PART_NUMBER.
pub const MAX_PART_NUMBER: i32 = 10_000;
/// The most (and default) parts ListParts and uploads ListMultipartUploads return.
const MAX_LISTED: i32 = 1000;
/// An upload that nothing happened to (no part uploaded) for this long is aborted
/// by the blob sweep, unless the abandoned-upload cutoff is longer still. S3 keeps
/// them until a lifecycle rule aborts them; a week is the usual rule.
pub const MULTIPART_UPLOAD_IDLE_LIMIT: chrono::Duration = chrono::Duration::days(7);
/// How often Complete re-reads the parts when a retried part replaced one it had
/// checked, before it gives up with InvalidPart.
const COMPLETE_ATTEMPTS: usize = 3;

#[derive(Debug, Clone, Default)]
pub struct CreateMultipartUploadInput {
    pub bucket: String,
    pub key: String,
    /// Content headers and user metadata the completed object gets.
    pub attributes: ObjectAttributes,
    /// A canned ACL, or empty.
    pub acl: String,
    pub sse: SseRequest,
}

/// How an object (or upload) is encrypted, as the S3 response headers show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionSummary {
    pub algorithm: SseAlgorithm,
    /// SSE-KMS: the key ARN.
    pub kms_key_arn: Option<String>,
    pub bucket_key_enabled: bool,
    /// SSE-KMS: the encryption context (with `aws:s3:arn`); empty for SSE-S3.
    pub encryption_context: BTreeMap<String, String>,
}

impl From<&ObjectEncryption> for EncryptionSummary {
    fn from(encryption: &ObjectEncryption) -> Self {
        EncryptionSummary {
            algorithm: encryption.algorithm,
            kms_key_arn: encryption.kms_key_arn.clone(),
            bucket_key_enabled: encryption.bucket_key_enabled,
            encryption_context: encryption.encryption_context.clone(),
        }
    }
}

/// An upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated: DateTime<Utc>,
    /// The ARN of the principal that created it, or `anonymous`.
    pub initiator: String,
    /// The account that will own the object (canonical id).
    pub owner_id: String,
    pub encryption: EncryptionSummary,
}

impl From<&UploadRecord> for MultipartUpload {
    fn from(upload: &UploadRecord) -> Self {
        MultipartUpload {
            upload_id: upload.upload_id.clone(),
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            initiated: upload.initiated,
            initiator: upload.initiator.clone(),
            owner_id: upload.acl.owner_id.clone(),
            encryption: EncryptionSummary::from(&upload.encryption),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct UploadPartInput {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    /// 1..=10000.
    pub part_number: i32,
    /// When known, the body must be exactly this long.
    pub content_length: Option<u64>,
}

/// What UploadPart reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub part_number: i32,
    /// Quoted, as S3 sends it: the hex MD5 of the part (SSE-S3), or random (SSE-KMS,
    /// as for single PUTs and in S3).
    pub etag: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    pub encryption: EncryptionSummary,
}

/// One part as ListParts shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub part_number: i32,
    /// Quoted.
    pub etag: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
}

/// One page of ListParts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartListing {
    /// The upload (initiator, owner, encryption).
    pub upload: MultipartUpload,
    pub parts: Vec<PartInfo>,
    /// The page size in force (the request's, at most 1000).
    pub max_parts: i32,
    pub part_number_marker: i32,
    pub is_truncated: bool,
    /// When truncated: the last part number listed, where the next page starts after.
    pub next_part_number_marker: Option<i32>,
}

/// One page of ListMultipartUploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadListing {
    /// By key, then initiation.
    pub uploads: Vec<MultipartUpload>,
    /// With a delimiter: the prefixes keys rolled up into, counted once each.
    pub common_prefixes: Vec<String>,
    /// The page size in force (the request's, at most 1000).
    pub max_uploads: i32,
    pub is_truncated: bool,
    /// When truncated: the key-marker of the next page (the last key or common
    /// prefix of this one).
    pub next_key_marker: Option<String>,
    /// When truncated after an upload: the upload-id-marker of the next page.
    pub next_upload_id_marker: Option<String>,
}

/// A stretch of one part blob that a read needs.
struct PieceRead {
    blob_path: String,
    prefix: NoncePrefix,
    layout: SegmentLayout,
    range: Range<u64>,
}

impl Objects {
    pub async fn create_multipart_upload(
        &self,
        requester: &Requester,
        input: CreateMultipartUploadInput,
    ) -> ObjectResult<MultipartUpload> {
        check_key(&input.key)?;
        let bucket = self.bucket(&input.bucket).await?;
        self.authorize_object_write(requester, &bucket, &input.key, &input.acl, &input.sse)?;
        let acl = write_attributes(&bucket, &input.attributes, &input.acl)?;
        // One data key for the whole object; its plaintext is not needed until the
        // first part, so it goes at once (zeroized).
        let (data_key, mut encryption) = self
            .new_data_key(requester, &bucket, &input.key, &input.sse)
            .await?;
        drop(data_key);
        encryption.nonce_prefix.clear();
        let initiated = truncate_to_millis(Utc::now());
        let upload = UploadRecord {
            upload_id: new_upload_id(initiated),
            bucket: bucket.name.clone(),
            key: input.key,
            initiated,
            initiator: match requester.caller() {
                Some(caller) => caller.principal.arn.clone(),
                None => "anonymous".to_owned(),
            },
            content: input.attributes.content,
            user_metadata: input.attributes.metadata,
            encryption,
            acl,
        };
        if !self.store.insert_upload(&upload).await? {
            return Err(ObjectError::NoSuchBucket(bucket.name));
        }
        Ok(MultipartUpload::from(&upload))
    }

    /// Stores one part (replacing an earlier upload of that part number). The body is
    /// sealed into a new blob under a fresh nonce prefix; on any failure nothing of it
    /// stays (as in PutObject).
    pub async fn upload_part<S>(
        &self,
        requester: &Requester,
        input: UploadPartInput,
        body: S,
    ) -> ObjectResult<UploadedPart>
    where
        S: Stream<Item = Result<Bytes, BlobError>> + Send + Unpin,
    {
        check_key(&input.key)?;
        check_part_number(input.part_number)?;
        let bucket = self.bucket(&input.bucket).await?;
        self.authorize_upload(requester, &bucket, "s3:PutObject", &input.key)?;
        let upload = self
            .upload_of(&input.bucket, &input.key, &input.upload_id)
            .await?;
        // SSE-KMS: a Decrypt for this caller, now; a key user removed since the upload
        // began uploads no more parts.
        let data_key = self
            .unwrap_data_key(requester, &upload.bucket, &upload.key, &upload.encryption)
            .await?;
        // Fresh for every attempt: a retry of a part number must not reuse nonces
        // under the upload's key.
        let prefix = NoncePrefix::generate();
        let want_md5 = upload.encryption.algorithm == SseAlgorithm::Aes256;
        let (blob_path, written) = self
            .write_new_blob(&data_key, prefix, body, input.content_length, want_md5)
            .await?;
        drop(data_key);
        // As in S3, the ETag of an SSE-KMS part is not a digest of its plaintext.
        let etag = written.md5.unwrap_or_else(rand_etag);
        let part = PartRecord {
            upload_id: upload.upload_id.clone(),
            part_number: input.part_number,
            blob_path: blob_path.clone(),
            nonce_prefix: prefix.as_bytes().to_vec(),
            size: written.size,
            etag: etag.to_vec(),
            last_modified: truncate_to_millis(Utc::now()),
        };
        match self.store.put_part(&part).await {
            Ok(PutPartOutcome::Stored { replaced_blob }) => {
                if let Some(replaced) = replaced_blob {
                    self.discard_blob(&replaced).await;
                }
                Ok(UploadedPart {
                    part_number: part.part_number,
                    etag: format!("\"{}\"", hex(&etag)),
                    size: part.size,
                    last_modified: part.last_modified,
                    encryption: EncryptionSummary::from(&upload.encryption),
                })
            }
            Ok(PutPartOutcome::NoSuchUpload) => {
                self.discard_blob(&blob_path).await;
                Err(ObjectError::NoSuchUpload(upload.upload_id))
            }
            Ok(PutPartOutcome::UploadExpired) => Err(ObjectError::RequestTimeout),
            // The blob stays registered as an upload; the sweeper removes it.
            Err(error) => Err(error.into()),
        }
    }

    /// Makes the object of the listed parts (`(part number, ETag)`, ascending; the
    /// ETags with or without quotes), replacing any object at the key. The upload
    /// goes, and its parts that are not listed with it.
    pub async fn complete_multipart_upload(
        &self,
        requester: &Requester,
        bucket_name: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> ObjectResult<StoredObject> {
        check_key(key)?;
        let bucket = self.bucket(bucket_name).await?;
        self.authorize_upload(requester, &bucket, "s3:PutObject", key)?;
        if parts.is_empty() {
            return Err(ObjectError::MalformedXml);
        }
        let upload = self.upload_of(bucket_name, key, upload_id).await?;
        if parts.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
            return Err(ObjectError::InvalidPartOrder {
                upload_id: upload.upload_id,
            });
        }
        for _ in 0..COMPLETE_ATTEMPTS {
            // Parts are numbered 1..=10000, so this reads them all.
            let stored: HashMap<i32, PartRecord> = self
                .store
                .upload_parts(&upload.upload_id, 0, i64::from(MAX_PART_NUMBER))
                .await?
                .into_iter()
                .map(|part| (part.part_number, part))
                .collect();
            // Every listed part must exist with that ETag; then every one but the last
            // must be big enough.
            let chosen = parts
                .iter()
                .map(|(number, etag)| {
                    stored
                        .get(number)
                        .filter(|part| etag_matches(etag, &part.etag))
                        .ok_or_else(|| ObjectError::InvalidPart {
                            upload_id: upload.upload_id.clone(),
                            part_number: *number,
                            etag: etag.clone(),
                        })
                })
                .collect::<ObjectResult<Vec<&PartRecord>>>()?;
            let all_but_last = chosen.iter().zip(&parts).take(parts.len() - 1);
            for (part, (number, etag)) in all_but_last {
                if part.size < MIN_PART_SIZE {
                    return Err(ObjectError::EntityTooSmall {
                        part_number: *number,
                        etag: etag.clone(),
                        proposed_size: part.size,
                        min_size_allowed: MIN_PART_SIZE,
                    });
                }
            }
            let record = multipart_record(&upload, &chosen)?;
            let object_parts: Vec<ObjectPart> = chosen
                .iter()
                .map(|part| ObjectPart {
                    part_number: part.part_number,
                    blob_path: part.blob_path.clone(),
                    nonce_prefix: part.nonce_prefix.clone(),
                    size: part.size,
                })
                .collect();
            match self
                .store
                .complete_upload(&upload.upload_id, &record, &object_parts)
                .await?
            {
                // Parts left out were never readable: they go now. The object this
                // one replaced may be being read: the sweeper takes it later.
                CompleteOutcome::Stored { unused_blobs, .. } => {
                    for blob in &unused_blobs {
                        self.discard_blob(blob).await;
                    }
                    return Ok(StoredObject { record });
                }
                CompleteOutcome::NoSuchUpload => {
                    return Err(ObjectError::NoSuchUpload(upload.upload_id));
                }
                CompleteOutcome::NoSuchBucket => {
                    return Err(ObjectError::NoSuchBucket(bucket.name));
                }
                // A retry of a listed part landed meanwhile: check the new one.
                CompleteOutcome::PartsChanged => {}
            }
        }
        Err(ObjectError::InvalidPart {
            upload_id: upload.upload_id,
            part_number: parts[0].0,
            etag: parts[0].1.clone(),
        })
    }

    /// Drops the upload and deletes its parts' blobs.
    pub async fn abort_multipart_upload(
        &self,
        requester: &Requester,
        bucket_name: &str,
        key: &str,
        upload_id: &str,
    ) -> ObjectResult<()> {
        check_key(key)?;
        let bucket = self.bucket(bucket_name).await?;
        self.authorize_upload(requester, &bucket, "s3:AbortMultipartUpload", key)?;
        let upload = self.upload_of(bucket_name, key, upload_id).await?;
        let garbage = self
            .store
            .abort_upload(&upload.upload_id)
            .await?
            .ok_or_else(|| ObjectError::NoSuchUpload(upload.upload_id.clone()))?;
        for blob in &garbage {
            self.discard_blob(blob).await;
        }
        Ok(())
    }

    /// The upload's parts after `part_number_marker`, by number; at most `max_parts`
    /// (default and cap 1000).
    pub async fn list_parts(
        &self,
        requester: &Requester,
        bucket_name: &str,
        key: &str,
        upload_id: &str,
        max_parts: Option<i32>,
        part_number_marker: Option<i32>,
    ) -> ObjectResult<PartListing> {
        check_key(key)?;
        let bucket = self.bucket(bucket_name).await?;
        self.authorize_upload(requester, &bucket, "s3:ListMultipartUploadParts", key)?;
        let max_parts = page_size(max_parts, "max-parts")?;
        let marker = match part_number_marker {
            None => 0,
            Some(n) if n < 0 => {
                return Err(ObjectError::InvalidArgument {
                    message:
                        "Argument part-number-marker must be an integer between 0 and 2147483647"
                            .to_owned(),
                    argument_name: Some("part-number-marker".to_owned()),
                    argument_value: Some(n.to_string()),
                });
            }
            Some(n) => n,
        };
        let upload = self.upload_of(bucket_name, key, upload_id).await?;
        let mut rows = self
            .store
            .upload_parts(&upload.upload_id, marker, i64::from(max_parts) + 1)
            .await?;
        let is_truncated = rows.len() > max_parts as usize;
        rows.truncate(max_parts as usize);
        let parts: Vec<PartInfo> = rows
            .into_iter()
            .map(|part| PartInfo {
                part_number: part.part_number,
                etag: format!("\"{}\"", hex(&part.etag)),
                size: part.size,
                last_modified: part.last_modified,
            })
            .collect();
        let next_part_number_marker = is_truncated
            .then(|| parts.last().map(|p| p.part_number))
            .flatten();
        Ok(PartListing {
            upload: MultipartUpload::from(&upload),
            parts,
            max_parts,
            part_number_marker: marker,
            is_truncated,
            next_part_number_marker,
        })
    }

    /// The bucket's uploads in progress whose key starts with `prefix`, by key and
    /// then initiation, after `key_marker` (and, for that key, after
    /// `upload_id_marker`; ignored without `key_marker`). With a `delimiter`, keys
    /// roll up into common prefixes as in ListObjects. At most `max_uploads` uploads
    /// and prefixes (default and cap 1000). Empty strings mean "not given".
    #[allow(clippy::too_many_arguments)]
    pub async fn list_multipart_uploads(
        &self,
        requester: &Requester,
        bucket_name: &str,
        prefix: &str,
        delimiter: &str,
        key_marker: &str,
        upload_id_marker: &str,
        max_uploads: Option<i32>,
    ) -> ObjectResult<UploadListing> {
        let bucket = self.bucket(bucket_name).await?;
        let list = Check::bucket("s3:ListBucketMultipartUploads", bucket_name)
            .or_public_grant(&bucket.acl, Permission::Read);
        self.authorize(requester, &bucket, &list)?;
        let max_uploads = page_size(max_uploads, "max-uploads")?;
        // No key or upload id holds a NUL (see list_objects): a prefix with one
        // matches nothing, a delimiter with one groups nothing, and "after x\0..." is
        // "after x".
        if prefix.contains('\0') {
            return Ok(UploadListing {
                uploads: Vec::new(),
                common_prefixes: Vec::new(),
                max_uploads,
                is_truncated: false,
                next_key_marker: None,
                next_upload_id_marker: None,
            });
        }
        let delimiter = (!delimiter.is_empty() && !delimiter.contains('\0')).then_some(delimiter);
        let before_nul = |text: &str| text.split('\0').next().unwrap_or_default().to_owned();
        let key_marker = (!key_marker.is_empty()).then(|| before_nul(key_marker));
        let upload_id_marker = key_marker
            .as_ref()
            .and_then(|_| (!upload_id_marker.is_empty()).then(|| before_nul(upload_id_marker)));
        let StoredListing {
            uploads,
            common_prefixes,
            is_truncated,
            next_key_marker,
            next_upload_id_marker,
        } = self
            .store
            .list_uploads(
                bucket_name,
                prefix,
                delimiter,
                key_marker.as_deref(),
                upload_id_marker.as_deref(),
                max_uploads as usize,
            )
            .await?;
        Ok(UploadListing {
            uploads: uploads.iter().map(MultipartUpload::from).collect(),
            common_prefixes,
            max_uploads,
            is_truncated,
            next_key_marker,
            next_upload_id_marker,
        })
    }

    /// Aborts uploads idle since `idle_before` (the sweeper's), in batches; their
    /// parts become garbage for the same sweep. Returns how many went.
    pub(super) async fn expire_multipart_uploads(
        &self,
        idle_before: DateTime<Utc>,
    ) -> ObjectResult<usize> {
        let mut expired = 0;
        loop {
            let batch = self.store.expire_uploads(idle_before, 100).await?;
            if batch == 0 {
                return Ok(expired);
            }
            expired += batch;
        }
    }

    /// The upload `upload_id` if it is one of `bucket/key`; NoSuchUpload otherwise.
    async fn upload_of(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> ObjectResult<UploadRecord> {
        let no_such_upload = || ObjectError::NoSuchUpload(upload_id.to_owned());
        // No upload id holds a NUL (and Postgres text cannot).
        if upload_id.is_empty() || upload_id.contains('\0') {
            return Err(no_such_upload());
        }
        self.store
            .upload(upload_id)
            .await?
            .filter(|upload| upload.bucket == bucket && upload.key == key)
            .ok_or_else(no_such_upload)
    }

    /// Plaintext bytes `wanted` of the object `record`: of its one blob, or (a
    /// multipart object) of the stretches of its part blobs that `wanted` covers,
    /// chained. Yields only authenticated bytes (see `read_range_with_layout`).
    pub(super) fn read_plaintext(
        &self,
        record: &ObjectRecord,
        ciphertext: ObjectCiphertext,
        data_key: SecretKey,
        wanted: Range<u64>,
    ) -> ObjectResult<BoxStream<'static, Result<Bytes, BlobError>>> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            ObjectError::Corrupt(format!("{what} of {}: {e}", record.arn()))
        };
        let segment_size = record.encryption.segment_size;
        let whole = || {
            let prefix = NoncePrefix::from_slice(&record.encryption.nonce_prefix)
                .map_err(|e| corrupt("nonce prefix", &e))?;
            let layout = SegmentLayout::with_segment_size(record.size, segment_size)
                .map_err(|e| corrupt("segment layout", &e))?;
            Ok::<_, ObjectError>((prefix, layout))
        };
        let parts = match ciphertext {
            ObjectCiphertext::Blob => {
                let (prefix, layout) = whole()?;
                return Ok(self
                    .blobs
                    .read_range_with_layout(&record.blob_path, data_key, prefix, layout, wanted)
                    .boxed());
            }
            ObjectCiphertext::Inline(ciphertext) => {
                let (prefix, layout) = whole()?;
                return Ok(BlobStore::read_inline_range(
                    ciphertext, data_key, prefix, layout, wanted,
                )
                .boxed());
            }
            ObjectCiphertext::Parts(parts) => parts,
        };
        let total: u64 = parts.iter().map(|part| part.size).sum();
        if total != record.size || parts[0].blob_path != record.blob_path {
            return Err(corrupt(
                "part list",
                &format!("{} parts of {total} bytes", parts.len()),
            ));
        }
        let mut pieces = Vec::new();
        let mut offset = 0u64;
        for part in &parts {
            let end = offset + part.size;
            let (start, stop) = (wanted.start.max(offset), wanted.end.min(end));
            // An empty read (of an empty object) still authenticates the final segment
            // of the last part, so a truncation shows.
            let last_of_empty = wanted.is_empty() && end == total && start >= stop;
            if start < stop || last_of_empty {
                let (start, stop) = if last_of_empty {
                    (part.size, part.size)
                } else {
                    (start - offset, stop - offset)
                };
                pieces.push(PieceRead {
                    blob_path: part.blob_path.clone(),
                    prefix: NoncePrefix::from_slice(&part.nonce_prefix)
                        .map_err(|e| corrupt("nonce prefix", &e))?,
                    layout: SegmentLayout::with_segment_size(part.size, segment_size)
                        .map_err(|e| corrupt("segment layout", &e))?,
                    range: start..stop,
                });
                if last_of_empty {
                    break;
                }
            }
            offset = end;
        }
        let blobs = self.blobs.clone();
        // The data key lives (zeroized on drop) as long as the body does; each part's
        // reader takes a copy only when its turn comes.
        Ok(futures::stream::iter(pieces)
            .map(move |piece| {
                blobs.read_range_with_layout(
                    &piece.blob_path,
                    data_key.clone(),
                    piece.prefix,
                    piece.layout,
                    piece.range,
                )
            })
            .flatten()
            .boxed())
    }
}

/// The object row of a completed upload made of `parts` (in order).
fn multipart_record(upload: &UploadRecord, parts: &[&PartRecord]) -> ObjectResult<ObjectRecord> {
    let first = parts
        .first()
        .ok_or_else(|| ObjectError::Internal("a multipart object with no part".to_owned()))?;
    let mut digests = Md5::new();
    for part in parts {
        digests.update(&part.etag);
    }
    let digest: [u8; 16] = digests.finalize().into();
    Ok(ObjectRecord {
        bucket: upload.bucket.clone(),
        key: upload.key.clone(),
        // The first part's blob names this version of the object (object_parts).
        blob_path: first.blob_path.clone(),
        size: parts.iter().map(|part| part.size).sum(),
        etag: format!("\"{}-{}\"", hex(&digest), parts.len()),
        last_modified: truncate_to_millis(Utc::now()),
        content: upload.content.clone(),
        user_metadata: upload.user_metadata.clone(),
        encryption: ObjectEncryption {
            nonce_prefix: first.nonce_prefix.clone(),
            ..upload.encryption.clone()
        },
        acl: upload.acl.clone(),
    })
}

/// A part's ETag as a client names it: hex, quoted or not, any case.
fn etag_matches(given: &str, stored: &[u8]) -> bool {
    let given = given.trim();
    let given = given
        .strip_prefix('"')
        .and_then(|g| g.strip_suffix('"'))
        .unwrap_or(given);
    given.eq_ignore_ascii_case(&hex(stored))
}

fn check_part_number(part_number: i32) -> ObjectResult<()> {
    if (1..=MAX_PART_NUMBER).contains(&part_number) {
        Ok(())
    } else {
        Err(ObjectError::InvalidArgument {
            message: "Part number must be an integer between 1 and 10000, inclusive".to_owned(),
            argument_name: Some("partNumber".to_owned()),
            argument_value: Some(part_number.to_string()),
        })
    }
}

/// A page size: the request's, at most (and by default) 1000; negative is refused.
fn page_size(requested: Option<i32>, argument: &str) -> ObjectResult<i32> {
    match requested {
        None => Ok(MAX_LISTED),
        Some(n) if n < 0 => Err(ObjectError::InvalidArgument {
            message: format!("Argument {argument} must be an integer between 0 and 2147483647"),
            argument_name: Some(argument.to_owned()),
            argument_value: Some(n.to_string()),
        }),
        Some(n) => Ok(n.min(MAX_LISTED)),
    }
}

/// A new upload id: the initiation time (fixed-width hex microseconds, so that ids
/// sort in initiation order) and 192 random bits, URL-safe.
fn new_upload_id(initiated: DateTime<Utc>) -> String {
    let mut random = [0u8; 24];
    keyhold_crypto::fill_random(&mut random);
    let micros = u64::try_from(initiated.timestamp_micros()).unwrap_or(0);
    format!("{micros:016x}{}", URL_SAFE_NO_PAD.encode(random))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_with_or_without_quotes_in_any_case() {
        let stored = [0xabu8; 16];
        let text = "abababababababababababababababab";
        assert!(etag_matches(text, &stored));
        assert!(etag_matches(&format!("\"{text}\""), &stored));
        assert!(etag_matches(&text.to_uppercase(), &stored));
        assert!(!etag_matches("\"abab\"", &stored));
        assert!(!etag_matches("", &stored));
    }

    #[test]
    fn part_numbers_are_1_to_10000() {
        for good in [1, 2, 9_999, 10_000] {
            assert!(check_part_number(good).is_ok());
        }
        for bad in [0, -1, 10_001, i32::MAX, i32::MIN] {
            let error = check_part_number(bad).unwrap_err();
            assert_eq!(
                error.fields(),
                vec![
                    ("ArgumentName", "partNumber".to_owned()),
                    ("ArgumentValue", bad.to_string())
                ]
            );
            assert_eq!(
                error.to_string(),
                "Part number must be an integer between 1 and 10000, inclusive"
            );
        }
    }

    #[test]
    fn upload_ids_are_url_safe_random_and_sort_by_time() {
        let early = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let late = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let a = new_upload_id(early);
        let b = new_upload_id(early);
        assert_ne!(a, b);
        assert_eq!(a.len(), 48);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert!(a < new_upload_id(late) && b < new_upload_id(late));
    }
}
