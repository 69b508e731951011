//! Object operations over S3's REST API: bytes stream through in both directions,
//! sealed and opened by the domain; the SSE response headers say how each object is
//! encrypted.

use s3s::{S3Request, S3Response, dto::*};
use sync_wrapper::SyncStream;

use super::{
    api::{Handled, header_text, open},
    body::{Declared, request_body},
    call::S3Call,
    convert::{
        ListingEncoding, acl_request, acl_to_dto, applied_sse, etag, owner,
        refuse_unsupported_headers, sse_headers, timestamp, write_request,
    },
    errors::to_s3,
};
use crate::{
    domain::{self, Conditions, ObjectRead, Objects, WriteCondition},
    error::ObjectError,
};

/// The most keys one DeleteObjects may name.
const MAX_DELETE_KEYS: usize = 1000;

/// GetObject's and HeadObject's range and conditions, from the raw headers so that
/// they mean what they mean over gRPC (S3 ignores a range it cannot parse).
fn read_input(headers: &http::HeaderMap, bucket: String, key: String) -> domain::GetObjectInput {
    domain::GetObjectInput {
        bucket,
        key,
        range: header_text(headers, "range"),
        conditions: conditions(headers, ""),
    }
}

/// The `If-*` headers, or CopyObject's `x-amz-copy-source-if-*` (with that prefix).
fn conditions(headers: &http::HeaderMap, prefix: &str) -> Conditions {
    let text = |name: &str| {
        Some(header_text(headers, &format!("{prefix}{name}"))).filter(|t| !t.is_empty())
    };
    Conditions {
        if_match: text("if-match"),
        if_none_match: text("if-none-match"),
        if_modified_since: text("if-modified-since").and_then(|t| domain::parse_time(&t)),
        if_unmodified_since: text("if-unmodified-since").and_then(|t| domain::parse_time(&t)),
    }
}

pub async fn put_object(
    objects: &Objects,
    req: S3Request<PutObjectInput>,
) -> Handled<PutObjectOutput> {
    let (call, requester) = open(&req);
    let result = async {
        refuse_unsupported_headers(&req.headers)?;
        let declared = Declared::of(&req.headers, req.trailing_headers.clone())?;
        let text = |name| Some(header_text(&req.headers, name)).filter(|t| !t.is_empty());
        let condition = WriteCondition::from_headers(
            text("if-none-match").as_deref(),
            text("if-match").as_deref(),
        )?;
        let mut input = req.input;
        let write = write_request!(input)?;
        let body = request_body(&call, input.body, declared);
        let put = domain::PutObjectInput {
            bucket: input.bucket,
            key: input.key,
            attributes: write.attributes,
            content_length: input.content_length.and_then(|n| u64::try_from(n).ok()),
            acl: write.acl,
            sse: write.sse,
            condition,
        };
        let stored = objects.put_object(&requester, put, body).await?;
        let sse = applied_sse(&call, &(&stored.record.encryption).into());
        Ok(PutObjectOutput {
            e_tag: Some(etag(&stored.record.etag)),
            server_side_encryption: sse.server_side_encryption,
            ssekms_key_id: sse.ssekms_key_id,
            bucket_key_enabled: sse.bucket_key_enabled,
            ..Default::default()
        })
    }
    .await;
    call.respond(result)
}

pub async fn get_object(
    objects: &Objects,
    req: S3Request<GetObjectInput>,
) -> Handled<GetObjectOutput> {
    let (call, requester) = open(&req);
    let input = read_input(&req.headers, req.input.bucket, req.input.key);
    let mut read = match objects.read_object(&requester, input, true).await {
        Ok(read) => read,
        Err(error) => return Err(read_error(&call, error)),
    };
    applied_sse(&call, &(&read.record.encryption).into());
    let body = read.body.take().expect("GetObject reads with a body");
    let head = head_of(&read);
    let output = GetObjectOutput {
        body: Some(StreamingBlob::wrap(SyncStream::new(body))),
        accept_ranges: head.accept_ranges,
        bucket_key_enabled: head.bucket_key_enabled,
        cache_control: head.cache_control,
        content_disposition: head.content_disposition,
        content_encoding: head.content_encoding,
        content_language: head.content_language,
        content_length: head.content_length,
        content_range: head.content_range,
        content_type: head.content_type,
        e_tag: head.e_tag,
        last_modified: head.last_modified,
        metadata: head.metadata,
        ssekms_key_id: head.ssekms_key_id,
        server_side_encryption: head.server_side_encryption,
        ..Default::default()
    };
    // s3s answers 206 when there is a Content-Range.
    Ok(S3Response::new(output))
}

pub async fn head_object(
    objects: &Objects,
    req: S3Request<HeadObjectInput>,
) -> Handled<HeadObjectOutput> {
    let (call, requester) = open(&req);
    let input = read_input(&req.headers, req.input.bucket, req.input.key);
    let read = match objects.read_object(&requester, input, false).await {
        Ok(read) => read,
        Err(error) => return Err(read_error(&call, error)),
    };
    // s3s answers 200 to every HeadObject; the edge makes a ranged one 206.
    Ok(S3Response::new(head_of(&read)))
}

