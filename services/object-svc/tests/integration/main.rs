//! object-svc's own integration tests, as one test binary.

mod binary;
mod s3_backend;
mod tracing;
