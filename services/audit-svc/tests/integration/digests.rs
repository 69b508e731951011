//! Digest files against a real Postgres: the chain written across restarts, key
//! rotation, and validation detecting each kind of tampering by name.

use audit_svc::digests::{
    DigestSchedule, DigestTrail, StoredObject,
    chain::load_chain,
    digest::{self, DigestInput},
    memory::MemoryStore,
    validate::{Status, ValidationReport},
    write_due_digests,
};
use audit_svc::digests::{SigningKeys, validate};
use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};
use keyhold_crypto::MasterKey;
use keyhold_tests::TestDatabase;
use sqlx::PgPool;

const BUCKET: &str = "mycloudtrailbucket1";

/// Validation with logging started here: windows end at 11:00:07, 12:00:07, ...
fn since() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 7).unwrap()
}

fn hours(h: i64) -> TimeDelta {
    TimeDelta::hours(h)
}

/// After the window ending `since + h` has settled.
fn after(h: i64) -> DateTime<Utc> {
    since() + hours(h) + TimeDelta::seconds(31)
}

struct Fixture {
    _database: TestDatabase,
    pool: PgPool,
    master: MasterKey,
    store: MemoryStore,
    trail: DigestTrail,
}

impl Fixture {
    async fn new() -> Fixture {
        let database = TestDatabase::create().await;
        let pool = PgPool::connect(&database.url)
            .await
            .expect("the test database");
        audit_svc::store::MIGRATOR
            .run(&pool)
            .await
            .expect("audit-svc's migrations");
        Fixture {
            _database: database,
            pool,
            master: MasterKey::generate(),
            store: MemoryStore::new(),
            trail: DigestTrail {
                account_id: "000000000000".into(),
                region: "us-east-1".into(),
                name: "myTrail".into(),
                bucket: BUCKET.into(),
                prefix: None,
                validation_since: since(),
                until: None,
            },
        }
    }

    /// A fresh key store, as a restarted audit-svc opens it.
    fn keys(&self) -> SigningKeys {
        SigningKeys::new(self.pool.clone(), self.master.clone(), "us-east-1")
    }

    /// Delivers a log file of `records` events at `at`: the object and its row.
    async fn deliver(&self, at: DateTime<Utc>, records: usize) -> String {
        let key = format!(
            "AWSLogs/000000000000/CloudTrail/us-east-1/{}000000000000_CloudTrail_us-east-1_{}_{}.json.gz",
            at.format("%Y/%m/%d/"),
            at.format("%Y%m%dT%H%MZ"),
            uuid::Uuid::new_v4().simple()
        );
        let events: Vec<serde_json::Value> = (0..records)
            .map(|i| {
                serde_json::json!({
                    "eventVersion": "1.11",
                    "eventTime": digest::format_time(at - TimeDelta::seconds(60 - i as i64)),
                    "eventSource": "kms.amazonaws.com",
                    "eventName": "Decrypt",
                    "eventID": uuid::Uuid::new_v4().to_string(),
                })
            })
            .collect();
        let json = serde_json::to_vec(&serde_json::json!({ "Records": events })).unwrap();
        self.store.insert(
            BUCKET,
            &key,
            StoredObject {
                bytes: digest::gzip(&json),
                metadata: Default::default(),
            },
        );
        sqlx::query(
            "INSERT INTO trail_log_files (account_id, trail_name, s3_bucket, s3_object, \
             sha256_hex, oldest_event_time, newest_event_time, records, delivered_at) \
             VALUES ($8, $1, $2, $3, $4, $5, $6, $9, $7)",
        )
        .bind(&self.trail.name)
        .bind(BUCKET)
        .bind(&key)
        .bind(digest::sha256_hex(&json))
        .bind(at - TimeDelta::seconds(60))
        .bind(at - TimeDelta::seconds(61 - records as i64))
        .bind(at)
        .bind(&self.trail.account_id)
        .bind(records as i32)
        .execute(&self.pool)
        .await
        .expect("a trail_log_files row");
        key
    }

