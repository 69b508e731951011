//! Request bodies s3s holds in memory whole: the XML (and JSON) documents of the
//! operations that are not uploads. Each is refused before it is read when it could
//! not be served (no length, over the cap), and all of them together share one
//! budget, so that callers (anonymous ones included: the domain decides their access
//! only once the document is parsed) cannot fill memory by sending many at once.
//! Upload bodies (PutObject, UploadPart) stream and are not counted here.

use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode, header};
use s3s::{S3Error, S3ErrorCode, S3Result};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The largest document accepted: a DeleteObjects of 1,000 keys of 1,024 bytes, or a
/// CompleteMultipartUpload of 10,000 parts with checksums, fits with room to spare.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;
/// All documents being read or parsed at once, together.
pub const DOCUMENTS_BUDGET_BYTES: usize = 16 * MAX_DOCUMENT_BYTES;

/// Operations whose body is streamed to the domain, never held whole.
const STREAMED: &[&str] = &["PutObject", "UploadPart", "WriteGetObjectResponse"];
/// Operations with a body that s3s does not read at all.
const BODILESS: &[&str] = &[
    "CopyObject",
    "UploadPartCopy",
    "CreateMultipartUpload",
    "CreateSession",
];

/// The share of the budget one request holds until it is done.
pub type BudgetShare = OwnedSemaphorePermit;

#[derive(Clone)]
pub struct DocumentBudget(Arc<Semaphore>);

impl Default for DocumentBudget {
    fn default() -> Self {
        DocumentBudget(Arc::new(Semaphore::new(DOCUMENTS_BUDGET_BYTES)))
    }
}

impl DocumentBudget {
    /// Whether `operation`'s body may be read: None when s3s will not hold it, its
    /// share of the budget when it will, or the refusal.
    pub fn admit(
        &self,
        operation: &str,
        method: &Method,
        headers: &HeaderMap,
    ) -> S3Result<Option<BudgetShare>> {
        let buffered = matches!(*method, Method::PUT | Method::POST)
            && !STREAMED.contains(&operation)
            && !BODILESS.contains(&operation);
        if !buffered {
            return Ok(None);
        }
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let length = match length {
            Some(0) => return Ok(None),
            Some(length) => length,
            None if headers.contains_key(header::TRANSFER_ENCODING) => {
                let mut error = S3Error::with_message(
                    S3ErrorCode::MissingContentLength,
                    "You must provide the Content-Length HTTP header.",
                );
                error.set_status_code(StatusCode::LENGTH_REQUIRED);
                return Err(error);
            }
            None => return Ok(None),
        };
        if length > MAX_DOCUMENT_BYTES as u64 {
            let mut error = S3Error::with_message(
                S3ErrorCode::MaxMessageLengthExceeded,
                "Your request was too big.",
            );
            error.set_status_code(StatusCode::BAD_REQUEST);
            return Err(error);
        }
        let bytes = u32::try_from(length).unwrap_or(u32::MAX);
        match self.0.clone().try_acquire_many_owned(bytes) {
            Ok(share) => Ok(Some(share)),
            Err(_) => Err(super::errors::slow_down()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn code(result: S3Result<Option<BudgetShare>>) -> String {
        result
            .err()
            .map(|e| e.code().as_str().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn documents_need_a_length_within_the_cap() {
        let budget = DocumentBudget::default();
        let post = Method::POST;
        let chunked = headers(&[("transfer-encoding", "chunked")]);
        assert_eq!(
            code(budget.admit("DeleteObjects", &post, &chunked)),
            "MissingContentLength"
        );
        let huge = headers(&[("content-length", "4194305")]);
        assert_eq!(
            code(budget.admit("DeleteObjects", &post, &huge)),
            "MaxMessageLengthExceeded"
        );
        let fine = headers(&[("content-length", "4194304")]);
        assert!(
            budget
                .admit("DeleteObjects", &post, &fine)
                .unwrap()
                .is_some()
        );
        // Uploads stream; GETs carry no document.
        assert!(
            budget
                .admit("PutObject", &Method::PUT, &huge)
                .unwrap()
                .is_none()
        );
        assert!(
            budget
                .admit("GetObject", &Method::GET, &huge)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_budget_is_shared_and_returned() {
        let budget = DocumentBudget::default();
        let full = headers(&[("content-length", &MAX_DOCUMENT_BYTES.to_string())]);
        let shares: Vec<_> = (0..16)
            .map(|_| budget.admit("PutBucketAcl", &Method::PUT, &full).unwrap())
            .collect();
        assert_eq!(
            code(budget.admit("PutBucketAcl", &Method::PUT, &full)),
            "SlowDown"
        );
        drop(shares);
        assert!(
            budget
                .admit("PutBucketAcl", &Method::PUT, &full)
                .unwrap()
                .is_some()
        );
    }
}
