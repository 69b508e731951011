//! Every gRPC method has a deliberate limit on what one message may be, and a message
//! over it is refused while it streams in: object-svc's memory does not grow with it.
//! Unary requests (all of kms-svc's, object-svc's and audit-svc's but the streams)
//! are buffered up to 4 MiB by the shared stack (OUT_OF_RANGE past that); PutObject's
//! messages may be up to 16 MiB + 1 KiB each (tonic's decoder refuses a longer one
//! from its length prefix, before reading it).
//!
//! The messages here are generated as they are sent, from one shared buffer, so that
//! only the server could hold them: the process's peak RSS (client and server share
//! it) is the server's growth, also memory held only for a moment.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use keyhold_proto::object::v1::{
    CreateBucketRequest, PutObjectHeader, PutObjectRequest, put_object_request,
};
use keyhold_tests::{ObjectHarness, Who};
use prost::Message;
use tonic::{Code, Status};
use tower::ServiceExt;

const MIB: usize = 1024 * 1024;
/// How much a refused request may leave behind in the process; far below what the
/// requests carry (8 x 256 MiB).
const MAX_GROWTH: u64 = 64 * MIB as u64;

/// Resets the process's peak RSS (Linux: writing 5 to clear_refs), so that
/// [`peak_rss`] shows the most memory held since, also for a moment.
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
}

fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}

/// A gRPC length prefix claiming `len` bytes.
fn prefix(len: usize) -> Bytes {
    let mut out = BytesMut::with_capacity(5);
    out.put_u8(0);
    out.put_u32(u32::try_from(len).expect("under 4 GiB"));
    out.freeze()
}

/// `first` frames, then `len` zero bytes made of one shared 1 MiB buffer.
fn lazy_body(first: Vec<Bytes>, len: usize) -> tonic::body::Body {
    let zeros = Bytes::from(vec![0u8; MIB]);
    let filler = futures::stream::iter(0..len / MIB).map(move |_| zeros.clone());
    let frames = futures::stream::iter(first)
        .chain(filler)
        .map(|bytes| Ok::<_, Status>(Frame::data(bytes)));
    tonic::body::Body::new(StreamBody::new(frames))
}

/// Sends one raw gRPC call and returns its status (trailers-only or trailers).
async fn call(
    harness: &ObjectHarness,
    method: &str,
    authorization: Option<String>,
    body: tonic::body::Body,
) -> Status {
    let mut request = http::Request::builder()
        .method("POST")
        .uri(format!(
            "http://{}/keyhold.object.v1.ObjectService/{method}",
            harness.address
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = harness
        .channel()
        .oneshot(request.body(body).expect("a request"))
        .await
        .expect("an HTTP response");
    if let Some(status) = Status::from_header_map(response.headers()) {
        return status;
    }
    // The server's own answer to a refused call: trailers and no message.
    #[allow(clippy::disallowed_methods)]
    let collected = tokio::time::timeout(Duration::from_secs(60), response.into_body().collect())
        .await
        .expect("the response ends")
        .expect("a body");
    let trailers = collected.trailers().cloned().unwrap_or_default();
    Status::from_header_map(&trailers).expect("a grpc-status")
}

fn bearer(who: Who) -> Option<String> {
    who.credentials()
        .map(|(key, secret)| format!("Bearer {key}:{secret}"))
}

#[tokio::test]
async fn an_oversized_unary_message_is_refused_without_being_held() {
    let _measuring = keyhold_tests::measuring_memory().await;
    let harness = ObjectHarness::start().await;
    // Warm up the paths a call takes, so what they allocate once is not counted.
    let warm = call(&harness, "GetObject", None, lazy_body(vec![prefix(0)], 0)).await;
    assert_ne!(warm.code(), Code::Ok);
    reset_peak_rss();
    let before = peak_rss();

    let len = 256 * MIB;
    let calls = (0..8).map(|_| {
        call(
            &harness,
            "GetObject",
            None,
            lazy_body(vec![prefix(len)], len),
        )
    });
    let statuses = futures::future::join_all(calls).await;
    let grown = peak_rss().saturating_sub(before);
    assert!(
        grown < MAX_GROWTH,
        "object-svc grew by {} MiB for refused requests",
        grown / MIB as u64
    );
    for status in statuses {
        assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
        assert_eq!(
            status.message(),
            "the request message is larger than 4194309 bytes"
        );
    }
}

#[tokio::test]
async fn an_oversized_put_object_chunk_is_refused_from_its_length_prefix() {
    let _measuring = keyhold_tests::measuring_memory().await;
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    user.create_bucket(CreateBucketRequest {
        bucket: "limits-bucket".into(),
        ..Default::default()
    })
    .await
    .expect("create the bucket");
    let header = PutObjectRequest {
        part: Some(put_object_request::Part::Header(PutObjectHeader {
            bucket: "limits-bucket".into(),
            key: "big-chunk".into(),
            ..Default::default()
        })),
    }
    .encode_to_vec();
    let first = || vec![prefix(header.len()), Bytes::from(header.clone())];
    reset_peak_rss();
    let before = peak_rss();

    // One chunk message that says it is 256 MiB: the limit is 16 MiB + 1 KiB.
    let len = 256 * MIB;
    let calls = (0..8).map(|_| {
        let mut frames = first();
        frames.push(prefix(len));
        call(
            &harness,
            "PutObject",
            bearer(Who::User1),
            lazy_body(frames, len),
        )
    });
    let statuses = futures::future::join_all(calls).await;
    let grown = peak_rss().saturating_sub(before);
    assert!(
        grown < MAX_GROWTH,
        "object-svc grew by {} MiB for refused chunks",
        grown / MIB as u64
    );
    for status in statuses {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(
            status.message(),
            "Error, decoded message length too large: found 268435456 bytes, the limit is: 16778240 bytes"
        );
    }
    // Nothing was stored.
    let missing = keyhold_tests::object::get(&mut user, "limits-bucket", "big-chunk").await;
    assert_eq!(missing.map(|_| ()).unwrap_err().code(), Code::NotFound);
}
