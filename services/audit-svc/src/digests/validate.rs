//! Validation of a trail's log files over a time range, as `aws cloudtrail
//! validate-logs` does it: start at the newest digest of the range and follow each
//! digest's previousDigest* back, checking every digest's signature with the public
//! key valid at its time and every log file it names against its SHA-256.
//!
//! Beyond CloudTrail's validator, each link is checked too: the previous digest's hash
//! and signature must be the ones the newer digest names (else the newer digest is
//! reported as a broken chain), and a listed digest the chain skips over is reported.
//! A deleted newest digest cannot be seen, as with CloudTrail: nothing names it.

use std::{collections::HashSet, fmt, io::Read as _};

use crate::domain::rfc3339;
use chrono::{DateTime, NaiveDateTime, Utc};
use flate2::read::GzDecoder;
use sha2::{Digest as _, Sha256};

use super::{
    DigestTrail, ObjectError, ObjectStore, StoredObject,
    digest::{
        self, DigestFile, SIGNATURE_ALGORITHM, SIGNATURE_ALGORITHM_METADATA, SIGNATURE_METADATA,
    },
    keys::{self, PublicKey},
};

/// A digest lists a few hundred bytes per log file: far below this even for a busy hour.
const DIGEST_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Valid,
    /// The bytes are not what was signed or hashed (the reason says how).
    Modified(String),
    /// NoSuchKey where a digest or log file should be.
    Missing,
    /// The digest is genuine, but its link to the previous digest is not.
    BrokenChain(String),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Valid => f.write_str("valid"),
            Status::Modified(reason) => write!(f, "INVALID: {reason}"),
            Status::Missing => f.write_str("INVALID: not found"),
            Status::BrokenChain(reason) => write!(f, "INVALID: broken chain: {reason}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    pub bucket: String,
    pub key: String,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationReport {
    pub trail_arn: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Newest first, in the order the chain was walked.
    pub digests: Vec<FileCheck>,
    pub log_files: Vec<FileCheck>,
}

impl ValidationReport {
    pub fn is_valid(&self) -> bool {
        self.digests
            .iter()
            .chain(&self.log_files)
            .all(|c| c.status == Status::Valid)
    }

    pub fn digest(&self, key: &str) -> Option<&Status> {
        self.digests
            .iter()
            .find(|c| c.key == key)
            .map(|c| &c.status)
    }

    pub fn log_file(&self, key: &str) -> Option<&Status> {
        self.log_files
            .iter()
            .find(|c| c.key == key)
            .map(|c| &c.status)
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (start, end) = (
            digest::format_time(self.start),
            digest::format_time(self.end),
        );
        writeln!(
            f,
            "Validating log files for trail {} between {start} and {end}\n",
            self.trail_arn
        )?;
        for check in &self.digests {
            writeln!(
                f,
                "Digest file\ts3://{}/{}\t{}",
                check.bucket, check.key, check.status
            )?;
        }
        for check in &self.log_files {
            writeln!(
                f,
                "Log file\ts3://{}/{}\t{}",
                check.bucket, check.key, check.status
            )?;
        }
        write!(f, "\n{}", self.summary())
    }
}

impl ValidationReport {
    /// The closing lines: the range, then the counts of valid and invalid files.
    pub fn summary(&self) -> String {
        let (start, end) = (
            digest::format_time(self.start),
            digest::format_time(self.end),
        );
        let mut text = format!("Results requested for {start} to {end}\n");
        if self.digests.is_empty() {
            text.push_str("No digests found\n");
            return text;
        }
        for (name, checks) in [("digest", &self.digests), ("log", &self.log_files)] {
            let total = checks.len();
            if total == 0 {
                continue;
            }
            let valid = checks.iter().filter(|c| c.status == Status::Valid).count();
            text.push_str(&format!("\n{valid}/{total} {name} files valid"));
            if valid < total {
                text.push_str(&format!(", {}/{total} {name} files INVALID", total - valid));
            }
        }
        text.push('\n');
        text
    }
}

/// The end time in a digest key of `trail`, when the key is one of its digests.
fn digest_key_time(trail: &DigestTrail, key: &str) -> Option<DateTime<Utc>> {
    let name = key.strip_prefix(&digest::digest_folder(trail))?;
    // YYYY/MM/DD/ then the file name.
    let file = name.get(11..)?;
    let stamp = file
        .strip_prefix(&digest::digest_file_stem(trail))?
        .strip_suffix(".json.gz")?;
    NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}

/// What a newer digest says of the one before it.
struct Link {
    /// Index in the report of the digest that names it.
    from: usize,
    sha256_hex: String,
    signature: String,
}

struct Next {
    bucket: String,
    key: String,
    link: Option<Link>,
}

/// A digest whose signature checked out.
struct GenuineDigest {
    file: DigestFile,
    start: DateTime<Utc>,
    sha256_hex: String,
    signature: String,
}

/// Checks one digest object found at `bucket`/`key`: format, location, signature.
fn check_digest(
    bucket: &str,
    key: &str,
    object: &StoredObject,
    public_keys: &[PublicKey],
) -> Result<GenuineDigest, String> {
    let invalid_format = || "invalid format".to_owned();
    let mut json = Vec::new();
    GzDecoder::new(object.bytes.as_slice())
        .take(DIGEST_SIZE_LIMIT)
        .read_to_end(&mut json)
        .map_err(|_| invalid_format())?;
    let file: DigestFile = serde_json::from_slice(&json).map_err(|_| invalid_format())?;
    if file.digest_s3_bucket != bucket || file.digest_s3_object != key {
        return Err("has been moved from its original location".into());
    }
    let (Some(signature), Some(algorithm)) = (
        object.metadata.get(SIGNATURE_METADATA),
        object.metadata.get(SIGNATURE_ALGORITHM_METADATA),
    ) else {
        return Err("signature verification failed".into());
    };
    if algorithm != SIGNATURE_ALGORITHM || file.digest_signature_algorithm != SIGNATURE_ALGORITHM {
        return Err(format!("unsupported signature algorithm {algorithm}"));
    }
    let (Some(start), Some(end)) = (
        rfc3339(&file.digest_start_time),
        rfc3339(&file.digest_end_time),
    ) else {
        return Err(invalid_format());
    };
    let fingerprint = &file.digest_public_key_fingerprint;
    let Some(public_key) = public_keys
        .iter()
        .find(|k| &k.fingerprint == fingerprint && k.is_valid_at(end))
    else {
        return Err(format!(
            "public key not found for fingerprint {fingerprint} at {}",
            file.digest_end_time
        ));
    };
    let sha256_hex = digest::sha256_hex(&json);
    let message = digest::string_to_sign(
        &file.digest_end_time,
        bucket,
        key,
        &sha256_hex,
        file.previous_digest_signature.as_deref(),
    );
    if !keys::verify(&public_key.value, message.as_bytes(), signature) {
        return Err("signature verification failed".into());
    }
    Ok(GenuineDigest {
        signature: signature.clone(),
        file,
        start,
        sha256_hex,
    })
}

/// Valid when the gunzipped bytes hash to `sha256_hex`.
pub fn check_log_file(gzip: &[u8], sha256_hex: &str) -> Status {
    let mut decoder = GzDecoder::new(gzip);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match decoder.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(_) => return Status::Modified("invalid format".into()),
        }
    }
    if hex::encode(hasher.finalize()).eq_ignore_ascii_case(sha256_hex) {
        Status::Valid
    } else {
        Status::Modified("hash value doesn't match".into())
    }
}

