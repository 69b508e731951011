//! Multipart upload over S3's REST API, which `aws s3 cp` uses for files over 8 MB:
//! the object gets one data key at Create, each part is sealed as it arrives, and
//! Complete assembles them without copying bytes.

use s3s::{S3Request, dto::*};

use super::{
    api::{Handled, open},
    body::{Declared, request_body},
    convert::{
        ListingEncoding, applied_sse, etag, owner, refuse_unsupported_headers, timestamp,
        write_request,
    },
};
use crate::{
    domain::{self, MultipartUpload as Upload, Objects},
    error::ObjectError,
};

pub async fn create_multipart_upload(
    objects: &Objects,
    req: S3Request<CreateMultipartUploadInput>,
) -> Handled<CreateMultipartUploadOutput> {
    let (call, requester) = open(&req);
    let result = async {
        refuse_unsupported_headers(&req.headers)?;
        let mut input = req.input;
        let write = write_request!(input)?;
        let upload = objects
            .create_multipart_upload(
                &requester,
                domain::CreateMultipartUploadInput {
                    bucket: input.bucket,
                    key: input.key,
                    attributes: write.attributes,
                    acl: write.acl,
                    sse: write.sse,
                },
            )
            .await?;
        let sse = applied_sse(&call, &upload.encryption);
        Ok(CreateMultipartUploadOutput {
            bucket: Some(upload.bucket),
            key: Some(upload.key),
            upload_id: Some(upload.upload_id),
            server_side_encryption: sse.server_side_encryption,
            ssekms_key_id: sse.ssekms_key_id,
            bucket_key_enabled: sse.bucket_key_enabled,
            ..Default::default()
        })
    }
    .await;
    call.respond(result)
}

pub async fn upload_part(
    objects: &Objects,
    req: S3Request<UploadPartInput>,
) -> Handled<UploadPartOutput> {
    let (call, requester) = open(&req);
    let declared = match Declared::of(&req.headers, req.trailing_headers.clone()) {
        Ok(declared) => declared,
        Err(error) => return call.respond(Err(error)),
    };
    let input = req.input;
    let body = request_body(&call, input.body, declared);
    let uploaded = objects
        .upload_part(
            &requester,
            domain::UploadPartInput {
                bucket: input.bucket,
                key: input.key,
                upload_id: input.upload_id,
                part_number: input.part_number,
                content_length: input.content_length.and_then(|n| u64::try_from(n).ok()),
            },
            body,
        )
        .await;
    let result = uploaded.map(|part| {
        let sse = applied_sse(&call, &part.encryption);
        UploadPartOutput {
            e_tag: Some(etag(&part.etag)),
            server_side_encryption: sse.server_side_encryption,
            ssekms_key_id: sse.ssekms_key_id,
            bucket_key_enabled: sse.bucket_key_enabled,
            ..Default::default()
        }
    });
    call.respond(result)
}

