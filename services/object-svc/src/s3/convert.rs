//! Between s3s's DTOs and the domain's types: timestamps, ETags, the SSE headers,
//! ACLs and owners. Rules stay in the domain; this is spelling only.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::{self, ETag, Timestamp};

use super::call::S3Call;
use crate::{
    domain::{EncryptionSummary, SseRequest, grant},
    error::{ObjectError, ObjectResult},
    model::{Acl, ContentHeaders, Grantee, SseAlgorithm},
};

pub fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp::from(std::time::SystemTime::from(time))
}

/// Our ETags are stored quoted, as S3 sends them.
pub fn etag(stored: &str) -> ETag {
    ETag::Strong(stored.trim_matches('"').to_owned())
}

pub fn owner(id: &str) -> dto::Owner {
    dto::Owner {
        display_name: Some(id.to_owned()),
        id: Some(id.to_owned()),
    }
}

pub fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.is_empty())
}

/// The SSE headers of a write. The context header is base64 of a JSON string map.
pub fn sse_request(
    server_side_encryption: Option<&dto::ServerSideEncryption>,
    kms_key_id: Option<String>,
    context: Option<String>,
    bucket_key_enabled: Option<bool>,
) -> ObjectResult<SseRequest> {
    let context = match context.filter(|c| !c.is_empty()) {
        None => BTreeMap::new(),
        Some(encoded) => decode_context(&encoded)?,
    };
    Ok(SseRequest {
        server_side_encryption: server_side_encryption
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        kms_key_id: kms_key_id.unwrap_or_default(),
        context,
        bucket_key_enabled,
    })
}

fn decode_context(encoded: &str) -> ObjectResult<BTreeMap<String, String>> {
    let invalid = || {
        ObjectError::InvalidArgument {
        message: "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map".to_owned(),
        argument_name: Some("x-amz-server-side-encryption-context".to_owned()),
        argument_value: Some(encoded.to_owned()),
    }
    };
    let json = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| invalid())?;
    serde_json::from_slice(&json).map_err(|_| invalid())
}

/// The encryption response headers of a stored object: algorithm, key ARN (SSE-KMS)
/// and the bucket-key flag (only when set, as S3 does).
pub struct SseHeaders {
    pub server_side_encryption: Option<dto::ServerSideEncryption>,
    pub ssekms_key_id: Option<String>,
    pub bucket_key_enabled: Option<bool>,
}

pub fn sse_headers(encryption: &EncryptionSummary) -> SseHeaders {
    SseHeaders {
        server_side_encryption: Some(dto::ServerSideEncryption::from(
            encryption.algorithm.as_str().to_owned(),
        )),
        ssekms_key_id: encryption.kms_key_arn.clone(),
        bucket_key_enabled: encryption.bucket_key_enabled.then_some(true),
    }
}

/// The SSE response headers of what a request stored or read, also noted as the
/// record's `SSEApplied`.
pub fn applied_sse(call: &S3Call, encryption: &EncryptionSummary) -> SseHeaders {
    let applied = match encryption.algorithm {
        SseAlgorithm::AwsKms => "SSE_KMS",
        SseAlgorithm::Aes256 => "Default_SSE_S3",
    };
    call.update(|state| state.sse_applied = Some(applied));
    sse_headers(encryption)
}

/// The attributes, ACL and SSE request of a write (PutObject, CopyObject,
/// CreateMultipartUpload), whose DTOs share these field names but no trait.
macro_rules! write_request {
    ($input:ident) => {{
        let input = &mut $input;
        $crate::s3::convert::sse_request(
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.take(),
            input.ssekms_encryption_context.take(),
            input.bucket_key_enabled,
        )
        .map(|sse| $crate::s3::convert::WriteRequest {
            attributes: $crate::domain::ObjectAttributes {
                content: $crate::s3::convert::content_headers(
                    input.content_type.take(),
                    input.cache_control.take(),
                    input.content_disposition.take(),
                    input.content_encoding.take(),
                    input.content_language.take(),
                ),
                metadata: input
                    .metadata
                    .take()
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            },
            acl: input
                .acl
                .take()
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default(),
            sse,
        })
    }};
}
pub(crate) use write_request;

pub struct WriteRequest {
    pub attributes: crate::domain::ObjectAttributes,
    pub acl: String,
    pub sse: SseRequest,
}