    async fn write(&self, keys: &SigningKeys, now: DateTime<Utc>) -> Vec<String> {
        write_due_digests(
            &self.store,
            &self.pool,
            keys,
            &self.trail,
            DigestSchedule::HOURLY,
            now,
        )
        .await
        .expect("digests written")
        .into_iter()
        .map(|d| d.key)
        .collect()
    }

    async fn validate(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> ValidationReport {
        let public_keys = self.keys().list_public_keys(start, end).await.unwrap();
        validate(&self.store, &self.trail, &public_keys, start, end)
            .await
            .expect("validation runs")
    }

    /// An object's uncompressed bytes.
    fn gunzipped(&self, key: &str) -> Vec<u8> {
        let object = self.store.object(BUCKET, key).expect("the object");
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(object.bytes.as_slice()),
            &mut bytes,
        )
        .unwrap();
        bytes
    }

    /// The digest's JSON as stored.
    fn digest_json(&self, key: &str) -> serde_json::Value {
        serde_json::from_slice(&self.gunzipped(key)).unwrap()
    }

    /// Rewrites an object's uncompressed bytes with `change`, keeping its metadata.
    fn tamper(&self, key: &str, change: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = self.gunzipped(key);
        change(&mut bytes);
        let metadata = self.store.object(BUCKET, key).expect("the object").metadata;
        self.store.insert(
            BUCKET,
            key,
            StoredObject {
                bytes: digest::gzip(&bytes),
                metadata,
            },
        );
    }
}

/// Three hourly digests: two log files in the first window (one delivered exactly
/// when it closes, so it belongs to the second), none of its own in the second, one in
/// the third. The second and third are written by a restarted writer.
struct Chain {
    fixture: Fixture,
    digests: Vec<String>,
    logs: Vec<String>,
}

async fn written_chain() -> Chain {
    let fixture = Fixture::new().await;
    let logs = vec![
        fixture.deliver(since() + TimeDelta::minutes(5), 3).await,
        fixture.deliver(since() + TimeDelta::minutes(40), 2).await,
        fixture.deliver(since() + hours(1), 1).await,
        fixture
            .deliver(since() + hours(2) + TimeDelta::minutes(30), 4)
            .await,
    ];
    let keys = fixture.keys();
    assert_eq!(
        fixture.write(&keys, after(1) - TimeDelta::seconds(2)).await,
        Vec::<String>::new(),
        "a window is written only once it has settled"
    );
    let mut digests = fixture.write(&keys, after(1)).await;
    drop(keys);
    // audit-svc restarts: a new key store, the chain state from Postgres.
    digests.extend(fixture.write(&fixture.keys(), after(3)).await);
    assert_eq!(digests.len(), 3);
    Chain {
        fixture,
        digests,
        logs,
    }
}

