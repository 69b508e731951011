//! Process-wide telemetry shared by every keyhold service: logs to stderr, optional OTLP trace
//! export, and W3C trace-context propagation across gRPC hops.
//!
//! Propagation deliberately does not depend on export being configured. The W3C propagator and
//! the `tracing-opentelemetry` layer are always installed (backed by an SDK tracer provider with
//! no span processor when OTLP is off), so a service without a collector still honours an
//! incoming `traceparent` and forwards it downstream; otherwise one un-configured service in
//! the middle of a call chain would split every trace passing through it. The cost when export
//! is off is id generation and an in-memory span per enabled `tracing` span; no thread, task or
//! connection is started.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::FilterExt as _;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Filter, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::log_limits::{BoundedLines, always_silenced};

/// Log line format on stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, coloured when stderr is a terminal.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Flushes and shuts down the OTLP tracer provider on drop (or via [`TelemetryGuard::shutdown`]).
///
/// Keep it alive for the whole of `main`: `let _telemetry = init(..);`. Binding it to `_`
/// drops it immediately and ends export right away.
#[must_use = "dropping the guard shuts OTLP export down immediately"]
#[derive(Debug)]
pub struct TelemetryGuard {
    export: Option<OtlpExport>,
    /// Flushes the log lines still queued when dropped (after export has shut down, so
    /// its last warnings are written too).
    _logs: Option<WorkerGuard>,
}

#[derive(Debug)]
struct OtlpExport {
    provider: SdkTracerProvider,
    // The tonic channel's connection tasks live here rather than on the application's runtime:
    // the batch processor exports from its own thread and blocks on shutdown, which would stall
    // (until the timeout) if the I/O it waits for had to run on the very runtime thread that is
    // dropping the guard, e.g. under `#[tokio::test]`'s current-thread runtime. It also lets
    // `init` run before any runtime exists.
    runtime: tokio::runtime::Runtime,
}

impl TelemetryGuard {
    const fn inert() -> Self {
        Self {
            export: None,
            _logs: None,
        }
    }

    /// Exports the spans still queued and stops the exporter; later spans are dropped.
    pub fn shutdown(mut self) {
        self.shutdown_export();
    }

    fn shutdown_export(&mut self) {
        let Some(OtlpExport { provider, runtime }) = self.export.take() else {
            return;
        };
        if let Err(error) = provider.shutdown() {
            tracing::warn!(%error, "OTLP trace export did not shut down cleanly");
        }
        // A plain drop would panic when the guard is dropped inside async code.
        runtime.shutdown_background();
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.shutdown_export();
    }
}

// Tests start several services in one process, each calling `init`; only the first may install
// the global subscriber.
static INITIALISED: AtomicBool = AtomicBool::new(false);

