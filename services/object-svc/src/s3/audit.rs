//! The CloudTrail record of an S3 request, as S3 writes it: eventSource
//! s3.amazonaws.com, bucketName/Host/key in requestParameters, the SSE response
//! headers as responseElements, and additionalEventData with the signature version,
//! authentication method and bytes transferred.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use http::{HeaderMap, Request, Response, StatusCode, header, response::Parts};
use hyper::body::Incoming;
use keyhold_platform::{
    CloudTrailEvent,
    audit::{EVENT_VERSION, EventResource, user_identity},
};
use serde_json::{Map, Value, json};

use super::{
    call::{HandlerError, S3Call},
    edge::{Authentication, EdgeBody, EdgeShared, query_pairs, set_header},
    errors::RenderedError,
};

/// The query parameters each operation takes (its sub-resource among them), as S3
/// records them. Anything else in a query is not the operation's input and is not
/// recorded (signatures, SDK markers such as `x-id`, or a caller's attempt to write
/// `bucketName` or `Host` into the record).
fn operation_parameters(operation: &str) -> &'static [&'static str] {
    const GET_OBJECT: &[&str] = &[
        "partNumber",
        "versionId",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
    ];
    match operation {
        "ListBuckets" => &[
            "max-buckets",
            "continuation-token",
            "prefix",
            "bucket-region",
        ],
        "GetBucketEncryption" | "PutBucketEncryption" | "DeleteBucketEncryption" => &["encryption"],
        "GetPublicAccessBlock" | "PutPublicAccessBlock" | "DeletePublicAccessBlock" => {
            &["publicAccessBlock"]
        }
        "GetBucketOwnershipControls"
        | "PutBucketOwnershipControls"
        | "DeleteBucketOwnershipControls" => &["ownershipControls"],
        "GetBucketAcl" | "PutBucketAcl" => &["acl"],
        "GetObjectAcl" | "PutObjectAcl" => &["acl", "versionId"],
        "GetObject" | "HeadObject" => GET_OBJECT,
        "DeleteObject" => &["versionId"],
        "DeleteObjects" => &["delete"],
        "ListObjectsV2" => &[
            "list-type",
            "prefix",
            "delimiter",
            "max-keys",
            "continuation-token",
            "start-after",
            "encoding-type",
            "fetch-owner",
        ],
        "ListObjects" => &["prefix", "delimiter", "max-keys", "marker", "encoding-type"],
        "CreateMultipartUpload" => &["uploads"],
        "UploadPart" => &["partNumber", "uploadId"],
        "CompleteMultipartUpload" | "AbortMultipartUpload" => &["uploadId"],
        "ListParts" => &["uploadId", "max-parts", "part-number-marker"],
        "ListMultipartUploads" => &[
            "uploads",
            "prefix",
            "delimiter",
            "key-marker",
            "upload-id-marker",
            "max-uploads",
            "encoding-type",
        ],
        _ => &[],
    }
}

/// Request headers S3 shows in requestParameters.
const RECORDED_HEADERS: &[&str] = &[
    "x-amz-acl",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-context",
    "x-amz-server-side-encryption-bucket-key-enabled",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
];

/// Whether an operation only reads, and whether it is a data event (object-level)
/// rather than a management event, as CloudTrail classifies S3 (and as the gRPC
/// API's options say for the operations both share).
fn classify(operation: &str) -> (bool, bool) {
    let read_only = ["Get", "Head", "List"]
        .iter()
        .any(|prefix| operation.starts_with(prefix));
    let data_event = matches!(
        operation,
        "GetObject"
            | "HeadObject"
            | "PutObject"
            | "DeleteObject"
            | "DeleteObjects"
            | "CopyObject"
            | "GetObjectAcl"
            | "PutObjectAcl"
            | "ListObjects"
            | "ListObjectsV2"
            | "CreateMultipartUpload"
            | "UploadPart"
            | "CompleteMultipartUpload"
            | "AbortMultipartUpload"
            | "ListParts"
            | "ListMultipartUploads"
    );
    (read_only, data_event)
}

/// The operation of a request refused before s3s routed it, from its method and
/// path alone.
fn guessed_operation(
    method: &http::Method,
    bucket: Option<&str>,
    key: Option<&str>,
) -> &'static str {
    use http::Method;
    match (bucket, key, method) {
        (None, _, _) => "ListBuckets",
        (Some(_), None, &Method::PUT) => "CreateBucket",
        (Some(_), None, &Method::DELETE) => "DeleteBucket",
        (Some(_), None, &Method::HEAD) => "HeadBucket",
        (Some(_), None, _) => "ListObjects",
        (Some(_), Some(_), &Method::PUT) => "PutObject",
        (Some(_), Some(_), &Method::DELETE) => "DeleteObject",
        (Some(_), Some(_), &Method::HEAD) => "HeadObject",
        (Some(_), Some(_), _) => "GetObject",
    }
}

