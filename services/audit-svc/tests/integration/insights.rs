//! CloudTrail Insights against a real Postgres: calls counted as they are ingested,
//! the worker driven with an injected clock, and the Insight events found through
//! LookupEvents with EventCategory insight.

use crate::common;

use std::sync::Arc;

use audit_svc::{
    domain::Audit,
    insights::{
        InsightType, InsightTypes,
        detector::Rule,
        event::Origin,
        worker::{Round, Settings, Worker},
    },
    store::AuditStore,
};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use common::{ACCOUNT, AuditHarness, Record, User, Who, base_time, lookup};
use keyhold_proto::audit::v1 as pb;
use serde_json::{Value, json};
use sqlx::PgPool;

const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const WINDOW: u32 = 5;

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

/// `n` Decrypt calls by `user` in the minute starting at `minute`, refused with
/// AccessDeniedException when `refused`.
fn decrypts(n: usize, user: User, minute: DateTime<Utc>, refused: bool) -> Vec<pb::AuditRecord> {
    (0..n)
        .map(|i| {
            let time = minute + TimeDelta::seconds((i % 60) as i64);
            let record = Record::kms("Decrypt", user, time, KEY);
            let mut json: Value = serde_json::from_str(&record.json()).expect("a record");
            // As CloudTrail records Decrypt.
            json["readOnly"] = json!(true);
            if refused {
                json["errorCode"] = json!("AccessDeniedException");
                json["errorMessage"] = json!("User is not authorized to perform: kms:Decrypt");
            }
            pb::AuditRecord {
                event_id: record.id.to_string(),
                cloud_trail_event: json.to_string(),
                traceparent: String::new(),
            }
        })
        .collect()
}

async fn insights(audit: &AuditHarness) -> Vec<Value> {
    let mut request = lookup(None);
    request.event_category = "insight".into();
    request.max_results = 50;
    let page = audit
        .client(Who::Root)
        .lookup_events(request)
        .await
        .expect("LookupEvents")
        .into_inner();
    page.events
        .iter()
        .map(|e| {
            assert_eq!(e.event_name, "Decrypt");
            assert_eq!(e.event_source, "kms.amazonaws.com");
            serde_json::from_str(&e.cloud_trail_event).expect("the record")
        })
        .collect()
}

fn attribution(record: &Value, attribute: &str) -> (Value, Value) {
    let found = record["insightDetails"]["insightContext"]["attributions"]
        .as_array()
        .expect("attributions")
        .iter()
        .find(|a| a["attribute"] == attribute)
        .unwrap_or_else(|| panic!("no {attribute} attribution in {record}"));
    (found["insight"].clone(), found["baseline"].clone())
}

