//! Log file integrity validation end to end: a validating trail's digest files land
//! in its bucket beside the log files, signed with a key ListPublicKeys returns (the
//! signature checked here with openssl, as any CloudTrail tool would), and
//! ValidateLogs finds a changed and a deleted log file by name, reading the bucket
//! with the caller's own S3 permissions.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Read as _,
    process::Command,
    time::{Duration, Instant},
};

use keyhold_proto::{
    audit::v1 as pb,
    object::v1::{DeleteObjectRequest, ListObjectsV2Request},
};
use keyhold_tests::{
    ObjectClient, Who,
    aws_cli::{AwsEndpoints, Cli},
    kms::console_key,
    object::{get, put, put_header},
    trails::{TrailClient, TrailStack, log_files},
};
use md5::Md5;
use sha2::{Digest as _, Sha256};

use super::{ACCOUNT, arn, start_logging};

const BUCKET: &str = "validated-trail-logs";
/// A public test key (32 bytes, base64): audit-svc seals its signing keys with it.
const MASTER_KEY: &str = "dGVzdC1vbmx5LWF1ZGl0LW1hc3Rlci1rZXktMzJieXQ=";

fn digest_prefix() -> String {
    format!("AWSLogs/{ACCOUNT}/CloudTrail-Digest/")
}

async fn validating_trail(stack: &TrailStack, name: &str) -> TrailClient {
    let mut trails = stack.trails(Who::User1);
    trails
        .create_trail(pb::CreateTrailRequest {
            name: name.into(),
            s3_bucket_name: BUCKET.into(),
            create_s3_bucket: true,
            enable_log_file_validation: true,
            ..Default::default()
        })
        .await
        .expect("CreateTrail");
    start_logging(&mut trails, name).await;
    trails
}

/// A digest file as delivered: its JSON and its object metadata.
struct DigestObject {
    json: serde_json::Value,
    gunzipped: Vec<u8>,
    metadata: BTreeMap<String, String>,
}

async fn digests(stack: &TrailStack) -> BTreeMap<String, DigestObject> {
    let mut objects = stack.objects(Who::User1);
    let keys = objects
        .list_objects_v2(ListObjectsV2Request {
            bucket: BUCKET.into(),
            prefix: digest_prefix(),
            ..Default::default()
        })
        .await
        .expect("list the digests")
        .into_inner()
        .contents;
    let keys: Vec<String> = keys.into_iter().map(|object| object.key).collect();
    let mut found = BTreeMap::new();
    for key in keys {
        let (head, gzip) = get(&mut objects, BUCKET, &key).await.expect("a digest");
        let mut gunzipped = Vec::new();
        flate2::read::GzDecoder::new(gzip.as_slice())
            .read_to_end(&mut gunzipped)
            .expect("gzip");
        found.insert(
            key,
            DigestObject {
                json: serde_json::from_slice(&gunzipped).expect("digest JSON"),
                gunzipped,
                metadata: head.metadata.into_iter().collect(),
            },
        );
    }
    found
}

/// The log files the digests name.
fn named_log_files<'a>(digests: impl IntoIterator<Item = &'a DigestObject>) -> BTreeSet<String> {
    digests
        .into_iter()
        .flat_map(|d| d.json["logFiles"].as_array().cloned().unwrap_or_default())
        .map(|f| f["s3Object"].as_str().expect("s3Object").to_owned())
        .collect()
}

