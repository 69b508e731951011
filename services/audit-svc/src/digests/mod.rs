//! Log file integrity validation as CloudTrail does it: every interval (an hour by
//! default) a digest file names the log files delivered in that window with the
//! SHA-256 of each, links to the previous digest by its hash and signature, and is
//! signed with SHA256withRSA by the region's key pair; a validator walks the chain
//! backwards and reports each digest and log file as valid, modified or missing.
//!
//! - [`digest`]: building a digest (JSON, S3 key, gzip, string to sign), pure.
//! - [`keys`]: the signing key pairs (private keys sealed with the master key),
//!   ListPublicKeys.
//! - [`chain`]: the writer step and the chain state that survives restarts.
//! - [`validate`]: the validation walk and its report.
//!
//! Objects are read and written through [`ObjectStore`], which the trails part
//! adapts to its object-svc client; [`memory::MemoryStore`] serves tests and benches.

pub mod chain;
pub mod digest;
pub mod keys;
pub mod memory;
pub mod validate;

use std::{collections::BTreeMap, future::Future};

use chrono::{DateTime, Utc};

pub use chain::{DigestSchedule, delivered_log_files, write_due_digests};
pub use keys::{PublicKey, SigningKeys, list_public_keys};
pub use validate::{ValidationReport, validate};

/// Object metadata as S3's APIs carry it: names without the `x-amz-meta-` prefix.
pub type Metadata = BTreeMap<String, String>;

/// A stored object with its user metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Vec<u8>,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// S3's NoSuchKey: what tells a deleted file from an unreadable one.
    #[error("NoSuchKey")]
    NoSuchKey,
    /// The store refused the call (AccessDenied, NoSuchBucket...), in its own words.
    #[error("{}: {}", .0.exception, .0.message)]
    Refused(Box<keyhold_platform::AwsError>),
    #[error("{0}")]
    Other(String),
}

/// The bucket operations digests need. `list` serves validation only: it finds the
/// newest digest of a range, and digests that the chain does not reach.
pub trait ObjectStore: Sync {
    fn put(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        metadata: Metadata,
    ) -> impl Future<Output = Result<(), ObjectError>> + Send;

    fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<StoredObject, ObjectError>> + Send;

    /// Every key of `bucket` that starts with `prefix`, in any order.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, ObjectError>> + Send;
}

/// One log file the trails part delivered (a row of `trail_log_files`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredLogFile {
    pub bucket: String,
    pub key: String,
    /// Hex SHA-256 of the uncompressed file.
    pub sha256_hex: String,
    pub oldest_event_time: DateTime<Utc>,
    pub newest_event_time: DateTime<Utc>,
    pub delivered_at: DateTime<Utc>,
}

/// What the digests of one trail need to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestTrail {
    pub account_id: String,
    /// The trail's home region, which is also where keyhold delivers.
    pub region: String,
    pub name: String,
    pub bucket: String,
    /// S3KeyPrefix, without a trailing '/'.
    pub prefix: Option<String>,
    /// When logging with validation last started: the first digest of a chain starts
    /// here, and a different value starts a new chain.
    pub validation_since: DateTime<Utc>,
    /// Set once logging has stopped and every log file of the events before the stop
    /// is delivered: the chain ends with the window that reaches this time.
    pub until: Option<DateTime<Utc>>,
}

impl DigestTrail {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:cloudtrail:{}:{}:trail/{}",
            self.region, self.account_id, self.name
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("writing the digest s3://{bucket}/{key}: {error}")]
    Store {
        bucket: String,
        key: String,
        error: ObjectError,
    },
    #[error("{0}")]
    Keys(String),
}
