//! Who signed an S3 request. s3s verifies SigV4 (header, presigned query, aws-chunked)
//! with the secrets of keyhold's principals; the access hook only records the caller
//! and the routed operation: what a caller may do is decided by the domain
//! (access.rs), exactly as for gRPC, anonymous callers included.

use std::sync::Arc;

use keyhold_platform::{Caller, Principals, throttle::Throttle};
use s3s::{
    S3Result,
    access::{S3Access, S3AccessContext},
    auth::{S3Auth, SecretKey},
    path::S3Path,
    s3_error,
};

use super::{buffered::DocumentBudget, call::S3Call, errors::slow_down};
use crate::access::Requester;

pub struct PrincipalsAuth(pub Arc<Principals>);

#[async_trait::async_trait]
impl S3Auth for PrincipalsAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.by_access_key(access_key) {
            Some(principal) => Ok(SecretKey::from(principal.signing_secret())),
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}

pub struct RecordingAccess {
    pub principals: Arc<Principals>,
    /// The per-principal quota, taken once the signature is verified.
    pub throttle: Option<Arc<Throttle>>,
    /// The memory the XML documents being read may take together.
    pub documents: DocumentBudget,
}

#[async_trait::async_trait]
impl S3Access for RecordingAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        // s3s verified a signature exactly when the edge found a SigV4 one: should the
        // two ever disagree (two Authorization headers, which s3s ignores), the
        // request is not served, rather than served under the wrong scheme or quota.
        let expected = cx
            .extensions_mut()
            .get::<S3Call>()
            .map(|call| call.snapshot().authentication)
            .unwrap_or_default();
        if cx.credentials().is_some() != expected.is_sigv4() {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let caller = cx.credentials().and_then(|credentials| {
            self.principals
                .by_access_key(&credentials.access_key)
                .map(|principal| Caller {
                    principal: principal.clone(),
                    via: None,
                })
        });
        let operation = cx.s3_op().name().to_owned();
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let quota_key = caller
            .as_ref()
            .map(|caller| caller.principal.access_key_id.clone());
        if let Some(call) = cx.extensions_mut().get::<S3Call>() {
            call.update(|state| {
                state.operation = Some(operation);
                state.bucket = bucket;
                state.key = key;
                state.caller = caller;
            });
        }
        if let (Some(throttle), Some(key)) = (&self.throttle, quota_key)
            && throttle.admit(&key).is_err()
        {
            return Err(slow_down());
        }
        // s3s reads a document body whole right after this hook: refused now if it
        // cannot be served, it is never read.
        let share = self
            .documents
            .admit(cx.s3_op().name(), cx.method(), cx.headers())?;
        if let (Some(share), Some(call)) = (share, cx.extensions_mut().get::<S3Call>()) {
            call.hold(share);
        }
        Ok(())
    }
}

/// The domain's view of the request's caller, recorded by the access hook.
pub fn requester(call: &S3Call) -> Requester {
    let state = call.snapshot();
    Requester::new(state.caller.as_ref(), state.origin)
}
