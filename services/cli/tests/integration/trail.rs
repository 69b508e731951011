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