/// A path-style `/<bucket>/<key>`, percent-decoded.
fn path_style(path: &str) -> (Option<String>, Option<String>) {
    let path = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let path = path.trim_start_matches('/');
    match path.split_once('/') {
        _ if path.is_empty() => (None, None),
        Some((bucket, "")) => (Some(bucket.to_owned()), None),
        Some((bucket, key)) => (Some(bucket.to_owned()), Some(key.to_owned())),
        None => (Some(path.to_owned()), None),
    }
}

/// Everything known about a request while it runs.
pub struct PendingRecord {
    started: Instant,
    /// The request's span (made by the accept loop), named once the operation is
    /// known; it ends with the record.
    span: tracing::Span,
    traceparent: Option<String>,
    shared: Arc<EdgeShared>,
    call: S3Call,
    request_id: String,
    host_id: String,
    method: http::Method,
    path: String,
    host: String,
    user_agent: String,
    source_ip: String,
    authentication: Authentication,
    presented_access_key: Option<String>,
    client_request_id: Option<String>,
    query: Vec<(String, String)>,
    recorded_headers: Vec<(&'static str, String)>,
    decoded_content_length: Option<u64>,
    error: Option<RenderedError>,
    response_elements: Value,
    pub bytes_out: u64,
}

impl PendingRecord {
    pub fn new(
        shared: Arc<EdgeShared>,
        request: &Request<Incoming>,
        peer: SocketAddr,
        authentication: Authentication,
        presented_access_key: Option<String>,
        call: S3Call,
    ) -> Self {
        let headers = request.headers();
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let id = uuid::Uuid::new_v4();
        let span = tracing::Span::current();
        PendingRecord {
            started: Instant::now(),
            traceparent: keyhold_platform::telemetry::sampled_traceparent(&span),
            span,
            shared,
            call,
            request_id: id.simple().to_string()[..16].to_ascii_uppercase(),
            host_id: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                [id.as_bytes().as_slice(), uuid::Uuid::new_v4().as_bytes()].concat(),
            ),
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            // HTTP/2 names the host in :authority only.
            host: match headers.get(header::HOST) {
                Some(_) => text(header::HOST.as_str()),
                None => request
                    .uri()
                    .authority()
                    .map(|authority| authority.to_string())
                    .unwrap_or_default(),
            },
            user_agent: text(header::USER_AGENT.as_str()),
            source_ip: peer.ip().to_string(),
            authentication,
            presented_access_key,
            client_request_id: keyhold_platform::audit::client_request_id(headers),
            query: query_pairs(request.uri().query().unwrap_or_default()).collect(),
            recorded_headers: RECORDED_HEADERS
                .iter()
                .filter_map(|name| Some((*name, headers.get(*name)?.to_str().ok()?.to_owned())))
                .collect(),
            decoded_content_length: text("x-amz-decoded-content-length").parse().ok(),
            error: None,
            response_elements: Value::Null,
            bytes_out: 0,
        }
    }

    pub fn handler_error(&self) -> Option<HandlerError> {
        self.call.snapshot().error
    }

    /// An error the edge answers itself, before s3s.
    pub fn respond_with_error(
        self,
        error: RenderedError,
        status: StatusCode,
    ) -> Response<EdgeBody> {
        let mut parts = Response::new(()).into_parts().0;
        parts.status = status;
        self.respond_with_error_parts(error, parts)
    }

    /// The error response, its body rendered as S3 does.
    pub fn respond_with_error_parts(
        mut self,
        mut error: RenderedError,
        mut parts: Parts,
    ) -> Response<EdgeBody> {
        // s3s refuses some bucket names while parsing the path, before any handler.
        if error.code == "InvalidBucketName"
            && error.fields.is_empty()
            && let (Some(bucket), _) = path_style(&self.path)
        {
            error.fields.push(("BucketName", bucket));
        }
        let xml = error.to_xml(&self.request_id, &self.host_id);
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.remove(header::TRANSFER_ENCODING);
        set_header(&mut parts.headers, "content-type", "application/xml");
        set_header(&mut parts.headers, "content-length", &xml.len().to_string());
        self.error = Some(error);
        self.respond(parts, s3s::Body::from(xml))
    }

    pub fn respond(mut self, mut parts: Parts, body: s3s::Body) -> Response<EdgeBody> {
        set_header(&mut parts.headers, "x-amz-request-id", &self.request_id);
        set_header(&mut parts.headers, "x-amz-id-2", &self.host_id);
        self.response_elements = sse_headers(&parts.headers);
        Response::from_parts(parts, EdgeBody::new(body, self))
    }

