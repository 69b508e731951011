//! The audit sink that streams records to audit-svc (`IngestEvents`).
//!
//! The request path only serializes a record and hands it to a bounded queue; one
//! background task streams the queue to audit-svc in batches over a long-lived
//! stream. Nothing is lost when audit-svc is down or slow: what the queue cannot
//! hold, and what audit-svc has not acknowledged when the stream breaks, goes to a
//! spool directory on disk and is replayed after reconnecting (and after a restart).
//! Replays resend records, which is safe because audit-svc stores each eventID at
//! most once: the emitter guarantees at-least-once, audit-svc makes it exactly once.
//!
//! When the spool reaches its limit the service refuses new calls with UNAVAILABLE
//! ([`WhenFull::Refuse`]) rather than serve calls it cannot record; the records of
//! calls already admitted are still kept. [`WhenFull::DropAndCount`] instead drops
//! records, counted by [`AuditEmitter::dropped`].

mod dead_letter;
mod spool;
mod stream;
#[cfg(test)]
mod tests;

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use prometheus_client::{collector::Collector, encoding::DescriptorEncoder};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;
use tonic::{Code, transport::Endpoint};
use zeroize::Zeroizing;

use crate::{
    audit::{AuditSink, BoundedEvent, LogSink},
    config::{bad_config, secret_value},
    error::AwsError,
    metrics::{encode_counter, encode_gauge},
};

use self::spool::Spool;

pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;
pub const DEFAULT_BATCH_MAX: usize = 1000;
/// Spool files rotate at this size, so that a replayed file is deleted (and its
/// space counted free) before the whole backlog is through.
pub const DEFAULT_SPOOL_FILE_BYTES: u64 = 64 << 20;
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a batch waits for company once its first record is taken. At a few
/// hundred calls a second every record would otherwise travel, and be committed by
/// audit-svc, on its own: a Postgres statement, a commit and a WAL flush per call.
/// CloudTrail itself makes events visible minutes after the call; 20 ms is nothing
/// to a reader and lets records share batches at any rate.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(20);

pub const SPOOL_FULL_MESSAGE: &str = "The service is refusing calls because its audit spool is full: \
     audit-svc has been unreachable for too long, and the service refuses calls rather than lose their audit records. Try again later.";

/// What to do with a new record when the spool is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum WhenFull {
    /// Refuse new calls with UNAVAILABLE; records of admitted calls are still kept.
    #[default]
    Refuse,
    /// Keep serving, dropping the records that do not fit (counted).
    #[value(name = "drop")]
    DropAndCount,
}

pub struct EmitterConfig {
    /// audit-svc, as `http://host:port`.
    pub endpoint: String,
    /// The service's own principal, which audit-svc requires of `IngestEvents`;
    /// empty when the service's client certificate says who it is.
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
    pub spool_dir: PathBuf,
    /// Records held in memory before `record` spills to the spool.
    pub queue_capacity: usize,
    pub spool_max_bytes: u64,
    pub spool_file_bytes: u64,
    pub batch_max: usize,
    /// How long a batch that is not full waits for more records (see [`DEFAULT_LINGER`]).
    pub linger: Duration,
    pub when_full: WhenFull,
    /// How long `finish` tries to deliver the queue before spooling the rest.
    pub flush_timeout: Duration,
    /// The service's certificate, for an `https://` endpoint.
    pub tls: Option<crate::tls::Tls>,
}

impl EmitterConfig {
    /// A configuration with the defaults for everything but where and as whom.
    pub fn new(
        endpoint: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        spool_dir: impl Into<PathBuf>,
    ) -> Self {
        EmitterConfig {
            endpoint: endpoint.into(),
            access_key_id: access_key_id.into(),
            secret_access_key: Zeroizing::new(secret_access_key.into()),
            spool_dir: spool_dir.into(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            spool_file_bytes: DEFAULT_SPOOL_FILE_BYTES,
            batch_max: DEFAULT_BATCH_MAX,
            linger: DEFAULT_LINGER,
            when_full: WhenFull::Refuse,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            tls: None,
        }
    }
}

impl std::fmt::Debug for EmitterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmitterConfig")
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("spool_dir", &self.spool_dir)
            .field("queue_capacity", &self.queue_capacity)
            .field("spool_max_bytes", &self.spool_max_bytes)
            .field("spool_file_bytes", &self.spool_file_bytes)
            .field("batch_max", &self.batch_max)
            .field("linger", &self.linger)
            .field("when_full", &self.when_full)
            .field("flush_timeout", &self.flush_timeout)
            .finish()
    }
}

