//! Clients of object-svc's S3 REST endpoint: the official AWS SDK for Rust, signed as
//! a principal of the test principals file, and a plain HTTP client for what a
//! browser or curl does (anonymous URLs, presigned URLs, hand-made requests).

use std::time::Duration;

use aws_sdk_s3::{
    Client,
    config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation},
};

use crate::{ObjectHarness, Who};

impl ObjectHarness {
    pub fn s3_endpoint(&self) -> String {
        format!("http://{}", self.s3_address)
    }

    /// The AWS SDK for Rust against keyhold, path-style, as `who`.
    pub fn s3(&self, who: Who) -> Client {
        s3_client(
            &self.s3_endpoint(),
            who,
            RequestChecksumCalculation::WhenSupported,
        )
    }

    /// Like [`Self::s3`], sending checksums only where S3 requires them.
    pub fn s3_without_checksums(&self, who: Who) -> Client {
        s3_client(
            &self.s3_endpoint(),
            who,
            RequestChecksumCalculation::WhenRequired,
        )
    }

    /// `http://<endpoint>/<bucket>/<key>`, the object URL the console shows.
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        format!("{}/{bucket}/{key}", self.s3_endpoint())
    }
}

/// An SDK client signing as `who`; for [`Who::Anonymous`], one that sends unsigned
/// requests, as `aws --no-sign-request` does.
pub fn s3_client(endpoint: &str, who: Who, checksums: RequestChecksumCalculation) -> Client {
    let builder = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .force_path_style(true)
        .request_checksum_calculation(checksums);
    let builder = match who.credentials() {
        Some((access_key, secret)) => builder.credentials_provider(Credentials::new(
            access_key,
            secret,
            None,
            None,
            "keyhold-tests",
        )),
        None => builder.allow_no_auth(),
    };
    Client::from_conf(builder.build())
}

/// A plain HTTP client: no credentials, no retries.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

/// The text of `<name>` in an S3 error document.
pub fn xml_field(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..end].to_owned())
}

/// The code and message of an SDK error, as S3 sent them.
pub fn sdk_error<E, R>(error: &aws_sdk_s3::error::SdkError<E, R>) -> (String, String)
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match error.as_service_error() {
        Some(service) => (
            service.code().unwrap_or_default().to_owned(),
            service.message().unwrap_or_default().to_owned(),
        ),
        None => (format!("{error:?}"), String::new()),
    }
}

/// A request signed by hand with SigV4 (aws-sigv4), for what the SDK never sends:
/// a skewed clock, aws-chunked bodies with bad chunk signatures, wrong lengths.
pub struct RawSigner {
    identity: aws_smithy_runtime_api::client::identity::Identity,
    pub time: std::time::SystemTime,
    /// The SigV4 scope's service: `s3` unless [`RawSigner::for_service`] says.
    service: &'static str,
}

/// The hash keyhold sees in `x-amz-content-sha256`.
pub enum Payload<'a> {
    Bytes(&'a [u8]),
    Unsigned,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked, unsigned, with a trailer.
    StreamingUnsignedTrailer,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked, every chunk signed.
    StreamingSigned,
}

impl RawSigner {
    pub fn new(who: Who) -> Self {
        let (access_key, secret) = who.credentials().expect("credentials");
        Self::with_keys(access_key, secret)
    }

    pub fn with_keys(access_key: &str, secret: &str) -> Self {
        let credentials =
            aws_credential_types::Credentials::new(access_key, secret, None, None, "keyhold-tests");
        RawSigner {
            identity: credentials.into(),
            time: std::time::SystemTime::now(),
            service: "s3",
        }
    }

    /// Signs for `service` (`kms`, `cloudtrail`) instead of S3.
    pub fn for_service(mut self, service: &'static str) -> Self {
        self.service = service;
        self
    }