/// The error of a GET or HEAD; a 304 carries the validators of what the client
/// has (RFC 9110): the object's ETag and Last-Modified.
fn read_error(call: &S3Call, error: ObjectError) -> s3s::S3Error {
    let validators = match &error {
        ObjectError::NotModified {
            etag,
            last_modified,
        } => Some([
            ("etag", etag.clone()),
            (
                "last-modified",
                httpdate::fmt_http_date((*last_modified).into()),
            ),
        ]),
        _ => None,
    };
    let mut s3 = to_s3(call, error);
    if let Some(validators) = validators {
        let mut headers = http::HeaderMap::new();
        for (name, value) in validators {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        s3.set_headers(headers);
    }
    s3
}

fn head_of(read: &ObjectRead) -> HeadObjectOutput {
    let record = &read.record;
    let content = &record.content;
    let sse = sse_headers(&(&record.encryption).into());
    HeadObjectOutput {
        accept_ranges: Some("bytes".to_owned()),
        bucket_key_enabled: sse.bucket_key_enabled,
        cache_control: content.cache_control.clone(),
        content_disposition: content.content_disposition.clone(),
        content_encoding: content.content_encoding.clone(),
        content_language: content.content_language.clone(),
        content_length: i64::try_from(read.content_length()).ok(),
        content_range: read.range.map(|range| range.content_range(record.size)),
        content_type: Some(
            content
                .content_type
                .clone()
                .unwrap_or_else(|| "binary/octet-stream".to_owned()),
        ),
        e_tag: Some(etag(&record.etag)),
        last_modified: Some(timestamp(record.last_modified)),
        metadata: (!record.user_metadata.is_empty())
            .then(|| record.user_metadata.clone().into_iter().collect()),
        ssekms_key_id: sse.ssekms_key_id,
        server_side_encryption: sse.server_side_encryption,
        ..Default::default()
    }
}

pub async fn delete_object(
    objects: &Objects,
    req: S3Request<DeleteObjectInput>,
) -> Handled<DeleteObjectOutput> {
    let (call, requester) = open(&req);
    let result = objects
        .delete_object(&requester, &req.input.bucket, &req.input.key)
        .await;
    call.respond(result.map(|()| DeleteObjectOutput::default()))
}

pub async fn delete_objects(
    objects: &Objects,
    req: S3Request<DeleteObjectsInput>,
) -> Handled<DeleteObjectsOutput> {
    let (call, requester) = open(&req);
    let result = async {
        let input = req.input;
        if input.delete.objects.is_empty() || input.delete.objects.len() > MAX_DELETE_KEYS {
            return Err(ObjectError::MalformedXml);
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        // As in S3, each key succeeds or fails on its own; a missing bucket fails all.
        for object in input.delete.objects {
            match objects
                .delete_object(&requester, &input.bucket, &object.key)
                .await
            {
                Ok(()) => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(object.key),
                            ..Default::default()
                        });
                    }
                }
                Err(error @ ObjectError::NoSuchBucket(_)) => return Err(error),
                Err(error) => {
                    errors.push(Error {
                        code: Some(error.answer().s3_code.to_owned()),
                        key: Some(object.key),
                        message: Some(error.public_message()),
                        version_id: None,
                    });
                }
            }
        }
        Ok(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        })
    }
    .await;
    call.respond(result)
}

pub async fn list_objects_v2(
    objects: &Objects,
    req: S3Request<ListObjectsV2Input>,
) -> Handled<ListObjectsV2Output> {
    let (call, requester) = open(&req);
    let input = req.input;
    let encoding = ListingEncoding::of(input.encoding_type.as_ref());
    let fetch_owner = input.fetch_owner.unwrap_or(false);
    let listed = objects
        .list_objects(
            &requester,
            domain::ListObjectsInput {
                bucket: input.bucket.clone(),
                prefix: input.prefix.clone().unwrap_or_default(),
                delimiter: input.delimiter.clone().unwrap_or_default(),
                start_after: input.start_after.clone().unwrap_or_default(),
                continuation_token: input.continuation_token.clone().unwrap_or_default(),
                max_keys: input.max_keys,
            },
        )
        .await;
    let result = listed.map(|output| {
        let contents = listing_contents(&output, fetch_owner, &encoding);
        let prefixes = common_prefixes(&output, &encoding);
        ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encoding.apply(&input.prefix.unwrap_or_default())),
            delimiter: input.delimiter.map(|d| encoding.apply(&d)),
            max_keys: Some(output.max_keys),
            key_count: i32::try_from(contents.len() + prefixes.len()).ok(),
            is_truncated: Some(output.listing.is_truncated),
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            continuation_token: input.continuation_token,
            next_continuation_token: output.next_continuation_token,
            start_after: input.start_after.map(|s| encoding.apply(&s)),
            encoding_type: encoding.output(),
            ..Default::default()
        }
    });
    call.respond(result)
}

