//! The gRPC adapter: take the caller from the request, convert the message, call the
//! domain, convert back, and tell the audit record what only the handler knows
//! (resources, bytes transferred). Rules live in the domain, statuses in error.rs.
//!
//! Laid out like `s3/`: the service trait's impl below is a table handing each RPC to
//! its adapter in `buckets.rs` or `objects.rs`; `convert.rs` holds the conversions
//! between messages and the domain's types.

use std::{
    collections::BTreeMap,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use chrono::{DateTime, SecondsFormat, Utc};
use futures::{Stream, StreamExt, stream};
use keyhold_platform::{AuditNotes, Caller, auth};
use keyhold_proto::object::v1::{
    self as pb, get_object_response, object_service_server::ObjectService, put_object_request,
};
use serde_json::{Value, json};
use tonic::{Request, Response, Status, Streaming};

use crate::{
    access::{Origin, Requester},
    blobs::BlobError,
    domain::{
        BucketRead, BucketSettingsChange, Conditions, CopyObjectInput, GetObjectInput,
        ListObjectsInput, ObjectAttributes, ObjectRead, Objects, PutObjectInput, SseRequest,
        StoredObject, WriteCondition, grant, requested_acl,
    },
    error::ObjectError,
    limits::RequestLimits,
    model::{
        Acl, Bucket, ContentHeaders, DefaultEncryption, Grantee, ObjectOwnership, ObjectRecord,
        PublicAccessBlock, SseAlgorithm,
    },
};

pub struct ObjectGrpc {
    objects: Arc<Objects>,
}

impl ObjectGrpc {
    pub fn new(objects: Arc<Objects>) -> Self {
        ObjectGrpc { objects }
    }

    fn note_bucket(&self, notes: &AuditNotes, bucket: &str) {
        notes.add_resource(
            "AWS::S3::Bucket",
            &format!("arn:aws:s3:::{bucket}"),
            self.objects.account_id(),
        );
    }

    fn note_object(&self, notes: &AuditNotes, bucket: &str, key: &str) {
        notes.add_resource(
            "AWS::S3::Object",
            &format!("arn:aws:s3:::{bucket}/{key}"),
            self.objects.account_id(),
        );
        self.note_bucket(notes, bucket);
    }
}

mod buckets;
mod convert;
mod objects;

use convert::*;

type GrpcResult<T> = Result<Response<T>, Status>;

/// The caller (anonymous when no credentials came) and audit notes of a request.
fn open_stream<T>(request: Request<T>) -> (Requester, AuditNotes, T) {
    let requester = Requester::new(request.extensions().get::<Caller>(), origin(&request));
    let notes = request
        .extensions()
        .get::<AuditNotes>()
        .cloned()
        .unwrap_or_default();
    // CloudTrail's S3 records call the bucket `bucketName`.
    notes.rename_request_parameter("bucket", "bucketName");
    (requester, notes, request.into_inner())
}

/// The connection's condition keys: aws:SecureTransport is true when the gRPC port
/// serves TLS (`KEYHOLD_TLS_CERT_FILE`).
fn origin<T>(request: &Request<T>) -> Origin {
    let metadata = |name: &str| {
        request
            .metadata()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    Origin {
        source_ip: request.remote_addr().map(|addr| addr.ip()),
        secure_transport: request.extensions().get::<auth::TlsPeer>().is_some(),
        source_arn: metadata(auth::SOURCE_ARN_HEADER),
        source_account: metadata(auth::SOURCE_ACCOUNT_HEADER),
    }
}

/// [`open_stream`] for a message, once it is within S3's limits.
fn open<T: RequestLimits>(request: Request<T>) -> Result<(Requester, AuditNotes, T), Status> {
    let (requester, notes, message) = open_stream(request);
    message.check_limits()?;
    Ok((requester, notes, message))
}

fn ok<T>(message: T) -> GrpcResult<T> {
    Ok(Response::new(message))
}

#[tonic::async_trait]
impl ObjectService for ObjectGrpc {
    type GetObjectStream = GetObjectStream;

    async fn create_bucket(
        &self,
        request: Request<pb::CreateBucketRequest>,
    ) -> GrpcResult<pb::CreateBucketResponse> {
        buckets::create_bucket(self, request).await
    }

    async fn delete_bucket(
        &self,
        request: Request<pb::DeleteBucketRequest>,
    ) -> GrpcResult<pb::DeleteBucketResponse> {
        buckets::delete_bucket(self, request).await
    }

    async fn list_buckets(
        &self,
        request: Request<pb::ListBucketsRequest>,
    ) -> GrpcResult<pb::ListBucketsResponse> {
        buckets::list_buckets(self, request).await
    }

    async fn head_bucket(
        &self,
        request: Request<pb::HeadBucketRequest>,
    ) -> GrpcResult<pb::HeadBucketResponse> {
        buckets::head_bucket(self, request).await
    }

    async fn put_bucket_encryption(
        &self,
        request: Request<pb::PutBucketEncryptionRequest>,
    ) -> GrpcResult<pb::PutBucketEncryptionResponse> {
        buckets::put_bucket_encryption(self, request).await
    }

    async fn get_bucket_encryption(
        &self,
        request: Request<pb::GetBucketEncryptionRequest>,
    ) -> GrpcResult<pb::GetBucketEncryptionResponse> {
        buckets::get_bucket_encryption(self, request).await
    }

    async fn delete_bucket_encryption(
        &self,
        request: Request<pb::DeleteBucketEncryptionRequest>,
    ) -> GrpcResult<pb::DeleteBucketEncryptionResponse> {
        buckets::delete_bucket_encryption(self, request).await
    }

    async fn put_public_access_block(
        &self,
        request: Request<pb::PutPublicAccessBlockRequest>,
    ) -> GrpcResult<pb::PutPublicAccessBlockResponse> {
        buckets::put_public_access_block(self, request).await
    }

    async fn get_public_access_block(
        &self,
        request: Request<pb::GetPublicAccessBlockRequest>,
    ) -> GrpcResult<pb::GetPublicAccessBlockResponse> {
        buckets::get_public_access_block(self, request).await
    }

    async fn delete_public_access_block(
        &self,
        request: Request<pb::DeletePublicAccessBlockRequest>,
    ) -> GrpcResult<pb::DeletePublicAccessBlockResponse> {
        buckets::delete_public_access_block(self, request).await
    }

    async fn put_bucket_ownership_controls(
        &self,
        request: Request<pb::PutBucketOwnershipControlsRequest>,
    ) -> GrpcResult<pb::PutBucketOwnershipControlsResponse> {
        buckets::put_bucket_ownership_controls(self, request).await
    }

    async fn get_bucket_ownership_controls(
        &self,
        request: Request<pb::GetBucketOwnershipControlsRequest>,
    ) -> GrpcResult<pb::GetBucketOwnershipControlsResponse> {
        buckets::get_bucket_ownership_controls(self, request).await
    }

    async fn put_bucket_acl(
        &self,
        request: Request<pb::PutBucketAclRequest>,
    ) -> GrpcResult<pb::PutBucketAclResponse> {
        buckets::put_bucket_acl(self, request).await
    }

    async fn get_bucket_acl(
        &self,
        request: Request<pb::GetBucketAclRequest>,
    ) -> GrpcResult<pb::GetBucketAclResponse> {
        buckets::get_bucket_acl(self, request).await
    }

    async fn put_bucket_policy(
        &self,
        request: Request<pb::PutBucketPolicyRequest>,
    ) -> GrpcResult<pb::PutBucketPolicyResponse> {
        buckets::put_bucket_policy(self, request).await
    }

    async fn get_bucket_policy(
        &self,
        request: Request<pb::GetBucketPolicyRequest>,
    ) -> GrpcResult<pb::GetBucketPolicyResponse> {
        buckets::get_bucket_policy(self, request).await
    }

    async fn delete_bucket_policy(
        &self,
        request: Request<pb::DeleteBucketPolicyRequest>,
    ) -> GrpcResult<pb::DeleteBucketPolicyResponse> {
        buckets::delete_bucket_policy(self, request).await
    }

    async fn get_bucket_policy_status(
        &self,
        request: Request<pb::GetBucketPolicyStatusRequest>,
    ) -> GrpcResult<pb::GetBucketPolicyStatusResponse> {
        buckets::get_bucket_policy_status(self, request).await
    }

    async fn put_object(
        &self,
        request: Request<Streaming<pb::PutObjectRequest>>,
    ) -> GrpcResult<pb::PutObjectResponse> {
        objects::put_object(self, request).await
    }

    async fn get_object(
        &self,
        request: Request<pb::GetObjectRequest>,
    ) -> GrpcResult<GetObjectStream> {
        objects::get_object(self, request).await
    }

    async fn head_object(
        &self,
        request: Request<pb::HeadObjectRequest>,
    ) -> GrpcResult<pb::HeadObjectResponse> {
        objects::head_object(self, request).await
    }

    async fn delete_object(
        &self,
        request: Request<pb::DeleteObjectRequest>,
    ) -> GrpcResult<pb::DeleteObjectResponse> {
        objects::delete_object(self, request).await
    }

    async fn list_objects_v2(
        &self,
        request: Request<pb::ListObjectsV2Request>,
    ) -> GrpcResult<pb::ListObjectsV2Response> {
        objects::list_objects_v2(self, request).await
    }

    async fn copy_object(
        &self,
        request: Request<pb::CopyObjectRequest>,
    ) -> GrpcResult<pb::CopyObjectResponse> {
        objects::copy_object(self, request).await
    }

    async fn put_object_acl(
        &self,
        request: Request<pb::PutObjectAclRequest>,
    ) -> GrpcResult<pb::PutObjectAclResponse> {
        objects::put_object_acl(self, request).await
    }

    async fn get_object_acl(
        &self,
        request: Request<pb::GetObjectAclRequest>,
    ) -> GrpcResult<pb::GetObjectAclResponse> {
        objects::get_object_acl(self, request).await
    }
}
