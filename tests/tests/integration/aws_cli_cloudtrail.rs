//! `aws cloudtrail` against audit-svc's AWS JSON port: LookupEvents by resource, user
//! and event name with the CLI's own paging, and the trail operations, over records
//! that `aws kms` calls made.

use std::time::{Duration, Instant};

use keyhold_tests::{
    Who,
    aws_cli::{AwsEndpoints, Cli, text},
    kms::{USER1_ARN, console_policy},
    trails::TrailStack,
};
use serde_json::Value;

use super::trails::{arn, create_with_bucket};

fn cli(stack: &TrailStack) -> Cli {
    Cli::new(
        stack.object.workdir.join("aws-cli"),
        AwsEndpoints {
            kms: Some(stack.object.kms.aws_endpoint()),
            cloudtrail: Some(stack.cloudtrail_endpoint()),
            s3: Some(stack.object.s3_endpoint()),
        },
    )
}

/// `lookup-events` with `args` until it lists at least `count` events (records reach
/// audit-svc a moment after the calls); the whole output.
async fn lookup_until(cli: &Cli, args: &[&str], count: usize) -> Value {
    let started = Instant::now();
    let command: Vec<&str> = ["cloudtrail", "lookup-events"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    loop {
        let found = cli.ok(Who::User1, &command).await;
        if found["Events"].as_array().map_or(0, Vec::len) >= count {
            return found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "lookup-events {args:?} found only {found}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn event_names(found: &Value) -> Vec<String> {
    found["Events"]
        .as_array()
        .expect("Events")
        .iter()
        .map(|event| text(event, "/EventName").to_owned())
        .collect()
}

#[tokio::test]
async fn lookup_events_finds_the_cli_calls_by_resource_user_and_name() {
    let stack = TrailStack::start(&[]).await;
    let cli = cli(&stack);
    let policy = console_policy(&[USER1_ARN], &[USER1_ARN]);
    let policy = cli.file("policy.json", policy.as_bytes(), "file");
    let created = cli
        .ok(Who::User1, &["kms", "create-key", "--policy", &policy])
        .await;
    let key_id = text(&created, "/KeyMetadata/KeyId").to_owned();
    for _ in 0..3 {
        cli.ok(Who::User1, &["kms", "describe-key", "--key-id", &key_id])
            .await;
    }

    let by_key = format!("AttributeKey=ResourceName,AttributeValue={key_id}");
    let found = lookup_until(&cli, &["--lookup-attributes", &by_key], 4).await;
    // Newest first; events of the same second (EventTime has whole seconds, as
    // CloudTrail's) in no particular order.
    let mut names = event_names(&found);
    names.sort();
    assert_eq!(
        names,
        ["CreateKey", "DescribeKey", "DescribeKey", "DescribeKey"]
    );
    let events = found["Events"].as_array().unwrap();
    let times: Vec<f64> = events
        .iter()
        .map(|event| event["EventTime"].as_f64().expect("an epoch EventTime"))
        .collect();
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]), "{times:?}");
    let created = events
        .iter()
        .find(|event| event["EventName"] == "CreateKey")
        .expect("the CreateKey event");
    let record: Value =
        serde_json::from_str(text(created, "/CloudTrailEvent")).expect("CloudTrailEvent JSON");
    assert_eq!(record["eventSource"], "kms.amazonaws.com");
    assert_eq!(record["eventName"], "CreateKey");
    assert!(
        text(&record, "/userAgent").starts_with("aws-cli/"),
        "{record}"
    );
    assert_eq!(created["Username"], "AWSLabsUser-0001");

    // The CLI pages with --max-items and its own NextToken.
    let by_name = "AttributeKey=EventName,AttributeValue=DescribeKey";
    let page = |token: Option<String>| {
        let cli = &cli;
        async move {
            let mut args = vec![
                "cloudtrail",
                "lookup-events",
                "--lookup-attributes",
                by_name,
            ];
            args.extend(["--max-items", "2"]);
            if let Some(token) = &token {
                args.extend(["--starting-token", token.as_str()]);
            }
            cli.ok(Who::User1, &args).await
        }
    };
    let first = page(None).await;
    assert_eq!(event_names(&first), ["DescribeKey", "DescribeKey"]);
    let rest = page(Some(text(&first, "/NextToken").to_owned())).await;
    assert_eq!(event_names(&rest), ["DescribeKey"]);
    assert!(rest.get("NextToken").is_none(), "{rest}");

    let by_user = "AttributeKey=Username,AttributeValue=AWSLabsUser-0001";
    let mine = lookup_until(&cli, &["--lookup-attributes", by_user], 4).await;
    assert!(event_names(&mine).contains(&"CreateKey".to_owned()));

    let (code, message) = cli
        .fails(
            Who::User1,
            &[
                "cloudtrail",
                "lookup-events",
                "--lookup-attributes",
                "AttributeKey=Colour,AttributeValue=red",
            ],
        )
        .await;
    assert_eq!(code, "InvalidLookupAttributesException", "{message}");
}

#[tokio::test]
async fn trails_are_managed_with_the_cli() {
    let stack = TrailStack::start(&[]).await;
    let cli = cli(&stack);
    // The bucket with CloudTrail's policy, as the console makes it (gRPC: the AWS
    // protocol has no such option).
    create_with_bucket(&mut stack.trails(Who::User1), "lab", "cli-trail-bucket").await;

    let described = cli
        .ok(
            Who::User1,
            &["cloudtrail", "describe-trails", "--trail-name-list", "lab"],
        )
        .await;
    assert_eq!(described["trailList"][0]["Name"], "lab");
    assert_eq!(described["trailList"][0]["TrailARN"], arn("lab"));
    assert_eq!(
        described["trailList"][0]["S3BucketName"],
        "cli-trail-bucket"
    );

    let listed = cli.ok(Who::User1, &["cloudtrail", "list-trails"]).await;
    assert_eq!(listed["Trails"][0]["TrailARN"], arn("lab"));

    cli.ok(
        Who::User1,
        &["cloudtrail", "start-logging", "--name", "lab"],
    )
    .await;
    let status = cli
        .ok(
            Who::User1,
            &["cloudtrail", "get-trail-status", "--name", "lab"],
        )
        .await;
    assert_eq!(status["IsLogging"], true);
    assert!(status["StartLoggingTime"].is_number(), "{status}");

    let selectors = cli
        .ok(
            Who::User1,
            &[
                "cloudtrail",
                "put-event-selectors",
                "--trail-name",
                "lab",
                "--event-selectors",
                r#"[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": true}]"#,
            ],
        )
        .await;
    assert_eq!(selectors["TrailARN"], arn("lab"));
    let got = cli
        .ok(
            Who::User1,
            &["cloudtrail", "get-event-selectors", "--trail-name", "lab"],
        )
        .await;
    assert_eq!(got["EventSelectors"][0]["ReadWriteType"], "WriteOnly");

    let (code, _) = cli
        .fails(
            Who::User1,
            &["cloudtrail", "get-trail-status", "--name", "nope"],
        )
        .await;
    assert_eq!(code, "TrailNotFoundException");
    cli.ok(Who::User1, &["cloudtrail", "delete-trail", "--name", "lab"])
        .await;
}
