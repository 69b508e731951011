//! The Insights tables (migration 0005): closing minutes of counts into rates, the
//! detector's saved state, and the events attributions are counted from.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};

use super::{
    InsightType, SeriesKey,
    detector::{Detector, OpenInsight, SeriesState, Span},
    event::Sample,
};
use crate::{
    error::{AuditError, AuditResult},
    lookup_key::{self, EVENT_NAME},
    record::Category,
};

// A minute's partial counts (appended at ingest) become one rate per series. Counts of
// minutes already closed arrived too late to be judged: they are dropped, and their
// calls returned so the worker can say so.
const ROLL_UP: &str = "\
WITH moved AS (
    DELETE FROM insight_counts WHERE minute < $1
    RETURNING minute, event_source, event_name, read_only, error_code, calls
), kept AS (
    SELECT * FROM moved WHERE $2::timestamptz IS NULL OR minute > $2
), rates AS (
    SELECT minute, 'ApiCallRateInsight' AS insight_type, event_source, event_name,
           '' AS error_code, sum(calls)::int8 AS calls
    FROM kept WHERE NOT read_only
    GROUP BY minute, event_source, event_name
    UNION ALL
    SELECT minute, 'ApiErrorRateInsight', event_source, event_name, error_code,
           sum(calls)::int8
    FROM kept WHERE error_code IS NOT NULL
    GROUP BY minute, event_source, event_name, error_code
), stored AS (
    INSERT INTO insight_rates (minute, insight_type, event_source, event_name, error_code, calls)
    SELECT * FROM rates
    ON CONFLICT (minute, insight_type, event_source, event_name, error_code)
    DO UPDATE SET calls = insight_rates.calls + excluded.calls
)
SELECT coalesce(sum(calls), 0)::int8 AS late
FROM moved WHERE NOT ($2::timestamptz IS NULL OR minute > $2)";

/// Moves the counts of the minutes before `upto` into `insight_rates`, except those of
/// minutes at or before `closed` (already judged); returns the calls dropped so.
pub async fn roll_up(
    conn: &mut PgConnection,
    upto: DateTime<Utc>,
    closed: Option<DateTime<Utc>>,
) -> AuditResult<i64> {
    let row = sqlx::query(ROLL_UP)
        .bind(upto)
        .bind(closed)
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get("late")?)
}

/// The earliest minute with counts not rolled up yet.
pub async fn earliest_count(conn: &mut PgConnection) -> AuditResult<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar("SELECT min(minute) FROM insight_counts")
        .fetch_one(&mut *conn)
        .await?)
}

/// The calls of each series in `minute`.
pub async fn minute_calls(
    conn: &mut PgConnection,
    minute: DateTime<Utc>,
) -> AuditResult<BTreeMap<SeriesKey, u64>> {
    let rows = sqlx::query(
        "SELECT insight_type, event_source, event_name, error_code, calls \
         FROM insight_rates WHERE minute = $1",
    )
    .bind(minute)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let calls: i64 = row.try_get("calls")?;
            Ok((series_key(row)?, u64::try_from(calls).unwrap_or(0)))
        })
        .collect()
}