const DEFAULT_LEVEL: &str = "info";
// Prepended rather than appended so that RUST_LOG can still raise any of them: for directives
// naming the same target, the later one wins. The OTel SDK's internal logs (which also cover
// opentelemetry_sdk and opentelemetry-otlp) report routine lifecycle steps at info.
const QUIET_DEPENDENCIES: &str = "h2=warn,hyper=warn,tower=warn,sqlx=warn,opentelemetry=warn";
const OTLP_ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// Installs the global tracing subscriber and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OTLP
/// (gRPC) trace export with `service.name = service_name`.
///
/// Logs go to stderr as text or JSON lines, filtered by `RUST_LOG` (default `info`, with h2,
/// hyper, tower, sqlx and the OTel SDK at `warn` unless `RUST_LOG` names them). Whatever
/// `RUST_LOG` says, libraries that log what clients send stay silent and no line is longer
/// than its cap (see `log_limits`). The W3C
/// TraceContext propagator is installed globally whether or not export is on; see the module
/// docs.
///
/// Only the first call in a process does anything; later calls return a guard that does
/// nothing, as does a call made after someone else installed a global subscriber.
pub fn init(service_name: &'static str, format: LogFormat) -> TelemetryGuard {
    if INITIALISED.swap(true, Ordering::SeqCst) {
        return TelemetryGuard::inert();
    }
    // Still useful under a foreign subscriber, should it carry an OTel layer of its own.
    install_propagator();
    if tracing::dispatcher::has_been_set() {
        return TelemetryGuard::inert();
    }

    let directives = filter_directives(std::env::var("RUST_LOG").ok().as_deref());

    let export_requested = OTLP_ENDPOINT_VARS
        .iter()
        .any(|var| std::env::var(var).is_ok_and(|value| !value.trim().is_empty()));
    let export = export_requested.then(|| {
        // The exporter must exist before the OTel layer can be built, so the subscriber is not
        // installed yet; a temporary one keeps the exporter's own diagnostics (bad endpoint,
        // ignored OTEL_* values) from vanishing.
        let log_filter = EnvFilter::builder()
            .parse_lossy(&directives)
            .and(always_silenced());
        let build_logger = tracing_subscriber::registry().with(log_layer(
            format,
            log_filter,
            BoundedLines::new(std::io::stderr, format),
        ));
        tracing::subscriber::with_default(build_logger, || {
            start_otlp_export(service_name)
                .inspect_err(|error| tracing::error!(%error, "OTLP trace export disabled"))
                .ok()
        })
    });
    // Log lines are written by a thread of their own, which drains whatever is queued
    // into one buffered write: at a KMS load of ~12k calls/s, each call's audit line
    // written to stderr on the request's thread was 7% of kms-svc's CPU. Not lossy: a
    // full queue holds the caller back rather than dropping lines (audit records among
    // them).
    let (log_writer, logs) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("keyhold-log-writer")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let guard = TelemetryGuard {
        export: export.flatten(),
        _logs: Some(logs),
    };
    let provider = match &guard.export {
        Some(export) => export.provider.clone(),
        // Nothing exports, so record only what an upstream caller asked to sample
        // (its trace id still flows on): building span data for every call and
        // dropping it cost about 8 µs per call in the kms-svc load profile.
        None => SdkTracerProvider::builder()
            .with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
                opentelemetry_sdk::trace::Sampler::AlwaysOff,
            )))
            .build(),
    };

    // The OTel layer gets its own filter, always admitting this module's RPC spans: if RUST_LOG
    // disabled them (say RUST_LOG=warn), the incoming trace context would have nowhere to live
    // and every outgoing call would start a new trace. Its directives are a superset of the log
    // layer's, so any span current for logging also carries an OTel context.
    let otel_filter = EnvFilter::builder()
        .parse_lossy(format!("{}={DEFAULT_LEVEL},{directives}", module_path!()))
        .and(always_silenced());
    let otel_layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(env!("CARGO_PKG_NAME")))
        .with_filter(otel_filter);

    let log_filter = EnvFilter::builder()
        .parse_lossy(&directives)
        .and(always_silenced());
    if let Err(error) = tracing_subscriber::registry()
        .with(otel_layer)
        .with(log_layer(
            format,
            log_filter,
            BoundedLines::new(log_writer, format),
        ))
        .try_init()
    {
        // Either another subscriber won a race with us, or the `log` bridge was already taken;
        // in the latter case ours is installed and export must stay up.
        eprintln!("telemetry: global subscriber not fully installed: {error}");
    }

    tracing::debug!(
        service = service_name,
        otlp_export = guard.export.is_some(),
        "telemetry initialised"
    );
    guard
}

pub(crate) fn log_layer<S, F, W>(
    format: LogFormat,
    filter: F,
    writer: W,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    F: Filter<S> + Send + Sync + 'static,
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(stderr_wants_colour())
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
    }
}

fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
}

/// Keeps RUST_LOG's own semantics (a bare level such as `debug` replaces the default `info`)
/// while still quieting chatty dependencies. Invalid directives are reported once and skipped
/// rather than taking the service down, and the result is parsed twice (one filter per layer).
pub(crate) fn filter_directives(rust_log: Option<&str>) -> String {
    let mut directives = format!("{DEFAULT_LEVEL},{QUIET_DEPENDENCIES}");
    for directive in rust_log.unwrap_or_default().split(',').map(str::trim) {
        if directive.is_empty() {
            continue;
        }
        match directive.parse::<tracing_subscriber::filter::Directive>() {
            Ok(_) => {
                directives.push(',');
                directives.push_str(directive);
            }
            Err(error) => {
                eprintln!("telemetry: ignoring RUST_LOG directive `{directive}`: {error}")
            }
        }
    }
    directives
}