/// Calls at two times, so two log files at least, each named by a digest; the
/// digests then.
async fn two_log_files_digested(stack: &TrailStack) -> BTreeMap<String, DigestObject> {
    let mut kms = stack.object.kms.client(Who::User1);
    let mut found = BTreeMap::new();
    for files in 1..=2 {
        console_key(&mut kms, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await;
        found = digests_when(stack, |digests| {
            named_log_files(digests.values()).len() >= files
        })
        .await;
    }
    found
}

/// Waits (60 s at most) until `done` holds of the digests in the bucket.
async fn digests_when(
    stack: &TrailStack,
    done: impl Fn(&BTreeMap<String, DigestObject>) -> bool,
) -> BTreeMap<String, DigestObject> {
    let started = Instant::now();
    loop {
        let found = digests(stack).await;
        if done(&found) {
            return found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the digests never got there: {:?}",
            found.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn validate(
    trails: &mut TrailClient,
    name: &str,
    start: &str,
) -> Result<(Vec<pb::FileValidation>, pb::ValidationSummary), tonic::Status> {
    let mut stream = trails
        .validate_logs(pb::ValidateLogsRequest {
            trail_name: name.into(),
            start_time: start.into(),
            end_time: String::new(),
        })
        .await?
        .into_inner();
    let mut files = Vec::new();
    let mut summary = None;
    while let Some(message) = stream.message().await? {
        files.extend(message.files);
        summary = message.summary.or(summary);
    }
    Ok((files, summary.expect("a summary on the last message")))
}

fn status_of(files: &[pb::FileValidation], key: &str) -> pb::FileStatus {
    files
        .iter()
        .find(|f| f.s3_object == key)
        .unwrap_or_else(|| panic!("{key} not in the report: {files:#?}"))
        .status()
}

/// Verifies `signature_hex` over `message` with a DER PKCS#1 RSA public key, using
/// openssl: what a CloudTrail validator outside keyhold does.
fn openssl_verifies(public_key_der: &[u8], message: &[u8], signature_hex: &str) -> bool {
    let dir = std::env::temp_dir().join(format!("keyhold-digest-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("key.der"), public_key_der).unwrap();
    std::fs::write(dir.join("message"), message).unwrap();
    std::fs::write(dir.join("signature"), hex::decode(signature_hex).unwrap()).unwrap();
    let pem = Command::new("openssl")
        .args([
            "rsa",
            "-RSAPublicKey_in",
            "-inform",
            "DER",
            "-pubout",
            "-in",
        ])
        .arg(dir.join("key.der"))
        .arg("-out")
        .arg(dir.join("key.pem"))
        .output()
        .expect("openssl");
    assert!(
        pem.status.success(),
        "{}",
        String::from_utf8_lossy(&pem.stderr)
    );
    let verified = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.join("key.pem"))
        .arg("-signature")
        .arg(dir.join("signature"))
        .arg(dir.join("message"))
        .output()
        .expect("openssl")
        .status
        .success();
    let _ = std::fs::remove_dir_all(&dir);
    verified
}

#[tokio::test]
async fn digests_sign_every_log_file_and_validation_finds_tampering_by_name() {
    let stack =
        TrailStack::start(&["--digest-interval-seconds", "2", "--master-key", MASTER_KEY]).await;
    let started = chrono::Utc::now().to_rfc3339();
    let mut trails = validating_trail(&stack, "validated").await;
    let mut objects = stack.objects(Who::User1);
    let log_prefix = format!("AWSLogs/{ACCOUNT}/CloudTrail/");
    let found = two_log_files_digested(&stack).await;
    let logs: Vec<String> = named_log_files(found.values()).into_iter().collect();
    for key in &logs {
        assert!(key.starts_with(&log_prefix), "{key}");
    }

    // The digests as CloudTrail writes them: chained, signed in their metadata.
    let keys = trails
        .list_public_keys(pb::ListPublicKeysRequest::default())
        .await
        .expect("ListPublicKeys")
        .into_inner()
        .public_key_list;
    assert_eq!(keys.len(), 1, "one key pair for the region");
    let key = &keys[0];
    assert_eq!(key.fingerprint, hex::encode(Md5::digest(&key.value)));
    let mut previous_signature: Option<String> = None;
    for (object, digest) in &found {
        assert_eq!(digest.json["digestS3Object"], object.as_str());
        assert_eq!(digest.json["digestS3Bucket"], BUCKET);
        assert_eq!(digest.json["digestPublicKeyFingerprint"], key.fingerprint);
        assert_eq!(digest.json["digestSignatureAlgorithm"], "SHA256withRSA");
        assert_eq!(digest.metadata["signature-algorithm"], "SHA256withRSA");
        let signature = &digest.metadata["signature"];
        assert_eq!(
            digest.json["previousDigestSignature"].as_str(),
            previous_signature.as_deref(),
            "{object} links to the digest before it"
        );
        let message = format!(
            "{}\n{BUCKET}/{object}\n{}\n{}",
            digest.json["digestEndTime"].as_str().unwrap(),
            hex::encode(Sha256::digest(&digest.gunzipped)),
            previous_signature.as_deref().unwrap_or("null"),
        );
        assert!(
            openssl_verifies(&key.value, message.as_bytes(), signature),
            "{object}'s signature"
        );
        previous_signature = Some(signature.clone());
    }
    let status = trails
        .get_trail_status(pb::GetTrailStatusRequest {
            name: "validated".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!status.latest_digest_delivery_time.is_empty());
    assert_eq!(status.latest_digest_delivery_error, "");

    // Everything valid.
    let (files, summary) = validate(&mut trails, "validated", &started).await.unwrap();
    assert!(summary.valid, "{}", summary.text);
    assert_eq!(summary.trail_arn, arn("validated"));
    assert_eq!(summary.invalid_digests + summary.invalid_log_files, 0);
    assert!(summary.valid_log_files as usize >= logs.len(), "{files:#?}");
    for log in &logs {
        assert_eq!(status_of(&files, log), pb::FileStatus::Valid);
    }

    // One log file rewritten (by the bucket's owner, whom its policy does not stop),
    // another deleted: each is named.
    let (changed, deleted) = (&logs[0], &logs[1]);
    tamper_with(&mut objects, changed).await;
    remove(&mut objects, deleted).await;
    let (files, summary) = validate(&mut trails, "validated", &started).await.unwrap();
    assert!(!summary.valid);
    assert_eq!(summary.invalid_log_files, 2, "{}", summary.text);
    assert_eq!(summary.invalid_digests, 0);
    assert_eq!(status_of(&files, changed), pb::FileStatus::Modified);
    assert_eq!(status_of(&files, deleted), pb::FileStatus::Missing);
    assert!(
        summary.text.contains("log files INVALID"),
        "{}",
        summary.text
    );

    // A deleted digest in the middle of the chain is missing, by name (the newest
    // cannot be told from one not written yet, as with CloudTrail: two more first).
    let seen = found.len();
    digests_when(&stack, |digests| digests.len() >= seen + 2).await;
    let middle = found.keys().last().unwrap().clone();
    remove(&mut objects, &middle).await;
    let (files, summary) = validate(&mut trails, "validated", &started).await.unwrap();
    assert_eq!(status_of(&files, &middle), pb::FileStatus::Missing);
    assert!(summary.invalid_digests >= 1, "{}", summary.text);

    // Validation reads the bucket as the caller: without S3 access, S3's AccessDenied.
    let mut no_s3 = stack.trails(Who::NoS3);
    let denied = validate(&mut no_s3, "validated", &started)
        .await
        .expect_err("no s3:ListBucket");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    assert_eq!(
        keyhold_platform::error::exception_of(&denied).as_deref(),
        Some("AccessDenied")
    );
    assert_eq!(
        denied.message(),
        "User: arn:aws:iam::000000000000:user/AWSLabsUser-0005 is not authorized to perform: \
         s3:ListBucket on resource: \"arn:aws:s3:::validated-trail-logs\" because no \
         identity-based policy allows the s3:ListBucket action"
    );
}

#[tokio::test]
async fn after_stop_logging_the_last_digest_names_the_last_log_file_and_the_chain_ends() {
    let stack =
        TrailStack::start(&["--digest-interval-seconds", "2", "--master-key", MASTER_KEY]).await;
    let started = chrono::Utc::now().to_rfc3339();
    let mut trails = validating_trail(&stack, "stopped").await;
    let mut kms = stack.object.kms.client(Who::User1);
    console_key(&mut kms, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await;
    // Records reach audit-svc a moment after their calls: stop once one is delivered,
    // so the trail has a log file for its last digest to name.
    let mut objects = stack.objects(Who::User1);
    let log_prefix = format!("AWSLogs/{ACCOUNT}/CloudTrail/");
    let waiting = Instant::now();
    while log_files(&mut objects, BUCKET, &log_prefix)
        .await
        .is_empty()
    {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "no log file delivered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    trails
        .stop_logging(pb::StopLoggingRequest {
            name: "stopped".into(),
        })
        .await
        .unwrap();
    // Every log file delivered is named by a digest, and the chain ends: its last
    // digest's window reaches the stop. The end comes once the trail has settled
    // (the events before the stop delivered), possibly with one more digest that
    // names no new file: it is the end when no digest follows for three windows.
    let status = trails
        .get_trail_status(keyhold_tests::trails::named("stopped"))
        .await
        .unwrap()
        .into_inner();
    let stopped = chrono::DateTime::parse_from_rfc3339(&status.stop_logging_time)
        .expect("StopLoggingTime")
        .timestamp();
    let reaches_the_stop = |found: &BTreeMap<String, DigestObject>| {
        found.values().any(|digest| {
            digest.json["digestEndTime"]
                .as_str()
                .and_then(|end| chrono::DateTime::parse_from_rfc3339(end).ok())
                .is_some_and(|end| end.timestamp() >= stopped)
        })
    };
    let waiting = Instant::now();
    let mut unchanged_since = (Vec::<String>::new(), Instant::now());
    let (delivered, found) = loop {
        let delivered = log_files(&mut objects, BUCKET, &log_prefix).await;
        let found = digests(&stack).await;
        let keys: Vec<String> = found.keys().cloned().collect();
        if keys != unchanged_since.0 {
            unchanged_since = (keys, Instant::now());
        }
        let named = named_log_files(found.values());
        if !delivered.is_empty()
            && delivered.keys().all(|key| named.contains(key))
            && reaches_the_stop(&found)
            && unchanged_since.1.elapsed() > Duration::from_secs(6)
        {
            break (delivered, found);
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "log files {:?} never all in digests {:?}",
            delivered.keys().collect::<Vec<_>>(),
            found.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // The chain has ended: three more windows pass without a digest or a log file.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let later = digests(&stack).await;
    assert_eq!(
        log_files(&mut objects, BUCKET, &log_prefix).await.len(),
        delivered.len()
    );
    assert_eq!(
        later.keys().collect::<Vec<_>>(),
        found.keys().collect::<Vec<_>>(),
        "no digest after the chain's end"
    );
    let (files, summary) = validate(&mut trails, "stopped", &started).await.unwrap();
    assert!(summary.valid, "{}", summary.text);
    for key in delivered.keys() {
        assert_eq!(status_of(&files, key), pb::FileStatus::Valid);
    }
}

#[tokio::test]
async fn list_public_keys_checks_its_range_and_validation_needs_a_start() {
    let stack = TrailStack::start(&["--master-key", MASTER_KEY]).await;
    let mut trails = validating_trail(&stack, "ranges").await;
    let error = trails
        .list_public_keys(pb::ListPublicKeysRequest {
            start_time: "2026-02-01T00:00:00Z".into(),
            end_time: "2026-01-01T00:00:00Z".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        error.message(),
        "Start time must be before or equal to end time."
    );
    // No digest yet: no key yet.
    let keys = trails
        .list_public_keys(pb::ListPublicKeysRequest {
            start_time: "2020-01-01T00:00:00Z".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(keys.public_key_list.is_empty(), "{keys:?}");
    let error = validate(&mut trails, "ranges", "").await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        error.message(),
        "StartTime is required: the start of the range to validate."
    );
    let error = validate(&mut trails, "ranges", "yesterday")
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    let error = validate(&mut trails, "nope", "2020-01-01T00:00:00Z")
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::NotFound);
}

/// Rewrites a log file with one event name changed, as its bucket's owner can.
async fn tamper_with(objects: &mut ObjectClient, key: &str) {
    let (_, gzip) = get(objects, BUCKET, key).await.unwrap();
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(gzip.as_slice())
        .read_to_end(&mut json)
        .unwrap();
    let text = String::from_utf8(json)
        .unwrap()
        .replacen("CreateKey", "CreateKex", 1);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, text.as_bytes()).unwrap();
    put(objects, put_header(BUCKET, key), &gzip.finish().unwrap())
        .await
        .unwrap();
}

/// Deletes a file from the trail's bucket, as its owner can.
async fn remove(objects: &mut ObjectClient, key: &str) {
    let request = DeleteObjectRequest {
        bucket: BUCKET.into(),
        key: key.into(),
    };
    objects.delete_object(request).await.unwrap();
}

/// `aws cloudtrail validate-logs`, the AWS CLI's own validator, over keyhold's
/// endpoints (DescribeTrails and ListPublicKeys from audit-svc, the files from the S3
/// port): exit status and what it printed.
async fn aws_validate_logs(stack: &TrailStack, trail: &str, started: &str) -> (bool, String) {
    let cli = Cli::new(
        stack.object.workdir.join("aws-cli"),
        AwsEndpoints {
            kms: Some(stack.object.kms.aws_endpoint()),
            cloudtrail: Some(stack.cloudtrail_endpoint()),
            s3: Some(stack.object.s3_endpoint()),
        },
    );
    let output = cli
        .output(
            Who::User1,
            &[
                "cloudtrail",
                "validate-logs",
                "--trail-arn",
                &arn(trail),
                "--start-time",
                started,
                "--verbose",
            ],
        )
        .await;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

#[tokio::test]
async fn the_aws_cli_validates_the_delivered_files_and_finds_tampering() {
    let stack =
        TrailStack::start(&["--digest-interval-seconds", "2", "--master-key", MASTER_KEY]).await;
    let started = chrono::Utc::now().to_rfc3339();
    validating_trail(&stack, "cli-validated").await;
    let found = two_log_files_digested(&stack).await;
    let (valid, printed) = aws_validate_logs(&stack, "cli-validated", &started).await;
    assert!(valid, "{printed}");
    let logs: Vec<String> = named_log_files(found.values()).into_iter().collect();
    for log in &logs {
        let line = format!("Log file\ts3://{BUCKET}/{log}\tvalid");
        assert!(printed.contains(&line), "{line} not in: {printed}");
    }
    assert!(!printed.contains("INVALID"), "{printed}");

    // A digest in the middle of the chain deleted, and a log file another digest
    // names changed (the CLI cannot check a file only a missing digest names).
    let seen = found.len();
    digests_when(&stack, |digests| digests.len() >= seen + 2).await;
    let middle = found.keys().last().unwrap().clone();
    let named_by_middle = named_log_files([&found[&middle]]);
    let changed = logs
        .iter()
        .find(|log| !named_by_middle.contains(*log))
        .expect("a log file the deleted digest does not name")
        .clone();
    let mut objects = stack.objects(Who::User1);
    tamper_with(&mut objects, &changed).await;
    remove(&mut objects, &middle).await;
    let (valid, printed) = aws_validate_logs(&stack, "cli-validated", &started).await;
    assert!(!valid, "{printed}");
    for line in [
        format!("Digest file\ts3://{BUCKET}/{middle}\tINVALID: not found"),
        format!("Log file\ts3://{BUCKET}/{changed}\tINVALID: hash value doesn't match"),
        // Later log files (of these validations' own calls) may be named too.
        "log files INVALID".to_owned(),
    ] {
        assert!(printed.contains(&line), "{line} not in: {printed}");
    }
}
