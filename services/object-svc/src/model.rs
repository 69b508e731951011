//! What object-svc keeps about buckets and objects: plain data, no I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `AES256` (SSE-S3) or `aws:kms` (SSE-KMS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SseAlgorithm {
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "aws:kms")]
    AwsKms,
}

impl SseAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            SseAlgorithm::Aes256 => "AES256",
            SseAlgorithm::AwsKms => "aws:kms",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "AES256" => Some(SseAlgorithm::Aes256),
            "aws:kms" => Some(SseAlgorithm::AwsKms),
            _ => None,
        }
    }
}

/// A bucket's default encryption (there is always one: SSE-S3 at least).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultEncryption {
    pub algorithm: SseAlgorithm,
    /// As the user gave it (id, ARN or alias); only with `aws:kms`; checked when used.
    pub kms_master_key_id: Option<String>,
    pub bucket_key_enabled: bool,
}

impl Default for DefaultEncryption {
    fn default() -> Self {
        DefaultEncryption {
            algorithm: SseAlgorithm::Aes256,
            kms_master_key_id: None,
            bucket_key_enabled: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    pub const ALL_ON: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
    pub const ALL_OFF: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: false,
        ignore_public_acls: false,
        block_public_policy: false,
        restrict_public_buckets: false,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    BucketOwnerEnforced,
    BucketOwnerPreferred,
    ObjectWriter,
}

impl ObjectOwnership {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "BucketOwnerEnforced" => Some(ObjectOwnership::BucketOwnerEnforced),
            "BucketOwnerPreferred" => Some(ObjectOwnership::BucketOwnerPreferred),
            "ObjectWriter" => Some(ObjectOwnership::ObjectWriter),
            _ => None,
        }
    }

    /// ACLs are disabled (only `private`/owner-full-control accepted) when enforced.
    pub fn acls_enabled(self) -> bool {
        self != ObjectOwnership::BucketOwnerEnforced
    }
}

pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS_URI: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Grantee {
    /// An account, by its canonical id (keyhold uses the account id).
    CanonicalUser { id: String },
    /// A group, by URI (AllUsers, AuthenticatedUsers).
    Group { uri: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "FULL_CONTROL")]
    FullControl,
    #[serde(rename = "READ")]
    Read,
    #[serde(rename = "WRITE")]
    Write,
    #[serde(rename = "READ_ACP")]
    ReadAcp,
    #[serde(rename = "WRITE_ACP")]
    WriteAcp,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::FullControl => "FULL_CONTROL",
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "FULL_CONTROL" => Some(Permission::FullControl),
            "READ" => Some(Permission::Read),
            "WRITE" => Some(Permission::Write),
            "READ_ACP" => Some(Permission::ReadAcp),
            "WRITE_ACP" => Some(Permission::WriteAcp),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// An access control list: the owner (the account) plus grants. Stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub owner_id: String,
    pub grants: Vec<Grant>,
}

impl Acl {
    /// The owner has FULL_CONTROL and nobody else anything: `private`.
    pub fn private(owner_id: &str) -> Self {
        Acl {
            owner_id: owner_id.to_owned(),
            grants: vec![Grant {
                grantee: Grantee::CanonicalUser {
                    id: owner_id.to_owned(),
                },
                permission: Permission::FullControl,
            }],
        }
    }

    /// Whether the ACL grants `permission` (or FULL_CONTROL) to everyone.
    pub fn grants_public(&self, permission: Permission) -> bool {
        self.grants.iter().any(|grant| {
            matches!(&grant.grantee, Grantee::Group { uri } if uri == ALL_USERS_URI)
                && (grant.permission == permission || grant.permission == Permission::FullControl)
        })
    }

    /// Whether any grant goes to AllUsers or AuthenticatedUsers (what BlockPublicAcls refuses).
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(|grant| {
            matches!(&grant.grantee, Grantee::Group { uri }
                if uri == ALL_USERS_URI || uri == AUTHENTICATED_USERS_URI)
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    /// The owning account.
    pub account_id: String,
    pub created_at: DateTime<Utc>,
    pub encryption: DefaultEncryption,
    /// None after DeletePublicAccessBlock (nothing blocked).
    pub public_access_block: Option<PublicAccessBlock>,
    pub ownership: ObjectOwnership,
    pub acl: Acl,
    /// The bucket policy as its owner sent it (validated when it was put).
    pub policy: Option<String>,
}

impl Bucket {
    /// The settings of a new bucket: SSE-S3, all four BPA flags on, ACLs disabled.
    pub fn new(name: &str, account_id: &str, now: DateTime<Utc>) -> Self {
        Bucket {
            name: name.to_owned(),
            account_id: account_id.to_owned(),
            created_at: now,
            encryption: DefaultEncryption::default(),
            public_access_block: Some(PublicAccessBlock::ALL_ON),
            ownership: ObjectOwnership::BucketOwnerEnforced,
            acl: Acl::private(account_id),
            policy: None,
        }
    }

    pub fn arn(&self) -> String {
        format!("arn:aws:s3:::{}", self.name)
    }

    /// The BPA flags in force (all off when the configuration was deleted).
    pub fn effective_block(&self) -> PublicAccessBlock {
        self.public_access_block
            .unwrap_or(PublicAccessBlock::ALL_OFF)
    }
}

/// Everything about how an object's bytes are encrypted, except the plaintext key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEncryption {
    pub algorithm: SseAlgorithm,
    /// SSE-KMS: the key ARN kms-svc reported.
    pub kms_key_arn: Option<String>,
    pub bucket_key_enabled: bool,
    /// The data key, wrapped: a KMS ciphertext blob (SSE-KMS) or sealed by
    /// object-svc's master key (SSE-S3).
    pub wrapped_key: Vec<u8>,
    /// The encryption context given to KMS (aws:s3:arn plus the caller's pairs);
    /// empty for SSE-S3.
    pub encryption_context: BTreeMap<String, String>,
    /// The per-object nonce prefix of the segmented cipher.
    pub nonce_prefix: Vec<u8>,
    /// Plaintext bytes per segment.
    pub segment_size: u32,
}

/// Content headers stored with an object and returned on GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentHeaders {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
}

/// One object's metadata row. Its bytes live in the blob store under `blob_path`, or
/// for a small object in the row itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    pub bucket: String,
    pub key: String,
    /// Names this version of the object (never derived from the key): where its
    /// ciphertext is in the blob store, or `inline/<uuid>` (no blob) for a small one.
    pub blob_path: String,
    /// Plaintext size.
    pub size: u64,
    /// Quoted, as S3 sends it.
    pub etag: String,
    pub last_modified: DateTime<Utc>,
    pub content: ContentHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub encryption: ObjectEncryption,
    pub acl: Acl,
}

impl ObjectRecord {
    pub fn arn(&self) -> String {
        format!("arn:aws:s3:::{}/{}", self.bucket, self.key)
    }
}

/// One page of a listing, before delimiter grouping is turned into the response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectListing {
    pub objects: Vec<ObjectRecord>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key or common prefix returned; the next page starts after it.
    pub next_marker: Option<String>,
}
