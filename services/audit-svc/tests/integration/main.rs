//! audit-svc's own integration tests, as one test binary.

mod audit;
mod bounded_records;
mod common;
mod dead_letters;
mod digests;
mod insights;
mod lookup_keys;
mod lookup_limits;
mod metrics;
mod no_loss;
