//! Objects: writes encrypt as they stream in and are visible only once bytes and
//! metadata are durable; reads authorize, check conditions, get the data key (a KMS
//! Decrypt for this caller, for SSE-KMS) and decrypt only the segments they need.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use chrono::Utc;
use futures::{Stream, StreamExt, stream::BoxStream};
use keyhold_crypto::segments::NoncePrefix;

use super::{
    ObjectAttributes, Objects,
    buckets::canned,
    conditions::{ByteRange, Conditions, WriteCondition, parse_range},
    encryption::SseRequest,
};
use crate::{
    access::{self, Check, Requester},
    blobs::{BlobError, BlobStore, INLINE_MAX},
    error::{ObjectError, ObjectResult},
    model::{Acl, Bucket, ContentHeaders, ObjectListing, ObjectRecord, Permission, SseAlgorithm},
    read_ahead::read_ahead,
    store::{PutObjectOutcome, multipart::ObjectCiphertext},
    validate::{self, KeyProblem},
};

/// Plaintext bytes of a read, in order; an error item ends it (never unauthenticated bytes).
pub type ObjectBody = BoxStream<'static, Result<Bytes, ObjectError>>;

const MAX_KEYS: i32 = 1000;

#[derive(Debug, Clone, Default)]
pub struct PutObjectInput {
    pub bucket: String,
    pub key: String,
    pub attributes: ObjectAttributes,
    /// When known, the body must be exactly this long.
    pub content_length: Option<u64>,
    /// A canned ACL, or empty.
    pub acl: String,
    pub sse: SseRequest,
    /// `If-None-Match: *` / `If-Match`.
    pub condition: WriteCondition,
}

/// What a write reports back (ETag, encryption, size).
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub record: ObjectRecord,
}

#[derive(Debug, Clone, Default)]
pub struct GetObjectInput {
    pub bucket: String,
    pub key: String,
    /// The Range header, or empty.
    pub range: String,
    pub conditions: Conditions,
}

/// A read: the object's metadata, the range served, and (GetObject) its bytes.
pub struct ObjectRead {
    pub record: ObjectRecord,
    pub range: Option<ByteRange>,
    pub body: Option<ObjectBody>,
}

