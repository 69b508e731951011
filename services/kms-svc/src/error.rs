//! Every way a KMS call fails, and the one place that turns a failure into a gRPC
//! status with its AWS exception name.

use keyhold_platform::{AwsError, db};
use tonic::{Code, Status};

pub const EVENT_SOURCE: &str = "kms.amazonaws.com";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KmsError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0} is disabled.")]
    Disabled(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    InvalidCiphertext(String),
    #[error(
        "The key ID in the request does not identify a KMS key that can perform this operation."
    )]
    IncorrectKey,
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidAliasName(String),
    #[error("{0}")]
    InvalidMarker(String),
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("{0}")]
    Validation(String),
    /// A tag list KMS refuses: too many tags, or a key in the reserved namespace.
    #[error("{0}")]
    Tag(String),
    #[error("the database is unavailable")]
    Unavailable,
    #[error("{0}")]
    Internal(String),
}

pub type KmsResult<T> = Result<T, KmsError>;

impl KmsError {
    pub fn pending_deletion(arn: &str) -> Self {
        KmsError::InvalidState(format!("{arn} is pending deletion."))
    }

    fn exception(&self) -> (Code, &'static str) {
        match self {
            KmsError::NotFound(_) => (Code::NotFound, "NotFoundException"),
            KmsError::Disabled(_) => (Code::FailedPrecondition, "DisabledException"),
            KmsError::InvalidState(_) => (Code::FailedPrecondition, "KMSInvalidStateException"),
            KmsError::InvalidCiphertext(_) => (Code::InvalidArgument, "InvalidCiphertextException"),
            KmsError::IncorrectKey => (Code::InvalidArgument, "IncorrectKeyException"),
            KmsError::AccessDenied(_) => (Code::PermissionDenied, "AccessDeniedException"),
            KmsError::AlreadyExists(_) => (Code::AlreadyExists, "AlreadyExistsException"),
            KmsError::InvalidAliasName(_) => (Code::InvalidArgument, "InvalidAliasNameException"),
            KmsError::InvalidMarker(_) => (Code::InvalidArgument, "InvalidMarkerException"),
            KmsError::MalformedPolicy(_) => {
                (Code::InvalidArgument, "MalformedPolicyDocumentException")
            }
            KmsError::Validation(_) => (Code::InvalidArgument, "ValidationException"),
            KmsError::Tag(_) => (Code::InvalidArgument, "TagException"),
            KmsError::Unavailable => (Code::Unavailable, "ServiceUnavailableException"),
            KmsError::Internal(_) => (Code::Internal, "KMSInternalException"),
        }
    }
}

impl From<sqlx::Error> for KmsError {
    fn from(error: sqlx::Error) -> Self {
        if db::is_unavailable(&error) {
            tracing::warn!(error = %error, "database unavailable");
            KmsError::Unavailable
        } else {
            KmsError::Internal(error.to_string())
        }
    }
}

impl From<KmsError> for Status {
    fn from(error: KmsError) -> Status {
        let aws = match &error {
            KmsError::Internal(detail) => AwsError::internal(detail),
            KmsError::Unavailable => AwsError::unavailable(),
            other => {
                let (code, exception) = other.exception();
                AwsError::new(code, exception, other.to_string())
            }
        };
        aws.into_status(EVENT_SOURCE)
    }
}