fn stderr_wants_colour() -> bool {
    // https://no-color.org: any non-empty value disables colour.
    std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

fn start_otlp_export(service_name: &'static str) -> Result<OtlpExport, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("otlp-export")
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the export runtime: {error}"))?;
    // Endpoint, headers, timeout and compression come from the standard OTEL_EXPORTER_OTLP_*
    // variables, which the builder reads itself; tonic needs a runtime context to set up the
    // (lazily connecting) channel.
    let exporter = {
        let _runtime = runtime.enter();
        opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
    };
    let exporter = match exporter {
        Ok(exporter) => exporter,
        Err(error) => {
            runtime.shutdown_background();
            return Err(error.to_string());
        }
    };
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service_name).build())
        .with_batch_exporter(exporter)
        .build();
    // For code that talks to the OTel API directly rather than through `tracing`.
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(OtlpExport { provider, runtime })
}

/// A span for one incoming gRPC call, to be used as tonic's `Server::trace_fn`.
///
/// Its parent is the W3C `traceparent`/`tracestate` in the request's metadata, when present and
/// valid; otherwise it starts a new trace. `request_id` is left empty for the caller to record
/// once known: `span.record("request_id", id)`.
pub fn server_span<B>(request: &http::Request<B>) -> tracing::Span {
    let path = request.uri().path();
    let (service, method) = match parse_grpc_path(path) {
        Some((service, method)) => (Some(service), Some(method)),
        None => (None, None),
    };
    let span = tracing::info_span!(
        "grpc",
        otel.name = path.strip_prefix('/').unwrap_or(path),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        request_id = tracing::field::Empty,
    );
    with_remote_parent(span, request.headers())
}

/// A span for one incoming HTTP request of the S3 endpoint, its parent the request's
/// W3C `traceparent` when it has a valid one. The operation is not known until the
/// request is routed: name the span then with [`rename`] (and record `s3.operation`).
pub fn http_server_span<B>(request: &http::Request<B>) -> tracing::Span {
    let span = tracing::info_span!(
        "s3",
        otel.name = "S3",
        otel.kind = "server",
        http.request.method = %request.method(),
        s3.operation = tracing::field::Empty,
    );
    with_remote_parent(span, request.headers())
}

/// Gives `span` the parent named by `headers`' `traceparent`/`tracestate`, if valid.
fn with_remote_parent(span: tracing::Span, headers: &http::HeaderMap) -> tracing::Span {
    // Extract against an empty context so that only the headers can supply a parent, never
    // whatever context happens to be current on this thread.
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract_with_context(&opentelemetry::Context::new(), &HeaderExtractor(headers))
    });
    if parent.span().span_context().is_valid() {
        // Fails only when no OTel layer is installed (a foreign global subscriber) or the span is
        // disabled; the span is still useful for logs then.
        let _ = span.set_parent(parent);
    }
    span
}

/// Names `span` `name` in its trace. The span has usually started by then (it starts
/// when first entered), and a started span ignores a later `otel.name`.
pub fn rename(span: &tracing::Span, name: String) {
    span.context().span().update_name(name);
}

/// `span`'s trace context as a W3C `traceparent`, when the trace is sampled (being
/// exported): what an audit record carries so that audit-svc's work on it joins the
/// call's trace. None otherwise, so unexported traces cost nothing downstream.
pub fn sampled_traceparent(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_sampled() {
        return None;
    }
    // Written by the propagator that writes outgoing calls' headers, so both agree.
    let mut headers = http::HeaderMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(&mut headers));
    });
    let traceparent = headers.get("traceparent")?.to_str().ok()?;
    Some(traceparent.to_owned())
}

/// A span named `name`, child of the remote span `traceparent` names; None when the
/// text is not a valid, sampled W3C traceparent (so that nothing is built for it).
pub fn child_of_traceparent(traceparent: &str, name: &'static str) -> Option<tracing::Span> {
    if traceparent.is_empty() || traceparent.len() > MAX_TRACEPARENT {
        return None;
    }
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "traceparent",
        http::HeaderValue::from_str(traceparent).ok()?,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract_with_context(&opentelemetry::Context::new(), &HeaderExtractor(&headers))
    });
    let remote = parent.span().span_context().clone();
    if !remote.is_valid() || !remote.is_sampled() {
        return None;
    }
    let span = tracing::info_span!("audit", otel.name = name, otel.kind = "internal");
    let _ = span.set_parent(parent);
    Some(span)
}