#[tokio::test]
#[ignore = "run alone by .ci/run: it closed no minute at 9:05 about 1 run in 3 until worker::round ended its early-return transaction at once (the advisory lock outlived it); kept apart until it has a record in the suite"]
async fn a_burst_of_refused_decrypts_starts_and_ends_an_error_rate_insight() {
    // Counting on, no worker of its own: the test drives one with its clock.
    let audit = AuditHarness::start_with_flags(&["--insights-evaluate-seconds", "0"]).await;
    let t0 = base_time()
        .duration_trunc(TimeDelta::minutes(1))
        .expect("a minute");
    let minute = |n: i64| t0 + TimeDelta::minutes(n);

    // Baseline, minutes 0-4: AWSLabsUser-0002 is refused 2, 4, 2, 4, 3 times (15 in
    // 5 minutes: 3 a minute; the threshold is the floor, 10). Successful calls beside
    // them count toward no error rate.
    let mut batches = Vec::new();
    for (n, refused) in [2, 4, 2, 4, 3].into_iter().enumerate() {
        batches.push(decrypts(refused, User::User2, minute(n as i64), true));
        batches.push(decrypts(7, User::User1, minute(n as i64), false));
    }
    // The burst, minutes 5-6: AWSLabsUser-0001 refused 60 then 40 times; then quiet.
    batches.push(decrypts(60, User::User1, minute(5), true));
    batches.push(decrypts(40, User::User1, minute(6), true));
    batches.push(decrypts(5, User::User1, minute(7), false));
    let acks = audit.ingest(batches).await.expect("ingest");
    assert!(acks.iter().all(|a| a.rejected.is_empty()));

    let store = AuditStore::new(PgPool::connect(&audit.database.url).await.expect("db"));
    let worker = Worker::new(
        Arc::new(Audit::open(store).await.expect("audit")),
        Settings {
            window_minutes: WINDOW,
            close_delay: TimeDelta::seconds(5),
            rule: Rule::default(),
            origin: Origin {
                account_id: ACCOUNT.into(),
                region: "us-east-1".into(),
            },
        },
    );
    let both = InsightTypes::from(InsightType::ALL);

    // At 7:05 minutes 0-6 are closed: minute 5 starts the Insight.
    let round = worker
        .round(minute(7) + TimeDelta::seconds(5), &both)
        .await
        .expect("a round");
    assert_eq!(round.minutes_closed, 7);
    assert_eq!(round.recorded.len(), 1);
    let found = insights(&audit).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let start = &found[0];
    assert_eq!(start["eventType"], "AwsCloudTrailInsight");
    assert_eq!(start["eventCategory"], "Insight");
    assert_eq!(start["eventTime"], json!(common_time(minute(5))));
    assert_eq!(start["recipientAccountId"], ACCOUNT);
    assert_eq!(
        start["insightDetails"],
        json!({
            "state": "Start",
            "eventSource": "kms.amazonaws.com",
            "eventName": "Decrypt",
            "insightType": "ApiErrorRateInsight",
            "errorCode": "AccessDeniedException",
            "insightContext": {
                "statistics": {
                    "baseline": {"average": 3.0},
                    "insight": {"average": 60.0},
                    "insightDuration": 1,
                    "baselineDuration": 5
                },
                "attributions": start["insightDetails"]["insightContext"]["attributions"]
            }
        })
    );
    assert_eq!(
        attribution(start, "userIdentityArn"),
        (
            json!([{"value": user_arn("AWSLabsUser-0001"), "average": 60.0}]),
            json!([{"value": user_arn("AWSLabsUser-0002"), "average": 3.0}])
        )
    );
    assert_eq!(
        attribution(start, "errorCode"),
        (
            json!([{"value": "AccessDeniedException", "average": 60.0}]),
            json!([{"value": "AccessDeniedException", "average": 3.0}])
        )
    );
    assert_eq!(
        attribution(start, "userAgent").0,
        json!([{"value": "aws-cli/2.15.0", "average": 60.0}])
    );

    // The same minutes again (a round retried): nothing new.
    let again = worker
        .round(minute(7) + TimeDelta::seconds(5), &both)
        .await
        .expect("a round");
    assert_eq!(again, Round::default());

    // At 9:05 minutes 7 and 8 are closed, both quiet: the Insight ended after minute
    // 6, (60 + 40) / 2 = 50 a minute over 2 minutes.
    let round = worker
        .round(minute(9) + TimeDelta::seconds(5), &both)
        .await
        .expect("a round");
    assert_eq!(round.minutes_closed, 2);
    let found = insights(&audit).await;
    if found.len() != 2 {
        // Seen a few times under a loaded machine, never alone: say what is stored.
        let rows: Vec<(String, DateTime<Utc>, String)> = sqlx::query_as(
            "SELECT event_id::text, event_time, event_category FROM events \
             WHERE event_category <> 'Management'",
        )
        .fetch_all(&audit.pool)
        .await
        .expect("the stored events");
        panic!(
            "{} Insight events found; stored: {rows:?}; recorded this round: {:?}; \
             lookups end at {}",
            found.len(),
            round.recorded,
            common::lookup_end()
        );
    }
    assert_eq!(found.len(), 2, "{found:#?}");
    let (end, start) = (&found[0], &found[1]);
    assert_eq!(end["insightDetails"]["state"], "End");
    assert_eq!(start["insightDetails"]["state"], "Start");
    assert_eq!(end["sharedEventID"], start["sharedEventID"]);
    assert_ne!(end["eventID"], start["eventID"]);
    assert_eq!(end["eventTime"], json!(common_time(minute(7))));
    assert_eq!(
        end["insightDetails"]["insightContext"]["statistics"],
        json!({
            "baseline": {"average": 3.0},
            "insight": {"average": 50.0},
            "insightDuration": 2,
            "baselineDuration": 5
        })
    );
    assert_eq!(
        attribution(end, "userIdentityArn"),
        (
            json!([{"value": user_arn("AWSLabsUser-0001"), "average": 50.0}]),
            json!([{"value": user_arn("AWSLabsUser-0002"), "average": 3.0}])
        )
    );
    // Decrypt is read-only: no call-rate Insight, whatever the calls.
    assert!(
        found
            .iter()
            .all(|r| r["insightDetails"]["insightType"] == "ApiErrorRateInsight")
    );
    // The closed minutes' partial counts are gone (audit-svc's own LookupEvents
    // records, at the real time, are still being counted).
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM insight_counts WHERE minute < $1")
        .bind(minute(9))
        .fetch_one(&audit.pool)
        .await
        .expect("a count");
    assert_eq!(left, 0);
    audit.stop().await;
}

