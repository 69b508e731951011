//! Every way an object-svc call fails, as S3 names it. The one place that picks the
//! S3 code, its HTTP status (for the S3 endpoint) and the gRPC status code.

use keyhold_platform::{AwsError, db, error::INTERNAL_MESSAGE};
use tonic::{Code, Status};

use crate::validate;

pub const EVENT_SOURCE: &str = "s3.amazonaws.com";

/// docs/aws-behaviour.md (S3 errors): an anonymous read of a public SSE-KMS object.
pub const SIGV4_REQUIRED: &str = "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.";

/// How an [`ObjectError`] is answered on each API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer<'a> {
    pub s3_code: &'a str,
    pub http_status: u16,
    pub grpc_code: Code,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ObjectError {
    #[error("The specified bucket does not exist")]
    NoSuchBucket(String),
    #[error("The specified key does not exist.")]
    NoSuchKey(String),
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou(String),
    #[error(
        "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
    )]
    BucketAlreadyExists(String),
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty(String),
    #[error("The specified bucket is not valid.")]
    InvalidBucketName(String),
    #[error("Your key is too long")]
    KeyTooLong,
    /// User metadata over S3's 2 KB (keys and values, bytes of UTF-8).
    #[error("Your metadata headers exceed the maximum allowed metadata size.")]
    MetadataTooLarge { size: usize },
    /// A gRPC request whose fields S3 would carry in headers and the query string
    /// add up to more than S3's 8 KiB for them.
    #[error(
        "The request header and query parameters used to make the request exceed the maximum allowed size."
    )]
    RequestHeaderSectionTooLarge,
    #[error("{message}")]
    InvalidArgument {
        message: String,
        argument_name: Option<String>,
        argument_value: Option<String>,
    },
    #[error("{0}")]
    InvalidRequest(String),
    /// A feature keyhold does not have (tagging, object lock, grant headers...).
    #[error("{0}")]
    NotImplemented(String),
    #[error(
        "The {0} location constraint is incompatible for the region specific endpoint this request was sent to."
    )]
    IllegalLocationConstraint(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("The bucket does not allow ACLs")]
    AccessControlListNotSupported,
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema"
    )]
    MalformedAcl,
    #[error("The public access block configuration was not found")]
    NoSuchPublicAccessBlockConfiguration(String),
    /// PutBucketPolicy with a document S3 refuses; the message says why, in S3's words.
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("The bucket policy does not exist")]
    NoSuchBucketPolicy(String),
    /// A bucket-policy call by another account than the bucket's, allowed or not.
    #[error("The specified method is not allowed against this resource.")]
    MethodNotAllowed,
    /// A request body (CompleteMultipartUpload's part list) that is not what the
    /// schema allows, such as an empty part list.
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema"
    )]
    MalformedXml,
    /// The upload id is unknown, or names an upload of another bucket or key.
    #[error(
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )]
    NoSuchUpload(String),
    /// CompleteMultipartUpload named a part that was not uploaded, or with another ETag.
    #[error(
        "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )]
    InvalidPart {
        upload_id: String,
        part_number: i32,
        etag: String,
    },
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder { upload_id: String },
    /// A part other than the last one of a CompleteMultipartUpload is under 5 MiB.
    #[error("Your proposed upload is smaller than the minimum allowed object size.")]
    EntityTooSmall {
        part_number: i32,
        etag: String,
        proposed_size: u64,
        min_size_allowed: u64,
    },
    /// A KMS refusal passed on: the code is `KMS.<exception>` (`KMS.DisabledException`...).
    #[error("{message}")]
    Kms { code: String, message: String },
    #[error("The requested range is not satisfiable")]
    InvalidRange { requested: String, size: u64 },
    /// `condition` names the header that failed (`If-Match`, `If-Unmodified-Since`...).
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed { condition: &'static str },
    /// Carries the validators a 304 answers with (RFC 9110).
    #[error("Not Modified")]
    NotModified {
        etag: String,
        last_modified: chrono::DateTime<chrono::Utc>,
    },
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header.")]
    IncompleteBody,
    #[error("The Content-MD5 you specified was invalid.")]
    InvalidDigest,
    /// An upload slower than the abandoned-upload cutoff; retrying succeeds.
    #[error(
        "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed."
    )]
    RequestTimeout,
    /// The stored ciphertext failed authentication: never served.
    #[error("We encountered an internal error. Please try again.")]
    Corrupt(String),
    #[error("Please reduce your request rate.")]
    Unavailable,
    #[error("We encountered an internal error. Please try again.")]
    Internal(String),
}

