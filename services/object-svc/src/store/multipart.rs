//! Multipart uploads in the metadata store: `uploads`, their `upload_parts`, and the
//! `object_parts` list of a completed multipart object (migration 0002). No S3 rules
//! here either: the domain checks part order, ETags and sizes.
//!
//! Part blobs follow the single-PUT life cycle: `register_upload` before the bytes
//! are written; `put_part` takes the blob out of pending (the part row references
//! it) and puts a part it replaced in as garbage; `complete_upload` moves the listed
//! parts to `object_parts` and the unlisted ones to garbage; `abort_upload`,
//! `expire_uploads` and the deletion of a bucket put every part of the upload in as
//! garbage; deleting or replacing a multipart object puts all its parts in as
//! garbage (`mark_parts_garbage`). Every one of these in the transaction that
//! unreferences the blob, so the sweeper finds every blob nothing references.
//!
//! Locks: every change to an upload's parts holds the upload row FOR SHARE
//! (`put_part`) or FOR UPDATE (complete, abort, expiry, bucket deletion), so an
//! upload that is being completed or dropped sees every part committed before it,
//! and a part written after it finds no upload (and leaves its blob as garbage).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use keyhold_platform::db::copy_error;
use sqlx::{PgPool, Postgres, Row, Transaction, postgres::PgRow, types::Json};

use super::{
    BlobHold, MetadataStore, PgQuery, bind_content_and_encryption, common_prefix, content_from_row,
    decode_error, encode_error, encryption_from_row, execute_as_of_now, hold_bucket, hold_for_blob,
    mark_garbage, object_from_row, prefix_successor, store_object_row,
};
use crate::model::{Acl, ContentHeaders, ObjectEncryption, ObjectRecord};

/// An upload in progress: what the completed object will be, but its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated: DateTime<Utc>,
    /// The ARN of the principal that created it (`anonymous` for no one).
    pub initiator: String,
    pub content: ContentHeaders,
    pub user_metadata: BTreeMap<String, String>,
    /// The object's encryption and its one wrapped data key. `nonce_prefix` is empty
    /// (not stored): every part attempt draws its own.
    pub encryption: ObjectEncryption,
    /// The completed object's ACL; its owner is the object's owner.
    pub acl: Acl,
}

/// The current blob of one part number of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub upload_id: String,
    pub part_number: i32,
    pub blob_path: String,
    pub nonce_prefix: Vec<u8>,
    /// Plaintext bytes.
    pub size: u64,
    /// The 16 bytes whose hex is the part's ETag.
    pub etag: Vec<u8>,
    pub last_modified: DateTime<Utc>,
}

/// One part of a completed multipart object, in the object's part order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPart {
    pub part_number: i32,
    pub blob_path: String,
    pub nonce_prefix: Vec<u8>,
    /// Plaintext bytes.
    pub size: u64,
}

/// Where a stored object's ciphertext is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectCiphertext {
    /// One blob, at the record's `blob_path`.
    Blob,
    /// The blobs of a completed multipart upload's parts, in order.
    Parts(Vec<ObjectPart>),
    /// All of it, in the object's row (a small object).
    Inline(Bytes),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutPartOutcome {
    /// The part row now points at the new blob. `replaced_blob`: the blob of the part
    /// it replaced (a retry of the part number), already recorded as garbage.
    Stored { replaced_blob: Option<String> },
    /// The upload is gone (completed, aborted or expired); the new blob was recorded
    /// as garbage.
    NoSuchUpload,
    /// Nothing stored: the part's upload ran past the abandoned-upload cutoff and the
    /// sweeper claimed its blob.
    UploadExpired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompleteOutcome {
    /// The object row and its part list are stored and the upload is gone.
    /// `replaced_blob`: the blob of the object it replaced (its other parts too are
    /// garbage now); `unused_blobs`: the upload's parts that were not listed. All
    /// recorded as garbage already.
    Stored {
        replaced_blob: Option<String>,
        unused_blobs: Vec<String>,
    },
    /// The upload is gone (completed, aborted or expired meanwhile).
    NoSuchUpload,
    /// A listed part is no longer the blob the caller named (a retry replaced it
    /// meanwhile); nothing changed.
    PartsChanged,
    NoSuchBucket,
}

/// One page of ListMultipartUploads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadListing {
    pub uploads: Vec<UploadRecord>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// When truncated: the last key or common prefix returned.
    pub next_key_marker: Option<String>,
    /// When truncated and the last item was an upload: its id.
    pub next_upload_id_marker: Option<String>,
}

