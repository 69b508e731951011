//! The tests that measure this process's resident memory while object-svc runs in
//! it. They are a test binary of their own, so that no other test's allocations count
//! against them, and they measure one at a time
//! ([`keyhold_tests::measuring_memory`]).

mod message_limits;
mod s3_limits;
