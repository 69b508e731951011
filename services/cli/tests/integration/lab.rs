//! `keyhold lab` against the three services: it passes end to end and cleans up,
//! keeps what it made with --keep, and fails visibly when kms-svc does not enforce
//! key policies (the mutation check, built with `--features mutant-kms`).

use keyhold_proto::audit::v1::DescribeTrailsRequest;
use keyhold_proto::object::v1::ListBucketsRequest;
use keyhold_tests::{Who, trails::TrailStack};

async fn lab(stack: &TrailStack, args: &[&str]) -> (Option<i32>, String) {
    let output = super::keyhold(
        Who::User1,
        &super::endpoints(stack),
        &[&["lab"], args].concat(),
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.code(), format!("{stdout}{stderr}"))
}

/// The names of the lab user's trails.
async fn trails(stack: &TrailStack) -> Vec<String> {
    let described = stack
        .trails(Who::User1)
        .describe_trails(DescribeTrailsRequest::default())
        .await
        .unwrap()
        .into_inner();
    described.trail_list.into_iter().map(|t| t.name).collect()
}

#[tokio::test]
#[cfg_attr(
    feature = "mutant-kms",
    ignore = "this build's kms-svc ignores key policies"
)]
async fn the_lab_passes_end_to_end_and_cleans_up() {
    let stack = TrailStack::start(&[]).await;
    let (status, out) = lab(&stack, &[]).await;
    assert_eq!(status, Some(0), "{out}");
    for step in 1..=6 {
        assert!(
            out.contains(&format!("\nStep {step}: ")),
            "step {step} missing:\n{out}"
        );
    }
    assert!(!out.contains("FAIL"), "{out}");
    assert!(
        out.contains(
            "[ok  ] at once, the image no longer opens (AccessDenied, kms:Decrypt): AccessDenied: "
        ),
        "{out}"
    );
    assert!(out.contains("[ok  ] the image anonymously: 400 InvalidArgument: Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4."), "{out}");
    assert!(
        out.contains("Every step behaved as in the AWS lab."),
        "{out}"
    );
    assert!(
        out.contains("GenerateDataKey"),
        "the key's events are listed:\n{out}"
    );
    assert!(
        out.contains("Decrypt (AccessDenied)"),
        "the refusal is among them:\n{out}"
    );
    assert!(out.contains("Cleaned up"), "{out}");

    // Nothing of the run is left: no trail, no bucket.
    assert!(trails(&stack).await.is_empty());
    let buckets = stack
        .objects(Who::User1)
        .list_buckets(ListBucketsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(buckets.buckets.is_empty(), "{:?}", buckets.buckets);
}

#[tokio::test]
#[cfg_attr(
    feature = "mutant-kms",
    ignore = "this build's kms-svc ignores key policies"
)]
async fn one_step_kept_for_exploring() {
    let stack = TrailStack::start(&[]).await;
    // As the README shows it.
    let (status, out) = lab(&stack, &["--step", "3", "--keep"]).await;
    assert_eq!(status, Some(0), "{out}");
    assert!(out.contains("\nStep 3: "), "{out}");
    assert!(!out.contains("\nStep 4: "), "{out}");
    assert!(out.contains("Kept for you to explore"), "{out}");
    assert_eq!(trails(&stack).await.len(), 1);
    let (status, _) = lab(&stack, &["--step", "7"]).await;
    assert_eq!(status, Some(2), "--step is 1 to 6");
}

/// The mutation check: kms-svc built to ignore key policies. Removing the user from
/// the key users changes nothing, and the lab must say so at step 6.
#[cfg(feature = "mutant-kms")]
#[tokio::test]
async fn the_lab_fails_step_6_when_key_policies_are_ignored() {
    let stack = TrailStack::start(&[]).await;
    let (status, out) = lab(&stack, &[]).await;
    assert_eq!(status, Some(1), "{out}");
    assert!(
        out.contains("[FAIL] at once, the image no longer opens"),
        "{out}"
    );
    assert!(out.contains("the lab deviated at step 6"), "{out}");
    assert!(!out.contains("deviated at step 1"), "{out}");
}
