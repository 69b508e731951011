//! The one tower stack in front of every keyhold gRPC service: request id, trace
//! span, authentication, and the audit hook that turns every call (success or
//! failure) into exactly one CloudTrail record. Handlers never repeat any of it.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;
use tonic::{Status, body::Body, transport::server::TcpConnectInfo};
use tower::{Layer, Service, ServiceExt};
use tracing::Instrument;

use crate::{
    audit::{AuditNotes, AuditSink, CloudTrailEvent, EVENT_VERSION, UserIdentity},
    auth::{self, Caller},
    catalog::{MethodCatalog, MethodInfo, first_frame},
    error::exception_of,
    metrics::CallMetrics,
    principals::{PrincipalKind, Principals},
    telemetry,
    throttle::Throttle,
};

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The longest client request id a record keeps.
/// The response header AWS SDKs read the request id from.
pub const AWS_REQUEST_ID_HEADER: &str = "x-amzn-requestid";
/// tonic's default limit on a decoded message, plus the 5-byte gRPC frame header.
const MAX_UNARY_REQUEST: usize = 4 * 1024 * 1024 + 5;
/// Responses bigger than this are not decoded into `responseElements`.
const MAX_CAPTURED_RESPONSE: usize = 64 * 1024;

/// The request id of a call, in its extensions (also sent back in a header).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Who made a call that came in through an AWS protocol edge, which verified its
/// SigV4 signature before handing the call to the stack in-process. The stack takes
/// this instead of authenticating the call's headers; only in-process callers can
/// put an extension on a request.
#[derive(Debug, Clone)]
pub struct EdgeIdentity {
    pub outcome: Result<Caller, crate::error::AwsError>,
    /// The access key id the request presented, authenticated or not.
    pub presented_access_key: Option<String>,
}

/// What the stack needs to know about the service it fronts.
pub struct StackConfig {
    /// Names the binary, its image, Deployment and OTel `service.name`.
    pub service_name: &'static str,
    /// CloudTrail `eventSource`, also the ErrorInfo domain.
    pub event_source: &'static str,
    pub account_id: String,
    pub region: String,
    pub principals: Arc<Principals>,
    pub sink: Arc<dyn AuditSink>,
    /// Requests per second each principal may make; None for no quota.
    pub requests_per_second: Option<u32>,
    /// Whether calls without credentials reach the handlers (as anonymous: no
    /// [`Caller`] in the extensions). Only object-svc serves anonymous readers.
    pub allow_anonymous: bool,
    /// Where to serve Prometheus metrics; None for nowhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// What the metrics show besides the sink's own.
    pub collectors: Vec<Box<dyn prometheus_client::collector::Collector>>,
    /// The gRPC calls served, counted as they finish.
    pub calls: CallMetrics,
    /// Where to serve grpc.health.v1 alone in plaintext; None for nowhere.
    pub health_listen: Option<std::net::SocketAddr>,
    /// The TLS settings of the gRPC port (loaded when it starts serving).
    pub tls: crate::tls::TlsArgs,
}

impl StackConfig {
    /// The stack of a service configured by the shared flags.
    pub fn new(
        common: &crate::config::CommonArgs,
        service_name: &'static str,
        event_source: &'static str,
        principals: Arc<Principals>,
        sink: Arc<dyn AuditSink>,
    ) -> Self {
        StackConfig {
            service_name,
            event_source,
            account_id: common.account_id.clone(),
            region: common.region.clone(),
            principals,
            sink,
            requests_per_second: Some(common.requests_per_second),
            allow_anonymous: false,
            metrics_listen: common.metrics_listen,
            collectors: Vec::new(),
            calls: CallMetrics::new("keyhold_grpc_server"),
            health_listen: common.health_listen,
            tls: common.tls.clone(),
        }
    }

    /// Adds what `collector` reports to the metrics.
    pub fn with_collector(
        mut self,
        collector: Box<dyn prometheus_client::collector::Collector>,
    ) -> Self {
        self.collectors.push(collector);
        self
    }

    /// Lets calls without credentials through, as anonymous callers.
    pub fn allowing_anonymous(mut self) -> Self {
        self.allow_anonymous = true;
        self
    }
}

#[derive(Clone)]
pub struct KeyholdLayer {
    shared: Arc<Shared>,
}

struct Shared {
    config: StackConfig,
    catalog: MethodCatalog,
    throttle: Option<Throttle>,
}

impl KeyholdLayer {
    /// What the stack knows of every method it serves.
    pub fn catalog(&self) -> &MethodCatalog {
        &self.shared.catalog
    }

    /// The stack's configuration.
    pub fn config(&self) -> &StackConfig {
        &self.shared.config
    }

