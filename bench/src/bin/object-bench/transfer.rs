//! The four streaming calls of the benchmark, each timed from the first byte asked
//! for to the last byte acknowledged or received:
//!
//! - `sink` / `source`: TransportProbeService, the ceiling: the same bytes through the
//!   same server and tower stack, no storage, no crypto, no database.
//! - `put` / `get`: PutObject / GetObject with SSE-KMS.
//!
//! The client sends slices of one pre-made chunk (no copy on the bench's side beyond
//! tonic's own encoding) and counts what it receives without keeping it.

use std::time::{Duration, Instant};

use keyhold_platform::auth::ClientCredentials;
use keyhold_proto::object::v1::{
    GetObjectRequest, PutObjectHeader, PutObjectRequest, SinkRequest, SourceRequest,
    get_object_response, object_service_client::ObjectServiceClient, put_object_request,
    transport_probe_service_client::TransportProbeServiceClient,
};
use tonic::{
    codegen::{Bytes, tokio_stream},
    service::interceptor::InterceptedService,
    transport::Channel,
};

use crate::client::AccessKey;

pub type ObjectClient = ObjectServiceClient<InterceptedService<Channel, ClientCredentials>>;
pub type ProbeClient = TransportProbeServiceClient<InterceptedService<Channel, ClientCredentials>>;

/// What a client will accept per message; object-svc decides GetObject's chunk size.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

pub fn object_client(channel: Channel, key: AccessKey) -> ObjectClient {
    ObjectServiceClient::with_interceptor(channel, ClientCredentials::new(key.id, key.secret))
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

pub fn probe_client(channel: Channel, key: AccessKey) -> ProbeClient {
    TransportProbeServiceClient::with_interceptor(
        channel,
        ClientCredentials::new(key.id, key.secret),
    )
    .max_decoding_message_size(MAX_MESSAGE)
    .max_encoding_message_size(MAX_MESSAGE)
}

/// The bytes every PUT and Sink sends: one chunk of pseudo-random data, repeated.
/// Objects of any size are streamed as slices of it; nothing else is held.
#[derive(Clone)]
pub struct Payload {
    chunk: Bytes,
}

impl Payload {
    pub fn new(chunk_size: usize) -> Payload {
        // xorshift64: incompressible enough, and no dependency for it.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut data = Vec::with_capacity(chunk_size + 8);
        while data.len() < chunk_size {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.extend_from_slice(&state.to_le_bytes());
        }
        data.truncate(chunk_size);
        Payload {
            chunk: Bytes::from(data),
        }
    }

    pub fn chunk_size(&self) -> usize {
        self.chunk.len()
    }

    /// `size` bytes as messages of `chunk_size` (the last one shorter).
    pub fn pieces(&self, size: u64) -> impl Iterator<Item = Bytes> + Send + 'static {
        let chunk = self.chunk.clone();
        let step = chunk.len() as u64;
        (0..size.div_ceil(step)).map(move |index| {
            let len = step.min(size - index * step) as usize;
            chunk.slice(..len)
        })
    }

    /// Whether `data`, found at `offset` of an object, is what `pieces` sent there.
    pub fn matches(&self, offset: u64, data: &[u8]) -> bool {
        let step = self.chunk.len();
        let mut at = (offset % step as u64) as usize;
        let mut rest = data;
        while !rest.is_empty() {
            let take = rest.len().min(step - at);
            if rest[..take] != self.chunk[at..at + take] {
                return false;
            }
            rest = &rest[take..];
            at = 0;
        }
        true
    }
}

/// A download's bytes as they arrive: counted, not kept, and with a payload to verify
/// against, compared with what `put` sent at the same offset.
pub struct Received<'a> {
    pub bytes: u64,
    pub messages: u64,
    verify: Option<&'a Payload>,
}

