//! A record audit-svc will never take holds up nothing: it goes to the emitter's
//! dead-letter file (counted), and every record behind it is stored, in order.

use crate::common;

use std::{path::Path, time::Duration};

use chrono::Utc;
use common::{AuditHarness, KMS_SVC, Record, User, Who as AuditWho, attribute, emitter_flags};
use keyhold_proto::{audit::v1 as pb, kms::v1::GenerateRandomRequest};
use keyhold_tests::{KmsHarness, TestDatabase, Who, free_address, metric, scrape};
use serde_json::Value;

/// Writes a spool file for kms-svc's emitter to replay first, as one left by a
/// previous run: `lines` are its records.
fn leave_in_spool(spool: &Path, lines: &[String]) {
    let dir = spool.join("kms-svc");
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(dir.join("spool-00000000000000000001.jsonl"), text).unwrap();
}

async fn stored_ids(audit: &AuditHarness, ids: &[String]) -> usize {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE (cloud_trail_event::jsonb)->>'requestID' = ANY($1) \
         OR event_id::text = ANY($1)",
    )
    .bind(ids)
    .fetch_one(&audit.pool)
    .await
    .unwrap();
    count as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacceptable_records_are_set_aside_and_the_next_1000_calls_are_stored_in_order() {
    let audit_metrics = free_address();
    let audit =
        AuditHarness::start_with_flags(&["--metrics-listen", &audit_metrics.to_string()]).await;
    let spool =
        std::env::temp_dir().join(format!("keyhold-dead-{}", uuid::Uuid::new_v4().simple()));

    // What a previous run left: a record audit-svc refuses (its eventTime is no
    // time), one over every size limit (20 MB: more than audit-svc's whole message
    // limit), and good records around them.
    let time = Utc::now() - chrono::TimeDelta::hours(3);
    let good: Vec<Record> = (0..3)
        .map(|_| {
            Record::kms(
                "DescribeKey",
                User::Root,
                time,
                "1234abcd-12ab-34cd-56ef-1234567890ab",
            )
        })
        .collect();
    let refused_id = uuid::Uuid::new_v4().to_string();
    let mut refused: Value = serde_json::from_str(&good[0].json()).unwrap();
    refused["eventID"] = refused_id.clone().into();
    refused["eventTime"] = "yesterday".into();
    let oversized_id = uuid::Uuid::new_v4().to_string();
    let mut oversized: Value = serde_json::from_str(&good[0].json()).unwrap();
    oversized["eventID"] = oversized_id.clone().into();
    oversized["requestParameters"] = serde_json::json!({"pad": "x".repeat(20_000_000)});
    leave_in_spool(
        &spool,
        &[
            good[0].json(),
            refused.to_string(),
            good[1].json(),
            oversized.to_string(),
            good[2].json(),
        ],
    );
    drop(oversized);

    let database = TestDatabase::create().await;
    let url = database.url.clone();
    let kms_metrics = free_address();
    let mut flags = emitter_flags(audit.address, KMS_SVC, &spool);
    flags.extend(["--metrics-listen".to_owned(), kms_metrics.to_string()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let kms = KmsHarness::start_with_flags(database, url, &flags).await;

    // The order in which audit-svc stores events is the order a live tail sees them.
    let mut tail = audit
        .client(AuditWho::Root)
        .tail_events(pb::TailEventsRequest {
            lookup_attribute: Some(attribute("EventName", "GenerateRandom")),
            event_category: String::new(),
        })
        .await
        .expect("tail")
        .into_inner();
    let tailed = tokio::spawn(async move {
        let mut request_ids = Vec::new();
        while request_ids.len() < 1000 {
            let Some(reply) = tail.message().await.expect("tail message") else {
                break;
            };
            let record: Value =
                serde_json::from_str(&reply.event.expect("an event").cloud_trail_event).unwrap();
            request_ids.push(record["requestID"].as_str().unwrap().to_owned());
        }
        request_ids
    });

    let mut root = kms.client(Who::Root);
    let mut called = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let response = root
            .generate_random(GenerateRandomRequest {
                number_of_bytes: 16,
            })
            .await
            .expect("GenerateRandom");
        let id = response.metadata().get("x-amzn-requestid").unwrap();
        called.push(id.to_str().unwrap().to_owned());
    }
    let seen = tokio::time::timeout(Duration::from_secs(60), tailed)
        .await
        .expect("1,000 events stored within a minute")
        .unwrap();
    assert_eq!(seen.len(), 1000);
    assert!(seen == called, "stored in the order of the calls");
    assert_eq!(stored_ids(&audit, &called).await, 1000);

    let good_ids: Vec<String> = good.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(
        stored_ids(&audit, &good_ids).await,
        3,
        "the good records around the bad ones"
    );
    let bad_ids = vec![refused_id.clone(), oversized_id.clone()];
    assert_eq!(stored_ids(&audit, &bad_ids).await, 0);

    // Set aside in the order they were found: the oversized one while reading the
    // spool, the refused one when audit-svc answered.
    let dead = spool.join("kms-svc").join("rejected");
    let kept = std::fs::read_to_string(dead.join("rejected.jsonl")).unwrap();
    let kept: Vec<&str> = kept.lines().collect();
    assert_eq!(kept.len(), 2, "the two bad records, nothing else");
    assert!(kept[0].contains(&oversized_id) && kept[0].len() > 20_000_000);
    assert_eq!(kept[1], refused.to_string(), "kept exactly as spooled");
    let reasons = std::fs::read_to_string(dead.join("reasons.jsonl")).unwrap();
    let reasons: Vec<Value> = reasons
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        reasons[0]["reason"],
        "the record is over the limit of 262144 bytes"
    );
    assert!(reasons[0]["bytes"].as_u64().unwrap() > 20_000_000);
    assert_eq!(reasons[1]["eventID"], refused_id.as_str());
    assert_eq!(
        reasons[1]["reason"],
        format!("record {refused_id}: eventTime yesterday is not an RFC 3339 time")
    );
    assert!(
        !spool.join("kms-svc").read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("spool-")),
        "the spool is drained"
    );

    // Counted where an operator looks.
    let kms_scrape = scrape(kms_metrics).await;
    assert_eq!(
        metric(&kms_scrape, "keyhold_audit_dead_letter_records_total"),
        Some(2.0),
        "{kms_scrape}"
    );
    assert_eq!(
        metric(&kms_scrape, "keyhold_audit_dropped_records_total"),
        Some(0.0)
    );
    let audit_scrape = scrape(audit_metrics).await;
    assert_eq!(
        metric(&audit_scrape, "keyhold_audit_refused_records_total"),
        Some(1.0),
        "{audit_scrape}"
    );

    kms.stop().await;
    let _ = std::fs::remove_dir_all(spool);
}
