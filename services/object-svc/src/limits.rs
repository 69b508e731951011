//! Every gRPC request against S3's limits, before the handler notes its bucket and key
//! in the call's record or the domain does any work with it. `open` in grpc.rs needs
//! this trait, so a new RPC cannot be served without deciding its limits.
//!
//! What S3 carries in the path is checked as S3 checks it: a bucket name of 3 to 63
//! characters (InvalidBucketName; the other naming rules only bind at CreateBucket),
//! a key of 1 to 1024 bytes. What S3 carries in headers and the query string adds up
//! to at most 8 KiB (RequestHeaderSectionTooLarge), except user metadata (2 KB) and
//! the encryption context (8 KiB), whose own limits the domain applies to both APIs.
//! Bodies (ACL grants, encryption rules) are bounded by the domain's rules for them.

use keyhold_proto::object::v1 as pb;

use crate::{
    domain::{check_encryption_context, check_key, check_policy_size},
    error::{ObjectError, ObjectResult},
    validate,
};

pub trait RequestLimits {
    fn check_limits(&self) -> ObjectResult<()>;
}

fn bucket(name: &str) -> ObjectResult<()> {
    if validate::bucket_name_length(name) {
        Ok(())
    } else {
        Err(ObjectError::InvalidBucketName(name.to_owned()))
    }
}

fn object(bucket_name: &str, key: &str) -> ObjectResult<()> {
    bucket(bucket_name)?;
    check_key(key)
}

/// The fields S3 would send as headers or query parameters.
fn header_section(fields: &[&str]) -> ObjectResult<()> {
    let size: usize = fields.iter().map(|f| f.len()).sum();
    if size > validate::MAX_HEADER_SECTION {
        return Err(ObjectError::RequestHeaderSectionTooLarge);
    }
    Ok(())
}

/// Requests that name a bucket and nothing else a client can make large.
macro_rules! bucket_only {
    ($($request:ty),+) => {$(
        impl RequestLimits for $request {
            fn check_limits(&self) -> ObjectResult<()> {
                bucket(&self.bucket)
            }
        }
    )+};
}

bucket_only!(
    pb::DeleteBucketRequest,
    pb::HeadBucketRequest,
    pb::GetBucketEncryptionRequest,
    pb::DeleteBucketEncryptionRequest,
    pb::PutPublicAccessBlockRequest,
    pb::GetPublicAccessBlockRequest,
    pb::DeletePublicAccessBlockRequest,
    pb::PutBucketOwnershipControlsRequest,
    pb::GetBucketOwnershipControlsRequest,
    pb::GetBucketAclRequest,
    pb::PutBucketEncryptionRequest,
    pb::GetBucketPolicyRequest,
    pb::DeleteBucketPolicyRequest,
    pb::GetBucketPolicyStatusRequest
);

/// The document is S3's request body: 20 KB at most, refused before anything
/// (the audit record included) holds it.
impl RequestLimits for pb::PutBucketPolicyRequest {
    fn check_limits(&self) -> ObjectResult<()> {
        bucket(&self.bucket)?;
        check_policy_size(&self.policy)
    }
}

impl RequestLimits for pb::ListBucketsRequest {
    fn check_limits(&self) -> ObjectResult<()> {
        Ok(())
    }
}

/// A new bucket's name must follow every naming rule.
impl RequestLimits for pb::CreateBucketRequest {
    fn check_limits(&self) -> ObjectResult<()> {
        if validate::bucket_name(&self.bucket).is_err() {
            return Err(ObjectError::InvalidBucketName(self.bucket.clone()));
        }
        header_section(&[&self.object_ownership, &self.acl])
    }
}

impl RequestLimits for pb::PutBucketAclRequest {
    fn check_limits(&self) -> ObjectResult<()> {
        bucket(&self.bucket)?;
        header_section(&[&self.acl])
    }
}

impl RequestLimits for pb::PutObjectHeader {
    fn check_limits(&self) -> ObjectResult<()> {
        object(&self.bucket, &self.key)?;
        header_section(&[
            &self.content_type,
            &self.cache_control,
            &self.content_disposition,
            &self.content_encoding,
            &self.content_language,
            &self.acl,
            &self.server_side_encryption,
            &self.ssekms_key_id,
        ])?;
        check_encryption_context(&self.ssekms_encryption_context)
    }
}

/// GetObject and HeadObject.
macro_rules! read_request {
    ($($request:ty),+) => {$(
        impl RequestLimits for $request {
            fn check_limits(&self) -> ObjectResult<()> {
                object(&self.bucket, &self.key)?;
                header_section(&[
                    &self.range,
                    &self.if_match,
                    &self.if_none_match,
                    &self.if_modified_since,
                    &self.if_unmodified_since,
                ])
            }
        }
    )+};
}

read_request!(pb::GetObjectRequest, pb::HeadObjectRequest);

impl RequestLimits for pb::DeleteObjectRequest {
    fn check_limits(&self) -> ObjectResult<()> {
        object(&self.bucket, &self.key)
    }
}

impl RequestLimits for pb::GetObjectAclRequest {
    fn check_limits(&self) -> ObjectResult<()> {
        object(&self.bucket, &self.key)
    }
}

impl RequestLimits for pb::PutObjectAclRequest {
    fn check_limits(&self) -> ObjectResult<()> {
        object(&self.bucket, &self.key)?;
        header_section(&[&self.acl])
    }
}

impl RequestLimits for pb::ListObjectsV2Request {
    fn check_limits(&self) -> ObjectResult<()> {
        bucket(&self.bucket)?;
        header_section(&[
            &self.prefix,
            &self.delimiter,
            &self.start_after,
            &self.continuation_token,
        ])
    }
}

impl RequestLimits for pb::CopyObjectRequest {
    fn check_limits(&self) -> ObjectResult<()> {
        object(&self.bucket, &self.key)?;
        header_section(&[
            &self.copy_source,
            &self.metadata_directive,
            &self.content_type,
            &self.acl,
            &self.server_side_encryption,
            &self.ssekms_key_id,
        ])?;
        check_encryption_context(&self.ssekms_encryption_context)
    }
}
