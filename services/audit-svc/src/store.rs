//! audit-svc's tables (sqlx on Postgres): day partitions, the batched idempotent
//! insert, the keyset-paginated lookups and retention by partition.

use std::{collections::HashSet, sync::Mutex};

use chrono::{DateTime, Days, NaiveDate, Utc};
use sqlx::{AssertSqlSafe, PgPool, Row};
use uuid::Uuid;

use crate::{
    error::{AuditError, AuditResult},
    lookup_key::{self, EventKeys},
    record::{Attribute, AuditEvent, Category},
};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

const PARENTS: [&str; 2] = ["events", "event_resources"];

/// Every connection plans a statement once and keeps that plan. Each lookup walks the
/// one index its key (or the time) names, whatever the value, so a value-specific plan
/// gains nothing, while Postgres kept re-planning the lookups of very common values
/// (EventSource=kms.amazonaws.com) on every call: 2-10 ms across 30 day partitions,
/// against 0.1 ms to run the query.
pub const SESSION_SETTINGS: &[(&str, &str)] = &[("plan_cache_mode", "force_generic_plan")];

pub struct AuditStore {
    pool: PgPool,
    /// Whether each batch also appends its call counts for Insights.
    count_rates: bool,
    /// Days whose partitions are known to exist.
    partitions: Mutex<HashSet<NaiveDate>>,
}

/// One page of a lookup: newest first, strictly before `before`, at most `limit` rows.
#[derive(Debug, Clone)]
pub struct PageQuery {
    pub attribute: Option<Attribute>,
    pub category: Category,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub before: (DateTime<Utc>, Uuid),
    pub limit: i64,
}

// One statement, so a batch is durable all at once: the events, then the resource
// rows of only the events that were new. ON CONFLICT makes replays harmless; the
// statement returns the ids it inserted. Resource rows need no conflict check: only
// new events get them, and `resource_keys` lists each once. With Insights on, the
// statement also appends the batch's per-minute call counts of its new management
// events (a few rows per batch; see 0005_insights.sql), in the same transaction, so
// no event is counted twice or missed.
macro_rules! insert_batch {
    ($($rates:literal)?) => {
        concat!(
            "WITH inserted AS (
    INSERT INTO events (event_id, event_time, event_name, event_source, event_category,
                        read_only, username, access_key_id, cloud_trail_event,
                        name_key, source_key, read_only_key, username_key, access_key_id_key,
                        error_code)
    SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
                         $6::bool[], $7::text[], $8::text[], $9::text[],
                         $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::int8[],
                         $20::text[])
    ON CONFLICT (event_id, event_time) DO NOTHING
    RETURNING event_id, event_time, event_category, event_source, event_name, read_only,
              error_code
), resources AS (
    INSERT INTO event_resources (event_category, kind, value, event_time, event_id, key)
    SELECT i.event_category, r.kind, r.value, i.event_time, i.event_id, r.key
    FROM inserted i
    JOIN UNNEST($15::uuid[], $16::timestamptz[], $17::text[], $18::text[], $19::int8[])
        AS r (event_id, event_time, kind, value, key)
      ON r.event_id = i.event_id AND r.event_time = i.event_time
)",
            $($rates,)?
            "
SELECT event_id FROM inserted"
        )
    };
}

const INSERT_BATCH: &str = insert_batch!();
// date_bin, unlike date_trunc, does not depend on the session's time zone.
const INSERT_BATCH_COUNTING_RATES: &str = insert_batch!(
    ", rates AS (
    INSERT INTO insight_counts (minute, event_source, event_name, read_only, error_code, calls)
    SELECT date_bin('1 minute', event_time, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
           event_source, event_name, read_only, error_code, count(*)
    FROM inserted WHERE event_category = 'Management'
    GROUP BY 1, 2, 3, 4, 5
)"
);

