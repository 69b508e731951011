//! What the benchmark binaries share: the gRPC client with the dev credentials (and
//! the AWS SDK client, over h2c if asked), the
//! CPU-time readers of /proc, the server processes and databases of a run, and the
//! main that prints a run's report.

pub mod client;
pub mod h2c;
pub mod proc_ticks;
pub mod process;
pub mod report_main;
