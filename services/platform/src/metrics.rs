//! The Prometheus endpoint every service can serve (`--metrics-listen`): `GET /metrics`
//! in the OpenMetrics text format, and nothing else. Values are read when scraped, by
//! the collectors the service registers (the audit emitter's counts, audit-svc's).
//!
//! The listener is for an operator's scraper, and is as guarded as the other ports:
//! a request's head may be at most 8 KiB and must arrive within 5 s, a connection
//! serves one request and lasts at most 10 s, at most 16 are open at once (more
//! are closed at once), and a request body is never read.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
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
