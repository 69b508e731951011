//! The S3 operations keyhold serves, each handed to its adapter in buckets.rs or
//! objects.rs. Operations not listed here answer S3's NotImplemented.

use std::sync::Arc;

use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, dto::*};

use super::{auth::requester, buckets, call::S3Call, errors::to_s3, multipart, objects};
use crate::{access::Requester, domain::Objects, error::ObjectResult};

pub type Handled<T> = S3Result<S3Response<T>>;

/// The request's call notes and its caller, as the domain sees it.
pub fn open<T>(req: &S3Request<T>) -> (S3Call, Requester) {
    let call = req.extensions.get::<S3Call>().cloned().unwrap_or_default();
    let requester = requester(&call);
    (call, requester)
}

pub fn header_text(headers: &http::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

impl S3Call {
    /// The handler's answer: its output, or its error as S3 spells it. A body that
    /// failed to arrive (bad chunk signature, short body) explains any failure.
    pub fn respond<T>(&self, result: ObjectResult<T>) -> Handled<T> {
        match result {
            Ok(output) => Ok(S3Response::new(output)),
            Err(error) => match self.snapshot().body_failure {
                Some(failure) => {
                    let mut s3 = S3Error::with_message(
                        S3ErrorCode::from_bytes(failure.code.as_bytes())
                            .unwrap_or(S3ErrorCode::IncompleteBody),
                        failure.message.clone(),
                    );
                    if let Ok(status) = http::StatusCode::from_u16(failure.status) {
                        s3.set_status_code(status);
                    }
                    Err(s3)
                }
                None => Err(to_s3(self, error)),
            },
        }
    }
}

pub struct S3Api {
    objects: Arc<Objects>,
}

impl S3Api {
    pub fn new(objects: Arc<Objects>) -> Self {
        S3Api { objects }
    }
}

#[async_trait::async_trait]
impl S3 for S3Api {
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> Handled<ListBucketsOutput> {
        buckets::list_buckets(&self.objects, req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> Handled<CreateBucketOutput> {
        buckets::create_bucket(&self.objects, req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> Handled<DeleteBucketOutput> {
        buckets::delete_bucket(&self.objects, req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> Handled<HeadBucketOutput> {
        buckets::head_bucket(&self.objects, req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> Handled<GetBucketLocationOutput> {
        buckets::get_bucket_location(&self.objects, req).await
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> Handled<GetBucketEncryptionOutput> {
        buckets::get_bucket_encryption(&self.objects, req).await
    }

    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> Handled<PutBucketEncryptionOutput> {
        buckets::put_bucket_encryption(&self.objects, req).await
    }

    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> Handled<DeleteBucketEncryptionOutput> {
        buckets::delete_bucket_encryption(&self.objects, req).await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> Handled<GetPublicAccessBlockOutput> {
        buckets::get_public_access_block(&self.objects, req).await
    }

    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> Handled<PutPublicAccessBlockOutput> {
        buckets::put_public_access_block(&self.objects, req).await
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> Handled<DeletePublicAccessBlockOutput> {
        buckets::delete_public_access_block(&self.objects, req).await
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> Handled<GetBucketOwnershipControlsOutput> {
        buckets::get_bucket_ownership_controls(&self.objects, req).await
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> Handled<PutBucketOwnershipControlsOutput> {
        buckets::put_bucket_ownership_controls(&self.objects, req).await
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> Handled<GetBucketAclOutput> {
        buckets::get_bucket_acl(&self.objects, req).await
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> Handled<PutBucketAclOutput> {
        buckets::put_bucket_acl(&self.objects, req).await
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> Handled<PutBucketPolicyOutput> {
        buckets::put_bucket_policy(&self.objects, req).await
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> Handled<GetBucketPolicyOutput> {
        buckets::get_bucket_policy(&self.objects, req).await
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> Handled<DeleteBucketPolicyOutput> {
        buckets::delete_bucket_policy(&self.objects, req).await
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> Handled<GetBucketPolicyStatusOutput> {
        buckets::get_bucket_policy_status(&self.objects, req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> Handled<PutObjectOutput> {
        objects::put_object(&self.objects, req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> Handled<GetObjectOutput> {
        objects::get_object(&self.objects, req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> Handled<HeadObjectOutput> {
        objects::head_object(&self.objects, req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> Handled<DeleteObjectOutput> {
        objects::delete_object(&self.objects, req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> Handled<DeleteObjectsOutput> {
        objects::delete_objects(&self.objects, req).await
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> Handled<ListObjectsOutput> {
        objects::list_objects(&self.objects, req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> Handled<ListObjectsV2Output> {
        objects::list_objects_v2(&self.objects, req).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> Handled<CopyObjectOutput> {
        objects::copy_object(&self.objects, req).await
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> Handled<GetObjectAclOutput> {
        objects::get_object_acl(&self.objects, req).await
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> Handled<PutObjectAclOutput> {
        objects::put_object_acl(&self.objects, req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> Handled<CreateMultipartUploadOutput> {
        multipart::create_multipart_upload(&self.objects, req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> Handled<UploadPartOutput> {
        multipart::upload_part(&self.objects, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> Handled<CompleteMultipartUploadOutput> {
        multipart::complete_multipart_upload(&self.objects, req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> Handled<AbortMultipartUploadOutput> {
        multipart::abort_multipart_upload(&self.objects, req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> Handled<ListPartsOutput> {
        multipart::list_parts(&self.objects, req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> Handled<ListMultipartUploadsOutput> {
        multipart::list_multipart_uploads(&self.objects, req).await
    }
}
