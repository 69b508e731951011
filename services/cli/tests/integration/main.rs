//! The `keyhold` binary against real services (keyhold_tests' harness): each command's
//! output and exit status, as a user sees them.

mod events;
mod kms;
mod trail;
