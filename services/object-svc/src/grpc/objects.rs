//! Object operations: put, get, head, delete, list, copy, and object ACLs.

use super::*;

pub(super) async fn put_object(
    grpc: &ObjectGrpc,
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
    grpc.note_object(&notes, &header.bucket, &header.key);
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
    let stored = grpc.objects.put_object(&requester, input, body).await;
    let bytes_in = received.load(Ordering::Relaxed);
    notes.set_additional_event_data(transfer_data(
        stored.as_ref().ok().map(|s| &s.record),
        bytes_in,
        0,
    ));
    let stored = stored?;
    let (server_side_encryption, ssekms_key_id, bucket_key_enabled) = stored_encryption(&stored);
    ok(pb::PutObjectResponse {
        etag: stored.record.etag.clone(),
        server_side_encryption,
        ssekms_key_id,
        bucket_key_enabled,
        size: stored.record.size,
    })
}

pub(super) async fn get_object(
    grpc: &ObjectGrpc,
    request: Request<pb::GetObjectRequest>,
) -> GrpcResult<GetObjectStream> {
    let (requester, notes, message) = open(request)?;
    grpc.note_object(&notes, &message.bucket, &message.key);
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
    let mut read = grpc.objects.read_object(&requester, input, true).await?;
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

pub(super) async fn head_object(
    grpc: &ObjectGrpc,
    request: Request<pb::HeadObjectRequest>,
) -> GrpcResult<pb::HeadObjectResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_object(&notes, &message.bucket, &message.key);
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
    let read = grpc.objects.read_object(&requester, input, false).await?;
    ok(pb::HeadObjectResponse {
        head: Some(object_head(&read)),
    })
}

pub(super) async fn delete_object(
    grpc: &ObjectGrpc,
    request: Request<pb::DeleteObjectRequest>,
) -> GrpcResult<pb::DeleteObjectResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_object(&notes, &message.bucket, &message.key);
    grpc.objects
        .delete_object(&requester, &message.bucket, &message.key)
        .await?;
    ok(pb::DeleteObjectResponse {})
}

pub(super) async fn list_objects_v2(
    grpc: &ObjectGrpc,
    request: Request<pb::ListObjectsV2Request>,
) -> GrpcResult<pb::ListObjectsV2Response> {
    let (requester, notes, message) = open(request)?;
    grpc.note_bucket(&notes, &message.bucket);
    let fetch_owner = message.fetch_owner;
    let input = ListObjectsInput {
        bucket: message.bucket.clone(),
        prefix: message.prefix.clone(),
        delimiter: message.delimiter.clone(),
        start_after: message.start_after.clone(),
        continuation_token: message.continuation_token.clone(),
        max_keys: message.max_keys,
    };
    let output = grpc.objects.list_objects(&requester, input).await?;
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

pub(super) async fn copy_object(
    grpc: &ObjectGrpc,
    request: Request<pb::CopyObjectRequest>,
) -> GrpcResult<pb::CopyObjectResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_object(&notes, &message.bucket, &message.key);
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
    let stored = grpc.objects.copy_object(&requester, input).await?;
    notes.set_additional_event_data(transfer_data(Some(&stored.record), 0, 0));
    let (server_side_encryption, ssekms_key_id, bucket_key_enabled) = stored_encryption(&stored);
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

pub(super) async fn put_object_acl(
    grpc: &ObjectGrpc,
    request: Request<pb::PutObjectAclRequest>,
) -> GrpcResult<pb::PutObjectAclResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_object(&notes, &message.bucket, &message.key);
    let acl = acl_from_request(
        &message.acl,
        message.access_control_policy,
        grpc.objects.account_id(),
    )?;
    grpc.objects
        .put_object_acl(&requester, &message.bucket, &message.key, acl)
        .await?;
    ok(pb::PutObjectAclResponse {})
}

pub(super) async fn get_object_acl(
    grpc: &ObjectGrpc,
    request: Request<pb::GetObjectAclRequest>,
) -> GrpcResult<pb::GetObjectAclResponse> {
    let (requester, notes, message) = open(request)?;
    grpc.note_object(&notes, &message.bucket, &message.key);
    let acl = grpc
        .objects
        .object_acl(&requester, &message.bucket, &message.key)
        .await?;
    let (owner, grants) = acl_to_pb(&acl);
    ok(pb::GetObjectAclResponse {
        owner: Some(owner),
        grants,
    })
}
