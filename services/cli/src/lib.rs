//! The parts of the `keyhold` command other crates reuse: the test harness starts
//! the same private Postgres cluster `keyhold up` does when no server answers.

pub mod console;
pub mod files;
pub mod postgres;
pub mod run_as;
pub mod tls;
