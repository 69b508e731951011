//! The gRPC adapter: take the caller from the request, convert the message, call the
//! domain, convert back, and tell the audit record what only the handler knows
//! (resources, bytes transferred). Rules live in the domain, statuses in error.rs.

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
use keyhold_platform::{AuditNotes, Caller};
use keyhold_proto::object::v1::{
    self as pb, get_object_response, object_service_server::ObjectService, put_object_request,
};
use serde_json::{Value, json};
use tonic::{Request, Response, Status, Streaming};

use crate::{
    access::Requester,
    blobs::BlobError,
    domain::{
        BucketSettingsChange, Conditions, CopyObjectInput, GetObjectInput, ListObjectsInput,
        ObjectAttributes, ObjectRead, Objects, PutObjectInput, SseRequest, StoredObject,
        WriteCondition, grant, requested_acl,
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

type GrpcResult<T> = Result<Response<T>, Status>;

/// The caller (anonymous when no credentials came) and audit notes of a request.
fn open_stream<T>(request: Request<T>) -> (Requester, AuditNotes, T) {
    let requester = Requester::from_caller(request.extensions().get::<Caller>());
    let notes = request
        .extensions()
        .get::<AuditNotes>()
        .cloned()
        .unwrap_or_default();
    // CloudTrail's S3 records call the bucket `bucketName`.
    notes.rename_request_parameter("bucket", "bucketName");
    (requester, notes, request.into_inner())
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

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// RFC 3339 or an HTTP date; S3 ignores a date it cannot read.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if text.is_empty() {
        return None;
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            httpdate::parse_http_date(text)
                .ok()
                .map(DateTime::<Utc>::from)
        })
}

/// GetObject's and HeadObject's fields as the domain's read; the conditions in the
/// order If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since.
fn read_input(
    bucket: String,
    key: String,
    range: String,
    conditions: [String; 4],
) -> GetObjectInput {
    let [
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
    ] = conditions;
    GetObjectInput {
        bucket,
        key,
        range,
        conditions: Conditions {
            if_match: non_empty(if_match),
            if_none_match: non_empty(if_none_match),
            if_modified_since: parse_time(&if_modified_since),
            if_unmodified_since: parse_time(&if_unmodified_since),
        },
    }
}

fn owner(id: &str) -> pb::Owner {
    pb::Owner {
        id: id.to_owned(),
        display_name: id.to_owned(),
    }
}

fn acl_to_pb(acl: &Acl) -> (pb::Owner, Vec<pb::Grant>) {
    let grants = acl
        .grants
        .iter()
        .map(|grant| pb::Grant {
            grantee: Some(match &grant.grantee {
                Grantee::CanonicalUser { id } => pb::Grantee {
                    r#type: "CanonicalUser".to_owned(),
                    id: id.clone(),
                    display_name: id.clone(),
                    uri: String::new(),
                },
                Grantee::Group { uri } => pb::Grantee {
                    r#type: "Group".to_owned(),
                    uri: uri.clone(),
                    ..Default::default()
                },
            }),
            permission: grant.permission.as_str().to_owned(),
        })
        .collect();
    (owner(&acl.owner_id), grants)
}

/// A canned ACL or an explicit policy (exactly one of them) as an ACL.
fn acl_from_request(
    canned_acl: &str,
    policy: Option<pb::AccessControlPolicy>,
    owner_id: &str,
) -> Result<Acl, ObjectError> {
    let grants = policy.map(|policy| {
        policy
            .grants
            .into_iter()
            .map(|g| {
                let grantee = g.grantee.ok_or(ObjectError::MalformedAcl)?;
                grant(&grantee.r#type, &grantee.id, &grantee.uri, &g.permission)
            })
            .collect()
    });
    requested_acl(canned_acl, grants, owner_id)
}

fn encryption_to_pb(encryption: &DefaultEncryption) -> pb::ServerSideEncryptionConfiguration {
    pb::ServerSideEncryptionConfiguration {
        rules: vec![pb::ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(pb::ServerSideEncryptionByDefault {
                sse_algorithm: encryption.algorithm.as_str().to_owned(),
                kms_master_key_id: encryption.kms_master_key_id.clone().unwrap_or_default(),
            }),
            bucket_key_enabled: encryption.bucket_key_enabled,
        }],
    }
}

