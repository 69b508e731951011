//! What the benchmark binaries share: the gRPC client with the dev credentials, and
//! the CPU-time readers of /proc.

pub mod client;
pub mod proc_ticks;