pub fn content_headers(
    content_type: Option<String>,
    cache_control: Option<String>,
    content_disposition: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
) -> ContentHeaders {
    ContentHeaders {
        content_type: non_empty(content_type),
        cache_control: non_empty(cache_control),
        content_disposition: non_empty(content_disposition),
        content_encoding: non_empty(content_encoding),
        content_language: non_empty(content_language),
    }
}

pub fn acl_to_dto(acl: &Acl) -> (dto::Owner, Vec<dto::Grant>) {
    let grants = acl
        .grants
        .iter()
        .map(|g| dto::Grant {
            grantee: Some(match &g.grantee {
                Grantee::CanonicalUser { id } => dto::Grantee {
                    display_name: Some(id.clone()),
                    email_address: None,
                    id: Some(id.clone()),
                    type_: dto::Type::from_static(dto::Type::CANONICAL_USER),
                    uri: None,
                },
                Grantee::Group { uri } => dto::Grantee {
                    display_name: None,
                    email_address: None,
                    id: None,
                    type_: dto::Type::from_static(dto::Type::GROUP),
                    uri: Some(uri.clone()),
                },
            }),
            permission: Some(dto::Permission::from(g.permission.as_str().to_owned())),
        })
        .collect();
    (owner(&acl.owner_id), grants)
}

/// The grants of an AccessControlPolicy body, if one came.
fn policy_grants(
    policy: Option<dto::AccessControlPolicy>,
) -> Option<ObjectResult<Vec<crate::model::Grant>>> {
    policy.map(|policy| {
        policy
            .grants
            .unwrap_or_default()
            .into_iter()
            .map(|g| {
                let grantee = g.grantee.ok_or(ObjectError::MalformedAcl)?;
                let permission = g.permission.ok_or(ObjectError::MalformedAcl)?;
                grant(
                    grantee.type_.as_str(),
                    grantee.id.as_deref().unwrap_or_default(),
                    grantee.uri.as_deref().unwrap_or_default(),
                    permission.as_str(),
                )
            })
            .collect()
    })
}

/// The ACL a PutBucketAcl / PutObjectAcl asks for: its canned ACL header or its
/// AccessControlPolicy body.
pub fn acl_request(
    objects: &crate::domain::Objects,
    headers: &http::HeaderMap,
    canned: Option<&str>,
    policy: Option<dto::AccessControlPolicy>,
) -> ObjectResult<Acl> {
    refuse_unsupported_headers(headers)?;
    crate::domain::requested_acl(
        canned.unwrap_or_default(),
        policy_grants(policy),
        objects.account_id(),
    )
}

/// What S3's `encoding-type=url` escapes in listed keys: all but unreserved and `/`.
const URL_ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Keys and prefixes as a listing with `encoding-type=url` returns them.
pub struct ListingEncoding(pub bool);

impl ListingEncoding {
    pub fn of(encoding_type: Option<&dto::EncodingType>) -> Self {
        ListingEncoding(encoding_type.is_some_and(|e| e.as_str() == "url"))
    }

    pub fn apply(&self, text: &str) -> String {
        if self.0 {
            utf8_percent_encode(text, URL_ENCODED).to_string()
        } else {
            text.to_owned()
        }
    }

    pub fn output(&self) -> Option<dto::EncodingType> {
        self.0
            .then(|| dto::EncodingType::from_static(dto::EncodingType::URL))
    }
}

/// Request headers for features keyhold does not have: refused (501) rather than
/// silently dropped, so nobody believes an object is tagged or locked.
pub fn refuse_unsupported_headers(headers: &http::HeaderMap) -> ObjectResult<()> {
    let unsupported = headers.keys().find(|name| {
        let name = name.as_str();
        name.starts_with("x-amz-grant-")
            || name.starts_with("x-amz-object-lock-")
            || name == "x-amz-tagging"
            || name == "x-amz-website-redirect-location"
            || name.starts_with("x-amz-server-side-encryption-customer-")
    });
    match unsupported {
        Some(name) => Err(ObjectError::NotImplemented(format!(
            "A header you provided implies functionality that is not implemented: {name} (ACLs go in x-amz-acl or an AccessControlPolicy)"
        ))),
        None => Ok(()),
    }
}
