//! audit-svc's client of object-svc, as CloudTrail uses S3: log files are written by
//! the service principal `cloudtrail.amazonaws.com` acting for the trail (so the bucket
//! policy's `aws:SourceArn` condition holds), the bucket ACL check is the one AWS's
//! bucket policy grants (`AWSCloudTrailAclCheck`), and the console's "new bucket" is
//! created on behalf of the calling user.

use std::{collections::BTreeMap, time::Duration};

use keyhold_platform::{AwsError, auth::ClientCredentials, error::exception_of};
use keyhold_proto::object::v1::{
    self as pb, get_object_response, object_service_client::ObjectServiceClient, put_object_request,
};
use tonic::{
    Code, Status,
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

use super::error::{TrailError, TrailResult};
use crate::digests::{self, Metadata, ObjectError, StoredObject};

/// The canned ACL CloudTrail writes with, which its bucket policy requires.
pub const LOG_FILE_ACL: &str = "bucket-owner-full-control";
/// One PutObject chunk: well under object-svc's message limit.
const CHUNK: usize = 1024 * 1024;

/// How a log file is encrypted at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    /// SSE-S3 (AES256).
    S3,
    /// SSE-KMS with this key, and the encryption context added to S3's own.
    Kms {
        key_id: String,
        context: BTreeMap<String, String>,
    },
}

/// Writes objects into trail buckets through object-svc's gRPC API.
#[derive(Clone)]
pub struct TrailWriter {
    channel: Channel,
    /// The service principal's keys; none when its client certificate says who it is.
    credentials: ClientCredentials,
}

type Client = ObjectServiceClient<InterceptedService<Channel, ClientCredentials>>;

impl std::fmt::Debug for TrailWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrailWriter").finish_non_exhaustive()
    }
}