    fn params(
        &self,
    ) -> aws_sigv4::sign::v4::SigningParams<'_, aws_sigv4::http_request::SigningSettings> {
        let mut settings = aws_sigv4::http_request::SigningSettings::default();
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
        aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&self.identity)
            .region("us-east-1")
            .name(self.service)
            .time(self.time)
            .settings(settings)
            .build()
            .expect("signing params")
    }

    /// The headers to send (the given ones, plus x-amz-date, x-amz-content-sha256
    /// and Authorization) and the seed signature.
    pub fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        payload: Payload<'_>,
    ) -> (Vec<(String, String)>, String) {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, sign};
        let uri: http::Uri = url.parse().expect("a URL");
        let host = uri.authority().expect("a host").to_string();
        let mut all: Vec<(&str, &str)> = vec![("host", host.as_str())];
        all.extend_from_slice(headers);
        let body = match payload {
            Payload::Bytes(bytes) => SignableBody::Bytes(bytes),
            Payload::Unsigned => SignableBody::UnsignedPayload,
            Payload::StreamingUnsignedTrailer => SignableBody::StreamingUnsignedPayloadTrailer,
            Payload::StreamingSigned => {
                SignableBody::Precomputed("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned())
            }
        };
        let request =
            SignableRequest::new(method, url, all.iter().copied(), body).expect("signable");
        let params = self.params().into();
        let (instructions, signature) = sign(request, &params).expect("signed").into_parts();
        let mut signed: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        let (added, _) = instructions.into_parts();
        for header in added {
            signed.push((header.name().to_owned(), header.value().to_owned()));
        }
        (signed, signature)
    }

    /// An aws-chunked body of `chunks`, each signed after `seed` (the last, empty
    /// chunk included), as `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` wants it.
    pub fn chunked_body(&self, seed: &str, chunks: &[&[u8]]) -> Vec<u8> {
        let params = self.params();
        let mut previous = seed.to_owned();
        let mut body = Vec::new();
        let mut all: Vec<&[u8]> = chunks.to_vec();
        all.push(&[]);
        for chunk in all {
            let bytes = bytes::Bytes::copy_from_slice(chunk);
            let signature = aws_sigv4::sign::v4::sign_chunk(&bytes, &previous, &params)
                .expect("chunk signature")
                .signature()
                .to_owned();
            body.extend_from_slice(
                format!("{:x};chunk-signature={signature}\r\n", chunk.len()).as_bytes(),
            );
            body.extend_from_slice(chunk);
            body.extend_from_slice(b"\r\n");
            previous = signature;
        }
        body
    }
}

