//! `keyhold s3 presign`: a GET URL signed with SigV4 in its query string, what the
//! console's Open button gives: anyone holding it reads the object as the signer,
//! until it expires. Signed locally with aws-sigv4 (what every AWS SDK signs with).

use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_sigv4::{
    http_request::{
        PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
        UriPathNormalizationMode, sign,
    },
    sign::v4,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::location::S3Url;

/// S3's longest presigned URL lifetime (SigV4): seven days.
pub const MAX_EXPIRES_IN: u64 = 7 * 24 * 3600;

/// What a key keeps unencoded in a path: RFC 3986's unreserved characters and `/`.
const KEY_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Who signs, for which region, when.
pub struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub region: &'a str,
    pub time: SystemTime,
}

/// The plain, path-style URL of `object` at `endpoint` (`http://host:port`): what
/// anyone can try to open.
pub fn object_url(endpoint: &str, object: &S3Url) -> String {
    format!(
        "{}/{}/{}",
        endpoint.trim_end_matches('/'),
        utf8_percent_encode(&object.bucket, KEY_PATH),
        utf8_percent_encode(&object.key, KEY_PATH)
    )
}

/// [`object_url`], presigned for a GET valid `expires_in` from `signer.time`.
pub fn presign(
    endpoint: &str,
    object: &S3Url,
    expires_in: Duration,
    signer: &Signer<'_>,
) -> anyhow::Result<String> {
    let url = object_url(endpoint, object);
    let identity = aws_credential_types::Credentials::new(
        signer.access_key_id,
        signer.secret_access_key,
        None,
        None,
        "keyhold",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires_in);
    // S3 signs the path as sent: encoded once, never normalized.
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(signer.region)
        .name("s3")
        .time(signer.time)
        .settings(settings)
        .build()
        .context("signing parameters")?
        .into();
    let signable = SignableRequest::new(
        "GET",
        &url,
        std::iter::empty(),
        SignableBody::UnsignedPayload,
    )
    .with_context(|| format!("{url} cannot be signed"))?;
    let (instructions, _signature) = sign(signable, &params)
        .context("signing the URL")?
        .into_parts();
    let mut request = http::Request::get(&url)
        .body(())
        .with_context(|| format!("{url} is not a URL"))?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(request.uri().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_carries_the_signature_the_scope_and_the_lifetime() {
        let signer = Signer {
            access_key_id: "AKIAKEYHOLDDEVUSER01",
            secret_access_key: "secret",
            region: "us-east-1",
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000),
        };
        let object = S3Url {
            bucket: "mycloudtrailbucket1".into(),
            key: "images/lab image+1.png".into(),
        };
        let url = presign(
            "http://127.0.0.1:9000/",
            &object,
            Duration::from_secs(300),
            &signer,
        )
        .unwrap();
        assert!(
            url.starts_with(
                "http://127.0.0.1:9000/mycloudtrailbucket1/images/lab%20image%2B1.png?"
            ),
            "{url}"
        );
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIAKEYHOLDDEVUSER01%2F20261130%2Fus-east-1%2Fs3%2Faws4_request",
            "X-Amz-Expires=300",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Signature=",
        ] {
            assert!(url.contains(part), "{part} missing from {url}");
        }
        assert!(!url.contains("secret"), "{url}");
    }
}
