//! Trails (issue 15): TrailService's calls and errors, the events each kind of
//! selector delivers, and log files delivered exactly once through restarts of
//! audit-svc and outages of object-svc. The three services run as `keyhold up` runs
//! them (keyhold_tests::trails::TrailStack).

mod crud;
mod delivery;
mod digests;
mod selectors;

use std::time::{Duration, Instant};

use keyhold_proto::audit::v1 as pb;
use keyhold_tests::{
    Who,
    trails::{TrailClient, TrailStack, log_files},
};

pub const ACCOUNT: &str = "000000000000";

pub fn arn(name: &str) -> String {
    format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{name}")
}

/// CreateTrail as the console does it: a new bucket with CloudTrail's policy.
pub async fn create_with_bucket(
    trails: &mut TrailClient,
    name: &str,
    bucket: &str,
) -> pb::CreateTrailResponse {
    trails
        .create_trail(pb::CreateTrailRequest {
            name: name.into(),
            s3_bucket_name: bucket.into(),
            create_s3_bucket: true,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e:?}"))
        .into_inner()
}

pub async fn start_logging(trails: &mut TrailClient, name: &str) {
    trails
        .start_logging(pb::StartLoggingRequest { name: name.into() })
        .await
        .expect("StartLogging");
}

/// Every record delivered into `bucket` so far (log files of the CloudTrail folder).
pub async fn delivered(stack: &TrailStack, bucket: &str) -> Vec<serde_json::Value> {
    let mut objects = stack.objects(Who::User1);
    let prefix = format!("AWSLogs/{ACCOUNT}/CloudTrail/");
    log_files(&mut objects, bucket, &prefix)
        .await
        .into_values()
        .flatten()
        .collect()
}

/// Waits (60 s at most) until the records delivered into `bucket` satisfy `done`;
/// returns them.
pub async fn delivered_when(
    stack: &TrailStack,
    bucket: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let started = Instant::now();
    loop {
        let records = delivered(stack, bucket).await;
        if done(&records) {
            return records;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "delivery into {bucket} never got there; delivered so far: {}",
            serde_json::to_string_pretty(&records).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The data events of `records` on object `arn:aws:s3:::<bucket>/<key>`, by name.
pub fn object_events<'a>(
    records: &'a [serde_json::Value],
    name: &str,
    object_arn: &str,
) -> Vec<&'a serde_json::Value> {
    records
        .iter()
        .filter(|r| r["eventName"] == name && r["eventCategory"] == "Data")
        .filter(|r| {
            r["resources"]
                .as_array()
                .is_some_and(|list| list.iter().any(|res| res["ARN"] == object_arn))
        })
        .collect()
}

/// Panics if an eventID appears twice.
#[track_caller]
pub fn assert_no_duplicates(records: &[serde_json::Value]) {
    let mut seen = std::collections::HashSet::new();
    for record in records {
        let id = record["eventID"].as_str().expect("an eventID");
        assert!(seen.insert(id), "event {id} delivered twice: {record}");
    }
}
