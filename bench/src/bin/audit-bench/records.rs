//! Realistic CloudTrail records, as keyhold's services emit them: a lab of 100 IAM
//! users and root, each user with 10 KMS keys, a call mix dominated by data-key
//! traffic (GenerateDataKey, Decrypt) with the rarer management calls beside it, and
//! some S3 calls from object-svc.
//!
//! Records are formatted from a template rather than built as serde_json values: the
//! generator shares 2 cores with audit-svc and Postgres, and every cycle it spends is
//! one they do not get. audit-svc parses each record in full either way.

use keyhold_proto::audit::v1::AuditRecord;
use sqlx::types::chrono::{DateTime, Utc};
use uuid::Uuid;

pub const ACCOUNT: &str = "000000000000";
pub const USERS: u64 = 100;
pub const KEYS_PER_USER: u64 = 10;

/// SplitMix64: deterministic, so two loads of the same size hold the same mix.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A KMS call on one key.
    Key,
    /// A KMS call with no resource (ListKeys, GenerateRandom).
    NoResource,
    /// An S3 management call on a bucket.
    Bucket,
    /// An S3 data event on an object.
    Object,
}

/// (eventName, readOnly, shape, weight per 10,000 calls)
const MIX: &[(&str, bool, Shape, u64)] = &[
    ("GenerateDataKey", false, Shape::Key, 4000),
    ("Decrypt", false, Shape::Key, 3000),
    ("Encrypt", false, Shape::Key, 800),
    ("DescribeKey", true, Shape::Key, 600),
    ("GenerateRandom", false, Shape::NoResource, 250),
    ("ListKeys", true, Shape::NoResource, 250),
    ("ListAliases", true, Shape::NoResource, 150),
    ("GetKeyPolicy", true, Shape::Key, 150),
    ("CreateKey", false, Shape::Key, 150),
    ("ReEncrypt", false, Shape::Key, 100),
    ("CreateAlias", false, Shape::Key, 80),
    ("EnableKeyRotation", false, Shape::Key, 40),
    ("PutKeyPolicy", false, Shape::Key, 25),
    ("ScheduleKeyDeletion", false, Shape::Key, 5),
    ("CreateBucket", false, Shape::Bucket, 50),
    ("ListBuckets", true, Shape::NoResource, 50),
    ("PutObject", false, Shape::Object, 150),
    ("GetObject", true, Shape::Object, 150),
];

pub fn user_name(user: u64) -> String {
    format!("AWSLabsUser-{:04}", user + 1)
}

pub fn user_access_key(user: u64) -> String {
    format!("AKIAKEYHOLDLABU{:05}", user + 1)
}

/// The id of `user`'s `n`th key: fixed, so lookups can name keys that exist.
pub fn key_id(user: u64, n: u64) -> Uuid {
    let mut rng = Rng::new(0x6b65_7973 ^ (user * KEYS_PER_USER + n));
    Uuid::from_u64_pair(rng.next(), rng.next())
}

pub fn key_arn(key: &Uuid) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}")
}

