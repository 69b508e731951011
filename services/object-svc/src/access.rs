//! Who may do what to a bucket or object. Principals of the bucket's account may do
//! everything; anonymous callers only what a public ACL grants, and only while the
//! bucket's Object Ownership honours ACLs and Block Public Access does not ignore
//! public ones. The order of checks is AWS's (docs/aws-behaviour.md, S3 errors): authorize, then "SSE-KMS needs
//! SigV4", then KMS.

use keyhold_platform::Caller;

use crate::{
    error::{ObjectError, ObjectResult, SIGV4_REQUIRED},
    model::{Acl, Bucket, ObjectRecord, Permission, SseAlgorithm},
};

/// The caller of one request, as the domain sees it.
#[derive(Debug, Clone)]
pub enum Requester {
    /// An authenticated principal (user or root; a service acting for a user is the user).
    Principal(Caller),
    /// No credentials at all.
    Anonymous,
}

impl Requester {
    pub fn from_caller(caller: Option<&Caller>) -> Self {
        match caller {
            Some(caller) => Requester::Principal(caller.clone()),
            None => Requester::Anonymous,
        }
    }

    fn owns(&self, bucket: &Bucket) -> bool {
        matches!(self, Requester::Principal(caller) if caller.principal.account_id == bucket.account_id)
    }

    /// The ARN kms-svc is asked to act for; anonymous callers never reach KMS.
    pub fn kms_user(&self) -> ObjectResult<&str> {
        match self {
            Requester::Principal(caller) => Ok(&caller.principal.arn),
            Requester::Anonymous => Err(sigv4_required()),
        }
    }
}

/// Bucket-level operations (settings, ACLs, deletion): the owner's account only.
pub fn manage_bucket(requester: &Requester, bucket: &Bucket) -> ObjectResult<()> {
    if requester.owns(bucket) {
        Ok(())
    } else {
        Err(ObjectError::access_denied())
    }
}

/// ListObjects: the owner, or anyone while the bucket's ACL is public-read.
pub fn list_objects(requester: &Requester, bucket: &Bucket) -> ObjectResult<()> {
    if requester.owns(bucket) || public_by_acl(bucket, &bucket.acl, Permission::Read) {
        Ok(())
    } else {
        Err(ObjectError::access_denied())
    }
}

/// PutObject / DeleteObject: the owner, or anyone while the bucket's ACL is
/// public-read-write.
pub fn write_objects(requester: &Requester, bucket: &Bucket) -> ObjectResult<()> {
    if requester.owns(bucket) || public_by_acl(bucket, &bucket.acl, Permission::Write) {
        Ok(())
    } else {
        Err(ObjectError::access_denied())
    }
}

/// GetObject / HeadObject. A missing object is AccessDenied for callers who may not
/// list the bucket, as in S3, so anonymous callers learn nothing about keys.
pub fn read_object(
    requester: &Requester,
    bucket: &Bucket,
    object: Option<&ObjectRecord>,
    key: &str,
) -> ObjectResult<()> {
    if requester.owns(bucket) {
        return match object {
            Some(_) => Ok(()),
            None => Err(ObjectError::NoSuchKey(key.to_owned())),
        };
    }
    let Some(object) = object else {
        return Err(if list_objects(requester, bucket).is_ok() {
            ObjectError::NoSuchKey(key.to_owned())
        } else {
            ObjectError::access_denied()
        });
    };
    if !public_by_acl(bucket, &object.acl, Permission::Read) {
        return Err(ObjectError::access_denied());
    }
    if matches!(requester, Requester::Anonymous)
        && object.encryption.algorithm == SseAlgorithm::AwsKms
    {
        return Err(sigv4_required());
    }
    Ok(())
}

/// A canned or explicit ACL about to be set on a bucket or object.
pub fn check_acl_change(bucket: &Bucket, acl: &Acl) -> ObjectResult<()> {
    if !bucket.ownership.acls_enabled() {
        return Err(ObjectError::AccessControlListNotSupported);
    }
    if acl.is_public() && bucket.effective_block().block_public_acls {
        return Err(ObjectError::access_denied());
    }
    Ok(())
}

/// An ACL sent along with PutObject / CopyObject / CreateBucket: with ACLs disabled
/// only the owner's full control is accepted (`bucket-owner-full-control`, or
/// `private`, the same grant in a one-account installation), as in S3.
pub fn check_acl_on_write(bucket: &Bucket, canned: &str, acl: &Acl) -> ObjectResult<()> {
    if !bucket.ownership.acls_enabled() {
        return match canned {
            "" | "private" | "bucket-owner-full-control" => Ok(()),
            _ => Err(ObjectError::AccessControlListNotSupported),
        };
    }
    check_acl_change(bucket, acl)
}

fn public_by_acl(bucket: &Bucket, acl: &Acl, permission: Permission) -> bool {
    bucket.ownership.acls_enabled()
        && !bucket.effective_block().ignore_public_acls
        && acl.grants_public(permission)
}

fn sigv4_required() -> ObjectError {
    ObjectError::InvalidArgument {
        message: SIGV4_REQUIRED.to_owned(),
        argument_name: Some("Authorization".to_owned()),
        argument_value: None,
    }
}
