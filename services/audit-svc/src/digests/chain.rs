//! The digest writer step: for one trail, every window that has closed gets its
//! digest (also when no log file was delivered in it), linked to the one before, and
//! the chain's position is kept in Postgres so that a restart continues it exactly.
//!
//! Writing is idempotent: the same window yields the same bytes (deterministic JSON
//! and gzip, PKCS#1 v1.5 signatures, the key chosen by the window's end), so a crash
//! between the put and the state update only rewrites the same object. The state
//! moves by compare-and-set, so two writers never fork a chain.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgPool, Row as _};

use super::{
    DeliveredLogFile, DigestError, DigestTrail, ObjectStore,
    digest::{self, BuiltDigest, DigestInput, PreviousDigest},
    keys::SigningKeys,
};

/// When digests are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestSchedule {
    /// Length of each digest's window (CloudTrail: an hour).
    pub interval: TimeDelta,
    /// How long after a window closes its digest is written, so that log files whose
    /// delivery row commits just after the window's end are still counted in it.
    pub settle: TimeDelta,
}

impl DigestSchedule {
    pub const HOURLY: DigestSchedule = DigestSchedule {
        interval: TimeDelta::hours(1),
        settle: TimeDelta::seconds(30),
    };

    /// Windows of `interval`, written a tenth of it (at most 30 s) after they close.
    pub fn every(interval: TimeDelta) -> DigestSchedule {
        DigestSchedule {
            interval,
            settle: (interval / 10).min(TimeDelta::seconds(30)),
        }
    }
}

/// The log files of the account's trail `trail_name` delivered in [start, end), in
/// delivery order.
///
/// Reads the trails part's `trail_log_files` (one row per delivered log file):
/// `account_id`, `trail_name`, `s3_bucket`, `s3_object`, `sha256_hex` (of the uncompressed file),
/// `oldest_event_time`, `newest_event_time`, `delivered_at`.
pub async fn delivered_log_files(
    pool: &PgPool,
    account_id: &str,
    trail_name: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<DeliveredLogFile>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT s3_bucket, s3_object, sha256_hex, oldest_event_time, newest_event_time, \
         delivered_at FROM trail_log_files \
         WHERE account_id = $1 AND trail_name = $2 AND delivered_at >= $3 AND delivered_at < $4 \
         ORDER BY delivered_at, s3_object",
    )
    .bind(account_id)
    .bind(trail_name)
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|row| DeliveredLogFile {
            bucket: row.get("s3_bucket"),
            key: row.get("s3_object"),
            sha256_hex: row.get("sha256_hex"),
            oldest_event_time: row.get("oldest_event_time"),
            newest_event_time: row.get("newest_event_time"),
            delivered_at: row.get("delivered_at"),
        })
        .collect())
}

/// Where a trail's chain stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    pub chain_started_at: DateTime<Utc>,
    pub next_start: DateTime<Utc>,
    pub last: Option<PreviousDigest>,
}

pub async fn load_chain(pool: &PgPool, trail_arn: &str) -> Result<Option<ChainState>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT chain_started_at, next_start, last_bucket, last_key, last_hash, last_signature \
         FROM digest_chains WHERE trail_arn = $1",
    )
    .bind(trail_arn)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| {
        let key: Option<String> = row.get("last_key");
        ChainState {
            chain_started_at: row.get("chain_started_at"),
            next_start: row.get("next_start"),
            last: key.map(|key| PreviousDigest {
                bucket: row.get("last_bucket"),
                key,
                sha256_hex: row.get("last_hash"),
                signature: row.get("last_signature"),
            }),
        }
    }))
}

/// Starts a new chain at `since` (replacing an older one of the trail).
async fn start_chain(
    pool: &PgPool,
    trail_arn: &str,
    since: DateTime<Utc>,
) -> Result<ChainState, sqlx::Error> {
    sqlx::query(
        "INSERT INTO digest_chains (trail_arn, chain_started_at, next_start) VALUES ($1, $2, $2) \
         ON CONFLICT (trail_arn) DO UPDATE SET chain_started_at = $2, next_start = $2, \
         last_bucket = NULL, last_key = NULL, last_hash = NULL, last_signature = NULL \
         WHERE digest_chains.chain_started_at <> $2",
    )
    .bind(trail_arn)
    .bind(since)
    .execute(pool)
    .await?;
    Ok(load_chain(pool, trail_arn)
        .await?
        .expect("the chain row was just written"))
}

/// Moves the chain past `written` if it still stands where `from` says; false when
/// another writer moved it first.
async fn advance_chain(
    pool: &PgPool,
    trail_arn: &str,
    from: &ChainState,
    written: &BuiltDigest,
    end: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE digest_chains SET next_start = $4, last_bucket = $5, last_key = $6, \
         last_hash = $7, last_signature = $8 \
         WHERE trail_arn = $1 AND chain_started_at = $2 AND next_start = $3",
    )
    .bind(trail_arn)
    .bind(from.chain_started_at)
    .bind(from.next_start)
    .bind(end)
    .bind(&written.bucket)
    .bind(&written.key)
    .bind(&written.sha256_hex)
    .bind(&written.signature)
    .execute(pool)
    .await?;
    Ok(moved.rows_affected() == 1)
}

/// CloudTrail's times have whole seconds; so do the windows.
fn whole_second(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(time.timestamp(), 0).expect("a representable time")
}

/// Writes every digest of `trail` whose window closed (and settled) by `now`, each
/// chained to the one before, and returns them in order. A trail whose
/// `validation_since` differs from its chain's start begins a new chain; a trail with
/// `until` gets no digest for a window that starts at or after it.
pub async fn write_due_digests(
    store: &impl ObjectStore,
    pool: &PgPool,
    keys: &SigningKeys,
    trail: &DigestTrail,
    schedule: DigestSchedule,
    now: DateTime<Utc>,
) -> Result<Vec<BuiltDigest>, DigestError> {
    let arn = trail.arn();
    let since = whole_second(trail.validation_since);
    let mut state = match load_chain(pool, &arn).await? {
        Some(state) if state.chain_started_at == since => state,
        _ => start_chain(pool, &arn, since).await?,
    };
    let interval = schedule.interval.max(TimeDelta::seconds(1));
    let mut written = Vec::new();
    loop {
        let start = state.next_start;
        let end = start + interval;
        let chain_ended = trail.until.is_some_and(|until| start >= until);
        if chain_ended || end + schedule.settle > now {
            return Ok(written);
        }
        let log_files =
            delivered_log_files(pool, &trail.account_id, &trail.name, start, end).await?;
        let key = keys.key_for(end).await?;
        let built = digest::build(
            &DigestInput {
                trail,
                start,
                end,
                log_files: &log_files,
                previous: state.last.as_ref(),
                fingerprint: &key.public.fingerprint,
            },
            |message| key.sign(message),
        );
        store
            .put(
                &built.bucket,
                &built.key,
                built.gzip.clone(),
                built.metadata.clone(),
            )
            .await
            .map_err(|error| DigestError::Store {
                bucket: built.bucket.clone(),
                key: built.key.clone(),
                error,
            })?;
        if !advance_chain(pool, &arn, &state, &built, end).await? {
            return Ok(written);
        }
        state = ChainState {
            chain_started_at: state.chain_started_at,
            next_start: end,
            last: Some(built.as_previous()),
        };
        written.push(built);
    }
}
