//! object-svc's tables (sqlx on Postgres): buckets, object metadata and the blobs
//! that may sit in the blob store with no object row (uploads under way, and the
//! blobs of replaced or deleted objects). No S3 rules here: the domain decides, the
//! store reads and writes, and sqlx errors go straight through.
//!
//! The blob life cycle: `register_upload` before the bytes are written (a crash
//! mid-PUT leaves a pending row the sweeper finds once it is older than its cutoff);
//! `put_object` takes the new blob out of pending and puts the blob it replaced in
//! as garbage, in the same transaction; `delete_object` does the same with the
//! deleted object's blob; the sweeper deletes what `collectable_blobs` lists from the
//! blob store (garbage once it has been garbage for a grace period, so that a GET
//! that read the row before the replacement can still read the blob) and then calls
//! `forget_blob`. Multipart uploads and objects made of
//! several part blobs: [`multipart`]. Small objects keep their ciphertext in their
//! row (`put_inline_object_if`) and have no blob to track.

use std::{collections::BTreeMap, convert::Infallible};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool, Postgres, Row, Transaction, postgres::PgRow, types::Json};

use crate::model::{
    Acl, Bucket, ContentHeaders, DefaultEncryption, ObjectEncryption, ObjectListing,
    ObjectOwnership, ObjectRecord, PublicAccessBlock, SseAlgorithm,
};

#[cfg(test)]
mod multipart_tests;
#[cfg(test)]
mod tests;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

#[derive(Debug, Clone)]
pub struct MetadataStore {
    pool: PgPool,
    bucket_reads: batched::BucketReads,
    object_reads: batched::ObjectReads,
    inline_inserts: batched::InlineInserts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteBucketOutcome {
    Deleted,
    NotFound,
    NotEmpty,
}

/// What became of a write. `R` is why the caller's precondition refused it (nothing
/// refuses an unconditional write, hence `Infallible`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutObjectOutcome<R = Infallible> {
    /// The object row now points at the new blob. `replaced_blob`: the blob of the
    /// object it replaced, already recorded as garbage (delete it, then
    /// `forget_blob`; the sweeper does it otherwise). The other parts of a replaced
    /// multipart object are recorded as garbage too, for the sweeper.
    Stored { replaced_blob: Option<String> },
    /// Nothing stored; the new blob (if any) was recorded as garbage.
    NoSuchBucket,
    /// Nothing stored: the upload ran past the abandoned-upload cutoff and the
    /// sweeper claimed its blob (which may be gone already).
    UploadExpired,
    /// Nothing stored: the write's precondition did not hold; the new blob (if any)
    /// was recorded as garbage.
    Refused(R),
}

// Query fragments are macros so that every query stays a `&'static str` (sqlx
// refuses strings built at run time, a guard against injection).
macro_rules! bucket_columns {
    () => {
        "name, account_id, created_at, sse_algorithm, kms_master_key_id, bucket_key_enabled, \
         block_public_acls, ignore_public_acls, block_public_policy, restrict_public_buckets, \
         ownership, acl, policy"
    };
}

macro_rules! object_columns {
    () => {
        "o.bucket, o.key, o.blob_path, o.size, o.etag, o.last_modified, o.content_type, \
         o.cache_control, o.content_disposition, o.content_encoding, o.content_language, \
         o.user_metadata, o.sse_algorithm, o.kms_key_arn, o.bucket_key_enabled, o.wrapped_key, \
         o.encryption_context, o.nonce_prefix, o.segment_size, o.acl"
    };
}

/// `$1`..`$20` in `object_columns!` order, then `$21` the inline ciphertext (see
/// `write_object`).
const INSERT_OBJECT: &str = "\
INSERT INTO objects (bucket, key, blob_path, size, etag, last_modified, content_type,
    cache_control, content_disposition, content_encoding, content_language, user_metadata,
    sse_algorithm, kms_key_arn, bucket_key_enabled, wrapped_key, encryption_context,
    nonce_prefix, segment_size, acl, inline_ciphertext)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
    $21)
ON CONFLICT (bucket, key) DO NOTHING";

