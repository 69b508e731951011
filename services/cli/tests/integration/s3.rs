//! `keyhold s3`: the lab's object steps from the terminal, with the AWS CLI's reports
//! (`upload: ... to s3://...`) and its failures (`upload failed: ...`, exit status 1).

use std::process::Output;

use keyhold_tests::{Who, kms::lab_user_key, lab::SIGV4, trails::TrailStack};

async fn s3(stack: &TrailStack, who: Who, args: &[&str]) -> Output {
    super::keyhold(who, &super::endpoints(stack), &[&["s3"], args].concat()).await
}

async fn ok(stack: &TrailStack, args: &[&str]) -> String {
    super::stdout_of(args, &s3(stack, Who::User1, args).await)
}

async fn json(stack: &TrailStack, args: &[&str]) -> serde_json::Value {
    super::json_of(args, &s3(stack, Who::User1, args).await)
}

async fn anonymous_get(url: &str) -> (u16, Vec<u8>) {
    let response = reqwest::get(url).await.expect("GET");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn the_lab_object_steps_from_the_terminal() {
    let stack = TrailStack::start(&[]).await;
    let key = lab_user_key(&mut stack.object.kms.client(Who::User1)).await;
    let dir = stack.object.workdir.join("cli-s3");
    std::fs::create_dir_all(&dir).unwrap();
    // Over the progress bar's threshold (the bar itself only draws on a terminal).
    let image: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let file = dir.join("lab-image.png");
    std::fs::write(&file, &image).unwrap();
    let file = file.to_str().unwrap();

    assert_eq!(
        ok(&stack, &["mb", "s3://cli-lab"]).await,
        "make_bucket: cli-lab\n"
    );
    let uploaded = ok(
        &stack,
        &[
            "cp",
            file,
            "s3://cli-lab/images/",
            "--sse",
            "aws:kms",
            "--sse-kms-key-id",
            &key.key_id,
        ],
    )
    .await;
    assert_eq!(
        uploaded,
        format!("upload: {file} to s3://cli-lab/images/lab-image.png\n")
    );

    let head = super::json_of(
        &["head-object"],
        &s3(
            &stack,
            Who::User1,
            &[
                "head-object",
                "--bucket",
                "cli-lab",
                "--key",
                "images/lab-image.png",
            ],
        )
        .await,
    );
    assert_eq!(head["Head"]["ContentLength"], image.len());
    assert_eq!(head["Head"]["ServerSideEncryption"], "aws:kms");
    assert_eq!(head["Head"]["SsekmsKeyId"], key.arn.as_str());

    let folders = ok(&stack, &["ls", "s3://cli-lab/"]).await;
    assert_eq!(folders, format!("{:>30} images/\n", "PRE"));
    let listed = ok(&stack, &["ls", "s3://cli-lab/images/"]).await;
    assert!(
        listed.ends_with(&format!(" {:>10} lab-image.png\n", image.len())),
        "{listed}"
    );
    let buckets = ok(&stack, &["ls"]).await;
    assert!(buckets.trim_end().ends_with(" cli-lab"), "{buckets}");

    // Back to a file (into a directory: the key's name), and to standard output.
    let back = dir.join("back");
    std::fs::create_dir_all(&back).unwrap();
    let downloaded = ok(
        &stack,
        &[
            "cp",
            "s3://cli-lab/images/lab-image.png",
            back.to_str().unwrap(),
        ],
    )
    .await;
    let copy = back.join("lab-image.png");
    assert_eq!(
        downloaded,
        format!(
            "download: s3://cli-lab/images/lab-image.png to {}\n",
            copy.display()
        )
    );
    assert!(std::fs::read(&copy).unwrap() == image);
    let piped = s3(
        &stack,
        Who::User1,
        &["cp", "s3://cli-lab/images/lab-image.png", "-"],
    )
    .await;
    assert!(piped.status.success());
    assert!(piped.stdout == image);

    // Step 4: the presigned URL opens it; the plain URL is refused.
    let url = ok(
        &stack,
        &[
            "presign",
            "s3://cli-lab/images/lab-image.png",
            "--expires-in",
            "60",
        ],
    )
    .await;
    let (status, body) = anonymous_get(url.trim()).await;
    assert_eq!(status, 200);
    assert!(body == image);
    let plain = format!(
        "http://{}/cli-lab/images/lab-image.png",
        stack.object.s3_address
    );
    let (status, body) = anonymous_get(&plain).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));

    // Step 5 with the s3api commands: public, and still unreadable without SigV4.
    ok(
        &stack,
        &[
            "put-public-access-block",
            "--bucket",
            "cli-lab",
            "--public-access-block-configuration",
            "BlockPublicAcls=false,IgnorePublicAcls=false,BlockPublicPolicy=false,RestrictPublicBuckets=false",
        ],
    )
    .await;
    ok(
        &stack,
        &[
            "put-bucket-ownership-controls",
            "--bucket",
            "cli-lab",
            "--object-ownership",
            "BucketOwnerPreferred",
        ],
    )
    .await;
    ok(
        &stack,
        &[
            "put-object-acl",
            "--bucket",
            "cli-lab",
            "--key",
            "images/lab-image.png",
            "--acl",
            "public-read",
        ],
    )
    .await;
    let (status, body) = anonymous_get(&plain).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains(SIGV4));

    let encryption = super::json_of(
        &["get-bucket-encryption"],
        &s3(
            &stack,
            Who::User1,
            &["get-bucket-encryption", "--bucket", "cli-lab"],
        )
        .await,
    );
    assert_eq!(
        encryption["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
            ["SseAlgorithm"],
        "AES256"
    );

    // A bucket with an object in it stays, as `aws s3 rb` reports it.
    let refused = s3(&stack, Who::User1, &["rb", "s3://cli-lab"]).await;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.starts_with("remove_bucket failed: s3://cli-lab An error occurred (BucketNotEmpty) when calling the DeleteBucket operation: "),
        "{stderr}"
    );
    assert_eq!(
        ok(&stack, &["rm", "s3://cli-lab/images/lab-image.png"]).await,
        "delete: s3://cli-lab/images/lab-image.png\n"
    );
    assert_eq!(
        ok(&stack, &["rb", "s3://cli-lab"]).await,
        "remove_bucket: cli-lab\n"
    );
}