    pub fn finish(self) {
        let shared = self.shared.clone();
        let state = self.call.snapshot();
        let (path_bucket, path_key) = path_style(&self.path);
        let bucket = state.bucket.clone().or(path_bucket);
        let key = state.key.clone().or(path_key);
        let operation = state.operation.clone().unwrap_or_else(|| {
            guessed_operation(&self.method, bucket.as_deref(), key.as_deref()).to_owned()
        });
        let (read_only, data_event) = classify(&operation);
        keyhold_platform::telemetry::rename(&self.span, format!("S3.{operation}"));
        self.span.record("s3.operation", operation.as_str());

        let mut parameters = Map::new();
        let taken = operation_parameters(&operation);
        for (name, value) in &self.query {
            if taken.contains(&name.as_str()) && !parameters.contains_key(name) {
                parameters.insert(name.clone(), json!(value));
            }
        }
        for (name, value) in &self.recorded_headers {
            parameters.insert((*name).to_owned(), json!(value));
        }
        if let Some((name, value)) = &state.body_parameter {
            parameters.insert((*name).to_owned(), value.clone());
        }
        // The routed bucket and key and the Host the request came to, after the
        // rest: nothing else can stand in for them.
        if let Some(bucket) = &bucket {
            parameters.insert("bucketName".to_owned(), json!(bucket));
        }
        parameters.insert("Host".to_owned(), json!(self.host));
        if let Some(key) = &key {
            parameters.insert("key".to_owned(), json!(key));
        }

        let counted_in = self.call.bytes_in();
        let bytes_in = self
            .decoded_content_length
            .map_or(counted_in, |declared| declared.min(counted_in));
        let mut additional = Map::new();
        // What the request passed: a signature s3s verified, of the scheme the edge found.
        if state.caller.is_some() && self.authentication.is_sigv4() {
            additional.insert("SignatureVersion".to_owned(), json!("SigV4"));
            additional.insert(
                "AuthenticationMethod".to_owned(),
                json!(match self.authentication {
                    Authentication::QueryString => "QueryString",
                    _ => "AuthHeader",
                }),
            );
        }
        if let Some(sse) = state.sse_applied {
            additional.insert("SSEApplied".to_owned(), json!(sse));
        }
        additional.insert("bytesTransferredIn".to_owned(), json!(bytes_in));
        additional.insert("bytesTransferredOut".to_owned(), json!(self.bytes_out));
        additional.insert("x-amz-id-2".to_owned(), json!(self.host_id));
        if let Some(client_id) = self.client_request_id {
            additional.insert("clientRequestId".to_owned(), json!(client_id));
        }

        let account_id = shared.account_id.clone();
        let mut resources = Vec::new();
        if let Some(bucket) = &bucket {
            if let Some(key) = &key {
                resources.push(EventResource {
                    arn: format!("arn:aws:s3:::{bucket}/{key}"),
                    account_id: account_id.clone(),
                    kind: "AWS::S3::Object".to_owned(),
                });
            }
            resources.push(EventResource {
                arn: format!("arn:aws:s3:::{bucket}"),
                account_id: account_id.clone(),
                kind: "AWS::S3::Bucket".to_owned(),
            });
        }
        let (error_code, error_message) = match &self.error {
            Some(error) => (Some(error.code.clone()), Some(error.message.clone())),
            None => (None, None),
        };
        shared
            .calls
            .observe(&operation, error_code.as_deref(), self.started);
        let response_elements = if read_only || error_code.is_some() {
            Value::Null
        } else {
            self.response_elements
        };
        let event = CloudTrailEvent {
            event_version: EVENT_VERSION,
            user_identity: user_identity(
                state.caller.as_ref(),
                self.presented_access_key.as_deref(),
                &account_id,
            ),
            event_time: keyhold_platform::audit::event_time_now(),
            event_source: crate::error::EVENT_SOURCE.to_owned(),
            event_name: operation,
            aws_region: shared.region.clone(),
            source_ip_address: self.source_ip,
            user_agent: self.user_agent,
            error_code,
            error_message,
            request_parameters: Value::Object(parameters),
            response_elements,
            additional_event_data: Some(Value::Object(additional)),
            request_id: self.request_id,
            event_id: uuid::Uuid::new_v4().to_string(),
            read_only,
            resources,
            event_type: "AwsApiCall",
            management_event: !data_event,
            recipient_account_id: account_id,
            event_category: if data_event { "Data" } else { "Management" },
            tls_details: None,
        };
        shared.sink.record_in_trace(event, self.traceparent);
    }
}

/// CloudTrail's responseElements of an S3 write: the encryption headers it answered.
fn sse_headers(headers: &HeaderMap) -> Value {
    let mut elements = Map::new();
    for (name, value) in headers {
        if name.as_str().starts_with("x-amz-server-side-encryption")
            && let Ok(value) = value.to_str()
        {
            elements.insert(name.as_str().to_owned(), json!(value));
        }
    }
    if elements.is_empty() {
        Value::Null
    } else {
        Value::Object(elements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_style_splits_bucket_and_key() {
        assert_eq!(path_style("/"), (None, None));
        assert_eq!(path_style("/b"), (Some("b".into()), None));
        assert_eq!(path_style("/b/"), (Some("b".into()), None));
        assert_eq!(
            path_style("/b/a%20b/c"),
            (Some("b".into()), Some("a b/c".into()))
        );
    }

    #[test]
    fn object_operations_are_data_events() {
        assert_eq!(classify("GetObject"), (true, true));
        assert_eq!(classify("PutObject"), (false, true));
        assert_eq!(classify("CreateBucket"), (false, false));
        assert_eq!(classify("GetBucketAcl"), (true, false));
    }
}