const UPDATE_OBJECT: &str = "\
UPDATE objects SET blob_path = $3, size = $4, etag = $5, last_modified = $6, content_type = $7,
    cache_control = $8, content_disposition = $9, content_encoding = $10, content_language = $11,
    user_metadata = $12, sse_algorithm = $13, kms_key_arn = $14, bucket_key_enabled = $15,
    wrapped_key = $16, encryption_context = $17, nonce_prefix = $18, segment_size = $19, acl = $20,
    inline_ciphertext = $21
WHERE bucket = $1 AND key = $2";

/// Puts a blob into pending as garbage, since now. `$1` path, `$2` now.
const MARK_GARBAGE: &str = "\
INSERT INTO pending_blobs (blob_path, since, garbage) VALUES ($1, $2, true)
ON CONFLICT (blob_path) DO UPDATE SET garbage = true, since = EXCLUDED.since";

// Listing. Parameters: $1 bucket, $2 prefix, $3 delimiter, $4 lower bound
// (inclusive), $5 lower bound (exclusive; '' excludes nothing as keys are never
// empty), $6 how many items at most, $7 the prefix's successor (upper bound,
// exclusive) in the `_BOUNDED` variants. Two lower bounds on the same index column
// are fine: the btree scan starts at the tighter one. The bounds make the scan a
// range scan; `starts_with` keeps `%` and `_` literal.

/// Without a delimiter: one range scan.
macro_rules! list_plain {
    ($upper:literal) => {
        concat!(
            "SELECT NULL::text AS common_prefix, ",
            object_columns!(),
            " FROM objects o WHERE o.bucket = $1 AND o.key >= $4 AND o.key > $5 \
             AND starts_with(o.key, $2)",
            $upper,
            " ORDER BY o.key LIMIT $6"
        )
    };
}

/// The common prefix `o.key` rolls up into, or NULL: the prefix plus the rest of
/// the key up to and including the first delimiter after the prefix. Lengths are
/// in characters, consistently (the key starts with the prefix).
macro_rules! common_prefix_of_key {
    () => {
        "CASE WHEN strpos(substr(o.key, length($2) + 1), $3) > 0 \
         THEN left(o.key, length($2) + strpos(substr(o.key, length($2) + 1), $3) - 1 + length($3)) \
         END"
    };
}

/// With a delimiter: a walk over the index, one probe per item returned. After a
/// key the next probe is for the next key; after a common prefix it jumps past
/// every key under that prefix (`prefix_successor`, NULL when nothing can follow,
/// which ends the walk), so a prefix with a million keys costs one probe. Then the
/// records of the keys that were not rolled up, by primary key.
macro_rules! list_walk {
    ($upper:literal) => {
        concat!(
            "WITH RECURSIVE walk (n, key, cp, lo) AS ( \
               (SELECT 1, s.key, s.cp, \
                       COALESCE(prefix_successor(s.cp), CASE WHEN s.cp IS NULL THEN s.key END) \
                FROM (SELECT o.key, ",
            common_prefix_of_key!(),
            " AS cp FROM objects o WHERE o.bucket = $1 AND o.key >= $4 AND o.key > $5 \
                      AND starts_with(o.key, $2)",
            $upper,
            " ORDER BY o.key LIMIT 1) s) \
               UNION ALL \
               SELECT w.n + 1, s.key, s.cp, \
                      COALESCE(prefix_successor(s.cp), CASE WHEN s.cp IS NULL THEN s.key END) \
               FROM walk w, LATERAL (SELECT o.key, ",
            common_prefix_of_key!(),
            " AS cp FROM objects o WHERE o.bucket = $1 AND o.key >= w.lo AND o.key > w.key \
                      AND starts_with(o.key, $2)",
            $upper,
            " ORDER BY o.key LIMIT 1) s \
               WHERE w.n < $6) \
             SELECT w.cp AS common_prefix, ",
            object_columns!(),
            " FROM walk w LEFT JOIN LATERAL (SELECT * FROM objects o \
               WHERE o.bucket = $1 AND o.key = CASE WHEN w.cp IS NULL THEN w.key END) o ON true \
             ORDER BY w.n"
        )
    };
}

const LIST_PLAIN: &str = list_plain!("");
const LIST_PLAIN_BOUNDED: &str = list_plain!(" AND o.key < $7");
const LIST_WALK: &str = list_walk!("");
const LIST_WALK_BOUNDED: &str = list_walk!(" AND o.key < $7");

mod batched;
pub mod multipart;

fn decode_error(message: String) -> sqlx::Error {
    sqlx::Error::Decode(message.into())
}

