//! The 64-bit lookup keys: audit-svc and Postgres compute the same ones, and events
//! stored before the keys existed (migration 0001 only) are found after the upgrade.

use crate::common;

use audit_svc::{
    lookup_key::lookup_key,
    record::{AuditEvent, Category},
    store::MIGRATOR,
};
use chrono::{Days, TimeDelta};
use common::{
    AuditHarness, Record, User, Who, attribute, base_time, expected, key_arn, lookup, walk,
};
use keyhold_tests::TestDatabase;
use sqlx::{AssertSqlSafe, PgPool};

#[tokio::test]
async fn audit_svc_and_postgres_compute_the_same_lookup_keys() {
    let database = TestDatabase::create().await;
    let pool = PgPool::connect(&database.url).await.expect("test database");
    MIGRATOR.run(&pool).await.expect("migrations");
    let cases = [
        (Category::Management, "EventName", "GenerateDataKey"),
        (
            Category::Data,
            "ResourceName",
            "arn:aws:s3:::lab-bucket/photos/été 漢字.jpg",
        ),
        (Category::Insight, "ReadOnly", "true"),
        (Category::Management, "Username", "a|b"),
        (Category::Management, "AccessKeyId", ""),
    ];
    for (category, attribute, value) in cases {
        let in_postgres: i64 = sqlx::query_scalar("SELECT lookup_key($1, $2, $3)")
            .bind(category.as_str())
            .bind(attribute)
            .bind(value)
            .fetch_one(&pool)
            .await
            .expect("lookup_key in SQL");
        assert_eq!(
            in_postgres,
            lookup_key(category, attribute, value),
            "{category:?} {attribute} {value}"
        );
    }
    // The same value under another attribute or category is another key.
    let key = lookup_key(Category::Management, "Username", "AWSLabsUser-0001");
    assert_ne!(
        key,
        lookup_key(Category::Management, "AccessKeyId", "AWSLabsUser-0001")
    );
    assert_ne!(
        key,
        lookup_key(Category::Data, "Username", "AWSLabsUser-0001")
    );
    pool.close().await;
}

#[tokio::test]
async fn events_stored_before_the_lookup_keys_are_found_after_the_upgrade() {
    let database = TestDatabase::create().await;
    let pool = PgPool::connect(&database.url).await.expect("test database");
    MIGRATOR
        .run_to(1, &pool)
        .await
        .expect("the first migration only");
    let key_a = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let key_b = "0987dcba-09fe-87dc-65ba-ab0987654321";
    let start = base_time();
    let mut records = vec![
        Record::kms("Decrypt", User::User1, start, key_a),
        Record::kms(
            "DescribeKey",
            User::Root,
            start + TimeDelta::seconds(1),
            key_b,
        ),
        Record::kms(
            "GenerateDataKey",
            User::User2,
            start + TimeDelta::seconds(2),
            key_a,
        ),
    ];
    records[2].source = "s3.amazonaws.com".into();
    insert_as_the_first_schema_did(&pool, &records).await;
    pool.close().await;

    // Starting audit-svc applies migration 0002 to the stored rows.
    let audit = AuditHarness::start_on(database, &[]).await;
    let mut client = audit.client(Who::Root);
    let by = |key: &str, value: &str| lookup(Some(attribute(key, value)));
    let cases = [
        (
            by("EventName", "Decrypt"),
            expected(&records, |r| r.name == "Decrypt"),
        ),
        (
            by("Username", "AWSLabsUser-0002"),
            expected(&records, |r| r.user == User::User2),
        ),
        (
            by("AccessKeyId", "AKIAKEYHOLDDEVROOT00"),
            expected(&records, |r| r.user == User::Root),
        ),
        (by("ReadOnly", "true"), expected(&records, |r| r.read_only)),
        (
            by("ReadOnly", "false"),
            expected(&records, |r| !r.read_only),
        ),
        (
            by("EventSource", "s3.amazonaws.com"),
            expected(&records, |r| r.source.starts_with("s3")),
        ),
        (
            by("ResourceType", "AWS::KMS::Key"),
            expected(&records, |_| true),
        ),
        (
            by("ResourceName", key_a),
            expected(&records, |r| r.resources[0].1 == key_arn(key_a)),
        ),
        (
            by("ResourceName", &key_arn(key_b)),
            expected(&records, |r| r.resources[0].1 == key_arn(key_b)),
        ),
    ];
    for (request, want) in cases {
        let attribute = request.lookup_attributes[0].clone();
        assert!(!want.is_empty());
        assert_eq!(walk(&mut client, request, 2).await, want, "{attribute:?}");
    }
    // And events ingested after the upgrade sit beside them in the same lookups.
    let later = Record::kms("Decrypt", User::User1, start + TimeDelta::seconds(3), key_b);
    audit.ingest_all(std::slice::from_ref(&later)).await;
    records.push(later);
    assert_eq!(
        walk(&mut client, by("EventName", "Decrypt"), 1).await,
        expected(&records, |r| r.name == "Decrypt")
    );
    audit.stop().await;
}

#[tokio::test]
async fn audit_svc_connections_keep_one_plan_per_statement() {
    let database = TestDatabase::create().await;
    let pool = keyhold_platform::db::connect(&database.url, 2, audit_svc::store::SESSION_SETTINGS)
        .await
        .expect("test database");
    // Every connection of the pool, not only the first, starts with the setting.
    let (first, second) = tokio::join!(pool.acquire(), pool.acquire());
    for mut connection in [first.expect("a connection"), second.expect("a connection")] {
        let mode: String = sqlx::query_scalar("SHOW plan_cache_mode")
            .fetch_one(&mut *connection)
            .await
            .expect("SHOW");
        assert_eq!(mode, "force_generic_plan");
    }
    pool.close().await;
}

/// The rows migration 0001's store wrote: text attributes, resource rows keyed by kind.
async fn insert_as_the_first_schema_did(pool: &PgPool, records: &[Record]) {
    let day = base_time().date_naive();
    let next = day.checked_add_days(Days::new(1)).expect("a next day");
    let suffix = day.format("%Y%m%d");
    for parent in ["events", "event_resources"] {
        let ddl = format!(
            "CREATE TABLE {parent}_{suffix} PARTITION OF {parent} \
             FOR VALUES FROM ('{day} 00:00:00+00') TO ('{next} 00:00:00+00')"
        );
        sqlx::raw_sql(AssertSqlSafe(ddl))
            .execute(pool)
            .await
            .expect("a day partition");
    }
    for record in records {
        let event = AuditEvent::parse(&record.id.to_string(), record.json()).expect("a record");
        sqlx::query(
            "INSERT INTO events (event_id, event_time, event_name, event_source, \
             event_category, read_only, username, access_key_id, cloud_trail_event) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(event.event_id)
        .bind(event.event_time)
        .bind(&event.event_name)
        .bind(&event.event_source)
        .bind(event.category.as_str())
        .bind(event.read_only)
        .bind(&event.username)
        .bind(&event.access_key_id)
        .bind(&event.cloud_trail_event)
        .execute(pool)
        .await
        .expect("an event row");
        for (kind, value) in event.resource_keys() {
            sqlx::query(
                "INSERT INTO event_resources (event_category, kind, value, event_time, event_id) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(event.category.as_str())
            .bind(kind)
            .bind(value)
            .bind(event.event_time)
            .bind(event.event_id)
            .execute(pool)
            .await
            .expect("a resource row");
        }
    }
}
