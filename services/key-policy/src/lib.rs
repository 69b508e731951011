//! AWS key policies for keyhold's KMS: parsing and validating policy documents,
//! deciding whether a caller may perform an action on a key, and the console's
//! policies and edits. Pure logic with no I/O, so that every access decision kms-svc
//! makes can be tested here on its own.
//!
//! - [`PolicyDocument`] parses key policies and identity policies.
//! - [`authorize`] combines a key policy with the caller's identity policy as AWS
//!   KMS does; [`authorize_without_key`] decides calls that target no key.
//! - [`console_key_policy`], [`add_key_user`] and friends write the policies the AWS
//!   console writes, so that keys created and edited through keyhold carry exactly
//!   the policy users expect from AWS.
//! - [`s3_managed_key_policy`] writes the policy of the AWS managed key
//!   `alias/aws/s3`.
//! - [`BucketPolicy`] validates S3 bucket policies with the same parser, and
//!   [`authorize_s3`] decides S3 requests from the bucket policy, the caller's
//!   identity policy and the ACLs, with the same matching and conditions.

mod condition;
mod console;
mod context;
mod document;
mod error;
mod evaluate;
mod json;
mod managed;
mod matching;
mod messages;
mod operator;
mod principal;
mod s3;

pub use console::{
    add_key_administrator, add_key_user, console_key_policy, default_key_policy,
    remove_key_administrator, remove_key_user,
};
pub use context::ConditionContext;
pub use document::{Effect, MAX_POLICY_BYTES, PolicyDocument, Statement};
pub use error::PolicyError;
pub use evaluate::{
    AccessRequest, Caller, Decision, LOCKOUT_MESSAGE, authorize, authorize_without_key,
    check_lockout_safety,
};
pub use managed::s3_managed_key_policy;
pub use messages::BUCKET_POLICY_TOO_LARGE;
pub use s3::{BucketPolicy, MAX_BUCKET_POLICY_BYTES, S3Access, S3Caller, S3Decision, authorize_s3};