    pub fn new(config: StackConfig) -> Self {
        let catalog = MethodCatalog::new(keyhold_proto::descriptor_pool());
        let throttle = config
            .requests_per_second
            .filter(|rate| *rate > 0)
            .map(Throttle::new);
        KeyholdLayer {
            shared: Arc::new(Shared {
                config,
                catalog,
                throttle,
            }),
        }
    }
}

impl<S> Layer<S> for KeyholdLayer {
    type Service = KeyholdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyholdService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct KeyholdService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request<Body>> for KeyholdService<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response<AuditedBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The ready clone stays with us; the clone that was polled ready serves the call.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let Some(method) = shared.catalog.method(request.uri().path()).cloned() else {
            // Health, reflection and unknown paths: no caller, no audit record.
            return Box::pin(async move {
                let response = ready.oneshot(request).await?;
                Ok(response.map(AuditedBody::plain))
            });
        };
        if method.internal {
            return Box::pin(internal_call(shared, ready, method, request));
        }
        // Always keyhold's own: consumers take a record's requestID as unique, which a
        // client's id cannot be trusted to be.
        let request_id = uuid::Uuid::new_v4().to_string();
        let span = telemetry::server_span(&request);
        span.record("request_id", request_id.as_str());
        Box::pin(handle(shared, ready, method, request_id, request).instrument(span))
    }
}

async fn handle<S>(
    shared: Arc<Shared>,
    inner: S,
    method: MethodInfo,
    request_id: String,
    mut request: Request<Body>,
) -> Result<Response<AuditedBody>, Infallible>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let config = &shared.config;
    let edge = request.extensions_mut().remove::<EdgeIdentity>();
    let headers = request.headers();
    let mut pending = PendingEvent {
        recorded: true,
        started: Instant::now(),
        // `handle` runs inside the call's span.
        traceparent: telemetry::sampled_traceparent(&tracing::Span::current()),
        shared: shared.clone(),
        request_id: request_id.clone(),
        client_request_id: crate::audit::client_request_id(headers),
        user_agent: header_text(headers, "user-agent"),
        source_ip: request
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr)
            .map(|addr| addr.ip().to_string())
            .unwrap_or_default(),
        presented_access_key: match &edge {
            Some(edge) => edge.presented_access_key.clone(),
            None => auth::presented_access_key(headers),
        },
        caller: None,
        notes: AuditNotes::default(),
        request_parameters: Value::Null,
        response_frame: Vec::new(),
        status: None,
        method,
    };

    let tls = request.extensions().get::<auth::TlsPeer>();
    let anonymous = config.allow_anonymous
        && !headers.contains_key(auth::AUTHORIZATION_HEADER)
        && tls.is_none_or(|peer| peer.service.is_none());
    let authenticated = match edge {
        Some(edge) => Some(edge.outcome),
        None if anonymous => None,
        None => Some(auth::authenticate(&config.principals, headers, tls)),
    };
    let caller = match authenticated {
        None => None,
        Some(outcome) => match outcome {
            Ok(caller) => Some(caller),
            Err(error) => {
                let status = error.into_status(config.event_source);
                return Ok(respond_with_status(status, pending));
            }
        },
    };
    pending.caller = caller.clone();
    if let Err(refused) = config.sink.admit() {
        return Ok(respond_with_status(
            refused.into_status(config.event_source),
            pending,
        ));
    }
    // Calls a service makes for a user count against the user's quota, as in AWS.
    // Anonymous callers share one quota per source address.
    let quota_key = match &caller {
        // Principals without keys (services over TLS) are told apart by ARN.
        Some(caller) => caller.principal.arn.as_str(),
        None => pending.source_ip.as_str(),
    };
    let quota = shared.throttle.as_ref().map(|t| t.admit(quota_key));
    if let Some(Err(refused)) = quota {
        return Ok(respond_with_status(
            refused.into_status(config.event_source),
            pending,
        ));
    }

    let (mut parts, body) = request.into_parts();
    // Collected only through Limited (clippy.toml asks every collect to say so).
    #[allow(clippy::disallowed_methods)]
    let body = if pending.method.client_streaming {
        body
    } else {
        // Unary requests are small; buffering one (no more than tonic would decode)
        // lets the record show its parameters without a second decode in the handler.
        match Limited::new(body, MAX_UNARY_REQUEST).collect().await {
            Ok(collected) => {
                let bytes = collected.to_bytes();
                if let Some(message) = first_frame(&bytes) {
                    pending.request_parameters = shared
                        .catalog
                        .render(&pending.method.input, message)
                        .unwrap_or(Value::Null);
                }
                Body::new(Full::new(bytes))
            }
            Err(error) => {
                let status = match error.downcast::<Status>() {
                    Ok(status) => *status,
                    Err(_) => Status::out_of_range(format!(
                        "the request message is larger than {MAX_UNARY_REQUEST} bytes"
                    )),
                };
                return Ok(respond_with_status(status, pending));
            }
        }
    };
    if let Some(caller) = caller {
        parts.extensions.insert(caller);
    }
    parts.extensions.insert(pending.notes.clone());
    parts.extensions.insert(RequestId(request_id.clone()));

    let response = inner.oneshot(Request::from_parts(parts, body)).await?;
    // A trailers-only response (every error of a unary call) has its status here.
    pending.status = Status::from_header_map(response.headers());
    let mut response = response.map(|body| AuditedBody::audited(body, pending));
    set_request_id(response.headers_mut(), &request_id);
    Ok(response)
}

