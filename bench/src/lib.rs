//! What the benchmark binaries share: the gRPC client with the dev credentials, the
//! CPU-time readers of /proc, the server processes and databases of a run, and the
//! main that prints a run's report.

pub mod client;
pub mod proc_ticks;
pub mod process;
pub mod report_main;
