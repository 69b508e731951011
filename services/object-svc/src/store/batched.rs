//! The statements that concurrent calls share ([`Batcher`]): bucket reads (every
//! request reads its bucket's row: policy, ACL, default encryption), the object reads
//! of GETs, and the insert of a small object at a new key. Under load one statement, and one commit, serves
//! every call that arrived while the previous one ran; a lone call costs what it did.
//! A read still sees every change committed before its call arrived, and a write is
//! acknowledged only once its own statement has committed.

use std::collections::HashMap;

use bytes::Bytes;
use futures::FutureExt;
use keyhold_platform::{
    batch::Batcher,
    db::{copy_error, is_unavailable},
};
use sqlx::{PgPool, types::Json};

use super::{INSERT_OBJECT, bucket_from_row, decode_error, encode_error, multipart, write_object};
use crate::model::{Bucket, ObjectRecord};

/// How many calls one statement serves at most (bounds its size: an insert binds 21
/// arrays of this length, with up to 64 KiB of ciphertext per row).
const MAX_BATCH: usize = 64;

pub(super) type BucketReads = Batcher<String, Result<Option<Bucket>, sqlx::Error>>;
/// Answers whether the row went in (false: a row is at its key already).
pub(super) type InlineInserts = Batcher<(ObjectRecord, Bytes), Result<bool, sqlx::Error>>;

pub(super) type ObjectReads = Batcher<(String, String), multipart::ObjectWithCiphertext>;

pub(super) fn bucket_reads(pool: PgPool) -> BucketReads {
    Batcher::new(MAX_BATCH, move |names| {
        read_buckets(pool.clone(), names).boxed()
    })
}

pub(super) fn object_reads(pool: PgPool) -> ObjectReads {
    Batcher::new(MAX_BATCH, move |wanted| {
        multipart::objects_with_ciphertext(pool.clone(), wanted).boxed()
    })
}

pub(super) fn inline_inserts(pool: PgPool) -> InlineInserts {
    Batcher::new(MAX_BATCH, move |rows| {
        insert_new(pool.clone(), rows).boxed()
    })
}

async fn read_buckets(
    pool: PgPool,
    names: Vec<String>,
) -> Vec<Result<Option<Bucket>, sqlx::Error>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        bucket_columns!(),
        " FROM buckets WHERE name = ANY($1)"
    ))
    .bind(&names)
    .fetch_all(&pool)
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(error) => return names.iter().map(|_| Err(copy_error(&error))).collect(),
    };
    let mut found = HashMap::with_capacity(rows.len());
    for row in &rows {
        // A row that does not decode fails only the calls that asked for it.
        let name: String = match sqlx::Row::try_get(row, "name") {
            Ok(name) => name,
            Err(error) => return names.iter().map(|_| Err(copy_error(&error))).collect(),
        };
        found.insert(name, bucket_from_row(row).map_err(|e| e.to_string()));
    }
    names
        .iter()
        .map(|name| match found.get(name) {
            None => Ok(None),
            Some(Ok(bucket)) => Ok(Some(bucket.clone())),
            Some(Err(message)) => Err(decode_error(message.clone())),
        })
        .collect()
}

async fn insert_new(
    pool: PgPool,
    rows: Vec<(ObjectRecord, Bytes)>,
) -> Vec<Result<bool, sqlx::Error>> {
    if rows.len() > 1 {
        match insert_rows(&pool, &rows).await {
            Ok(inserted) => {
                return rows
                    .iter()
                    .map(|(record, _)| Ok(inserted.contains(&record.blob_path)))
                    .collect();
            }
            // Out of reach: every row would fail the same way, one pool timeout each.
            Err(error) if is_unavailable(&error) => {
                return rows.iter().map(|_| Err(copy_error(&error))).collect();
            }
            // A row the statement refused (its bucket was deleted, say) fails all
            // of it: then each row goes alone and gets its own answer.
            Err(_) => {}
        }
    }
    let mut answers = Vec::with_capacity(rows.len());
    for (record, ciphertext) in &rows {
        let done = write_object(&pool, INSERT_OBJECT, record, Some(ciphertext)).await;
        answers.push(done.map(|inserted| inserted == 1));
    }
    answers
}