/// The emitter's flags, to `#[command(flatten)]` into a service's config.
#[derive(Debug, Clone, clap::Args)]
pub struct EmitterArgs {
    /// audit-svc's address (http://host:port). Unset, audit records go to the log.
    #[arg(long, env = "KEYHOLD_AUDIT_ENDPOINT")]
    pub audit_endpoint: Option<String>,

    /// Where records audit-svc has not acknowledged are kept; each service uses a
    /// subdirectory named after itself.
    #[arg(long, env = "KEYHOLD_AUDIT_SPOOL_DIR", default_value = "./audit-spool")]
    pub audit_spool_dir: PathBuf,

    /// Records held in memory before they spill to the spool.
    #[arg(long, env = "KEYHOLD_AUDIT_QUEUE_CAPACITY", default_value_t = DEFAULT_QUEUE_CAPACITY)]
    pub audit_queue_capacity: usize,

    /// Spool size at which the service refuses calls (or drops records).
    #[arg(long, env = "KEYHOLD_AUDIT_SPOOL_MAX_BYTES", default_value_t = DEFAULT_SPOOL_MAX_BYTES)]
    pub audit_spool_max_bytes: u64,

    /// refuse: refuse new calls with UNAVAILABLE; drop: serve them and count the
    /// records that are lost.
    #[arg(long, env = "KEYHOLD_AUDIT_WHEN_FULL", value_enum, default_value_t = WhenFull::Refuse)]
    pub audit_when_full: WhenFull,

    /// Milliseconds a batch of records waits for more before it is sent (0: send each
    /// record as soon as it is taken). Longer batches cost audit-svc and its database
    /// less per record; a record lives in memory only until audit-svc acknowledges it.
    #[arg(long, env = "KEYHOLD_AUDIT_LINGER_MS", default_value_t = DEFAULT_LINGER.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub audit_linger_ms: u64,

    /// The service principal's access key id, presented to audit-svc.
    #[arg(long, env = "KEYHOLD_AUDIT_ACCESS_KEY_ID")]
    pub audit_access_key_id: Option<String>,

    #[arg(long, env = "KEYHOLD_AUDIT_ACCESS_KEY_ID_FILE")]
    pub audit_access_key_id_file: Option<PathBuf>,

    /// Prefer --audit-secret-access-key-file: an inline secret shows in process listings.
    #[arg(long, env = "KEYHOLD_AUDIT_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub audit_secret_access_key: Option<String>,

    #[arg(long, env = "KEYHOLD_AUDIT_SECRET_ACCESS_KEY_FILE")]
    pub audit_secret_access_key_file: Option<PathBuf>,

    /// The service's TLS (its `CommonArgs::tls`, loaded), which an `https://`
    /// endpoint needs and which makes the credentials optional.
    #[arg(skip)]
    pub tls: Option<crate::tls::Tls>,
}

impl EmitterArgs {
    /// The emitter configuration, or None when no endpoint is set.
    pub fn emitter_config(&self, service_name: &str) -> anyhow::Result<Option<EmitterConfig>> {
        let Some(endpoint) = self.audit_endpoint.clone().filter(|e| !e.is_empty()) else {
            return Ok(None);
        };
        let access_key_id = secret_value(
            self.audit_access_key_id.as_deref(),
            self.audit_access_key_id_file.as_ref(),
            "audit access key id",
        )?;
        let secret = secret_value(
            self.audit_secret_access_key.as_deref(),
            self.audit_secret_access_key_file.as_ref(),
            "audit secret access key",
        )?
        .map(Zeroizing::new);
        let (access_key_id, secret) = match (access_key_id, secret) {
            (Some(id), Some(secret)) => (id, secret),
            // Over TLS the service's certificate says who it is.
            (None, None) if self.tls.is_some() => (String::new(), Zeroizing::new(String::new())),
            (None, _) => {
                return Err(bad_config(
                    "KEYHOLD_AUDIT_ENDPOINT is set but KEYHOLD_AUDIT_ACCESS_KEY_ID is not: audit-svc accepts events only from a service principal (or set KEYHOLD_TLS_CERT_FILE)",
                ));
            }
            (Some(_), None) => {
                return Err(bad_config(
                    "KEYHOLD_AUDIT_ENDPOINT is set but KEYHOLD_AUDIT_SECRET_ACCESS_KEY_FILE (or KEYHOLD_AUDIT_SECRET_ACCESS_KEY) is not",
                ));
            }
        };
        let mut config = EmitterConfig::new(
            endpoint,
            access_key_id,
            String::new(),
            self.audit_spool_dir.join(service_name),
        );
        config.secret_access_key = secret;
        config.tls = self.tls.clone();
        config.queue_capacity = self.audit_queue_capacity;
        config.spool_max_bytes = self.audit_spool_max_bytes;
        config.when_full = self.audit_when_full;
        config.linger = Duration::from_millis(self.audit_linger_ms);
        Ok(Some(config))
    }
}

