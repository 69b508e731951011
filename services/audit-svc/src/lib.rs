//! audit-svc: every keyhold API call as a CloudTrail record in Postgres, CloudTrail's
//! LookupEvents over them, and a live tail.
//!
//! `run` wires the pieces: principals from config, the database with its migrations,
//! the NextToken key, the retention sweeper, the writer of audit-svc's own records,
//! and the gRPC server behind the platform's shared stack.

pub mod access;
pub mod aws;
pub mod digests;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod insights;
pub mod lookup_key;
pub mod record;
pub mod retention;
pub mod sink;
pub mod store;
pub mod trails;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use keyhold_platform::{
    AuditSink, Principals, StackConfig,
    config::{CommonArgs, MasterKeyArgs},
    server::{self, Listeners},
};
use keyhold_proto::audit::v1::{
    audit_service_server::AuditServiceServer, trail_service_server::TrailServiceServer,
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
};
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::{
    digests::SigningKeys,
    domain::Audit,
    error::EVENT_SOURCE,
    grpc::AuditGrpc,
    store::AuditStore,
    trails::{
        Clock, SystemClock, delivery::Delivery, digest_delivery::DigestDelivery, grpc::TrailGrpc,
        object_client::TrailWriter, store::TrailStore,
    },
};

pub const SERVICE_NAME: &str = "audit-svc";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50053";
pub const DEFAULT_DATABASE: &str = "keyhold_audit";
/// The largest IngestEvents batch audit-svc accepts.
const INGEST_MESSAGE_LIMIT: usize = 16 * 1024 * 1024;
pub(crate) const GRPC_SERVICES: [&str; 2] = [
    "keyhold.audit.v1.AuditService",
    "keyhold.audit.v1.TrailService",
];
/// object-svc's default gRPC address, where trails deliver their log files.
pub const DEFAULT_OBJECT_ENDPOINT: &str = "http://127.0.0.1:50052";

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

    /// object-svc's gRPC address: trails' buckets are checked and log files written there.
    #[arg(long, env = "KEYHOLD_OBJECT_ENDPOINT", default_value = DEFAULT_OBJECT_ENDPOINT)]
    pub object_endpoint: String,

    /// The service principal (a name in the principals file, `cloudtrail.amazonaws.com`)
    /// whose credentials audit-svc uses with object-svc.
    #[arg(long, env = "KEYHOLD_DELIVERY_PRINCIPAL", default_value = "audit-svc")]
    pub delivery_principal: String,

    /// Seconds between deliveries of log files (AWS: about 5 minutes).
    #[arg(long, env = "KEYHOLD_DELIVERY_INTERVAL_SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub delivery_interval_seconds: u64,

    /// Events read per delivery batch (at most one log file of each kind per batch).
    #[arg(long, env = "KEYHOLD_DELIVERY_BATCH_EVENTS", default_value_t = 10_000,
          value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub delivery_batch_events: i64,
    /// Insight types on even without a logging trail whose insight selectors name
    /// them (comma-separated: ApiCallRateInsight, ApiErrorRateInsight).
    #[arg(long, env = "KEYHOLD_INSIGHT_TYPES", value_delimiter = ',')]
    pub insight_types: Vec<insights::InsightType>,

    /// Minutes of the Insights baseline window (AWS: 7 days).
    #[arg(long, env = "KEYHOLD_INSIGHTS_BASELINE_MINUTES", default_value_t = 10_080,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub insights_baseline_minutes: u32,

    /// How often closed minutes are judged for Insights; 0: never by this replica
    /// (another one does, or a test drives the worker).
    #[arg(long, env = "KEYHOLD_INSIGHTS_EVALUATE_SECONDS", default_value_t = 60)]
    pub insights_evaluate_seconds: u64,

    /// Seconds after its end a minute is closed; calls stored later for it are not
    /// counted.
    #[arg(
        long,
        env = "KEYHOLD_INSIGHTS_CLOSE_DELAY_SECONDS",
        default_value_t = 60
    )]
    pub insights_close_delay_seconds: u64,

    /// Count call rates at ingest (what Insights are computed from); false only to
    /// measure what counting costs: no Insights are found then.
    #[arg(long, env = "KEYHOLD_INSIGHT_RATES", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub insight_rates: bool,

    /// audit-svc's master key seals the private keys that sign digest files (log file
    /// validation). Needed only once a trail validates its log files.
    #[command(flatten)]
    pub master: MasterKeyArgs,

    /// The window of each digest file (CloudTrail: an hour), at most a day.
    #[arg(long, env = "KEYHOLD_DIGEST_INTERVAL_SECONDS", default_value_t = 3600,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub digest_interval_seconds: u32,

    /// Where to serve the AWS CloudTrail JSON protocol (`aws cloudtrail`, the SDKs),
    /// plain HTTP.
    #[arg(long, env = "KEYHOLD_AWS_LISTEN", default_value = aws::DEFAULT_AWS_LISTEN)]
    pub aws_listen: SocketAddr,
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
    listeners: impl Into<Listeners>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve(
        config,
        listeners.into(),
        shutdown,
        None,
        Arc::new(SystemClock),
    )
    .await
}

