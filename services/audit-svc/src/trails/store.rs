//! The trails table and the delivery state beside each trail (migration 0003):
//! configuration, logging on and off, the delivery cursor, the batch in flight and
//! the delivered log files.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row, postgres::PgRow};

use super::{
    error::{TrailError, TrailResult},
    selectors::Selectors,
};
use crate::digests::DigestTrail;

/// A position in the order events became durable: (ingest_xid, ingest_seq).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub xid: i64,
    pub seq: i64,
}

#[derive(Debug, Clone)]
pub struct TrailRow {
    pub account_id: String,
    pub name: String,
    pub region: String,
    pub s3_bucket_name: String,
    pub s3_key_prefix: String,
    pub include_global_service_events: bool,
    pub is_multi_region_trail: bool,
    pub log_file_validation_enabled: bool,
    pub kms_key_id: String,
    pub selectors: Selectors,
    pub has_custom_event_selectors: bool,
    /// InsightType of each insight selector.
    pub insight_types: Vec<String>,
    pub is_logging: bool,
    pub start_logging_time: Option<DateTime<Utc>>,
    pub stop_logging_time: Option<DateTime<Utc>>,
    pub stop_xid: i64,
    pub cursor: Position,
    pub pending: Option<(Position, DateTime<Utc>)>,
    pub latest_delivery_time: Option<DateTime<Utc>>,
    pub latest_delivery_attempt_time: Option<DateTime<Utc>>,
    pub latest_delivery_error: Option<String>,
    pub latest_digest_delivery_time: Option<DateTime<Utc>>,
    pub latest_digest_delivery_error: Option<String>,
}

/// The configuration CreateTrail and UpdateTrail set.
#[derive(Debug, Clone)]
pub struct TrailSettings {
    pub s3_bucket_name: String,
    pub s3_key_prefix: String,
    pub include_global_service_events: bool,
    pub is_multi_region_trail: bool,
    pub log_file_validation_enabled: bool,
    pub kms_key_id: String,
}

/// One stored event as delivery needs it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub position: Position,
    pub category: String,
    pub source: String,
    pub name: String,
    pub read_only: bool,
    pub event_time: DateTime<Utc>,
    pub json: String,
}

/// A log file written, as the digests part reads it back.
#[derive(Debug, Clone)]
pub struct DeliveredFile {
    pub s3_bucket: String,
    pub s3_object: String,
    pub sha256_hex: String,
    pub oldest_event_time: DateTime<Utc>,
    pub newest_event_time: DateTime<Utc>,
    pub records: i32,
}

const COLUMNS: &str = "account_id, name, region, s3_bucket_name, s3_key_prefix, \
    include_global_service_events, is_multi_region_trail, log_file_validation_enabled, \
    kms_key_id, event_selectors, has_custom_event_selectors, insight_selectors, is_logging, \
    start_logging_time, stop_logging_time, stop_xid, cursor_xid, cursor_seq, \
    pending_end_xid, pending_end_seq, pending_time, latest_delivery_time, \
    latest_delivery_attempt_time, latest_delivery_error, latest_digest_delivery_time, \
    latest_digest_delivery_error";

/// Postgres' unique_violation.
const UNIQUE_VIOLATION: &str = "23505";

/// The oldest transaction still running: every transaction below it has ended.
const XMIN: &str = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// Stored events after the position ($1, $2), in delivery's shape; the caller adds
/// the upper bound. A macro keeps each query a `&'static str`.
macro_rules! events_after {
    () => {
        "SELECT ingest_xid::text::bigint AS xid, ingest_seq, event_category, event_source, \
         event_name, read_only, event_time, cloud_trail_event FROM events \
         WHERE ingest_xid IS NOT NULL AND (ingest_xid, ingest_seq) > ($1::text::xid8, $2) "
    };
}

#[derive(Clone)]
pub struct TrailStore {
    pool: PgPool,
}