/// Plumbing between services: the caller must be a service principal, and the call
/// leaves no record (recording the audit pipeline would feed it its own traffic).
async fn internal_call<S>(
    shared: Arc<Shared>,
    inner: S,
    method: MethodInfo,
    mut request: Request<Body>,
) -> Result<Response<AuditedBody>, Infallible>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let config = &shared.config;
    // Counted (never recorded) when its stream ends: internal methods all stream.
    let mut pending = PendingEvent::unrecorded(shared.clone(), method);
    let tls = request.extensions().get::<auth::TlsPeer>();
    let refused = match auth::authenticate(&config.principals, request.headers(), tls) {
        Ok(caller) if caller.principal.kind == PrincipalKind::Service => {
            request.extensions_mut().insert(caller);
            None
        }
        Ok(caller) => Some(crate::error::AwsError::access_denied(format!(
            "{} is not a service principal: only keyhold services may call {}",
            caller.principal.arn,
            request.uri().path()
        ))),
        Err(error) => Some(error),
    };
    if let Some(error) = refused {
        let status = error.into_status(config.event_source);
        pending.status = Some(status.clone());
        return Ok(status
            .into_http::<Body>()
            .map(|body| AuditedBody::audited(body, pending)));
    }
    let response = inner.oneshot(request).await?;
    pending.status = Status::from_header_map(response.headers());
    Ok(response.map(|body| AuditedBody::audited(body, pending)))
}

/// Counts a finished call under its errorCode (None for a success).
fn count_call(
    calls: &CallMetrics,
    method: &MethodInfo,
    error_code: Option<&str>,
    started: Instant,
) {
    let operation = format!("{}/{}", method.service, method.name);
    calls.observe(&operation, error_code, started);
}

/// The errorCode a call's record names: None for a success.
fn error_code_of(status: Option<&Status>) -> Option<String> {
    match status {
        Some(status) if status.code() == tonic::Code::Ok => None,
        Some(status) => Some(cloudtrail_error_code(
            exception_of(status).unwrap_or_else(|| format!("{:?}", status.code())),
        )),
        // The client went away before the call finished.
        None => Some("RequestCanceled".to_owned()),
    }
}

fn respond_with_status(status: Status, mut pending: PendingEvent) -> Response<AuditedBody> {
    let request_id = pending.request_id.clone();
    pending.status = Some(status.clone());
    let mut response = status
        .into_http::<Body>()
        .map(|body| AuditedBody::audited(body, pending));
    set_request_id(response.headers_mut(), &request_id);
    response
}

fn set_request_id(headers: &mut http::HeaderMap, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(AWS_REQUEST_ID_HEADER, value.clone());
        headers.insert(REQUEST_ID_HEADER, value);
    }
}

