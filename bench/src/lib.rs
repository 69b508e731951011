//! What the benchmark binaries share: the gRPC client with the dev credentials, the
//! CPU-time readers of /proc, and the server processes and databases of a run.

pub mod client;
pub mod proc_ticks;
pub mod process;
