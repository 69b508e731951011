//! object-svc's own integration tests, as one test binary.

mod binary;
mod crash;
mod s3_backend;
mod tracing;
