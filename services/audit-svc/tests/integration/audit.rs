//! audit-svc over real TCP against a real Postgres: ingest, LookupEvents, TailEvents,
//! retention, and the recording of its own calls.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, Days, TimeDelta, Utc};
use common::{AuditHarness, Record, User, Who, attribute, base_time, expected, lookup, walk};
use keyhold_proto::audit::v1 as pb;
use keyhold_tests::assert_error;
use tonic::Code;

/// A varied set of realistic events: `n` of them, a second apart (some sharing a
/// second), by different users, on different keys and sources.
fn generated(n: usize, start: DateTime<Utc>) -> Vec<Record> {
    const NAMES: [&str; 6] = [
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "DescribeKey",
        "CreateKey",
        "ListKeys",
    ];
    const USERS: [User; 4] = [User::Root, User::User1, User::User2, User::Anonymous];
    const KEYS: [&str; 3] = [
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "0987dcba-09fe-87dc-65ba-ab0987654321",
        "11111111-2222-3333-4444-555555555555",
    ];
    (0..n)
        .map(|i| {
            let time = start + TimeDelta::seconds((i / 3) as i64);
            let mut record = Record::kms(NAMES[i % 6], USERS[i % 4], time, KEYS[i % 3]);
            if i % 7 == 0 {
                record.source = "s3.amazonaws.com".into();
                record.name = "PutBucketEncryption".into();
                record.read_only = false;
                record.resources = vec![(
                    "AWS::S3::Bucket".into(),
                    format!("arn:aws:s3:::lab-bucket-{}", i % 2),
                )];
            }
            if i % 11 == 0 {
                record.resources.clear();
            }
            record
        })
        .collect()
}

#[tokio::test]
async fn a_replayed_batch_is_stored_once() {
    let audit = AuditHarness::start().await;
    let records = generated(5, base_time());
    let batch: Vec<pb::AuditRecord> = records.iter().map(Record::to_proto).collect();
    let acks = audit
        .ingest(vec![batch.clone(), batch.clone()])
        .await
        .expect("ingest");
    let acks: Vec<(u64, u32)> = acks
        .iter()
        .map(|a| (a.acknowledged_sequence, a.stored))
        .collect();
    assert_eq!(acks, vec![(1, 5), (2, 0)]);
    // Again on a new stream, as an emitter does after a lost acknowledgement.
    let again = audit.ingest(vec![batch]).await.expect("ingest again");
    assert_eq!(again[0].stored, 0);
    assert_eq!(audit.count("SELECT count(*) FROM events").await, 5);
    let resource_rows = audit.count("SELECT count(*) FROM event_resources").await;
    let expected_rows: usize = records
        .iter()
        .map(|r| {
            if r.resources.is_empty() {
                0
            } else if r.source == "s3.amazonaws.com" {
                2
            } else {
                3
            }
        })
        .sum();
    assert_eq!(resource_rows as usize, expected_rows);
    // A batch repeating a record inside itself stores it once too.
    let one = generated(1, base_time())[0].to_proto();
    let acks = audit
        .ingest(vec![vec![one.clone(), one]])
        .await
        .expect("ingest");
    assert_eq!(acks[0].stored, 1);
    audit.stop().await;
}

#[tokio::test]
async fn only_services_may_ingest() {
    let audit = AuditHarness::start().await;
    let batch = vec![generated(1, base_time())[0].to_proto()];
    for who in [Who::User1, Who::Root] {
        let result = common::ingest_as(&mut audit.client(who), vec![batch.clone()]).await;
        let status = result.expect_err("a user may not ingest");
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        assert_eq!(keyhold_tests::exception(&status), "AccessDeniedException");
    }
    assert_eq!(audit.count("SELECT count(*) FROM events").await, 0);
    audit.stop().await;
}

