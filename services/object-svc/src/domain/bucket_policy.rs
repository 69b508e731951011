//! PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy and GetBucketPolicyStatus.
//! Only the bucket's own account may call them (MethodNotAllowed for others, even
//! when allowed), and its root always may, whatever the policy says.

use keyhold_key_policy::{BUCKET_POLICY_TOO_LARGE, BucketPolicy, MAX_BUCKET_POLICY_BYTES};

use super::Objects;
use crate::{
    access::{self, Check, Requester},
    error::{ObjectError, ObjectResult},
    model::Bucket,
};

/// GetBucketPolicyStatus: whether AWS would judge the bucket's policy public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyStatus {
    pub is_public: bool,
}

impl Objects {
    pub async fn put_bucket_policy(
        &self,
        requester: &Requester,
        name: &str,
        policy: &str,
    ) -> ObjectResult<()> {
        let bucket = self
            .bucket_for_policy_call(requester, name, "s3:PutBucketPolicy")
            .await?;
        let parsed = parse(policy, name)?;
        access::check_policy_change(requester, &bucket, &parsed)?;
        if self.store.set_bucket_policy(name, Some(policy)).await? {
            Ok(())
        } else {
            Err(ObjectError::NoSuchBucket(name.to_owned()))
        }
    }

    /// The policy exactly as it was put.
    pub async fn bucket_policy(&self, requester: &Requester, name: &str) -> ObjectResult<String> {
        let bucket = self
            .bucket_for_policy_call(requester, name, "s3:GetBucketPolicy")
            .await?;
        bucket
            .policy
            .ok_or_else(|| ObjectError::NoSuchBucketPolicy(name.to_owned()))
    }

    /// Removing a policy that is not there succeeds, as in S3 (204 either way).
    pub async fn delete_bucket_policy(
        &self,
        requester: &Requester,
        name: &str,
    ) -> ObjectResult<()> {
        self.bucket_for_policy_call(requester, name, "s3:DeleteBucketPolicy")
            .await?;
        if self.store.set_bucket_policy(name, None).await? {
            Ok(())
        } else {
            Err(ObjectError::NoSuchBucket(name.to_owned()))
        }
    }

    pub async fn bucket_policy_status(
        &self,
        requester: &Requester,
        name: &str,
    ) -> ObjectResult<PolicyStatus> {
        let bucket = self.bucket(name).await?;
        self.authorize(
            requester,
            &bucket,
            &Check::bucket("s3:GetBucketPolicyStatus", name),
        )?;
        let policy = bucket
            .policy
            .as_deref()
            .ok_or_else(|| ObjectError::NoSuchBucketPolicy(name.to_owned()))?;
        Ok(PolicyStatus {
            is_public: parse(policy, name)?.is_public(),
        })
    }

    async fn bucket_for_policy_call(
        &self,
        requester: &Requester,
        name: &str,
        action: &'static str,
    ) -> ObjectResult<Bucket> {
        let bucket = self.bucket(name).await?;
        self.authorize(requester, &bucket, &Check::bucket(action, name))?;
        access::owner_account_only(requester, &bucket)?;
        Ok(bucket)
    }
}

/// S3's 20 KB for a bucket policy, checked before the document is parsed or kept.
pub fn check_policy_size(policy: &str) -> ObjectResult<()> {
    if policy.len() > MAX_BUCKET_POLICY_BYTES {
        return Err(ObjectError::MalformedPolicy(
            BUCKET_POLICY_TOO_LARGE.to_owned(),
        ));
    }
    Ok(())
}

/// A policy document as S3 validates it for bucket `name`.
fn parse(policy: &str, name: &str) -> ObjectResult<BucketPolicy> {
    check_policy_size(policy)?;
    BucketPolicy::parse(policy, name)
        .map_err(|error| ObjectError::MalformedPolicy(error.to_string()))
}
