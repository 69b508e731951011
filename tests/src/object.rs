//! object-svc started in-process over real TCP beside a real kms-svc, and helpers to
//! put and get objects the way a user's client does.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

use bytes::Bytes;
use clap::Parser;
use futures::StreamExt;
use keyhold_platform::{MemorySink, auth::ClientCredentials};
use keyhold_proto::object::v1::{
    GetObjectRequest, GetObjectResponse, ObjectHead, PutObjectHeader, PutObjectRequest,
    PutObjectResponse, get_object_response, object_service_client::ObjectServiceClient,
    put_object_request,
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::{
    Status,
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

use crate::{KmsHarness, TestDatabase, Who, kms::credentials};

pub type ObjectClient = ObjectServiceClient<InterceptedService<Channel, ClientCredentials>>;

/// kms-svc and object-svc, each with its own database, object-svc's audit records in
/// a memory sink (or, given `--audit-endpoint`, streamed to that audit-svc).
pub struct ObjectHarness {
    pub kms: KmsHarness,
    pub address: SocketAddr,
    /// The S3 REST endpoint.
    pub s3_address: SocketAddr,
    pub sink: MemorySink,
    pub database: TestDatabase,
    pub workdir: PathBuf,
    /// Extra object-svc flags, kept across restarts.
    flags: Vec<String>,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl ObjectHarness {
    pub async fn start() -> ObjectHarness {
        Self::start_with_flags(&[]).await
    }

    /// Like [`Self::start`], with extra object-svc flags (e.g. `--blob-sweep-seconds 1`),
    /// which a restart keeps.
    pub async fn start_with_flags(flags: &[&str]) -> ObjectHarness {
        Self::start_beside(KmsHarness::start().await, flags).await
    }

    /// object-svc with extra flags beside an already running kms-svc (for example one
    /// that streams its records to audit-svc).
    pub async fn start_beside(kms: KmsHarness, flags: &[&str]) -> ObjectHarness {
        let database = TestDatabase::create().await;
        let workdir = std::env::temp_dir().join(format!(
            "keyhold-object-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&workdir).expect("create the test workdir");
        std::fs::write(
            workdir.join("master.key"),
            keyhold_crypto::MasterKey::generate().to_base64(),
        )
        .expect("write the master key");
        std::fs::write(
            workdir.join("principals.json"),
            crate::kms::test_principals(),
        )
        .expect("write the principals");
        let flags = flags.iter().map(|f| (*f).to_owned()).collect();
        Self::start_on(kms, database, workdir, flags).await
    }

    async fn start_on(
        kms: KmsHarness,
        database: TestDatabase,
        workdir: PathBuf,
        flags: Vec<String>,
    ) -> ObjectHarness {
        let extra: Vec<&str> = flags.iter().map(String::as_str).collect();
        let config = object_config(&database.url, &workdir, kms.address, &extra);
        let bind = || async {
            TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind object-svc")
        };
        let listeners = object_svc::Listeners {
            grpc: bind().await,
            s3: bind().await,
        };
        let address = listeners.grpc.local_addr().expect("object-svc address");
        let s3_address = listeners.s3.local_addr().expect("S3 endpoint address");
        let sink = MemorySink::default();
        let shutdown = CancellationToken::new();
        // With an audit endpoint the records stream there (the real emitter);
        // otherwise the test reads them from the memory sink.
        let task = if config.audit.audit_endpoint.is_some() {
            tokio::spawn(object_svc::run(config, listeners, shutdown.clone()))
        } else {
            tokio::spawn(object_svc::run_with_sink(
                config,
                listeners,
                shutdown.clone(),
                std::sync::Arc::new(sink.clone()),
            ))
        };
        let harness = ObjectHarness {
            kms,
            address,
            s3_address,
            sink,
            database,
            workdir,
            flags,
            shutdown,
            task,
        };
        harness.wait_until_serving().await;
        harness
    }

    async fn wait_until_serving(&self) {
        crate::wait_until_serving(self.channel(), "object-svc", || self.task.is_finished()).await;
    }

    pub fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.address))
            .expect("endpoint")
            .connect_lazy()
    }

    pub fn client(&self, who: Who) -> ObjectClient {
        ObjectServiceClient::with_interceptor(self.channel(), credentials(who))
            .max_decoding_message_size(64 * 1024 * 1024)
    }

    /// Where object-svc keeps ciphertext.
    pub fn blob_dir(&self) -> PathBuf {
        self.workdir.join("blobs")
    }

    /// Stops object-svc (as SIGTERM would) and starts it again on the same database,
    /// blob store and master key.
    pub async fn restart(self) -> ObjectHarness {
        self.shutdown.cancel();
        self.task
            .await
            .expect("object-svc task")
            .expect("object-svc stops cleanly");
        Self::start_on(self.kms, self.database, self.workdir, self.flags).await
    }

    /// A second object-svc on the same database, blob store, master key and kms-svc,
    /// as two replicas behind one Service. It stops when dropped.
    pub async fn replica(&self) -> Replica {
        let extra: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        let config = object_config(&self.database.url, &self.workdir, self.kms.address, &extra);
        let grpc = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a replica");
        let s3 = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a replica");
        let address = grpc.local_addr().expect("replica address");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(object_svc::run_with_sink(
            config,
            object_svc::Listeners { grpc, s3 },
            shutdown.clone(),
            std::sync::Arc::new(MemorySink::default()),
        ));
        let channel = Endpoint::from_shared(format!("http://{address}"))
            .expect("endpoint")
            .connect_lazy();
        crate::wait_until_serving(channel.clone(), "object-svc replica", || task.is_finished())
            .await;
        Replica {
            channel,
            shutdown,
            _task: task,
        }
    }

    /// The records so far, once there are at least `count`.
    pub async fn events_at_least(&self, count: usize) -> Vec<keyhold_platform::CloudTrailEvent> {
        for _ in 0..200 {
            let events = self.sink.events();
            if events.len() >= count {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "expected {count} audit records, have {}",
            self.sink.events().len()
        );
    }
}

/// Another object-svc of an [`ObjectHarness`], sharing its database and blob store.
pub struct Replica {
    channel: Channel,
    shutdown: CancellationToken,
    _task: JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    pub fn client(&self, who: Who) -> ObjectClient {
        ObjectServiceClient::with_interceptor(self.channel.clone(), credentials(who))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The Config the binary would build from these flags.
pub fn object_config(
    database_url: &str,
    workdir: &std::path::Path,
    kms: SocketAddr,
    extra: &[&str],
) -> object_svc::Config {
    let (akid, secret) = Who::ObjectSvcForUser1
        .credentials()
        .expect("object-svc credentials");
    let mut args = vec![
        "object-svc".to_owned(),
        "--principals-file".to_owned(),
        workdir.join("principals.json").display().to_string(),
        "--database-url".to_owned(),
        database_url.to_owned(),
        "--master-key-file".to_owned(),
        workdir.join("master.key").display().to_string(),
        "--blob-store".to_owned(),
        workdir.join("blobs").display().to_string(),
        "--kms-endpoint".to_owned(),
        format!("http://{kms}"),
        "--kms-access-key-id".to_owned(),
        akid.to_owned(),
        "--kms-secret-access-key".to_owned(),
        secret.to_owned(),
        "--shutdown-grace-seconds".to_owned(),
        "5".to_owned(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    object_svc::Config::try_parse_from(args).expect("valid object-svc flags")
}

/// A PutObject header for `bucket/key`; adjust fields with struct update syntax.
pub fn put_header(bucket: &str, key: &str) -> PutObjectHeader {
    PutObjectHeader {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        ..Default::default()
    }
}

/// SSE-KMS with `key_id` (empty: the bucket's or the AWS managed key).
pub fn sse_kms(bucket: &str, key: &str, key_id: &str) -> PutObjectHeader {
    PutObjectHeader {
        server_side_encryption: "aws:kms".to_owned(),
        ssekms_key_id: key_id.to_owned(),
        ..put_header(bucket, key)
    }
}

/// Streams `header` then `body` in chunks of `chunk` bytes.
pub async fn put_object(
    client: &mut ObjectClient,
    header: PutObjectHeader,
    body: &[u8],
    chunk: usize,
) -> Result<PutObjectResponse, Status> {
    let mut messages = vec![PutObjectRequest {
        part: Some(put_object_request::Part::Header(header)),
    }];
    messages.extend(body.chunks(chunk.max(1)).map(|piece| PutObjectRequest {
        part: Some(put_object_request::Part::Chunk(Bytes::copy_from_slice(
            piece,
        ))),
    }));
    client
        .put_object(futures::stream::iter(messages))
        .await
        .map(tonic::Response::into_inner)
}

/// Puts `body` with the header's settings in 64 KiB chunks.
pub async fn put(
    client: &mut ObjectClient,
    header: PutObjectHeader,
    body: &[u8],
) -> Result<PutObjectResponse, Status> {
    put_object(client, header, body, 64 * 1024).await
}

/// GetObject: the head and every byte, or the first error (also one mid-stream).
pub async fn get_object(
    client: &mut ObjectClient,
    request: GetObjectRequest,
) -> Result<(ObjectHead, Vec<u8>), Status> {
    let mut stream = client.get_object(request).await?.into_inner();
    let mut head = None;
    let mut body = Vec::new();
    while let Some(message) = stream.next().await {
        let GetObjectResponse { part } = message?;
        match part {
            Some(get_object_response::Part::Head(h)) => head = Some(h),
            Some(get_object_response::Part::Chunk(bytes)) => body.extend_from_slice(&bytes),
            None => {}
        }
    }
    Ok((head.expect("GetObject sends its head first"), body))
}

/// GetObject of a whole object.
pub async fn get(
    client: &mut ObjectClient,
    bucket: &str,
    key: &str,
) -> Result<(ObjectHead, Vec<u8>), Status> {
    get_object(
        client,
        GetObjectRequest {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            ..Default::default()
        },
    )
    .await
}

/// A map literal for encryption contexts and metadata.
pub fn pairs(items: &[(&str, &str)]) -> HashMap<String, String> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Code, S3 code, message and the ErrorInfo metadata (exactly these pairs).
#[track_caller]
pub fn assert_s3_error<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: tonic::Code,
    s3_code: &str,
    message: &str,
    fields: &[(&str, &str)],
) {
    let status = result.expect_err("the call should fail");
    let info = tonic_types::StatusExt::get_error_details(&status)
        .error_info()
        .cloned()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    let metadata: std::collections::BTreeMap<String, String> = info.metadata.into_iter().collect();
    let expected: std::collections::BTreeMap<String, String> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(
        (
            status.code(),
            info.reason.as_str(),
            status.message(),
            metadata
        ),
        (code, s3_code, message, expected),
        "unexpected status {status:?}"
    );
    assert_eq!(info.domain, "s3.amazonaws.com");
}