/// The length of a version-00 traceparent; longer text is not one.
const MAX_TRACEPARENT: usize = 55;

/// Splits `/package.Service/Method` into its service and method.
fn parse_grpc_path(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

/// Client-side tower layer for tonic channels that writes the current span's trace context into
/// every outgoing request as `traceparent`/`tracestate`:
/// `tower::ServiceBuilder::new().layer(TraceContextLayer).service(channel)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContextLayer;

impl<S> tower::Layer<S> for TraceContextLayer {
    type Service = TraceContext<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceContext { inner }
    }
}

/// The service produced by [`TraceContextLayer`].
#[derive(Clone, Debug)]
pub struct TraceContext<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for TraceContext<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // tonic calls the channel from inside the caller's future, so the caller's span is
        // current here. With no valid context the propagator writes nothing, leaving any
        // headers the caller set by hand untouched.
        let context = tracing::Span::current().context();
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut HeaderInjector(request.headers_mut()));
        });
        self.inner.call(request)
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The W3C propagator only produces valid lowercase names and visible-ASCII values, so a
        // failed conversion means a foreign propagator's bad output: skipping it beats sending a
        // request tonic would reject.
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{SpanId, SpanKind, TraceId};
    use opentelemetry::{KeyValue, Value};
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};
    use tonic::client::GrpcService;
    use tower::{ServiceBuilder, ServiceExt as _};
    use tracing::Instrument as _;
    use tracing_subscriber::Registry;

    use super::*;

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT_ID: &str = "00f067aa0ba902b7";

    /// Keeps finished spans in memory. Hand-rolled so the tests need no SDK `testing` feature;
    /// unlike the SDK's in-memory exporter it also keeps them after the provider shuts down,
    /// which happens as soon as a `with_default` scope drops the subscriber.
    #[derive(Clone, Debug, Default)]
    struct Recorder(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Recorder {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    impl Recorder {
        fn only_span(&self) -> SpanData {
            let mut spans = self.0.lock().unwrap();
            assert_eq!(spans.len(), 1, "expected one span, got {spans:?}");
            spans.remove(0)
        }
    }

    /// A thread-local subscriber whose OTel layer records finished spans, so tests do not
    /// depend on, or fight over, the global subscriber.
    fn otel_subscriber() -> (impl tracing::Subscriber + Send + Sync, Recorder) {
        install_propagator();
        let recorder = Recorder::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(recorder.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        (Registry::default().with(layer), recorder)
    }

    fn incoming_request(path: &str) -> http::Request<()> {
        http::Request::builder()
            .uri(format!("http://kms.keyhold:50051{path}"))
            .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
            .header("tracestate", "upstream=abc")
            .body(())
            .unwrap()
    }

    fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
        span.attributes
            .iter()
            .find(|KeyValue { key: k, .. }| k.as_str() == key)
            .map(|kv| &kv.value)
    }

    #[test]
    fn parses_grpc_paths() {
        assert_eq!(
            parse_grpc_path("/keyhold.kms.v1.KeyService/Encrypt"),
            Some(("keyhold.kms.v1.KeyService", "Encrypt"))
        );
        assert_eq!(
            parse_grpc_path("/grpc.health.v1.Health/Check"),
            Some(("grpc.health.v1.Health", "Check"))
        );
        for bad in [
            "",
            "/",
            "//Method",
            "/Service/",
            "/Service",
            "Service/Method",
            "/a/b/c",
        ] {
            assert_eq!(parse_grpc_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_sampled_span_names_itself_in_its_traceparent_and_is_still_exported() {
        let (subscriber, recorder) = otel_subscriber();
        let traceparent = tracing::subscriber::with_default(subscriber, || {
            let span = http_server_span(&incoming_request("/bucket/key"));
            let traceparent = sampled_traceparent(&span);
            rename(&span, "S3.PutObject".to_owned());
            traceparent
        });
        let span = &recorder.only_span();
        assert_eq!(span.name, "S3.PutObject");
        assert_eq!(
            traceparent,
            Some(format!("00-{TRACE_ID}-{}-01", span.span_context.span_id()))
        );
    }

    #[test]
    fn an_entered_server_span_under_the_services_filters_is_exported() {
        install_propagator();
        let recorder = Recorder::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(recorder.clone())
            .build();
        let directives = filter_directives(None);
        let otel_filter = EnvFilter::builder()
            .parse_lossy(format!("{}={DEFAULT_LEVEL},{directives}", module_path!()))
            .and(always_silenced());
        let subscriber = tracing_subscriber::registry().with(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("test"))
                .with_filter(otel_filter),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let traceparent = tracing::subscriber::with_default(subscriber, || {
            let span = server_span(&incoming_request("/keyhold.kms.v1.KmsService/Decrypt"));
            runtime
                .block_on(async { sampled_traceparent(&tracing::Span::current()) }.instrument(span))
        });
        assert!(traceparent.is_some());
        let span = &recorder.only_span();
        assert_eq!(span.name, "keyhold.kms.v1.KmsService/Decrypt");
    }

    #[test]
    fn a_child_of_a_sampled_traceparent_joins_its_trace() {
        let (subscriber, recorder) = otel_subscriber();
        let parent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
        tracing::subscriber::with_default(subscriber, || {
            assert!(child_of_traceparent(&format!("00-{TRACE_ID}-{PARENT_ID}-00"), "x").is_none());
            assert!(child_of_traceparent("not a traceparent", "x").is_none());
            drop(child_of_traceparent(&parent, "audit-svc store record").unwrap());
        });
        let span = &recorder.only_span();
        assert_eq!(span.name, "audit-svc store record");
        assert_eq!(span.parent_span_id, SpanId::from_hex(PARENT_ID).unwrap());
    }

    /// audit-svc keeps one such span per record of a batch, all alive at once: each
    /// must join its own record's trace, not the first one's.
    #[test]
    fn children_of_several_traceparents_at_once_each_join_their_own_trace() {
        let (subscriber, recorder) = otel_subscriber();
        let traces = [
            "0af7651916cd43dd8448eb211c80319c",
            TRACE_ID,
            "5bf92f3577b34da6a3ce929d0e0e4737",
        ];
        tracing::subscriber::with_default(subscriber, || {
            let spans: Vec<tracing::Span> = traces
                .iter()
                .filter_map(|trace| {
                    child_of_traceparent(
                        &format!("00-{trace}-{PARENT_ID}-01"),
                        "audit-svc store record",
                    )
                })
                .collect();
            assert_eq!(spans.len(), traces.len());
            drop(spans);
        });
        let mut joined: Vec<String> = recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|span| span.span_context.trace_id().to_string())
            .collect();
        joined.sort();
        let mut expected: Vec<String> = traces.iter().map(|t| (*t).to_owned()).collect();
        expected.sort();
        assert_eq!(joined, expected);
    }

    #[test]
    fn server_span_records_rpc_fields_and_remote_parent() {
        let (subscriber, recorder) = otel_subscriber();
        tracing::subscriber::with_default(subscriber, || {
            let span = server_span(&incoming_request("/keyhold.kms.v1.KeyService/Encrypt"));
            span.record("request_id", "req-42");
            span.in_scope(|| {});
        });

        let span = &recorder.only_span();
        assert_eq!(span.name, "keyhold.kms.v1.KeyService/Encrypt");
        assert_eq!(span.span_kind, SpanKind::Server);
        assert_eq!(attribute(span, "rpc.system"), Some(&Value::from("grpc")));
        assert_eq!(
            attribute(span, "rpc.service"),
            Some(&Value::from("keyhold.kms.v1.KeyService"))
        );
        assert_eq!(attribute(span, "rpc.method"), Some(&Value::from("Encrypt")));
        assert_eq!(attribute(span, "request_id"), Some(&Value::from("req-42")));
        assert_eq!(
            span.span_context.trace_id(),
            TraceId::from_hex(TRACE_ID).unwrap()
        );
        assert_eq!(span.parent_span_id, SpanId::from_hex(PARENT_ID).unwrap());
    }

    #[test]
    fn server_span_without_traceparent_starts_a_new_trace() {
        let (subscriber, recorder) = otel_subscriber();
        tracing::subscriber::with_default(subscriber, || {
            let request = http::Request::builder().uri("/not-grpc").body(()).unwrap();
            server_span(&request).in_scope(|| {});
        });

        let span = &recorder.only_span();
        assert_eq!(span.name, "not-grpc");
        assert_ne!(
            span.span_context.trace_id(),
            TraceId::from_hex(TRACE_ID).unwrap()
        );
        assert_eq!(span.parent_span_id, SpanId::INVALID);
        assert_eq!(attribute(span, "rpc.service"), None);
        assert_eq!(attribute(span, "rpc.method"), None);
    }

    /// A downstream "channel" that answers with the trace headers it received.
    fn echo_trace_headers() -> impl tower::Service<
        http::Request<()>,
        Response = (Option<String>, Option<String>),
        Error = Infallible,
    > + Clone {
        tower::service_fn(|request: http::Request<()>| async move {
            let header = |name| {
                request
                    .headers()
                    .get(name)
                    .map(|value: &http::HeaderValue| value.to_str().unwrap().to_owned())
            };
            Ok::<_, Infallible>((header("traceparent"), header("tracestate")))
        })
    }

    #[tokio::test]
    async fn layer_forwards_the_incoming_trace() {
        let (subscriber, recorder) = otel_subscriber();
        // The current-thread test runtime polls everything on this thread.
        let _default = tracing::subscriber::set_default(subscriber);

        let span = server_span(&incoming_request("/keyhold.kms.v1.KeyService/Encrypt"));
        let client = ServiceBuilder::new()
            .layer(TraceContextLayer)
            .service(echo_trace_headers());
        let outgoing = http::Request::builder()
            .uri("http://policy.keyhold:50051/keyhold.policy.v1.Policy/Check")
            .body(())
            .unwrap();
        let (traceparent, tracestate) = client
            .oneshot(outgoing)
            .instrument(span.clone())
            .await
            .unwrap();
        drop(span);

        let traceparent = traceparent.expect("traceparent injected");
        let parts: Vec<&str> = traceparent.split('-').collect();
        let [version, trace_id, parent_id, flags] = parts[..] else {
            panic!("malformed traceparent {traceparent:?}");
        };
        assert_eq!(version, "00");
        assert_eq!(trace_id, TRACE_ID);
        assert_eq!(flags, "01", "sampled flag is kept");
        assert_eq!(tracestate.as_deref(), Some("upstream=abc"));

        // The downstream parent is our server span, not the upstream caller's.
        let server = recorder.only_span();
        assert_eq!(parent_id, server.span_context.span_id().to_string());
        assert_ne!(parent_id, PARENT_ID);
    }

    #[tokio::test]
    async fn layer_without_a_span_injects_nothing() {
        let (subscriber, _recorder) = otel_subscriber();
        let _default = tracing::subscriber::set_default(subscriber);

        let client = ServiceBuilder::new()
            .layer(TraceContextLayer)
            .service(echo_trace_headers());
        let request = http::Request::builder().uri("/a.B/C").body(()).unwrap();
        let (traceparent, tracestate) = client.oneshot(request).await.unwrap();
        assert_eq!((traceparent, tracestate), (None, None));
    }

    #[test]
    fn plugs_into_tonic() {
        // The assertions are the type checks: a server span factory and a layered channel that
        // tonic's generated clients accept.
        fn layered(channel: tonic::transport::Channel) -> impl GrpcService<tonic::body::Body> {
            ServiceBuilder::new()
                .layer(TraceContextLayer)
                .service(channel)
        }
        let _server = tonic::transport::Server::builder().trace_fn(server_span);
        let _ = layered;
    }

    #[test]
    fn filter_directives_keep_rust_log_in_charge() {
        assert_eq!(
            filter_directives(None),
            "info,h2=warn,hyper=warn,tower=warn,sqlx=warn,opentelemetry=warn"
        );
        assert_eq!(
            filter_directives(Some("debug, h2=info,,h2=loud")),
            "info,h2=warn,hyper=warn,tower=warn,sqlx=warn,opentelemetry=warn,debug,h2=info"
        );
    }

    #[test]
    fn init_twice_does_not_panic() {
        let first = init("telemetry-test", LogFormat::Json);
        let second = init("telemetry-test", LogFormat::Text);
        assert!(second.export.is_none());
        tracing::info!("logged after init");
        second.shutdown();
        drop(first);
    }
}
