//! Bucket operations: create, delete, list, head, and the bucket settings (default
//! encryption, Block Public Access, Object Ownership, ACL).

use super::*;

pub(super) async fn create_bucket(
    grpc: &ObjectGrpc,
    request: Request<pb::CreateBucketRequest>,
) -> GrpcResult<pb::CreateBucketResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    let bucket = grpc
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

pub(super) async fn delete_bucket(
    grpc: &ObjectGrpc,
    request: Request<pb::DeleteBucketRequest>,
) -> GrpcResult<pb::DeleteBucketResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    grpc.objects
        .delete_bucket(&requester, &message.bucket)
        .await?;
    ok(pb::DeleteBucketResponse {})
}

pub(super) async fn list_buckets(
    grpc: &ObjectGrpc,
    request: Request<pb::ListBucketsRequest>,
) -> GrpcResult<pb::ListBucketsResponse> {
    let (requester, _, _) = open(request)?;
    let buckets = grpc.objects.list_buckets(&requester).await?;
    ok(pb::ListBucketsResponse {
        buckets: buckets
            .iter()
            .map(|bucket| pb::Bucket {
                name: bucket.name.clone(),
                creation_date: rfc3339(bucket.created_at),
            })
            .collect(),
        owner: Some(owner(grpc.objects.account_id())),
    })
}

pub(super) async fn head_bucket(
    grpc: &ObjectGrpc,
    request: Request<pb::HeadBucketRequest>,
) -> GrpcResult<pb::HeadBucketResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    grpc.objects
        .bucket_to_read(&requester, &message.bucket, BucketRead::Head)
        .await?;
    ok(pb::HeadBucketResponse {
        bucket_region: grpc.objects.region().to_owned(),
    })
}

pub(super) async fn put_bucket_encryption(
    grpc: &ObjectGrpc,
    request: Request<pb::PutBucketEncryptionRequest>,
) -> GrpcResult<pb::PutBucketEncryptionResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    let encryption = encryption_from_pb(message.server_side_encryption_configuration)?;
    grpc.objects
        .change_bucket(
            &requester,
            &message.bucket,
            BucketSettingsChange::Encryption(Some(encryption)),
        )
        .await?;
    ok(pb::PutBucketEncryptionResponse {})
}

pub(super) async fn get_bucket_encryption(
    grpc: &ObjectGrpc,
    request: Request<pb::GetBucketEncryptionRequest>,
) -> GrpcResult<pb::GetBucketEncryptionResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    let bucket = grpc
        .objects
        .bucket_to_read(&requester, &message.bucket, BucketRead::Encryption)
        .await?;
    ok(pb::GetBucketEncryptionResponse {
        server_side_encryption_configuration: Some(encryption_to_pb(&bucket.encryption)),
    })
}

pub(super) async fn delete_bucket_encryption(
    grpc: &ObjectGrpc,
    request: Request<pb::DeleteBucketEncryptionRequest>,
) -> GrpcResult<pb::DeleteBucketEncryptionResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    grpc.objects
        .change_bucket(
            &requester,
            &message.bucket,
            BucketSettingsChange::Encryption(None),
        )
        .await?;
    ok(pb::DeleteBucketEncryptionResponse {})
}

pub(super) async fn put_public_access_block(
    grpc: &ObjectGrpc,
    request: Request<pb::PutPublicAccessBlockRequest>,
) -> GrpcResult<pb::PutPublicAccessBlockResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    let configuration = message.public_access_block_configuration.ok_or_else(|| {
        ObjectError::invalid_argument("PublicAccessBlockConfiguration is required")
    })?;
    let block = PublicAccessBlock {
        block_public_acls: configuration.block_public_acls,
        ignore_public_acls: configuration.ignore_public_acls,
        block_public_policy: configuration.block_public_policy,
        restrict_public_buckets: configuration.restrict_public_buckets,
    };
    grpc.objects
        .change_bucket(
            &requester,
            &message.bucket,
            BucketSettingsChange::PublicAccessBlock(Some(block)),
        )
        .await?;
    ok(pb::PutPublicAccessBlockResponse {})
}

pub(super) async fn get_public_access_block(
    grpc: &ObjectGrpc,
    request: Request<pb::GetPublicAccessBlockRequest>,
) -> GrpcResult<pb::GetPublicAccessBlockResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    let block = grpc
        .objects
        .public_access_block(&requester, &message.bucket)
        .await?;
    ok(pb::GetPublicAccessBlockResponse {
        public_access_block_configuration: Some(pb::PublicAccessBlockConfiguration {
            block_public_acls: block.block_public_acls,
            ignore_public_acls: block.ignore_public_acls,
            block_public_policy: block.block_public_policy,
            restrict_public_buckets: block.restrict_public_buckets,
        }),
    })
}