macro_rules! upload_columns {
    () => {
        "u.upload_id, u.bucket, u.key, u.initiated, u.initiator, u.content_type, \
         u.cache_control, u.content_disposition, u.content_encoding, u.content_language, \
         u.user_metadata, u.sse_algorithm, u.kms_key_arn, u.bucket_key_enabled, u.wrapped_key, \
         u.encryption_context, u.segment_size, u.acl"
    };
}

macro_rules! part_columns {
    () => {
        "p.upload_id, p.part_number, p.blob_path, p.nonce_prefix, p.size, p.etag, p.last_modified"
    };
}

/// Moves the parts of an upload to garbage and returns their blob paths. `$1`
/// upload id, `$2` now. The upload row must be locked FOR UPDATE by then.
const DROP_UPLOAD_PARTS: &str = "\
WITH gone AS (DELETE FROM upload_parts WHERE upload_id = $1 RETURNING blob_path)
INSERT INTO pending_blobs (blob_path, since, garbage) SELECT blob_path, $2, true FROM gone
ON CONFLICT (blob_path) DO UPDATE SET garbage = true, since = EXCLUDED.since
RETURNING blob_path";

/// Moves the parts of the object version `$1` (its `objects.blob_path`) to garbage.
/// `$2` now.
const MARK_PARTS_GARBAGE: &str = "\
WITH gone AS (DELETE FROM object_parts WHERE object_blob = $1 RETURNING blob_path)
INSERT INTO pending_blobs (blob_path, since, garbage) SELECT blob_path, $2, true FROM gone
ON CONFLICT (blob_path) DO UPDATE SET garbage = true, since = EXCLUDED.since";

/// ListMultipartUploads, one batch. `$1` bucket, `$2` prefix, `$3` the least key
/// (inclusive), `$4` the key after which to start, `$5` with `$4`: the upload id
/// after which to start among that key's uploads (NULL: none of them), `$6` limit,
/// `$7` the prefix's successor (exclusive upper bound) or NULL.
const LIST_UPLOADS: &str = concat!(
    "SELECT ",
    upload_columns!(),
    " FROM uploads u WHERE u.bucket = $1 AND starts_with(u.key, $2) AND u.key >= $3 \
     AND (u.key > $4 OR (u.key = $4 AND u.upload_id > $5)) \
     AND ($7::text IS NULL OR u.key < $7) \
     ORDER BY u.key, u.upload_id LIMIT $6"
);

fn size_from(size: i64) -> Result<u64, sqlx::Error> {
    u64::try_from(size).map_err(|_| decode_error(format!("negative size {size}")))
}

fn upload_from_row(row: &PgRow) -> Result<UploadRecord, sqlx::Error> {
    Ok(UploadRecord {
        upload_id: row.try_get("upload_id")?,
        bucket: row.try_get("bucket")?,
        key: row.try_get("key")?,
        initiated: row.try_get("initiated")?,
        initiator: row.try_get("initiator")?,
        content: content_from_row(row)?,
        user_metadata: row.try_get::<Json<_>, _>("user_metadata")?.0,
        encryption: encryption_from_row(row, Vec::new())?,
        acl: row.try_get::<Json<Acl>, _>("acl")?.0,
    })
}

/// Binds a part row's columns as $1 to $7, in upload_parts' order.
fn bind_part<'q>(query: PgQuery<'q>, part: &'q PartRecord, size: i64) -> PgQuery<'q> {
    query
        .bind(&part.upload_id)
        .bind(part.part_number)
        .bind(&part.blob_path)
        .bind(&part.nonce_prefix)
        .bind(size)
        .bind(&part.etag)
        .bind(part.last_modified)
}

fn part_from_row(row: &PgRow) -> Result<PartRecord, sqlx::Error> {
    Ok(PartRecord {
        upload_id: row.try_get("upload_id")?,
        part_number: row.try_get("part_number")?,
        blob_path: row.try_get("blob_path")?,
        nonce_prefix: row.try_get("nonce_prefix")?,
        size: size_from(row.try_get("size")?)?,
        etag: row.try_get("etag")?,
        last_modified: row.try_get("last_modified")?,
    })
}