/// Drops the rates of minutes before `minute` (out of every window still needed).
pub async fn forget_rates_before(
    conn: &mut PgConnection,
    minute: DateTime<Utc>,
) -> AuditResult<()> {
    sqlx::query("DELETE FROM insight_rates WHERE minute < $1")
        .bind(minute)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn series_key(row: &sqlx::postgres::PgRow) -> AuditResult<SeriesKey> {
    let kind: String = row.try_get("insight_type")?;
    Ok(SeriesKey {
        insight_type: kind.parse::<InsightType>().map_err(AuditError::Internal)?,
        event_source: row.try_get("event_source")?,
        event_name: row.try_get("event_name")?,
        error_code: row.try_get("error_code")?,
    })
}

/// The last closed minute and the detector as saved with it (a fresh detector when
/// no minute was ever closed).
pub async fn load(
    conn: &mut PgConnection,
    window: u32,
    rule: super::detector::Rule,
) -> AuditResult<(Option<DateTime<Utc>>, Detector)> {
    let mut detector = Detector::new(window, rule);
    let progress = sqlx::query("SELECT last_closed, history_minutes FROM insight_progress")
        .fetch_optional(&mut *conn)
        .await?;
    let Some(progress) = progress else {
        return Ok((None, detector));
    };
    let history: i32 = progress.try_get("history_minutes")?;
    // A window made shorter since keeps only what fits in it.
    detector.history = u32::try_from(history).unwrap_or(0).min(detector.window);
    let rows = sqlx::query("SELECT * FROM insight_series")
        .fetch_all(&mut *conn)
        .await?;
    for row in &rows {
        let count = |column: &str| -> AuditResult<u64> {
            let value: Option<i64> = row.try_get(column)?;
            Ok(value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
        };
        let minutes = |column: &str| -> AuditResult<u32> {
            let value: Option<i32> = row.try_get(column)?;
            Ok(value.and_then(|v| u32::try_from(v).ok()).unwrap_or(0))
        };
        let shared: Option<uuid::Uuid> = row.try_get("open_shared_id")?;
        let start: Option<DateTime<Utc>> = row.try_get("open_start")?;
        let open = match (shared, start) {
            (Some(shared_event_id), Some(start)) => Some(OpenInsight {
                shared_event_id,
                start,
                baseline_calls: count("open_baseline_calls")?,
                threshold: row
                    .try_get::<Option<f64>, _>("open_threshold")?
                    .unwrap_or(0.0),
                calls: count("open_calls")?,
                minutes: minutes("open_minutes")?,
                pending_calls: count("pending_calls")?,
                pending_minutes: minutes("pending_minutes")?,
            }),
            _ => None,
        };
        detector.series.insert(
            series_key(row)?,
            SeriesState {
                sum: count("sum")?,
                sum_squares: count("sum_squares")?,
                open,
            },
        );
    }
    Ok((Some(progress.try_get("last_closed")?), detector))
}

/// Saves the detector as it is after closing `last_closed`.
pub async fn save(
    conn: &mut PgConnection,
    last_closed: DateTime<Utc>,
    detector: &Detector,
) -> AuditResult<()> {
    sqlx::query(
        "INSERT INTO insight_progress (id, last_closed, history_minutes) VALUES (TRUE, $1, $2) \
         ON CONFLICT (id) DO UPDATE SET last_closed = $1, history_minutes = $2",
    )
    .bind(last_closed)
    .bind(i32::try_from(detector.history).unwrap_or(i32::MAX))
    .execute(&mut *conn)
    .await?;
    // A few hundred rows at most (series with calls in the window): rewritten whole.
    sqlx::query("DELETE FROM insight_series")
        .execute(&mut *conn)
        .await?;
    let big = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let small = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    for (key, state) in &detector.series {
        let open = state.open.as_ref();
        sqlx::query(
            "INSERT INTO insight_series (insight_type, event_source, event_name, error_code, \
             sum, sum_squares, open_shared_id, open_start, open_baseline_calls, open_threshold, \
             open_calls, open_minutes, pending_calls, pending_minutes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(key.insight_type.as_str())
        .bind(&key.event_source)
        .bind(&key.event_name)
        .bind(&key.error_code)
        .bind(big(state.sum))
        .bind(big(state.sum_squares))
        .bind(open.map(|o| o.shared_event_id))
        .bind(open.map(|o| o.start))
        .bind(open.map(|o| big(o.baseline_calls)))
        .bind(open.map(|o| o.threshold))
        .bind(open.map(|o| big(o.calls)))
        .bind(open.map(|o| small(o.minutes)))
        .bind(open.map(|o| big(o.pending_calls)))
        .bind(open.map(|o| small(o.pending_minutes)))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

// The series' management events in a span, newest first, through the EventName index
// (`events_by_name`, migration 0002). Write calls for a call rate, the error code's
// calls for an error rate.
const WRITE_CALLS: &str = "\
SELECT cloud_trail_event FROM events
WHERE name_key = $1 AND event_name = $2 AND event_source = $3
  AND (event_category = 'Management') IS TRUE
  AND event_time >= $4 AND event_time < $5 AND NOT read_only
ORDER BY event_time DESC, event_id DESC LIMIT $6";
const FAILED_CALLS: &str = "\
SELECT cloud_trail_event FROM events
WHERE name_key = $1 AND event_name = $2 AND event_source = $3
  AND (event_category = 'Management') IS TRUE
  AND event_time >= $4 AND event_time < $5 AND error_code = $7
ORDER BY event_time DESC, event_id DESC LIMIT $6";

/// The attribution fields of (at most `limit` of, the newest) the series' events in
/// `span`.
pub async fn samples(
    pool: &PgPool,
    key: &SeriesKey,
    span: &Span,
    limit: i64,
) -> AuditResult<Vec<Sample>> {
    let sql = match key.insight_type {
        InsightType::ApiCallRate => WRITE_CALLS,
        InsightType::ApiErrorRate => FAILED_CALLS,
    };
    let mut query = sqlx::query(sql)
        .bind(lookup_key::lookup_key(
            Category::Management,
            EVENT_NAME,
            &key.event_name,
        ))
        .bind(&key.event_name)
        .bind(&key.event_source)
        .bind(span.from)
        .bind(span.to)
        .bind(limit);
    if key.insight_type == InsightType::ApiErrorRate {
        query = query.bind(&key.error_code);
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            let json: String = row.try_get("cloud_trail_event")?;
            let record: serde_json::Value = serde_json::from_str(&json)
                .map_err(|e| AuditError::Internal(format!("a stored record: {e}")))?;
            Ok(Sample::of_record(&record))
        })
        .collect()
}