impl ObjectRead {
    /// Bytes this response carries.
    pub fn content_length(&self) -> u64 {
        self.range.map_or(self.record.size, |r| r.len())
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListObjectsInput {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: String,
    pub start_after: String,
    pub continuation_token: String,
    pub max_keys: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct ListObjectsOutput {
    pub listing: ObjectListing,
    pub max_keys: i32,
    pub next_continuation_token: Option<String>,
    pub owner_id: String,
}

#[derive(Debug, Clone, Default)]
pub struct CopyObjectInput {
    pub bucket: String,
    pub key: String,
    /// `bucket/key`, with an optional leading `/`.
    pub copy_source: String,
    /// COPY (or empty) keeps the source's attributes; REPLACE takes `attributes`.
    pub metadata_directive: String,
    pub attributes: ObjectAttributes,
    pub acl: String,
    pub sse: SseRequest,
    /// `x-amz-copy-source-if-*`: every failure is 412 (no 304 for a copy).
    pub source_conditions: Conditions,
}

impl Objects {
    pub async fn put_object<S>(
        &self,
        requester: &Requester,
        input: PutObjectInput,
        body: S,
    ) -> ObjectResult<StoredObject>
    where
        S: Stream<Item = Result<Bytes, BlobError>> + Send + Unpin + 'static,
    {
        check_key(&input.key)?;
        let bucket = self.bucket(&input.bucket).await?;
        self.authorize_object_write(requester, &bucket, &input.key, &input.acl, &input.sse)?;
        if input.condition != WriteCondition::Always {
            // Checked again when the object is stored; this spares the upload.
            let current = self.store.object(&input.bucket, &input.key).await?;
            input
                .condition
                .check(&input.key, current.as_ref().map(|c| c.etag.as_str()))?;
        }
        self.write_object(
            requester,
            &bucket,
            &input.key,
            input.attributes,
            &input.acl,
            &input.sse,
            input.content_length,
            &input.condition,
            body,
        )
        .await
    }

    /// The write path of PutObject and CopyObject.
    #[allow(clippy::too_many_arguments)]
    async fn write_object<S>(
        &self,
        requester: &Requester,
        bucket: &Bucket,
        key: &str,
        attributes: ObjectAttributes,
        canned_acl: &str,
        sse: &SseRequest,
        content_length: Option<u64>,
        condition: &WriteCondition,
        body: S,
    ) -> ObjectResult<StoredObject>
    where
        S: Stream<Item = Result<Bytes, BlobError>> + Send + Unpin + 'static,
    {
        let acl = write_attributes(bucket, &attributes, canned_acl)?;
        let (data_key, encryption) = self.new_data_key(requester, bucket, key, sse).await?;
        let prefix = NoncePrefix::from_slice(&encryption.nonce_prefix)
            .map_err(|e| ObjectError::Internal(format!("nonce prefix: {e}")))?;
        let want_md5 = encryption.algorithm == SseAlgorithm::Aes256;
        let (body, small) = small_body(body, content_length).await?;
        let (blob_path, written, inline) = match small {
            Some(small) => {
                let length = small.iter().map(|chunk| chunk.len() as u64).sum();
                let small = futures::stream::iter(small.into_iter().map(Ok));
                let (ciphertext, written) =
                    BlobStore::seal_in_memory(&data_key, prefix, small, length, want_md5).await?;
                (BlobStore::new_inline_path(), written, Some(ciphertext))
            }
            None => {
                let (blob_path, written) = self
                    .write_new_blob(&data_key, prefix, body, content_length, want_md5)
                    .await?;
                (blob_path, written, None)
            }
        };
        drop(data_key);
        let etag = match written.md5 {
            Some(md5) => hex(&md5),
            // As in S3, the ETag of an SSE-KMS object is not a digest of its plaintext.
            None => hex(&rand_etag()),
        };
        let record = ObjectRecord {
            bucket: bucket.name.clone(),
            key: key.to_owned(),
            blob_path: blob_path.clone(),
            size: written.size,
            etag: format!("\"{etag}\""),
            last_modified: truncate_to_millis(Utc::now()),
            content: attributes.content,
            user_metadata: attributes.metadata,
            encryption,
            acl,
        };
        let admits = |current: Option<&str>| condition.check(key, current);
        let outcome = match &inline {
            Some(ciphertext) => {
                self.store
                    .put_inline_object_if(&record, ciphertext, admits)
                    .await
            }
            None => self.store.put_object_if(&record, admits).await,
        };
        // What to do with the new blob when the row was not stored (an inline object
        // has none).
        let discard_new = async {
            if inline.is_none() {
                self.discard_blob(&blob_path).await;
            }
        };
        match outcome {
            // The replaced blob is garbage now; the sweeper deletes it after a grace
            // period, as a GET that read the old row may still be reading it.
            Ok(PutObjectOutcome::Stored { .. }) => Ok(StoredObject { record }),
            Ok(PutObjectOutcome::UploadExpired) => Err(ObjectError::RequestTimeout),
            Ok(PutObjectOutcome::Refused(refused)) => {
                discard_new.await;
                Err(refused)
            }
            Ok(PutObjectOutcome::NoSuchBucket) => {
                discard_new.await;
                Err(ObjectError::NoSuchBucket(bucket.name.clone()))
            }
            // The blob stays registered as an upload; the sweeper removes it.
            Err(error) => Err(error.into()),
        }
    }

    /// GetObject (`with_body`) and HeadObject.
    pub async fn read_object(
        &self,
        requester: &Requester,
        input: GetObjectInput,
        with_body: bool,
    ) -> ObjectResult<ObjectRead> {
        check_key(&input.key)?;
        let bucket = self.bucket(&input.bucket).await?;
        // A GET reads where the ciphertext is with the row (HEAD needs none).
        let (object, ciphertext) = if with_body {
            match self
                .store
                .object_with_ciphertext(&input.bucket, &input.key)
                .await?
            {
                Some((record, ciphertext)) => (Some(record), Some(ciphertext)),
                None => (None, None),
            }
        } else {
            let object = self.store.object(&input.bucket, &input.key).await?;
            (object, None)
        };
        // S3 decides a missing key by s3:ListBucket alone (NoSuchKey or AccessDenied).
        let Some(record) = object else {
            return Err(self.missing_object(requester, &bucket, &input.key));
        };
        let read = Check::object("s3:GetObject", &bucket.name, &input.key)
            .or_public_grant(&record.acl, Permission::Read);
        self.authorize(requester, &bucket, &read)?;
        access::check_anonymous_read(requester, &record)?;
        input.conditions.check(&record.etag, record.last_modified)?;
        let range = parse_range(&input.range, record.size)?;
        let Some(ciphertext) = ciphertext else {
            // HeadObject needs no data key, as in S3 (no kms:Decrypt).
            return Ok(ObjectRead {
                record,
                range,
                body: None,
            });
        };
        let data_key = self.data_key(requester, &record).await?;
        let wanted = match range {
            Some(range) => range.first..range.last + 1,
            None => 0..record.size,
        };
        let in_row = matches!(ciphertext, ObjectCiphertext::Inline(_));
        let body = self
            .read_plaintext(&record, ciphertext, data_key, wanted)?
            .map(|item| item.map_err(ObjectError::from));
        // Decrypting runs ahead of the sender, on another core: a few segments. A
        // small object is one segment already in memory: nothing to overlap.
        let body = if in_row {
            body.boxed()
        } else {
            read_ahead(body, 8)
        };
        Ok(ObjectRead {
            record,
            range,
            body: Some(body),
        })
    }

    pub async fn delete_object(
        &self,
        requester: &Requester,
        bucket_name: &str,
        key: &str,
    ) -> ObjectResult<()> {
        check_key(key)?;
        let bucket = self.bucket(bucket_name).await?;
        let delete = Check::object("s3:DeleteObject", bucket_name, key)
            .or_public_grant(&bucket.acl, Permission::Write);
        self.authorize(requester, &bucket, &delete)?;
        // The deleted object's blob is left to the sweeper, like a replaced one.
        self.store.delete_object(bucket_name, key).await?;
        Ok(())
    }

    pub async fn list_objects(
        &self,
        requester: &Requester,
        input: ListObjectsInput,
    ) -> ObjectResult<ListObjectsOutput> {
        let bucket = self.bucket(&input.bucket).await?;
        let max_keys = input.max_keys.map(|n| n.to_string()).unwrap_or_default();
        let list = Check::bucket("s3:ListBucket", &bucket.name)
            .with("s3:prefix", &input.prefix)
            .with("s3:delimiter", &input.delimiter)
            .with("s3:max-keys", &max_keys)
            .or_public_grant(&bucket.acl, Permission::Read);
        self.authorize(requester, &bucket, &list)?;
        let max_keys = match input.max_keys {
            None => MAX_KEYS,
            Some(n) if n < 0 => {
                return Err(ObjectError::InvalidArgument {
                    message: "Argument maxKeys must be an integer between 0 and 2147483647"
                        .to_owned(),
                    argument_name: Some("maxKeys".to_owned()),
                    argument_value: Some(n.to_string()),
                });
            }
            Some(n) => n.min(MAX_KEYS),
        };
        // No key holds a NUL: a prefix with one matches nothing, a delimiter with one
        // groups nothing, and "after x\0..." is "after x".
        if input.prefix.contains('\0') {
            return Ok(ListObjectsOutput {
                listing: ObjectListing::default(),
                max_keys,
                next_continuation_token: None,
                owner_id: bucket.account_id,
            });
        }
        let after = if input.continuation_token.is_empty() {
            let start_after = input.start_after.split('\0').next().unwrap_or_default();
            (!input.start_after.is_empty()).then(|| start_after.to_owned())
        } else {
            Some(decode_token(&input.continuation_token)?)
        };
        let delimiter = (!input.delimiter.is_empty() && !input.delimiter.contains('\0'))
            .then_some(input.delimiter.as_str());
        let listing = self
            .store
            .list_objects(
                &input.bucket,
                &input.prefix,
                delimiter,
                after.as_deref(),
                max_keys as usize,
            )
            .await?;
        let next_continuation_token = listing
            .is_truncated
            .then(|| listing.next_marker.as_deref().map(encode_token))
            .flatten();
        Ok(ListObjectsOutput {
            listing,
            max_keys,
            next_continuation_token,
            owner_id: bucket.account_id,
        })
    }

    /// Decrypts the source (a Decrypt for this caller if it is SSE-KMS) and writes it
    /// again under the destination's encryption: the request's, or the destination
    /// bucket's default, as in S3.
    pub async fn copy_object(
        &self,
        requester: &Requester,
        input: CopyObjectInput,
    ) -> ObjectResult<StoredObject> {
        check_key(&input.key)?;
        let (source_bucket, source_key) = parse_copy_source(&input.copy_source)?;
        let replace = match input.metadata_directive.as_str() {
            "" | "COPY" => false,
            "REPLACE" => true,
            other => {
                return Err(ObjectError::InvalidArgument {
                    message: format!("Unknown metadata directive: {other}"),
                    argument_name: Some("x-amz-metadata-directive".to_owned()),
                    argument_value: Some(other.to_owned()),
                });
            }
        };
        if source_bucket == input.bucket
            && source_key == input.key
            && !replace
            && input.sse.server_side_encryption.is_empty()
        {
            return Err(ObjectError::InvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.".to_owned()));
        }
        let destination = self.bucket(&input.bucket).await?;
        self.authorize_object_write(requester, &destination, &input.key, &input.acl, &input.sse)?;
        let if_none_match = input.source_conditions.if_none_match.is_some();
        let source = self
            .read_object(
                requester,
                GetObjectInput {
                    bucket: source_bucket,
                    key: source_key,
                    conditions: input.source_conditions,
                    ..Default::default()
                },
                true,
            )
            .await
            .map_err(|error| match error {
                ObjectError::PreconditionFailed { condition } => ObjectError::PreconditionFailed {
                    condition: match condition {
                        "If-Match" => "x-amz-copy-source-If-Match",
                        _ => "x-amz-copy-source-If-Unmodified-Since",
                    },
                },
                ObjectError::NotModified { .. } => ObjectError::PreconditionFailed {
                    condition: if if_none_match {
                        "x-amz-copy-source-If-None-Match"
                    } else {
                        "x-amz-copy-source-If-Modified-Since"
                    },
                },
                other => other,
            })?;
        let attributes = if replace {
            input.attributes
        } else {
            ObjectAttributes {
                content: source.record.content.clone(),
                metadata: source.record.user_metadata.clone(),
            }
        };
        let body = source
            .body
            .expect("a read with body")
            .map(|item| item.map_err(|e| BlobError::Body(e.to_string())));
        self.write_object(
            requester,
            &destination,
            &input.key,
            attributes,
            &input.acl,
            &input.sse,
            Some(source.record.size),
            &WriteCondition::Always,
            body,
        )
        .await
    }

    pub async fn object_acl(
        &self,
        requester: &Requester,
        bucket_name: &str,
        key: &str,
    ) -> ObjectResult<Acl> {
        check_key(key)?;
        let bucket = self.bucket(bucket_name).await?;
        let object = self.store.object(bucket_name, key).await?;
        let mut read = Check::object("s3:GetObjectAcl", bucket_name, key);
        if let Some(object) = &object {
            read = read.or_public_grant(&object.acl, Permission::ReadAcp);
        }
        self.authorize(requester, &bucket, &read)?;
        let object = object.ok_or_else(|| ObjectError::NoSuchKey(key.to_owned()))?;
        Ok(if bucket.ownership.acls_enabled() {
            object.acl
        } else {
            Acl::private(&bucket.account_id)
        })
    }

    pub async fn put_object_acl(
        &self,
        requester: &Requester,
        bucket_name: &str,
        key: &str,
        acl: Acl,
    ) -> ObjectResult<()> {
        check_key(key)?;
        let bucket = self.bucket(bucket_name).await?;
        let current = self.store.object(bucket_name, key).await?;
        let mut write = Check::object("s3:PutObjectAcl", bucket_name, key);
        if let Some(current) = &current {
            write = write.or_public_grant(&current.acl, Permission::WriteAcp);
        }
        self.authorize(requester, &bucket, &write)?;
        access::check_acl_change(&bucket, &acl)?;
        if self.store.update_object_acl(bucket_name, key, &acl).await? {
            Ok(())
        } else {
            Err(ObjectError::NoSuchKey(key.to_owned()))
        }
    }
}

pub fn check_key(key: &str) -> ObjectResult<()> {
    validate::object_key(key).map_err(|problem| match problem {
        KeyProblem::TooLong => ObjectError::KeyTooLong,
        KeyProblem::Empty => ObjectError::invalid_argument("Object key must not be empty"),
        KeyProblem::Nul => {
            ObjectError::invalid_argument("Object key must not contain the NUL character")
        }
    })
}

/// The ACL of a new object (or upload) of `bucket`, after checking its user metadata
/// (S3's 2 KB, header-safe keys and values), its content headers and the canned ACL
/// asked for (empty: `private`).
pub(super) fn write_attributes(
    bucket: &Bucket,
    attributes: &ObjectAttributes,
    canned_acl: &str,
) -> ObjectResult<Acl> {
    let size = validate::metadata_size(&attributes.metadata);
    if size > validate::MAX_METADATA {
        return Err(ObjectError::MetadataTooLarge { size });
    }
    for (name, value) in &attributes.metadata {
        if !validate::metadata_key(name) {
            return Err(ObjectError::invalid_argument(format!(
                "Invalid user metadata key: {name:?}"
            )));
        }
        if !validate::header_value(value) {
            return Err(ObjectError::invalid_argument(format!(
                "Invalid user metadata value for key {name:?}: HTTP header values hold no control characters"
            )));
        }
    }
    check_content_headers(&attributes.content)?;
    if canned_acl.is_empty() {
        Ok(Acl::private(&bucket.account_id))
    } else {
        let acl = canned(canned_acl, &bucket.account_id)?;
        access::check_acl_on_write(bucket, canned_acl, &acl)?;
        Ok(acl)
    }
}

/// Content headers are served back as headers: each must be a valid header value.
fn check_content_headers(content: &ContentHeaders) -> ObjectResult<()> {
    let headers = [
        ("Content-Type", &content.content_type),
        ("Cache-Control", &content.cache_control),
        ("Content-Disposition", &content.content_disposition),
        ("Content-Encoding", &content.content_encoding),
        ("Content-Language", &content.content_language),
    ];
    for (name, value) in headers {
        if value.as_deref().is_some_and(|v| !validate::header_value(v)) {
            return Err(ObjectError::InvalidArgument {
                message: format!(
                    "Invalid value for header {name}: HTTP header values hold no control characters"
                ),
                argument_name: Some(name.to_owned()),
                argument_value: None,
            });
        }
    }
    Ok(())
}

fn parse_copy_source(source: &str) -> ObjectResult<(String, String)> {
    let source = source.strip_prefix('/').unwrap_or(source);
    // The AWS CLI sends the source URL-encoded.
    let decoded = percent_encoding::percent_decode_str(source)
        .decode_utf8()
        .map_or_else(|_| source.into(), |text| text.into_owned());
    match decoded.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
            check_key(key)?;
            Ok((bucket.to_owned(), key.to_owned()))
        }
        _ => Err(ObjectError::InvalidArgument {
            message: "Invalid copy source object key".to_owned(),
            argument_name: Some("x-amz-copy-source".to_owned()),
            argument_value: Some(source.to_owned()),
        }),
    }
}

fn encode_token(marker: &str) -> String {
    URL_SAFE_NO_PAD.encode(marker.as_bytes())
}

fn decode_token(token: &str) -> ObjectResult<String> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|marker| !marker.contains('\0'))
        .ok_or_else(|| ObjectError::InvalidArgument {
            message: "The continuation token provided is incorrect".to_owned(),
            argument_name: Some("continuation-token".to_owned()),
            argument_value: Some(token.to_owned()),
        })
}

