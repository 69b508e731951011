//! The HTTP edge in front of s3s: what every S3 request gets once, whatever its
//! operation. It assigns the request id, refuses what keyhold does not serve (SigV2,
//! presigned URLs valid for more than 7 days), applies the audit sink's admission and
//! the per-caller quota, renders every error body as S3 does, and turns the request
//! into exactly one CloudTrail record when its response body is done.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use keyhold_platform::{AuditSink, auth, sigv4, throttle::Throttle};
use s3s::service::S3Service;
use tokio::time::Sleep;

use super::{
    audit::PendingRecord,
    body::{chunk_too_large, incomplete_body, request_timeout},
    call::S3Call,
    chunk_guard::{ChunkSizes, MAX_CHUNK_BYTES},
    errors::{MAX_PRESIGN_SECONDS, RenderedError, SIGV2_REFUSED, SLOW_DOWN},
};
use crate::access::Origin;

/// Error bodies are small XML documents; anything bigger is not one of ours.
const MAX_ERROR_BODY: usize = 64 * 1024;

#[derive(Clone)]
pub struct Edge(Arc<EdgeShared>);

pub(super) struct EdgeShared {
    pub service: S3Service,
    pub sink: Arc<dyn AuditSink>,
    pub throttle: Option<Arc<Throttle>>,
    pub account_id: String,
    pub region: String,
    pub body_idle_timeout: Duration,
    /// The S3 requests served, counted as their records are made.
    pub calls: keyhold_platform::metrics::CallMetrics,
}

/// How a request proves who sent it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Authentication {
    #[default]
    Anonymous,
    /// SigV4 in the Authorization header.
    AuthHeader,
    /// SigV4 in the query string (a presigned URL).
    QueryString,
    /// Signature Version 2, which keyhold refuses (as AWS does in newer regions).
    SigV2,
}

impl Authentication {
    /// The scheme s3s will check, found the way s3s looks for it, so that what the
    /// edge decides (refusal, 7-day limit, whose quota) is about the check that is
    /// actually made: SigV2 first (a `Signature` query parameter, or an
    /// Authorization header `AWS ...`), then a SigV4 presigned URL
    /// (`X-Amz-Signature`), then any other Authorization header. Any other sign of
    /// SigV2 (`AWSAccessKeyId`) is SigV2 too. Other `X-Amz-*` parameters prove
    /// nothing: such a request is anonymous. The access hook checks that s3s agreed.
    fn of(headers: &HeaderMap, query: &str) -> Self {
        let names: Vec<String> = query_pairs(query).map(|(name, _)| name).collect();
        let has = |wanted: &str| names.iter().any(|name| name == wanted);
        // As s3s reads header values: any UTF-8, not only visible ASCII.
        let authorizations: Vec<&str> = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .map(|value| std::str::from_utf8(value.as_bytes()).unwrap_or_default())
            .collect();
        if has("Signature")
            || has("AWSAccessKeyId")
            || authorizations.iter().any(|value| value.starts_with("AWS "))
        {
            Authentication::SigV2
        } else if has("X-Amz-Signature") {
            Authentication::QueryString
        } else if !authorizations.is_empty() {
            Authentication::AuthHeader
        } else {
            Authentication::Anonymous
        }
    }

    pub fn is_sigv4(self) -> bool {
        matches!(
            self,
            Authentication::AuthHeader | Authentication::QueryString
        )
    }
}

pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(name), decode(value))
    })
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The access key id a SigV4 request presents, valid or not (for the record of a
/// refusal).
fn presented_access_key(
    headers: &HeaderMap,
    query: &str,
    authentication: Authentication,
) -> Option<String> {
    match authentication {
        Authentication::AuthHeader => sigv4::presented_access_key(headers),
        Authentication::QueryString => query_pairs(query)
            .find(|(name, _)| name == "X-Amz-Credential")
            .and_then(|(_, value)| value.split('/').next().map(str::to_owned)),
        Authentication::Anonymous | Authentication::SigV2 => None,
    }
}

/// The connection's condition keys. The S3 endpoint serves plain HTTP (TLS is the
/// ingress's), so aws:SecureTransport is false here.
fn origin(request: &Request<Incoming>, peer: SocketAddr) -> Origin {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    Origin {
        source_ip: Some(peer.ip()),
        secure_transport: false,
        source_arn: header(auth::SOURCE_ARN_HEADER),
        source_account: header(auth::SOURCE_ACCOUNT_HEADER),
    }
}

impl Edge {
    pub(super) fn new(shared: EdgeShared) -> Self {
        Edge(Arc::new(shared))
    }

    pub async fn handle(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<EdgeBody> {
        let shared = &self.0;
        let query = request.uri().query().unwrap_or_default().to_owned();
        let authentication = Authentication::of(request.headers(), &query);
        let call = S3Call::default();
        let origin = origin(&request, peer);
        call.update(|state| {
            state.authentication = authentication;
            state.origin = origin;
        });
        let pending = PendingRecord::new(
            shared.clone(),
            &request,
            peer,
            authentication,
            presented_access_key(request.headers(), &query, authentication),
            call.clone(),
        );

        if let Some((refusal, status)) = refusal(&request, &query, authentication) {
            return pending.respond_with_error(refusal, status);
        }
        if let Err(refused) = shared.sink.admit() {
            let error = RenderedError::new("ServiceUnavailable", &refused.message);
            return pending.respond_with_error(error, StatusCode::SERVICE_UNAVAILABLE);
        }
        // Anonymous callers share one quota per source address; signed requests are
        // counted against their principal once verified (auth.rs), so that nobody
        // can spend another user's quota by presenting their access key id.
        if authentication == Authentication::Anonymous
            && let Some(Err(_)) = shared
                .throttle
                .as_ref()
                .map(|t| t.admit(&peer.ip().to_string()))
        {
            return pending.respond_with_error(slow_down(), StatusCode::SERVICE_UNAVAILABLE);
        }
        let is_head = request.method() == Method::HEAD;
        let (mut parts, body) = request.into_parts();
        drop_ignored_range(&mut parts.headers, &query);
        parts.extensions.insert(call.clone());
        let body = s3s::Body::http_body_unsync(CountingBody {
            inner: body,
            call: call.clone(),
            idle: shared.body_idle_timeout,
            stalled: None,
            chunks: is_aws_chunked(&parts.headers).then(ChunkSizes::default),
        });
        let response = match shared.service.call(Request::from_parts(parts, body)).await {
            Ok(response) => response,
            Err(error) => {
                tracing::error!(error = ?error, "the S3 service failed");
                let error = RenderedError::new(
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                );
                return pending.respond_with_error(error, StatusCode::INTERNAL_SERVER_ERROR);
            }
        };
        let (mut parts, body) = response.into_parts();
        if parts.status.is_client_error() || parts.status.is_server_error() {
            // Collected only through Limited (clippy.toml asks every collect to say so).
            #[allow(clippy::disallowed_methods)]
            let bytes = match Limited::new(body, MAX_ERROR_BODY).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => Bytes::new(),
            };
            let mut error = RenderedError::from_s3s_body(&bytes, pending.handler_error().as_ref());
            // s3s answers 500 for a document whose body failed to arrive: the body's
            // own failure says what happened.
            if parts.status.is_server_error()
                && let Some(failure) = call.snapshot().body_failure
                && let Ok(status) = StatusCode::from_u16(failure.status)
            {
                error = RenderedError::new(failure.code, &failure.message);
                parts.status = status;
            }
            return pending.respond_with_error_parts(error, parts);
        }
        if is_head
            && parts.status == StatusCode::OK
            && parts.headers.contains_key(header::CONTENT_RANGE)
        {
            parts.status = StatusCode::PARTIAL_CONTENT;
        }
        if parts.status == StatusCode::NOT_MODIFIED {
            // A 304 has no body: only the validators the handler set.
            parts.headers.remove(header::CONTENT_TYPE);
            parts.headers.remove(header::CONTENT_LENGTH);
            return pending.respond(parts, s3s::Body::empty());
        }
        pending.respond(parts, body)
    }
}

/// S3 ignores a Range header it cannot use (reversed, several ranges, another unit)
/// and serves the whole object; s3s would refuse it, so it goes before s3s sees it,
/// unless it is signed (removing it would break the signature: s3s then answers
/// 400 InvalidArgument, a known difference).
fn drop_ignored_range(headers: &mut HeaderMap, query: &str) {
    let Some(value) = headers.get(header::RANGE) else {
        return;
    };
    if value
        .to_str()
        .is_ok_and(|text| s3s::dto::Range::parse(text).is_ok())
    {
        return;
    }
    let signed_headers = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| sigv4::parse_authorization(v).ok())
        .map(|authorization| authorization.signed_headers.join(";"))
        .or_else(|| {
            query_pairs(query)
                .find(|(name, _)| name == "X-Amz-SignedHeaders")
                .map(|(_, value)| value)
        })
        .unwrap_or_default();
    if !signed_headers.split(';').any(|name| name == "range") {
        headers.remove(header::RANGE);
    }
}