#[tokio::test]
async fn refusals_and_local_errors_are_reported_and_store_nothing() {
    let stack = TrailStack::start(&[]).await;
    let key = lab_user_key(&mut stack.object.kms.client(Who::User1)).await;
    ok(&stack, &["mb", "s3://cli-errors"]).await;
    let dir = stack.object.workdir.join("cli-s3-errors");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("note.txt");
    std::fs::write(&file, b"a note").unwrap();
    let file = file.to_str().unwrap();

    // Another user may not write into the lab user's bucket with the lab user's key.
    let denied = s3(
        &stack,
        Who::User2,
        &[
            "cp",
            file,
            "s3://cli-errors/note.txt",
            "--sse",
            "aws:kms",
            "--sse-kms-key-id",
            &key.arn,
        ],
    )
    .await;
    assert_eq!(denied.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.starts_with(&format!(
            "upload failed: {file} to s3://cli-errors/note.txt An error occurred (AccessDenied) when calling the PutObject operation: "
        )),
        "{stderr}"
    );

    let missing = s3(
        &stack,
        Who::User1,
        &["cp", "/nonexistent/x.png", "s3://cli-errors/x.png"],
    )
    .await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent/x.png"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    // A download that fails leaves no file behind, not even a partial one.
    let target = dir.join("absent.txt");
    let absent = s3(
        &stack,
        Who::User1,
        &["cp", "s3://cli-errors/absent.txt", target.to_str().unwrap()],
    )
    .await;
    assert_eq!(absent.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&absent.stderr)
            .contains("An error occurred (NoSuchKey) when calling the GetObject operation"),
        "{}",
        String::from_utf8_lossy(&absent.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("note.txt")]);

    // The refused upload stored nothing.
    let listed = ok(&stack, &["ls", "s3://cli-errors/"]).await;
    assert_eq!(listed, "", "nothing was stored");
    let usage = s3(&stack, Who::User1, &["presign", "s3://cli-errors/"]).await;
    assert_eq!(usage.status.code(), Some(2));
    let bad_block = s3(
        &stack,
        Who::User1,
        &[
            "put-public-access-block",
            "--bucket",
            "cli-errors",
            "--public-access-block-configuration",
            "BlockPublicAcls=maybe",
        ],
    )
    .await;
    assert_eq!(bad_block.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad_block.stderr).contains("BlockPublicAcls takes true or false")
    );
}

