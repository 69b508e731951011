//! One digest file: its JSON (CloudTrail's fields, in CloudTrail's order), its S3 key,
//! its gzip bytes, the string its signature covers and the object metadata that
//! carries the signature. Pure: the key pair signs through a closure.

use std::io::Write as _;

use chrono::{DateTime, Utc};
use flate2::{Compression, write::GzEncoder};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{DeliveredLogFile, DigestTrail, Metadata};

pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
pub const HASH_ALGORITHM: &str = "SHA-256";
/// Object metadata names (S3 sends them as `x-amz-meta-signature`, ...).
pub const SIGNATURE_METADATA: &str = "signature";
pub const SIGNATURE_ALGORITHM_METADATA: &str = "signature-algorithm";

/// CloudTrail's times in digests: UTC, whole seconds.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The previous digest of the chain, as the next one names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousDigest {
    pub bucket: String,
    pub key: String,
    /// Hex SHA-256 of its uncompressed bytes.
    pub sha256_hex: String,
    /// Its hex signature.
    pub signature: String,
}

/// The digest file's JSON. Field order is CloudTrail's; nulls serialize as null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestFile {
    pub aws_account_id: String,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    pub digest_signature_algorithm: String,
    pub newest_event_time: Option<String>,
    pub oldest_event_time: Option<String>,
    pub previous_digest_s3_bucket: Option<String>,
    pub previous_digest_s3_object: Option<String>,
    pub previous_digest_hash_value: Option<String>,
    pub previous_digest_hash_algorithm: Option<String>,
    pub previous_digest_signature: Option<String>,
    pub log_files: Vec<LogFileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFileEntry {
    pub s3_bucket: String,
    pub s3_object: String,
    pub hash_value: String,
    pub hash_algorithm: String,
    pub newest_event_time: String,
    pub oldest_event_time: String,
}

/// `[prefix/]AWSLogs/<account>/CloudTrail-Digest/<region>/`: where a trail's digests live.
pub fn digest_folder(trail: &DigestTrail) -> String {
    let prefix = trail
        .prefix
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(|p| format!("{p}/"))
        .unwrap_or_default();
    format!(
        "{prefix}AWSLogs/{}/CloudTrail-Digest/{}/",
        trail.account_id, trail.region
    )
}

/// The name part after the date folders, without the timestamp and extension:
/// `<account>_CloudTrail-Digest_<region>_<trail>_<home region>_`.
pub fn digest_file_stem(trail: &DigestTrail) -> String {
    format!(
        "{}_CloudTrail-Digest_{}_{}_{}_",
        trail.account_id, trail.region, trail.name, trail.region
    )
}

/// The S3 key of the digest whose window ends at `end`.
pub fn digest_key(trail: &DigestTrail, end: DateTime<Utc>) -> String {
    format!(
        "{}{}{}{}.json.gz",
        digest_folder(trail),
        end.format("%Y/%m/%d/"),
        digest_file_stem(trail),
        end.format("%Y%m%dT%H%M%SZ")
    )
}

/// What a digest signature covers: the end time, where the digest lives, the hash of
/// its uncompressed bytes and the previous signature ("null" for the first digest of a
/// chain, as CloudTrail's validators expect).
pub fn string_to_sign(
    digest_end_time: &str,
    bucket: &str,
    key: &str,
    sha256_hex: &str,
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{digest_end_time}\n{bucket}/{key}\n{sha256_hex}\n{}",
        previous_signature.unwrap_or("null")
    )
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Gzip with a zero mtime in the header, so the same digest always has the same bytes
/// (a digest rewritten after a crash is the same object).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        Compression::default(),
    );
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .expect("writing into a Vec cannot fail")
}

/// Everything the digest of one window needs.
#[derive(Debug, Clone, Copy)]
pub struct DigestInput<'a> {
    pub trail: &'a DigestTrail,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub log_files: &'a [DeliveredLogFile],
    pub previous: Option<&'a PreviousDigest>,
    pub fingerprint: &'a str,
}

/// A built and signed digest, ready to be put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltDigest {
    pub bucket: String,
    pub key: String,
    pub file: DigestFile,
    /// The uncompressed JSON, which the hash and signature cover.
    pub json: Vec<u8>,
    pub gzip: Vec<u8>,
    pub sha256_hex: String,
    pub signature: String,
    /// `signature` and `signature-algorithm`.
    pub metadata: Metadata,
}

impl BuiltDigest {
    /// How the next digest of the chain names this one.
    pub fn as_previous(&self) -> PreviousDigest {
        PreviousDigest {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            sha256_hex: self.sha256_hex.clone(),
            signature: self.signature.clone(),
        }
    }
}