pub fn slow_down() -> RenderedError {
    RenderedError::new("SlowDown", SLOW_DOWN)
}

/// What the edge refuses before s3s sees the request (and before its body is read).
fn refusal(
    request: &Request<Incoming>,
    query: &str,
    authentication: Authentication,
) -> Option<(RenderedError, StatusCode)> {
    let bad_request = |error| Some((error, StatusCode::BAD_REQUEST));
    if authentication == Authentication::SigV2 {
        return bad_request(RenderedError::new("InvalidRequest", SIGV2_REFUSED));
    }
    if authentication == Authentication::QueryString {
        // Every value, should there be several (s3s refuses those, but later).
        let too_long = query_pairs(query)
            .filter(|(name, _)| name == "X-Amz-Expires")
            .any(|(_, value)| {
                value
                    .parse::<u64>()
                    .map_or(true, |seconds| seconds > MAX_PRESIGN_SECONDS)
            });
        if too_long {
            return bad_request(RenderedError::new(
                "AuthorizationQueryParametersError",
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
            ));
        }
    }
    if request.method() == Method::POST
        && (request.uri().query().is_none() || is_form_upload(request.headers()))
    {
        // Browser-form uploads (POST Object) are not part of keyhold's S3 API, and
        // s3s would read the form's file part into memory before any check.
        return Some((
            RenderedError::new(
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
            ),
            StatusCode::NOT_IMPLEMENTED,
        ));
    }
    None
}

/// A `multipart/form-data` body: what s3s takes for a browser-form upload.
fn is_form_upload(headers: &HeaderMap) -> bool {
    headers.get_all(header::CONTENT_TYPE).iter().any(|value| {
        let essence = value
            .as_bytes()
            .split(|b| *b == b';')
            .next()
            .unwrap_or_default();
        essence
            .trim_ascii()
            .eq_ignore_ascii_case(b"multipart/form-data")
    })
}

/// The request body, counted as it is read (CloudTrail's bytesTransferredIn), and
/// failed with S3's RequestTimeout when the client stops sending it for `idle`
/// (the connection is not timed while its request runs: this is what bounds a
/// trickled body).
struct CountingBody {
    inner: Incoming,
    call: S3Call,
    idle: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    /// The chunk sizes of an aws-chunked body (see chunk_guard.rs).
    chunks: Option<ChunkSizes>,
}

/// Whether s3s will decode the body as aws-chunked (it decides by this header).
fn is_aws_chunked(headers: &HeaderMap) -> bool {
    headers
        .get_all("x-amz-content-sha256")
        .iter()
        .any(|value| value.as_bytes().starts_with(b"STREAMING-"))
}