fn encryption_from_pb(
    configuration: Option<pb::ServerSideEncryptionConfiguration>,
) -> Result<DefaultEncryption, ObjectError> {
    let malformed = || {
        ObjectError::invalid_argument(
            "The server side encryption configuration needs exactly one rule with ApplyServerSideEncryptionByDefault",
        )
    };
    let mut rules = configuration.ok_or_else(malformed)?.rules;
    if rules.len() != 1 {
        return Err(malformed());
    }
    let rule = rules.remove(0);
    let default = rule
        .apply_server_side_encryption_by_default
        .ok_or_else(malformed)?;
    let algorithm = SseAlgorithm::parse(&default.sse_algorithm).ok_or_else(|| {
        ObjectError::invalid_argument("The encryption method specified is not supported")
    })?;
    Ok(DefaultEncryption {
        algorithm,
        kms_master_key_id: non_empty(default.kms_master_key_id),
        bucket_key_enabled: rule.bucket_key_enabled,
    })
}

fn content_headers(
    content_type: String,
    cache_control: String,
    content_disposition: String,
    content_encoding: String,
    content_language: String,
) -> ContentHeaders {
    ContentHeaders {
        content_type: non_empty(content_type),
        cache_control: non_empty(cache_control),
        content_disposition: non_empty(content_disposition),
        content_encoding: non_empty(content_encoding),
        content_language: non_empty(content_language),
    }
}

fn object_head(read: &ObjectRead) -> pb::ObjectHead {
    let record = &read.record;
    let content = &record.content;
    pb::ObjectHead {
        content_length: read.content_length(),
        content_range: read
            .range
            .map(|range| range.content_range(record.size))
            .unwrap_or_default(),
        etag: record.etag.clone(),
        last_modified: rfc3339(record.last_modified),
        content_type: content
            .content_type
            .clone()
            .unwrap_or_else(|| "binary/octet-stream".to_owned()),
        metadata: record.user_metadata.clone().into_iter().collect(),
        cache_control: content.cache_control.clone().unwrap_or_default(),
        content_disposition: content.content_disposition.clone().unwrap_or_default(),
        content_encoding: content.content_encoding.clone().unwrap_or_default(),
        content_language: content.content_language.clone().unwrap_or_default(),
        server_side_encryption: record.encryption.algorithm.as_str().to_owned(),
        ssekms_key_id: record.encryption.kms_key_arn.clone().unwrap_or_default(),
        bucket_key_enabled: record.encryption.bucket_key_enabled,
        accept_ranges: "bytes".to_owned(),
        size: record.size,
    }
}

/// CloudTrail's `SSEApplied` of a data event.
fn sse_applied(record: &ObjectRecord) -> &'static str {
    match record.encryption.algorithm {
        SseAlgorithm::AwsKms => "SSE_KMS",
        SseAlgorithm::Aes256 => "Default_SSE_S3",
    }
}

fn transfer_data(record: Option<&ObjectRecord>, bytes_in: u64, bytes_out: u64) -> Value {
    let mut data = json!({
        "bytesTransferredIn": bytes_in,
        "bytesTransferredOut": bytes_out,
    });
    if let Some(record) = record {
        data["SSEApplied"] = json!(sse_applied(record));
    }
    data
}

fn sse_request(
    server_side_encryption: String,
    ssekms_key_id: String,
    context: std::collections::HashMap<String, String>,
    bucket_key_enabled: Option<bool>,
) -> SseRequest {
    SseRequest {
        server_side_encryption,
        kms_key_id: ssekms_key_id,
        context: context.into_iter().collect(),
        bucket_key_enabled,
    }
}

fn stored_encryption(stored: &StoredObject) -> (String, String, bool) {
    let encryption = &stored.record.encryption;
    (
        encryption.algorithm.as_str().to_owned(),
        encryption.kms_key_arn.clone().unwrap_or_default(),
        encryption.bucket_key_enabled,
    )
}