#[tokio::test]
async fn digests_are_chained_across_restarts_and_validate() {
    let Chain {
        fixture,
        digests,
        logs,
    } = written_chain().await;
    assert_eq!(
        digests[0],
        "AWSLogs/000000000000/CloudTrail-Digest/us-east-1/2026/03/01/000000000000_CloudTrail-Digest_us-east-1_myTrail_us-east-1_20260301T110007Z.json.gz"
    );
    let first = fixture.digest_json(&digests[0]);
    let second = fixture.digest_json(&digests[1]);
    let third = fixture.digest_json(&digests[2]);
    assert_eq!(first["digestStartTime"], "2026-03-01T10:00:07Z");
    assert_eq!(first["digestEndTime"], "2026-03-01T11:00:07Z");
    assert_eq!(first["previousDigestS3Object"], serde_json::Value::Null);
    assert_eq!(first["previousDigestSignature"], serde_json::Value::Null);
    let names = |d: &serde_json::Value| -> Vec<String> {
        d["logFiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["s3Object"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&first), logs[..2]);
    assert_eq!(first["oldestEventTime"], "2026-03-01T10:04:07Z");
    assert_eq!(first["newestEventTime"], "2026-03-01T10:39:08Z");
    // The file delivered at 11:00:07 sharp is the second window's.
    assert_eq!(names(&second), logs[2..3]);
    assert_eq!(names(&third), logs[3..]);
    assert_eq!(second["digestStartTime"], first["digestEndTime"]);

    // Each digest names the one before by place, hash and signature.
    let first_object = fixture.store.object(BUCKET, &digests[0]).unwrap();
    assert_eq!(second["previousDigestS3Bucket"], BUCKET);
    assert_eq!(second["previousDigestS3Object"], digests[0].as_str());
    assert_eq!(
        second["previousDigestSignature"],
        first_object.metadata["signature"].as_str()
    );
    assert_eq!(
        second["previousDigestHashValue"],
        digest::sha256_hex(&fixture.gunzipped(&digests[0]))
    );
    assert_eq!(second["previousDigestHashAlgorithm"], "SHA-256");
    assert_eq!(third["previousDigestS3Object"], digests[1].as_str());
    assert_eq!(
        first_object.metadata["signature-algorithm"],
        "SHA256withRSA"
    );

    // One key signed them all, and ListPublicKeys hands it out.
    let public_keys = fixture
        .keys()
        .list_public_keys(since(), after(3))
        .await
        .unwrap();
    assert_eq!(public_keys.len(), 1);
    assert_eq!(
        third["digestPublicKeyFingerprint"],
        public_keys[0].fingerprint
    );
    assert_eq!(
        public_keys[0].validity_end - public_keys[0].validity_start,
        TimeDelta::days(30)
    );

    let report = fixture.validate(since(), since() + hours(3)).await;
    assert!(report.is_valid(), "{report}");
    assert_eq!(report.digests.len(), 3);
    assert_eq!(report.log_files.len(), 4);
    let text = report.to_string();
    assert!(text.contains("3/3 digest files valid"), "{text}");
    assert!(text.contains("4/4 log files valid"), "{text}");

    // Nothing is due again until the next window closes.
    assert!(fixture.write(&fixture.keys(), after(3)).await.is_empty());
}

#[tokio::test]
async fn a_rewrite_after_a_crash_is_the_same_object() {
    let fixture = Fixture::new().await;
    fixture.deliver(since() + TimeDelta::minutes(5), 2).await;
    let keys = fixture.keys();
    let written = fixture.write(&keys, after(2)).await;
    let before = fixture.store.object(BUCKET, &written[1]).unwrap();
    // As if audit-svc died after putting the second digest, before recording it.
    let state = load_chain(&fixture.pool, &fixture.trail.arn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.next_start, since() + hours(2));
    sqlx::query(
        "UPDATE digest_chains SET next_start = $1, last_key = $2, last_hash = $3, last_signature = $4",
    )
    .bind(since() + hours(1))
    .bind(&written[0])
    .bind(digest::sha256_hex(&fixture.gunzipped(&written[0])))
    .bind(&fixture.store.object(BUCKET, &written[0]).unwrap().metadata["signature"])
    .execute(&fixture.pool)
    .await
    .unwrap();
    assert_eq!(fixture.write(&fixture.keys(), after(2)).await, written[1..]);
    assert_eq!(fixture.store.object(BUCKET, &written[1]).unwrap(), before);
}

#[tokio::test]
async fn a_changed_byte_in_a_log_file_is_detected() {
    let chain = written_chain().await;
    let fixture = &chain.fixture;
    fixture.tamper(&chain.logs[1], |json| {
        let at = json.iter().position(|b| *b == b'D').unwrap();
        json[at] = b'E';
    });
    let report = fixture.validate(since(), since() + hours(3)).await;
    assert_eq!(
        report.log_file(&chain.logs[1]),
        Some(&Status::Modified("hash value doesn't match".into()))
    );
    for (i, log) in chain.logs.iter().enumerate().filter(|(i, _)| *i != 1) {
        assert_eq!(report.log_file(log), Some(&Status::Valid), "log {i}");
    }
    assert!(report.digests.iter().all(|d| d.status == Status::Valid));
    let text = report.to_string();
    assert!(
        text.contains(&format!(
            "Log file\ts3://{BUCKET}/{}\tINVALID: hash value doesn't match",
            chain.logs[1]
        )),
        "{text}"
    );
    assert!(
        text.contains("3/4 log files valid, 1/4 log files INVALID"),
        "{text}"
    );
}

#[tokio::test]
async fn a_deleted_log_file_is_detected() {
    let chain = written_chain().await;
    chain.fixture.store.remove(BUCKET, &chain.logs[3]);
    let report = chain.fixture.validate(since(), since() + hours(3)).await;
    assert_eq!(report.log_file(&chain.logs[3]), Some(&Status::Missing));
    assert_eq!(
        report
            .log_files
            .iter()
            .filter(|l| l.status == Status::Valid)
            .count(),
        3
    );
    assert!(!report.is_valid());
    assert!(report.to_string().contains("INVALID: not found"));
}

#[tokio::test]
async fn a_deleted_digest_is_detected() {
    let chain = written_chain().await;
    chain.fixture.store.remove(BUCKET, &chain.digests[1]);
    let report = chain.fixture.validate(since(), since() + hours(3)).await;
    assert_eq!(report.digest(&chain.digests[1]), Some(&Status::Missing));
    assert_eq!(report.digest(&chain.digests[0]), Some(&Status::Valid));
    assert_eq!(report.digest(&chain.digests[2]), Some(&Status::Valid));
    // The log files the deleted digest named cannot be vouched for; the others are.
    assert_eq!(report.log_file(&chain.logs[2]), None);
    assert_eq!(report.log_file(&chain.logs[3]), Some(&Status::Valid));
    assert_eq!(report.log_file(&chain.logs[0]), Some(&Status::Valid));
}

#[tokio::test]
async fn a_changed_digest_is_detected() {
    let chain = written_chain().await;
    let fixture = &chain.fixture;
    // What someone covering a changed log file would do: put its new hash in the digest.
    fixture.tamper(&chain.logs[0], |json| json.extend_from_slice(b" "));
    let mut first = fixture.digest_json(&chain.digests[0]);
    first["logFiles"][0]["hashValue"] =
        digest::sha256_hex(&fixture.gunzipped(&chain.logs[0])).into();
    fixture.tamper(&chain.digests[0], |bytes| {
        *bytes = serde_json::to_vec(&first).unwrap();
    });
    let report = fixture.validate(since(), since() + hours(3)).await;
    assert_eq!(
        report.digest(&chain.digests[0]),
        Some(&Status::Modified("signature verification failed".into()))
    );
    // The second digest still names the first by its original hash.
    assert_eq!(report.digest(&chain.digests[1]), Some(&Status::Valid));
    assert_eq!(report.log_file(&chain.logs[0]), None, "not vouched for");
    assert!(!report.is_valid());
}

#[tokio::test]
async fn a_broken_chain_is_detected() {
    let chain = written_chain().await;
    let fixture = &chain.fixture;
    // A genuinely signed digest for the second window that is not the one the third
    // digest was chained to (it omits the log file delivered in that window).
    let keys = fixture.keys();
    let end = since() + hours(2);
    let key = keys.key_for(end).await.unwrap();
    let previous = digest::PreviousDigest {
        bucket: BUCKET.into(),
        key: chain.digests[0].clone(),
        sha256_hex: digest::sha256_hex(&fixture.gunzipped(&chain.digests[0])),
        signature: fixture
            .store
            .object(BUCKET, &chain.digests[0])
            .unwrap()
            .metadata["signature"]
            .clone(),
    };
    let other = digest::build(
        &DigestInput {
            trail: &fixture.trail,
            start: since() + hours(1),
            end,
            log_files: &[],
            previous: Some(&previous),
            fingerprint: &key.public.fingerprint,
        },
        |message| key.sign(message),
    );
    assert_eq!(other.key, chain.digests[1]);
    fixture.store.insert(
        BUCKET,
        &other.key,
        StoredObject {
            bytes: other.gzip,
            metadata: other.metadata,
        },
    );
    let report = fixture.validate(since(), since() + hours(3)).await;
    assert_eq!(
        report.digest(&chain.digests[2]),
        Some(&Status::BrokenChain(format!(
            "its previousDigestHashValue does not match s3://{BUCKET}/{}",
            chain.digests[1]
        )))
    );
    assert_eq!(report.digest(&chain.digests[1]), Some(&Status::Valid));
    assert_eq!(report.digest(&chain.digests[0]), Some(&Status::Valid));
    assert!(!report.is_valid());
    assert!(report.to_string().contains("INVALID: broken chain"));
}

#[tokio::test]
async fn a_digest_moved_or_signed_with_another_key_is_invalid() {
    let chain = written_chain().await;
    let fixture = &chain.fixture;
    // Validating with no key that was valid then.
    let report = validate(
        &fixture.store,
        &fixture.trail,
        &[],
        since(),
        since() + hours(3),
    )
    .await
    .unwrap();
    let fingerprint = fixture.digest_json(&chain.digests[2])["digestPublicKeyFingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        report.digest(&chain.digests[2]),
        Some(&Status::Modified(format!(
            "public key not found for fingerprint {fingerprint} at 2026-03-01T13:00:07Z"
        )))
    );
    // The third digest copied over the second's place.
    let third = fixture.store.object(BUCKET, &chain.digests[2]).unwrap();
    fixture.store.insert(BUCKET, &chain.digests[1], third);
    let report = fixture.validate(since(), since() + hours(3)).await;
    assert_eq!(
        report.digest(&chain.digests[1]),
        Some(&Status::Modified(
            "has been moved from its original location".into()
        ))
    );
}

#[tokio::test]
async fn rotated_keys_sign_later_digests_and_validate() {
    let fixture = Fixture::new().await;
    let keys = fixture.keys();
    let first = fixture.write(&keys, after(1)).await;
    let retired = keys
        .rotate(since() + hours(1) + TimeDelta::minutes(30))
        .await;
    let second = fixture.write(&keys, after(2)).await;
    let fingerprint = |key: &str| fixture.digest_json(key)["digestPublicKeyFingerprint"].clone();
    assert_eq!(retired.unwrap().as_deref(), fingerprint(&first[0]).as_str());
    assert_ne!(fingerprint(&first[0]), fingerprint(&second[0]));

    let public_keys = keys.list_public_keys(since(), after(2)).await.unwrap();
    assert_eq!(public_keys.len(), 2);
    assert_eq!(
        public_keys[0].validity_end,
        since() + hours(1) + TimeDelta::minutes(30)
    );
    assert!(public_keys[0].validity_end <= public_keys[1].validity_start);
    assert_eq!(public_keys[1].validity_start, since() + hours(2));
    // A range that ends before the rotation lists only the old key.
    assert_eq!(
        keys.list_public_keys(since(), since() + hours(1))
            .await
            .unwrap()
            .len(),
        1
    );
    let report = fixture.validate(since(), since() + hours(2)).await;
    assert!(report.is_valid(), "{report}");
    assert_eq!(report.digests.len(), 2);
}

#[tokio::test]
async fn a_new_chain_begins_when_validation_restarts() {
    let mut fixture = Fixture::new().await;
    let keys = fixture.keys();
    let first = fixture.write(&keys, after(2)).await;
    // Logging stopped, then started again three hours later.
    fixture.trail.validation_since = since() + hours(5);
    let second = fixture.write(&keys, after(6)).await;
    assert_eq!(second.len(), 1);
    let restarted = fixture.digest_json(&second[0]);
    assert_eq!(restarted["digestStartTime"], "2026-03-01T15:00:07Z");
    assert_eq!(restarted["previousDigestS3Object"], serde_json::Value::Null);
    let report = fixture.validate(since(), since() + hours(6)).await;
    assert!(report.is_valid(), "{report}");
    assert_eq!(report.digests.len(), first.len() + second.len());
}

#[tokio::test]
async fn signing_keys_open_only_with_their_master_key() {
    let fixture = Fixture::new().await;
    fixture.write(&fixture.keys(), after(1)).await;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT wrapped_private_key FROM digest_signing_keys")
        .fetch_one(&fixture.pool)
        .await
        .unwrap();
    // PKCS#8 DER of an RSA key begins with this; sealed bytes do not show it.
    assert!(!stored.windows(4).any(|w| w == [0x02, 0x01, 0x00, 0x30]));
    let other = SigningKeys::new(fixture.pool.clone(), MasterKey::generate(), "us-east-1");
    let error = other
        .key_for(since() + hours(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("the digest signing key ")
            && error.ends_with(" does not open with this master key"),
        "{error}"
    );
}