fn encode_error(error: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Encode(Box::new(error))
}

fn sse_algorithm(text: &str) -> Result<SseAlgorithm, sqlx::Error> {
    SseAlgorithm::parse(text).ok_or_else(|| decode_error(format!("unknown SSE algorithm {text}")))
}

fn bucket_from_row(row: &PgRow) -> Result<Bucket, sqlx::Error> {
    let ownership: String = row.try_get("ownership")?;
    let flags: [Option<bool>; 4] = [
        row.try_get("block_public_acls")?,
        row.try_get("ignore_public_acls")?,
        row.try_get("block_public_policy")?,
        row.try_get("restrict_public_buckets")?,
    ];
    let public_access_block = match flags {
        [Some(a), Some(b), Some(c), Some(d)] => Some(PublicAccessBlock {
            block_public_acls: a,
            ignore_public_acls: b,
            block_public_policy: c,
            restrict_public_buckets: d,
        }),
        _ => None,
    };
    Ok(Bucket {
        name: row.try_get("name")?,
        account_id: row.try_get("account_id")?,
        created_at: row.try_get("created_at")?,
        encryption: DefaultEncryption {
            algorithm: sse_algorithm(row.try_get("sse_algorithm")?)?,
            kms_master_key_id: row.try_get("kms_master_key_id")?,
            bucket_key_enabled: row.try_get("bucket_key_enabled")?,
        },
        public_access_block,
        ownership: ObjectOwnership::parse(&ownership)
            .ok_or_else(|| decode_error(format!("unknown object ownership {ownership}")))?,
        acl: row.try_get::<Json<Acl>, _>("acl")?.0,
        policy: row.try_get("policy")?,
    })
}

/// The content headers of an object or upload row.
fn content_from_row(row: &PgRow) -> Result<ContentHeaders, sqlx::Error> {
    Ok(ContentHeaders {
        content_type: row.try_get("content_type")?,
        cache_control: row.try_get("cache_control")?,
        content_disposition: row.try_get("content_disposition")?,
        content_encoding: row.try_get("content_encoding")?,
        content_language: row.try_get("content_language")?,
    })
}

/// The encryption of an object or upload row; an upload's parts each have their own
/// nonce prefix, so the caller gives it.
fn encryption_from_row(
    row: &PgRow,
    nonce_prefix: Vec<u8>,
) -> Result<ObjectEncryption, sqlx::Error> {
    let segment_size: i32 = row.try_get("segment_size")?;
    Ok(ObjectEncryption {
        algorithm: sse_algorithm(row.try_get("sse_algorithm")?)?,
        kms_key_arn: row.try_get("kms_key_arn")?,
        bucket_key_enabled: row.try_get("bucket_key_enabled")?,
        wrapped_key: row.try_get("wrapped_key")?,
        encryption_context: row.try_get::<Json<_>, _>("encryption_context")?.0,
        nonce_prefix,
        segment_size: u32::try_from(segment_size)
            .map_err(|_| decode_error(format!("negative segment size {segment_size}")))?,
    })
}

fn object_from_row(row: &PgRow) -> Result<ObjectRecord, sqlx::Error> {
    let size: i64 = row.try_get("size")?;
    Ok(ObjectRecord {
        bucket: row.try_get("bucket")?,
        key: row.try_get("key")?,
        blob_path: row.try_get("blob_path")?,
        size: u64::try_from(size).map_err(|_| decode_error(format!("negative size {size}")))?,
        etag: row.try_get("etag")?,
        last_modified: row.try_get("last_modified")?,
        content: content_from_row(row)?,
        user_metadata: row.try_get::<Json<_>, _>("user_metadata")?.0,
        encryption: encryption_from_row(row, row.try_get("nonce_prefix")?)?,
        acl: row.try_get::<Json<Acl>, _>("acl")?.0,
    })
}

