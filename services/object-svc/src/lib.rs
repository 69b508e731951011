//! object-svc: S3 buckets and objects, always encrypted at rest (SSE-S3 with
//! object-svc's own master key, or SSE-KMS with data keys from kms-svc, asked for on
//! behalf of the caller so that the key policy decides every PUT and GET).
//!
//! `run` wires the pieces: principals and master key from config, the metadata
//! database, the blob store, the kms-svc client, the sweeper of abandoned blobs, and
//! the gRPC server behind the platform's shared stack.

pub mod access;
pub mod blobs;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod kms_client;
pub mod limits;
pub mod model;
pub mod read_ahead;
pub mod s3;
pub mod store;
pub mod validate;

mod probe;
mod sweeper;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use keyhold_platform::{
    AuditSink, Principals, StackConfig,
    config::{CommonArgs, MasterKeyArgs, bad_config, secret_value},
    emitter, server, service,
};
use keyhold_proto::object::v1::{
    object_service_server::ObjectServiceServer,
    transport_probe_service_server::TransportProbeServiceServer,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::{
    blobs::BlobStore, domain::Objects, error::EVENT_SOURCE, grpc::ObjectGrpc,
    kms_client::KmsClient, store::MetadataStore,
};

pub const SERVICE_NAME: &str = "object-svc";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50052";
pub const DEFAULT_DATABASE: &str = "keyhold_object";
pub const DEFAULT_KMS_ENDPOINT: &str = "http://127.0.0.1:50051";
/// The largest PutObject chunk accepted (tonic's default is 4 MiB).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024 + 1024;
const GRPC_SERVICES: &[&str] = &[
    "keyhold.object.v1.ObjectService",
    "keyhold.object.v1.TransportProbeService",
];

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "object-svc",
    version,
    about = "keyhold's object store (S3 API over gRPC), every object encrypted at rest"
)]
pub struct Config {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Where object bytes (ciphertext only) are kept: a directory, `file:///dir`, or
    /// an S3-compatible store `s3://bucket/prefix` (configured by the AWS_* env vars).
    #[arg(long, env = "KEYHOLD_BLOB_STORE", default_value = "./object-blobs")]
    pub blob_store: String,

    /// Wraps SSE-S3 data keys.
    #[command(flatten)]
    pub master: MasterKeyArgs,

    /// kms-svc's address, for SSE-KMS data keys.
    #[arg(long, env = "KEYHOLD_KMS_ENDPOINT", default_value = DEFAULT_KMS_ENDPOINT)]
    pub kms_endpoint: String,

    /// object-svc's own service principal, with which it calls kms-svc for users.
    #[arg(long, env = "KEYHOLD_KMS_ACCESS_KEY_ID")]
    pub kms_access_key_id: Option<String>,

    #[arg(long, env = "KEYHOLD_KMS_ACCESS_KEY_ID_FILE")]
    pub kms_access_key_id_file: Option<PathBuf>,

    #[arg(long, env = "KEYHOLD_KMS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub kms_secret_access_key: Option<String>,

    #[arg(long, env = "KEYHOLD_KMS_SECRET_ACCESS_KEY_FILE")]
    pub kms_secret_access_key_file: Option<PathBuf>,

    /// An upload still unfinished after this long is taken as abandoned (its writer
    /// crashed) and its bytes are deleted.
    #[arg(long, env = "KEYHOLD_ABANDONED_UPLOAD_SECONDS", default_value_t = 6 * 3600)]
    pub abandoned_upload_seconds: u64,

    /// Where the S3-compatible REST endpoint listens (path-style URLs
    /// `http://<address>/<bucket>/<key>`).
    #[arg(long, env = "KEYHOLD_S3_LISTEN", default_value = s3::DEFAULT_S3_LISTEN)]
    pub s3_listen: SocketAddr,

    /// Also serve virtual-hosted-style requests, `<bucket>.<domain>` (e.g.
    /// `s3.keyhold.local`); path-style requests keep working.
    #[arg(long, env = "KEYHOLD_S3_BASE_DOMAIN")]
    pub s3_base_domain: Option<String>,

    /// How often deleted, replaced and abandoned blobs are removed from the store.
    #[arg(long, env = "KEYHOLD_BLOB_SWEEP_SECONDS", default_value_t = 60)]
    pub blob_sweep_seconds: u64,

    /// How long the blob of a replaced or deleted object is kept: a GET that began
    /// before the overwrite or delete reads the old bytes to the end within this time.
    #[arg(
        long,
        env = "KEYHOLD_REPLACED_BLOB_GRACE_SECONDS",
        default_value_t = 300
    )]
    pub replaced_blob_grace_seconds: u64,

    #[command(flatten)]
    pub audit: emitter::EmitterArgs,
}

impl Config {
    pub fn listen_address(&self) -> SocketAddr {
        self.common.listen_or(DEFAULT_LISTEN)
    }

