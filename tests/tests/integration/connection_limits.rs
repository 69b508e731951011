//! Issue 12, section 4: every listening port (object-svc's S3 endpoint and its gRPC
//! port, which is kms-svc's and audit-svc's server too) closes connections that do
//! not deliver a request in time or sit idle, and serves a bounded number of
//! connections at once. The tests configure timeouts of a second or two.

use std::time::{Duration, Instant};

use keyhold_tests::{
    ObjectHarness,
    s3::{raw_request, xml_field},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// What the tests configure: headers within 1 s, 2 s of idleness at most.
const FAST_TIMEOUTS: [&str; 4] = [
    "--header-read-timeout-seconds",
    "1",
    "--idle-timeout-seconds",
    "2",
];
/// How long a test waits for a connection to be closed: the timeouts above, plus
/// room for a slow machine.
const PATIENCE: Duration = Duration::from_secs(15);
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: a client's half of the HTTP/2 handshake.
const H2_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

/// Reads until the server closes the connection; false if it is still open after
/// `patience`.
async fn closed_by_server(stream: &mut TcpStream, patience: Duration) -> bool {
    let deadline = Instant::now() + patience;
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Opens `count` connections to `address`, each sending `first_bytes`.
async fn open(address: std::net::SocketAddr, count: usize, first_bytes: &[u8]) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        if !first_bytes.is_empty() {
            stream.write_all(first_bytes).await.expect("send");
        }
        streams.push(stream);
    }
    streams
}

/// Asserts that the server closes every one of `streams`.
async fn all_closed(streams: Vec<TcpStream>, what: &str) {
    let closing = streams
        .into_iter()
        .map(|mut stream| async move { closed_by_server(&mut stream, PATIENCE).await });
    let closed = futures::future::join_all(closing).await;
    let open = closed.iter().filter(|closed| !**closed).count();
    assert_eq!(open, 0, "{what}: {open} of {} still open", closed.len());
}

#[tokio::test]
async fn s3_connections_that_do_not_deliver_a_request_are_closed() {
    let harness = ObjectHarness::start_with_flags(&FAST_TIMEOUTS).await;
    let address = harness.s3_address;
    let host = address.to_string();

    // 200 connections that never finish their headers: half send nothing, half a
    // request line and one header, then nothing.
    let mut streams = open(address, 100, b"").await;
    let partial = format!("GET / HTTP/1.1\r\nhost: {host}\r\n");
    streams.extend(open(address, 100, partial.as_bytes()).await);
    // HTTP/2 with prior knowledge: the preface and nothing more, or the whole
    // handshake and no request.
    streams.extend(open(address, 1, H2_PREFACE).await);
    streams.extend(open(address, 1, &[H2_PREFACE, H2_SETTINGS].concat()).await);
    all_closed(streams, "S3 connections without a request").await;

    // A keep-alive connection, idle after its request.
    let mut idle = TcpStream::connect(address).await.unwrap();
    idle.write_all(format!("GET / HTTP/1.1\r\nhost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut idle, PATIENCE).await,
        "an idle keep-alive connection"
    );

    // A body that stops arriving (the client keeps the connection open): the
    // request fails as S3's does.
    let mut stalled = TcpStream::connect(address).await.unwrap();
    stalled
        .write_all(
            format!("PUT /no-such-bucket?acl HTTP/1.1\r\nhost: {host}\r\ncontent-length: 100\r\n\r\n<AccessControlPolicy>")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stalled.read_to_end(&mut answer))
        .await
        .expect("an answer to the stalled body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert_eq!(
        xml_field(&answer, "Code").as_deref(),
        Some("RequestTimeout"),
        "{answer}"
    );

    // One that ends early: IncompleteBody, as for an upload.
    let (status, response) = raw_request(
        address,
        "PUT /no-such-bucket?acl",
        &host,
        &[],
        Some(100),
        b"<AccessControlPolicy>",
    )
    .await;
    assert_eq!(
        (status, xml_field(&response, "Code").as_deref()),
        (400, Some("IncompleteBody")),
        "{response}"
    );
}

#[tokio::test]
async fn grpc_connections_that_do_not_deliver_a_request_are_closed() {
    let harness = ObjectHarness::start_with_flags(&FAST_TIMEOUTS).await;
    let address = harness.address;
    let mut streams = open(address, 50, b"").await;
    streams.extend(open(address, 50, H2_PREFACE).await);
    streams.extend(open(address, 50, &[H2_PREFACE, H2_SETTINGS].concat()).await);
    all_closed(streams, "gRPC connections without a request").await;

    // The port still serves.
    health_check(&harness, Duration::from_secs(10))
        .await
        .expect("a health check after the closings");
}

/// A health check on a connection of its own, given up after `patience`.
async fn health_check(harness: &ObjectHarness, patience: Duration) -> Option<i32> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", harness.address))
        .unwrap()
        .connect_lazy();
    let mut client = HealthClient::new(channel);
    let check = client.check(HealthCheckRequest {
        service: String::new(),
    });
    match tokio::time::timeout(patience, check).await {
        Ok(Ok(response)) => Some(response.into_inner().status),
        _ => None,
    }
}

#[tokio::test]
async fn each_port_serves_a_bounded_number_of_connections() {
    let harness = ObjectHarness::start_with_flags(&[
        "--max-connections",
        "4",
        "--header-read-timeout-seconds",
        "60",
    ])
    .await;
    let host = harness.s3_address.to_string();
    let request =
        format!("GET /no-such-bucket/key HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");

    // S3: four connections that send nothing hold every place; a fifth request waits.
    let mut holders = open(harness.s3_address, 4, b"").await;
    let mut waiting = TcpStream::connect(harness.s3_address).await.unwrap();
    waiting.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let early =
        tokio::time::timeout(Duration::from_secs(1), waiting.read_to_end(&mut answer)).await;
    assert!(
        early.is_err(),
        "answered past the limit: {}",
        String::from_utf8_lossy(&answer)
    );
    // One place frees: the request is served.
    drop(holders.pop());
    tokio::time::timeout(PATIENCE, waiting.read_to_end(&mut answer))
        .await
        .expect("served once a place is free")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    drop(holders);

    // gRPC: the same.
    let mut holders = open(harness.address, 4, b"").await;
    assert_eq!(
        health_check(&harness, Duration::from_secs(1)).await,
        None,
        "served past the limit"
    );
    drop(holders.pop());
    assert_eq!(health_check(&harness, PATIENCE).await, Some(1));
}