// Lookups: $1 category, $2 start, $3 end, $4/$5 the keyset position, $6 limit, $7 the
// attribute value, $8 its lookup key (lookup_key.rs). Macros keep every query a
// `&'static str`.
macro_rules! events_page {
    ($($filter:literal),+) => {
        concat!(
            "SELECT e.cloud_trail_event FROM events e WHERE ",
            $($filter,)+
            " AND e.event_time >= $2 AND e.event_time <= $3 \
             AND (e.event_time, e.event_id) < ($4, $5) \
             ORDER BY e.event_time DESC, e.event_id DESC LIMIT $6"
        )
    };
}

// A lookup by key: the key already stands for the category, attribute and value; the
// text comparisons only rule out another value sharing its key. The category test is
// wrapped in IS TRUE so that the planner cannot walk `events_by_time` with it instead:
// it did for EventSource=kms (96% of events), then read every newer event of another
// source first.
macro_rules! keyed_page {
    ($key:literal, $column:literal) => {
        events_page!(
            "e.",
            $key,
            " = $8 AND e.",
            $column,
            " = $7 AND (e.event_category = $1) IS TRUE"
        )
    };
}

// The page is cut from `event_resources` alone (one index range scan per partition,
// merged newest first), then joined to its at most 51 events. Joining first lets the
// planner hash-join every event of the range (about a second over 1,000,000 events);
// this way it stays a few milliseconds.
macro_rules! resources_page {
    ($kind:literal) => {
        concat!(
            "SELECT e.cloud_trail_event FROM (SELECT r.event_time, r.event_id \
             FROM event_resources r WHERE r.key = $8 AND r.kind = '",
            $kind,
            "' AND r.value = $7 AND r.event_category = $1 AND r.event_time >= $2 \
             AND r.event_time <= $3 AND (r.event_time, r.event_id) < ($4, $5) \
             ORDER BY r.event_time DESC, r.event_id DESC LIMIT $6) page \
             JOIN events e ON e.event_id = page.event_id AND e.event_time = page.event_time \
             ORDER BY page.event_time DESC, page.event_id DESC"
        )
    };
}

const PARTITIONS: &str = "\
SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
WHERE i.inhparent IN ('events'::regclass, 'event_resources'::regclass)";

/// Postgres' "no partition of relation ... found for row".
const NO_PARTITION: &str = "23514";

impl AuditStore {
    pub fn new(pool: PgPool) -> Self {
        AuditStore {
            pool,
            count_rates: true,
            partitions: Mutex::new(HashSet::new()),
        }
    }

    /// Without the per-minute call counts Insights are computed from (for measuring
    /// their cost; no Insights are found while they are off).
    pub fn without_rate_counts(mut self) -> Self {
        self.count_rates = false;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Inserts the events not stored yet; returns the ids of those it inserted.
    pub async fn insert(&self, events: &[AuditEvent]) -> AuditResult<Vec<Uuid>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let days: HashSet<NaiveDate> = events.iter().map(AuditEvent::day).collect();
        for day in &days {
            self.ensure_partition(*day).await?;
        }
        match self.insert_batch(events).await {
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(NO_PARTITION) => {
                // Another replica's retention dropped a partition this one had cached.
                self.forget_partitions();
                for day in &days {
                    self.ensure_partition(*day).await?;
                }
                Ok(self.insert_batch(events).await?)
            }
            other => Ok(other?),
        }
    }

