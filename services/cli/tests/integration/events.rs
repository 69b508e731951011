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

    // A time range (--start/--end are the short names of --start-time/--end-time).
    let later = lookup(
        &stack,
        &[
            "--resource-name",
            &key.key_id,
            "--start",
            "2099-01-01T00:00:00Z",
        ],
    )
    .await;
    let later = super::json_of(&["lookup", "--start"], &later);
    assert_eq!(later["Events"].as_array().map(Vec::len), Some(0), "{later}");
    let until_now = lookup(
        &stack,
        &[
            "--resource-name",
            &key.key_id,
            "--end",
            &chrono::Utc::now().to_rfc3339(),
        ],
    )
    .await;
    let until_now = super::json_of(&["lookup", "--end"], &until_now);
    assert_eq!(until_now["Events"][0]["EventName"], "CreateKey");

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

#[tokio::test]
async fn tail_prints_new_events_as_json_lines_and_ctrl_c_ends_it() {
    use tokio::io::AsyncBufReadExt;
    let stack = TrailStack::start(&[]).await;
    let endpoint = [(
        "KEYHOLD_AUDIT_ENDPOINT",
        format!("http://{}", stack.audit_address),
    )];
    let args = ["events", "tail", "--event-name", "CreateKey"];
    let mut tail = super::command(Who::User1, &endpoint, &args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run keyhold events tail");
    let mut lines = tokio::io::BufReader::new(tail.stdout.take().unwrap()).lines();
    let mut kms = stack.object.kms.client(Who::User1);
    // The tail follows from when it subscribed: keys are made until one shows.
    let line = loop {
        lab_user_key(&mut kms).await;
        let next = tokio::time::timeout(Duration::from_millis(500), lines.next_line()).await;
        if let Ok(line) = next {
            break line.expect("read the tail").expect("a line");
        }
    };
    let event: Value = serde_json::from_str(&line).expect("one JSON event per line");
    assert_eq!(event["EventName"], "CreateKey");
    assert_eq!(event["Username"], "AWSLabsUser-0001");

    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &tail.id().unwrap().to_string()])
        .status()
        .expect("kill -INT");
    assert!(interrupted.success());
    let status = tokio::time::timeout(Duration::from_secs(10), tail.wait())
        .await
        .expect("the tail ends on Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