/// Validates `trail`'s digests and log files for log files delivered in [start, end],
/// with `public_keys` (ListPublicKeys over the range). Fails only when the store
/// fails for a reason other than a missing object.
pub async fn validate(
    store: &impl ObjectStore,
    trail: &DigestTrail,
    public_keys: &[PublicKey],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<ValidationReport, ObjectError> {
    let mut report = ValidationReport {
        trail_arn: trail.arn(),
        start,
        end,
        digests: Vec::new(),
        log_files: Vec::new(),
    };
    // Oldest first, so the newest is popped first. The first digest ending after
    // `end` is included: it covers the log files delivered just before `end`.
    let mut listed: Vec<(DateTime<Utc>, String)> = store
        .list(&trail.bucket, &digest::digest_folder(trail))
        .await?
        .into_iter()
        .filter_map(|key| digest_key_time(trail, &key).map(|time| (time, key)))
        .filter(|(time, _)| *time >= start)
        .collect();
    listed.sort();
    if let Some(after) = listed.iter().position(|(time, _)| *time > end) {
        listed.truncate(after + 1);
    }
    let fallback = |listed: &mut Vec<(DateTime<Utc>, String)>| {
        listed.pop().map(|(_, key)| Next {
            bucket: trail.bucket.clone(),
            key,
            link: None,
        })
    };

    let mut visited = HashSet::new();
    let mut next = fallback(&mut listed);
    while let Some(current) = next.take() {
        if !visited.insert((current.bucket.clone(), current.key.clone())) {
            break;
        }
        if current.bucket == trail.bucket {
            let time = digest_key_time(trail, &current.key);
            // Listed digests newer than the one the chain leads to: nothing names them.
            while let Some((listed_time, listed_key)) = listed.last() {
                if *listed_key == current.key {
                    listed.pop();
                    break;
                }
                if time.is_some_and(|t| *listed_time <= t) {
                    break;
                }
                let (_, skipped) = listed.pop().expect("just seen");
                report.digests.push(FileCheck {
                    bucket: trail.bucket.clone(),
                    key: skipped,
                    status: Status::BrokenChain(
                        "no digest of the chain names it as its previous digest".into(),
                    ),
                });
            }
        }
        let object = match store.get(&current.bucket, &current.key).await {
            Ok(object) => object,
            Err(ObjectError::NoSuchKey) => {
                report.digests.push(FileCheck {
                    bucket: current.bucket,
                    key: current.key,
                    status: Status::Missing,
                });
                next = fallback(&mut listed);
                continue;
            }
            Err(other) => return Err(other),
        };
        let genuine = match check_digest(&current.bucket, &current.key, &object, public_keys) {
            Ok(genuine) => genuine,
            Err(reason) => {
                report.digests.push(FileCheck {
                    bucket: current.bucket,
                    key: current.key,
                    status: Status::Modified(reason),
                });
                next = fallback(&mut listed);
                continue;
            }
        };
        if let Some(link) = &current.link {
            let mismatch = if link.sha256_hex != genuine.sha256_hex {
                Some("previousDigestHashValue")
            } else if link.signature != genuine.signature {
                Some("previousDigestSignature")
            } else {
                None
            };
            if let Some(field) = mismatch {
                report.digests[link.from].status = Status::BrokenChain(format!(
                    "its {field} does not match s3://{}/{}",
                    current.bucket, current.key
                ));
            }
        }
        let index = report.digests.len();
        report.digests.push(FileCheck {
            bucket: current.bucket,
            key: current.key,
            status: Status::Valid,
        });
        for log in &genuine.file.log_files {
            let status = match store.get(&log.s3_bucket, &log.s3_object).await {
                Ok(object) => check_log_file(&object.bytes, &log.hash_value),
                Err(ObjectError::NoSuchKey) => Status::Missing,
                Err(other) => return Err(other),
            };
            report.log_files.push(FileCheck {
                bucket: log.s3_bucket.clone(),
                key: log.s3_object.clone(),
                status,
            });
        }
        if genuine.start <= start {
            break;
        }
        let file = genuine.file;
        next = match (
            file.previous_digest_s3_bucket,
            file.previous_digest_s3_object,
        ) {
            (Some(bucket), Some(key)) => Some(Next {
                bucket,
                key,
                link: Some(Link {
                    from: index,
                    sha256_hex: file.previous_digest_hash_value.unwrap_or_default(),
                    signature: file.previous_digest_signature.unwrap_or_default(),
                }),
            }),
            // The first digest of a chain: an older chain may end before it.
            _ => fallback(&mut listed),
        };
    }
    Ok(report)
}