    async fn insert_batch(&self, events: &[AuditEvent]) -> Result<Vec<Uuid>, sqlx::Error> {
        let mut ids = Vec::with_capacity(events.len());
        let mut times = Vec::with_capacity(events.len());
        let mut names = Vec::with_capacity(events.len());
        let mut sources = Vec::with_capacity(events.len());
        let mut categories = Vec::with_capacity(events.len());
        let mut read_only = Vec::with_capacity(events.len());
        let mut usernames = Vec::with_capacity(events.len());
        let mut access_keys = Vec::with_capacity(events.len());
        let mut json = Vec::with_capacity(events.len());
        let mut name_keys = Vec::with_capacity(events.len());
        let mut source_keys = Vec::with_capacity(events.len());
        let mut read_only_keys = Vec::with_capacity(events.len());
        let mut username_keys = Vec::with_capacity(events.len());
        let mut access_key_keys = Vec::with_capacity(events.len());
        let mut error_codes = Vec::with_capacity(events.len());
        let (mut r_ids, mut r_times, mut r_kinds, mut r_values, mut r_keys) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for event in events {
            ids.push(event.event_id);
            times.push(event.event_time);
            names.push(event.event_name.as_str());
            sources.push(event.event_source.as_str());
            categories.push(event.category.as_str());
            read_only.push(event.read_only);
            usernames.push(event.username.as_deref());
            access_keys.push(event.access_key_id.as_deref());
            json.push(event.cloud_trail_event.as_str());
            let keys = EventKeys::of(event);
            name_keys.push(keys.name);
            source_keys.push(keys.source);
            read_only_keys.push(keys.read_only);
            username_keys.push(keys.username);
            access_key_keys.push(keys.access_key_id);
            error_codes.push(event.error_code.as_deref());
            for (kind, value) in event.resource_keys() {
                r_ids.push(event.event_id);
                r_times.push(event.event_time);
                r_kinds.push(kind);
                r_values.push(value);
                let attribute = lookup_key::resource_attribute(kind);
                r_keys.push(lookup_key::lookup_key(event.category, attribute, value));
            }
        }
        let statement = if self.count_rates {
            INSERT_BATCH_COUNTING_RATES
        } else {
            INSERT_BATCH
        };
        let rows = sqlx::query(statement)
            .bind(ids)
            .bind(times)
            .bind(names)
            .bind(sources)
            .bind(categories)
            .bind(read_only)
            .bind(usernames)
            .bind(access_keys)
            .bind(json)
            .bind(name_keys)
            .bind(source_keys)
            .bind(read_only_keys)
            .bind(username_keys)
            .bind(access_key_keys)
            .bind(r_ids)
            .bind(r_times)
            .bind(r_kinds)
            .bind(r_values)
            .bind(r_keys)
            .bind(error_codes)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| row.try_get("event_id")).collect()
    }

    /// Creates the day's partitions of both tables unless known to exist.
    async fn ensure_partition(&self, day: NaiveDate) -> AuditResult<()> {
        if self
            .partitions
            .lock()
            .expect("partition cache")
            .contains(&day)
        {
            return Ok(());
        }
        let next = day
            .checked_add_days(Days::new(1))
            .ok_or_else(|| AuditError::Internal(format!("no day after {day}")))?;
        let suffix = day.format("%Y%m%d");
        for parent in PARENTS {
            // The names and bounds are built from a date only, never from input text.
            let ddl = format!(
                "CREATE TABLE IF NOT EXISTS {parent}_{suffix} PARTITION OF {parent} \
                 FOR VALUES FROM ('{day} 00:00:00+00') TO ('{next} 00:00:00+00')"
            );
            match sqlx::raw_sql(AssertSqlSafe(ddl)).execute(&self.pool).await {
                Ok(_) => {}
                // Two writers creating the same partition at once: the loser sees a
                // duplicate; the partition exists either way.
                Err(sqlx::Error::Database(db))
                    if matches!(db.code().as_deref(), Some("42P07" | "23505")) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.partitions.lock().expect("partition cache").insert(day);
        Ok(())
    }

    fn forget_partitions(&self) {
        self.partitions.lock().expect("partition cache").clear();
    }

    /// One page of stored records (their JSON), newest first.
    pub async fn page(&self, query: &PageQuery) -> AuditResult<Vec<String>> {
        let sql = match &query.attribute {
            None => events_page!("e.event_category = $1"),
            Some(Attribute::EventId(None)) => return Ok(Vec::new()),
            Some(Attribute::EventId(Some(_))) => {
                events_page!("e.event_id = $7 AND e.event_category = $1")
            }
            Some(Attribute::EventName(_)) => keyed_page!("name_key", "event_name"),
            Some(Attribute::ReadOnly(_)) => keyed_page!("read_only_key", "read_only"),
            Some(Attribute::Username(_)) => keyed_page!("username_key", "username"),
            Some(Attribute::EventSource(_)) => keyed_page!("source_key", "event_source"),
            Some(Attribute::AccessKeyId(_)) => keyed_page!("access_key_id_key", "access_key_id"),
            Some(Attribute::ResourceType(_)) => resources_page!("type"),
            Some(Attribute::ResourceName(_)) => resources_page!("name"),
        };
        let mut q = sqlx::query(sql)
            .bind(query.category.as_str())
            .bind(query.start)
            .bind(query.end)
            .bind(query.before.0)
            .bind(query.before.1)
            .bind(query.limit);
        q = match &query.attribute {
            None | Some(Attribute::EventId(None)) => q,
            Some(Attribute::EventId(Some(id))) => q.bind(*id),
            Some(Attribute::ReadOnly(v)) => q.bind(*v),
            Some(
                Attribute::EventName(v)
                | Attribute::Username(v)
                | Attribute::EventSource(v)
                | Attribute::AccessKeyId(v)
                | Attribute::ResourceType(v)
                | Attribute::ResourceName(v),
            ) => q.bind(v.as_str()),
        };
        if let Some(key) = query
            .attribute
            .as_ref()
            .and_then(|a| lookup_key::of_attribute(query.category, a))
        {
            q = q.bind(key);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok(row.try_get("cloud_trail_event")?))
            .collect()
    }

    /// Drops the day partitions that end at or before `cutoff`; returns their days.
    pub async fn drop_partitions_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> AuditResult<Vec<NaiveDate>> {
        let rows = sqlx::query(PARTITIONS).fetch_all(&self.pool).await?;
        let mut expired: Vec<NaiveDate> = rows
            .iter()
            .filter_map(|row| row.try_get::<String, _>("name").ok())
            .filter_map(|name| partition_day(&name))
            .filter(|day| {
                day.checked_add_days(Days::new(1))
                    .and_then(|next| next.and_hms_opt(0, 0, 0))
                    .is_some_and(|end| end.and_utc() <= cutoff)
            })
            .collect();
        expired.sort();
        expired.dedup();
        for day in &expired {
            let suffix = day.format("%Y%m%d");
            // Built from a date only.
            let ddl = format!("DROP TABLE IF EXISTS events_{suffix}, event_resources_{suffix}");
            sqlx::raw_sql(AssertSqlSafe(ddl))
                .execute(&self.pool)
                .await?;
            self.partitions.lock().expect("partition cache").remove(day);
        }
        Ok(expired)
    }

    /// The signing key of NextTokens: generated by the first replica that starts,
    /// then read by every start.
    pub async fn token_key(&self, fresh: &[u8]) -> AuditResult<Vec<u8>> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ('next_token_key', $1) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(fresh)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE name = 'next_token_key'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("value")?)
    }
}

/// The day of a partition named `events_YYYYMMDD` or `event_resources_YYYYMMDD`.
fn partition_day(name: &str) -> Option<NaiveDate> {
    let digits = PARENTS
        .iter()
        .find_map(|parent| name.strip_prefix(parent)?.strip_prefix('_'))?;
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_give_their_day() {
        let day = NaiveDate::from_ymd_opt(2025, 1, 31).unwrap();
        assert_eq!(partition_day("events_20250131"), Some(day));
        assert_eq!(partition_day("event_resources_20250131"), Some(day));
        assert_eq!(partition_day("events_by_time"), None);
    }
}
