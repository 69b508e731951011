//! OpenTelemetry across the services: one S3 PUT of an SSE-KMS object is ONE trace,
//! with spans from object-svc (the S3 request), kms-svc (GenerateDataKey) and
//! audit-svc (storing each call's record), every parent link pointing at a span of
//! the same trace. The three binaries export to an OTLP receiver in this test, as
//! the otel component's collector receives them in a cluster.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use keyhold_tests::{
    TestDatabase, Who,
    binary::{ServiceProcess, bin_dir, workdir},
    kms::{client_at, lab_user_key},
    s3::s3_client,
    s3_sdk::{create_bucket, put_kms},
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
    trace::v1::span::SpanKind,
};
use tonic::{Request, Response, Status};

/// A span as the receiver got it, with the `service.name` of its resource.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    kind: i32,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
}

#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Received>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .and_then(
                    |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                        Value::StringValue(name) => Some(name.clone()),
                        _ => None,
                    },
                )
                .unwrap_or_default();
            for span in resource_spans
                .scope_spans
                .into_iter()
                .flat_map(|scope| scope.spans)
            {
                spans.push(Received {
                    service: service.clone(),
                    name: span.name,
                    kind: span.kind,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                });
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Serves the receiver on a loopback port; returns its address.
async fn start_receiver(receiver: Receiver) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_kms_put_is_one_trace_across_the_three_services() {
    let receiver = Receiver::default();
    let otlp = start_receiver(receiver.clone()).await;
    let bins = bin_dir(env!("CARGO_BIN_EXE_object-svc"));
    let dir = workdir(&[]);
    let otel = || {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}")),
            // Spans leave every 100 ms instead of every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ]
    };
    let (audit_db, kms_db, object_db) = (
        TestDatabase::create().await,
        TestDatabase::create().await,
        TestDatabase::create().await,
    );
    let mut audit = ServiceProcess::new(&bins, "audit-svc", &dir, &audit_db.url, &otel());
    audit.start().await;
    let mut kms_env = otel();
    kms_env.extend(ServiceProcess::audit_env(
        &audit.address,
        Who::KmsSvc,
        &dir.join("kms-spool"),
    ));
    let mut kms = ServiceProcess::new(&bins, "kms-svc", &dir, &kms_db.url, &kms_env);
    kms.start().await;
    let s3_address = keyhold_tests::binary::free_address();
    let (object_akid, object_secret) = Who::ObjectSvcForUser1.credentials().unwrap();
    let mut object_env = otel();
    object_env.extend(ServiceProcess::audit_env(
        &audit.address,
        Who::ObjectSvcForUser1,
        &dir.join("object-spool"),
    ));
    object_env.extend([
        ("KEYHOLD_S3_LISTEN", s3_address.clone()),
        (
            "KEYHOLD_BLOB_STORE",
            dir.join("blobs").display().to_string(),
        ),
        ("KEYHOLD_KMS_ENDPOINT", format!("http://{}", kms.address)),
        ("KEYHOLD_KMS_ACCESS_KEY_ID", object_akid.to_owned()),
        ("KEYHOLD_KMS_SECRET_ACCESS_KEY", object_secret.to_owned()),
    ]);
    let mut object = ServiceProcess::new(&bins, "object-svc", &dir, &object_db.url, &object_env);
    object.start().await;

    let key = lab_user_key(&mut client_at(&kms.address, Who::User1)).await;
    let s3 = s3_client(
        &format!("http://{s3_address}"),
        Who::User1,
        aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
    );
    create_bucket(&s3, "traced").await;
    // CreateBucket's record is stored before the PUT is made, so that what the trace
    // of the PUT holds is the PUT's alone. (Records stored together each get a span
    // in their own trace: platform's telemetry unit tests check that.)
    let bucket_stored = wait_for(&receiver, |spans| {
        let create = spans
            .iter()
            .find(|span| span.service == "object-svc" && span.name == "S3.CreateBucket")?;
        spans
            .iter()
            .any(|span| span.trace_id == create.trace_id && span.service == "audit-svc")
            .then_some(())
    })
    .await;
    assert!(
        bucket_stored.is_some(),
        "CreateBucket's record was never stored"
    );
    put_kms(&s3, "traced", "image.png", &key.key_id, b"traced bytes").await;

    // audit-svc stores the records within a second or so; then every service stops,
    // flushing what spans it still holds.
    let put = wait_for(&receiver, |spans| {
        let put = spans
            .iter()
            .find(|span| span.service == "object-svc" && span.name == "S3.PutObject")?;
        let in_trace = |service: &str| {
            spans
                .iter()
                .filter(|span| span.trace_id == put.trace_id && span.service == service)
                .count()
        };
        (in_trace("kms-svc") >= 1 && in_trace("audit-svc") >= 2).then(|| put.clone())
    })
    .await;
    // Stopped either way: a service flushes its spans (and logs) as it stops.
    let mut logs = String::new();
    for process in [&mut object, &mut kms, &mut audit] {
        logs += &process.stop().await;
    }
    let put = put.unwrap_or_else(|| {
        panic!(
            "no trace with spans of the three services: {:#?}\n{logs}",
            receiver.0.lock().unwrap()
        )
    });
    let trace: Vec<Received> = receiver
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|span| span.trace_id == put.trace_id)
        .cloned()
        .collect();
    let by_id: HashMap<&[u8], &Received> = trace
        .iter()
        .map(|span| (span.span_id.as_slice(), span))
        .collect();

    // The S3 request is the root: the SDK sent no traceparent.
    assert_eq!(put.kind, SpanKind::Server as i32);
    assert!(put.parent_span_id.is_empty(), "{put:?}");
    // kms-svc's GenerateDataKey, a child of object-svc's span.
    let generate = trace
        .iter()
        .find(|span| span.service == "kms-svc" && span.name.ends_with("/GenerateDataKey"))
        .unwrap_or_else(|| panic!("no GenerateDataKey span in {trace:#?}"));
    let parent = by_id
        .get(generate.parent_span_id.as_slice())
        .unwrap_or_else(|| panic!("GenerateDataKey's parent is not in the trace: {trace:#?}"));
    assert_eq!(parent.service, "object-svc", "{trace:#?}");
    // audit-svc stored the records of both calls, each inside its call's trace.
    let stored: Vec<&Received> = trace
        .iter()
        .filter(|span| span.service == "audit-svc")
        .collect();
    let parents: Vec<&str> = stored
        .iter()
        .map(|span| {
            by_id
                .get(span.parent_span_id.as_slice())
                .map_or("(missing)", |parent| parent.service.as_str())
        })
        .collect();
    assert!(
        parents.contains(&"object-svc") && parents.contains(&"kms-svc"),
        "audit-svc spans' parents: {parents:?} in {trace:#?}"
    );
    // No span of the trace points at a parent the trace does not have.
    for span in &trace {
        assert!(
            span.parent_span_id.is_empty() || by_id.contains_key(span.parent_span_id.as_slice()),
            "{span:?} has a parent outside the trace: {trace:#?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// What `found` finds in the spans received, once it finds something (30 s at most).
async fn wait_for<T>(receiver: &Receiver, found: impl Fn(&[Received]) -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(value) = found(&receiver.0.lock().unwrap()) {
            return Some(value);
        }
        if started.elapsed() > Duration::from_secs(30) {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
