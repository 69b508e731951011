//! Every way a trail call fails, with CloudTrail's exception names and messages, and
//! the one place that turns them into gRPC statuses.

use keyhold_platform::{AwsError, db};
use tonic::{Code, Status};

use crate::error::EVENT_SOURCE;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrailError {
    #[error("Trail {name} already exists for customer: {account}")]
    TrailAlreadyExists { name: String, account: String },
    #[error("Unknown trail: {arn} for the user: {account}")]
    TrailNotFound { arn: String, account: String },
    #[error("{0}")]
    InvalidTrailName(String),
    #[error("S3 bucket {0} does not exist.")]
    S3BucketDoesNotExist(String),
    #[error("Incorrect S3 bucket policy is detected for bucket: {0}")]
    InsufficientS3BucketPolicy(String),
    #[error("{0}")]
    InvalidS3BucketName(String),
    #[error("{0}")]
    InvalidS3Prefix(String),
    #[error("{0}")]
    InvalidKmsKeyId(String),
    #[error("{0}")]
    InvalidEventSelectors(String),
    #[error("{0}")]
    InvalidInsightSelectors(String),
    #[error(
        "Trail {0} does not have Insights enabled. Enable Insights on the trail, and try again."
    )]
    InsightNotEnabled(String),
    #[error("{0}")]
    InvalidParameterCombination(String),
    #[error("{0}")]
    InvalidTimeRange(String),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    AccessDenied(String),

    /// An error object-svc gave while creating the trail's bucket for the caller, or
    /// reading it for ValidateLogs, passed on as it is (BucketAlreadyExists,
    /// AccessDenied...).
    #[error("{}", .0.message)]
    Bucket(AwsError),
    #[error("the service is unavailable")]
    Unavailable,
    #[error("{0}")]
    Internal(String),
}

pub type TrailResult<T> = Result<T, TrailError>;

impl TrailError {
    fn exception(&self) -> (Code, &'static str) {
        match self {
            TrailError::TrailAlreadyExists { .. } => {
                (Code::AlreadyExists, "TrailAlreadyExistsException")
            }
            TrailError::TrailNotFound { .. } => (Code::NotFound, "TrailNotFoundException"),
            TrailError::InvalidTrailName(_) => (Code::InvalidArgument, "InvalidTrailNameException"),
            TrailError::S3BucketDoesNotExist(_) => {
                (Code::NotFound, "S3BucketDoesNotExistException")
            }
            TrailError::InsufficientS3BucketPolicy(_) => (
                Code::FailedPrecondition,
                "InsufficientS3BucketPolicyException",
            ),
            TrailError::InvalidS3BucketName(_) => {
                (Code::InvalidArgument, "InvalidS3BucketNameException")
            }
            TrailError::InvalidS3Prefix(_) => (Code::InvalidArgument, "InvalidS3PrefixException"),
            TrailError::InvalidKmsKeyId(_) => (Code::InvalidArgument, "InvalidKmsKeyIdException"),
            TrailError::InvalidEventSelectors(_) => {
                (Code::InvalidArgument, "InvalidEventSelectorsException")
            }
            TrailError::InvalidInsightSelectors(_) => {
                (Code::InvalidArgument, "InvalidInsightSelectorsException")
            }
            TrailError::InsightNotEnabled(_) => {
                (Code::FailedPrecondition, "InsightNotEnabledException")
            }
            TrailError::InvalidParameterCombination(_) => (
                Code::InvalidArgument,
                "InvalidParameterCombinationException",
            ),
            TrailError::InvalidTimeRange(_) => (Code::InvalidArgument, "InvalidTimeRangeException"),
            TrailError::InvalidNextToken(_) => (Code::InvalidArgument, "InvalidNextTokenException"),
            TrailError::UnsupportedOperation(_) => {
                (Code::Unimplemented, "UnsupportedOperationException")
            }
            TrailError::AccessDenied(_) => (Code::PermissionDenied, "AccessDeniedException"),
            TrailError::Bucket(_) | TrailError::Unavailable | TrailError::Internal(_) => {
                (Code::Internal, "InternalFailureException")
            }
        }
    }
}

impl From<sqlx::Error> for TrailError {
    fn from(error: sqlx::Error) -> Self {
        if db::is_unavailable(&error) {
            tracing::warn!(error = %error, "database unavailable");
            TrailError::Unavailable
        } else {
            TrailError::Internal(error.to_string())
        }
    }
}

impl From<TrailError> for Status {
    fn from(error: TrailError) -> Status {
        let aws = match error {
            TrailError::Internal(detail) => AwsError::internal(&detail),
            TrailError::Unavailable => AwsError::unavailable(),
            TrailError::Bucket(aws) => aws,
            other => {
                let (code, exception) = other.exception();
                AwsError::new(code, exception, other.to_string())
            }
        };
        aws.into_status(EVENT_SOURCE)
    }
}
