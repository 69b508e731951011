//! AWS JSON errors: `{"__type": "<Exception>", "message": "..."}` with the HTTP
//! status the service's model gives the exception (400 unless the protocol says
//! otherwise). The message is the service's own, already AWS's words.

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use tonic::{Code, Status};

use super::{AwsProtocol, json_response, translate::TranslateError};
use crate::error::exception_of;

/// One error answer, before it is given its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    pub exception: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(exception: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            exception: exception.into(),
            message: message.into(),
        }
    }

    /// An `X-Amz-Target` that names no operation of the service (or none at all).
    pub fn unknown_operation(target: &str) -> Self {
        let shown = crate::error::clipped(target, 128);
        Self::new(
            "UnknownOperationException",
            format!("The X-Amz-Target '{shown}' names no operation of this service."),
        )
    }

    pub fn serialization(message: String) -> Self {
        Self::new("SerializationException", message)
    }

    pub fn too_large() -> Self {
        Self::new(
            "RequestEntityTooLargeException",
            format!(
                "The request body is larger than {} bytes.",
                super::MAX_REQUEST_BODY
            ),
        )
    }

    /// A failed call's status as AWS names it: the exception the service put in the
    /// status, else one that fits its gRPC code.
    pub fn from_status(status: &Status) -> Self {
        let exception = exception_of(status).unwrap_or_else(|| {
            match status.code() {
                Code::Unauthenticated => "UnrecognizedClientException",
                Code::PermissionDenied => "AccessDeniedException",
                Code::InvalidArgument | Code::OutOfRange => "ValidationException",
                Code::ResourceExhausted => "ThrottlingException",
                Code::Unavailable => "ServiceUnavailableException",
                _ => "InternalFailure",
            }
            .to_owned()
        });
        Self::new(exception, status.message())
    }

    /// The HTTP status of this error under `protocol`.
    pub fn http_status(&self, protocol: &AwsProtocol) -> u16 {
        let declared = protocol
            .statuses
            .iter()
            .chain(COMMON_STATUSES)
            .find(|(exception, _)| *exception == self.exception);
        declared.map(|(_, status)| *status).unwrap_or(400)
    }

    pub fn into_response(self, protocol: &AwsProtocol, request_id: &str) -> Response<Full<Bytes>> {
        let status = self.http_status(protocol);
        let body = serde_json::json!({"__type": self.exception, "message": self.message});
        json_response(status, body.to_string(), request_id)
    }
}

/// Every AWS JSON service answers these the same way.
const COMMON_STATUSES: &[(&str, u16)] = &[
    ("ServiceUnavailableException", 503),
    ("InternalFailure", 500),
    ("InternalFailureException", 500),
    ("RequestEntityTooLargeException", 413),
];

impl From<TranslateError> for ErrorBody {
    fn from(error: TranslateError) -> Self {
        match error {
            TranslateError::Unsupported { member } => Self::new(
                "UnsupportedOperationException",
                format!("keyhold does not support the member '{member}' with this value."),
            ),
            TranslateError::Serialization { message } => Self::serialization(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AwsError;

    const PROTOCOL: AwsProtocol = AwsProtocol {
        target_prefixes: &["TrentService."],
        signing_name: "kms",
        grpc_services: &[],
        statuses: &[("NotFoundException", 404), ("DisabledException", 409)],
    };

    #[test]
    fn the_service_exception_and_message_are_kept_with_the_declared_status() {
        let status = AwsError::new(
            Code::NotFound,
            "NotFoundException",
            "Key 'x' does not exist",
        )
        .into_status("kms.amazonaws.com");
        let body = ErrorBody::from_status(&status);
        assert_eq!(
            body,
            ErrorBody::new("NotFoundException", "Key 'x' does not exist")
        );
        assert_eq!(body.http_status(&PROTOCOL), 404);
        let denied = AwsError::access_denied("no").into_status("kms.amazonaws.com");
        assert_eq!(ErrorBody::from_status(&denied).http_status(&PROTOCOL), 400);
    }

    #[test]
    fn statuses_without_an_exception_are_named_by_their_code() {
        let body = ErrorBody::from_status(&Status::unavailable("down"));
        assert_eq!(body.exception, "ServiceUnavailableException");
        assert_eq!(body.http_status(&PROTOCOL), 503);
        let body = ErrorBody::from_status(&Status::internal("bug"));
        assert_eq!(
            (body.exception.as_str(), body.http_status(&PROTOCOL)),
            ("InternalFailure", 500)
        );
    }
}
