//! The Prometheus endpoint every service can serve (`--metrics-listen`): `GET /metrics`
//! in the OpenMetrics text format, and nothing else. Values are read when scraped, by
//! the collectors the service registers (calls served, the audit emitter's counts,
//! the database pool, each service's own).
//!
//! The listener is for an operator's scraper, and is as guarded as the other ports:
//! a request's head may be at most 8 KiB and must arrive within 5 s, a connection
//! serves one request and lasts at most 10 s, at most 16 are open at once (more
//! are closed at once), and a request body is never read.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::{
    collector::Collector,
    encoding::EncodeLabelSet,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::ConstGauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;

const PATH: &str = "/metrics";
/// hyper's smallest read buffer: a request head must fit in it.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: usize = 16;
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Adds a counter with its current value to a scrape.
pub fn encode_counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    let counter = ConstCounter::new(value);
    counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)
}

/// Adds a gauge with its current value to a scrape.
pub fn encode_gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    operation: String,
    /// Empty for a success; otherwise the code the call's CloudTrail record names.
    error_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

type Durations = Family<OperationLabel, Histogram, fn() -> Histogram>;

/// The calls an API served (its gRPC methods, or the S3 operations): how many, by
/// operation and error code, and how long each took. Cheap to clone; clones count
/// into the same families.
#[derive(Clone)]
pub struct CallMetrics {
    /// `keyhold_grpc_server` or `keyhold_s3`: the API the names describe.
    prefix: &'static str,
    calls: Family<CallLabels, Counter>,
    seconds: Durations,
}

impl std::fmt::Debug for CallMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CallMetrics({})", self.prefix)
    }
}

fn duration_histogram() -> Histogram {
    // 100 µs to ~6.5 s: a cached Decrypt to a large object's transfer.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl CallMetrics {
    pub fn new(prefix: &'static str) -> Self {
        CallMetrics {
            prefix,
            calls: Family::default(),
            seconds: Family::new_with_constructor(duration_histogram),
        }
    }

    /// Counts one finished call of `operation` that started at `started`.
    pub fn observe(&self, operation: &str, error_code: Option<&str>, started: Instant) {
        let labels = CallLabels {
            operation: operation.to_owned(),
            error_code: error_code.unwrap_or_default().to_owned(),
        };
        self.calls.get_or_create(&labels).inc();
        self.seconds
            .get_or_create(&OperationLabel {
                operation: labels.operation,
            })
            .observe(started.elapsed().as_secs_f64());
    }

    /// The families as a collector for [`registry`].
    pub fn collector(&self) -> Box<dyn Collector> {
        Box::new(self.clone())
    }
}

impl Collector for CallMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let name = format!("{}_requests", self.prefix);
        self.calls.encode(encoder.encode_descriptor(
            &name,
            "Calls served, by operation and error code (empty for a success).",
            None,
            self.calls.metric_type(),
        )?)?;
        let name = format!("{}_request_duration_seconds", self.prefix);
        self.seconds.encode(encoder.encode_descriptor(
            &name,
            "How long calls took, from their arrival to their last response byte.",
            None,
            self.seconds.metric_type(),
        )?)
    }
}

/// A database pool's connections on the metrics endpoint, read at each scrape.
#[derive(Debug)]
pub struct PoolMetrics(pub sqlx::PgPool);

impl Collector for PoolMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let pool = &self.0;
        let open = u64::from(pool.size());
        let idle = u64::try_from(pool.num_idle()).unwrap_or(u64::MAX);
        encode_gauge(
            &mut encoder,
            "keyhold_db_pool_connections_in_use",
            "Database connections serving a query or transaction now.",
            open.saturating_sub(idle),
        )?;
        encode_gauge(
            &mut encoder,
            "keyhold_db_pool_connections_idle",
            "Open database connections waiting for work.",
            idle,
        )?;
        encode_gauge(
            &mut encoder,
            "keyhold_db_pool_connections_max",
            "The most connections the pool opens (KEYHOLD_DATABASE_MAX_CONNECTIONS).",
            u64::from(pool.options().get_max_connections()),
        )
    }
}

/// A registry of `collectors`, as one scrape renders it.
pub fn registry(collectors: Vec<Box<dyn Collector>>) -> Registry {
    let mut registry = Registry::default();
    for collector in collectors {
        registry.register_collector(collector);
    }
    registry
}

/// Binds `address` and serves `registry` there until `shutdown`.
pub async fn listen(
    address: SocketAddr,
    registry: Registry,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {address}: {e}"))?;
    tracing::info!(address = %listener.local_addr()?, "serving metrics");
    Ok(tokio::spawn(serve(listener, Arc::new(registry), shutdown)))
}

async fn serve(listener: TcpListener, registry: Arc<Registry>, shutdown: CancellationToken) {
    let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        // Over the limit, a connection is closed at once rather than queued.
        let Ok(permit) = open.clone().try_acquire_owned() else {
            continue;
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |request| {
                let registry = registry.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&request, &registry)) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_REQUEST_HEAD)
                .keep_alive(false);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
        });
    }
}

fn answer(request: &Request<Incoming>, registry: &Registry) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, PATH) => {
            let mut text = String::new();
            match prometheus_client::encoding::text::encode(&mut text, registry) {
                Ok(()) => (StatusCode::OK, CONTENT_TYPE, text),
                Err(e) => {
                    tracing::error!(error = %e, "cannot render the metrics");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        String::new(),
                    )
                }
            }
        }
        (_, PATH) => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".to_owned(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "only /metrics\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
    }
    response
}