/// Runs `INSERT_OBJECT` or `UPDATE_OBJECT` with the record's values and its inline
/// ciphertext (None: its bytes are in the blob store).
async fn write_object(
    executor: impl PgExecutor<'_>,
    sql: &'static str,
    record: &ObjectRecord,
    inline: Option<&[u8]>,
) -> Result<u64, sqlx::Error> {
    let size = i64::try_from(record.size).map_err(encode_error)?;
    let segment_size = i32::try_from(record.encryption.segment_size).map_err(encode_error)?;
    let query = sqlx::query(sql)
        .bind(&record.bucket)
        .bind(&record.key)
        .bind(&record.blob_path)
        .bind(size)
        .bind(&record.etag)
        .bind(record.last_modified);
    let done = bind_content_and_encryption(
        query,
        &record.content,
        &record.user_metadata,
        &record.encryption,
    )
    .bind(&record.encryption.nonce_prefix)
    .bind(segment_size)
    .bind(Json(&record.acl))
    .bind(inline)
    .execute(executor)
    .await?;
    Ok(done.rows_affected())
}

pub(super) type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Binds what objects and uploads both keep, in their tables' order: the content
/// headers, user metadata and encryption (all but the nonce prefix and segment size).
fn bind_content_and_encryption<'q>(
    query: PgQuery<'q>,
    content: &'q ContentHeaders,
    user_metadata: &'q BTreeMap<String, String>,
    encryption: &'q ObjectEncryption,
) -> PgQuery<'q> {
    query
        .bind(&content.content_type)
        .bind(&content.cache_control)
        .bind(&content.content_disposition)
        .bind(&content.content_encoding)
        .bind(&content.content_language)
        .bind(Json(user_metadata))
        .bind(encryption.algorithm.as_str())
        .bind(&encryption.kms_key_arn)
        .bind(encryption.bucket_key_enabled)
        .bind(&encryption.wrapped_key)
        .bind(Json(&encryption.encryption_context))
}

/// Binds the bucket's settings (encryption, public access block, ownership, ACL) as the
/// next nine parameters, in bucket_columns!()'s order.
fn bind_bucket_settings<'q>(query: PgQuery<'q>, bucket: &'q Bucket) -> PgQuery<'q> {
    let block = bucket.public_access_block;
    query
        .bind(bucket.encryption.algorithm.as_str())
        .bind(&bucket.encryption.kms_master_key_id)
        .bind(bucket.encryption.bucket_key_enabled)
        .bind(block.map(|b| b.block_public_acls))
        .bind(block.map(|b| b.ignore_public_acls))
        .bind(block.map(|b| b.block_public_policy))
        .bind(block.map(|b| b.restrict_public_buckets))
        .bind(bucket.ownership.as_str())
        .bind(Json(&bucket.acl))
}

fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_foreign_key_violation())
}

/// Records `blob_path` as garbage, for the sweeper.
pub(crate) async fn mark_garbage(
    tx: &mut Transaction<'static, Postgres>,
    blob_path: &str,
) -> Result<(), sqlx::Error> {
    execute_as_of_now(tx, MARK_GARBAGE, blob_path).await
}