/// The sink `args` ask for: an [`AuditEmitter`] (with its task, to `finish` after
/// the server stopped) when an audit endpoint is set, else [`LogSink`].
pub async fn sink_from_args(
    args: &EmitterArgs,
    service_name: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<(Arc<dyn AuditSink>, Option<EmitterTask>)> {
    match args.emitter_config(service_name)? {
        None => {
            tracing::debug!(
                service = service_name,
                "no KEYHOLD_AUDIT_ENDPOINT: audit records go to the log"
            );
            Ok((Arc::new(LogSink), None))
        }
        Some(config) => {
            tracing::info!(service = service_name, endpoint = %config.endpoint, spool = %config.spool_dir.display(), "streaming audit records to audit-svc");
            let (emitter, task) = AuditEmitter::start(config, shutdown)?;
            Ok((Arc::new(emitter), Some(task)))
        }
    }
}

/// Runs `serve` with the sink [`sink_from_args`] picks (streaming over the service's
/// own TLS, `tls`, when it has one) and, once it returns, lets the emitter (if any)
/// deliver or spool the records of the calls that finished while the service drained.
pub async fn serve_with_sink_from_args<F, Fut>(
    args: &EmitterArgs,
    tls: &crate::tls::TlsArgs,
    service_name: &str,
    shutdown: CancellationToken,
    serve: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Arc<dyn AuditSink>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut args = args.clone();
    args.tls = tls.load()?;
    let (sink, emitter) = sink_from_args(&args, service_name, shutdown).await?;
    let served = serve(sink).await;
    if let Some(emitter) = emitter {
        emitter.finish().await;
    }
    served
}

/// One serialized record: the eventID (for audit-svc, and the only part of a record
/// the emitter ever logs) and the CloudTrail JSON.
/// A batch stops growing past this many bytes of records, so that batches of large
/// records (a PutKeyPolicy record carries a 32 KiB policy twice) stay well under
/// audit-svc's message limit whatever `batch_max` is.
pub(crate) const BATCH_MAX_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) event_id: String,
    pub(crate) json: String,
    /// The call's W3C traceparent, when its trace is exported. Not spooled: a record
    /// replayed from disk is stored outside its call's trace.
    pub(crate) traceparent: Option<String>,
}

/// The [`AuditSink`] that streams to audit-svc. Cheap to clone.
#[derive(Clone)]
pub struct AuditEmitter {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    queue: mpsc::Sender<Record>,
    spool: Spool,
    when_full: WhenFull,
    dropped: AtomicU64,
    /// Milliseconds since the epoch of the last drop warning, to log one a second.
    last_drop_warning: AtomicU64,
}

/// The emitter's background task; `finish` it once the server has stopped.
pub struct EmitterTask {
    finish: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

impl EmitterTask {
    /// Delivers what is queued for up to the flush timeout, spools (and fsyncs) the
    /// rest, and returns. Records made afterwards go straight to the spool.
    pub async fn finish(self) {
        self.finish.cancel();
        if let Err(e) = self.handle.await {
            tracing::error!(error = %e, "the audit emitter task failed; unsent records remain in the spool only if they reached it");
        }
    }
}

impl AuditEmitter {
    /// Opens the spool (taking over files a previous run left) and starts streaming.
    /// Must be called within a tokio runtime.
    pub fn start(
        config: EmitterConfig,
        shutdown: CancellationToken,
    ) -> anyhow::Result<(AuditEmitter, EmitterTask)> {
        let spool = Spool::open(
            &config.spool_dir,
            config.spool_max_bytes,
            config.spool_file_bytes,
        )
        .with_context(|| {
            format!(
                "cannot open the audit spool directory {}",
                config.spool_dir.display()
            )
        })?;
        let endpoint = Endpoint::from_shared(config.endpoint.clone())
            .map_err(|e| bad_config(format!("invalid audit endpoint {:?}: {e}", config.endpoint)))?
            .connect_timeout(Duration::from_secs(5))
            // Detects an audit-svc that vanished without closing the connection, so
            // its unacknowledged batches are spooled instead of waiting forever.
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true);
        let authorization = if config.access_key_id.is_empty() {
            None
        } else {
            let bearer = Zeroizing::new(crate::auth::bearer_value(
                &config.access_key_id,
                &config.secret_access_key,
            ));
            let mut authorization: tonic::metadata::AsciiMetadataValue = bearer
                .parse()
                .context("the audit credentials are not valid header text")?;
            authorization.set_sensitive(true);
            Some(authorization)
        };
        let channel = crate::tls::connect_lazy(endpoint, config.tls.as_ref())?;

