//! Who signed an S3 request. s3s verifies SigV4 (header, presigned query, aws-chunked)
//! with the secrets of keyhold's principals; the access hook only records the caller
//! and the routed operation: what a caller may do is decided by the domain
//! (access.rs), exactly as for gRPC, anonymous callers included.

use std::sync::Arc;

use keyhold_platform::{Caller, Principals};
use s3s::{
    S3Result,
    access::{S3Access, S3AccessContext},
    auth::{S3Auth, SecretKey},
    path::S3Path,
    s3_error,
};

use super::call::S3Call;
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

pub struct RecordingAccess(pub Arc<Principals>);

#[async_trait::async_trait]
impl S3Access for RecordingAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let caller = cx.credentials().and_then(|credentials| {
            self.0
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
        if let Some(call) = cx.extensions_mut().get::<S3Call>() {
            call.update(|state| {
                state.operation = Some(operation);
                state.bucket = bucket;
                state.key = key;
                state.caller = caller;
            });
        }
        Ok(())
    }
}

/// The domain's view of the request's caller, recorded by the access hook.
pub fn requester(call: &S3Call) -> Requester {
    Requester::from_caller(call.snapshot().caller.as_ref())
}