    fn kms_client(&self) -> anyhow::Result<KmsClient> {
        let access_key_id = secret_value(
            self.kms_access_key_id.as_deref(),
            self.kms_access_key_id_file.as_ref(),
            "kms access key id",
        )?;
        let secret = secret_value(
            self.kms_secret_access_key.as_deref(),
            self.kms_secret_access_key_file.as_ref(),
            "kms secret access key",
        )?;
        let tls = self.common.tls.load()?;
        let credentials = match (&access_key_id, &secret) {
            (Some(access_key_id), Some(secret)) => Some((access_key_id.as_str(), secret.as_str())),
            // Over TLS object-svc's certificate says who it is.
            (None, None) if tls.is_some() => None,
            _ => {
                return Err(bad_config(
                    "no credentials for kms-svc: set KEYHOLD_KMS_ACCESS_KEY_ID and \
                     KEYHOLD_KMS_SECRET_ACCESS_KEY (or their _FILE forms) to object-svc's service principal, \
                     or KEYHOLD_TLS_CERT_FILE",
                ));
            }
        };
        KmsClient::connect_lazy(&self.kms_endpoint, credentials, tls.as_ref())
    }

    fn blob_store(&self) -> anyhow::Result<BlobStore> {
        if self.blob_store.contains("://") {
            BlobStore::from_url(&self.blob_store)
        } else {
            BlobStore::local(std::path::Path::new(&self.blob_store))
        }
    }
}

/// The two ports object-svc serves: gRPC and the S3 REST endpoint.
pub struct Listeners {
    pub grpc: TcpListener,
    pub s3: TcpListener,
}

impl Listeners {
    /// Binds the addresses `config` names; one line says which failed.
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        Ok(Listeners {
            grpc: service::bind(config.listen_address()).await?,
            s3: service::bind(config.s3_listen).await?,
        })
    }
}

/// Runs object-svc on `listeners` until `shutdown` is cancelled. Audit records stream
/// to audit-svc when `KEYHOLD_AUDIT_ENDPOINT` is set, else they go to the log.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (audit, tls) = (config.audit.clone(), config.common.tls.clone());
    emitter::serve_with_sink_from_args(&audit, &tls, SERVICE_NAME, shutdown.clone(), |sink| {
        run_with_sink(config, listeners, shutdown, sink)
    })
    .await
}

/// Like [`run`], with the audit records going to `sink`.
pub async fn run_with_sink(
    config: Config,
    listeners: Listeners,
    shutdown: CancellationToken,
    sink: Arc<dyn AuditSink>,
) -> anyhow::Result<()> {
    let principals = Arc::new(Principals::load(&config.common.principals_file)?);
    let master_key = config.master.master_key()?;
    let kms = config.kms_client()?;
    let blobs = config.blob_store()?;
    let pool = config
        .common
        .open_database(DEFAULT_DATABASE, &store::MIGRATOR)
        .await?;
    let pool_metrics = Box::new(keyhold_platform::metrics::PoolMetrics(pool.clone()));
    let store = MetadataStore::new(pool);
    let s3_calls = keyhold_platform::metrics::CallMetrics::new("keyhold_s3");

    let objects = Arc::new(Objects::new(
        store,
        blobs,
        kms,
        master_key,
        config.common.account_id.clone(),
        config.common.region.clone(),
    ));
    let sweeper = tokio::spawn(sweeper::sweep_until(
        objects.clone(),
        Duration::from_secs(config.blob_sweep_seconds.max(1)),
        Duration::from_secs(config.abandoned_upload_seconds),
        Duration::from_secs(config.replaced_blob_grace_seconds),
        shutdown.clone(),
    ));

    let s3_endpoint = s3::endpoint(
        objects.clone(),
        s3::S3Settings {
            // Over TLS, services authenticate only by certificate, which the S3
            // port (plain HTTP) never sees.
            principals: match config.common.tls.load()? {
                Some(_) => Arc::new(principals.without_service_keys()),
                None => principals.clone(),
            },
            sink: sink.clone(),
            requests_per_second: Some(config.common.requests_per_second),
            account_id: config.common.account_id.clone(),
            region: config.common.region.clone(),
            base_domain: config.s3_base_domain.clone(),
            body_idle_timeout: config.common.connection_limits().idle_timeout,
            calls: s3_calls.clone(),
        },
    )?;
    let s3_served = tokio::spawn(s3::serve(
        s3_endpoint,
        listeners.s3,
        config.common.connection_limits(),
        shutdown.clone(),
        config.common.shutdown_grace(),
    ));

    let routes = Routes::new(
        ObjectServiceServer::new(ObjectGrpc::new(objects)).max_decoding_message_size(MAX_MESSAGE),
    )
    .add_service(
        TransportProbeServiceServer::new(probe::TransportProbe)
            .max_decoding_message_size(MAX_MESSAGE),
    );
    let stack = StackConfig::new(&config.common, SERVICE_NAME, EVENT_SOURCE, principals, sink)
        .allowing_anonymous()
        .with_collector(s3_calls.collector())
        .with_collector(pool_metrics);
    let served = server::serve(
        stack,
        routes,
        GRPC_SERVICES,
        listeners.grpc,
        None,
        config.common.connection_limits(),
        shutdown.clone(),
        config.common.shutdown_grace(),
    )
    .await;
    shutdown.cancel();
    let _ = sweeper.await;
    let s3_served = s3_served
        .await
        .map_err(|e| anyhow::anyhow!("the S3 endpoint task failed: {e}"))?;
    served.and(s3_served)
}