type GetObjectStream = Pin<Box<dyn Stream<Item = Result<pb::GetObjectResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ObjectService for ObjectGrpc {
    async fn create_bucket(
        &self,
        request: Request<pb::CreateBucketRequest>,
    ) -> GrpcResult<pb::CreateBucketResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        let bucket = self
            .objects
            .create_bucket(
                &requester,
                &message.bucket,
                &message.object_ownership,
                &message.acl,
            )
            .await?;
        ok(pb::CreateBucketResponse {
            location: format!("/{}", bucket.name),
        })
    }

    async fn delete_bucket(
        &self,
        request: Request<pb::DeleteBucketRequest>,
    ) -> GrpcResult<pb::DeleteBucketResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        self.objects
            .delete_bucket(&requester, &message.bucket)
            .await?;
        ok(pb::DeleteBucketResponse {})
    }

    async fn list_buckets(
        &self,
        request: Request<pb::ListBucketsRequest>,
    ) -> GrpcResult<pb::ListBucketsResponse> {
        let (requester, _, _) = open(request)?;
        let buckets = self.objects.list_buckets(&requester).await?;
        ok(pb::ListBucketsResponse {
            buckets: buckets
                .iter()
                .map(|bucket| pb::Bucket {
                    name: bucket.name.clone(),
                    creation_date: rfc3339(bucket.created_at),
                })
                .collect(),
            owner: Some(owner(self.objects.account_id())),
        })
    }

    async fn head_bucket(
        &self,
        request: Request<pb::HeadBucketRequest>,
    ) -> GrpcResult<pb::HeadBucketResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        self.objects
            .bucket_for_owner(&requester, &message.bucket)
            .await?;
        ok(pb::HeadBucketResponse {
            bucket_region: self.objects.region().to_owned(),
        })
    }

    async fn put_bucket_encryption(
        &self,
        request: Request<pb::PutBucketEncryptionRequest>,
    ) -> GrpcResult<pb::PutBucketEncryptionResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        let encryption = encryption_from_pb(message.server_side_encryption_configuration)?;
        self.objects
            .change_bucket(
                &requester,
                &message.bucket,
                BucketSettingsChange::Encryption(Some(encryption)),
            )
            .await?;
        ok(pb::PutBucketEncryptionResponse {})
    }

    async fn get_bucket_encryption(
        &self,
        request: Request<pb::GetBucketEncryptionRequest>,
    ) -> GrpcResult<pb::GetBucketEncryptionResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        let bucket = self
            .objects
            .bucket_for_owner(&requester, &message.bucket)
            .await?;
        ok(pb::GetBucketEncryptionResponse {
            server_side_encryption_configuration: Some(encryption_to_pb(&bucket.encryption)),
        })
    }

    async fn delete_bucket_encryption(
        &self,
        request: Request<pb::DeleteBucketEncryptionRequest>,
    ) -> GrpcResult<pb::DeleteBucketEncryptionResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        self.objects
            .change_bucket(
                &requester,
                &message.bucket,
                BucketSettingsChange::Encryption(None),
            )
            .await?;
        ok(pb::DeleteBucketEncryptionResponse {})
    }

    async fn put_public_access_block(
        &self,
        request: Request<pb::PutPublicAccessBlockRequest>,
    ) -> GrpcResult<pb::PutPublicAccessBlockResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        let configuration = message.public_access_block_configuration.ok_or_else(|| {
            ObjectError::invalid_argument("PublicAccessBlockConfiguration is required")
        })?;
        let block = PublicAccessBlock {
            block_public_acls: configuration.block_public_acls,
            ignore_public_acls: configuration.ignore_public_acls,
            block_public_policy: configuration.block_public_policy,
            restrict_public_buckets: configuration.restrict_public_buckets,
        };
        self.objects
            .change_bucket(
                &requester,
                &message.bucket,
                BucketSettingsChange::PublicAccessBlock(Some(block)),
            )
            .await?;
        ok(pb::PutPublicAccessBlockResponse {})
    }

    async fn get_public_access_block(
        &self,
        request: Request<pb::GetPublicAccessBlockRequest>,
    ) -> GrpcResult<pb::GetPublicAccessBlockResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        let bucket = self
            .objects
            .bucket_for_owner(&requester, &message.bucket)
            .await?;
        let block = bucket.public_access_block.ok_or_else(|| {
            ObjectError::NoSuchPublicAccessBlockConfiguration(bucket.name.clone())
        })?;
        ok(pb::GetPublicAccessBlockResponse {
            public_access_block_configuration: Some(pb::PublicAccessBlockConfiguration {
                block_public_acls: block.block_public_acls,
                ignore_public_acls: block.ignore_public_acls,
                block_public_policy: block.block_public_policy,
                restrict_public_buckets: block.restrict_public_buckets,
            }),
        })
    }

    async fn delete_public_access_block(
        &self,
        request: Request<pb::DeletePublicAccessBlockRequest>,
    ) -> GrpcResult<pb::DeletePublicAccessBlockResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        self.objects
            .change_bucket(
                &requester,
                &message.bucket,
                BucketSettingsChange::PublicAccessBlock(None),
            )
            .await?;
        ok(pb::DeletePublicAccessBlockResponse {})
    }

    async fn put_bucket_ownership_controls(
        &self,
        request: Request<pb::PutBucketOwnershipControlsRequest>,
    ) -> GrpcResult<pb::PutBucketOwnershipControlsResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        let rules = message
            .ownership_controls
            .map(|c| c.rules)
            .unwrap_or_default();
        let ownership = match rules.as_slice() {
            [rule] => ObjectOwnership::parse(&rule.object_ownership),
            _ => None,
        }
        .ok_or_else(|| {
            ObjectError::invalid_argument(
                "OwnershipControls needs exactly one rule: BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter",
            )
        })?;
        self.objects
            .change_bucket(
                &requester,
                &message.bucket,
                BucketSettingsChange::Ownership(ownership),
            )
            .await?;
        ok(pb::PutBucketOwnershipControlsResponse {})
    }

    async fn get_bucket_ownership_controls(
        &self,
        request: Request<pb::GetBucketOwnershipControlsRequest>,
    ) -> GrpcResult<pb::GetBucketOwnershipControlsResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        let bucket = self
            .objects
            .bucket_for_owner(&requester, &message.bucket)
            .await?;
        ok(pb::GetBucketOwnershipControlsResponse {
            ownership_controls: Some(pb::OwnershipControls {
                rules: vec![pb::OwnershipControlsRule {
                    object_ownership: bucket.ownership.as_str().to_owned(),
                }],
            }),
        })
    }

    async fn put_bucket_acl(
        &self,
        request: Request<pb::PutBucketAclRequest>,
    ) -> GrpcResult<pb::PutBucketAclResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        let acl = acl_from_request(
            &message.acl,
            message.access_control_policy,
            self.objects.account_id(),
        )?;
        self.objects
            .change_bucket(&requester, &message.bucket, BucketSettingsChange::Acl(acl))
            .await?;
        ok(pb::PutBucketAclResponse {})
    }

    async fn get_bucket_acl(
        &self,
        request: Request<pb::GetBucketAclRequest>,
    ) -> GrpcResult<pb::GetBucketAclResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        let bucket: Bucket = self
            .objects
            .bucket_for_owner(&requester, &message.bucket)
            .await?;
        let (owner, grants) = acl_to_pb(&Objects::effective_bucket_acl(&bucket));
        ok(pb::GetBucketAclResponse {
            owner: Some(owner),
            grants,
        })
    }

    async fn put_object(
        &self,
        request: Request<Streaming<pb::PutObjectRequest>>,
    ) -> GrpcResult<pb::PutObjectResponse> {
        let (requester, notes, mut messages) = open_stream(request);
        let header = match messages.message().await? {
            Some(pb::PutObjectRequest {
                part: Some(put_object_request::Part::Header(header)),
            }) => header,
            _ => {
                return Err(ObjectError::InvalidRequest(
                    "A PutObject stream starts with its header message".to_owned(),
                )
                .into());
            }
        };
        header.check_limits()?;
        notes.set_request_parameters(json!({
            "bucketName": header.bucket,
            "key": header.key,
            "x-amz-server-side-encryption": non_empty(header.server_side_encryption.clone()),
            "x-amz-server-side-encryption-aws-kms-key-id": non_empty(header.ssekms_key_id.clone()),
            "x-amz-server-side-encryption-context": (!header.ssekms_encryption_context.is_empty())
                .then(|| header.ssekms_encryption_context.iter().collect::<BTreeMap<_, _>>()),
            "x-amz-acl": non_empty(header.acl.clone()),
        }));
        self.note_object(&notes, &header.bucket, &header.key);
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let body = messages.map(move |item| match item {
            Ok(pb::PutObjectRequest {
                part: Some(put_object_request::Part::Chunk(chunk)),
            }) => {
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                Ok(chunk)
            }
            Ok(_) => Err(BlobError::Body(
                "A PutObject stream carries one header message, then chunks".to_owned(),
            )),
            Err(status) => Err(BlobError::Body(status.message().to_owned())),
        });
        // Decoding the next messages overlaps sealing and writing this one.
        let body = crate::read_ahead::read_ahead(body, 4);
        let input = PutObjectInput {
            bucket: header.bucket,
            key: header.key,
            attributes: ObjectAttributes {
                content: content_headers(
                    header.content_type,
                    header.cache_control,
                    header.content_disposition,
                    header.content_encoding,
                    header.content_language,
                ),
                metadata: header.metadata.into_iter().collect(),
            },
            content_length: header.content_length,
            acl: header.acl,
            sse: sse_request(
                header.server_side_encryption,
                header.ssekms_key_id,
                header.ssekms_encryption_context,
                header.bucket_key_enabled,
            ),
            condition: WriteCondition::Always,
        };
        let stored = self.objects.put_object(&requester, input, body).await;
        let bytes_in = received.load(Ordering::Relaxed);
        notes.set_additional_event_data(transfer_data(
            stored.as_ref().ok().map(|s| &s.record),
            bytes_in,
            0,
        ));
        let stored = stored?;
        let (server_side_encryption, ssekms_key_id, bucket_key_enabled) =
            stored_encryption(&stored);
        ok(pb::PutObjectResponse {
            etag: stored.record.etag.clone(),
            server_side_encryption,
            ssekms_key_id,
            bucket_key_enabled,
            size: stored.record.size,
        })
    }

    type GetObjectStream = GetObjectStream;

    async fn get_object(
        &self,
        request: Request<pb::GetObjectRequest>,
    ) -> GrpcResult<GetObjectStream> {
        let (requester, notes, message) = open(request)?;
        self.note_object(&notes, &message.bucket, &message.key);
        let input = read_input(
            message.bucket,
            message.key,
            message.range,
            [
                message.if_match,
                message.if_none_match,
                message.if_modified_since,
                message.if_unmodified_since,
            ],
        );
        let mut read = self.objects.read_object(&requester, input, true).await?;
        let head = pb::GetObjectResponse {
            part: Some(get_object_response::Part::Head(object_head(&read))),
        };
        let record = read.record.clone();
        notes.set_additional_event_data(transfer_data(Some(&record), 0, 0));
        let body = read.body.take().expect("GetObject reads with a body");
        let mut sent = 0u64;
        // The record shows the bytes that actually left, also when the client hangs up.
        let chunks = body.map(move |item| match item {
            Ok(chunk) => {
                sent += chunk.len() as u64;
                notes.set_additional_event_data(transfer_data(Some(&record), 0, sent));
                Ok(pb::GetObjectResponse {
                    part: Some(get_object_response::Part::Chunk(chunk)),
                })
            }
            Err(error) => Err(Status::from(error)),
        });
        let stream = stream::once(async move { Ok(head) }).chain(chunks);
        ok(Box::pin(stream))
    }

    async fn head_object(
        &self,
        request: Request<pb::HeadObjectRequest>,
    ) -> GrpcResult<pb::HeadObjectResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_object(&notes, &message.bucket, &message.key);
        let input = read_input(
            message.bucket,
            message.key,
            message.range,
            [
                message.if_match,
                message.if_none_match,
                message.if_modified_since,
                message.if_unmodified_since,
            ],
        );
        let read = self.objects.read_object(&requester, input, false).await?;
        ok(pb::HeadObjectResponse {
            head: Some(object_head(&read)),
        })
    }

    async fn delete_object(
        &self,
        request: Request<pb::DeleteObjectRequest>,
    ) -> GrpcResult<pb::DeleteObjectResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_object(&notes, &message.bucket, &message.key);
        self.objects
            .delete_object(&requester, &message.bucket, &message.key)
            .await?;
        ok(pb::DeleteObjectResponse {})
    }

    async fn list_objects_v2(
        &self,
        request: Request<pb::ListObjectsV2Request>,
    ) -> GrpcResult<pb::ListObjectsV2Response> {
        let (requester, notes, message) = open(request)?;
        self.note_bucket(&notes, &message.bucket);
        let fetch_owner = message.fetch_owner;
        let input = ListObjectsInput {
            bucket: message.bucket.clone(),
            prefix: message.prefix.clone(),
            delimiter: message.delimiter.clone(),
            start_after: message.start_after.clone(),
            continuation_token: message.continuation_token.clone(),
            max_keys: message.max_keys,
        };
        let output = self.objects.list_objects(&requester, input).await?;
        let contents: Vec<pb::ObjectSummary> = output
            .listing
            .objects
            .iter()
            .map(|object| pb::ObjectSummary {
                key: object.key.clone(),
                last_modified: rfc3339(object.last_modified),
                etag: object.etag.clone(),
                size: object.size,
                storage_class: "STANDARD".to_owned(),
                owner: fetch_owner.then(|| owner(&output.owner_id)),
            })
            .collect();
        let common_prefixes: Vec<pb::CommonPrefix> = output
            .listing
            .common_prefixes
            .iter()
            .map(|prefix| pb::CommonPrefix {
                prefix: prefix.clone(),
            })
            .collect();
        ok(pb::ListObjectsV2Response {
            name: message.bucket,
            prefix: message.prefix,
            delimiter: message.delimiter,
            max_keys: output.max_keys,
            is_truncated: output.listing.is_truncated,
            key_count: (contents.len() + common_prefixes.len()) as i32,
            contents,
            common_prefixes,
            continuation_token: message.continuation_token,
            next_continuation_token: output.next_continuation_token.unwrap_or_default(),
            start_after: message.start_after,
        })
    }

    async fn copy_object(
        &self,
        request: Request<pb::CopyObjectRequest>,
    ) -> GrpcResult<pb::CopyObjectResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_object(&notes, &message.bucket, &message.key);
        let input = CopyObjectInput {
            bucket: message.bucket,
            key: message.key,
            copy_source: message.copy_source,
            metadata_directive: message.metadata_directive,
            attributes: ObjectAttributes {
                content: ContentHeaders {
                    content_type: non_empty(message.content_type),
                    ..Default::default()
                },
                metadata: message.metadata.into_iter().collect(),
            },
            acl: message.acl,
            sse: sse_request(
                message.server_side_encryption,
                message.ssekms_key_id,
                message.ssekms_encryption_context,
                message.bucket_key_enabled,
            ),
            source_conditions: Conditions::default(),
        };
        let stored = self.objects.copy_object(&requester, input).await?;
        notes.set_additional_event_data(transfer_data(Some(&stored.record), 0, 0));
        let (server_side_encryption, ssekms_key_id, bucket_key_enabled) =
            stored_encryption(&stored);
        ok(pb::CopyObjectResponse {
            copy_object_result: Some(pb::CopyObjectResult {
                etag: stored.record.etag.clone(),
                last_modified: rfc3339(stored.record.last_modified),
            }),
            server_side_encryption,
            ssekms_key_id,
            bucket_key_enabled,
        })
    }

    async fn put_object_acl(
        &self,
        request: Request<pb::PutObjectAclRequest>,
    ) -> GrpcResult<pb::PutObjectAclResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_object(&notes, &message.bucket, &message.key);
        let acl = acl_from_request(
            &message.acl,
            message.access_control_policy,
            self.objects.account_id(),
        )?;
        self.objects
            .put_object_acl(&requester, &message.bucket, &message.key, acl)
            .await?;
        ok(pb::PutObjectAclResponse {})
    }

    async fn get_object_acl(
        &self,
        request: Request<pb::GetObjectAclRequest>,
    ) -> GrpcResult<pb::GetObjectAclResponse> {
        let (requester, notes, message) = open(request)?;
        self.note_object(&notes, &message.bucket, &message.key);
        let acl = self
            .objects
            .object_acl(&requester, &message.bucket, &message.key)
            .await?;
        let (owner, grants) = acl_to_pb(&acl);
        ok(pb::GetObjectAclResponse {
            owner: Some(owner),
            grants,
        })
    }
}