        let (queue, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            queue,
            spool,
            when_full: config.when_full,
            dropped: AtomicU64::new(0),
            last_drop_warning: AtomicU64::new(0),
        });
        let finish = CancellationToken::new();
        let worker = stream::Worker {
            shared: shared.clone(),
            channel,
            authorization,
            queue: receiver,
            batch_max: config.batch_max.max(1),
            linger: config.linger,
            flush_timeout: config.flush_timeout,
            shutdown,
            finish: finish.clone(),
        };
        let handle = tokio::spawn(worker.run());
        Ok((AuditEmitter { shared }, EmitterTask { finish, handle }))
    }

    /// Records lost: dropped because the spool was full (only with
    /// [`WhenFull::DropAndCount`]), or because they could not be written to the spool
    /// or to the dead letters.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed) + self.shared.spool.dead_letters().lost()
    }

    /// Records set aside in the dead-letter file because audit-svc will never take
    /// them; they are kept there, not retried.
    pub fn dead_lettered(&self) -> u64 {
        self.shared.spool.dead_letters().kept()
    }

    /// Bytes in the spool, waiting for audit-svc.
    pub fn spooled_bytes(&self) -> u64 {
        self.shared.spool.bytes()
    }

    /// The spool size at which the service refuses calls (or drops records).
    pub fn spool_limit(&self) -> u64 {
        self.shared.spool.max_bytes()
    }
}

impl Shared {
    /// Spools records the queue cannot take. `sync` after the task has finished,
    /// since nothing else will make them durable before the process exits.
    pub(crate) fn spill(&self, records: &[Record], sync: bool) {
        if records.is_empty() {
            return;
        }
        if self.when_full == WhenFull::DropAndCount && self.spool.is_full() {
            self.count_dropped(records.len() as u64, None);
            return;
        }
        if let Err(e) = self.spool.append(records, sync) {
            self.count_dropped(records.len() as u64, Some(&e));
        }
    }

    fn count_dropped(&self, count: u64, error: Option<&std::io::Error>) {
        let total = self.dropped.fetch_add(count, Ordering::Relaxed) + count;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let last = self.last_drop_warning.load(Ordering::Relaxed);
        // Under a sustained outage every call drops a record: one line a second says
        // as much as a line per record, without flooding the log.
        if now.saturating_sub(last) >= 1000
            && self
                .last_drop_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            match error {
                Some(e) => {
                    tracing::error!(dropped_total = total, error = %e, "cannot write the audit spool: audit records lost")
                }
                None => {
                    tracing::warn!(
                        dropped_total = total,
                        "audit spool full: dropping audit records (KEYHOLD_AUDIT_WHEN_FULL=drop)"
                    )
                }
            }
        }
    }
}

impl AuditSink for AuditEmitter {
    fn deliver(&self, record: BoundedEvent) {
        let traceparent = record.traceparent().map(str::to_owned);
        let (event, json) = record.into_parts();
        let record = Record {
            event_id: event.event_id,
            json,
            traceparent,
        };
        match self.shared.queue.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(record)) => self.shared.spill(&[record], false),
            // The task has finished (shutdown): this is the record's last stop.
            Err(TrySendError::Closed(record)) => self.shared.spill(&[record], true),
        }
    }

    fn collector(&self) -> Option<Box<dyn Collector>> {
        Some(Box::new(EmitterMetrics(self.clone())))
    }

    fn admit(&self) -> Result<(), AwsError> {
        if self.shared.when_full == WhenFull::Refuse && self.shared.spool.is_full() {
            return Err(AwsError::new(
                Code::Unavailable,
                "ServiceUnavailableException",
                SPOOL_FULL_MESSAGE,
            ));
        }
        Ok(())
    }
}

/// The emitter's counts on the metrics endpoint, read at each scrape.
struct EmitterMetrics(AuditEmitter);

impl std::fmt::Debug for EmitterMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmitterMetrics")
    }
}

impl Collector for EmitterMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let emitter = &self.0;
        encode_counter(
            &mut encoder,
            "keyhold_audit_dead_letter_records",
            "Audit records set aside in the dead-letter file: audit-svc will never take them.",
            emitter.dead_lettered(),
        )?;
        encode_counter(
            &mut encoder,
            "keyhold_audit_dropped_records",
            "Audit records lost: spool full with KEYHOLD_AUDIT_WHEN_FULL=drop, or a disk error.",
            emitter.dropped(),
        )?;
        encode_gauge(
            &mut encoder,
            "keyhold_audit_spool_bytes",
            "Bytes of audit records in the spool, waiting for audit-svc.",
            emitter.spooled_bytes(),
        )?;
        encode_gauge(
            &mut encoder,
            "keyhold_audit_spool_limit_bytes",
            "The spool size at which calls are refused (or records dropped).",
            emitter.spool_limit(),
        )
    }
}
