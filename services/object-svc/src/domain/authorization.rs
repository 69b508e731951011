//! The permissions each operation asks for, and the bucket policies they are judged
//! by. Which action an operation needs follows S3's documentation (HeadObject needs
//! s3:GetObject, CopyObject GetObject on its source and PutObject on its target...).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use keyhold_key_policy::BucketPolicy;

use super::{Objects, SseRequest};
use crate::{
    access::{self, Check, Requester},
    error::{ObjectError, ObjectResult},
    model::{Bucket, Permission},
};

/// Parsed bucket policies by bucket. Every request reads its bucket's policy text with
/// the bucket, so a change applies to the next request on every replica; the text is
/// parsed again only when it differs from the one parsed last.
#[derive(Default)]
pub struct PolicyCache {
    parsed: Mutex<HashMap<String, (String, Arc<BucketPolicy>)>>,
}

/// Bounds the cache's memory (20 KB policies): past it, the cache starts over.
const MAX_CACHED_POLICIES: usize = 4096;

impl PolicyCache {
    fn policy(&self, bucket: &Bucket) -> ObjectResult<Option<Arc<BucketPolicy>>> {
        let Some(text) = &bucket.policy else {
            return Ok(None);
        };
        if let Some((cached, parsed)) = self.lock().get(&bucket.name)
            && cached == text
        {
            return Ok(Some(parsed.clone()));
        }
        // Stored policies were validated when they were put; one that no longer parses
        // (a stricter release) must not be skipped, since it may hold a Deny.
        let parsed = Arc::new(BucketPolicy::parse(text, &bucket.name).map_err(|error| {
            ObjectError::Internal(format!(
                "the stored policy of bucket {} no longer parses: {error}",
                bucket.name
            ))
        })?);
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED_POLICIES {
            cache.clear();
        }
        cache.insert(bucket.name.clone(), (text.clone(), parsed.clone()));
        Ok(Some(parsed))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Arc<BucketPolicy>)>> {
        // A panic while holding the lock leaves a consistent map: keep serving.
        self.parsed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Objects {
    /// Whether `requester` may do what `check` names to `bucket`, under the bucket's
    /// current policy.
    pub(super) fn authorize(
        &self,
        requester: &Requester,
        bucket: &Bucket,
        check: &Check,
    ) -> ObjectResult<()> {
        let policy = self.policies.policy(bucket)?;
        access::authorize(requester, bucket, policy.as_deref(), check)
    }

    /// A new object at `key` (PutObject, CopyObject's target, multipart uploads):
    /// s3:PutObject with the request's ACL and encryption headers as condition keys,
    /// and s3:PutObjectAcl as well when it sets an ACL the bucket applies.
    pub(super) fn authorize_object_write(
        &self,
        requester: &Requester,
        bucket: &Bucket,
        key: &str,
        canned_acl: &str,
        sse: &SseRequest,
    ) -> ObjectResult<()> {
        let write = Check::object("s3:PutObject", &bucket.name, key)
            .with("s3:x-amz-acl", canned_acl)
            .with(
                "s3:x-amz-server-side-encryption",
                &sse.server_side_encryption,
            )
            .with(
                "s3:x-amz-server-side-encryption-aws-kms-key-id",
                &sse.kms_key_id,
            )
            .or_public_grant(&bucket.acl, Permission::Write);
        self.authorize(requester, bucket, &write)?;
        // Only an ACL the bucket will apply needs its own permission: the owner's full
        // control is what every object of an ACL-less bucket has anyway, and it is what
        // CloudTrail sends with only s3:PutObject granted.
        let applies_an_acl = bucket.ownership.acls_enabled()
            && !matches!(canned_acl, "" | "bucket-owner-full-control");
        if !applies_an_acl {
            return Ok(());
        }
        let acl = Check::object("s3:PutObjectAcl", &bucket.name, key)
            .with("s3:x-amz-acl", canned_acl)
            .or_public_grant(&bucket.acl, Permission::Write);
        self.authorize(requester, bucket, &acl)
    }

    /// A multipart upload's steps: s3:PutObject for its parts and completion, or
    /// s3:AbortMultipartUpload / s3:ListMultipartUploadParts, on the upload's key.
    pub(super) fn authorize_upload(
        &self,
        requester: &Requester,
        bucket: &Bucket,
        action: &'static str,
        key: &str,
    ) -> ObjectResult<()> {
        let check = Check::object(action, &bucket.name, key)
            .or_public_grant(&bucket.acl, Permission::Write);
        self.authorize(requester, bucket, &check)
    }

    /// A missing object: NoSuchKey only for callers who may list the bucket, else
    /// AccessDenied, so that keys stay secret (as in S3).
    pub(super) fn missing_object(
        &self,
        requester: &Requester,
        bucket: &Bucket,
        key: &str,
    ) -> ObjectError {
        let list = Check::bucket("s3:ListBucket", &bucket.name)
            .or_public_grant(&bucket.acl, Permission::Read);
        match self.authorize(requester, bucket, &list) {
            Ok(()) => ObjectError::NoSuchKey(key.to_owned()),
            Err(denied) => denied,
        }
    }
}
