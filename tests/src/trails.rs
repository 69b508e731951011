//! The three services as `keyhold up` runs them, for trails: kms-svc and object-svc
//! stream their records to audit-svc, and audit-svc delivers log files into
//! object-svc through a proxy a test can cut (an object-svc outage) and point at a
//! restarted object-svc. audit-svc runs on a runtime of its own, so that a test can
//! crash it: shutting that runtime down drops every one of its tasks at whatever
//! await it is in (connections close, open transactions roll back), as kill -9 does,
//! and audit-svc starts again on the same address and database.

use std::{collections::BTreeMap, io::Read, net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use keyhold_proto::{
    audit::v1::{self as pb, trail_service_client::TrailServiceClient},
    object::v1::ListObjectsV2Request,
};
use tokio::{net::TcpListener, runtime::Runtime};
use tokio_util::sync::CancellationToken;
use tonic::{
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

use crate::{
    KmsHarness, ObjectClient, ObjectHarness, TestDatabase, Who, kms::credentials, object::get,
    proxy::CuttableProxy,
};

pub type TrailClient =
    TrailServiceClient<InterceptedService<Channel, keyhold_platform::auth::ClientCredentials>>;

pub struct TrailStack {
    pub object: ObjectHarness,
    /// Between audit-svc and object-svc.
    pub proxy: CuttableProxy,
    pub audit_address: SocketAddr,
    /// Where audit-svc serves the AWS CloudTrail JSON protocol.
    pub audit_aws_address: SocketAddr,
    pub audit_database: TestDatabase,
    audit_flags: Vec<String>,
    workdir: PathBuf,
    shutdown: CancellationToken,
    /// audit-svc's own runtime.
    audit: AuditRuntime,
}

fn emitter_flags(audit: SocketAddr, who: Who, spool: PathBuf) -> Vec<String> {
    let (akid, secret) = who.credentials().expect("a service principal");
    vec![
        "--audit-endpoint".into(),
        format!("http://{audit}"),
        "--audit-access-key-id".into(),
        akid.into(),
        "--audit-secret-access-key".into(),
        secret.into(),
        "--audit-spool-dir".into(),
        spool.display().to_string(),
    ]
}

/// A runtime that, dropped (also inside async code, where dropping a Runtime
/// panics), drops its tasks without waiting for them.
struct AuditRuntime(Option<Runtime>);

impl Drop for AuditRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl TrailStack {
    /// The stack, audit-svc delivering every second with `audit_flags` on top.
    pub async fn start(audit_flags: &[&str]) -> TrailStack {
        let workdir =
            std::env::temp_dir().join(format!("keyhold-trails-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&workdir).expect("create the test workdir");
        std::fs::write(
            workdir.join("principals.json"),
            crate::kms::test_principals(),
        )
        .expect("write the principals");
        // audit-svc's address first: the other two stream to it from their start.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind audit-svc");
        let audit_address = listener.local_addr().expect("audit-svc address");
        let aws_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind audit-svc's AWS port");
        let audit_aws_address = aws_listener.local_addr().expect("audit-svc's AWS address");
        let kms_flags = emitter_flags(audit_address, Who::KmsSvc, workdir.join("kms-spool"));
        let kms_flags: Vec<&str> = kms_flags.iter().map(String::as_str).collect();
        let database = TestDatabase::create().await;
        let url = database.url.clone();
        let kms = KmsHarness::start_with_flags(database, url, &kms_flags).await;
        let object_flags = emitter_flags(
            audit_address,
            Who::ObjectSvcForUser1,
            workdir.join("object-spool"),
        );
        let object_flags: Vec<&str> = object_flags.iter().map(String::as_str).collect();
        let object = ObjectHarness::start_beside(kms, &object_flags).await;
        let proxy = CuttableProxy::start(object.address).await;
        let mut flags = vec!["--delivery-interval-seconds".to_owned(), "1".to_owned()];
        flags.extend(audit_flags.iter().map(|f| (*f).to_owned()));
        let audit_database = TestDatabase::create().await;
        let shutdown = CancellationToken::new();
        let audit = spawn_audit(
            (listener, Some(aws_listener)),
            &workdir,
            &audit_database,
            proxy.address,
            &flags,
            shutdown.clone(),
        );
        let stack = TrailStack {
            object,
            proxy,
            audit_address,
            audit_aws_address,
            audit_database,
            audit_flags: flags,
            workdir,
            shutdown,
            audit,
        };
        crate::wait_until_serving(stack.audit_channel(), "audit-svc", || false).await;
        stack
    }

    /// The endpoint URL of the AWS CloudTrail JSON protocol (`AWS_ENDPOINT_URL_CLOUDTRAIL`).
    pub fn cloudtrail_endpoint(&self) -> String {
        format!("http://{}", self.audit_aws_address)
    }

    pub fn audit_channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.audit_address))
            .expect("endpoint")
            .connect_lazy()
    }

    pub fn trails(&self, who: Who) -> TrailClient {
        TrailServiceClient::with_interceptor(self.audit_channel(), credentials(who))
    }

    pub fn objects(&self, who: Who) -> ObjectClient {
        self.object.client(who)
    }

    /// Kills audit-svc where it stands (no drain, no last round) and starts it again
    /// on the same address and database.
    pub async fn crash_and_restart_audit(&mut self) {
        drop(std::mem::replace(&mut self.audit, AuditRuntime(None)));
        let listener = loop {
            match std::net::TcpListener::bind(self.audit_address) {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.shutdown = CancellationToken::new();
        // The AWS port is not served again after a crash.
        self.audit = spawn_audit(
            (listener, None),
            &self.workdir,
            &self.audit_database,
            self.proxy.address,
            &self.audit_flags,
            self.shutdown.clone(),
        );
        crate::wait_until_serving(self.audit_channel(), "audit-svc", || false).await;
    }

    /// Restarts object-svc (new port) and points the proxy at it.
    pub async fn restart_object(mut self) -> TrailStack {
        self.object = self.object.restart().await;
        self.proxy.retarget(self.object.address);
        self
    }
}

/// audit-svc on a runtime of its own, serving gRPC on `listeners.0` and, when given,
/// the AWS JSON protocol on `listeners.1`.
fn spawn_audit(
    listeners: (std::net::TcpListener, Option<std::net::TcpListener>),
    workdir: &std::path::Path,
    database: &TestDatabase,
    object: SocketAddr,
    flags: &[String],
    shutdown: CancellationToken,
) -> AuditRuntime {
    let mut args = vec![
        "audit-svc".to_owned(),
        "--principals-file".to_owned(),
        workdir.join("principals.json").display().to_string(),
        "--database-url".to_owned(),
        database.url.clone(),
        "--shutdown-grace-seconds".to_owned(),
        "5".to_owned(),
        "--object-endpoint".to_owned(),
        format!("http://{object}"),
    ];
    args.extend(flags.iter().cloned());
    let config = audit_svc::Config::try_parse_from(args).expect("valid audit-svc flags");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("audit-svc's runtime");
    let tokio_listener = |listener: std::net::TcpListener| {
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        listener
    };
    let (grpc, aws) = (tokio_listener(listeners.0), listeners.1.map(tokio_listener));
    runtime.spawn(async move {
        let listeners = keyhold_platform::server::Listeners {
            grpc: TcpListener::from_std(grpc).expect("audit-svc's listener"),
            aws: aws.map(|aws| TcpListener::from_std(aws).expect("audit-svc's AWS listener")),
        };
        if let Err(error) = audit_svc::run(config, listeners, shutdown).await {
            panic!("audit-svc failed: {error:#}");
        }
    });
    AuditRuntime(Some(runtime))
}

/// A trail's request with its name, for the calls that take only that.
pub fn named(name: &str) -> pb::GetTrailStatusRequest {
    pb::GetTrailStatusRequest { name: name.into() }
}

/// Every log file under `prefix` in `bucket`, key and records (gunzipped, parsed),
/// read as `who`.
pub async fn log_files(
    client: &mut ObjectClient,
    bucket: &str,
    prefix: &str,
) -> BTreeMap<String, Vec<serde_json::Value>> {
    let mut files = BTreeMap::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_objects_v2(ListObjectsV2Request {
                bucket: bucket.into(),
                prefix: prefix.into(),
                continuation_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("list the log files")
            .into_inner();
        for object in page.contents {
            let (_, gzip) = get(client, bucket, &object.key)
                .await
                .expect("read a log file");
            files.insert(object.key.clone(), records_of(&gzip));
        }
        if page.next_continuation_token.is_empty() {
            return files;
        }
        token = page.next_continuation_token;
    }
}

/// The records of a gzip JSON log file.
pub fn records_of(gzip: &[u8]) -> Vec<serde_json::Value> {
    let mut json = String::new();
    flate2::read::GzDecoder::new(gzip)
        .read_to_string(&mut json)
        .expect("a gzip log file");
    let mut file: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    match file["Records"].take() {
        serde_json::Value::Array(records) => records,
        other => panic!("no Records array: {other}"),
    }
}
