//! S3's error responses. Handlers turn an [`ObjectError`] into an `S3Error` here (the
//! code and status come from error.rs, as for gRPC); the edge then renders every error
//! body, s3s's own included, as S3 does: Code, Message, the error's extra fields,
//! RequestId and HostId.

use s3s::{S3Error, S3ErrorCode};

use super::call::{HandlerError, S3Call};
use crate::error::ObjectError;

/// AWS's texts (docs/aws-behaviour.md) for the authentication errors s3s raises with its own words.
const INVALID_ACCESS_KEY_ID: &str =
    "The AWS Access Key Id you provided does not exist in our records.";
const SIGNATURE_DOES_NOT_MATCH: &str = "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
const REQUEST_TIME_TOO_SKEWED: &str =
    "The difference between the request time and the current time is too large.";
pub const SIGV2_REFUSED: &str =
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.";
pub const MAX_PRESIGN_SECONDS: u64 = 7 * 24 * 3600;
pub const SLOW_DOWN: &str = "Please reduce your request rate.";

/// S3's answer to a caller over its quota (or to any caller when a shared budget
/// is spent).
pub fn slow_down() -> S3Error {
    let mut error = S3Error::with_message(S3ErrorCode::SlowDown, SLOW_DOWN);
    error.set_status_code(http::StatusCode::SERVICE_UNAVAILABLE);
    error
}

/// The S3 error a handler answers, remembering its fields for the edge.
pub fn to_s3(call: &S3Call, error: ObjectError) -> S3Error {
    error.log_if_internal();
    let answer = error.answer();
    let (code, status) = (answer.s3_code.to_owned(), answer.http_status);
    let mut s3 = S3Error::with_message(
        S3ErrorCode::from_bytes(code.as_bytes()).unwrap_or(S3ErrorCode::InternalError),
        error.public_message(),
    );
    if let Ok(status) = http::StatusCode::from_u16(status) {
        s3.set_status_code(status);
    }
    let fields = error.fields();
    call.update(|state| state.error = Some(HandlerError { code, fields }));
    s3
}

/// The message users see for an error s3s raised itself: AWS's texts (docs/aws-behaviour.md) for
/// authentication, S3's own for the codes s3s raises without one.
fn message_for(code: &str, message: &str) -> String {
    let fixed = match code {
        "InvalidAccessKeyId" => INVALID_ACCESS_KEY_ID,
        "SignatureDoesNotMatch" => SIGNATURE_DOES_NOT_MATCH,
        "RequestTimeTooSkewed" => REQUEST_TIME_TOO_SKEWED,
        _ if !message.is_empty() => return message.to_owned(),
        "MalformedXML" => {
            "The XML you provided was not well-formed or did not validate against our published schema"
        }
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "NotImplemented" => "A header you provided implies functionality that is not implemented",
        "InvalidURI" => "Couldn't parse the specified URI.",
        "InvalidBucketName" => "The specified bucket is not valid.",
        "KeyTooLongError" => "Your key is too long",
        "IncompleteBody" => {
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        }
        "InvalidRange" => "The requested range is not satisfiable",
        "AccessDenied" => "Access Denied",
        _ => "",
    };
    fixed.to_owned()
}

/// An error as the edge sends it and records it.
#[derive(Debug, Clone)]
pub struct RenderedError {
    pub code: String,
    pub message: String,
    pub fields: Vec<(&'static str, String)>,
}

impl RenderedError {
    pub fn new(code: &str, message: &str) -> Self {
        RenderedError {
            code: code.to_owned(),
            message: message.to_owned(),
            fields: Vec::new(),
        }
    }

    /// Reads the Code and Message of an error body s3s rendered, and takes the fields
    /// the handler left for the same code.
    pub fn from_s3s_body(body: &[u8], handler: Option<&HandlerError>) -> Self {
        let text = String::from_utf8_lossy(body);
        let code = element(&text, "Code").unwrap_or_else(|| "InternalError".to_owned());
        let message = element(&text, "Message").unwrap_or_default();
        let fields = handler
            .filter(|h| h.code == code)
            .map(|h| h.fields.clone())
            .unwrap_or_default();
        RenderedError {
            message: message_for(&code, &message),
            code,
            fields,
        }
    }

    pub fn to_xml(&self, request_id: &str, host_id: &str) -> String {
        let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        xml.push_str("<Error>");
        push_element(&mut xml, "Code", &self.code);
        push_element(&mut xml, "Message", &self.message);
        for (name, value) in &self.fields {
            push_element(&mut xml, name, value);
        }
        push_element(&mut xml, "RequestId", request_id);
        push_element(&mut xml, "HostId", host_id);
        xml.push_str("</Error>");
        xml
    }
}

fn push_element(xml: &mut String, name: &str, value: &str) {
    xml.push('<');
    xml.push_str(name);
    xml.push('>');
    xml.push_str(&quick_xml::escape::escape(value));
    xml.push_str("</");
    xml.push_str(name);
    xml.push('>');
}

/// The text of the first `<name>` element of a small, flat XML document.
fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    quick_xml::escape::unescape(&xml[start..end])
        .ok()
        .map(|text| text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3s_auth_errors_get_the_aws_texts() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>RequestTimeTooSkewed</Code><Message>request time is too far from server time</Message></Error>"#;
        let error = RenderedError::from_s3s_body(body, None);
        assert_eq!(error.code, "RequestTimeTooSkewed");
        assert_eq!(error.message, REQUEST_TIME_TOO_SKEWED);
    }

    #[test]
    fn bare_s3s_codes_get_s3s_messages() {
        let body = br#"<Error><Code>MalformedXML</Code></Error>"#;
        let error = RenderedError::from_s3s_body(body, None);
        assert!(
            error
                .message
                .starts_with("The XML you provided was not well-formed")
        );
    }

    #[test]
    fn handler_fields_are_added_when_the_code_matches() {
        let body = br#"<Error><Code>InvalidArgument</Code><Message>a &amp; b</Message></Error>"#;
        let handler = HandlerError {
            code: "InvalidArgument".to_owned(),
            fields: vec![("ArgumentName", "Authorization".to_owned())],
        };
        let error = RenderedError::from_s3s_body(body, Some(&handler));
        assert_eq!(error.message, "a & b");
        let xml = error.to_xml("REQ", "HOST");
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code><Message>a &amp; b</Message><ArgumentName>Authorization</ArgumentName><RequestId>REQ</RequestId><HostId>HOST</HostId></Error>"#
        );
    }
}
