//! Every way an audit call fails, and the one place that turns a failure into a gRPC
//! status with its AWS exception name.

use keyhold_platform::{AwsError, db};
use tonic::{Code, Status};

pub const EVENT_SOURCE: &str = "cloudtrail.amazonaws.com";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuditError {
    #[error("{0}")]
    InvalidLookupAttributes(String),
    #[error("{0}")]
    InvalidTimeRange(String),
    #[error("{0}")]
    InvalidMaxResults(String),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error("{0}")]
    InvalidEventCategory(String),
    /// A request field outside CloudTrail's model (its length), before any lookup.
    #[error("{0}")]
    Validation(String),
    /// A record of an IngestEvents batch that can never be stored; named in the
    /// batch's acknowledgement, the rest of the batch is stored.
    #[error("{0}")]
    InvalidRecord(String),
    /// The caller's identity policy does not allow reading the trail.
    #[error("{0}")]
    AccessDenied(String),
    #[error("the database is unavailable")]
    Unavailable,
    #[error("{0}")]
    Internal(String),
}

pub type AuditResult<T> = Result<T, AuditError>;

impl AuditError {
    fn exception(&self) -> (Code, &'static str) {
        match self {
            AuditError::InvalidLookupAttributes(_) => {
                (Code::InvalidArgument, "InvalidLookupAttributesException")
            }
            AuditError::InvalidTimeRange(_) => (Code::InvalidArgument, "InvalidTimeRangeException"),
            AuditError::InvalidMaxResults(_) => {
                (Code::InvalidArgument, "InvalidMaxResultsException")
            }
            AuditError::InvalidNextToken(_) => (Code::InvalidArgument, "InvalidNextTokenException"),
            AuditError::InvalidEventCategory(_) => {
                (Code::InvalidArgument, "InvalidEventCategoryException")
            }
            AuditError::InvalidRecord(_) | AuditError::Validation(_) => {
                (Code::InvalidArgument, "ValidationException")
            }
            AuditError::AccessDenied(_) => (Code::PermissionDenied, "AccessDeniedException"),
            AuditError::Unavailable => (Code::Unavailable, "ServiceUnavailableException"),
            AuditError::Internal(_) => (Code::Internal, "InternalFailureException"),
        }
    }
}

impl From<sqlx::Error> for AuditError {
    fn from(error: sqlx::Error) -> Self {
        if db::is_unavailable(&error) {
            tracing::warn!(error = %error, "database unavailable");
            AuditError::Unavailable
        } else {
            AuditError::Internal(error.to_string())
        }
    }
}

impl From<AuditError> for Status {
    fn from(error: AuditError) -> Status {
        let aws = match &error {
            AuditError::Internal(detail) => AwsError::internal(detail),
            AuditError::Unavailable => AwsError::unavailable(),
            other => {
                let (code, exception) = other.exception();
                AwsError::new(code, exception, other.to_string())
            }
        };
        aws.into_status(EVENT_SOURCE)
    }
}
