//! How every keyhold error reaches a gRPC client: the gRPC code, the AWS message as
//! the status message, and a `google.rpc.ErrorInfo` whose reason is the AWS exception
//! name. Services build an [`AwsError`] in their own `error.rs`; this is the one place
//! that turns it into a `tonic::Status`.

use std::{borrow::Cow, collections::HashMap};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The message AWS gives for bad credentials, the same whichever part was wrong so
/// that a caller learns nothing about which access keys exist.
pub const UNRECOGNIZED_CLIENT: &str = "The security token included in the request is invalid.";

/// Shown instead of the detail of an unexpected failure, which goes to the log only.
pub const INTERNAL_MESSAGE: &str =
    "An internal error occurred. The request id identifies it in the service log.";

/// A client's value as an error message quotes it: whole up to `max` bytes, else its
/// first `max` bytes (at a character boundary) and how long it was, so that no
/// request can make its error, or the audit record carrying it, as large as itself.
pub fn clipped(value: &str, max: usize) -> Cow<'_, str> {
    if value.len() <= max {
        return value.into();
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &value[..end], value.len()).into()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub code: Code,
    pub exception: Cow<'static, str>,
    pub message: String,
    /// Extra fields of the error (S3's BucketName, Key...), as ErrorInfo metadata.
    pub fields: Vec<(&'static str, String)>,
}

impl AwsError {
    pub fn new(
        code: Code,
        exception: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        AwsError {
            code,
            exception: exception.into(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn with_fields(mut self, fields: Vec<(&'static str, String)>) -> Self {
        self.fields = fields;
        self
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            Code::Unauthenticated,
            "UnrecognizedClientException",
            UNRECOGNIZED_CLIENT,
        )
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(Code::PermissionDenied, "AccessDeniedException", message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, "ValidationException", message)
    }

    /// A lost database: the caller may retry, and the service recovers on its own.
    pub fn unavailable() -> Self {
        Self::new(
            Code::Unavailable,
            "ServiceUnavailableException",
            "The service is temporarily unavailable. Try again.",
        )
    }

    /// Logs the detail once and hides it from the caller.
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        log_internal(detail);
        Self::new(Code::Internal, "InternalFailureException", INTERNAL_MESSAGE)
    }

    /// `domain` is the service's event source, e.g. `kms.amazonaws.com`.
    pub fn into_status(self, domain: &str) -> Status {
        let metadata: HashMap<String, String> = self
            .fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let details = ErrorDetails::with_error_info(self.exception.into_owned(), domain, metadata);
        Status::with_error_details(self.code, self.message, details)
    }
}

/// The one place an internal error's detail is logged: callers are told only that
/// something failed, operators read why here.
pub fn log_internal(detail: &dyn std::fmt::Display) {
    tracing::error!(error = %detail, "internal error");
}

/// The AWS exception name carried by a status, if it has one.
pub fn exception_of(status: &Status) -> Option<String> {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
}

#[cfg(test)]
mod tests {

    #[test]
    fn clipped_values_keep_their_start_and_say_their_length() {
        assert_eq!(super::clipped("short", 8), "short");
        assert_eq!(super::clipped("exactly8", 8), "exactly8");
        assert_eq!(super::clipped("123456789", 8), "12345678... (9 bytes)");
        // Never cut inside a character: "é" is two bytes.
        assert_eq!(super::clipped("aaaaaaaé", 8), "aaaaaaa... (9 bytes)");
    }

    use super::*;

    #[test]
    fn status_carries_code_message_and_exception() {
        let status = AwsError::new(
            Code::NotFound,
            "NotFoundException",
            "Key 'x' does not exist",
        )
        .into_status("kms.amazonaws.com");
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "Key 'x' does not exist");
        assert_eq!(exception_of(&status).as_deref(), Some("NotFoundException"));
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.domain, "kms.amazonaws.com");
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let err = AwsError::internal(&"connection string postgres://secret@db");
        assert_eq!(err.code, Code::Internal);
        assert!(!err.message.contains("secret"));
    }
}
