//! kms-svc's own integration tests, as one test binary.

mod binary;
mod spool;
