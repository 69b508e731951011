//! The AWS JSON 1.1 protocol (`aws kms`, `aws cloudtrail` and every AWS SDK) in front
//! of a keyhold gRPC service.
//!
//! A request is `POST /` with `X-Amz-Target: <prefix><Operation>`, a SigV4
//! signature, and the operation's input as JSON. The edge verifies the signature,
//! turns the JSON into the gRPC method's input message and calls the method
//! in-process through the same stack as gRPC callers: the same throttle, handlers,
//! key-policy evaluation and audit record (with the SDK's user agent). The gRPC
//! status comes back as AWS's `{"__type": ..., "message": ...}` with AWS's HTTP
//! status. docs/aws-json-apis.md says what differs from AWS.

pub mod errors;
pub mod translate;

use std::{collections::HashMap, convert::Infallible, net::SocketAddr, sync::Arc};

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Request, Response, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use prost::Message;
use prost_reflect::DynamicMessage;
use tonic::{Status, body::Body, transport::server::TcpConnectInfo};
use tower::{Service, ServiceExt};

use crate::{
    auth::Caller,
    catalog::{MethodInfo, first_frame},
    error::AwsError,
    principals::Principals,
    sigv4,
    stack::{AWS_REQUEST_ID_HEADER, AuditedBody, EdgeIdentity, KeyholdLayer, REQUEST_ID_HEADER},
};

pub use errors::ErrorBody;

/// The content type of every request and response of the protocol.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The largest request body read: KMS's largest input (a 32 KiB key policy) many
/// times over, and far below what would let a caller make the edge hold much.
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;
/// The largest response collected from a handler (50 LookupEvents records of the
/// largest size audit-svc stores fit).
const MAX_RESPONSE_BODY: usize = 16 * 1024 * 1024;
/// Headers passed on to the in-process gRPC call: the record's user agent and client
/// request id, and the trace the call joins. Nothing else (never credentials or
/// keyhold's service-to-service headers).
const FORWARDED_HEADERS: &[&str] = &["user-agent", REQUEST_ID_HEADER, "traceparent", "tracestate"];

/// One AWS JSON protocol: how its requests name operations and sign, which gRPC
/// services implement it, and the HTTP status of each of its exceptions.
#[derive(Debug)]
pub struct AwsProtocol {
    /// `X-Amz-Target` is one of these prefixes followed by the operation name (the
    /// SDKs do not agree: botocore sends CloudTrail's with its namespace, smithy-rs
    /// without).
    pub target_prefixes: &'static [&'static str],
    /// The service name of the SigV4 scope (`kms`, `cloudtrail`).
    pub signing_name: &'static str,
    /// The fully qualified gRPC services whose methods are the operations.
    pub grpc_services: &'static [&'static str],
    /// The HTTP status of each exception that is not answered with 400.
    pub statuses: &'static [(&'static str, u16)],
}

impl AwsProtocol {
    /// Whether `method` is one of the protocol's operations: a unary method of its
    /// services that is neither internal nor keyhold's own.
    pub fn serves(&self, method: &crate::catalog::MethodInfo) -> bool {
        self.grpc_services.contains(&method.service.as_str())
            && !(method.internal
                || method.keyhold_method
                || method.client_streaming
                || method.server_streaming)
    }
}