pub async fn complete_multipart_upload(
    objects: &Objects,
    req: S3Request<CompleteMultipartUploadInput>,
) -> Handled<CompleteMultipartUploadOutput> {
    let (call, requester) = open(&req);
    let result = async {
        let input = req.input;
        let parts = input
            .multipart_upload
            .and_then(|upload| upload.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|part| match (part.part_number, part.e_tag) {
                (Some(number), Some(tag)) => Ok((number, tag.into_value())),
                _ => Err(ObjectError::MalformedXml),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stored = objects
            .complete_multipart_upload(
                &requester,
                &input.bucket,
                &input.key,
                &input.upload_id,
                parts,
            )
            .await?;
        let record = &stored.record;
        let encryption = &record.encryption;
        let sse = applied_sse(&call, &encryption.into());
        Ok(CompleteMultipartUploadOutput {
            bucket: Some(record.bucket.clone()),
            key: Some(record.key.clone()),
            location: Some(format!("/{}/{}", record.bucket, record.key)),
            e_tag: Some(etag(&record.etag)),
            server_side_encryption: sse.server_side_encryption,
            ssekms_key_id: sse.ssekms_key_id,
            bucket_key_enabled: sse.bucket_key_enabled,
            ..Default::default()
        })
    }
    .await;
    call.respond(result)
}

pub async fn abort_multipart_upload(
    objects: &Objects,
    req: S3Request<AbortMultipartUploadInput>,
) -> Handled<AbortMultipartUploadOutput> {
    let (call, requester) = open(&req);
    let input = &req.input;
    let result = objects
        .abort_multipart_upload(&requester, &input.bucket, &input.key, &input.upload_id)
        .await;
    call.respond(result.map(|()| AbortMultipartUploadOutput::default()))
}

fn initiator(upload: &Upload) -> Initiator {
    Initiator {
        display_name: Some(upload.initiator.clone()),
        id: Some(upload.initiator.clone()),
    }
}

pub async fn list_parts(
    objects: &Objects,
    req: S3Request<ListPartsInput>,
) -> Handled<ListPartsOutput> {
    let (call, requester) = open(&req);
    let input = req.input;
    let listed = objects
        .list_parts(
            &requester,
            &input.bucket,
            &input.key,
            &input.upload_id,
            input.max_parts,
            input.part_number_marker,
        )
        .await;
    let result = listed.map(|listing| ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        initiator: Some(initiator(&listing.upload)),
        owner: Some(owner(&listing.upload.owner_id)),
        max_parts: Some(listing.max_parts),
        part_number_marker: Some(listing.part_number_marker),
        next_part_number_marker: listing.next_part_number_marker,
        is_truncated: Some(listing.is_truncated),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        parts: Some(
            listing
                .parts
                .iter()
                .map(|part| Part {
                    e_tag: Some(etag(&part.etag)),
                    last_modified: Some(timestamp(part.last_modified)),
                    part_number: Some(part.part_number),
                    size: i64::try_from(part.size).ok(),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    });
    call.respond(result)
}

pub async fn list_multipart_uploads(
    objects: &Objects,
    req: S3Request<ListMultipartUploadsInput>,
) -> Handled<ListMultipartUploadsOutput> {
    let (call, requester) = open(&req);
    let input = req.input;
    let encoding = ListingEncoding::of(input.encoding_type.as_ref());
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let listed = objects
        .list_multipart_uploads(
            &requester,
            &input.bucket,
            &text(&input.prefix),
            &text(&input.delimiter),
            &text(&input.key_marker),
            &text(&input.upload_id_marker),
            input.max_uploads,
        )
        .await;
    let result = listed.map(|listing| ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        prefix: input.prefix.as_deref().map(|p| encoding.apply(p)),
        delimiter: input.delimiter.as_deref().map(|d| encoding.apply(d)),
        key_marker: input.key_marker.as_deref().map(|k| encoding.apply(k)),
        upload_id_marker: input.upload_id_marker,
        max_uploads: Some(listing.max_uploads),
        is_truncated: Some(listing.is_truncated),
        next_key_marker: listing
            .next_key_marker
            .as_deref()
            .map(|k| encoding.apply(k)),
        next_upload_id_marker: listing.next_upload_id_marker,
        encoding_type: encoding.output(),
        common_prefixes: Some(
            listing
                .common_prefixes
                .iter()
                .map(|prefix| CommonPrefix {
                    prefix: Some(encoding.apply(prefix)),
                })
                .collect(),
        ),
        uploads: Some(
            listing
                .uploads
                .iter()
                .map(|upload| MultipartUpload {
                    initiated: Some(timestamp(upload.initiated)),
                    initiator: Some(initiator(upload)),
                    key: Some(encoding.apply(&upload.key)),
                    owner: Some(owner(&upload.owner_id)),
                    storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                    upload_id: Some(upload.upload_id.clone()),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    });
    call.respond(result)
}