/// What a stalled request body fails with.
#[derive(Debug, thiserror::Error)]
#[error("RequestTimeout: the client sent nothing of the request body for {0:?}")]
struct BodyStalled(Duration);

#[derive(Debug, thiserror::Error)]
#[error("an aws-chunked chunk is larger than {MAX_CHUNK_BYTES} bytes")]
struct ChunkRefused;

impl HttpBody for CountingBody {
    type Data = Bytes;
    type Error = s3s::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, s3s::StdError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                let idle = this.idle;
                let timer = this
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.call.update(|state| {
                    state.body_failure.get_or_insert_with(request_timeout);
                });
                Poll::Ready(Some(Err(Box::new(BodyStalled(idle)))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                this.stalled = None;
                if let Some(data) = frame.data_ref() {
                    this.call.add_bytes_in(data.len() as u64);
                    if let Some(chunks) = this.chunks.as_mut()
                        && chunks.observe(data).is_err()
                    {
                        this.call.update(|state| {
                            state.body_failure.get_or_insert_with(chunk_too_large);
                        });
                        return Poll::Ready(Some(Err(Box::new(ChunkRefused))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                // The connection broke or ended mid-body.
                this.call.update(|state| {
                    state.body_failure.get_or_insert_with(incomplete_body);
                });
                Poll::Ready(Some(Err(Box::new(error))))
            }
            Poll::Ready(None) => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The response body; its record is sent as its last frame goes out (or when it is
/// dropped: the client went away), with the bytes that actually left. Before the last
/// frame, not after: a client that waits for one response before its next request
/// finds its requests recorded in its order.
pub struct EdgeBody {
    inner: s3s::Body,
    pending: Option<Box<PendingRecord>>,
}

impl EdgeBody {
    pub(super) fn new(inner: s3s::Body, pending: PendingRecord) -> Self {
        EdgeBody {
            inner,
            pending: Some(Box::new(pending)),
        }
    }
}

impl HttpBody for EdgeBody {
    type Data = Bytes;
    type Error = s3s::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, s3s::StdError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some(pending)) = (&polled, this.pending.as_mut())
            && let Some(data) = frame.data_ref()
        {
            pending.bytes_out += data.len() as u64;
        }
        let last = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            _ => false,
        };
        if last && let Some(pending) = this.pending.take() {
            pending.finish();
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

impl Drop for EdgeBody {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.finish();
        }
    }
}

pub(super) fn set_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(authorization: &[&str], query: &str) -> Authentication {
        let mut headers = HeaderMap::new();
        for value in authorization {
            headers.append(header::AUTHORIZATION, value.parse().unwrap());
        }
        Authentication::of(&headers, query)
    }

    #[test]
    fn requests_are_classified_by_the_check_s3s_makes() {
        use Authentication::*;
        let sigv4 = "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab";
        let cases = [
            (&[][..], "", Anonymous),
            (&[], "X-Amz-Credential=x", Anonymous),
            (&[], "X-Amz-Credential=x&X-Amz-Expires=1", Anonymous),
            (&[], "X-Amz-Signature=x&X-Amz-Credential=x", QueryString),
            (&[], "X-Amz-%53ignature=x", QueryString),
            (&[], "AWSAccessKeyId=a&Expires=1&Signature=s", SigV2),
            (
                &[],
                "AWSAccessKeyId=a&Expires=1&Signature=s&X-Amz-Credential=x",
                SigV2,
            ),
            (&[], "X-Amz-Signature=x&Signature=s", SigV2),
            (&[], "AWSAccessKeyId=a", SigV2),
            (&[sigv4], "", AuthHeader),
            (&[sigv4], "Signature=s", SigV2),
            (&["AWS a:b"], "X-Amz-Signature=x", SigV2),
            (&[sigv4, "AWS a:b"], "", SigV2),
            (&["Bearer x"], "", AuthHeader),
        ];
        for (authorization, query, expected) in cases {
            assert_eq!(
                classify(authorization, query),
                expected,
                "{authorization:?} {query}"
            );
        }
    }
}
