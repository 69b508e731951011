//! The real AWS CLI against the S3 endpoint (the machine's, or the one
//! `keyhold_tests::tools` installs): `aws s3 mb`, `aws s3 cp` of a 20 MiB file with SSE-KMS up and back (the CLI
//! uses multipart above 8 MB), `aws s3api head-object` naming the key ARN, and an
//! `aws s3 presign` URL fetched with curl.

use std::{path::Path, process::Output};

use keyhold_tests::{
    ObjectHarness, Who,
    aws_cli::{AwsEndpoints, aws_command},
    lab,
};
use tokio::process::Command;

/// `aws <args>` as User1, pointed at the S3 endpoint by `AWS_ENDPOINT_URL_S3`.
fn aws(harness: &ObjectHarness, home: &Path, args: &[&str]) -> Command {
    let endpoints = AwsEndpoints {
        s3: Some(harness.s3_endpoint()),
        ..Default::default()
    };
    let mut command = aws_command(home, Who::User1, &endpoints);
    command.args(args);
    command
}

async fn run(mut command: Command) -> String {
    let output: Output = match command.output().await {
        Ok(output) => output,
        Err(error) => panic!("cannot run the AWS CLI ({error})"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_aws_cli_works_against_keyhold() {
    let (harness, _, key) = lab::start().await;
    let home = harness.workdir.join("cli-home");
    std::fs::create_dir_all(&home).unwrap();
    // AWS CLI v1 presigns with SigV2 unless told otherwise; keyhold, like AWS regions
    // opened since 2014, takes SigV4 only. (CLI v2 signs SigV4 by default.)
    std::fs::write(
        home.join("config"),
        "[default]\ns3 =\n    signature_version = s3v4\n",
    )
    .unwrap();
    let upload = home.join("upload.bin");
    let data: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&upload, &data).unwrap();

    run(aws(&harness, &home, &["s3", "mb", "s3://cli-bucket"])).await;
    run(aws(
        &harness,
        &home,
        &[
            "s3",
            "cp",
            upload.to_str().unwrap(),
            "s3://cli-bucket/data/upload.bin",
            "--sse",
            "aws:kms",
            "--sse-kms-key-id",
            "alias/myFirstKey",
        ],
    ))
    .await;
    let download = home.join("download.bin");
    run(aws(
        &harness,
        &home,
        &[
            "s3",
            "cp",
            "s3://cli-bucket/data/upload.bin",
            download.to_str().unwrap(),
        ],
    ))
    .await;
    assert!(
        std::fs::read(&download).unwrap() == data,
        "the bytes came back unchanged"
    );

    let head = run(aws(
        &harness,
        &home,
        &[
            "s3api",
            "head-object",
            "--bucket",
            "cli-bucket",
            "--key",
            "data/upload.bin",
        ],
    ))
    .await;
    let head: serde_json::Value = serde_json::from_str(&head).unwrap();
    assert_eq!(head["ServerSideEncryption"], "aws:kms");
    assert_eq!(head["SSEKMSKeyId"], key.arn.as_str());
    assert_eq!(head["ContentLength"], data.len());

    let listing = run(aws(&harness, &home, &["s3", "ls", "s3://cli-bucket/data/"])).await;
    assert!(listing.contains("upload.bin"), "{listing}");

    let url = run(aws(
        &harness,
        &home,
        &[
            "s3",
            "presign",
            "s3://cli-bucket/data/upload.bin",
            "--expires-in",
            "300",
        ],
    ))
    .await;
    let fetched = home.join("fetched.bin");
    let mut curl = Command::new("curl");
    curl.args(["-fsS", "-o", fetched.to_str().unwrap(), url.trim()]);
    run(curl).await;
    assert!(
        std::fs::read(&fetched).unwrap() == data,
        "curl got the plaintext"
    );
}
