//! digest-bench: how fast log file integrity validation checks log files (see
//! BENCHMARKS.md, "audit-svc: log file validation").
//!
//! Builds `--files` gzip log files of `--size-mib` MiB of CloudTrail records each,
//! listed by a chain of signed hourly digests (`--per-digest` files each) in an
//! in-memory bucket, then times `audit_svc::digests::validate` over the whole chain
//! against a baseline taken in the same run: plain SHA-256 of the same uncompressed
//! bytes, and gunzip plus SHA-256 without validation around it.
//!
//! Target: 1,000 log files of 1 MiB verified in under 10 s. Exit codes: 0 target met,
//! 1 the run failed (validation found a file invalid), 2 target missed.

use std::{
    io::Read as _,
    process::ExitCode,
    time::{Duration, Instant},
};

use audit_svc::digests::{
    DeliveredLogFile, DigestTrail, StoredObject,
    digest::{self, DigestInput, PreviousDigest},
    keys::SigningKey,
    memory::MemoryStore,
    validate,
};
use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser;
use sha2::{Digest as _, Sha256};

#[derive(Parser)]
#[command(about = "Log file validation: log files verified per second")]
struct Args {
    #[arg(long, default_value_t = 1000)]
    files: usize,
    /// Uncompressed size of each log file.
    #[arg(long, default_value_t = 1.0)]
    size_mib: f64,
    /// Log files per digest (CloudTrail's digests are hourly).
    #[arg(long, default_value_t = 100)]
    per_digest: usize,
    /// Timed validations; the median is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

const TARGET: Duration = Duration::from_secs(10);
const TARGET_FILES: usize = 1000;

/// `{"Records":[...]}` of varied KMS and S3 records, at least `size` bytes.
fn log_file(size: usize, at: DateTime<Utc>) -> Vec<u8> {
    let mut records = Vec::new();
    let mut length = 16;
    let mut i = 0i64;
    const NAMES: [&str; 4] = ["Decrypt", "GenerateDataKey", "GetObject", "PutObject"];
    while length < size {
        let record = serde_json::json!({
            "eventVersion": "1.11",
            "userIdentity": {
                "type": "IAMUser", "principalId": "AIDAAWSLABSUSER0001",
                "arn": "arn:aws:iam::000000000000:user/AWSLabsUser-0001",
                "accountId": "000000000000", "accessKeyId": "AKIAKEYHOLDDEVUSER01",
                "userName": "AWSLabsUser-0001", "invokedBy": "s3.amazonaws.com"
            },
            "eventTime": digest::format_time(at - TimeDelta::milliseconds(i * 37)),
            "eventSource": if i % 3 == 0 { "s3.amazonaws.com" } else { "kms.amazonaws.com" },
            "eventName": NAMES[(i % 4) as usize],
            "awsRegion": "us-east-1",
            "sourceIPAddress": "s3.amazonaws.com",
            "userAgent": "s3.amazonaws.com",
            "requestParameters": {
                "encryptionContext": {"aws:s3:arn": format!("arn:aws:s3:::mycloudtrailbucket1/images/{i}.png")},
                "keyId": "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            },
            "responseElements": null,
            "requestID": uuid::Uuid::new_v4().to_string(),
            "eventID": uuid::Uuid::new_v4().to_string(),
            "readOnly": i % 2 == 0,
            "resources": [{"ARN": "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab", "accountId": "000000000000", "type": "AWS::KMS::Key"}],
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": "000000000000",
            "eventCategory": "Management"
        });
        length += record.to_string().len() + 1;
        records.push(record);
        i += 1;
    }
    serde_json::to_vec(&serde_json::json!({ "Records": records })).expect("JSON")
}

fn gunzip_sha256(gzip: &[u8]) -> [u8; 32] {
    let mut decoder = flate2::read::GzDecoder::new(gzip);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match decoder.read(&mut buffer).expect("gzip") {
            0 => return hasher.finalize().into(),
            n => hasher.update(&buffer[..n]),
        }
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let since = DateTime::from_timestamp(1_772_359_207, 0).expect("a time");
    let trail = DigestTrail {
        account_id: "000000000000".into(),
        region: "us-east-1".into(),
        name: "myTrail".into(),
        bucket: "mycloudtrailbucket1".into(),
        prefix: None,
        validation_since: since,
        until: None,
    };
    let size = (args.size_mib * 1024.0 * 1024.0) as usize;
    let end = since + TimeDelta::hours(args.files.div_ceil(args.per_digest).max(1) as i64);
    let key = SigningKey::generate(since, end + TimeDelta::days(1)).expect("a key pair");

    eprintln!("building {} log files of {size} bytes...", args.files);
    let store = MemoryStore::new();
    let mut plain = Vec::with_capacity(args.files);
    let mut delivered = Vec::with_capacity(args.files);
    let mut gzip_bytes = 0usize;
    for n in 0..args.files {
        let window = n / args.per_digest.max(1);
        let at = since + TimeDelta::hours(window as i64) + TimeDelta::seconds(n as i64 % 3600);
        let json = log_file(size, at);
        let object_key = format!(
            "AWSLogs/000000000000/CloudTrail/us-east-1/{}000000000000_CloudTrail_us-east-1_{}_{n:08}.json.gz",
            at.format("%Y/%m/%d/"),
            at.format("%Y%m%dT%H%MZ")
        );
        let gzip = digest::gzip(&json);
        gzip_bytes += gzip.len();
        store.insert(
            &trail.bucket,
            &object_key,
            StoredObject {
                bytes: gzip,
                metadata: Default::default(),
            },
        );
        delivered.push(DeliveredLogFile {
            bucket: trail.bucket.clone(),
            key: object_key,
            sha256_hex: digest::sha256_hex(&json),
            oldest_event_time: at - TimeDelta::minutes(5),
            newest_event_time: at,
            delivered_at: at,
        });
        plain.push(json);
    }
    let mut previous: Option<PreviousDigest> = None;
    for (window, files) in delivered.chunks(args.per_digest.max(1)).enumerate() {
        let start = since + TimeDelta::hours(window as i64);
        let built = digest::build(
            &DigestInput {
                trail: &trail,
                start,
                end: start + TimeDelta::hours(1),
                log_files: files,
                previous: previous.as_ref(),
                fingerprint: &key.public.fingerprint,
            },
            |message| key.sign(message),
        );
        store.insert(
            &built.bucket,
            &built.key,
            StoredObject {
                bytes: built.gzip.clone(),
                metadata: built.metadata.clone(),
            },
        );
        previous = Some(built.as_previous());
    }
    let plain_bytes: usize = plain.iter().map(Vec::len).sum();
    let public_keys = [key.public.clone()];

    let mut sha_times = Vec::new();
    let mut gunzip_times = Vec::new();
    let mut validate_times = Vec::new();
    for round in 0..args.rounds.max(1) {
        let started = Instant::now();
        let mut check = 0u8;
        for json in &plain {
            check ^= Sha256::digest(json)[0];
        }
        sha_times.push(started.elapsed());
        std::hint::black_box(check);

        let started = Instant::now();
        for key in &store.keys(&trail.bucket, "AWSLogs/000000000000/CloudTrail/") {
            let object = store.object(&trail.bucket, key).expect("a log file");
            std::hint::black_box(gunzip_sha256(&object.bytes));
        }
        gunzip_times.push(started.elapsed());

        let started = Instant::now();
        let report = runtime
            .block_on(validate(&store, &trail, &public_keys, since, end))
            .expect("validation runs");
        validate_times.push(started.elapsed());
        if !report.is_valid() || report.log_files.len() != args.files {
            eprintln!("{report}");
            eprintln!("validation did not find every log file valid");
            return ExitCode::from(1);
        }
        eprintln!(
            "round {}: sha256 {:?}, gunzip+sha256 {:?}, validate {:?}",
            round + 1,
            sha_times[round],
            gunzip_times[round],
            validate_times[round]
        );
    }
    let (sha, gunzip, validated) = (
        median(sha_times),
        median(gunzip_times),
        median(validate_times),
    );
    let mib = plain_bytes as f64 / (1024.0 * 1024.0);
    println!(
        "{} log files, {mib:.0} MiB uncompressed ({:.0} MiB gzip), {} digests",
        args.files,
        gzip_bytes as f64 / (1024.0 * 1024.0),
        args.files.div_ceil(args.per_digest.max(1))
    );
    println!(
        "baseline sha256 only:  {:>8.3} s  {:>8.0} MiB/s",
        sha.as_secs_f64(),
        mib / sha.as_secs_f64()
    );
    println!(
        "gunzip + sha256:       {:>8.3} s  {:>8.0} MiB/s",
        gunzip.as_secs_f64(),
        mib / gunzip.as_secs_f64()
    );
    println!(
        "validate (medians):    {:>8.3} s  {:>8.0} MiB/s  {:.0} log files/s  ({:.2}x sha256 time, {:.2}x gunzip+sha256 time)",
        validated.as_secs_f64(),
        mib / validated.as_secs_f64(),
        args.files as f64 / validated.as_secs_f64(),
        validated.as_secs_f64() / sha.as_secs_f64(),
        validated.as_secs_f64() / gunzip.as_secs_f64()
    );
    let projected = validated.mul_f64(TARGET_FILES as f64 / args.files as f64);
    let met = projected < TARGET && args.size_mib >= 1.0;
    println!(
        "target (1,000 files of 1 MiB in under 10 s): {} ({:.2} s for 1,000 files)",
        if met { "MET" } else { "MISSED" },
        projected.as_secs_f64()
    );
    if met {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
