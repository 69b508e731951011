//! audit-svc: every keyhold API call as a CloudTrail record in Postgres, CloudTrail's
//! LookupEvents over them, and a live tail.
//!
//! `run` wires the pieces: principals from config, the database with its migrations,
//! the NextToken key, the retention sweeper, the writer of audit-svc's own records,
//! and the gRPC server behind the platform's shared stack.

pub mod access;
pub mod digests;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod lookup_key;
pub mod record;
pub mod retention;
pub mod sink;
pub mod store;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use keyhold_platform::{
    AuditSink, Principals, StackConfig,
    config::{CommonArgs, MasterKeyArgs},
    server,
};
use keyhold_proto::audit::v1::audit_service_server::AuditServiceServer;
use prometheus_client::{collector::Collector, encoding::DescriptorEncoder};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::{domain::Audit, error::EVENT_SOURCE, grpc::AuditGrpc, store::AuditStore};

pub const SERVICE_NAME: &str = "audit-svc";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50053";
pub const DEFAULT_DATABASE: &str = "keyhold_audit";
/// The largest IngestEvents batch audit-svc accepts.
const INGEST_MESSAGE_LIMIT: usize = 16 * 1024 * 1024;
const GRPC_SERVICE: &str = "keyhold.audit.v1.AuditService";

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "audit-svc",
    version,
    about = "keyhold's audit trail (AWS CloudTrail LookupEvents over gRPC)"
)]
pub struct Config {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Days events are kept; older ones are dropped a whole UTC day at a time.
    #[arg(long, env = "KEYHOLD_RETENTION_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: u32,

    /// How often events past retention are dropped.
    #[arg(long, env = "KEYHOLD_RETENTION_SWEEP_SECONDS", default_value_t = 3600)]
    pub retention_sweep_seconds: u64,

    /// audit-svc's master key seals the private keys that sign digest files (log file
    /// validation). Needed only once a trail validates its log files.
    #[command(flatten)]
    pub master: MasterKeyArgs,

    /// The window of each digest file (CloudTrail: an hour), at most a day.
    #[arg(long, env = "KEYHOLD_DIGEST_INTERVAL_SECONDS", default_value_t = 3600,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub digest_interval_seconds: u32,
}

impl Config {
    pub fn listen_address(&self) -> SocketAddr {
        self.common.listen_or(DEFAULT_LISTEN)
    }

    pub fn digest_schedule(&self) -> digests::DigestSchedule {
        digests::DigestSchedule::every(chrono::TimeDelta::seconds(i64::from(
            self.digest_interval_seconds,
        )))
    }
}

/// Runs audit-svc on `listener` until `shutdown` is cancelled; its own calls are
/// recorded in its own store.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve(config, listener, shutdown, None).await
}

/// Like [`run`], with audit-svc's own records going to `sink` instead.
pub async fn run_with_sink(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
    sink: Arc<dyn AuditSink>,
) -> anyhow::Result<()> {
    serve(config, listener, shutdown, Some(sink)).await
}

async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
    sink: Option<Arc<dyn AuditSink>>,
) -> anyhow::Result<()> {
    let principals = Arc::new(Principals::load(&config.common.principals_file)?);
    let pool = config
        .common
        .open_database_with(DEFAULT_DATABASE, &store::MIGRATOR, store::SESSION_SETTINGS)
        .await?;
    let audit = Arc::new(
        Audit::open(AuditStore::new(pool))
            .await
            .map_err(|e| anyhow::anyhow!("cannot load the NextToken key: {e}"))?,
    );

    let sweeper = tokio::spawn(retention::sweep_until(
        audit.clone(),
        config.retention_days,
        Duration::from_secs(config.retention_sweep_seconds.max(1)),
        shutdown.clone(),
    ));
    // The writer outlives the server's drain, so records of the last calls land too.
    let writer_stop = CancellationToken::new();
    let (sink, writer) = match sink {
        Some(sink) => (sink, None),
        None => {
            let (sink, records) = sink::store_sink();
            let writer = tokio::spawn(sink::write_until(
                audit.clone(),
                records,
                writer_stop.clone(),
            ));
            (Arc::new(sink) as Arc<dyn AuditSink>, Some(writer))
        }
    };

    // The emitter closes a batch once it holds 2 MiB of records (the last record may
    // cross that line), so batches of large records fit with room to spare.
    let metrics = Box::new(AuditMetrics(audit.clone()));
    let routes = Routes::new(
        AuditServiceServer::new(AuditGrpc::new(audit, shutdown.clone()))
            .max_decoding_message_size(INGEST_MESSAGE_LIMIT),
    );
    let stack = StackConfig::new(&config.common, SERVICE_NAME, EVENT_SOURCE, principals, sink)
        .with_collector(metrics);
    let served = server::serve(
        stack,
        routes,
        &[GRPC_SERVICE],
        listener,
        config.common.connection_limits(),
        shutdown.clone(),
        config.common.shutdown_grace(),
    )
    .await;
    shutdown.cancel();
    writer_stop.cancel();
    let _ = sweeper.await;
    if let Some(writer) = writer {
        let _ = writer.await;
    }
    served
}

/// audit-svc's counts on the metrics endpoint.
struct AuditMetrics(Arc<Audit>);

impl std::fmt::Debug for AuditMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditMetrics")
    }
}

impl Collector for AuditMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        keyhold_platform::metrics::encode_counter(
            &mut encoder,
            "keyhold_audit_refused_records",
            "Records audit-svc refused (named back to their emitter, which sets them aside).",
            self.0.rejected_count(),
        )
    }
}