impl TrailWriter {
    /// Connects on first use, so audit-svc starts while object-svc is not up yet.
    pub fn connect_lazy(
        endpoint: &str,
        credentials: ClientCredentials,
        tls: Option<&keyhold_platform::tls::Tls>,
    ) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|e| anyhow::anyhow!("invalid object-svc endpoint {endpoint:?}: {e}"))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60));
        let channel = keyhold_platform::tls::connect_lazy(channel, tls)?;
        Ok(TrailWriter {
            channel,
            credentials,
        })
    }

    fn service(&self) -> ClientCredentials {
        self.credentials.clone()
    }

    /// The service principal acting for the trail `trail_arn` of `account`.
    fn for_trail(&self, trail_arn: &str, account: &str) -> Client {
        ObjectServiceClient::with_interceptor(
            self.channel.clone(),
            self.service().for_source(trail_arn, account),
        )
    }

    /// The service principal acting for the user `user_arn`.
    fn for_user(&self, user_arn: &str) -> Client {
        ObjectServiceClient::with_interceptor(
            self.channel.clone(),
            self.service().on_behalf_of(user_arn),
        )
    }

    /// A whole object, read for the user `user_arn`; larger than `limit` bytes is an
    /// error (it cannot be a file CloudTrail wrote).
    pub async fn get_for_user(
        &self,
        user_arn: &str,
        bucket: &str,
        key: &str,
        limit: u64,
    ) -> Result<StoredObject, ObjectError> {
        let mut stream = self
            .for_user(user_arn)
            .get_object(pb::GetObjectRequest {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                ..Default::default()
            })
            .await
            .map_err(|status| read_error(&status))?
            .into_inner();
        let mut object = StoredObject {
            bytes: Vec::new(),
            metadata: Default::default(),
        };
        while let Some(message) = stream.message().await.map_err(|s| read_error(&s))? {
            match message.part {
                Some(get_object_response::Part::Head(head)) => {
                    if head.content_length > limit {
                        return Err(ObjectError::Other(format!(
                            "s3://{bucket}/{key} holds {} bytes, more than the {limit} a CloudTrail file may",
                            head.content_length
                        )));
                    }
                    object.bytes.reserve(head.content_length as usize);
                    object.metadata = head.metadata.into_iter().collect();
                }
                Some(get_object_response::Part::Chunk(chunk)) => {
                    if (object.bytes.len() + chunk.len()) as u64 > limit {
                        return Err(ObjectError::Other(format!(
                            "s3://{bucket}/{key} is larger than the {limit} bytes a CloudTrail file may"
                        )));
                    }
                    object.bytes.extend_from_slice(&chunk);
                }
                None => {}
            }
        }
        Ok(object)
    }

    /// Every key under `prefix` in `bucket`, listed for the user `user_arn`.
    pub async fn list_for_user(
        &self,
        user_arn: &str,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<String>, ObjectError> {
        let mut client = self.for_user(user_arn);
        let mut keys = Vec::new();
        let mut continuation_token = String::new();
        loop {
            let page = client
                .list_objects_v2(pb::ListObjectsV2Request {
                    bucket: bucket.to_owned(),
                    prefix: prefix.to_owned(),
                    continuation_token,
                    ..Default::default()
                })
                .await
                .map_err(|status| read_error(&status))?
                .into_inner();
            keys.extend(page.contents.into_iter().map(|object| object.key));
            if !page.is_truncated || page.next_continuation_token.is_empty() {
                return Ok(keys);
            }
            continuation_token = page.next_continuation_token;
        }
    }

    /// Writes one object as the trail's service principal (PutObject with
    /// `bucket-owner-full-control`). The error is the text GetTrailStatus shows.
    #[allow(clippy::too_many_arguments)]
    pub async fn put(
        &self,
        trail_arn: &str,
        account: &str,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        metadata: BTreeMap<String, String>,
        sse: &Sse,
    ) -> Result<(), String> {
        let (server_side_encryption, ssekms_key_id, ssekms_encryption_context) = match sse {
            Sse::S3 => ("AES256".to_owned(), String::new(), Default::default()),
            Sse::Kms { key_id, context } => (
                "aws:kms".to_owned(),
                key_id.clone(),
                context.clone().into_iter().collect(),
            ),
        };
        let header = pb::PutObjectHeader {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            content_type: "application/json".into(),
            content_encoding: "gzip".into(),
            content_length: Some(bytes.len() as u64),
            metadata: metadata.into_iter().collect(),
            acl: LOG_FILE_ACL.into(),
            server_side_encryption,
            ssekms_key_id,
            ssekms_encryption_context,
            ..Default::default()
        };
        let mut parts = vec![pb::PutObjectRequest {
            part: Some(put_object_request::Part::Header(header)),
        }];
        parts.extend(bytes.chunks(CHUNK).map(|chunk| pb::PutObjectRequest {
            part: Some(put_object_request::Part::Chunk(chunk.to_vec().into())),
        }));
        self.for_trail(trail_arn, account)
            .put_object(tokio_stream::iter(parts))
            .await
            .map(|_| ())
            .map_err(|status| delivery_error(&status, bucket))
    }

    /// AWS's check of a trail's bucket: GetBucketAcl as CloudTrail acting for the
    /// trail, which the bucket policy's `AWSCloudTrailAclCheck` statement allows.
    pub async fn check_bucket(
        &self,
        trail_arn: &str,
        account: &str,
        bucket: &str,
    ) -> TrailResult<()> {
        let answer = self
            .for_trail(trail_arn, account)
            .get_bucket_acl(pb::GetBucketAclRequest {
                bucket: bucket.to_owned(),
            })
            .await;
        match answer {
            Ok(_) => Ok(()),
            Err(status) => Err(match exception_of(&status).as_deref() {
                Some("NoSuchBucket") => TrailError::S3BucketDoesNotExist(bucket.to_owned()),
                Some("AccessDenied") => TrailError::InsufficientS3BucketPolicy(bucket.to_owned()),
                _ => unreachable_object_svc(&status),
            }),
        }
    }

    /// The console's "create a new S3 bucket": as the user, the bucket, AWS's
    /// CloudTrail bucket policy for `trail_arn`, and SSE-S3 default encryption.
    pub async fn create_trail_bucket(
        &self,
        user_arn: &str,
        bucket: &str,
        policy: String,
    ) -> TrailResult<()> {
        let mut client = self.for_user(user_arn);
        let passed_on = |status: Status| match exception_of(&status) {
            Some(exception) => TrailError::Bucket(AwsError::new(
                status.code(),
                exception,
                status.message().to_owned(),
            )),
            None => unreachable_object_svc(&status),
        };
        client
            .create_bucket(pb::CreateBucketRequest {
                bucket: bucket.to_owned(),
                ..Default::default()
            })
            .await
            .map_err(passed_on)?;
        client
            .put_bucket_policy(pb::PutBucketPolicyRequest {
                bucket: bucket.to_owned(),
                policy,
            })
            .await
            .map_err(passed_on)?;
        let sse_s3 = pb::ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(pb::ServerSideEncryptionByDefault {
                sse_algorithm: "AES256".into(),
                kms_master_key_id: String::new(),
            }),
            bucket_key_enabled: false,
        };
        client
            .put_bucket_encryption(pb::PutBucketEncryptionRequest {
                bucket: bucket.to_owned(),
                server_side_encryption_configuration: Some(pb::ServerSideEncryptionConfiguration {
                    rules: vec![sse_s3],
                }),
            })
            .await
            .map_err(passed_on)?;
        Ok(())
    }
}