#[tokio::test]
async fn standard_input_uploads_to_the_key_given() {
    let stack = TrailStack::start(&[]).await;
    ok(&stack, &["mb", "s3://cli-stdin"]).await;
    let mut command = super::command(
        Who::User1,
        &super::endpoints(&stack),
        &[
            "s3",
            "cp",
            "-",
            "s3://cli-stdin/from-stdin.txt",
            "--sse",
            "AES256",
        ],
    );
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"piped bytes").await.unwrap();
    }
    let output = child.wait_with_output().await.unwrap();
    assert_eq!(
        super::stdout_of(&["cp", "-"], &output),
        "upload: - to s3://cli-stdin/from-stdin.txt\n"
    );
    let back = s3(
        &stack,
        Who::User1,
        &["cp", "s3://cli-stdin/from-stdin.txt", "-"],
    )
    .await;
    assert_eq!(back.stdout, b"piped bytes");
    let no_key = s3(&stack, Who::User1, &["cp", "-", "s3://cli-stdin/"]).await;
    assert_eq!(no_key.status.code(), Some(1));
}

#[tokio::test]
async fn the_bucket_settings_commands_read_back_what_they_set() {
    let stack = TrailStack::start(&[]).await;
    let key = lab_user_key(&mut stack.object.kms.client(Who::User1)).await;
    ok(&stack, &["mb", "s3://cli-settings"]).await;
    let blocked = json(
        &stack,
        &["get-public-access-block", "--bucket", "cli-settings"],
    )
    .await;
    assert_eq!(
        blocked["PublicAccessBlockConfiguration"]["BlockPublicAcls"],
        true
    );
    ok(
        &stack,
        &["delete-public-access-block", "--bucket", "cli-settings"],
    )
    .await;
    let missing = s3(
        &stack,
        Who::User1,
        &["get-public-access-block", "--bucket", "cli-settings"],
    )
    .await;
    assert_eq!(missing.status.code(), Some(254));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("An error occurred (NoSuchPublicAccessBlockConfiguration) when calling the GetPublicAccessBlock operation"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    let owned = json(
        &stack,
        &["get-bucket-ownership-controls", "--bucket", "cli-settings"],
    )
    .await;
    assert_eq!(
        owned["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
        "BucketOwnerEnforced"
    );
    ok(
        &stack,
        &[
            "put-bucket-ownership-controls",
            "--bucket",
            "cli-settings",
            "--object-ownership",
            "ObjectWriter",
        ],
    )
    .await;

    ok(
        &stack,
        &[
            "put-bucket-encryption",
            "--bucket",
            "cli-settings",
            "--sse-algorithm",
            "aws:kms",
            "--kms-master-key-id",
            &key.arn,
            "--bucket-key-enabled",
        ],
    )
    .await;
    let encryption = super::json_of(
        &["get-bucket-encryption"],
        &s3(
            &stack,
            Who::User1,
            &["get-bucket-encryption", "--bucket", "cli-settings"],
        )
        .await,
    );
    let rule = &encryption["ServerSideEncryptionConfiguration"]["Rules"][0];
    assert_eq!(
        rule["ApplyServerSideEncryptionByDefault"]["SseAlgorithm"],
        "aws:kms"
    );
    assert_eq!(
        rule["ApplyServerSideEncryptionByDefault"]["KmsMasterKeyId"],
        key.arn.as_str()
    );
    assert_eq!(rule["BucketKeyEnabled"], true);

    // An object written without --sse takes the bucket's key; its ACL reads back.
    let dir = stack.object.workdir.join("cli-settings");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("note.txt");
    std::fs::write(&file, b"default encryption").unwrap();
    ok(
        &stack,
        &[
            "cp",
            file.to_str().unwrap(),
            "s3://cli-settings/note.txt",
            "--acl",
            "public-read",
        ],
    )
    .await;
    let head = json(
        &stack,
        &[
            "head-object",
            "--bucket",
            "cli-settings",
            "--key",
            "note.txt",
        ],
    )
    .await;
    assert_eq!(head["Head"]["SsekmsKeyId"], key.arn.as_str());
    let acl = json(
        &stack,
        &[
            "get-object-acl",
            "--bucket",
            "cli-settings",
            "--key",
            "note.txt",
        ],
    )
    .await;
    assert!(
        acl["Grants"]
            .as_array()
            .unwrap()
            .iter()
            .any(
                |g| g["Grantee"]["Uri"] == "http://acs.amazonaws.com/groups/global/AllUsers"
                    && g["Permission"] == "READ"
            ),
        "{acl}"
    );
    let no_bucket = s3(
        &stack,
        Who::User1,
        &["get-bucket-encryption", "--bucket", "cli-none"],
    )
    .await;
    assert_eq!(no_bucket.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&no_bucket.stderr).contains("(NoSuchBucket)"));
}