#[tokio::test]
async fn a_bad_record_is_named_and_the_rest_of_its_batch_is_stored() {
    let audit = AuditHarness::start().await;
    let good = generated(7, base_time());
    let id = uuid::Uuid::new_v4().to_string();
    let cases = [
        (
            pb::AuditRecord {
                event_id: id.clone(),
                cloud_trail_event: "{\"eventID\": ".into(),
                traceparent: String::new(),
            },
            format!(
                "record {id}: cloudTrailEvent is not valid JSON: EOF while parsing a value at line 1 column 12"
            ),
        ),
        (
            pb::AuditRecord {
                event_id: id.clone(),
                cloud_trail_event: serde_json::json!({"eventID": id, "eventName": "Decrypt"})
                    .to_string(),
                traceparent: String::new(),
            },
            format!("record {id}: cloudTrailEvent has no eventTime"),
        ),
        (
            pb::AuditRecord {
                event_id: id.clone(),
                cloud_trail_event:
                    serde_json::json!({"eventID": id, "eventTime": "2025-01-01T00:00:00Z"})
                        .to_string(),
                traceparent: String::new(),
            },
            format!("record {id}: cloudTrailEvent has no eventName"),
        ),
        (
            pb::AuditRecord {
                event_id: id.clone(),
                cloud_trail_event:
                    serde_json::json!({"eventName": "Decrypt", "eventTime": "2025-01-01T00:00:00Z"})
                        .to_string(),
                traceparent: String::new(),
            },
            format!("record {id}: cloudTrailEvent has no eventID"),
        ),
        (
            pb::AuditRecord {
                event_id: id.clone(),
                cloud_trail_event: good[1].json(),
                traceparent: String::new(),
            },
            format!(
                "record {id}: eventId {id} of the record differs from its eventID {}",
                good[1].id
            ),
        ),
    ];
    let oversized = pb::AuditRecord {
        event_id: id.clone(),
        cloud_trail_event: format!("{{\"pad\": \"{}\"}}", "x".repeat(256 * 1024)),
        traceparent: String::new(),
    };
    let cases = cases.into_iter().chain([(
        oversized,
        format!(
            "the record is {} bytes, over the limit of 262144 bytes",
            256 * 1024 + 11
        ),
    )]);
    for (n, (bad, message)) in cases.enumerate() {
        // The bad record between two good ones: both good ones are stored.
        let batch = vec![good[n].to_proto(), bad, good[n + 1].to_proto()];
        let acks = audit.ingest(vec![batch]).await.expect("ingest");
        let rejected: Vec<(String, String)> = acks[0]
            .rejected
            .iter()
            .map(|r| (r.event_id.clone(), r.reason.clone()))
            .collect();
        assert_eq!(rejected, vec![(id.clone(), message)]);
        assert_eq!(acks[0].stored, if n == 0 { 2 } else { 1 });
    }
    assert_eq!(audit.count("SELECT count(*) FROM events").await, 7);
    audit.stop().await;
}

