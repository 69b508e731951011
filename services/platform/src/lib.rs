//! The runtime every keyhold service shares, so that a service crate holds only its
//! own domain: configuration, telemetry, principals and authentication, the audit
//! hook, error mapping, the database connection and the gRPC server.

pub mod audit;
pub mod auth;
pub mod aws_json;
pub mod batch;
pub mod catalog;
pub mod config;
pub mod connections;
pub mod db;
pub mod emitter;
pub mod error;
pub mod http_edge;
pub mod iam;
pub mod log_limits;
pub mod metrics;
pub mod periodic;
pub mod principals;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod sigv4;
pub mod stack;
pub mod telemetry;
pub mod throttle;
pub mod tls;

pub use audit::{AuditNotes, AuditSink, BoundedEvent, CloudTrailEvent, LogSink, MemorySink};
pub use auth::Caller;
pub use error::AwsError;
pub use principals::{Principal, Principals};
pub use stack::{RequestId, StackConfig};