pub fn digest_file(input: &DigestInput<'_>) -> DigestFile {
    let trail = input.trail;
    let previous = input.previous;
    DigestFile {
        aws_account_id: trail.account_id.clone(),
        digest_start_time: format_time(input.start),
        digest_end_time: format_time(input.end),
        digest_s3_bucket: trail.bucket.clone(),
        digest_s3_object: digest_key(trail, input.end),
        digest_public_key_fingerprint: input.fingerprint.to_owned(),
        digest_signature_algorithm: SIGNATURE_ALGORITHM.to_owned(),
        newest_event_time: input
            .log_files
            .iter()
            .map(|f| f.newest_event_time)
            .max()
            .map(format_time),
        oldest_event_time: input
            .log_files
            .iter()
            .map(|f| f.oldest_event_time)
            .min()
            .map(format_time),
        previous_digest_s3_bucket: previous.map(|p| p.bucket.clone()),
        previous_digest_s3_object: previous.map(|p| p.key.clone()),
        previous_digest_hash_value: previous.map(|p| p.sha256_hex.clone()),
        previous_digest_hash_algorithm: previous.map(|_| HASH_ALGORITHM.to_owned()),
        previous_digest_signature: previous.map(|p| p.signature.clone()),
        log_files: input
            .log_files
            .iter()
            .map(|f| LogFileEntry {
                s3_bucket: f.bucket.clone(),
                s3_object: f.key.clone(),
                hash_value: f.sha256_hex.clone(),
                hash_algorithm: HASH_ALGORITHM.to_owned(),
                newest_event_time: format_time(f.newest_event_time),
                oldest_event_time: format_time(f.oldest_event_time),
            })
            .collect(),
    }
}

