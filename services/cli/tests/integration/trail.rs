//! `keyhold trail`: the lab's step 2 from the terminal.

use keyhold_tests::{Who, trails::TrailStack};
use serde_json::Value;

async fn trail(stack: &TrailStack, args: &[&str]) -> std::process::Output {
    let (access_key, secret) = Who::User1.credentials().expect("keys");
    tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhold"))
        .arg("trail")
        .args(args)
        .env_clear()
        .env(
            "KEYHOLD_AUDIT_ENDPOINT",
            format!("http://{}", stack.audit_address),
        )
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .output()
        .await
        .expect("run keyhold")
}

async fn json(stack: &TrailStack, args: &[&str]) -> Value {
    let output = trail(stack, args).await;
    assert!(
        output.status.success(),
        "keyhold trail {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
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