fn header_text(headers: &http::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Everything known about a call while it runs; becomes its record when the response
/// body is done (dropped), which happens exactly once per call.
struct PendingEvent {
    /// False for internal calls: counted in the metrics, never recorded.
    recorded: bool,
    started: Instant,
    traceparent: Option<String>,
    shared: Arc<Shared>,
    method: MethodInfo,
    request_id: String,
    client_request_id: Option<String>,
    user_agent: String,
    source_ip: String,
    presented_access_key: Option<String>,
    caller: Option<Caller>,
    notes: AuditNotes,
    request_parameters: Value,
    response_frame: Vec<u8>,
    status: Option<Status>,
}

impl PendingEvent {
    /// An internal call's: only its end and status matter.
    fn unrecorded(shared: Arc<Shared>, method: MethodInfo) -> Self {
        PendingEvent {
            recorded: false,
            started: Instant::now(),
            traceparent: None,
            shared,
            method,
            request_id: String::new(),
            client_request_id: None,
            user_agent: String::new(),
            source_ip: String::new(),
            presented_access_key: None,
            caller: None,
            notes: AuditNotes::default(),
            request_parameters: Value::Null,
            response_frame: Vec::new(),
            status: None,
        }
    }

    fn finish(self) {
        let config = &self.shared.config;
        let error_code = error_code_of(self.status.as_ref());
        count_call(
            &config.calls,
            &self.method,
            error_code.as_deref(),
            self.started,
        );
        if !self.recorded {
            return;
        }
        let notes = self.notes.take();
        let error_message = match &self.status {
            Some(status) if error_code.is_some() => Some(status.message().to_owned()),
            _ => None,
        };
        let response_elements = if self.method.read_only || error_code.is_some() {
            Value::Null
        } else {
            first_frame(&self.response_frame)
                .and_then(|message| self.shared.catalog.render(&self.method.output, message))
                .unwrap_or(Value::Null)
        };
        let via_service = self
            .caller
            .as_ref()
            .and_then(Caller::via_service)
            .map(str::to_owned);
        let event = CloudTrailEvent {
            event_version: EVENT_VERSION,
            user_identity: self.user_identity(),
            event_time: crate::audit::event_time_now(),
            event_source: config.event_source.to_owned(),
            event_name: self.method.name.clone(),
            aws_region: config.region.clone(),
            source_ip_address: via_service.unwrap_or(self.source_ip),
            user_agent: self.user_agent,
            error_code,
            error_message,
            request_parameters: renamed(
                notes.request_parameters.unwrap_or(self.request_parameters),
                &notes.parameter_names,
            ),
            response_elements,
            additional_event_data: with_client_request_id(
                notes.additional_event_data,
                self.client_request_id,
            ),
            request_id: self.request_id,
            event_id: uuid::Uuid::new_v4().to_string(),
            read_only: self.method.read_only,
            resources: notes.resources,
            event_type: "AwsApiCall",
            management_event: !self.method.data_event,
            recipient_account_id: config.account_id.clone(),
            event_category: if self.method.data_event {
                "Data"
            } else {
                "Management"
            },
            tls_details: None,
        };
        config.sink.record_in_trace(event, self.traceparent);
    }

    fn user_identity(&self) -> UserIdentity {
        crate::audit::user_identity(
            self.caller.as_ref(),
            self.presented_access_key.as_deref(),
            &self.shared.config.account_id,
        )
    }
}

fn with_client_request_id(data: Option<Value>, client_id: Option<String>) -> Option<Value> {
    let Some(client_id) = client_id else {
        return data;
    };
    let mut data = match data {
        Some(Value::Object(fields)) => fields,
        None => serde_json::Map::new(),
        // Handlers only ever note objects; another shape is left as it is.
        Some(other) => return Some(other),
    };
    data.insert("clientRequestId".to_owned(), Value::String(client_id));
    Some(Value::Object(data))
}

/// Top-level request fields under the names CloudTrail shows them by.
fn renamed(mut parameters: Value, names: &[(&'static str, &'static str)]) -> Value {
    if let Value::Object(fields) = &mut parameters {
        for (field, shown) in names {
            if let Some(value) = fields.remove(*field) {
                fields.insert((*shown).to_owned(), value);
            }
        }
    }
    parameters
}

/// CloudTrail names errors by the exception, except refusals, which it records as
/// `AccessDenied` whatever the service calls them.
fn cloudtrail_error_code(exception: String) -> String {
    if exception == "AccessDeniedException" {
        "AccessDenied".to_owned()
    } else {
        exception
    }
}

/// The response body, watched for the response message and the final status so the
/// call's record can be completed; plain for calls that are not audited.
pub struct AuditedBody {
    inner: Body,
    pending: Option<Box<PendingEvent>>,
}

impl AuditedBody {
    fn plain(inner: Body) -> Self {
        AuditedBody {
            inner,
            pending: None,
        }
    }

    fn audited(inner: Body, pending: PendingEvent) -> Self {
        AuditedBody {
            inner,
            pending: Some(Box::new(pending)),
        }
    }
}

impl HttpBody for AuditedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let Some(pending) = this.pending.as_mut() else {
            return polled;
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let wanted = pending.recorded
                        && !pending.method.read_only
                        && !pending.method.server_streaming;
                    if wanted && pending.response_frame.len() + data.len() <= MAX_CAPTURED_RESPONSE
                    {
                        pending.response_frame.extend_from_slice(data);
                    }
                } else if let Some(trailers) = frame.trailers_ref() {
                    pending.status = Status::from_header_map(trailers);
                    // Recorded before the client can see the call end: a caller's
                    // calls are recorded in the order it made them.
                    if let Some(pending) = this.pending.take() {
                        pending.finish();
                    }
                }
            }
            // The end without trailers (a trailers-only response's empty body).
            Poll::Ready(None) => {
                if let Some(pending) = this.pending.take() {
                    pending.finish();
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AuditedBody {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.finish();
        }
    }
}