/// Builds the digest of `input` and signs it with `sign`, which returns the hex
/// SHA256withRSA signature of the bytes it is given.
pub fn build(input: &DigestInput<'_>, sign: impl FnOnce(&[u8]) -> String) -> BuiltDigest {
    let file = digest_file(input);
    let json = serde_json::to_vec(&file).expect("a digest serializes");
    let sha256_hex = sha256_hex(&json);
    let signature = sign(
        string_to_sign(
            &file.digest_end_time,
            &file.digest_s3_bucket,
            &file.digest_s3_object,
            &sha256_hex,
            file.previous_digest_signature.as_deref(),
        )
        .as_bytes(),
    );
    let metadata = Metadata::from([
        (SIGNATURE_METADATA.to_owned(), signature.clone()),
        (
            SIGNATURE_ALGORITHM_METADATA.to_owned(),
            SIGNATURE_ALGORITHM.to_owned(),
        ),
    ]);
    BuiltDigest {
        bucket: file.digest_s3_bucket.clone(),
        key: file.digest_s3_object.clone(),
        gzip: gzip(&json),
        file,
        json,
        sha256_hex,
        signature,
        metadata,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 8, 17, h, m, s).unwrap()
    }

    fn trail() -> DigestTrail {
        DigestTrail {
            account_id: "111122223333".into(),
            region: "us-east-2".into(),
            name: "your-trail-name".into(),
            bucket: "amzn-s3-demo-bucket".into(),
            prefix: None,
            validation_since: at(13, 1, 31),
            until: None,
        }
    }

    fn log_file() -> DeliveredLogFile {
        DeliveredLogFile {
            bucket: "amzn-s3-demo-bucket".into(),
            key: "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/17/111122223333_CloudTrail_us-east-2_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz".into(),
            sha256_hex: "9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6".into(),
            oldest_event_time: at(14, 42, 27),
            newest_event_time: at(14, 52, 27),
            delivered_at: at(14, 45, 3),
        }
    }

    fn previous() -> PreviousDigest {
        PreviousDigest {
            bucket: "amzn-s3-demo-bucket".into(),
            key: "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T140131Z.json.gz".into(),
            sha256_hex: "97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d".into(),
            signature: "50887ccf".into(),
        }
    }

    fn fixed_signature(_: &[u8]) -> String {
        "5161".into()
    }

    #[test]
    fn a_digest_is_cloudtrails_json_field_for_field() {
        let trail = trail();
        let files = [log_file()];
        let previous = previous();
        let built = build(
            &DigestInput {
                trail: &trail,
                start: at(14, 1, 31),
                end: at(15, 1, 31),
                log_files: &files,
                previous: Some(&previous),
                fingerprint: "31e8b5433410dfb61a9dc45cc65b22ff",
            },
            fixed_signature,
        );
        // CloudTrail's sample digest, field for field, written compactly.
        let expected = concat!(
            r#"{"awsAccountId":"111122223333","#,
            r#""digestStartTime":"2015-08-17T14:01:31Z","#,
            r#""digestEndTime":"2015-08-17T15:01:31Z","#,
            r#""digestS3Bucket":"amzn-s3-demo-bucket","#,
            r#""digestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z.json.gz","#,
            r#""digestPublicKeyFingerprint":"31e8b5433410dfb61a9dc45cc65b22ff","#,
            r#""digestSignatureAlgorithm":"SHA256withRSA","#,
            r#""newestEventTime":"2015-08-17T14:52:27Z","#,
            r#""oldestEventTime":"2015-08-17T14:42:27Z","#,
            r#""previousDigestS3Bucket":"amzn-s3-demo-bucket","#,
            r#""previousDigestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T140131Z.json.gz","#,
            r#""previousDigestHashValue":"97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d","#,
            r#""previousDigestHashAlgorithm":"SHA-256","#,
            r#""previousDigestSignature":"50887ccf","#,
            r#""logFiles":[{"s3Bucket":"amzn-s3-demo-bucket","#,
            r#""s3Object":"AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/17/111122223333_CloudTrail_us-east-2_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz","#,
            r#""hashValue":"9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6","#,
            r#""hashAlgorithm":"SHA-256","#,
            r#""newestEventTime":"2015-08-17T14:52:27Z","#,
            r#""oldestEventTime":"2015-08-17T14:42:27Z"}]}"#,
        );
        assert_eq!(String::from_utf8(built.json.clone()).unwrap(), expected);
        assert_eq!(built.bucket, "amzn-s3-demo-bucket");
        assert_eq!(built.key, built.file.digest_s3_object);
        assert_eq!(built.sha256_hex, sha256_hex(expected.as_bytes()));
        assert_eq!(
            built.metadata,
            Metadata::from([
                ("signature".to_owned(), "5161".to_owned()),
                ("signature-algorithm".to_owned(), "SHA256withRSA".to_owned()),
            ])
        );
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(built.gzip.as_slice()),
            &mut unzipped,
        )
        .unwrap();
        assert_eq!(unzipped, built.json);
    }

    #[test]
    fn the_first_digest_of_a_chain_without_log_files_has_nulls_and_no_files() {
        let trail = trail();
        let built = build(
            &DigestInput {
                trail: &trail,
                start: at(13, 1, 31),
                end: at(14, 1, 31),
                log_files: &[],
                previous: None,
                fingerprint: "31e8b5433410dfb61a9dc45cc65b22ff",
            },
            fixed_signature,
        );
        let json: serde_json::Value = serde_json::from_slice(&built.json).unwrap();
        for field in [
            "newestEventTime",
            "oldestEventTime",
            "previousDigestS3Bucket",
            "previousDigestS3Object",
            "previousDigestHashValue",
            "previousDigestHashAlgorithm",
            "previousDigestSignature",
        ] {
            assert_eq!(json[field], serde_json::Value::Null, "{field}");
        }
        assert_eq!(json["logFiles"], serde_json::json!([]));
        assert_eq!(json.as_object().unwrap().len(), 15);
    }

    #[test]
    fn the_signature_covers_end_location_hash_and_previous_signature() {
        let trail = trail();
        let previous = previous();
        let mut signed = Vec::new();
        let built = build(
            &DigestInput {
                trail: &trail,
                start: at(14, 1, 31),
                end: at(15, 1, 31),
                log_files: &[],
                previous: Some(&previous),
                fingerprint: "ab",
            },
            |bytes| {
                signed = bytes.to_vec();
                "00".into()
            },
        );
        assert_eq!(
            String::from_utf8(signed).unwrap(),
            format!(
                "2015-08-17T15:01:31Z\namzn-s3-demo-bucket/{}\n{}\n50887ccf",
                built.key, built.sha256_hex
            )
        );
        assert_eq!(
            string_to_sign("t", "b", "k", "h", None),
            "t\nb/k\nh\nnull",
            "the first digest signs the word null"
        );
    }

    #[test]
    fn digest_keys_follow_cloudtrails_layout_with_and_without_a_prefix() {
        let mut trail = trail();
        trail.account_id = "000000000000".into();
        trail.region = "us-east-1".into();
        trail.name = "myTrail".into();
        let end = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(
            digest_key(&trail, end),
            "AWSLogs/000000000000/CloudTrail-Digest/us-east-1/2026/01/02/000000000000_CloudTrail-Digest_us-east-1_myTrail_us-east-1_20260102T030405Z.json.gz"
        );
        trail.prefix = Some("logs/a".into());
        assert!(
            digest_key(&trail, end).starts_with("logs/a/AWSLogs/000000000000/CloudTrail-Digest/")
        );
    }

    #[test]
    fn the_same_digest_gzips_to_the_same_bytes() {
        assert_eq!(gzip(b"{\"a\":1}"), gzip(b"{\"a\":1}"));
    }
}
