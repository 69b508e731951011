//! What one S3 request learns while it runs, shared by the edge (which turns it into
//! the CloudTrail record and the error XML) and the handler (which knows the caller,
//! the domain error and what was stored). It rides in the request's extensions.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use keyhold_platform::Caller;

use super::{buffered::BudgetShare, edge::Authentication};
use crate::access::Origin;

#[derive(Debug, Default, Clone)]
pub struct S3Call(Arc<CallShared>);

#[derive(Debug, Default)]
struct CallShared {
    state: Mutex<CallState>,
    bytes_in: AtomicU64,
    /// The request's share of the document budget, returned when the request ends.
    budget_share: Mutex<Option<BudgetShare>>,
}

#[derive(Debug, Default, Clone)]
pub struct CallState {
    /// How the edge found the request to be authenticated (s3s must agree).
    pub authentication: Authentication,
    /// The operation s3s routed the request to (None when it failed before routing).
    pub operation: Option<String>,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub caller: Option<Caller>,
    /// Where the request came from: the condition keys of its authorization.
    pub origin: Origin,
    /// A request parameter that only the handler can read from the body (CloudTrail's
    /// `bucketPolicy` of PutBucketPolicy).
    pub body_parameter: Option<(&'static str, serde_json::Value)>,
    /// The error the handler answered, for the fields S3's XML adds (ArgumentName...).
    pub error: Option<HandlerError>,
    /// Why the request body could not be read (a bad chunk signature...): it decides
    /// the answer over the domain's view of the same failure.
    pub body_failure: Option<BodyFailure>,
    /// How the stored object is encrypted: CloudTrail's `SSEApplied`.
    pub sse_applied: Option<&'static str>,
}

/// The S3 code of a handler's error and its extra XML fields.
#[derive(Debug, Clone)]
pub struct HandlerError {
    pub code: String,
    pub fields: Vec<(&'static str, String)>,
}

/// An S3 protocol error met while reading the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyFailure {
    pub code: &'static str,
    pub message: String,
    pub status: u16,
}

impl S3Call {
    pub fn update(&self, change: impl FnOnce(&mut CallState)) {
        change(&mut self.0.state.lock().expect("s3 call lock"));
    }

    pub fn snapshot(&self) -> CallState {
        self.0.state.lock().expect("s3 call lock").clone()
    }

    pub fn add_bytes_in(&self, count: u64) {
        self.0.bytes_in.fetch_add(count, Ordering::Relaxed);
    }

    pub fn hold(&self, share: BudgetShare) {
        *self.0.budget_share.lock().expect("s3 call lock") = Some(share);
    }

    pub fn bytes_in(&self) -> u64 {
        self.0.bytes_in.load(Ordering::Relaxed)
    }
}