pub type ObjectResult<T> = Result<T, ObjectError>;

impl ObjectError {
    pub fn access_denied() -> Self {
        ObjectError::AccessDenied("Access Denied".to_owned())
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        ObjectError::InvalidArgument {
            message: message.into(),
            argument_name: None,
            argument_value: None,
        }
    }

    /// How the error is answered on each API: its S3 code, the HTTP status of the S3
    /// endpoint and the gRPC code.
    pub fn answer(&self) -> Answer<'_> {
        use ObjectError::*;
        let (s3_code, http_status, grpc_code) = match self {
            NoSuchBucket(_) => ("NoSuchBucket", 404, Code::NotFound),
            NoSuchKey(_) => ("NoSuchKey", 404, Code::NotFound),
            BucketAlreadyOwnedByYou(_) => ("BucketAlreadyOwnedByYou", 409, Code::AlreadyExists),
            BucketAlreadyExists(_) => ("BucketAlreadyExists", 409, Code::AlreadyExists),
            BucketNotEmpty(_) => ("BucketNotEmpty", 409, Code::FailedPrecondition),
            InvalidBucketName(_) => ("InvalidBucketName", 400, Code::InvalidArgument),
            KeyTooLong => ("KeyTooLongError", 400, Code::InvalidArgument),
            MetadataTooLarge { .. } => ("MetadataTooLarge", 400, Code::InvalidArgument),
            RequestHeaderSectionTooLarge => {
                ("RequestHeaderSectionTooLarge", 400, Code::InvalidArgument)
            }
            InvalidArgument { .. } => ("InvalidArgument", 400, Code::InvalidArgument),
            InvalidRequest(_) => ("InvalidRequest", 400, Code::InvalidArgument),
            NotImplemented(_) => ("NotImplemented", 501, Code::Unimplemented),
            IllegalLocationConstraint(_) => (
                "IllegalLocationConstraintException",
                400,
                Code::InvalidArgument,
            ),
            AccessDenied(_) => ("AccessDenied", 403, Code::PermissionDenied),
            AccessControlListNotSupported => {
                ("AccessControlListNotSupported", 400, Code::InvalidArgument)
            }
            MalformedAcl => ("MalformedACLError", 400, Code::InvalidArgument),
            NoSuchPublicAccessBlockConfiguration(_) => {
                ("NoSuchPublicAccessBlockConfiguration", 404, Code::NotFound)
            }
            MalformedPolicy(_) => ("MalformedPolicy", 400, Code::InvalidArgument),
            NoSuchBucketPolicy(_) => ("NoSuchBucketPolicy", 404, Code::NotFound),
            MethodNotAllowed => ("MethodNotAllowed", 405, Code::PermissionDenied),
            MalformedXml => ("MalformedXML", 400, Code::InvalidArgument),
            NoSuchUpload(_) => ("NoSuchUpload", 404, Code::NotFound),
            InvalidPart { .. } => ("InvalidPart", 400, Code::InvalidArgument),
            InvalidPartOrder { .. } => ("InvalidPartOrder", 400, Code::InvalidArgument),
            EntityTooSmall { .. } => ("EntityTooSmall", 400, Code::InvalidArgument),
            Kms { code, .. } => {
                let grpc = match code.as_str() {
                    "KMS.NotFoundException" => Code::NotFound,
                    "KMS.DisabledException" | "KMS.KMSInvalidStateException" => {
                        Code::FailedPrecondition
                    }
                    _ => Code::InvalidArgument,
                };
                (code.as_str(), 400, grpc)
            }
            InvalidRange { .. } => ("InvalidRange", 416, Code::OutOfRange),
            PreconditionFailed { .. } => ("PreconditionFailed", 412, Code::FailedPrecondition),
            NotModified { .. } => ("NotModified", 304, Code::FailedPrecondition),
            IncompleteBody => ("IncompleteBody", 400, Code::InvalidArgument),
            InvalidDigest => ("InvalidDigest", 400, Code::InvalidArgument),
            RequestTimeout => ("RequestTimeout", 400, Code::Aborted),
            Corrupt(_) | Internal(_) => ("InternalError", 500, Code::Internal),
            Unavailable => ("ServiceUnavailable", 503, Code::Unavailable),
        };
        Answer {
            s3_code,
            http_status,
            grpc_code,
        }
    }

    /// The message users see; internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            ObjectError::Internal(_) | ObjectError::Corrupt(_) => INTERNAL_MESSAGE.to_owned(),
            other => other.to_string(),
        }
    }

    /// S3's extra error fields (`ArgumentName`, `BucketName`, `Key` ...). A value a
    /// client sent is repeated only up to [`validate::MAX_ECHO`] bytes: a 3 MB bucket
    /// name must not come back in the error (or its record) whole.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = self.all_fields();
        fields.retain(|(_, value)| value.len() <= validate::MAX_ECHO);
        fields
    }

    fn all_fields(&self) -> Vec<(&'static str, String)> {
        match self {
            ObjectError::InvalidArgument {
                argument_name,
                argument_value,
                ..
            } => {
                let mut fields = Vec::new();
                if let Some(name) = argument_name {
                    fields.push(("ArgumentName", name.clone()));
                    fields.push((
                        "ArgumentValue",
                        argument_value.clone().unwrap_or_else(|| "null".to_owned()),
                    ));
                }
                fields
            }
            ObjectError::NoSuchBucket(bucket)
            | ObjectError::BucketAlreadyExists(bucket)
            | ObjectError::BucketAlreadyOwnedByYou(bucket)
            | ObjectError::BucketNotEmpty(bucket)
            | ObjectError::InvalidBucketName(bucket)
            | ObjectError::NoSuchPublicAccessBlockConfiguration(bucket)
            | ObjectError::NoSuchBucketPolicy(bucket) => {
                vec![("BucketName", bucket.clone())]
            }
            ObjectError::InvalidRange { requested, size } => vec![
                ("RangeRequested", requested.clone()),
                ("ActualObjectSize", size.to_string()),
            ],
            ObjectError::PreconditionFailed { condition } => {
                vec![("Condition", (*condition).to_owned())]
            }
            ObjectError::NoSuchKey(key) => vec![("Key", key.clone())],
            ObjectError::MetadataTooLarge { size } => vec![
                ("Size", size.to_string()),
                ("MaxSizeAllowed", validate::MAX_METADATA.to_string()),
            ],
            ObjectError::NoSuchUpload(upload_id) | ObjectError::InvalidPartOrder { upload_id } => {
                vec![("UploadId", upload_id.clone())]
            }
            ObjectError::InvalidPart {
                upload_id,
                part_number,
                etag,
            } => vec![
                ("UploadId", upload_id.clone()),
                ("PartNumber", part_number.to_string()),
                ("ETag", etag.clone()),
            ],
            ObjectError::EntityTooSmall {
                part_number,
                etag,
                proposed_size,
                min_size_allowed,
            } => vec![
                ("ProposedSize", proposed_size.to_string()),
                ("MinSizeAllowed", min_size_allowed.to_string()),
                ("PartNumber", part_number.to_string()),
                ("ETag", etag.clone()),
            ],
            _ => Vec::new(),
        }
    }
}

