//! audit-svc's own integration tests, as one test binary.

mod audit;
mod common;
mod lookup_keys;
mod no_loss;