#[tokio::test]
async fn without_rate_counting_nothing_is_counted() {
    let audit = AuditHarness::start_with_flags(&[
        "--insight-rates",
        "false",
        "--insights-evaluate-seconds",
        "0",
    ])
    .await;
    let t0 = base_time();
    audit
        .ingest(vec![decrypts(20, User::User1, t0, true)])
        .await
        .expect("ingest");
    assert_eq!(audit.count("SELECT count(*) FROM insight_counts").await, 0);
    assert_eq!(
        audit
            .count("SELECT count(*) FROM events WHERE error_code = 'AccessDeniedException'")
            .await,
        20
    );
    audit.stop().await;
}

fn common_time(time: DateTime<Utc>) -> String {
    audit_svc::record::rfc3339(time)
}

#[tokio::test]
async fn the_insight_types_on_are_those_of_the_logging_trails_selectors() {
    use audit_svc::trails::store::{TrailSettings, TrailStore};
    let audit = AuditHarness::start_with_flags(&["--insights-evaluate-seconds", "0"]).await;
    let trails = TrailStore::new(audit.pool.clone());
    let settings = TrailSettings {
        s3_bucket_name: "logs".into(),
        s3_key_prefix: String::new(),
        include_global_service_events: true,
        is_multi_region_trail: false,
        log_file_validation_enabled: false,
        kms_key_id: String::new(),
    };
    let now = base_time();
    for (name, types) in [
        ("calls", vec!["ApiCallRateInsight"]),
        ("errors", vec!["ApiErrorRateInsight"]),
    ] {
        assert!(
            trails
                .insert(ACCOUNT, name, "us-east-1", &settings)
                .await
                .unwrap()
        );
        let types: Vec<String> = types.into_iter().map(str::to_owned).collect();
        assert!(
            trails
                .put_insight_types(ACCOUNT, name, &types)
                .await
                .unwrap()
        );
    }
    let enabled = |configured: InsightTypes| {
        let trails = trails.clone();
        async move { audit_svc::enabled_insight_types(&trails, configured).await }
    };
    // No trail logs: nothing is on, but what configuration turns on.
    assert!(enabled(InsightTypes::new()).await.is_empty());
    assert_eq!(
        enabled(InsightTypes::from([InsightType::ApiCallRate])).await,
        InsightTypes::from([InsightType::ApiCallRate])
    );
    // The logging trail's selectors turn its type on; the other trail's do not.
    assert!(trails.start_logging(ACCOUNT, "errors", now).await.unwrap());
    assert_eq!(
        enabled(InsightTypes::new()).await,
        InsightTypes::from([InsightType::ApiErrorRate])
    );
    assert!(trails.start_logging(ACCOUNT, "calls", now).await.unwrap());
    assert_eq!(
        enabled(InsightTypes::new()).await,
        InsightTypes::from(InsightType::ALL)
    );
    // Stopped, or its selectors removed: off again.
    assert!(trails.stop_logging(ACCOUNT, "calls", now).await.unwrap());
    assert!(
        trails
            .put_insight_types(ACCOUNT, "errors", &[])
            .await
            .unwrap()
    );
    assert!(enabled(InsightTypes::new()).await.is_empty());
    audit.stop().await;
}