pub(super) async fn delete_public_access_block(
    grpc: &ObjectGrpc,
    request: Request<pb::DeletePublicAccessBlockRequest>,
) -> GrpcResult<pb::DeletePublicAccessBlockResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    grpc.objects
        .change_bucket(
            &requester,
            &message.bucket,
            BucketSettingsChange::PublicAccessBlock(None),
        )
        .await?;
    ok(pb::DeletePublicAccessBlockResponse {})
}

pub(super) async fn put_bucket_ownership_controls(
    grpc: &ObjectGrpc,
    request: Request<pb::PutBucketOwnershipControlsRequest>,
) -> GrpcResult<pb::PutBucketOwnershipControlsResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
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
    grpc.objects
        .change_bucket(
            &requester,
            &message.bucket,
            BucketSettingsChange::Ownership(ownership),
        )
        .await?;
    ok(pb::PutBucketOwnershipControlsResponse {})
}

pub(super) async fn get_bucket_ownership_controls(
    grpc: &ObjectGrpc,
    request: Request<pb::GetBucketOwnershipControlsRequest>,
) -> GrpcResult<pb::GetBucketOwnershipControlsResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    let bucket = grpc
        .objects
        .bucket_to_read(&requester, &message.bucket, BucketRead::Ownership)
        .await?;
    ok(pb::GetBucketOwnershipControlsResponse {
        ownership_controls: Some(pb::OwnershipControls {
            rules: vec![pb::OwnershipControlsRule {
                object_ownership: bucket.ownership.as_str().to_owned(),
            }],
        }),
    })
}

pub(super) async fn put_bucket_acl(
    grpc: &ObjectGrpc,
    request: Request<pb::PutBucketAclRequest>,
) -> GrpcResult<pb::PutBucketAclResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    let acl = acl_from_request(
        &message.acl,
        message.access_control_policy,
        grpc.objects.account_id(),
    )?;
    grpc.objects
        .change_bucket(&requester, &message.bucket, BucketSettingsChange::Acl(acl))
        .await?;
    ok(pb::PutBucketAclResponse {})
}

pub(super) async fn get_bucket_acl(
    grpc: &ObjectGrpc,
    request: Request<pb::GetBucketAclRequest>,
) -> GrpcResult<pb::GetBucketAclResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    let bucket: Bucket = grpc
        .objects
        .bucket_to_read(&requester, &message.bucket, BucketRead::Acl)
        .await?;
    let (owner, grants) = acl_to_pb(&Objects::effective_bucket_acl(&bucket));
    ok(pb::GetBucketAclResponse {
        owner: Some(owner),
        grants,
    })
}

pub(super) async fn put_bucket_policy(
    grpc: &ObjectGrpc,
    request: Request<pb::PutBucketPolicyRequest>,
) -> GrpcResult<pb::PutBucketPolicyResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    // CloudTrail shows the document itself as `bucketPolicy`, as JSON when it is JSON
    // (the limits above bound it to 20 KB).
    let shown = serde_json::from_str(&message.policy)
        .unwrap_or_else(|_| Value::String(message.policy.clone()));
    notes.set_request_parameters(json!({"bucketName": message.bucket, "bucketPolicy": shown}));
    grpc.objects
        .put_bucket_policy(&requester, &message.bucket, &message.policy)
        .await?;
    ok(pb::PutBucketPolicyResponse {})
}

pub(super) async fn get_bucket_policy(
    grpc: &ObjectGrpc,
    request: Request<pb::GetBucketPolicyRequest>,
) -> GrpcResult<pb::GetBucketPolicyResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    let policy = grpc
        .objects
        .bucket_policy(&requester, &message.bucket)
        .await?;
    ok(pb::GetBucketPolicyResponse { policy })
}

pub(super) async fn delete_bucket_policy(
    grpc: &ObjectGrpc,
    request: Request<pb::DeleteBucketPolicyRequest>,
) -> GrpcResult<pb::DeleteBucketPolicyResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    grpc.objects
        .delete_bucket_policy(&requester, &message.bucket)
        .await?;
    ok(pb::DeleteBucketPolicyResponse {})
}

pub(super) async fn get_bucket_policy_status(
    grpc: &ObjectGrpc,
    request: Request<pb::GetBucketPolicyStatusRequest>,
) -> GrpcResult<pb::GetBucketPolicyStatusResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    let status = grpc
        .objects
        .bucket_policy_status(&requester, &message.bucket)
        .await?;
    ok(pb::GetBucketPolicyStatusResponse {
        policy_status: Some(pb::PolicyStatus {
            is_public: status.is_public,
        }),
    })
}
