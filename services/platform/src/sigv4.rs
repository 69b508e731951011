//! AWS Signature Version 4, verified, for the AWS JSON protocols (KMS and
//! CloudTrail): the `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
//! Signature=...` header of a request whose body the caller has already read.
//!
//! The signature is recomputed from the principal's secret exactly as a signer makes
//! it (canonical request, string to sign, derived signing key) and compared in
//! constant time. What AWS answers when a check fails, and when, is in
//! docs/aws-json-apis.md ("Authentication"); every refusal is an HTTP 400 there.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, Method, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::principals::{Principal, PrincipalKind, Principals};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const DATE_HEADER: &str = "x-amz-date";
/// How far a request's time may be from ours, as AWS's JSON services allow.
const MAX_SKEW: TimeDelta = TimeDelta::minutes(5);
/// RFC 3986's unreserved characters stay; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
pub const UNRECOGNIZED_CLIENT: &str = "The security token included in the request is invalid.";

/// Why a request's signature was refused: AWS's exception name and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Error {
    pub exception: &'static str,
    pub message: String,
}

impl SigV4Error {
    fn missing() -> Self {
        SigV4Error {
            exception: "MissingAuthenticationTokenException",
            message: "Missing Authentication Token".to_owned(),
        }
    }

    fn incomplete(message: impl Into<String>) -> Self {
        SigV4Error {
            exception: "IncompleteSignatureException",
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        SigV4Error {
            exception: "InvalidSignatureException",
            message: message.into(),
        }
    }

    fn unrecognized() -> Self {
        SigV4Error {
            exception: "UnrecognizedClientException",
            message: UNRECOGNIZED_CLIENT.to_owned(),
        }
    }
}

/// The parts of an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// `YYYYMMDD`, the scope's date.
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lowercase, in the order given (a signer sorts them).
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request,
/// SignedHeaders=<a;b>, Signature=<hex>`.
pub fn parse_authorization(value: &str) -> Result<Authorization, SigV4Error> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with(' '))
        .ok_or_else(|| {
            SigV4Error::incomplete(format!(
                "Authorization header requires the {ALGORITHM} algorithm."
            ))
        })?;
    let mut parts: BTreeMap<&str, &str> = BTreeMap::new();
    for part in rest.split(',') {
        let Some((name, value)) = part.trim().split_once('=') else {
            return Err(SigV4Error::incomplete(format!(
                "Authorization header requires each component as name=value: '{}'.",
                shown(part.trim())
            )));
        };
        parts.insert(name, value);
    }
    let part = |name: &str| {
        parts.get(name).copied().ok_or_else(|| {
            SigV4Error::incomplete(format!("Authorization header requires '{name}' parameter."))
        })
    };
    let (credential, signed_headers, signature) = (
        part("Credential")?,
        part("SignedHeaders")?,
        part("Signature")?,
    );
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(SigV4Error::incomplete(format!(
            "Credential should be <key>/<date>/<region>/<service>/aws4_request: '{}'.",
            shown(credential)
        )));
    };
    Ok(Authorization {
        access_key_id: (*access_key_id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers: signed_headers
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect(),
        signature: signature.to_owned(),
    })
}

/// The access key id an `Authorization` header presents, signature checked or not (for
/// audit records).
pub fn presented_access_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    parse_authorization(value)
        .ok()
        .map(|authorization| authorization.access_key_id)
}

/// A request as received, its body already read (JSON clients sign its SHA-256).
pub struct SignedRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Where the request must be scoped: this service and this installation's region.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub service: &'a str,
    pub region: &'a str,
}

