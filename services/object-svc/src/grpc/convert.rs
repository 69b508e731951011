//! Conversions between the protobuf messages and the domain's types, and the few
//! values (times, SSE names, transfer sizes) the handlers write the same way.

use super::*;

pub(super) fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// GetObject's and HeadObject's fields as the domain's read; the conditions in the
/// order If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since.
pub(super) fn read_input(
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
            if_modified_since: crate::domain::parse_time(&if_modified_since),
            if_unmodified_since: crate::domain::parse_time(&if_unmodified_since),
        },
    }
}

pub(super) fn owner(id: &str) -> pb::Owner {
    pb::Owner {
        id: id.to_owned(),
        display_name: id.to_owned(),
    }
}

pub(super) fn acl_to_pb(acl: &Acl) -> (pb::Owner, Vec<pb::Grant>) {
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
pub(super) fn acl_from_request(
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

pub(super) fn encryption_to_pb(
    encryption: &DefaultEncryption,
) -> pb::ServerSideEncryptionConfiguration {
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

pub(super) fn encryption_from_pb(
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

pub(super) fn content_headers(
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

pub(super) fn object_head(read: &ObjectRead) -> pb::ObjectHead {
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
pub(super) fn sse_applied(record: &ObjectRecord) -> &'static str {
    match record.encryption.algorithm {
        SseAlgorithm::AwsKms => "SSE_KMS",
        SseAlgorithm::Aes256 => "Default_SSE_S3",
    }
}

pub(super) fn transfer_data(record: Option<&ObjectRecord>, bytes_in: u64, bytes_out: u64) -> Value {
    let mut data = json!({
        "bytesTransferredIn": bytes_in,
        "bytesTransferredOut": bytes_out,
    });
    if let Some(record) = record {
        data["SSEApplied"] = json!(sse_applied(record));
    }
    data
}

pub(super) fn sse_request(
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

pub(super) fn stored_encryption(stored: &StoredObject) -> (String, String, bool) {
    let encryption = &stored.record.encryption;
    (
        encryption.algorithm.as_str().to_owned(),
        encryption.kms_key_arn.clone().unwrap_or_default(),
        encryption.bucket_key_enabled,
    )
}

pub(super) type GetObjectStream =
    Pin<Box<dyn Stream<Item = Result<pb::GetObjectResponse, Status>> + Send>>;
