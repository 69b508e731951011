//! The README's lab walk-through, run as written: the `sh` block after the
//! `lab-walkthrough` marker, with bash, against the three services, `keyhold` first
//! on PATH. A command the README shows that fails (or no longer exists) fails here.

use keyhold_tests::{Who, lab::SIGV4, trails::TrailStack};

/// The block after the marker, without its fences.
fn walkthrough() -> String {
    let readme = include_str!("../../../../README.md");
    let marker = readme
        .find("<!-- lab-walkthrough")
        .expect("the README's walk-through marker");
    let block = &readme[marker..];
    let start = block.find("```sh\n").expect("a sh block after the marker") + "```sh\n".len();
    let end = start + block[start..].find("\n```").expect("the block's end");
    block[start..end].to_owned()
}

#[tokio::test]
async fn the_readme_walkthrough_runs_as_written() {
    let stack = TrailStack::start(&[]).await;
    let dir = stack.object.workdir.join("readme");
    std::fs::create_dir_all(&dir).unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_keyhold"))
        .parent()
        .unwrap();
    let script = format!("set -euo pipefail\n{}", walkthrough());
    let (access_key, secret) = Who::User1.credentials().expect("keys");
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env_clear()
        .envs(super::endpoints(&stack))
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        )
        .current_dir(&dir)
        .output()
        .await
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let transcript = format!("{stdout}\n--- stderr ---\n{stderr}");
    assert!(output.status.success(), "{transcript}");
    for expected in [
        "KMS Key for S3 data",
        "\ntrue\n",
        "upload: lab-image.png to s3://mycloudtrailbucket",
        "\n200\n",
        "<Code>AccessDenied</Code><Message>Access Denied</Message>",
        "<Code>InvalidArgument</Code>",
        SIGV4,
        "\nrefused\n",
        // The key's newest events (which, within a second, CloudTrail does not order).
        "\tAWSLabsUser-0001\n",
    ] {
        assert!(
            transcript.contains(expected),
            "{expected:?} missing:\n{transcript}"
        );
    }
    assert!(
        stderr.contains("download failed: s3://mycloudtrailbucket")
            && stderr
                .contains("An error occurred (AccessDenied) when calling the GetObject operation")
            && stderr.contains("kms:Decrypt"),
        "{transcript}"
    );
}