#[tokio::test]
async fn lookup_by_each_attribute_newest_first() {
    let audit = AuditHarness::start().await;
    let records = generated(300, base_time());
    audit.ingest_all(&records).await;
    let mut client = audit.client(Who::User1);
    let key = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let key_arn = common::key_arn(key);
    let picked = &records[42];
    let picked_id = picked.id;
    type Keep = Box<dyn Fn(&Record) -> bool>;
    let cases: Vec<(&str, String, Keep)> = vec![
        (
            "EventId",
            picked.id.to_string(),
            Box::new(move |r: &Record| r.id == picked_id),
        ),
        (
            "EventName",
            "Decrypt".into(),
            Box::new(|r: &Record| r.name == "Decrypt"),
        ),
        (
            "ReadOnly",
            "true".into(),
            Box::new(|r: &Record| r.read_only),
        ),
        (
            "ReadOnly",
            "false".into(),
            Box::new(|r: &Record| !r.read_only),
        ),
        (
            "Username",
            "AWSLabsUser-0001".into(),
            Box::new(|r: &Record| r.user == User::User1),
        ),
        (
            "Username",
            "root".into(),
            Box::new(|r: &Record| r.user == User::Root),
        ),
        (
            "ResourceType",
            "AWS::S3::Bucket".into(),
            Box::new(|r: &Record| r.resources.iter().any(|x| x.0 == "AWS::S3::Bucket")),
        ),
        (
            "ResourceName",
            key.into(),
            Box::new(move |r: &Record| r.resources.iter().any(|x| x.1.ends_with(key))),
        ),
        (
            "ResourceName",
            key_arn.clone(),
            Box::new(move |r: &Record| r.resources.iter().any(|x| x.1 == common::key_arn(key))),
        ),
        (
            "EventSource",
            "s3.amazonaws.com".into(),
            Box::new(|r: &Record| r.source == "s3.amazonaws.com"),
        ),
        (
            "AccessKeyId",
            "AKIAKEYHOLDDEVUSER02".into(),
            Box::new(|r: &Record| r.user == User::User2),
        ),
    ];
    for (key, value, keep) in cases {
        let want = expected(&records, keep);
        assert!(!want.is_empty(), "{key}={value} matches something");
        let got = walk(&mut client, lookup(Some(attribute(key, &value))), 50).await;
        assert_eq!(got, want, "lookup by {key}={value}");
    }
    // No attribute: every management event.
    let all = walk(&mut client, lookup(None), 50).await;
    assert_eq!(all, expected(&records, |_| true));

    // The fields of a result.
    let page = client
        .lookup_events(lookup(Some(attribute("EventId", &picked.id.to_string()))))
        .await
        .expect("lookup")
        .into_inner();
    let event = &page.events[0];
    assert_eq!(event.event_name, picked.name);
    assert_eq!(event.read_only, picked.read_only.to_string());
    assert_eq!(
        event.access_key_id,
        picked.user.access_key().unwrap_or_default()
    );
    assert_eq!(event.username, picked.user.username().unwrap_or_default());
    assert_eq!(event.event_source, picked.source);
    assert_eq!(
        event.event_time,
        picked.time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    assert_eq!(event.cloud_trail_event, picked.json_stored(&audit).await);
    let resources: Vec<(String, String)> = event
        .resources
        .iter()
        .map(|r| (r.resource_type.clone(), r.resource_name.clone()))
        .collect();
    assert_eq!(resources, picked.resources);
    audit.stop().await;
}

trait StoredJson {
    async fn json_stored(&self, audit: &AuditHarness) -> String;
}

impl StoredJson for Record {
    async fn json_stored(&self, audit: &AuditHarness) -> String {
        sqlx::query_scalar("SELECT cloud_trail_event FROM events WHERE event_id = $1")
            .bind(self.id)
            .fetch_one(&audit.pool)
            .await
            .expect("the stored record")
    }
}

#[tokio::test]
async fn time_range_is_inclusive_at_both_ends() {
    let audit = AuditHarness::start().await;
    let start = base_time();
    let records: Vec<Record> = (0..10)
        .map(|i| Record::kms("Encrypt", User::User1, start + TimeDelta::seconds(i), "k"))
        .collect();
    audit.ingest_all(&records).await;
    let mut client = audit.client(Who::Root);
    let at = |i: i64| (start + TimeDelta::seconds(i)).to_rfc3339();
    let mut request = lookup(Some(attribute("EventName", "Encrypt")));
    request.start_time = at(2);
    request.end_time = at(5);
    let got = walk(&mut client, request.clone(), 2).await;
    let want: Vec<String> = [5, 4, 3, 2]
        .iter()
        .map(|&i| records[i].id.to_string())
        .collect();
    assert_eq!(got, want);
    // Only a start; only an end; the same instant at both ends.
    request.end_time.clear();
    assert_eq!(walk(&mut client, request.clone(), 50).await.len(), 8);
    request.start_time.clear();
    request.end_time = at(0);
    assert_eq!(
        walk(&mut client, request.clone(), 50).await,
        vec![records[0].id.to_string()]
    );
    request.start_time = at(0);
    assert_eq!(
        walk(&mut client, request, 50).await,
        vec![records[0].id.to_string()]
    );
    audit.stop().await;
}

#[tokio::test]
async fn pages_stay_correct_while_events_arrive() {
    let audit = AuditHarness::start().await;
    let mut records = generated(3000, base_time());
    audit.ingest_all(&records).await;
    let mut client = audit.client(Who::User1);
    let key = "0987dcba-09fe-87dc-65ba-ab0987654321";
    type Keep = fn(&Record) -> bool;
    let queries: [(pb::LookupEventsRequest, Keep); 3] = [
        (lookup(None), |_| true),
        (lookup(Some(attribute("ResourceName", key))), |r| {
            r.resources
                .iter()
                .any(|x| x.1.ends_with("0987dcba-09fe-87dc-65ba-ab0987654321"))
        }),
        (
            lookup(Some(attribute("Username", "AWSLabsUser-0002"))),
            |r| r.user == User::User2,
        ),
    ];
    let mut later = base_time() + TimeDelta::minutes(40);
    for (request, keep) in queries {
        // What the walk must return: the events stored when it starts.
        let want = expected(&records, keep);
        let mut request = request;
        request.max_results = 50;
        let mut got = Vec::new();
        let mut page_number = 0;
        loop {
            let page = client
                .lookup_events(request.clone())
                .await
                .expect("lookup")
                .into_inner();
            got.extend(page.events.iter().map(|e| e.event_id.clone()));
            // New events (newer than anything walked) arrive between pages, also
            // matching the query: the pages still to come must not shift.
            if page_number % 5 == 0 {
                let mut newer = generated(12, later);
                later += TimeDelta::seconds(10);
                for r in &mut newer {
                    r.user = User::User2;
                    r.resources = vec![("AWS::KMS::Key".into(), common::key_arn(key))];
                }
                audit.ingest_all(&newer).await;
                records.extend(newer);
            }
            page_number += 1;
            if page.next_token.is_empty() {
                break;
            }
            request.next_token = page.next_token;
        }
        assert_eq!(got.len(), want.len());
        assert_eq!(got, want);
    }
    audit.stop().await;
}

#[tokio::test]
async fn management_by_default_insight_on_request() {
    let audit = AuditHarness::start().await;
    let start = base_time();
    let mut records = generated(30, start);
    for (i, r) in records.iter_mut().enumerate() {
        r.category = ["Management", "Data", "Insight"][i % 3];
        if r.category == "Data" {
            r.source = "s3.amazonaws.com".into();
            r.name = "GetObject".into();
        }
    }
    audit.ingest_all(&records).await;
    let mut client = audit.client(Who::User1);
    let management = walk(&mut client, lookup(None), 50).await;
    assert_eq!(
        management,
        expected(&records, |r| r.category == "Management")
    );
    let mut request = lookup(None);
    request.event_category = "insight".into();
    assert_eq!(
        walk(&mut client, request.clone(), 50).await,
        expected(&records, |r| r.category == "Insight")
    );
    request.lookup_attributes = vec![attribute("EventSource", "kms.amazonaws.com")];
    assert_eq!(
        walk(&mut client, request, 50).await,
        expected(&records, |r| r.category == "Insight"
            && r.source == "kms.amazonaws.com")
    );
    let data = walk(
        &mut client,
        lookup(Some(attribute("EventName", "GetObject"))),
        50,
    )
    .await;
    assert!(data.is_empty(), "data events are not looked up");
    audit.stop().await;
}

#[tokio::test]
async fn invalid_lookups_name_their_exception() {
    let audit = AuditHarness::start().await;
    audit.ingest_all(&generated(30, base_time())).await;
    let mut client = audit.client(Who::User1);
    let shared = client.clone();
    let invalid = |request: pb::LookupEventsRequest| {
        let mut client = shared.clone();
        async move { client.lookup_events(request).await }
    };
    let mut two = lookup(Some(attribute("EventName", "Decrypt")));
    two.lookup_attributes.push(attribute("Username", "root"));
    assert_error(
        invalid(two).await,
        Code::InvalidArgument,
        "InvalidLookupAttributesException",
        "You can specify only one lookup attribute.",
    );
    assert_error(
        invalid(lookup(Some(attribute("EventColor", "blue")))).await,
        Code::InvalidArgument,
        "InvalidLookupAttributesException",
        "EventColor is not a lookup attribute key; valid keys: EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId.",
    );
    assert_error(
        invalid(lookup(Some(attribute("ReadOnly", "maybe")))).await,
        Code::InvalidArgument,
        "InvalidLookupAttributesException",
        "The value of lookup attribute ReadOnly must be true or false, not maybe.",
    );
    assert_error(
        invalid(lookup(Some(attribute("EventName", "")))).await,
        Code::InvalidArgument,
        "InvalidLookupAttributesException",
        "The value of lookup attribute EventName must not be empty.",
    );

    let mut backwards = lookup(None);
    backwards.start_time = "2025-01-02T00:00:00Z".into();
    backwards.end_time = "2025-01-01T00:00:00Z".into();
    assert_error(
        invalid(backwards).await,
        Code::InvalidArgument,
        "InvalidTimeRangeException",
        "Start time must be before or equal to end time.",
    );
    let mut garbled = lookup(None);
    garbled.start_time = "yesterday".into();
    assert_error(
        invalid(garbled).await,
        Code::InvalidArgument,
        "InvalidTimeRangeException",
        "StartTime yesterday is not an RFC 3339 timestamp, e.g. 2025-01-31T12:00:00Z.",
    );

    for n in [-1, 51] {
        let mut request = lookup(None);
        request.max_results = n;
        assert_error(
            invalid(request).await,
            Code::InvalidArgument,
            "InvalidMaxResultsException",
            &format!("MaxResults {n} is not valid; specify a value from 1 to 50."),
        );
    }
    let default = client
        .lookup_events(lookup(None))
        .await
        .expect("MaxResults 0")
        .into_inner();
    assert_eq!(default.events.len(), 10);

    let mut category = lookup(None);
    category.event_category = "data".into();
    assert_error(
        invalid(category).await,
        Code::InvalidArgument,
        "InvalidEventCategoryException",
        "Event category data is not valid; the only valid value is insight.",
    );

    // NextTokens: forged, tampered, or from another query.
    let token_message = "The NextToken is not valid: it was altered, or it belongs to a request with different lookup attributes, time range or event category.";
    let mut forged = lookup(None);
    forged.next_token = "bm90IGEgdG9rZW4".into();
    assert_error(
        invalid(forged).await,
        Code::InvalidArgument,
        "InvalidNextTokenException",
        token_message,
    );
    let token = default.next_token;
    assert!(!token.is_empty());
    let mut tampered = lookup(None);
    let mut chars: Vec<char> = token.chars().collect();
    chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
    tampered.next_token = chars.into_iter().collect();
    assert_error(
        invalid(tampered).await,
        Code::InvalidArgument,
        "InvalidNextTokenException",
        token_message,
    );
    let mut other_query = lookup(Some(attribute("EventName", "Decrypt")));
    other_query.next_token = token.clone();
    assert_error(
        invalid(other_query).await,
        Code::InvalidArgument,
        "InvalidNextTokenException",
        token_message,
    );
    let mut other_range = lookup(None);
    other_range.start_time = "2025-01-01T00:00:00Z".into();
    other_range.next_token = token.clone();
    assert_error(
        invalid(other_range).await,
        Code::InvalidArgument,
        "InvalidNextTokenException",
        token_message,
    );
    // The same query may change its page size.
    let mut same = lookup(None);
    same.next_token = token;
    same.max_results = 5;
    assert_eq!(
        client
            .lookup_events(same)
            .await
            .expect("next page")
            .into_inner()
            .events
            .len(),
        5
    );
    audit.stop().await;
}

#[tokio::test]
async fn next_tokens_survive_a_restart() {
    let audit = AuditHarness::start().await;
    let records = generated(30, base_time());
    audit.ingest_all(&records).await;
    let first = audit
        .client(Who::Root)
        .lookup_events(lookup(None))
        .await
        .expect("lookup")
        .into_inner();
    let database = audit.stop().await;
    let audit = AuditHarness::start_on(database, &[]).await;
    let mut request = lookup(None);
    request.next_token = first.next_token;
    let second = audit
        .client(Who::Root)
        .lookup_events(request)
        .await
        .expect("next page")
        .into_inner();
    assert_eq!(second.events[0].event_id, expected(&records, |_| true)[10]);
    audit.stop().await;
}

#[tokio::test]
async fn tail_follows_matching_events() {
    let audit = AuditHarness::start().await;
    let mut client = audit.client(Who::User1);
    let mut tail = client
        .tail_events(pb::TailEventsRequest {
            lookup_attribute: Some(attribute("EventName", "Decrypt")),
            event_category: String::new(),
        })
        .await
        .expect("tail")
        .into_inner();
    let now = Utc::now();
    let other = Record::kms("Encrypt", User::User1, now, "k1");
    let wanted = Record::kms("Decrypt", User::User2, now, "k1");
    audit.ingest_all(std::slice::from_ref(&other)).await;
    audit.ingest_all(std::slice::from_ref(&wanted)).await;
    let received = tokio::time::timeout(Duration::from_secs(10), tail.message())
        .await
        .expect("an event in time")
        .expect("the stream is fine")
        .expect("an event");
    let event = received.event.expect("an event");
    assert_eq!(event.event_id, wanted.id.to_string());
    assert_eq!(event.username, "AWSLabsUser-0002");
    // Nothing else is pending: the Encrypt never comes.
    let more = tokio::time::timeout(Duration::from_millis(300), tail.message()).await;
    assert!(more.is_err(), "no other event: {more:?}");

    // A category filter.
    let mut data_tail = client
        .tail_events(pb::TailEventsRequest {
            lookup_attribute: None,
            event_category: "data".into(),
        })
        .await
        .expect("tail")
        .into_inner();
    let mut data = Record::kms("GetObject", User::User1, Utc::now(), "k1");
    data.category = "Data";
    audit
        .ingest_all(&[
            Record::kms("Decrypt", User::User1, Utc::now(), "k1"),
            data.clone(),
        ])
        .await;
    let received = tokio::time::timeout(Duration::from_secs(10), data_tail.message())
        .await
        .expect("an event in time")
        .expect("the stream is fine")
        .expect("an event");
    assert_eq!(
        received.event.expect("an event").event_id,
        data.id.to_string()
    );
    drop(tail);
    drop(data_tail);
    audit.stop().await;
}

#[tokio::test]
async fn retention_drops_old_day_partitions() {
    let audit = AuditHarness::start_with_flags(&["--retention-sweep-seconds", "1"]).await;
    let old_time = Utc::now().checked_sub_days(Days::new(100)).expect("a date");
    let old: Vec<Record> = (0..20)
        .map(|i| {
            Record::kms(
                "Decrypt",
                User::User1,
                old_time + TimeDelta::seconds(i),
                "old-key",
            )
        })
        .collect();
    let recent = generated(20, base_time());
    audit.ingest_all(&old).await;
    audit.ingest_all(&recent).await;
    let old_partition = format!("events_{}", old_time.format("%Y%m%d"));
    let mut gone = false;
    for _ in 0..100 {
        let count = audit.count("SELECT count(*) FROM events").await;
        if count == recent.len() as i64 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the old events are dropped");
    let partition: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(&old_partition)
        .fetch_one(&audit.pool)
        .await
        .expect("regclass");
    assert_eq!(partition, None, "{old_partition} is dropped");
    let mut client = audit.client(Who::Root);
    assert!(
        walk(
            &mut client,
            lookup(Some(attribute("ResourceName", "old-key"))),
            50
        )
        .await
        .is_empty()
    );
    assert_eq!(
        walk(&mut client, lookup(None), 50).await,
        expected(&recent, |_| true)
    );
    // The day can be written again (the partition cache forgot it).
    audit
        .ingest_all(&[Record::kms("Decrypt", User::User1, old_time, "old-key")])
        .await;
    audit.stop().await;
}

#[tokio::test]
async fn audit_svc_records_its_own_calls() {
    let audit = AuditHarness::start().await;
    let mut client = audit.client(Who::User1);
    client
        .lookup_events(lookup(Some(attribute("EventName", "Decrypt"))))
        .await
        .expect("lookup");
    let mut found = None;
    let mut own_calls = lookup(Some(attribute("EventName", "LookupEvents")));
    own_calls.end_time.clear();
    for _ in 0..100 {
        let page = client
            .lookup_events(own_calls.clone())
            .await
            .expect("lookup")
            .into_inner();
        if let Some(event) = page
            .events
            .into_iter()
            .find(|e| e.cloud_trail_event.contains("Decrypt"))
        {
            found = Some(event);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let event = found.expect("the LookupEvents call is recorded");
    assert_eq!(event.event_source, "cloudtrail.amazonaws.com");
    assert_eq!(event.username, "AWSLabsUser-0001");
    assert_eq!(event.access_key_id, "AKIAKEYHOLDDEVUSER01");
    assert_eq!(event.read_only, "true");
    let record: serde_json::Value = serde_json::from_str(&event.cloud_trail_event).expect("JSON");
    assert_eq!(record["eventID"], event.event_id);
    assert_eq!(
        record["requestParameters"]["lookupAttributes"][0]["attributeValue"],
        "Decrypt"
    );
    audit.stop().await;
}

#[tokio::test]
async fn reading_the_trail_needs_cloudtrail_lookup_events() {
    let audit = AuditHarness::start().await;
    audit.ingest_all(&generated(3, base_time())).await;
    for who in [Who::Root, Who::User1] {
        let page = audit
            .client(who)
            .lookup_events(lookup(None))
            .await
            .unwrap_or_else(|e| panic!("{who:?} may look up events: {e:?}"))
            .into_inner();
        assert_eq!(page.events.len(), 3);
        audit
            .client(who)
            .tail_events(pb::TailEventsRequest::default())
            .await
            .unwrap_or_else(|e| panic!("{who:?} may tail events: {e:?}"));
    }

    let denied = "User: arn:aws:iam::000000000000:user/AWSLabsUser-0004 is not authorized to \
         perform: cloudtrail:LookupEvents on resource: * because no identity-based policy \
         allows the cloudtrail:LookupEvents action";
    let mut outsider = audit.client(Who::User4);
    assert_error(
        outsider.lookup_events(lookup(None)).await,
        Code::PermissionDenied,
        "AccessDeniedException",
        denied,
    );
    assert_error(
        outsider.tail_events(pb::TailEventsRequest::default()).await,
        Code::PermissionDenied,
        "AccessDeniedException",
        denied,
    );
    audit.stop().await;
}

#[tokio::test]
async fn a_batch_over_the_message_limit_is_answered_out_of_range() {
    let audit = AuditHarness::start().await;
    // 17 records of 1 MiB: one message over audit-svc's 16 MiB limit. Said back, the
    // emitter knows not to send it again as it is; a silently closed stream looked
    // like an outage, and the batch was retried forever.
    let padding = "x".repeat(1 << 20);
    let batch: Vec<pb::AuditRecord> = (0..17)
        .map(|_| pb::AuditRecord {
            event_id: uuid::Uuid::new_v4().to_string(),
            cloud_trail_event: padding.clone(),
            traceparent: String::new(),
        })
        .collect();
    let status = audit
        .ingest(vec![batch])
        .await
        .expect_err("the batch is refused");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status
            .message()
            .contains("decoded message length too large"),
        "{status:?}"
    );
    audit.stop().await;
}