pub struct Generator {
    rng: Rng,
    total_weight: u64,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: Rng::new(seed),
            total_weight: MIX.iter().map(|m| m.3).sum(),
        }
    }

    /// One record at `micros` (since the Unix epoch).
    pub fn record(&mut self, micros: i64) -> AuditRecord {
        let time = DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default();
        let mut pick = self.rng.below(self.total_weight);
        let &(name, read_only, shape, _) = MIX
            .iter()
            .find(|m| {
                if pick < m.3 {
                    true
                } else {
                    pick -= m.3;
                    false
                }
            })
            .unwrap_or(&MIX[0]);
        // One call in ten by root, the rest by the lab users.
        let user = self.rng.below(USERS + USERS / 9);
        let identity = if user >= USERS {
            format!(
                r#"{{"type":"Root","principalId":"{ACCOUNT}","arn":"arn:aws:iam::{ACCOUNT}:root","accountId":"{ACCOUNT}","accessKeyId":"AKIAKEYHOLDDEVROOT00"}}"#
            )
        } else {
            let name = user_name(user);
            format!(
                r#"{{"type":"IAMUser","principalId":"AIDA{name}","arn":"arn:aws:iam::{ACCOUNT}:user/{name}","accountId":"{ACCOUNT}","accessKeyId":"{}","userName":"{name}"}}"#,
                user_access_key(user)
            )
        };
        let owner = user % USERS;
        let key = key_id(owner, self.rng.below(KEYS_PER_USER));
        let (source, category, request, resources) = match shape {
            Shape::Key => {
                let arn = key_arn(&key);
                let request = if matches!(name, "GenerateDataKey" | "Decrypt" | "Encrypt") {
                    format!(
                        r#"{{"keyId":"{key}","encryptionContext":{{"aws:s3:arn":"arn:aws:s3:::lab-{owner}/object-{}"}},"keySpec":"AES_256"}}"#,
                        self.rng.below(100_000)
                    )
                } else {
                    format!(r#"{{"keyId":"{key}"}}"#)
                };
                (
                    "kms.amazonaws.com",
                    "Management",
                    request,
                    format!(
                        r#"[{{"ARN":"{arn}","accountId":"{ACCOUNT}","type":"AWS::KMS::Key"}}]"#
                    ),
                )
            }
            Shape::NoResource => (
                if name == "ListBuckets" {
                    "s3.amazonaws.com"
                } else {
                    "kms.amazonaws.com"
                },
                "Management",
                "null".to_owned(),
                "[]".to_owned(),
            ),
            Shape::Bucket => (
                "s3.amazonaws.com",
                "Management",
                format!(r#"{{"bucketName":"lab-{owner}-{}"}}"#, self.rng.below(20)),
                format!(
                    r#"[{{"ARN":"arn:aws:s3:::lab-{owner}","accountId":"{ACCOUNT}","type":"AWS::S3::Bucket"}}]"#
                ),
            ),
            Shape::Object => {
                let object = self.rng.below(100_000);
                (
                    "s3.amazonaws.com",
                    "Data",
                    format!(r#"{{"bucketName":"lab-{owner}","key":"object-{object}"}}"#),
                    format!(
                        r#"[{{"ARN":"arn:aws:s3:::lab-{owner}/object-{object}","accountId":"{ACCOUNT}","type":"AWS::S3::Object"}},{{"ARN":"arn:aws:s3:::lab-{owner}","accountId":"{ACCOUNT}","type":"AWS::S3::Bucket"}}]"#
                    ),
                )
            }
        };
        // Refused calls are recorded too: about one in fifty.
        let error = if self.rng.below(50) == 0 {
            r#""errorCode":"AccessDeniedException","errorMessage":"User is not authorized to perform this operation","#
        } else {
            ""
        };
        let event_id = Uuid::from_u64_pair(self.rng.next(), self.rng.next());
        let request_id = Uuid::from_u64_pair(self.rng.next(), self.rng.next());
        let json = format!(
            r#"{{"eventVersion":"1.11","userIdentity":{identity},"eventTime":"{time}","eventSource":"{source}","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"10.0.{}.{}","userAgent":"aws-cli/2.15.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.6","requestParameters":{request},"responseElements":null,{error}"requestID":"{request_id}","eventID":"{event_id}","readOnly":{read_only},"resources":{resources},"eventType":"AwsApiCall","managementEvent":{management},"recipientAccountId":"{ACCOUNT}","eventCategory":"{category}","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"{source}"}}}}"#,
            owner % 250,
            self.rng.below(250),
            time = time.format("%Y-%m-%dT%H:%M:%SZ"),
            management = category == "Management",
        );
        AuditRecord {
            event_id: event_id.to_string(),
            cloud_trail_event: json,
            traceparent: String::new(),
        }
    }

    /// `count` records at times spread evenly from `first` by `step`, each jittered
    /// within its step: the order of a real trail, without identical timestamps.
    /// Times are microseconds since the Unix epoch.
    pub fn batch(&mut self, count: usize, first: i64, step_micros: i64) -> Vec<AuditRecord> {
        let step_micros = step_micros.max(0);
        (0..count)
            .map(|i| {
                let jitter = if step_micros > 0 {
                    self.rng.below(step_micros as u64) as i64
                } else {
                    0
                };
                let offset = step_micros * i as i64 + jitter;
                self.record(first + offset)
            })
            .collect()
    }
}