fn row_of(row: &PgRow) -> TrailResult<TrailRow> {
    let selectors: serde_json::Value = row.try_get("event_selectors")?;
    let selectors: Selectors = serde_json::from_value(selectors)
        .map_err(|e| TrailError::Internal(format!("stored event selectors: {e}")))?;
    let insights: serde_json::Value = row.try_get("insight_selectors")?;
    let insight_types = insights
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|s| s["InsightType"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let pending_xid: Option<i64> = row.try_get("pending_end_xid")?;
    let pending_seq: Option<i64> = row.try_get("pending_end_seq")?;
    let pending_time: Option<DateTime<Utc>> = row.try_get("pending_time")?;
    let pending = match (pending_xid, pending_seq, pending_time) {
        (Some(xid), Some(seq), Some(time)) => Some((Position { xid, seq }, time)),
        _ => None,
    };
    Ok(TrailRow {
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        region: row.try_get("region")?,
        s3_bucket_name: row.try_get("s3_bucket_name")?,
        s3_key_prefix: row.try_get("s3_key_prefix")?,
        include_global_service_events: row.try_get("include_global_service_events")?,
        is_multi_region_trail: row.try_get("is_multi_region_trail")?,
        log_file_validation_enabled: row.try_get("log_file_validation_enabled")?,
        kms_key_id: row.try_get("kms_key_id")?,
        selectors,
        has_custom_event_selectors: row.try_get("has_custom_event_selectors")?,
        insight_types,
        is_logging: row.try_get("is_logging")?,
        start_logging_time: row.try_get("start_logging_time")?,
        stop_logging_time: row.try_get("stop_logging_time")?,
        stop_xid: row.try_get("stop_xid")?,
        cursor: Position {
            xid: row.try_get("cursor_xid")?,
            seq: row.try_get("cursor_seq")?,
        },
        pending,
        latest_delivery_time: row.try_get("latest_delivery_time")?,
        latest_delivery_attempt_time: row.try_get("latest_delivery_attempt_time")?,
        latest_delivery_error: row.try_get("latest_delivery_error")?,
        latest_digest_delivery_time: row.try_get("latest_digest_delivery_time")?,
        latest_digest_delivery_error: row.try_get("latest_digest_delivery_error")?,
    })
}

fn selectors_json(selectors: &Selectors) -> TrailResult<serde_json::Value> {
    serde_json::to_value(selectors).map_err(|e| TrailError::Internal(e.to_string()))
}

impl TrailStore {
    pub fn new(pool: PgPool) -> Self {
        TrailStore { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Inserts a new trail; `false` when the account already has one of that name.
    pub async fn insert(
        &self,
        account_id: &str,
        name: &str,
        region: &str,
        settings: &TrailSettings,
    ) -> TrailResult<bool> {
        let inserted = sqlx::query(
            "INSERT INTO trails (account_id, name, region, s3_bucket_name, s3_key_prefix, \
             include_global_service_events, is_multi_region_trail, log_file_validation_enabled, \
             kms_key_id, event_selectors) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(account_id)
        .bind(name)
        .bind(region)
        .bind(&settings.s3_bucket_name)
        .bind(&settings.s3_key_prefix)
        .bind(settings.include_global_service_events)
        .bind(settings.is_multi_region_trail)
        .bind(settings.log_file_validation_enabled)
        .bind(&settings.kms_key_id)
        .bind(selectors_json(&Selectors::default_for_new_trail())?)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(UNIQUE_VIOLATION) => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(&self, account_id: &str, name: &str) -> TrailResult<Option<TrailRow>> {
        let sql = format!("SELECT {COLUMNS} FROM trails WHERE account_id = $1 AND name = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_of).transpose()
    }

    /// The account's trails, by name.
    pub async fn list(&self, account_id: &str) -> TrailResult<Vec<TrailRow>> {
        let sql = format!("SELECT {COLUMNS} FROM trails WHERE account_id = $1 ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_of).collect()
    }

    /// Every trail with something to deliver: logging, or stopped with events written
    /// before the stop not delivered yet, or a batch in flight.
    pub async fn deliverable(&self) -> TrailResult<Vec<TrailRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM trails WHERE is_logging OR cursor_xid < stop_xid \
             OR pending_end_xid IS NOT NULL ORDER BY account_id, name"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_of).collect()
    }

    /// `false` when there is no such trail. Turning validation on while the trail
    /// logs starts a digest chain at `now`; turning it off ends the chain.
    pub async fn update(
        &self,
        account_id: &str,
        name: &str,
        settings: &TrailSettings,
        now: DateTime<Utc>,
    ) -> TrailResult<bool> {
        let updated = sqlx::query(
            "UPDATE trails SET s3_bucket_name = $3, s3_key_prefix = $4, \
             include_global_service_events = $5, is_multi_region_trail = $6, \
             validation_started_at = CASE WHEN NOT $7 THEN NULL \
               WHEN log_file_validation_enabled THEN validation_started_at \
               WHEN is_logging THEN $9 END, \
             log_file_validation_enabled = $7, kms_key_id = $8 \
             WHERE account_id = $1 AND name = $2",
        )
        .bind(account_id)
        .bind(name)
        .bind(&settings.s3_bucket_name)
        .bind(&settings.s3_key_prefix)
        .bind(settings.include_global_service_events)
        .bind(settings.is_multi_region_trail)
        .bind(settings.log_file_validation_enabled)
        .bind(&settings.kms_key_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    pub async fn delete(&self, account_id: &str, name: &str) -> TrailResult<bool> {
        let deleted = sqlx::query("DELETE FROM trails WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() == 1)
    }

    /// Turns logging on. A trail whose earlier events are all delivered starts from
    /// now (the oldest transaction still running): events stored while it was not
    /// logging are not its to deliver. A trail still delivering keeps its cursor.
    /// A trail that validates its log files starts a new digest chain.
    pub async fn start_logging(
        &self,
        account_id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> TrailResult<bool> {
        let sql = format!(
            "WITH horizon AS (SELECT {XMIN} AS xmin) \
             UPDATE trails SET \
               cursor_seq = CASE WHEN is_logging OR cursor_xid < stop_xid OR cursor_xid >= h.xmin \
                 OR pending_end_xid IS NOT NULL THEN cursor_seq ELSE 0 END, \
               cursor_xid = CASE WHEN is_logging OR cursor_xid < stop_xid OR cursor_xid >= h.xmin \
                 OR pending_end_xid IS NOT NULL THEN cursor_xid ELSE h.xmin END, \
               start_logging_time = CASE WHEN is_logging THEN start_logging_time ELSE $3 END, \
               validation_started_at = CASE WHEN is_logging THEN validation_started_at \
                 WHEN log_file_validation_enabled THEN $3 END, \
               is_logging = TRUE \
             FROM horizon h WHERE account_id = $1 AND name = $2"
        );
        let updated = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Turns logging off. Events whose transactions began before now (below the
    /// snapshot's xmax) are still delivered.
    pub async fn stop_logging(
        &self,
        account_id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> TrailResult<bool> {
        let updated = sqlx::query(
            "UPDATE trails SET \
               stop_xid = CASE WHEN is_logging THEN \
                 pg_snapshot_xmax(pg_current_snapshot())::text::bigint ELSE stop_xid END, \
               stop_logging_time = CASE WHEN is_logging THEN $3 ELSE stop_logging_time END, \
               is_logging = FALSE \
             WHERE account_id = $1 AND name = $2",
        )
        .bind(account_id)
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    pub async fn put_selectors(
        &self,
        account_id: &str,
        name: &str,
        selectors: &Selectors,
    ) -> TrailResult<bool> {
        let updated = sqlx::query(
            "UPDATE trails SET event_selectors = $3, has_custom_event_selectors = TRUE \
             WHERE account_id = $1 AND name = $2",
        )
        .bind(account_id)
        .bind(name)
        .bind(selectors_json(selectors)?)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    pub async fn put_insight_types(
        &self,
        account_id: &str,
        name: &str,
        types: &[String],
    ) -> TrailResult<bool> {
        let selectors: Vec<serde_json::Value> = types
            .iter()
            .map(|t| serde_json::json!({"InsightType": t}))
            .collect();
        let updated = sqlx::query(
            "UPDATE trails SET insight_selectors = $3 WHERE account_id = $1 AND name = $2",
        )
        .bind(account_id)
        .bind(name)
        .bind(serde_json::Value::Array(selectors))
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// The insight selectors (AWS's JSON shape) of every trail that is logging.
    pub async fn logging_insight_selectors(&self) -> TrailResult<Vec<serde_json::Value>> {
        Ok(sqlx::query_scalar(
            "SELECT insight_selectors FROM trails WHERE is_logging AND insight_selectors <> '[]'",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The delivery horizon: events of transactions below it are final.
    pub async fn horizon(&self) -> TrailResult<i64> {
        let sql = format!("SELECT {XMIN} AS xmin");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("xmin")?)
    }

    /// Up to `limit` events after `after`, of transactions below `below`, in order.
    pub async fn events_after(
        &self,
        after: Position,
        below: i64,
        limit: i64,
    ) -> TrailResult<Vec<StoredEvent>> {
        let rows = sqlx::query(concat!(
            events_after!(),
            "AND ingest_xid < $3::text::xid8 ORDER BY ingest_xid, ingest_seq LIMIT $4"
        ))
        .bind(after.xid.to_string())
        .bind(after.seq)
        .bind(below.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_event).collect()
    }

    /// The events of (after, through], in order: a batch read again.
    pub async fn events_between(
        &self,
        after: Position,
        through: Position,
    ) -> TrailResult<Vec<StoredEvent>> {
        let rows = sqlx::query(concat!(
            events_after!(),
            "AND (ingest_xid, ingest_seq) <= ($3::text::xid8, $4) ORDER BY ingest_xid, ingest_seq"
        ))
        .bind(after.xid.to_string())
        .bind(after.seq)
        .bind(through.xid.to_string())
        .bind(through.seq)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_event).collect()
    }

    /// Moves the cursor over events none of which the trail selects.
    pub async fn skip(&self, trail: &TrailRow, to: Position) -> TrailResult<bool> {
        let updated = sqlx::query(
            "UPDATE trails SET cursor_xid = $5, cursor_seq = $6 \
             WHERE account_id = $1 AND name = $2 AND cursor_xid = $3 AND cursor_seq = $4 \
               AND pending_end_xid IS NULL",
        )
        .bind(&trail.account_id)
        .bind(&trail.name)
        .bind(trail.cursor.xid)
        .bind(trail.cursor.seq)
        .bind(to.xid)
        .bind(to.seq)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Records the batch (cursor, end] about to be written, with the time its object
    /// keys carry; `false` if another worker moved the trail on meanwhile.
    pub async fn begin_batch(
        &self,
        trail: &TrailRow,
        end: Position,
        time: DateTime<Utc>,
    ) -> TrailResult<bool> {
        let updated = sqlx::query(
            "UPDATE trails SET pending_end_xid = $5, pending_end_seq = $6, pending_time = $7 \
             WHERE account_id = $1 AND name = $2 AND cursor_xid = $3 AND cursor_seq = $4 \
               AND pending_end_xid IS NULL",
        )
        .bind(&trail.account_id)
        .bind(&trail.name)
        .bind(trail.cursor.xid)
        .bind(trail.cursor.seq)
        .bind(end.xid)
        .bind(end.seq)
        .bind(time)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// In one transaction: the written files, the cursor moved to the batch's end,
    /// the batch cleared, the delivery time set and the error cleared.
    pub async fn complete_batch(
        &self,
        trail: &TrailRow,
        end: Position,
        files: &[DeliveredFile],
        now: DateTime<Utc>,
    ) -> TrailResult<bool> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE trails SET cursor_xid = $3, cursor_seq = $4, pending_end_xid = NULL, \
               pending_end_seq = NULL, pending_time = NULL, latest_delivery_time = $5, \
               latest_delivery_attempt_time = $5, latest_delivery_error = NULL \
             WHERE account_id = $1 AND name = $2 AND pending_end_xid = $3 AND pending_end_seq = $4",
        )
        .bind(&trail.account_id)
        .bind(&trail.name)
        .bind(end.xid)
        .bind(end.seq)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        for file in files {
            sqlx::query(
                "INSERT INTO trail_log_files (account_id, trail_name, s3_bucket, s3_object, \
                 sha256_hex, oldest_event_time, newest_event_time, records, delivered_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (account_id, trail_name, s3_object) DO UPDATE SET \
                 sha256_hex = EXCLUDED.sha256_hex, records = EXCLUDED.records",
            )
            .bind(&trail.account_id)
            .bind(&trail.name)
            .bind(&file.s3_bucket)
            .bind(&file.s3_object)
            .bind(&file.sha256_hex)
            .bind(file.oldest_event_time)
            .bind(file.newest_event_time)
            .bind(file.records)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn record_error(
        &self,
        trail: &TrailRow,
        error: &str,
        now: DateTime<Utc>,
    ) -> TrailResult<()> {
        sqlx::query(
            "UPDATE trails SET latest_delivery_error = $3, latest_delivery_attempt_time = $4 \
             WHERE account_id = $1 AND name = $2",
        )
        .bind(&trail.account_id)
        .bind(&trail.name)
        .bind(error)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The trails whose digest chains may have a window due: validating, and logging
    /// or stopped with a chain not yet ended. A stopped trail gets its `until` once the
    /// events before the stop are all delivered: the later of the stop and its last
    /// delivery.
    pub async fn digest_trails(&self) -> TrailResult<Vec<DigestTrail>> {
        let rows = sqlx::query(
            "SELECT t.account_id, t.name, t.region, t.s3_bucket_name, t.s3_key_prefix, \
               t.validation_started_at, s.until \
             FROM trails t \
             CROSS JOIN LATERAL (SELECT CASE WHEN t.is_logging OR t.cursor_xid < t.stop_xid \
                 OR t.pending_end_xid IS NOT NULL THEN NULL \
                 ELSE GREATEST(t.stop_logging_time, (SELECT max(f.delivered_at) \
                   FROM trail_log_files f \
                   WHERE f.account_id = t.account_id AND f.trail_name = t.name)) END AS until) s \
             LEFT JOIN digest_chains c \
               ON c.trail_arn = 'arn:aws:cloudtrail:' || t.region || ':' || t.account_id \
                 || ':trail/' || t.name \
             WHERE t.log_file_validation_enabled AND t.validation_started_at IS NOT NULL \
               AND (s.until IS NULL OR c.next_start IS NULL \
                 OR c.chain_started_at <> date_trunc('second', t.validation_started_at) \
                 OR c.next_start < s.until) \
             ORDER BY t.account_id, t.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let prefix: String = row.try_get("s3_key_prefix")?;
                Ok(DigestTrail {
                    account_id: row.try_get("account_id")?,
                    region: row.try_get("region")?,
                    name: row.try_get("name")?,
                    bucket: row.try_get("s3_bucket_name")?,
                    prefix: (!prefix.is_empty()).then_some(prefix),
                    validation_since: row.try_get("validation_started_at")?,
                    until: row.try_get("until")?,
                })
            })
            .collect()
    }

    /// GetTrailStatus' digest fields after a digest round of the trail: the time of
    /// the last digest written, or the error that stopped the round.
    pub async fn record_digest_delivery(
        &self,
        trail: &DigestTrail,
        outcome: Result<Option<DateTime<Utc>>, &str>,
    ) -> TrailResult<()> {
        let (delivered, error) = match outcome {
            Ok(delivered) => (delivered, None),
            Err(error) => (None, Some(error)),
        };
        // Most rounds write nothing and change nothing: no row version for them.
        sqlx::query(
            "UPDATE trails SET \
               latest_digest_delivery_time = COALESCE($3, latest_digest_delivery_time), \
               latest_digest_delivery_error = $4 \
             WHERE account_id = $1 AND name = $2 \
               AND ($3 IS NOT NULL OR latest_digest_delivery_error IS DISTINCT FROM $4)",
        )
        .bind(&trail.account_id)
        .bind(&trail.name)
        .bind(delivered)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The log files delivered for a trail, oldest first (digests read these).
    pub async fn delivered_files(
        &self,
        account_id: &str,
        trail_name: &str,
    ) -> TrailResult<Vec<DeliveredFile>> {
        let rows = sqlx::query(
            "SELECT s3_bucket, s3_object, sha256_hex, oldest_event_time, newest_event_time, records \
             FROM trail_log_files WHERE account_id = $1 AND trail_name = $2 \
             ORDER BY delivered_at, s3_object",
        )
        .bind(account_id)
        .bind(trail_name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveredFile {
                    s3_bucket: row.try_get("s3_bucket")?,
                    s3_object: row.try_get("s3_object")?,
                    sha256_hex: row.try_get("sha256_hex")?,
                    oldest_event_time: row.try_get("oldest_event_time")?,
                    newest_event_time: row.try_get("newest_event_time")?,
                    records: row.try_get("records")?,
                })
            })
            .collect()
    }
}

fn stored_event(row: &PgRow) -> TrailResult<StoredEvent> {
    Ok(StoredEvent {
        position: Position {
            xid: row.try_get("xid")?,
            seq: row.try_get("ingest_seq")?,
        },
        category: row.try_get("event_category")?,
        source: row.try_get("event_source")?,
        name: row.try_get("event_name")?,
        read_only: row.try_get("read_only")?,
        event_time: row.try_get("event_time")?,
        json: row.try_get("cloud_trail_event")?,
    })
}