/// Runs `sql`, one of the statements that put blobs into pending as garbage, with
/// `blob_path` as $1 and now (when they became garbage) as $2.
async fn execute_as_of_now(
    tx: &mut Transaction<'static, Postgres>,
    sql: &'static str,
    blob_path: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(sql)
        .bind(blob_path)
        .bind(Utc::now())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Takes the pending registration of a written blob. False when a sweep claimed it
/// (marked it garbage) and may be deleting it: the row lock orders the two.
pub(crate) async fn take_pending(
    tx: &mut Transaction<'static, Postgres>,
    blob_path: &str,
) -> Result<bool, sqlx::Error> {
    let taken = sqlx::query("DELETE FROM pending_blobs WHERE blob_path = $1 AND NOT garbage")
        .bind(blob_path)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(taken == 1)
}

/// Locks a bucket row FOR SHARE, by name.
pub(super) const BUCKET_FOR_SHARE: &str = "SELECT 1 FROM buckets WHERE name = $1 FOR SHARE";

/// Holds bucket `name` FOR SHARE in `tx`, so that its deletion waits for `tx`; false
/// when there is no such bucket.
pub(super) async fn hold_bucket(
    tx: &mut Transaction<'static, Postgres>,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let found = sqlx::query(BUCKET_FOR_SHARE)
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(found.is_some())
}

/// What `hold_for_blob` found.
pub(super) enum BlobHold {
    /// The row the blob belongs under is gone: the blob is now garbage.
    NoParent,
    /// A sweep claimed the blob (marked it garbage) and may be deleting it.
    Claimed,
    /// The parent row is held FOR SHARE and the blob is out of pending: store its row.
    Held,
}

/// Before a written blob's row is stored, in `tx`: holds the row it belongs under
/// (`lock_sql` finds it by `parent`, FOR SHARE) and takes the blob's pending
/// registration. The upload must still be ours: a sweep that claimed it may be deleting
/// its blob, and the row lock orders this against the claim.
pub(super) async fn hold_for_blob(
    tx: &mut Transaction<'static, Postgres>,
    lock_sql: &'static str,
    parent: &str,
    blob_path: &str,
) -> Result<BlobHold, sqlx::Error> {
    let found = sqlx::query(lock_sql)
        .bind(parent)
        .fetch_optional(&mut **tx)
        .await?;
    if found.is_none() {
        mark_garbage(tx, blob_path).await?;
        return Ok(BlobHold::NoParent);
    }
    if !take_pending(tx, blob_path).await? {
        return Ok(BlobHold::Claimed);
    }
    Ok(BlobHold::Held)
}

/// Inserts the object row or replaces the one at its key, in `tx` (which holds the
/// bucket FOR SHARE), and returns the replaced blob, already put into pending as
/// garbage with the rest of the replaced object's parts if it had several.
async fn store_object_row(
    tx: &mut Transaction<'static, Postgres>,
    record: &ObjectRecord,
) -> Result<Option<String>, sqlx::Error> {
    match store_object_row_if(tx, record, None, |_| Ok::<(), Infallible>(())).await? {
        Ok(replaced) => Ok(replaced),
        Err(never) => match never {},
    }
}

/// Like [`store_object_row`], with the object's `inline` ciphertext if it has no
/// blob, and only if `admits` accepts the ETag of the row it would replace (None:
/// there is none); its refusal is returned as it is. A replaced object stored inline
/// has no blob to report.
async fn store_object_row_if<R>(
    tx: &mut Transaction<'static, Postgres>,
    record: &ObjectRecord,
    inline: Option<&[u8]>,
    admits: impl Fn(Option<&str>) -> Result<(), R>,
) -> Result<Result<Option<String>, R>, sqlx::Error> {
    // Replace the row if there is one (locked, so its blob path is the one this
    // transaction replaces), else insert. An insert that meets a row another
    // transaction inserted meanwhile (waiting for it to commit) does nothing, and
    // the next round replaces that row: no replaced blob goes unreported.
    let replaced = loop {
        let current: Option<(String, String, bool)> = sqlx::query_as(
            "SELECT blob_path, etag, inline_ciphertext IS NOT NULL FROM objects \
             WHERE bucket = $1 AND key = $2 FOR UPDATE",
        )
        .bind(&record.bucket)
        .bind(&record.key)
        .fetch_optional(&mut **tx)
        .await?;
        if let Err(refused) = admits(current.as_ref().map(|(_, e, _)| e.as_str())) {
            return Ok(Err(refused));
        }
        if let Some((current, _, was_inline)) = current {
            write_object(&mut **tx, UPDATE_OBJECT, record, inline).await?;
            break Some(current).filter(|current| !was_inline && *current != record.blob_path);
        }
        if write_object(&mut **tx, INSERT_OBJECT, record, inline).await? == 1 {
            break None;
        }
    };
    if let Some(replaced) = &replaced {
        mark_garbage(tx, replaced).await?;
        multipart::mark_parts_garbage(tx, replaced).await?;
    }
    Ok(Ok(replaced))
}

/// The least string greater than every string that starts with `prefix`, in byte
/// order of UTF-8 (code point order): the last character that has a next one
/// replaced by it. None when there is none (`prefix` empty or all U+10FFFF).
/// Same as the migration's SQL `prefix_successor`.
pub(crate) fn prefix_successor(prefix: &str) -> Option<String> {
    let mut successor = prefix.to_owned();
    while let Some(last) = successor.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            char::MAX => None,
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            successor.push(next);
            return Some(successor);
        }
    }
    None
}

/// The common prefix `key` rolls up into under `prefix` and `delimiter`, if any.
fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: &str) -> Option<&'k str> {
    let rest = key.strip_prefix(prefix)?;
    let at = rest.find(delimiter)?;
    Some(&key[..prefix.len() + at + delimiter.len()])
}

