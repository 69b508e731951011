//! object-svc: S3 buckets and objects, always encrypted at rest.

pub mod blobs;
pub mod model;
pub mod store;
pub mod validate;