/// A body of at most [`INLINE_MAX`] bytes, read whole (its ciphertext goes in its
/// row); else the body to stream into a blob. A declared length decides without
/// reading; without one, up to [`INLINE_MAX`] bytes (and one more chunk) are read to
/// see, and go first in the body returned.
async fn small_body<S>(
    mut body: S,
    content_length: Option<u64>,
) -> ObjectResult<(
    BoxStream<'static, Result<Bytes, BlobError>>,
    Option<Vec<Bytes>>,
)>
where
    S: Stream<Item = Result<Bytes, BlobError>> + Send + Unpin + 'static,
{
    if content_length.is_some_and(|n| n > INLINE_MAX) {
        return Ok((body.boxed(), None));
    }
    let mut read = Vec::new();
    let mut length = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        length += chunk.len() as u64;
        if let Some(expected) = content_length
            && length > expected
        {
            return Err(BlobError::LengthMismatch {
                expected,
                actual: length,
            }
            .into());
        }
        read.push(chunk);
        if length > INLINE_MAX {
            // Too long for a row (and no length was declared).
            let read = futures::stream::iter(read.into_iter().map(Ok));
            return Ok((read.chain(body).boxed(), None));
        }
    }
    if let Some(expected) = content_length
        && expected != length
    {
        return Err(BlobError::LengthMismatch {
            expected,
            actual: length,
        }
        .into());
    }
    Ok((futures::stream::empty().boxed(), Some(read)))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn rand_etag() -> [u8; 16] {
    let mut etag = [0u8; 16];
    keyhold_crypto::fill_random(&mut etag);
    etag
}

/// Postgres keeps microseconds; S3 shows milliseconds. Storing what is shown keeps
/// conditional requests exact.
pub(super) fn truncate_to_millis(time: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    chrono::DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time)
}