impl<'a> Received<'a> {
    pub fn new(verify: Option<&'a Payload>) -> Received<'a> {
        Received {
            bytes: 0,
            messages: 0,
            verify,
        }
    }

    /// Counts `chunk`; `what` names the download in the error when the bytes differ.
    pub fn take(&mut self, what: &str, chunk: &[u8]) -> anyhow::Result<()> {
        let end = self.bytes + chunk.len() as u64;
        if let Some(payload) = self.verify {
            anyhow::ensure!(
                payload.matches(self.bytes, chunk),
                "{what}: the bytes at {}..{end} differ from those put",
                self.bytes
            );
        }
        self.bytes = end;
        self.messages += 1;
        Ok(())
    }
}

/// One finished transfer.
#[derive(Debug, Clone, Copy)]
pub struct Transferred {
    pub bytes: u64,
    pub messages: u64,
    pub elapsed: Duration,
}

fn status(call: &str, status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{call} failed: {:?}: {}", status.code(), status.message())
}

/// TransportProbeService/Sink: `size` bytes in chunks, answered with the count.
pub async fn sink(
    probe: &mut ProbeClient,
    payload: &Payload,
    size: u64,
) -> anyhow::Result<Transferred> {
    let messages = size.div_ceil(payload.chunk_size() as u64);
    let stream = tokio_stream::iter(payload.pieces(size).map(|data| SinkRequest { data }));
    let started = Instant::now();
    let response = probe
        .sink(stream)
        .await
        .map_err(|s| status("Sink", s))?
        .into_inner();
    let elapsed = started.elapsed();
    anyhow::ensure!(
        response.bytes_received == size,
        "Sink received {} bytes of {size}",
        response.bytes_received
    );
    Ok(Transferred {
        bytes: size,
        messages,
        elapsed,
    })
}

/// PutObject with SSE-KMS under `kms_key` (SSE-S3 when None): the header, then `size`
/// bytes in chunks.
pub async fn put(
    client: &mut ObjectClient,
    payload: &Payload,
    size: u64,
    bucket: &str,
    key: &str,
    kms_key: Option<&str>,
) -> anyhow::Result<Transferred> {
    let sse = if kms_key.is_some() {
        "aws:kms"
    } else {
        "AES256"
    };
    let header = PutObjectHeader {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        content_type: "application/octet-stream".to_owned(),
        content_length: Some(size),
        server_side_encryption: sse.to_owned(),
        ssekms_key_id: kms_key.unwrap_or_default().to_owned(),
        ..Default::default()
    };
    let first = PutObjectRequest {
        part: Some(put_object_request::Part::Header(header)),
    };
    let chunks = payload.pieces(size).map(|chunk| PutObjectRequest {
        part: Some(put_object_request::Part::Chunk(chunk)),
    });
    let messages = size.div_ceil(payload.chunk_size() as u64);
    let stream = tokio_stream::iter(std::iter::once(first).chain(chunks));
    let started = Instant::now();
    let response = client
        .put_object(stream)
        .await
        .map_err(|s| status("PutObject", s))?
        .into_inner();
    let elapsed = started.elapsed();
    anyhow::ensure!(
        response.size == size,
        "PutObject stored {} bytes of {size}",
        response.size
    );
    anyhow::ensure!(
        response.server_side_encryption == sse,
        "PutObject answered server_side_encryption {:?}, not {sse}",
        response.server_side_encryption
    );
    Ok(Transferred {
        bytes: size,
        messages,
        elapsed,
    })
}

/// TransportProbeService/Source: `size` bytes in messages of `chunk_size`, counted.
pub async fn source(
    probe: &mut ProbeClient,
    size: u64,
    chunk_size: u32,
) -> anyhow::Result<Transferred> {
    let started = Instant::now();
    let mut stream = probe
        .source(SourceRequest { size, chunk_size })
        .await
        .map_err(|s| status("Source", s))?
        .into_inner();
    let (mut bytes, mut messages) = (0u64, 0u64);
    while let Some(message) = stream.message().await.map_err(|s| status("Source", s))? {
        bytes += message.data.len() as u64;
        messages += 1;
    }
    let elapsed = started.elapsed();
    anyhow::ensure!(bytes == size, "Source sent {bytes} bytes of {size}");
    Ok(Transferred {
        bytes,
        messages,
        elapsed,
    })
}

/// GetObject of a whole object of `size` bytes; its chunks are counted and dropped,
/// or, with `verify`, also compared with what `put` sent (not for timed calls).
pub async fn get(
    client: &mut ObjectClient,
    bucket: &str,
    key: &str,
    size: u64,
    verify: Option<&Payload>,
) -> anyhow::Result<Transferred> {
    get_encrypted(client, bucket, key, size, verify, "aws:kms").await
}

/// [`get`] of an object stored with `sse` (`aws:kms` or `AES256`).
pub async fn get_encrypted(
    client: &mut ObjectClient,
    bucket: &str,
    key: &str,
    size: u64,
    verify: Option<&Payload>,
    sse: &str,
) -> anyhow::Result<Transferred> {
    let request = GetObjectRequest {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        ..Default::default()
    };
    let started = Instant::now();
    let mut stream = client
        .get_object(request)
        .await
        .map_err(|s| status("GetObject", s))?
        .into_inner();
    let (mut received, mut head) = (Received::new(verify), None);
    let what = format!("GetObject of {key}");
    while let Some(message) = stream.message().await.map_err(|s| status("GetObject", s))? {
        match message.part {
            Some(get_object_response::Part::Head(h)) => {
                anyhow::ensure!(
                    head.is_none() && received.bytes == 0,
                    "GetObject sent a second head"
                );
                head = Some(h);
            }
            Some(get_object_response::Part::Chunk(chunk)) => {
                anyhow::ensure!(head.is_some(), "GetObject sent bytes before its head");
                received.take(&what, &chunk)?;
            }
            None => anyhow::bail!("GetObject sent an empty message"),
        }
    }
    let elapsed = started.elapsed();
    let Received {
        bytes, messages, ..
    } = received;
    let head = head.ok_or_else(|| anyhow::anyhow!("GetObject of {key} sent no head"))?;
    anyhow::ensure!(
        bytes == size && head.content_length == size,
        "GetObject of {key}: {bytes} bytes received, head says {}, {size} were put",
        head.content_length
    );
    anyhow::ensure!(
        head.server_side_encryption == sse,
        "GetObject of {key}: server_side_encryption {:?}, not {sse}",
        head.server_side_encryption
    );
    Ok(Transferred {
        bytes,
        messages,
        elapsed,
    })
}
