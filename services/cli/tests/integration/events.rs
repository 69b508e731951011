//! `keyhold events lookup` against audit-svc with kms-svc streaming its records to it.

use std::time::{Duration, Instant};

use keyhold_tests::{Who, kms::lab_user_key, trails::TrailStack};
use serde_json::Value;

async fn lookup(stack: &TrailStack, args: &[&str]) -> std::process::Output {
    let endpoint = [(
        "KEYHOLD_AUDIT_ENDPOINT",
        format!("http://{}", stack.audit_address),
    )];
    super::keyhold(
        Who::User1,
        &endpoint,
        &[&["events", "lookup"], args].concat(),
    )
    .await
}

#[tokio::test]
async fn lookup_finds_a_keys_events_newest_first_a_page_at_a_time() {
    let stack = TrailStack::start(&[]).await;
    let key = lab_user_key(&mut stack.object.kms.client(Who::User1)).await;
    let started = Instant::now();
    let page = loop {
        let output = lookup(
            &stack,
            &["--resource-name", &key.key_id, "--max-results", "1"],
        )
        .await;
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let page: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        if !page["Events"].as_array().unwrap().is_empty() {
            break page;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no event for the key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(page["Events"][0]["EventName"], "CreateKey");
    assert!(page["Events"][0]["EventTime"].is_number());
    assert_eq!(page["Events"][0]["Username"], "AWSLabsUser-0001");

    let refused = lookup(&stack, &["--username", "x", "--event-name", "y"]).await;
    assert_eq!(
        refused.status.code(),
        Some(2),
        "one attribute at most, as AWS"
    );
    let bad_time = lookup(&stack, &["--start-time", "yesterday"]).await;
    assert_eq!(bad_time.status.code(), Some(254));
    assert!(
        String::from_utf8_lossy(&bad_time.stderr)
            .contains("when calling the LookupEvents operation"),
        "{}",
        String::from_utf8_lossy(&bad_time.stderr)
    );
}