impl From<sqlx::Error> for ObjectError {
    fn from(error: sqlx::Error) -> Self {
        if db::is_unavailable(&error) {
            tracing::warn!(error = %error, "database unavailable");
            ObjectError::Unavailable
        } else {
            ObjectError::Internal(error.to_string())
        }
    }
}

impl From<crate::blobs::BlobError> for ObjectError {
    fn from(error: crate::blobs::BlobError) -> Self {
        use crate::blobs::BlobError;
        match error {
            BlobError::Body(message) => ObjectError::InvalidRequest(message),
            BlobError::LengthMismatch { .. } => ObjectError::IncompleteBody,
            BlobError::Corrupt(detail) => ObjectError::Corrupt(detail),
            BlobError::Storage(detail) => ObjectError::Internal(detail),
        }
    }
}

impl ObjectError {
    /// Logs what the caller is not told (the detail of an internal error) through
    /// the platform's one place for it; both APIs answer every error through here.
    pub fn log_if_internal(&self) {
        match self {
            ObjectError::Internal(detail) => keyhold_platform::error::log_internal(detail),
            ObjectError::Corrupt(detail) => keyhold_platform::error::log_internal(&format_args!(
                "stored object failed authentication; not served: {detail}"
            )),
            _ => {}
        }
    }
}

impl From<ObjectError> for Status {
    fn from(error: ObjectError) -> Status {
        error.log_if_internal();
        let answer = error.answer();
        AwsError::new(
            answer.grpc_code,
            answer.s3_code.to_owned(),
            error.public_message(),
        )
        .with_fields(error.fields())
        .into_status(EVENT_SOURCE)
    }
}
