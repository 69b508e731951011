//! Whatever a caller sends, its call's record is bounded (every string taken from the
//! request cut at 32 KiB with a marker, the record under 256 KiB), reaches audit-svc,
//! and does not hold up the records of the calls after it.

use crate::common;

use std::{path::PathBuf, time::Duration};

use common::{AuditHarness, KMS_SVC, OBJECT_SVC, emitter_flags};
use keyhold_proto::{
    kms::v1::{EncryptRequest, GenerateRandomRequest},
    object::v1::GetObjectRequest,
};
use keyhold_tests::{KmsHarness, ObjectHarness, TestDatabase, Who};
use serde_json::Value;

const FIELD_CAP: usize = 32 * 1024;
const RECORD_CAP: usize = 256 * 1024;

fn spool_dir() -> PathBuf {
    std::env::temp_dir().join(format!("keyhold-bounded-{}", uuid::Uuid::new_v4().simple()))
}

/// The stored records (as text) of `event_name` calls, once there are `count`.
async fn stored_records(audit: &AuditHarness, event_name: &str, count: usize) -> Vec<String> {
    let started = std::time::Instant::now();
    loop {
        let records: Vec<String> =
            sqlx::query_scalar("SELECT cloud_trail_event FROM events WHERE event_name = $1")
                .bind(event_name)
                .fetch_all(&audit.pool)
                .await
                .expect("stored records");
        if records.len() >= count {
            return records;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} of {count} {event_name} records reached audit-svc in 30 s",
            records.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that `shown` is `original` cut to the field cap: its start, then a marker
/// with the number of bytes cut.
#[track_caller]
fn assert_cut(shown: Option<&str>, original: &str) {
    let shown = shown.expect("the field is shown");
    assert!(shown.len() <= FIELD_CAP, "{} bytes shown", shown.len());
    let (kept, marker) = shown
        .rsplit_once("...[keyhold truncated ")
        .expect("a truncation marker");
    let cut: usize = marker
        .strip_suffix(" bytes]")
        .and_then(|n| n.parse().ok())
        .expect("the count of bytes cut");
    assert!(original.starts_with(kept) && kept.len() > FIELD_CAP - 64);
    assert_eq!(kept.len() + cut, original.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_object_with_a_3_mb_bucket_name_is_recorded_bounded_and_later_calls_too() {
    let audit = AuditHarness::start().await;
    let spool = spool_dir();
    let flags = emitter_flags(audit.address, OBJECT_SVC, &spool);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let object = ObjectHarness::start_with_flags(&flags).await;

    // No credentials, one field of 3,000,000 control bytes (6 bytes each in JSON).
    let huge = "\u{1}".repeat(3_000_000);
    let mut anonymous = object.client(Who::Anonymous);
    let answer = anonymous
        .get_object(GetObjectRequest {
            bucket: huge.clone(),
            key: "k".into(),
            ..Default::default()
        })
        .await;
    assert!(answer.is_err(), "no such bucket");
    for n in 0..3 {
        let later = anonymous
            .get_object(GetObjectRequest {
                bucket: format!("later-bucket-{n}"),
                key: "k".into(),
                ..Default::default()
            })
            .await;
        assert!(later.is_err(), "no such bucket");
    }

    let records = stored_records(&audit, "GetObject", 4).await;
    let huge_records: Vec<&String> = records.iter().filter(|r| r.contains("\\u0001")).collect();
    assert_eq!(huge_records.len(), 1, "the oversized call is recorded once");
    let record = huge_records[0];
    assert!(
        record.len() <= RECORD_CAP,
        "the record is {} bytes",
        record.len()
    );
    let json: Value = serde_json::from_str(record).unwrap();
    let parameters = &json["requestParameters"];
    // The cut field is shown when it fits the record; else the parameters give way
    // to a marker. Either way nothing of the request is shown uncut.
    match parameters.get("bucketName") {
        Some(bucket) => assert_cut(bucket.as_str(), &huge),
        None => assert!(
            parameters["omittedBytes"].as_u64().is_some(),
            "{parameters}"
        ),
    }
    for resource in json["resources"].as_array().into_iter().flatten() {
        assert!(resource["ARN"].as_str().unwrap().len() <= FIELD_CAP);
    }
    for n in 0..3 {
        assert!(
            records
                .iter()
                .any(|r| r.contains(&format!("\"later-bucket-{n}\""))),
            "the call after the oversized one is stored"
        );
    }
    object.kms.stop().await;
    let _ = std::fs::remove_dir_all(spool);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypt_with_a_3_mb_encryption_context_is_recorded_bounded_and_later_calls_too() {
    let audit = AuditHarness::start().await;
    let spool = spool_dir();
    let flags = emitter_flags(audit.address, KMS_SVC, &spool);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    let kms = KmsHarness::start_with_flags(database, url, &flags).await;

    let huge = "\u{1}".repeat(3 * 1024 * 1024);
    let mut root = kms.client(Who::Root);
    let answer = root
        .encrypt(EncryptRequest {
            key_id: "alias/none".into(),
            plaintext: b"x".to_vec(),
            encryption_context: [("big".to_owned(), huge.clone())].into(),
            ..Default::default()
        })
        .await;
    assert!(answer.is_err(), "no such key");
    root.generate_random(GenerateRandomRequest {
        number_of_bytes: 16,
    })
    .await
    .expect("a later call");

    let records = stored_records(&audit, "Encrypt", 1).await;
    let record = &records[0];
    assert!(
        record.len() <= RECORD_CAP,
        "the record is {} bytes",
        record.len()
    );
    let json: Value = serde_json::from_str(record).unwrap();
    assert_cut(
        json["requestParameters"]["encryptionContext"]["big"].as_str(),
        &huge,
    );
    stored_records(&audit, "GenerateRandom", 1).await;
    kms.stop().await;
    let _ = std::fs::remove_dir_all(spool);
}