/// Like [`run`], with trails reading the time from `clock`.
pub async fn run_with_clock(
    config: Config,
    listeners: impl Into<Listeners>,
    shutdown: CancellationToken,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    serve(config, listeners.into(), shutdown, None, clock).await
}

/// Like [`run`], with audit-svc's own records going to `sink` instead.
pub async fn run_with_sink(
    config: Config,
    listeners: impl Into<Listeners>,
    shutdown: CancellationToken,
    sink: Arc<dyn AuditSink>,
) -> anyhow::Result<()> {
    serve(
        config,
        listeners.into(),
        shutdown,
        Some(sink),
        Arc::new(SystemClock),
    )
    .await
}

async fn serve(
    config: Config,
    listeners: Listeners,
    shutdown: CancellationToken,
    sink: Option<Arc<dyn AuditSink>>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let principals = Arc::new(Principals::load(&config.common.principals_file)?);
    let object_writer = trail_writer(&config, &principals)?;
    let pool = config
        .common
        .open_database_with(DEFAULT_DATABASE, &store::MIGRATOR, store::SESSION_SETTINGS)
        .await?;
    let trail_store = TrailStore::new(pool.clone());
    let mut store = AuditStore::new(pool.clone());
    if !config.insight_rates {
        store = store.without_rate_counts();
    }
    let audit = Arc::new(
        Audit::open(store)
            .await
            .map_err(|e| anyhow::anyhow!("cannot load the NextToken key: {e}"))?,
    );

    let sweeper = tokio::spawn(retention::sweep_until(
        audit.clone(),
        config.retention_days,
        Duration::from_secs(config.retention_sweep_seconds.max(1)),
        shutdown.clone(),
    ));
    let digests = DigestDelivery::new(
        trail_store.clone(),
        object_writer.clone(),
        signing_keys(&config, &pool)?,
        config.digest_schedule(),
        clock.clone(),
    );
    let delivery = Arc::new(
        Delivery::new(trail_store.clone(), object_writer.clone(), clock.clone())
            .with_batch_events(config.delivery_batch_events)
            .with_digests(digests),
    );
    let deliverer = tokio::spawn(delivery.run_until(
        Duration::from_secs(config.delivery_interval_seconds),
        shutdown.clone(),
    ));
    let insights = spawn_insights(&config, &audit, trail_store.clone(), &shutdown);
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
    let metrics = Box::new(AuditMetrics(audit.clone(), pool.clone()));
    let routes = Routes::new(
        AuditServiceServer::new(AuditGrpc::new(audit, shutdown.clone()))
            .max_decoding_message_size(INGEST_MESSAGE_LIMIT),
    )
    .add_service(TrailServiceServer::new(TrailGrpc::new(
        trail_store,
        object_writer,
        config.common.region.clone(),
        clock,
    )));
    let stack = StackConfig::new(&config.common, SERVICE_NAME, EVENT_SOURCE, principals, sink)
        .with_collector(metrics);
    let served = server::serve(
        stack,
        routes,
        &GRPC_SERVICES,
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
    writer_stop.cancel();
    let _ = sweeper.await;
    let _ = deliverer.await;
    if let Some(insights) = insights {
        let _ = insights.await;
    }
    if let Some(writer) = writer {
        let _ = writer.await;
    }
    served
}

/// The keys that sign digest files, when audit-svc has a master key; without one,
/// trails that validate their log files show why in GetTrailStatus.
fn signing_keys(config: &Config, pool: &sqlx::PgPool) -> anyhow::Result<Option<SigningKeys>> {
    if config.master.master_key.is_none() && config.master.master_key_file.is_none() {
        return Ok(None);
    }
    Ok(Some(SigningKeys::new(
        pool.clone(),
        config.master.master_key()?,
        config.common.region.clone(),
    )))
}

/// audit-svc's client of object-svc, with the credentials of its service principal.
fn trail_writer(config: &Config, principals: &Principals) -> anyhow::Result<TrailWriter> {
    let principal = principals.find(&config.delivery_principal).ok_or_else(|| {
        keyhold_platform::config::bad_config(format!(
            "the delivery principal \"{}\" is not in the principals file (trails write log files as it)",
            config.delivery_principal
        ))
    })?;
    let tls = config.common.tls.load()?;
    let credentials = if principal.access_key_id.is_empty() {
        if tls.is_none() {
            return Err(keyhold_platform::config::bad_config(format!(
                "the delivery principal \"{}\" has no keys: without KEYHOLD_TLS_CERT_FILE audit-svc cannot call object-svc as it",
                config.delivery_principal
            )));
        }
        keyhold_platform::auth::ClientCredentials::anonymous()
    } else {
        keyhold_platform::auth::ClientCredentials::new(
            &principal.access_key_id,
            principal.signing_secret(),
        )
    };
    TrailWriter::connect_lazy(&config.object_endpoint, credentials, tls.as_ref())
}

/// The Insights worker, unless rates are not counted or this replica does not judge
/// them.
fn spawn_insights(
    config: &Config,
    audit: &Arc<Audit>,
    trails: TrailStore,
    shutdown: &CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    if !config.insight_rates || config.insights_evaluate_seconds == 0 {
        return None;
    }
    let settings = insights::worker::Settings {
        window_minutes: config.insights_baseline_minutes,
        close_delay: chrono::TimeDelta::seconds(
            i64::try_from(config.insights_close_delay_seconds).unwrap_or(i64::MAX),
        ),
        rule: insights::detector::Rule::default(),
        origin: insights::event::Origin {
            account_id: config.common.account_id.clone(),
            region: config.common.region.clone(),
        },
    };
    // As on AWS, the types the logging trails' insight selectors name, read each
    // round; KEYHOLD_INSIGHT_TYPES adds types that are on without a trail.
    let configured: insights::InsightTypes = config.insight_types.iter().copied().collect();
    Some(tokio::spawn(insights::worker::run_until(
        insights::worker::Worker::new(audit.clone(), settings),
        Arc::new(insights::worker::SystemClock),
        Duration::from_secs(config.insights_evaluate_seconds),
        move || {
            let (trails, configured) = (trails.clone(), configured.clone());
            async move { enabled_insight_types(&trails, configured).await }
        },
        shutdown.clone(),
    )))
}

/// The insight types on: `configured`, and those the insight selectors of logging
/// trails name (as on AWS, where only a trail's selectors turn Insights on).
pub async fn enabled_insight_types(
    trails: &TrailStore,
    configured: insights::InsightTypes,
) -> insights::InsightTypes {
    let mut types = configured;
    match trails.logging_insight_selectors().await {
        Ok(selectors) => types.extend(insights::enabled_types_from_selectors(&selectors)),
        Err(error) => tracing::warn!(error = %error, "cannot read trails' insight selectors"),
    }
    types
}

/// audit-svc's counts on the metrics endpoint.
struct AuditMetrics(Arc<Audit>, sqlx::PgPool);

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
        )?;
        keyhold_platform::metrics::encode_counter(
            &mut encoder,
            "keyhold_audit_stored_records",
            "Records stored in the event history (a record sent twice counts once).",
            self.0.stored_count(),
        )?;
        let lag = self.0.ingest_lag();
        lag.encode(encoder.encode_descriptor(
            "keyhold_audit_ingest_lag_seconds",
            "Per ingested batch, the age of its oldest record: how far the audit stream \
             runs behind the calls (eventTime has whole seconds).",
            None,
            lag.metric_type(),
        )?)?;
        keyhold_platform::metrics::PoolMetrics(self.1.clone()).encode(encoder)
    }
}