/// The protocol's HTTP edge: cheap to clone, one per port.
pub struct AwsEdge<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for AwsEdge<S> {
    fn clone(&self) -> Self {
        AwsEdge {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<S> {
    protocol: &'static AwsProtocol,
    operations: HashMap<String, MethodInfo>,
    /// The gRPC routes behind the stack, called in-process.
    service: S,
    principals: Arc<Principals>,
    region: String,
}

impl<S> AwsEdge<S>
where
    S: Service<Request<Body>, Response = Response<AuditedBody>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    /// The edge for `protocol` over `service`, the routes wrapped in `layer`.
    pub fn new(protocol: &'static AwsProtocol, layer: &KeyholdLayer, service: S) -> Self {
        let operations = layer
            .catalog()
            .methods()
            .filter(|method| protocol.serves(method))
            .map(|method| (method.name.clone(), method.clone()))
            .collect();
        let config = layer.config();
        AwsEdge {
            shared: Arc::new(Shared {
                protocol,
                operations,
                service,
                principals: config.principals.clone(),
                region: config.region.clone(),
            }),
        }
    }

    /// The operations served, by AWS name.
    pub fn operations(&self) -> impl Iterator<Item = &str> {
        self.shared.operations.keys().map(String::as_str)
    }

    pub async fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Full<Bytes>> {
        match self.call(request, peer).await {
            Ok(response) | Err(response) => response,
        }
    }

    async fn call(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Full<Bytes>>, Response<Full<Bytes>>> {
        let shared = &*self.shared;
        let protocol = shared.protocol;
        // Refusals before the stack have no call to record; they get an id of their own.
        let refuse =
            |error: ErrorBody| error.into_response(protocol, &uuid::Uuid::new_v4().to_string());
        let method = self.operation(&request).map_err(refuse)?;
        if !is_json_1_1(request.headers()) {
            return Err(refuse(ErrorBody::serialization(format!(
                "The request's Content-Type must be {CONTENT_TYPE}."
            ))));
        }
        let (parts, body) = request.into_parts();
        // Collected only through Limited (clippy.toml asks every collect to say so).
        #[allow(clippy::disallowed_methods)]
        let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                return Err(refuse(ErrorBody::too_large()));
            }
            // The client went away or stalled past the connection's idle timeout.
            Err(_) => {
                return Err(refuse(ErrorBody::serialization(
                    "The request body could not be read.".to_owned(),
                )));
            }
        };
        let signed = sigv4::SignedRequest {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            body: &body,
        };
        let scope = sigv4::Scope {
            service: protocol.signing_name,
            region: &shared.region,
        };
        let outcome = sigv4::verify(&shared.principals, &signed, scope, chrono::Utc::now())
            .map(|principal| Caller {
                principal,
                via: None,
            })
            .map_err(|error| {
                AwsError::new(tonic::Code::Unauthenticated, error.exception, error.message)
            });
        let input = match translate::request_from_json(&method.input, &body) {
            Ok(input) => input,
            // Who is refused is recorded with what could be read of the request;
            // only an authenticated caller learns what was wrong with its body.
            Err(_) if outcome.is_err() => DynamicMessage::new(method.input.clone()),
            Err(error) => return Err(refuse(ErrorBody::from(error))),
        };
        let identity = EdgeIdentity {
            outcome,
            presented_access_key: sigv4::presented_access_key(&parts.headers),
        };
        let grpc = grpc_request(&method, &parts.headers, &input, identity, peer);
        let response = shared
            .service
            .clone()
            .oneshot(grpc)
            .await
            .unwrap_or_else(|never| match never {});
        let (request_id, bytes, status) = collect(response).await;
        if status.code() != tonic::Code::Ok {
            return Err(ErrorBody::from_status(&status).into_response(protocol, &request_id));
        }
        let output = first_frame(&bytes)
            .and_then(|frame| DynamicMessage::decode(method.output.clone(), frame).ok())
            .unwrap_or_else(|| DynamicMessage::new(method.output.clone()));
        let json = translate::response_to_json(&output);
        Ok(json_response(200, json.to_string(), &request_id))
    }

    fn operation(&self, request: &Request<Incoming>) -> Result<MethodInfo, ErrorBody> {
        let protocol = self.shared.protocol;
        let target = request
            .headers()
            .get("x-amz-target")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let method = protocol
            .target_prefixes
            .iter()
            .find_map(|prefix| target.strip_prefix(prefix))
            .and_then(|name| self.shared.operations.get(name));
        match method {
            Some(method) if request.method() == Method::POST && request.uri().path() == "/" => {
                Ok(method.clone())
            }
            _ => Err(ErrorBody::unknown_operation(target)),
        }
    }
}

/// The whole answer of the in-process call, bounded: its request id, the body and
/// the final status (from the headers of a trailers-only answer, else the trailers).
/// Reading it to the end completes the call's record before the client is answered.
async fn collect(response: Response<AuditedBody>) -> (String, Bytes, Status) {
    let request_id = response
        .headers()
        .get(AWS_REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let trailers_only = Status::from_header_map(response.headers());
    // Collected only through Limited (clippy.toml asks every collect to say so).
    #[allow(clippy::disallowed_methods)]
    let collected = Limited::new(response.into_body(), MAX_RESPONSE_BODY)
        .collect()
        .await;
    let (bytes, status) = match collected {
        Ok(collected) => {
            let status =
                trailers_only.or_else(|| collected.trailers().and_then(Status::from_header_map));
            (collected.to_bytes(), status)
        }
        Err(_) => (
            Bytes::new(),
            Some(Status::internal("the response could not be read")),
        ),
    };
    let status = status.unwrap_or_else(|| Status::internal("the call ended without a status"));
    (request_id, bytes, status)
}

fn is_json_1_1(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

/// The in-process gRPC call: `input` in one uncompressed frame, to the method's path.
fn grpc_request(
    method: &MethodInfo,
    headers: &HeaderMap,
    input: &DynamicMessage,
    identity: EdgeIdentity,
    peer: SocketAddr,
) -> Request<Body> {
    let encoded = input.encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + encoded.len());
    frame.put_u8(0);
    frame.put_u32(encoded.len() as u32);
    frame.put_slice(&encoded);
    let mut request = Request::new(Body::new(Full::new(frame.freeze())));
    *request.method_mut() = Method::POST;
    if let Ok(uri) = format!("/{}/{}", method.service, method.name).parse() {
        *request.uri_mut() = uri;
    }
    let forwarded = request.headers_mut();
    forwarded.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    forwarded.insert(header::TE, HeaderValue::from_static("trailers"));
    for name in FORWARDED_HEADERS {
        if let Some(value) = headers.get(*name) {
            forwarded.insert(*name, value.clone());
        }
    }
    request.extensions_mut().insert(TcpConnectInfo {
        local_addr: None,
        remote_addr: Some(peer),
    });
    request.extensions_mut().insert(identity);
    request
}

fn json_response(status: u16, body: String, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(AWS_REQUEST_ID_HEADER, value);
    }
    response
}