/// The principal whose secret signed `request` for `scope`, at `now`.
pub fn verify(
    principals: &Principals,
    request: &SignedRequest<'_>,
    scope: Scope<'_>,
    now: DateTime<Utc>,
) -> Result<Arc<Principal>, SigV4Error> {
    let header = request
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(SigV4Error::missing)?;
    let header = header
        .to_str()
        .map_err(|_| SigV4Error::incomplete("The Authorization header is not ASCII."))?;
    let authorization = parse_authorization(header)?;
    let amz_date = request
        .headers
        .get(DATE_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| {
            SigV4Error::incomplete(
                "Authorization header requires existence of a 'X-Amz-Date' header.",
            )
        })?;
    let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map(|time| time.and_utc())
        .map_err(|_| {
            SigV4Error::incomplete(format!(
                "X-Amz-Date must be in the ISO-8601 basic format YYYYMMDD'T'HHMMSS'Z': '{}'.",
                shown(amz_date)
            ))
        })?;
    for required in ["host", DATE_HEADER] {
        if !authorization.signed_headers.iter().any(|h| h == required) {
            return Err(SigV4Error::invalid(format!(
                "'{required}' must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
    }
    if !amz_date.starts_with(&authorization.date) {
        return Err(SigV4Error::invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            shown(&authorization.date),
            &amz_date[..8]
        )));
    }
    let format = |time: DateTime<Utc>| time.format("%Y%m%dT%H%M%SZ").to_string();
    if signed_at < now - MAX_SKEW {
        return Err(SigV4Error::invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            format(now - MAX_SKEW),
            format(now)
        )));
    }
    if signed_at > now + MAX_SKEW {
        return Err(SigV4Error::invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            format(now + MAX_SKEW),
            format(now)
        )));
    }
    if authorization.service != scope.service {
        return Err(SigV4Error::invalid(format!(
            "Credential should be scoped to correct service: '{}'.",
            scope.service
        )));
    }
    if authorization.region != scope.region {
        return Err(SigV4Error::invalid(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            shown(&authorization.region)
        )));
    }
    // Services sign with certificates or bearer keys inside keyhold, never here.
    let principal = principals
        .by_access_key(&authorization.access_key_id)
        .filter(|principal| principal.kind != PrincipalKind::Service)
        .ok_or_else(SigV4Error::unrecognized)?;
    let expected = signature(
        principal.signing_secret(),
        &authorization,
        amz_date,
        &canonical_request(request, &authorization.signed_headers),
    );
    if expected
        .as_bytes()
        .ct_eq(authorization.signature.as_bytes())
        .into()
    {
        Ok(principal.clone())
    } else {
        Err(SigV4Error::invalid(SIGNATURE_MISMATCH))
    }
}

/// The canonical request of a non-S3 service: the path's segments encoded once more
/// than received, the query sorted, the signed headers trimmed, the body's SHA-256.
fn canonical_request(request: &SignedRequest<'_>, signed_headers: &[String]) -> String {
    let path = request.uri.path();
    let path = if path.is_empty() { "/" } else { path };
    let canonical_path: Vec<String> = path
        .split('/')
        .map(|segment| utf8_percent_encode(segment, UNRESERVED).to_string())
        .collect();
    let mut query: Vec<(String, String)> = request
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (encode_component(name), encode_component(value))
        })
        .collect();
    query.sort();
    let query: Vec<String> = query
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let mut sorted: Vec<&String> = signed_headers.iter().collect();
    sorted.sort();
    let mut headers = String::new();
    for name in &sorted {
        let mut values: Vec<String> = request
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|value| collapse_spaces(&String::from_utf8_lossy(value.as_bytes())))
            .collect();
        // HTTP/2 carries the host as the :authority pseudo-header, which arrives as
        // the URI's authority, not as a Host header; clients sign it as `host`.
        if values.is_empty()
            && *name == "host"
            && let Some(authority) = request.uri.authority()
        {
            values.push(authority.as_str().to_owned());
        }
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&values.join(","));
        headers.push('\n');
    }
    let signed: Vec<&str> = sorted.iter().map(|name| name.as_str()).collect();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method.as_str(),
        canonical_path.join("/"),
        query.join("&"),
        headers,
        signed.join(";"),
        hex::encode(Sha256::digest(request.body))
    )
}

/// A query name or value as received, decoded then encoded the one canonical way.
fn encode_component(text: &str) -> String {
    let decoded = percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned();
    utf8_percent_encode(&decoded, UNRESERVED).to_string()
}

/// Trims a header value and collapses its runs of spaces, as signers do.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Derived keys are as good as the secret: they are wiped when dropped.
fn hmac(key: &[u8], data: &str) -> zeroize::Zeroizing<Vec<u8>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    zeroize::Zeroizing::new(mac.finalize().into_bytes().to_vec())
}

/// The hex signature `secret` gives the canonical request under `authorization`'s scope.
fn signature(
    secret: &str,
    authorization: &Authorization,
    amz_date: &str,
    canonical_request: &str,
) -> String {
    let scope = format!(
        "{}/{}/{}/aws4_request",
        authorization.date, authorization.region, authorization.service
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = zeroize::Zeroizing::new(format!("AWS4{secret}"));
    let key = hmac(key.as_bytes(), &authorization.date);
    let key = hmac(&key, &authorization.region);
    let key = hmac(&key, &authorization.service);
    let key = hmac(&key, "aws4_request");
    hex::encode(hmac(&key, &string_to_sign).as_slice())
}

/// A client's text, cut short for an error message.
fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    crate::error::clipped(text, 128)
}

#[cfg(test)]
mod tests;