pub async fn list_objects(
    objects: &Objects,
    req: S3Request<ListObjectsInput>,
) -> Handled<ListObjectsOutput> {
    let (call, requester) = open(&req);
    let input = req.input;
    let encoding = ListingEncoding::of(input.encoding_type.as_ref());
    let listed = objects
        .list_objects(
            &requester,
            domain::ListObjectsInput {
                bucket: input.bucket.clone(),
                prefix: input.prefix.clone().unwrap_or_default(),
                delimiter: input.delimiter.clone().unwrap_or_default(),
                start_after: input.marker.clone().unwrap_or_default(),
                continuation_token: String::new(),
                max_keys: input.max_keys,
            },
        )
        .await;
    let result = listed.map(|output| {
        let contents = listing_contents(&output, true, &encoding);
        let prefixes = common_prefixes(&output, &encoding);
        // S3 gives NextMarker only to listings with a delimiter.
        let next_marker = match (&input.delimiter, output.listing.is_truncated) {
            (Some(d), true) if !d.is_empty() => output
                .listing
                .next_marker
                .as_deref()
                .map(|m| encoding.apply(m)),
            _ => None,
        };
        ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(encoding.apply(&input.prefix.unwrap_or_default())),
            marker: Some(encoding.apply(&input.marker.unwrap_or_default())),
            delimiter: input.delimiter.map(|d| encoding.apply(&d)),
            max_keys: Some(output.max_keys),
            is_truncated: Some(output.listing.is_truncated),
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            next_marker,
            encoding_type: encoding.output(),
            ..Default::default()
        }
    });
    call.respond(result)
}

fn listing_contents(
    output: &domain::ListObjectsOutput,
    with_owner: bool,
    encoding: &ListingEncoding,
) -> Vec<Object> {
    output
        .listing
        .objects
        .iter()
        .map(|object| Object {
            e_tag: Some(etag(&object.etag)),
            key: Some(encoding.apply(&object.key)),
            last_modified: Some(timestamp(object.last_modified)),
            owner: with_owner.then(|| owner(&output.owner_id)),
            size: i64::try_from(object.size).ok(),
            storage_class: Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            )),
            ..Default::default()
        })
        .collect()
}

fn common_prefixes(
    output: &domain::ListObjectsOutput,
    encoding: &ListingEncoding,
) -> Vec<CommonPrefix> {
    output
        .listing
        .common_prefixes
        .iter()
        .map(|prefix| CommonPrefix {
            prefix: Some(encoding.apply(prefix)),
        })
        .collect()
}

pub async fn copy_object(
    objects: &Objects,
    req: S3Request<CopyObjectInput>,
) -> Handled<CopyObjectOutput> {
    let (call, requester) = open(&req);
    let result = async {
        refuse_unsupported_headers(&req.headers)?;
        // The domain reads the header as sent (percent-encoded `bucket/key`).
        let copy_source = header_text(&req.headers, "x-amz-copy-source");
        let source_conditions = conditions(&req.headers, "x-amz-copy-source-");
        let mut input = req.input;
        let write = write_request!(input)?;
        let copy = domain::CopyObjectInput {
            bucket: input.bucket,
            key: input.key,
            copy_source,
            metadata_directive: input
                .metadata_directive
                .map(|d| d.as_str().to_owned())
                .unwrap_or_default(),
            attributes: write.attributes,
            acl: write.acl,
            sse: write.sse,
            source_conditions,
        };
        let stored = objects.copy_object(&requester, copy).await?;
        let sse = applied_sse(&call, &(&stored.record.encryption).into());
        Ok(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&stored.record.etag)),
                last_modified: Some(timestamp(stored.record.last_modified)),
                ..Default::default()
            }),
            server_side_encryption: sse.server_side_encryption,
            ssekms_key_id: sse.ssekms_key_id,
            bucket_key_enabled: sse.bucket_key_enabled,
            ..Default::default()
        })
    }
    .await;
    call.respond(result)
}

pub async fn get_object_acl(
    objects: &Objects,
    req: S3Request<GetObjectAclInput>,
) -> Handled<GetObjectAclOutput> {
    let (call, requester) = open(&req);
    let result = objects
        .object_acl(&requester, &req.input.bucket, &req.input.key)
        .await
        .map(|acl| {
            let (owner, grants) = acl_to_dto(&acl);
            GetObjectAclOutput {
                grants: Some(grants),
                owner: Some(owner),
                ..Default::default()
            }
        });
    call.respond(result)
}

pub async fn put_object_acl(
    objects: &Objects,
    req: S3Request<PutObjectAclInput>,
) -> Handled<PutObjectAclOutput> {
    let (call, requester) = open(&req);
    let result = async {
        let input = req.input;
        let acl = acl_request(
            objects,
            &req.headers,
            input.acl.as_ref().map(|a| a.as_str()),
            input.access_control_policy,
        )?;
        objects
            .put_object_acl(&requester, &input.bucket, &input.key, acl)
            .await?;
        Ok(PutObjectAclOutput::default())
    }
    .await;
    call.respond(result)
}
