//! `keyhold trail`: the lab's step 2 from the terminal.

use keyhold_tests::{Who, trails::TrailStack};
use serde_json::Value;

async fn trail(stack: &TrailStack, args: &[&str]) -> std::process::Output {
    let endpoint = [(
        "KEYHOLD_AUDIT_ENDPOINT",
        format!("http://{}", stack.audit_address),
    )];
    super::keyhold(Who::User1, &endpoint, &[&["trail"], args].concat()).await
}

async fn json(stack: &TrailStack, args: &[&str]) -> Value {
    super::json_of(args, &trail(stack, args).await)
}

#[tokio::test]
async fn the_lab_trail_step_from_the_terminal() {
    let stack = TrailStack::start(&[]).await;
    let created = json(
        &stack,
        &[
            "create",
            "--name",
            "myTrail",
            "--s3-bucket-name",
            "cli-trail-logs",
            "--new-bucket",
            "--insights",
            "both",
        ],
    )
    .await;
    assert_eq!(
        created["TrailARN"],
        "arn:aws:cloudtrail:us-east-1:000000000000:trail/myTrail"
    );
    assert_eq!(created["LogFileValidationEnabled"], true);
    let status = json(&stack, &["status", "--name", "myTrail"]).await;
    assert_eq!(status["IsLogging"], true);
    let described = json(&stack, &["describe"]).await;
    assert_eq!(described["trailList"][0]["HasInsightSelectors"], true);
    json(&stack, &["stop", "--name", "myTrail"]).await;
    assert_eq!(
        json(&stack, &["status", "--name", "myTrail"]).await["IsLogging"],
        false
    );

    let missing = trail(&stack, &["status", "--name", "nope"]).await;
    assert_eq!(missing.status.code(), Some(254));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains(
            "An error occurred (TrailNotFoundException) when calling the GetTrailStatus operation"
        ),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

/// Signs digests every 2 seconds (the default is an hour).
const MASTER_KEY: &str = "dGVzdC1vbmx5LWF1ZGl0LW1hc3Rlci1rZXktMzJieXQ=";

#[tokio::test]
async fn validate_logs_start_and_delete() {
    let stack =
        TrailStack::start(&["--digest-interval-seconds", "2", "--master-key", MASTER_KEY]).await;
    let started = chrono::Utc::now().to_rfc3339();
    json(
        &stack,
        &[
            "create",
            "--name",
            "checked",
            "--s3-bucket-name",
            "cli-checked-logs",
            "--new-bucket",
        ],
    )
    .await;
    // Something to log: the trail's own calls, and a few more.
    json(&stack, &["stop", "--name", "checked"]).await;
    json(&stack, &["start", "--name", "checked"]).await;
    let endpoints = super::endpoints(&stack);
    let mut listed = String::new();
    for _ in 0..100 {
        let output = super::keyhold(
            Who::User1,
            &endpoints,
            &["s3", "ls", "--recursive", "s3://cli-checked-logs/"],
        )
        .await;
        listed = super::stdout_of(&["s3", "ls"], &output);
        if listed.contains("CloudTrail-Digest") && listed.contains("_CloudTrail_") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert!(
        listed.contains("CloudTrail-Digest"),
        "no digest delivered:\n{listed}"
    );
    let validate = [
        "validate-logs",
        "--name",
        "checked",
        "--start-time",
        started.as_str(),
    ];
    let valid = trail(&stack, &validate).await;
    let printed = super::stdout_of(&validate, &valid);
    assert!(printed.contains("digest files valid"), "{printed}");

    // A log file removed from the bucket: named, and the exit status says so.
    let log = listed
        .lines()
        .filter_map(|line| line.split_whitespace().last())
        .find(|key| key.contains("_CloudTrail_") && !key.contains("Digest"))
        .expect("a log file")
        .to_owned();
    let removed = super::keyhold(
        Who::User1,
        &endpoints,
        &["s3", "rm", &format!("s3://cli-checked-logs/{log}")],
    )
    .await;
    assert!(removed.status.success());
    let invalid = trail(&stack, &validate).await;
    assert_eq!(invalid.status.code(), Some(1));
    let printed = String::from_utf8_lossy(&invalid.stdout);
    assert!(
        printed.contains(&format!(
            "Log file\ts3://cli-checked-logs/{log}\tINVALID: not found"
        )),
        "{printed}"
    );

    json(&stack, &["delete", "--name", "checked"]).await;
    let gone = trail(&stack, &["delete", "--name", "checked"]).await;
    assert_eq!(gone.status.code(), Some(254));
    assert!(
        String::from_utf8_lossy(&gone.stderr)
            .contains("(TrailNotFoundException) when calling the DeleteTrail operation")
    );
}