fn unreachable_object_svc(status: &Status) -> TrailError {
    if matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded) {
        tracing::warn!(error = %status.message(), "object-svc unreachable");
        TrailError::Unavailable
    } else {
        TrailError::Internal(format!(
            "object-svc answered {:?}: {}",
            status.code(),
            status.message()
        ))
    }
}

/// A failed read as validation reports it: NoSuchKey tells a deleted file.
fn read_error(status: &Status) -> ObjectError {
    match exception_of(status).as_deref() {
        Some("NoSuchKey") => ObjectError::NoSuchKey,
        Some(exception) => ObjectError::Refused(Box::new(AwsError::new(
            status.code(),
            exception.to_owned(),
            status.message().to_owned(),
        ))),
        None => ObjectError::Other(format!(
            "object-svc unavailable: {:?} {}",
            status.code(),
            status.message()
        )),
    }
}

/// The text GetTrailStatus shows for a failed PUT, named as AWS names it where it can.
fn delivery_error(status: &Status, bucket: &str) -> String {
    match exception_of(status).as_deref() {
        Some("NoSuchBucket") => "NoSuchBucket".to_owned(),
        Some("AccessDenied") => "AccessDenied".to_owned(),
        Some(other) => format!("{other}: {}", status.message()),
        None => format!(
            "object-svc unavailable for bucket {bucket}: {:?} {}",
            status.code(),
            status.message()
        ),
    }
}

/// AWS's bucket policy for a trail, as its console writes it: the ACL check and the
/// write under `[prefix/]AWSLogs/<account>/`, both only for this trail.
pub fn cloudtrail_bucket_policy(
    bucket: &str,
    prefix: &str,
    account: &str,
    trail_arn: &str,
) -> String {
    let logs = if prefix.is_empty() {
        format!("arn:aws:s3:::{bucket}/AWSLogs/{account}/*")
    } else {
        format!("arn:aws:s3:::{bucket}/{prefix}/AWSLogs/{account}/*")
    };
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSCloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": format!("arn:aws:s3:::{bucket}"),
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}}
            },
            {
                "Sid": "AWSCloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": logs,
                "Condition": {"StringEquals": {
                    "s3:x-amz-acl": LOG_FILE_ACL,
                    "aws:SourceArn": trail_arn
                }}
            }
        ]
    })
    .to_string()
}

/// The largest object validation reads: a digest or log file of CloudTrail's is far
/// smaller (a log file holds one delivery batch, 10,000 records by default).
pub const READ_LIMIT: u64 = 256 * 1024 * 1024;

/// object-svc as the digests part sees a trail's bucket: digest files are written by
/// CloudTrail acting for the trail (SSE-S3), and validation reads as the user who
/// asked for it, so the bucket's policy decides what each may do.
pub enum TrailObjects<'a> {
    Trail {
        writer: &'a TrailWriter,
        trail_arn: String,
        account: String,
    },
    User {
        writer: &'a TrailWriter,
        user_arn: String,
    },
}

impl digests::ObjectStore for TrailObjects<'_> {
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        metadata: Metadata,
    ) -> Result<(), ObjectError> {
        match self {
            TrailObjects::Trail {
                writer,
                trail_arn,
                account,
            } => writer
                .put(trail_arn, account, bucket, key, bytes, metadata, &Sse::S3)
                .await
                .map_err(ObjectError::Other),
            TrailObjects::User { .. } => Err(ObjectError::Other(
                "validation does not write to the bucket".into(),
            )),
        }
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<StoredObject, ObjectError> {
        match self {
            TrailObjects::User { writer, user_arn } => {
                writer.get_for_user(user_arn, bucket, key, READ_LIMIT).await
            }
            TrailObjects::Trail { .. } => Err(ObjectError::Other(
                "CloudTrail does not read the trail's bucket".into(),
            )),
        }
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, ObjectError> {
        match self {
            TrailObjects::User { writer, user_arn } => {
                writer.list_for_user(user_arn, bucket, prefix).await
            }
            TrailObjects::Trail { .. } => Err(ObjectError::Other(
                "CloudTrail does not list the trail's bucket".into(),
            )),
        }
    }
}