/// Inserts every row whose key is free, in one statement; returns the blob paths
/// (unique per write) of those that went in.
async fn insert_rows(
    pool: &PgPool,
    rows: &[(ObjectRecord, Bytes)],
) -> Result<Vec<String>, sqlx::Error> {
    // Inserting in key order keeps two replicas' batches from deadlocking.
    let mut sorted: Vec<&(ObjectRecord, Bytes)> = rows.iter().collect();
    sorted.sort_by(|(a, _), (b, _)| (&a.bucket, &a.key).cmp(&(&b.bucket, &b.key)));
    let column = |f: fn(&ObjectRecord) -> Option<String>| -> Vec<Option<String>> {
        sorted.iter().map(|(record, _)| f(record)).collect()
    };
    let text = |f: fn(&ObjectRecord) -> &str| -> Vec<&str> {
        sorted.iter().map(|(record, _)| f(record)).collect()
    };
    let sizes = sorted
        .iter()
        .map(|(record, _)| i64::try_from(record.size).map_err(encode_error))
        .collect::<Result<Vec<i64>, _>>()?;
    let segment_sizes = sorted
        .iter()
        .map(|(record, _)| i32::try_from(record.encryption.segment_size).map_err(encode_error))
        .collect::<Result<Vec<i32>, _>>()?;
    sqlx::query_scalar(
        "INSERT INTO objects (bucket, key, blob_path, size, etag, last_modified, content_type, \
             cache_control, content_disposition, content_encoding, content_language, \
             user_metadata, sse_algorithm, kms_key_arn, bucket_key_enabled, wrapped_key, \
             encryption_context, nonce_prefix, segment_size, acl, inline_ciphertext) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], \
             $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
             $12::jsonb[], $13::text[], $14::text[], $15::bool[], $16::bytea[], $17::jsonb[], \
             $18::bytea[], $19::int4[], $20::jsonb[], $21::bytea[]) \
         ON CONFLICT (bucket, key) DO NOTHING RETURNING blob_path",
    )
    .bind(text(|r| &r.bucket))
    .bind(text(|r| &r.key))
    .bind(text(|r| &r.blob_path))
    .bind(sizes)
    .bind(text(|r| &r.etag))
    .bind(
        sorted
            .iter()
            .map(|(r, _)| r.last_modified)
            .collect::<Vec<_>>(),
    )
    .bind(column(|r| r.content.content_type.clone()))
    .bind(column(|r| r.content.cache_control.clone()))
    .bind(column(|r| r.content.content_disposition.clone()))
    .bind(column(|r| r.content.content_encoding.clone()))
    .bind(column(|r| r.content.content_language.clone()))
    .bind(
        sorted
            .iter()
            .map(|(r, _)| Json(&r.user_metadata))
            .collect::<Vec<_>>(),
    )
    .bind(text(|r| r.encryption.algorithm.as_str()))
    .bind(column(|r| r.encryption.kms_key_arn.clone()))
    .bind(
        sorted
            .iter()
            .map(|(r, _)| r.encryption.bucket_key_enabled)
            .collect::<Vec<_>>(),
    )
    .bind(
        sorted
            .iter()
            .map(|(r, _)| r.encryption.wrapped_key.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(
        sorted
            .iter()
            .map(|(r, _)| Json(&r.encryption.encryption_context))
            .collect::<Vec<_>>(),
    )
    .bind(
        sorted
            .iter()
            .map(|(r, _)| r.encryption.nonce_prefix.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(segment_sizes)
    .bind(sorted.iter().map(|(r, _)| Json(&r.acl)).collect::<Vec<_>>())
    .bind(
        sorted
            .iter()
            .map(|(_, c)| c.as_ref())
            .collect::<Vec<&[u8]>>(),
    )
    .fetch_all(pool)
    .await
}
