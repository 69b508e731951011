//! Log files end to end: the lab's trail (a new bucket, management, data and
//! Insights events) receives the key's GenerateDataKey and Decrypt made on the
//! user's behalf by object-svc, and the S3 data events, each exactly once; nothing is
//! lost or delivered twice through crashes of audit-svc and an object-svc outage.

use std::time::{Duration, Instant};

use keyhold_proto::audit::v1 as pb;
use keyhold_tests::{
    Who,
    kms::{USER1_ARN, console_key},
    object::{get, put, put_header, sse_kms},
    seeded_bytes,
    trails::{TrailStack, log_files, records_of},
};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{
    ACCOUNT, assert_no_duplicates, create_with_bucket, delivered_when, object_events, start_logging,
};

const BUCKET: &str = "mycloudtrailbucket1";

/// The lab's step 2: myTrail into a new bucket with management, data (every S3
/// object) and both kinds of Insights events, logging.
async fn lab_trail(stack: &TrailStack) {
    let mut trails = stack.trails(Who::User1);
    create_with_bucket(&mut trails, "myTrail", BUCKET).await;
    trails
        .put_event_selectors(pb::PutEventSelectorsRequest {
            trail_name: "myTrail".into(),
            event_selectors: vec![pb::EventSelector {
                read_write_type: "All".into(),
                include_management_events: Some(true),
                data_resources: vec![pb::DataResource {
                    r#type: "AWS::S3::Object".into(),
                    values: vec!["arn:aws:s3".into()],
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    trails
        .put_insight_selectors(pb::PutInsightSelectorsRequest {
            trail_name: "myTrail".into(),
            insight_selectors: ["ApiCallRateInsight", "ApiErrorRateInsight"]
                .map(|t| pb::InsightSelector {
                    insight_type: t.into(),
                })
                .to_vec(),
        })
        .await
        .unwrap();
    start_logging(&mut trails, "myTrail").await;
}

#[tokio::test]
async fn the_lab_trail_receives_the_keys_events_and_the_object_events_once() {
    let stack = TrailStack::start(&[]).await;
    lab_trail(&stack).await;
    let mut kms = stack.object.kms.client(Who::User1);
    let key = console_key(&mut kms, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await;
    let mut objects = stack.objects(Who::User1);
    let image = seeded_bytes(200_000, 7);
    put(
        &mut objects,
        sse_kms(BUCKET, "image.png", &key.key_id),
        &image,
    )
    .await
    .unwrap();
    let (_, opened) = get(&mut objects, BUCKET, "image.png").await.unwrap();
    assert_eq!(opened, image);

    let image_arn = format!("arn:aws:s3:::{BUCKET}/image.png");
    let key_event = |records: &[serde_json::Value], name: &str| -> Vec<serde_json::Value> {
        records
            .iter()
            .filter(|r| {
                r["eventName"] == name
                    && r["resources"].to_string().contains(&key.arn)
                    && r["requestParameters"]["encryptionContext"]["aws:s3:arn"] == image_arn
            })
            .cloned()
            .collect()
    };
    let records = delivered_when(&stack, BUCKET, |records| {
        !key_event(records, "GenerateDataKey").is_empty()
            && !key_event(records, "Decrypt").is_empty()
            && !object_events(records, "GetObject", &image_arn).is_empty()
    })
    .await;
    assert_no_duplicates(&records);
    for name in ["GenerateDataKey", "Decrypt"] {
        let events = key_event(&records, name);
        assert_eq!(events.len(), 1, "{name} once: {events:?}");
        let identity = &events[0]["userIdentity"];
        assert_eq!(identity["arn"], USER1_ARN, "{name} is the user's");
        assert_eq!(identity["invokedBy"], "s3.amazonaws.com", "{name}");
        assert_eq!(events[0]["eventSource"], "kms.amazonaws.com");
    }
    for name in ["PutObject", "GetObject"] {
        let events = object_events(&records, name, &image_arn);
        assert_eq!(events.len(), 1, "{name} once");
        assert_eq!(events[0]["userIdentity"]["arn"], USER1_ARN);
        assert_eq!(events[0]["eventSource"], "s3.amazonaws.com");
    }
    // The trail's own calls are management events of CloudTrail.
    assert!(records.iter().any(
        |r| r["eventName"] == "StartLogging" && r["eventSource"] == "cloudtrail.amazonaws.com"
    ));

    // The key layout, SSE-S3, and the database's record of each file.
    let files = log_files(&mut objects, BUCKET, "AWSLogs/").await;
    for key in files.keys() {
        let parts: Vec<&str> = key.split('/').collect();
        assert_eq!(
            parts[..4],
            ["AWSLogs", ACCOUNT, "CloudTrail", "us-east-1"],
            "{key}"
        );
        assert_eq!(parts.len(), 8, "{key}");
        let file = parts[7];
        assert!(
            file.starts_with(&format!(
                "{ACCOUNT}_CloudTrail_us-east-1_{}{}{}T",
                parts[4], parts[5], parts[6]
            )),
            "{key}"
        );
        assert!(file.ends_with(".json.gz"), "{key}");
        let (head, _) = get(&mut objects, BUCKET, key).await.unwrap();
        assert_eq!(head.server_side_encryption, "AES256");
    }
    assert_delivered_files_are_recorded(&stack, &mut objects).await;
}

/// Every recorded log file is in the bucket with the recorded hash and count, and
/// every log file in the bucket is recorded.
async fn assert_delivered_files_are_recorded(
    stack: &TrailStack,
    objects: &mut keyhold_tests::ObjectClient,
) {
    let pool = sqlx::PgPool::connect(&stack.audit_database.url)
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT s3_object, sha256_hex, records FROM trail_log_files WHERE trail_name = 'myTrail'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut recorded = std::collections::BTreeSet::new();
    for row in &rows {
        let key: String = row.get("s3_object");
        let (_, gzip) = get(objects, BUCKET, &key)
            .await
            .expect("a recorded file exists");
        let mut json = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut json)
            .unwrap();
        let hash: String = Sha256::digest(&json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hash, row.get::<String, _>("sha256_hex"), "{key}");
        assert_eq!(records_of(&gzip).len() as i32, row.get::<i32, _>("records"));
        recorded.insert(key);
    }
    let in_bucket: std::collections::BTreeSet<String> = log_files(objects, BUCKET, "AWSLogs/")
        .await
        .into_keys()
        .collect();
    // Files may have been delivered between the two reads; each in the bucket before
    // the query is recorded.
    assert!(recorded.is_subset(&in_bucket));
    pool.close().await;
}

/// Puts `n` more objects, their keys added to `keys`.
async fn write(objects: &mut keyhold_tests::ObjectClient, keys: &mut Vec<String>, n: usize) {
    for _ in 0..n {
        let key = format!("objects/{}.txt", keys.len());
        put(objects, put_header(BUCKET, &key), b"x").await.unwrap();
        keys.push(key);
    }
}

/// myTrail's GetTrailStatus.
async fn status(stack: &TrailStack) -> pb::GetTrailStatusResponse {
    stack
        .trails(Who::User1)
        .get_trail_status(pb::GetTrailStatusRequest {
            name: "myTrail".into(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Waits until GetTrailStatus shows a delivery error; returns it.
async fn delivery_error(stack: &TrailStack) -> String {
    let started = Instant::now();
    loop {
        let status = status(stack).await;
        if !status.latest_delivery_error.is_empty() {
            assert_eq!(status.latest_delivery_attempt_succeeded, "false");
            return status.latest_delivery_error;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no delivery error shown"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn crashes_of_audit_svc_and_an_object_svc_outage_lose_and_duplicate_nothing() {
    // Small batches: many files, so crashes land between and inside batches.
    let mut stack = TrailStack::start(&["--delivery-batch-events", "7"]).await;
    lab_trail(&stack).await;
    let mut objects = stack.objects(Who::User1);
    let mut keys = Vec::new();
    for _ in 0..3 {
        write(&mut objects, &mut keys, 15).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        stack.crash_and_restart_audit().await;
    }

    // object-svc goes away: deliveries fail, and GetTrailStatus says so.
    stack.proxy.cut();
    write(&mut objects, &mut keys, 10).await;
    let error = delivery_error(&stack).await;
    assert!(error.contains(BUCKET), "{error}");
    stack.crash_and_restart_audit().await;
    let stack = stack.restart_object().await;
    let mut objects = stack.objects(Who::User1);
    stack.proxy.restore();
    write(&mut objects, &mut keys, 10).await;

    let arn = |key: &str| format!("arn:aws:s3:::{BUCKET}/{key}");
    let records = delivered_when(&stack, BUCKET, |records| {
        keys.iter()
            .all(|key| !object_events(records, "PutObject", &arn(key)).is_empty())
    })
    .await;
    assert_no_duplicates(&records);
    for key in &keys {
        assert_eq!(
            object_events(&records, "PutObject", &arn(key)).len(),
            1,
            "{key}"
        );
    }
    let status = status(&stack).await;
    assert!(!status.latest_delivery_time.is_empty());
    assert_delivered_files_are_recorded(&stack, &mut objects).await;
}

/// Waits until one of audit-svc's statements waits for a lock, holding `sql_start`.
async fn blocked_on(pool: &sqlx::PgPool, sql_start: &str) {
    let started = Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE $1",
        )
        .bind(format!("{sql_start}%"))
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never blocked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_crash_after_the_put_and_before_the_commit_writes_the_same_file_again() {
    let mut stack = TrailStack::start(&[]).await;
    lab_trail(&stack).await;
    let pool = sqlx::PgPool::connect(&stack.audit_database.url)
        .await
        .unwrap();
    // The delivered files cannot be recorded while the test holds this lock: the
    // worker writes its log file, then waits in its closing transaction.
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE trail_log_files IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let mut objects = stack.objects(Who::User1);
    put(&mut objects, put_header(BUCKET, "before-crash.txt"), b"x")
        .await
        .unwrap();
    blocked_on(&pool, "INSERT INTO trail_log_files").await;
    let written = log_files(&mut objects, BUCKET, "AWSLogs/").await;
    assert!(!written.is_empty(), "the PUT happened before the commit");

    stack.crash_and_restart_audit().await;
    lock.rollback().await.unwrap();
    put(&mut objects, put_header(BUCKET, "after-crash.txt"), b"x")
        .await
        .unwrap();
    let arn = |key: &str| format!("arn:aws:s3:::{BUCKET}/{key}");
    let records = delivered_when(&stack, BUCKET, |records| {
        !object_events(records, "PutObject", &arn("after-crash.txt")).is_empty()
    })
    .await;
    assert_no_duplicates(&records);
    assert_eq!(
        object_events(&records, "PutObject", &arn("before-crash.txt")).len(),
        1
    );
    // The file written before the crash was overwritten under its own key.
    let after = log_files(&mut objects, BUCKET, "AWSLogs/").await;
    for key in written.keys() {
        assert!(after.contains_key(key), "{key} is still there");
    }
    assert_delivered_files_are_recorded(&stack, &mut objects).await;
    pool.close().await;
}

#[tokio::test]
async fn an_insert_that_commits_late_is_delivered_not_skipped() {
    let stack = TrailStack::start(&[]).await;
    lab_trail(&stack).await;
    let mut objects = stack.objects(Who::User1);
    put(&mut objects, put_header(BUCKET, "first.txt"), b"x")
        .await
        .unwrap();
    let arn = |key: &str| format!("arn:aws:s3:::{BUCKET}/{key}");
    let records = delivered_when(&stack, BUCKET, |records| {
        !object_events(records, "PutObject", &arn("first.txt")).is_empty()
    })
    .await;
    // A record written by a transaction that stays open while later records are
    // stored and delivery rounds run (an ingest batch committing slowly).
    let mut late = object_events(&records, "PutObject", &arn("first.txt"))[0].clone();
    let late_id = uuid::Uuid::new_v4();
    late["eventID"] = late_id.to_string().into();
    late["resources"][0]["ARN"] = arn("late.txt").into();
    let pool = sqlx::PgPool::connect(&stack.audit_database.url)
        .await
        .unwrap();
    let mut slow = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO events (event_id, event_time, event_name, event_source, event_category, \
         read_only, cloud_trail_event, name_key, source_key, read_only_key) \
         VALUES ($1, now(), 'PutObject', 's3.amazonaws.com', 'Data', false, $2, 0, 0, 0)",
    )
    .bind(late_id)
    .bind(late.to_string())
    .execute(&mut *slow)
    .await
    .unwrap();
    put(&mut objects, put_header(BUCKET, "later.txt"), b"x")
        .await
        .unwrap();
    // Rounds run meanwhile (every second); none may move past the open transaction.
    tokio::time::sleep(Duration::from_secs(3)).await;
    slow.commit().await.unwrap();

    let records = delivered_when(&stack, BUCKET, |records| {
        !object_events(records, "PutObject", &arn("later.txt")).is_empty()
            && !object_events(records, "PutObject", &arn("late.txt")).is_empty()
    })
    .await;
    assert_no_duplicates(&records);
    for key in ["first.txt", "late.txt", "later.txt"] {
        assert_eq!(
            object_events(&records, "PutObject", &arn(key)).len(),
            1,
            "{key}"
        );
    }
    pool.close().await;
}

#[tokio::test]
async fn insight_events_go_to_the_cloudtrail_insight_folder() {
    let stack = TrailStack::start(&[]).await;
    lab_trail(&stack).await;
    // An Insight event as the insights worker stores it (the lab trail selects both types).
    let id = uuid::Uuid::new_v4();
    let insight = serde_json::json!({
        "eventVersion": "1.11", "eventTime": "2026-12-07T00:00:00Z",
        "awsRegion": "us-east-1", "eventID": id.to_string(),
        "eventType": "AwsCloudTrailInsight", "eventCategory": "Insight",
        "eventSource": "kms.amazonaws.com", "eventName": "Decrypt",
        "recipientAccountId": ACCOUNT, "sharedEventID": uuid::Uuid::new_v4().to_string(),
        "insightDetails": {"state": "Start", "eventSource": "kms.amazonaws.com",
            "eventName": "Decrypt", "insightType": "ApiErrorRateInsight", "errorCode": "AccessDenied"}
    });
    let pool = sqlx::PgPool::connect(&stack.audit_database.url)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO events (event_id, event_time, event_name, event_source, event_category, \
         read_only, cloud_trail_event, name_key, source_key, read_only_key) \
         VALUES ($1, now(), 'Decrypt', 'kms.amazonaws.com', 'Insight', true, $2, 0, 0, 0)",
    )
    .bind(id)
    .bind(insight.to_string())
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let prefix = format!("AWSLogs/{ACCOUNT}/CloudTrail-Insight/us-east-1/");
    let mut objects = stack.objects(Who::User1);
    let started = Instant::now();
    let files = loop {
        let files = log_files(&mut objects, BUCKET, &prefix).await;
        if !files.is_empty() {
            break files;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no Insight file"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (key, records) = files.iter().next().unwrap();
    assert!(
        key.contains(&format!("/{ACCOUNT}_CloudTrail-Insight_us-east-1_")),
        "{key}"
    );
    assert_eq!(records, &[insight]);
    // Not also in a CloudTrail file.
    let cloudtrail = super::delivered(&stack, BUCKET).await;
    assert!(!cloudtrail.iter().any(|r| r["eventID"] == id.to_string()));
}
