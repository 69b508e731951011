//! kms-svc: AWS KMS symmetric keys whose key policies are enforced on every call.
//!
//! `run` wires the pieces: principals and master key from config, the database with
//! its migrations, the deletion sweeper, and the gRPC server behind the platform's
//! shared stack.

#[cfg(all(feature = "mutant-ignore-key-policy", not(debug_assertions)))]
compile_error!(
    "mutant-ignore-key-policy turns key policies off: a test-only build, never a release"
);

pub mod authz;
pub mod aws;
pub mod change_counter;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod key_cache;
pub mod key_ref;
pub mod limits;
pub mod model;
pub mod store;
pub mod validate;

mod deletion;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use keyhold_platform::{
    AuditSink, Principals, StackConfig,
    config::{CommonArgs, MasterKeyArgs},
    emitter, server,
    server::Listeners,
};
use keyhold_proto::kms::v1::kms_service_server::KmsServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::{domain::Kms, error::EVENT_SOURCE, grpc::KmsGrpc, key_ref::Partition, store::KmsStore};

pub const SERVICE_NAME: &str = "kms-svc";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
pub const DEFAULT_DATABASE: &str = "keyhold_kms";
pub(crate) const GRPC_SERVICE: &str = "keyhold.kms.v1.KmsService";

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "kms-svc",
    version,
    about = "keyhold's key management service (AWS KMS API over gRPC)"
)]
pub struct Config {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Wraps all key material.
    #[command(flatten)]
    pub master: MasterKeyArgs,

    /// How often keys past their deletion date are deleted.
    #[arg(long, env = "KEYHOLD_DELETION_SWEEP_SECONDS", default_value_t = 60)]
    pub deletion_sweep_seconds: u64,

    #[command(flatten)]
    pub audit: emitter::EmitterArgs,

    /// Where to serve the AWS KMS JSON protocol (`aws kms`, the SDKs), plain HTTP.
    #[arg(long, env = "KEYHOLD_AWS_LISTEN", default_value = aws::DEFAULT_AWS_LISTEN)]
    pub aws_listen: SocketAddr,
}

impl Config {
    pub fn listen_address(&self) -> SocketAddr {
        self.common.listen_or(DEFAULT_LISTEN)
    }
}

/// Runs kms-svc on `listener` until `shutdown` is cancelled. Audit records stream to
/// audit-svc when `KEYHOLD_AUDIT_ENDPOINT` is set, else they go to the log.
pub async fn run(
    config: Config,
    listeners: impl Into<Listeners>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listeners = listeners.into();
    let (audit, tls) = (config.audit.clone(), config.common.tls.clone());
    emitter::serve_with_sink_from_args(&audit, &tls, SERVICE_NAME, shutdown.clone(), |sink| {
        run_with_sink(config, listeners, shutdown, sink)
    })
    .await
}

/// Like [`run`], with the audit records going to `sink`.
pub async fn run_with_sink(
    config: Config,
    listeners: impl Into<Listeners>,
    shutdown: CancellationToken,
    sink: Arc<dyn AuditSink>,
) -> anyhow::Result<()> {
    let listeners = listeners.into();
    let principals = Arc::new(Principals::load(&config.common.principals_file)?);
    let master_key = config.master.master_key()?;
    let partition = Partition {
        account_id: config.common.account_id.clone(),
        region: config.common.region.clone(),
    };
    let pool = config
        .common
        .open_database(DEFAULT_DATABASE, &store::MIGRATOR)
        .await?;

    let store = KmsStore::new(pool.clone(), partition.clone());
    let cache_metrics = Box::new(key_cache::KeyCacheMetrics(store.cache()));
    let kms = Arc::new(Kms::new(store, partition, master_key, principals.clone()));
    let sweeper = tokio::spawn(deletion::sweep_until(
        kms.clone(),
        Duration::from_secs(config.deletion_sweep_seconds.max(1)),
        shutdown.clone(),
    ));

    let routes = Routes::new(KmsServiceServer::new(KmsGrpc::new(kms)));
    let stack = StackConfig::new(&config.common, SERVICE_NAME, EVENT_SOURCE, principals, sink)
        .with_collector(cache_metrics)
        .with_collector(Box::new(keyhold_platform::metrics::PoolMetrics(pool)));
    let served = server::serve(
        stack,
        routes,
        &[GRPC_SERVICE],
        listeners.grpc,
        listeners.aws.map(|listener| server::AwsPort {
            protocol: &aws::PROTOCOL,
            listener,
        }),
        config.common.connection_limits(),
        shutdown.clone(),
        config.common.shutdown_grace(),
    )
    .await;
    shutdown.cancel();
    let _ = sweeper.await;
    served
}