/// Like [`send_raw`], over HTTP/2 with prior knowledge (h2c): the host travels as the
/// `:authority`, so a signed `host` header is not sent. The HTTP version, status and
/// body (at most 1 MiB) of the answer.
pub async fn send_http2(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> (http::Version, u16, Vec<u8>) {
    use http_body_util::{BodyExt, Full, Limited};
    use hyper_util::{client::legacy::Client, rt::TokioExecutor};
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers.iter().filter(|(name, _)| name != "host") {
        request = request.header(name, value);
    }
    let request = request
        .body(Full::new(bytes::Bytes::from(body)))
        .expect("a request");
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<bytes::Bytes>>();
    let response = client.request(request).await.expect("an HTTP/2 answer");
    let (version, status) = (response.version(), response.status().as_u16());
    #[allow(clippy::disallowed_methods)] // bounded by Limited
    let body = Limited::new(response.into_body(), 1024 * 1024)
        .collect()
        .await
        .expect("a body of at most 1 MiB")
        .to_bytes();
    (version, status, body.to_vec())
}

/// Sends a hand-made request with the plain client.
pub async fn send_raw(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> (u16, String) {
    let mut request = http().request(method.parse().expect("a method"), url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.body(body).send().await.expect("a response");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// A request over a bare TCP connection, for what HTTP clients will not send: a
/// body shorter than its `Content-Length: declared` (or chunked transfer encoding
/// when None), or any Host header. Returns the status and the whole response text.
pub async fn raw_request(
    address: std::net::SocketAddr,
    request_line: &str,
    host: &str,
    headers: &[(String, String)],
    declared: Option<usize>,
    body: &[u8],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let mut head = format!("{request_line} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let mut bytes = match declared {
        Some(length) => {
            head.push_str(&format!("content-length: {length}\r\n\r\n"));
            let mut bytes = head.into_bytes();
            bytes.extend_from_slice(body);
            bytes
        }
        None => {
            head.push_str("transfer-encoding: chunked\r\n\r\n");
            let mut bytes = head.into_bytes();
            bytes.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
            bytes.extend_from_slice(body);
            bytes.extend_from_slice(b"\r\n0\r\n\r\n");
            bytes
        }
    };
    stream.write_all(&bytes).await.expect("send");
    if declared.is_some_and(|length| length > body.len()) {
        // The client gives up sending (a complete request is left open: hyper
        // drops a request whose client half-closes).
        stream.shutdown().await.expect("half-close");
    }
    bytes.clear();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut bytes)).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// What a client streaming a large body saw: the answer (status and text, 0 and
/// empty when none came) and how many body bytes it managed to send.
#[derive(Debug)]
pub struct StreamedRequest {
    pub status: u16,
    pub response: String,
    pub sent: u64,
}

/// Sends `head` (request line and headers, without the blank line) with a body of
/// `prefix` then `total` bytes generated on the fly, chunked or (when `chunked` is
/// false) with its Content-Length; reads the answer while sending.
/// The client stops sending as soon as an answer arrives, when the server stops
/// reading, or when `stop` is set (the caller's safety valve); it gives up waiting
/// for an answer `patience` after it stopped sending.
pub async fn stream_request(
    address: std::net::SocketAddr,
    head: &str,
    prefix: &[u8],
    total: u64,
    chunked: bool,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    patience: Duration,
) -> StreamedRequest {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut reading = {
        let answered = answered.clone();
        let received = received.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 16 * 1024];
            // Until EOF or a reset; whatever arrived before is the answer.
            while let Ok(read) = reader.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
                received.lock().unwrap().extend_from_slice(&buffer[..read]);
                answered.store(true, Ordering::SeqCst);
            }
        })
    };
    let chunk: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
    let frame = |bytes: &[u8]| {
        if !chunked {
            return bytes.to_vec();
        }
        let mut framed = format!("{:x}\r\n", bytes.len()).into_bytes();
        framed.extend_from_slice(bytes);
        framed.extend_from_slice(b"\r\n");
        framed
    };
    let framed = frame(&chunk);
    let mut start = if chunked {
        format!("{head}\r\ntransfer-encoding: chunked\r\n\r\n")
    } else {
        format!(
            "{head}\r\ncontent-length: {}\r\n\r\n",
            prefix.len() as u64 + total
        )
    }
    .into_bytes();
    if !prefix.is_empty() {
        start.extend_from_slice(&frame(prefix));
    }
    let mut sent = 0u64;
    if writer.write_all(&start).await.is_ok() {
        while sent < total && !answered.load(Ordering::SeqCst) && !stop.load(Ordering::SeqCst) {
            // A server that stopped reading leaves the write pending: check again.
            match tokio::time::timeout(Duration::from_millis(200), writer.write_all(&framed)).await
            {
                Ok(Ok(())) => sent += chunk.len() as u64,
                Ok(Err(_)) => break,
                Err(_) => continue,
            }
        }
        if sent >= total && chunked {
            let _ = writer.write_all(b"0\r\n\r\n").await;
        }
    }
    if tokio::time::timeout(patience, &mut reading).await.is_err() {
        reading.abort();
    }
    drop(writer);
    let bytes = received.lock().unwrap().clone();
    let response = String::from_utf8_lossy(&bytes).into_owned();
    let status = response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    StreamedRequest {
        status,
        response,
        sent,
    }
}

/// The resident set size of this process (object-svc runs in it), in bytes.
pub fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .expect("VmRSS in /proc/self/status")
        * 1024
}

/// A SigV2 presigned URL for `GET /<bucket>/<key>` (what AWS CLI v1 makes by
/// default), validly signed with `who`'s secret, expiring at `expires` (Unix time).
pub fn sigv2_presigned_get(
    endpoint: &str,
    who: crate::Who,
    bucket: &str,
    key: &str,
    expires: u64,
) -> String {
    use hmac::{KeyInit, Mac};
    let (access_key, secret) = who.credentials().expect("credentials");
    let string_to_sign = format!("GET\n\n\n{expires}\n/{bucket}/{key}");
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("a key");
    mac.update(string_to_sign.as_bytes());
    let signature = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        mac.finalize().into_bytes(),
    );
    let signature: String = signature
        .bytes()
        .map(|b| match b {
            b'+' => "%2B".to_owned(),
            b'/' => "%2F".to_owned(),
            b'=' => "%3D".to_owned(),
            _ => (b as char).to_string(),
        })
        .collect();
    format!(
        "{endpoint}/{bucket}/{key}?AWSAccessKeyId={access_key}&Expires={expires}&Signature={signature}"
    )
}