/// Puts every part of the object version `object_blob` into pending as garbage and
/// forgets its part list (a single-PUT object has none). For whatever deletes or
/// replaces an object row, in its transaction.
pub(super) async fn mark_parts_garbage(
    tx: &mut Transaction<'static, Postgres>,
    object_blob: &str,
) -> Result<(), sqlx::Error> {
    execute_as_of_now(tx, MARK_PARTS_GARBAGE, object_blob).await
}

/// Drops the uploads of `bucket` (which is being deleted and locked FOR UPDATE):
/// their parts go into pending as garbage.
pub(super) async fn drop_bucket_uploads(
    tx: &mut Transaction<'static, Postgres>,
    bucket: &str,
) -> Result<(), sqlx::Error> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT upload_id FROM uploads WHERE bucket = $1 FOR UPDATE")
            .bind(bucket)
            .fetch_all(&mut **tx)
            .await?;
    for id in &ids {
        drop_upload(tx, id).await?;
    }
    Ok(())
}

/// Deletes an upload whose row this transaction locked FOR UPDATE; its parts go
/// into pending as garbage. Returns their blob paths.
async fn drop_upload(
    tx: &mut Transaction<'static, Postgres>,
    upload_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let garbage: Vec<String> = sqlx::query_scalar(DROP_UPLOAD_PARTS)
        .bind(upload_id)
        .bind(Utc::now())
        .fetch_all(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM uploads WHERE upload_id = $1")
        .bind(upload_id)
        .execute(&mut **tx)
        .await?;
    Ok(garbage)
}

impl MetadataStore {
    /// Stores a new upload; false when its bucket does not exist (held FOR SHARE, as
    /// `put_object` does, so a bucket deletion waits for it and then drops it).
    pub async fn insert_upload(&self, upload: &UploadRecord) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if !hold_bucket(&mut tx, &upload.bucket).await? {
            // Explicitly, so the lock is gone before the answer (a dropped transaction
            // is rolled back only once its connection is back in the pool).
            tx.rollback().await?;
            return Ok(false);
        }
        let segment_size = i32::try_from(upload.encryption.segment_size).map_err(encode_error)?;
        let query = sqlx::query(
            "INSERT INTO uploads (upload_id, bucket, key, initiated, initiator, content_type, \
             cache_control, content_disposition, content_encoding, content_language, \
             user_metadata, sse_algorithm, kms_key_arn, bucket_key_enabled, wrapped_key, \
             encryption_context, segment_size, acl) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(&upload.upload_id)
        .bind(&upload.bucket)
        .bind(&upload.key)
        .bind(upload.initiated)
        .bind(&upload.initiator);
        bind_content_and_encryption(
            query,
            &upload.content,
            &upload.user_metadata,
            &upload.encryption,
        )
        .bind(segment_size)
        .bind(Json(&upload.acl))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn upload(&self, upload_id: &str) -> Result<Option<UploadRecord>, sqlx::Error> {
        let row = sqlx::query(concat!(
            "SELECT ",
            upload_columns!(),
            " FROM uploads u WHERE u.upload_id = $1"
        ))
        .bind(upload_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(upload_from_row).transpose()
    }

    /// Stores a part whose blob is written (and was registered with
    /// `register_upload`), replacing the part of the same number if there is one.
    pub async fn put_part(&self, part: &PartRecord) -> Result<PutPartOutcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let lock_upload = "SELECT 1 FROM uploads WHERE upload_id = $1 FOR SHARE";
        match hold_for_blob(&mut tx, lock_upload, &part.upload_id, &part.blob_path).await? {
            BlobHold::NoParent => {
                tx.commit().await?;
                return Ok(PutPartOutcome::NoSuchUpload);
            }
            BlobHold::Claimed => {
                tx.rollback().await?;
                return Ok(PutPartOutcome::UploadExpired);
            }
            BlobHold::Held => {}
        }
        let size = i64::try_from(part.size).map_err(encode_error)?;
        // Replace the row if there is one (locked, so its blob is the one replaced),
        // else insert; an insert that meets a row a concurrent retry of the same part
        // inserted meanwhile does nothing, and the next round replaces that row.
        let replaced = loop {
            let current: Option<String> = sqlx::query_scalar(
                "SELECT blob_path FROM upload_parts WHERE upload_id = $1 AND part_number = $2 \
                 FOR UPDATE",
            )
            .bind(&part.upload_id)
            .bind(part.part_number)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(current) = current {
                let update = sqlx::query(
                    "UPDATE upload_parts SET blob_path = $3, nonce_prefix = $4, size = $5, \
                     etag = $6, last_modified = $7 WHERE upload_id = $1 AND part_number = $2",
                );
                bind_part(update, part, size).execute(&mut *tx).await?;
                break Some(current).filter(|current| *current != part.blob_path);
            }
            let insert = sqlx::query(
                "INSERT INTO upload_parts (upload_id, part_number, blob_path, nonce_prefix, size, \
                 etag, last_modified) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (upload_id, part_number) DO NOTHING",
            );
            let inserted = bind_part(insert, part, size)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted == 1 {
                break None;
            }
        };
        if let Some(replaced) = &replaced {
            mark_garbage(&mut tx, replaced).await?;
        }
        tx.commit().await?;
        Ok(PutPartOutcome::Stored {
            replaced_blob: replaced,
        })
    }

    /// The upload's parts numbered above `after`, by part number, at most `limit`.
    pub async fn upload_parts(
        &self,
        upload_id: &str,
        after: i32,
        limit: i64,
    ) -> Result<Vec<PartRecord>, sqlx::Error> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            part_columns!(),
            " FROM upload_parts p WHERE p.upload_id = $1 AND p.part_number > $2 \
             ORDER BY p.part_number LIMIT $3"
        ))
        .bind(upload_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(part_from_row).collect()
    }

    /// Turns the upload into the object `record` made of `parts` (in order; the first
    /// part's blob is `record.blob_path`), in one transaction: each part must still
    /// be the upload's blob of that number; the object row is inserted or replaced
    /// as in `put_object` (the replaced object's blobs become garbage), the part list
    /// written, the upload's other parts made garbage and the upload deleted.
    pub async fn complete_upload(
        &self,
        upload_id: &str,
        record: &ObjectRecord,
        parts: &[ObjectPart],
    ) -> Result<CompleteOutcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if !hold_bucket(&mut tx, &record.bucket).await? {
            tx.rollback().await?;
            return Ok(CompleteOutcome::NoSuchBucket);
        }
        let upload = sqlx::query("SELECT 1 FROM uploads WHERE upload_id = $1 FOR UPDATE")
            .bind(upload_id)
            .fetch_optional(&mut *tx)
            .await?;
        if upload.is_none() {
            tx.rollback().await?;
            return Ok(CompleteOutcome::NoSuchUpload);
        }
        let current: HashMap<i32, String> = sqlx::query_as::<_, (i32, String)>(
            "SELECT part_number, blob_path FROM upload_parts WHERE upload_id = $1",
        )
        .bind(upload_id)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let unchanged = parts
            .iter()
            .all(|part| current.get(&part.part_number) == Some(&part.blob_path));
        if !unchanged {
            tx.rollback().await?;
            return Ok(CompleteOutcome::PartsChanged);
        }
        let replaced = store_object_row(&mut tx, record).await?;

        let numbers: Vec<i32> = parts.iter().map(|p| p.part_number).collect();
        let paths: Vec<&str> = parts.iter().map(|p| p.blob_path.as_str()).collect();
        let prefixes: Vec<&[u8]> = parts.iter().map(|p| p.nonce_prefix.as_slice()).collect();
        let sizes = parts
            .iter()
            .map(|p| i64::try_from(p.size))
            .collect::<Result<Vec<i64>, _>>()
            .map_err(encode_error)?;
        sqlx::query(
            "INSERT INTO object_parts (object_blob, part_number, blob_path, nonce_prefix, size) \
             SELECT $1, * FROM UNNEST($2::int4[], $3::text[], $4::bytea[], $5::int8[])",
        )
        .bind(&record.blob_path)
        .bind(&numbers)
        .bind(&paths)
        .bind(&prefixes)
        .bind(&sizes)
        .execute(&mut *tx)
        .await?;
        let unused_blobs: Vec<String> = sqlx::query_scalar(
            "WITH gone AS (DELETE FROM upload_parts WHERE upload_id = $1 \
               AND blob_path <> ALL($2::text[]) RETURNING blob_path) \
             INSERT INTO pending_blobs (blob_path, since, garbage) \
             SELECT blob_path, $3, true FROM gone \
             ON CONFLICT (blob_path) DO UPDATE SET garbage = true, since = EXCLUDED.since \
             RETURNING blob_path",
        )
        .bind(upload_id)
        .bind(&paths)
        .bind(Utc::now())
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM uploads WHERE upload_id = $1")
            .bind(upload_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(CompleteOutcome::Stored {
            replaced_blob: replaced,
            unused_blobs,
        })
    }

    /// Deletes the upload; its parts become garbage, and their paths come back (to be
    /// deleted now; the sweeper does it otherwise). None when there is no such upload.
    pub async fn abort_upload(&self, upload_id: &str) -> Result<Option<Vec<String>>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let upload = sqlx::query("SELECT 1 FROM uploads WHERE upload_id = $1 FOR UPDATE")
            .bind(upload_id)
            .fetch_optional(&mut *tx)
            .await?;
        if upload.is_none() {
            tx.rollback().await?;
            return Ok(None);
        }
        let garbage = drop_upload(&mut tx, upload_id).await?;
        tx.commit().await?;
        Ok(Some(garbage))
    }

    /// Aborts up to `limit` uploads with no activity since `idle_before` (neither
    /// initiated nor given a part since): their parts become garbage, which the
    /// sweeper then collects. Returns how many uploads went.
    pub async fn expire_uploads(
        &self,
        idle_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<usize, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT u.upload_id FROM uploads u WHERE u.initiated < $1 \
             AND NOT EXISTS (SELECT 1 FROM upload_parts p \
                             WHERE p.upload_id = u.upload_id AND p.last_modified >= $1) \
             ORDER BY u.initiated LIMIT $2 FOR UPDATE OF u SKIP LOCKED",
        )
        .bind(idle_before)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            drop_upload(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok(ids.len())
    }

    /// One page of ListMultipartUploads: uploads of `bucket` whose key starts with
    /// `prefix`, by key and then upload id (initiation order), starting after
    /// `key_marker` (and, for that key, after `upload_id_marker` if given). With a
    /// delimiter, keys roll up into common prefixes as in `list_objects`, a
    /// `key_marker` that is itself a common prefix skipping everything under it. At
    /// most `max_uploads` uploads and common prefixes together.
    pub async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max_uploads: usize,
    ) -> Result<UploadListing, sqlx::Error> {
        let mut listing = UploadListing::default();
        if max_uploads == 0 {
            return Ok(listing);
        }
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let upper = prefix_successor(prefix);
        // key >= lower AND (key > after_key OR (key = after_key AND upload_id > after_id))
        let mut lower = prefix.to_owned();
        let mut after_key = String::new();
        let mut after_id: Option<String> = None;
        if let Some(marker) = key_marker {
            match delimiter.and_then(|d| common_prefix(marker, prefix, d)) {
                Some(rolled) if rolled.len() == marker.len() => match prefix_successor(marker) {
                    Some(successor) => lower = lower.max(successor),
                    None => return Ok(listing),
                },
                _ => {
                    after_key = marker.to_owned();
                    after_id = upload_id_marker.map(str::to_owned);
                }
            }
        }
        // Items taken so far; one more than asked for tells that it is truncated.
        let mut items = 0usize;
        let mut last_item: Option<(String, Option<String>)> = None;
        'pages: loop {
            let want = max_uploads + 1 - items;
            let limit = i64::try_from(want).unwrap_or(i64::MAX);
            let rows = sqlx::query(LIST_UPLOADS)
                .bind(bucket)
                .bind(prefix)
                .bind(&lower)
                .bind(&after_key)
                .bind(after_id.as_deref())
                .bind(limit)
                .bind(upper.as_deref())
                .fetch_all(&self.pool)
                .await?;
            let exhausted = rows.len() < want;
            for row in &rows {
                let upload = upload_from_row(row)?;
                let rolled = delimiter
                    .and_then(|d| common_prefix(&upload.key, prefix, d))
                    .map(str::to_owned);
                if items == max_uploads {
                    listing.is_truncated = true;
                    break 'pages;
                }
                items += 1;
                match rolled {
                    Some(common) => {
                        listing.common_prefixes.push(common.clone());
                        last_item = Some((common.clone(), None));
                        // Jump past every key under the common prefix.
                        match prefix_successor(&common) {
                            Some(successor) => {
                                lower = successor;
                                after_key = String::new();
                                after_id = None;
                                continue 'pages;
                            }
                            None => break 'pages,
                        }
                    }
                    None => {
                        after_key = upload.key.clone();
                        after_id = Some(upload.upload_id.clone());
                        last_item = Some((upload.key.clone(), Some(upload.upload_id.clone())));
                        listing.uploads.push(upload);
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        if listing.is_truncated
            && let Some((key, upload_id)) = last_item
        {
            listing.next_key_marker = Some(key);
            listing.next_upload_id_marker = upload_id;
        }
        Ok(listing)
    }

    /// An object with where its ciphertext is (its part list, for a multipart
    /// object), read together, as committed when this call was made (read with the
    /// other calls waiting for an object).
    pub async fn object_with_ciphertext(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(ObjectRecord, ObjectCiphertext)>, sqlx::Error> {
        self.object_reads
            .call((bucket.to_owned(), key.to_owned()))
            .await
            .unwrap_or_else(|unanswered| Err(decode_error(unanswered.to_string())))
    }
}

/// Reads the objects at `wanted` (bucket, key) in one statement, each with where its
/// ciphertext is; one answer per entry of `wanted`, in order.
pub(super) async fn objects_with_ciphertext(
    pool: PgPool,
    wanted: Vec<(String, String)>,
) -> Vec<ObjectWithCiphertext> {
    let (buckets, keys): (Vec<&str>, Vec<&str>) = wanted
        .iter()
        .map(|(bucket, key)| (bucket.as_str(), key.as_str()))
        .unzip();
    let rows = sqlx::query(concat!(
        "SELECT w.i, ",
        object_columns!(),
        ", o.inline_ciphertext, \
           ARRAY(SELECT p.part_number FROM object_parts p WHERE p.object_blob = o.blob_path \
                 ORDER BY p.part_number) AS part_numbers, \
           ARRAY(SELECT p.blob_path FROM object_parts p WHERE p.object_blob = o.blob_path \
                 ORDER BY p.part_number) AS part_blobs, \
           ARRAY(SELECT p.nonce_prefix FROM object_parts p WHERE p.object_blob = o.blob_path \
                 ORDER BY p.part_number) AS part_prefixes, \
           ARRAY(SELECT p.size FROM object_parts p WHERE p.object_blob = o.blob_path \
                 ORDER BY p.part_number) AS part_sizes \
         FROM UNNEST($1::text[], $2::text[]) WITH ORDINALITY AS w (bucket, key, i) \
         JOIN objects o ON o.bucket = w.bucket COLLATE \"C\" AND o.key = w.key COLLATE \"C\""
    ))
    .bind(buckets)
    .bind(keys)
    .fetch_all(&pool)
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(error) => return wanted.iter().map(|_| Err(copy_error(&error))).collect(),
    };
    let mut answers: Vec<ObjectWithCiphertext> = wanted.iter().map(|_| Ok(None)).collect();
    for row in &rows {
        let i: i64 = match row.try_get("i") {
            Ok(i) => i,
            Err(error) => return wanted.iter().map(|_| Err(copy_error(&error))).collect(),
        };
        if let Some(answer) = usize::try_from(i - 1).ok().and_then(|i| answers.get_mut(i)) {
            *answer = object_with_ciphertext_from_row(row).map(Some);
        }
    }
    answers
}

/// What [`MetadataStore::object_with_ciphertext`] answers.
pub(super) type ObjectWithCiphertext =
    Result<Option<(ObjectRecord, ObjectCiphertext)>, sqlx::Error>;

fn object_with_ciphertext_from_row(
    row: &PgRow,
) -> Result<(ObjectRecord, ObjectCiphertext), sqlx::Error> {
    let record = object_from_row(row)?;
    if let Some(ciphertext) = row.try_get::<Option<Vec<u8>>, _>("inline_ciphertext")? {
        return Ok((record, ObjectCiphertext::Inline(ciphertext.into())));
    }
    let numbers: Vec<i32> = row.try_get("part_numbers")?;
    let blobs: Vec<String> = row.try_get("part_blobs")?;
    let prefixes: Vec<Vec<u8>> = row.try_get("part_prefixes")?;
    let sizes: Vec<i64> = row.try_get("part_sizes")?;
    if [blobs.len(), prefixes.len(), sizes.len()] != [numbers.len(); 3] {
        return Err(decode_error(format!(
            "the part list of {} changed while it was read",
            record.arn()
        )));
    }
    let parts = numbers
        .into_iter()
        .zip(blobs)
        .zip(prefixes)
        .zip(sizes)
        .map(|(((part_number, blob_path), nonce_prefix), size)| {
            Ok(ObjectPart {
                part_number,
                blob_path,
                nonce_prefix,
                size: size_from(size)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let ciphertext = if parts.is_empty() {
        ObjectCiphertext::Blob
    } else {
        ObjectCiphertext::Parts(parts)
    };
    Ok((record, ciphertext))
}