impl MetadataStore {
    pub fn new(pool: PgPool) -> Self {
        MetadataStore {
            bucket_reads: batched::bucket_reads(pool.clone()),
            object_reads: batched::object_reads(pool.clone()),
            inline_inserts: batched::inline_inserts(pool.clone()),
            pool,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// False when a bucket of that name exists (names are unique per installation).
    pub async fn insert_bucket(&self, bucket: &Bucket) -> Result<bool, sqlx::Error> {
        let query = sqlx::query(concat!(
            "INSERT INTO buckets (",
            bucket_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (name) DO NOTHING"
        ))
        .bind(&bucket.name)
        .bind(&bucket.account_id)
        .bind(bucket.created_at);
        let done = bind_bucket_settings(query, bucket)
            .bind(&bucket.policy)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The bucket as committed when this call was made (read together with the other
    /// calls waiting for a bucket).
    pub async fn bucket(&self, name: &str) -> Result<Option<Bucket>, sqlx::Error> {
        self.bucket_reads
            .call(name.to_owned())
            .await
            .unwrap_or_else(|unanswered| Err(decode_error(unanswered.to_string())))
    }

    /// The account's buckets, by name.
    pub async fn list_buckets(&self, account_id: &str) -> Result<Vec<Bucket>, sqlx::Error> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            bucket_columns!(),
            " FROM buckets WHERE account_id = $1 ORDER BY name"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(bucket_from_row).collect()
    }

    /// Sets or (None) removes the bucket's policy; false when the bucket is gone. Apart
    /// from the other settings, so that a concurrent settings change cannot undo it.
    pub async fn set_bucket_policy(
        &self,
        name: &str,
        policy: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("UPDATE buckets SET policy = $2 WHERE name = $1")
            .bind(name)
            .bind(policy)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Writes the bucket's settings (encryption, public access block, ownership,
    /// ACL; not its policy); false when the bucket is gone.
    pub async fn update_bucket(&self, bucket: &Bucket) -> Result<bool, sqlx::Error> {
        let query = sqlx::query(
            "UPDATE buckets SET sse_algorithm = $2, kms_master_key_id = $3, \
             bucket_key_enabled = $4, block_public_acls = $5, ignore_public_acls = $6, \
             block_public_policy = $7, restrict_public_buckets = $8, ownership = $9, acl = $10 \
             WHERE name = $1",
        )
        .bind(&bucket.name);
        let done = bind_bucket_settings(query, bucket)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes the bucket unless it holds objects; its multipart uploads in progress
    /// go with it (their parts become garbage). The bucket row is locked FOR UPDATE
    /// first, which waits for every `put_object` holding it FOR SHARE (so their
    /// objects are seen) and makes later ones find no bucket.
    pub async fn delete_bucket_if_empty(
        &self,
        name: &str,
    ) -> Result<DeleteBucketOutcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let found = sqlx::query("SELECT 1 FROM buckets WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            // Explicitly, so the lock is gone before the answer (a dropped transaction
            // is rolled back only once its connection is back in the pool).
            tx.rollback().await?;
            return Ok(DeleteBucketOutcome::NotFound);
        }
        let not_empty: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM objects WHERE bucket = $1)")
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
        if not_empty {
            tx.rollback().await?;
            return Ok(DeleteBucketOutcome::NotEmpty);
        }
        // Multipart uploads in progress do not keep a bucket: they go with it.
        multipart::drop_bucket_uploads(&mut tx, name).await?;
        sqlx::query("DELETE FROM buckets WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DeleteBucketOutcome::Deleted)
    }

    /// Records a blob about to be written as pending, so that a crash before
    /// `put_object` leaves a trace for the sweeper. Idempotent.
    pub async fn register_upload(&self, blob_path: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO pending_blobs (blob_path, since, garbage) VALUES ($1, $2, false) \
             ON CONFLICT (blob_path) DO NOTHING",
        )
        .bind(blob_path)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores the object row (its blob is written), in one transaction: the bucket
    /// row held FOR SHARE, the row inserted or replaced, the new blob out of
    /// pending, the replaced blob (if any) into pending as garbage.
    pub async fn put_object(&self, record: &ObjectRecord) -> Result<PutObjectOutcome, sqlx::Error> {
        self.put_object_if(record, |_| Ok(())).await
    }

    /// Like [`Self::put_object`], only if `admits` accepts the ETag of the object the
    /// write would replace (None: there is none), read in the same transaction.
    pub async fn put_object_if<R>(
        &self,
        record: &ObjectRecord,
        admits: impl Fn(Option<&str>) -> Result<(), R>,
    ) -> Result<PutObjectOutcome<R>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        match hold_for_blob(&mut tx, BUCKET_FOR_SHARE, &record.bucket, &record.blob_path).await? {
            BlobHold::NoParent => {
                tx.commit().await?;
                return Ok(PutObjectOutcome::NoSuchBucket);
            }
            BlobHold::Claimed => {
                tx.rollback().await?;
                return Ok(PutObjectOutcome::UploadExpired);
            }
            BlobHold::Held => {}
        }
        let replaced = match store_object_row_if(&mut tx, record, None, admits).await? {
            Ok(replaced) => replaced,
            Err(refused) => {
                // The pending row is gone (claimed above): the blob becomes garbage.
                mark_garbage(&mut tx, &record.blob_path).await?;
                tx.commit().await?;
                return Ok(PutObjectOutcome::Refused(refused));
            }
        };
        tx.commit().await?;
        Ok(PutObjectOutcome::Stored {
            replaced_blob: replaced,
        })
    }

    /// Stores an object whose `ciphertext` goes in its row, like
    /// [`Self::put_object_if`] but with no blob to take out of pending or to replace.
    /// A new key (the common case) is one insert committed on its own, shared with the
    /// other new keys being stored meanwhile: the insert's foreign key holds the
    /// bucket, and `ON CONFLICT DO NOTHING` leaves an existing row to the transaction
    /// that replaces it.
    pub async fn put_inline_object_if<R>(
        &self,
        record: &ObjectRecord,
        ciphertext: &Bytes,
        admits: impl Fn(Option<&str>) -> Result<(), R>,
    ) -> Result<PutObjectOutcome<R>, sqlx::Error> {
        if admits(None).is_ok() {
            let inserted = self
                .inline_inserts
                .call((record.clone(), ciphertext.clone()))
                .await
                .unwrap_or_else(|unanswered| Err(decode_error(unanswered.to_string())));
            match inserted {
                Ok(true) => {
                    return Ok(PutObjectOutcome::Stored {
                        replaced_blob: None,
                    });
                }
                Ok(false) => {}
                Err(error) if is_foreign_key_violation(&error) => {
                    return Ok(PutObjectOutcome::NoSuchBucket);
                }
                Err(error) => return Err(error),
            }
        }
        let mut tx = self.pool.begin().await?;
        if !hold_bucket(&mut tx, &record.bucket).await? {
            tx.rollback().await?;
            return Ok(PutObjectOutcome::NoSuchBucket);
        }
        match store_object_row_if(&mut tx, record, Some(ciphertext), admits).await? {
            Ok(replaced) => {
                tx.commit().await?;
                Ok(PutObjectOutcome::Stored {
                    replaced_blob: replaced,
                })
            }
            Err(refused) => {
                tx.rollback().await?;
                Ok(PutObjectOutcome::Refused(refused))
            }
        }
    }

    pub async fn object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectRecord>, sqlx::Error> {
        let row = sqlx::query(concat!(
            "SELECT ",
            object_columns!(),
            " FROM objects o WHERE o.bucket = $1 AND o.key = $2"
        ))
        .bind(bucket)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(object_from_row).transpose()
    }

    /// False when there is no such object.
    pub async fn update_object_acl(
        &self,
        bucket: &str,
        key: &str,
        acl: &Acl,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("UPDATE objects SET acl = $3 WHERE bucket = $1 AND key = $2")
            .bind(bucket)
            .bind(key)
            .bind(Json(acl))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes the object row and returns its blob path, which goes into pending as
    /// garbage in the same transaction (with its other parts, for a multipart
    /// object). None when there was no such object, or it was stored inline.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let deleted: Option<(String, bool)> = sqlx::query_as(
            "DELETE FROM objects WHERE bucket = $1 AND key = $2 \
             RETURNING blob_path, inline_ciphertext IS NOT NULL",
        )
        .bind(bucket)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        let deleted = deleted.and_then(|(blob_path, inline)| (!inline).then_some(blob_path));
        if let Some(blob_path) = &deleted {
            mark_garbage(&mut tx, blob_path).await?;
            multipart::mark_parts_garbage(&mut tx, blob_path).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// One page of ListObjectsV2: the keys after `after` that start with `prefix`,
    /// in byte order; with a delimiter, a key whose rest after the prefix contains
    /// it rolls up into the common prefix ending at its first occurrence, counted
    /// once. At most `max_keys` keys and common prefixes together; `next_marker` is
    /// the last one returned when the listing is truncated (None otherwise). An
    /// `after` that is itself a common prefix (as `next_marker` may be) skips every
    /// key under it. An empty delimiter is no delimiter.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        max_keys: usize,
    ) -> Result<ObjectListing, sqlx::Error> {
        if max_keys == 0 {
            return Ok(ObjectListing::default());
        }
        let delimiter = delimiter.filter(|d| !d.is_empty());
        // key >= lower AND key > after_key
        let mut lower = prefix.to_owned();
        let mut after_key = "";
        if let Some(after) = after {
            match delimiter.and_then(|d| common_prefix(after, prefix, d)) {
                Some(rolled) if rolled.len() == after.len() => match prefix_successor(after) {
                    Some(successor) => lower = lower.max(successor),
                    None => return Ok(ObjectListing::default()),
                },
                _ => after_key = after,
            }
        }
        let upper = prefix_successor(prefix);
        // One more than asked for tells whether the listing is truncated.
        let limit = i64::try_from(max_keys.saturating_add(1)).unwrap_or(i64::MAX);
        let rows = match delimiter {
            None => {
                let query = sqlx::query(if upper.is_some() {
                    LIST_PLAIN_BOUNDED
                } else {
                    LIST_PLAIN
                })
                .bind(bucket)
                .bind(prefix)
                // $3 is not used without a delimiter; bound so the numbering stays.
                .bind(None::<&str>)
                .bind(&lower)
                .bind(after_key)
                .bind(limit);
                match &upper {
                    Some(upper) => query.bind(upper),
                    None => query,
                }
                .fetch_all(&self.pool)
                .await?
            }
            Some(delimiter) => {
                let query = sqlx::query(if upper.is_some() {
                    LIST_WALK_BOUNDED
                } else {
                    LIST_WALK
                })
                .bind(bucket)
                .bind(prefix)
                .bind(delimiter)
                .bind(&lower)
                .bind(after_key)
                .bind(limit);
                match &upper {
                    Some(upper) => query.bind(upper),
                    None => query,
                }
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut listing = ObjectListing::default();
        let mut last = None;
        for (index, row) in rows.iter().enumerate() {
            if index == max_keys {
                listing.is_truncated = true;
                listing.next_marker = last;
                break;
            }
            match row.try_get::<Option<String>, _>("common_prefix")? {
                Some(common_prefix) => {
                    last = Some(common_prefix.clone());
                    listing.common_prefixes.push(common_prefix);
                }
                None => {
                    let object = object_from_row(row)?;
                    last = Some(object.key.clone());
                    listing.objects.push(object);
                }
            }
        }
        Ok(listing)
    }

    /// Blobs the sweeper may delete: garbage (of replaced or deleted objects) since
    /// before `garbage_older_than`, and uploads registered before
    /// `uploads_older_than` that never became an object (abandoned by a crash).
    /// Oldest first. Claims them (marks them garbage), so an upload that was only slow
    /// can no longer become an object whose blob the sweep is deleting.
    pub async fn collectable_blobs(
        &self,
        uploads_older_than: DateTime<Utc>,
        garbage_older_than: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        let mut claimed: Vec<(DateTime<Utc>, String)> = sqlx::query_as(
            "UPDATE pending_blobs SET garbage = true WHERE blob_path IN ( \
               SELECT blob_path FROM pending_blobs \
               WHERE (garbage AND since < $3) OR (NOT garbage AND since < $1) \
               ORDER BY since, blob_path LIMIT $2 FOR UPDATE SKIP LOCKED) \
             RETURNING since, blob_path",
        )
        .bind(uploads_older_than)
        .bind(limit)
        .bind(garbage_older_than)
        .fetch_all(&self.pool)
        .await?;
        // RETURNING keeps no order.
        claimed.sort();
        Ok(claimed.into_iter().map(|(_, path)| path).collect())
    }

    /// Forgets a blob after it was deleted from the blob store.
    pub async fn forget_blob(&self, blob_path: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM pending_blobs WHERE blob_path = $1")
            .bind(blob_path)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
