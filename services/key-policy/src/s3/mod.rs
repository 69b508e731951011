//! S3 authorization in the same engine as key policies: bucket policies (parsed by
//! the shared parser, validated as S3's PutBucketPolicy validates them), Block
//! Public Access's "is public" judgement, and the decision for one S3 request from
//! the bucket policy, the caller's identity policy and the ACLs, as AWS documents it
//! for requests within one account and across accounts.

mod actions;
mod authorize;
mod bucket_policy;
mod public;

/// S3's limit on a bucket policy, in UTF-8 bytes.
pub const MAX_BUCKET_POLICY_BYTES: usize = 20 * 1024;

pub(crate) use actions::is_s3_action_pattern;
pub use authorize::{S3Access, S3Caller, S3Decision, authorize_s3};
pub use bucket_policy::BucketPolicy;
