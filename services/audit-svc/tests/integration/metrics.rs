//! The metrics endpoint (`--metrics-listen`): the audit pipeline's counts as an
//! operator's Prometheus sees them, and a listener that serves GET /metrics only.

use crate::common;

use std::time::Duration;

use common::{KMS_SVC, emitter_flags};
use keyhold_proto::kms::v1::GenerateRandomRequest;
use keyhold_tests::{KmsHarness, TestDatabase, Who, free_address, metric, scrape};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// kms-svc streaming to an audit-svc that is not there, its metrics on `metrics`.
async fn kms_without_audit_svc(
    metrics: std::net::SocketAddr,
    spool: &std::path::Path,
) -> KmsHarness {
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    let mut flags = emitter_flags(free_address(), KMS_SVC, spool);
    flags.extend(["--metrics-listen".to_owned(), metrics.to_string()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    KmsHarness::start_with_flags(database, url, &flags).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spool_filling_shows_in_the_metrics() {
    let metrics = free_address();
    let spool =
        std::env::temp_dir().join(format!("keyhold-metrics-{}", uuid::Uuid::new_v4().simple()));
    let kms = kms_without_audit_svc(metrics, &spool).await;

    let before = scrape(metrics).await;
    assert_eq!(
        metric(&before, "keyhold_audit_spool_bytes"),
        Some(0.0),
        "{before}"
    );
    assert_eq!(
        metric(&before, "keyhold_audit_spool_limit_bytes"),
        Some(1_073_741_824.0)
    );
    assert_eq!(
        metric(&before, "keyhold_audit_dead_letter_records_total"),
        Some(0.0)
    );
    assert_eq!(
        metric(&before, "keyhold_audit_dropped_records_total"),
        Some(0.0)
    );

    let mut root = kms.client(Who::Root);
    for _ in 0..20 {
        root.generate_random(GenerateRandomRequest { number_of_bytes: 8 })
            .await
            .unwrap();
    }
    // audit-svc is unreachable: the records go to the spool, and the gauge says so.
    let started = std::time::Instant::now();
    loop {
        let now = scrape(metrics).await;
        if metric(&now, "keyhold_audit_spool_bytes").is_some_and(|bytes| bytes > 0.0) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kms.stop().await;
    let _ = std::fs::remove_dir_all(spool);
}

/// What the metrics port answers to `request` (raw HTTP), until it closes.
async fn raw(address: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection is closed");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_port_serves_get_metrics_only() {
    let metrics = free_address();
    let spool =
        std::env::temp_dir().join(format!("keyhold-metrics-{}", uuid::Uuid::new_v4().simple()));
    let kms = kms_without_audit_svc(metrics, &spool).await;

    let other = raw(metrics, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    let post = raw(
        metrics,
        b"POST /metrics HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello",
    )
    .await;
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    // A request head larger than 8 KiB is refused before it is read whole.
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nhost: x\r\nx-pad: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let refused = raw(metrics, huge.as_bytes()).await;
    assert!(!refused.starts_with("HTTP/1.1 200"), "{refused}");
    // A client that never finishes its head is cut off.
    let stalled = raw(metrics, b"GET /metrics HTTP/1.1\r\n").await;
    assert!(!stalled.starts_with("HTTP/1.1 200"), "{stalled}");

    kms.stop().await;
    let _ = std::fs::remove_dir_all(spool);
}

/// IngestEvents streams are counted when they end, by how they ended: a service's
/// stream that closes cleanly as a success, a user's refusal as AccessDenied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_streams_are_counted_when_they_end() {
    let metrics = free_address();
    let flag = metrics.to_string();
    let audit = common::AuditHarness::start_with_flags(&["--metrics-listen", &flag]).await;
    let record = common::Record::kms(
        "DescribeKey",
        common::User::User1,
        common::base_time(),
        "1234abcd-12ab-34cd-56ef-1234567890ab",
    );
    // A stream that ends as streams should: the sender closes, the replies are read
    // to their end (the status in the trailers).
    let (sender, requests) = tokio::sync::mpsc::channel(1);
    sender
        .send(keyhold_proto::audit::v1::IngestEventsRequest {
            batch_sequence: 1,
            records: vec![record.to_proto()],
        })
        .await
        .unwrap();
    drop(sender);
    let mut replies = audit
        .client(common::Who::ObjectSvc)
        .ingest_events(tokio_stream::wrappers::ReceiverStream::new(requests))
        .await
        .unwrap()
        .into_inner();
    while replies.message().await.unwrap().is_some() {}
    let refused = common::ingest_as(
        &mut audit.client(common::Who::User1),
        vec![vec![record.to_proto()]],
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");

    let ingest = "keyhold.audit.v1.AuditService/IngestEvents";
    let counted = |text: &str, error_code: &str| {
        keyhold_tests::labelled_metric(
            text,
            "keyhold_grpc_server_requests_total",
            &[("operation", ingest), ("error_code", error_code)],
        )
    };
    let started = std::time::Instant::now();
    loop {
        let text = scrape(metrics).await;
        if counted(&text, "") == Some(1.0) && counted(&text, "AccessDenied") == Some(1.0) {
            assert_eq!(counted(&text, "RequestCanceled"), None, "{text}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
