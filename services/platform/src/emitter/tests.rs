//! The emitter against a fake audit-svc: a plain tonic server that acknowledges each
//! batch and remembers the eventIDs it stored, and can be killed and restarted on
//! the same port.

use std::{
    collections::HashSet,
    net::SocketAddr,
    path::{Path, PathBuf},
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use keyhold_proto::audit::v1::{
    IngestEventsRequest, IngestEventsResponse, LookupEventsRequest, LookupEventsResponse,
    RejectedRecord, TailEventsRequest, TailEventsResponse,
    audit_service_server::{AuditService, AuditServiceServer},
};
use serde_json::Value;
use tokio::{net::TcpListener, sync::mpsc};
use tokio_stream::{
    Stream,
    wrappers::{ReceiverStream, TcpListenerStream},
};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status, Streaming};

use super::spool::Spool;
use super::*;
use crate::audit::{CloudTrailEvent, EVENT_VERSION, UserIdentity};

const AKID: &str = "AKIAKEYHOLDSVCKMS001";
const SECRET: &str = "kms-service-secret";

#[derive(Default)]
struct Received {
    ids: Vec<String>,
    batch_sizes: Vec<usize>,
    authorizations: Vec<String>,
}

#[derive(Clone, Default)]
struct FakeAudit {
    received: Arc<Mutex<Received>>,
    /// eventIDs whose batch is answered INVALID_ARGUMENT.
    poison: Arc<Mutex<HashSet<String>>>,
    /// eventIDs refused one by one, in the acknowledgement of their batch.
    refuse: Arc<Mutex<HashSet<String>>>,
}

impl FakeAudit {
    fn ids(&self) -> HashSet<String> {
        self.received.lock().unwrap().ids.iter().cloned().collect()
    }
}

/// One running fake; `kill` breaks its streams and stops it.
struct Running {
    kill: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn kill(self) {
        self.kill.cancel();
        let _ = self.handle.await;
    }
}

type Acks = Pin<Box<dyn Stream<Item = Result<IngestEventsResponse, Status>> + Send>>;

struct FakeService {
    fake: FakeAudit,
    kill: CancellationToken,
}

#[tonic::async_trait]
impl AuditService for FakeService {
    type IngestEventsStream = Acks;
    type TailEventsStream = Pin<Box<dyn Stream<Item = Result<TailEventsResponse, Status>> + Send>>;

    async fn ingest_events(
        &self,
        request: Request<Streaming<IngestEventsRequest>>,
    ) -> Result<Response<Acks>, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.fake
            .received
            .lock()
            .unwrap()
            .authorizations
            .push(authorization);
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(16);
        let fake = self.fake.clone();
        let kill = self.kill.clone();
        tokio::spawn(async move {
            loop {
                let batch = tokio::select! {
                    () = kill.cancelled() => {
                        let _ = tx.send(Err(Status::unavailable("killed"))).await;
                        return;
                    }
                    batch = inbound.message() => batch,
                };
                let Ok(Some(batch)) = batch else { return };
                let poisoned = {
                    let poison = fake.poison.lock().unwrap();
                    batch.records.iter().any(|r| poison.contains(&r.event_id))
                };
                if poisoned {
                    let _ = tx
                        .send(Err(Status::invalid_argument("malformed record")))
                        .await;
                    return;
                }
                let refused: Vec<RejectedRecord> = {
                    let refuse = fake.refuse.lock().unwrap();
                    batch
                        .records
                        .iter()
                        .filter(|r| refuse.contains(&r.event_id))
                        .map(|r| RejectedRecord {
                            event_id: r.event_id.clone(),
                            reason: "not a record".into(),
                        })
                        .collect()
                };
                {
                    let mut received = fake.received.lock().unwrap();
                    received.batch_sizes.push(batch.records.len());
                    for record in batch
                        .records
                        .iter()
                        .filter(|r| !refused.iter().any(|x| x.event_id == r.event_id))
                    {
                        let json: Value = serde_json::from_str(&record.cloud_trail_event)
                            .expect("records are CloudTrail JSON");
                        assert_eq!(json["eventID"], record.event_id.as_str());
                        received.ids.push(record.event_id.clone());
                    }
                }
                let ack = IngestEventsResponse {
                    acknowledged_sequence: batch.batch_sequence,
                    stored: (batch.records.len() - refused.len()) as u32,
                    rejected: refused,
                };
                if tx.send(Ok(ack)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn lookup_events(
        &self,
        _: Request<LookupEventsRequest>,
    ) -> Result<Response<LookupEventsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn tail_events(
        &self,
        _: Request<TailEventsRequest>,
    ) -> Result<Response<Self::TailEventsStream>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

async fn serve(fake: &FakeAudit, addr: SocketAddr) -> Running {
    let listener = TcpListener::bind(addr)
        .await
        .expect("bind the fake audit-svc");
    let kill = CancellationToken::new();
    let service = FakeService {
        fake: fake.clone(),
        kill: kill.clone(),
    };
    let signal = kill.clone().cancelled_owned();
    let handle = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(AuditServiceServer::new(service))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal)
            .await
            .expect("fake audit-svc");
    });
    Running { kill, handle }
}

/// A port nothing listens on (yet).
async fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("keyhold-emitter-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(addr: SocketAddr, dir: &Path) -> EmitterConfig {
    let mut config = EmitterConfig::new(format!("http://{addr}"), AKID, SECRET, dir);
    config.flush_timeout = Duration::from_millis(500);
    config
}

fn event(id: &str) -> CloudTrailEvent {
    CloudTrailEvent {
        event_version: EVENT_VERSION,
        user_identity: UserIdentity {
            kind: "IAMUser".into(),
            principal_id: None,
            arn: Some("arn:aws:iam::000000000000:user/alice".into()),
            account_id: "000000000000".into(),
            access_key_id: Some("AKIAKEYHOLDDEVUSER01".into()),
            user_name: Some("alice".into()),
            invoked_by: None,
        },
        event_time: "2025-01-01T00:00:00Z".into(),
        event_source: "kms.amazonaws.com".into(),
        event_name: "Encrypt".into(),
        aws_region: "us-east-1".into(),
        source_ip_address: "127.0.0.1".into(),
        user_agent: "test".into(),
        error_code: None,
        error_message: None,
        request_parameters: serde_json::json!({"keyId": "alias/test", "note": "line\nbreak"}),
        response_elements: Value::Null,
        additional_event_data: None,
        request_id: uuid::Uuid::new_v4().to_string(),
        event_id: id.to_owned(),
        read_only: false,
        resources: Vec::new(),
        event_type: "AwsApiCall",
        management_event: true,
        recipient_account_id: "000000000000".into(),
        event_category: "Management",
        tls_details: None,
    }
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:05}")).collect()
}

fn record_all(emitter: &AuditEmitter, ids: &[String]) {
    for id in ids {
        emitter.record(event(id));
    }
}

fn spool_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn spooled_ids(dir: &Path) -> HashSet<String> {
    spool_files(dir)
        .iter()
        .flat_map(|path| {
            std::fs::read_to_string(path)
                .unwrap()
                .lines()
                .map(|line| {
                    let json: Value = serde_json::from_str(line).unwrap();
                    json["eventID"].as_str().unwrap().to_owned()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn missing(fake: &FakeAudit, sent: &[String]) -> usize {
    let got = fake.ids();
    sent.iter().filter(|id| !got.contains(*id)).count()
}

#[tokio::test]
async fn events_reach_the_server_in_batches() {
    let fake = FakeAudit::default();
    let addr = free_addr().await;
    let server = serve(&fake, addr).await;
    let dir = TempDir::new();
    let mut config = config(addr, &dir.0);
    config.batch_max = 10;
    let (emitter, task) = AuditEmitter::start(config, CancellationToken::new()).unwrap();

    let sent = ids("batch", 250);
    record_all(&emitter, &sent);
    eventually("all events acknowledged", || missing(&fake, &sent) == 0).await;
    task.finish().await;
    server.kill().await;

    let received = fake.received.lock().unwrap();
    assert!(received.batch_sizes.iter().all(|n| (1..=10).contains(n)));
    assert!(received.batch_sizes.len() >= 25);
    assert!(
        received
            .authorizations
            .iter()
            .all(|a| a == &format!("Bearer {AKID}:{SECRET}")),
        "{:?}",
        received.authorizations
    );
    assert!(spool_files(&dir.0).is_empty());
    assert_eq!(emitter.spooled_bytes(), 0);
    assert_eq!(emitter.dropped(), 0);
}

/// Records made a few milliseconds apart, as a handful of callers make them.
async fn record_spaced(emitter: &AuditEmitter, ids: &[String]) {
    for id in ids {
        emitter.record(event(id));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn records_arriving_apart_share_a_batch_within_the_linger() {
    let fake = FakeAudit::default();
    let addr = free_addr().await;
    let server = serve(&fake, addr).await;
    let dir = TempDir::new();
    let mut config = config(addr, &dir.0);
    config.linger = Duration::from_secs(3);
    let (emitter, task) = AuditEmitter::start(config, CancellationToken::new()).unwrap();

    let sent = ids("linger", 10);
    record_spaced(&emitter, &sent).await;
    eventually("all events acknowledged", || missing(&fake, &sent) == 0).await;
    assert_eq!(fake.received.lock().unwrap().batch_sizes, vec![10]);

    // Finishing does not wait out the linger: the record the worker is lingering on
    // is sent as soon as the emitter is asked to finish.
    let last = ids("last", 1);
    record_all(&emitter, &last);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let finishing = std::time::Instant::now();
    task.finish().await;
    assert!(
        finishing.elapsed() < Duration::from_secs(2),
        "finish waited {:?} of a 3 s linger",
        finishing.elapsed()
    );
    server.kill().await;
    assert_eq!(missing(&fake, &last), 0);
}

#[tokio::test]
async fn without_a_linger_each_record_is_sent_as_soon_as_it_is_taken() {
    let fake = FakeAudit::default();
    let addr = free_addr().await;
    let server = serve(&fake, addr).await;
    let dir = TempDir::new();
    let mut config = config(addr, &dir.0);
    config.linger = Duration::ZERO;
    let (emitter, task) = AuditEmitter::start(config, CancellationToken::new()).unwrap();

    let sent = ids("alone", 10);
    record_spaced(&emitter, &sent).await;
    eventually("all events acknowledged", || missing(&fake, &sent) == 0).await;
    task.finish().await;
    server.kill().await;
    let batches = fake.received.lock().unwrap().batch_sizes.len();
    assert!(
        batches >= 5,
        "10 records 2 ms apart went in {batches} batches"
    );
}

#[tokio::test]
async fn records_spool_while_the_server_is_down_and_replay_when_it_is_back() {
    let fake = FakeAudit::default();
    let addr = free_addr().await;
    let dir = TempDir::new();
    let mut config = config(addr, &dir.0);
    // A small queue makes `record` itself spill, as under a long outage.
    config.queue_capacity = 8;
    config.batch_max = 16;
    config.spool_file_bytes = 4096;
    let (emitter, task) = AuditEmitter::start(config, CancellationToken::new()).unwrap();

    let sent = ids("down", 300);
    record_all(&emitter, &sent);
    eventually("records spooled", || spooled_ids(&dir.0).len() >= 290).await;
    assert!(spool_files(&dir.0).len() > 1, "spool files rotate");
    assert!(emitter.spooled_bytes() > 0);

    let server = serve(&fake, addr).await;
    eventually("all events replayed", || missing(&fake, &sent) == 0).await;
    eventually("spool files deleted", || spool_files(&dir.0).is_empty()).await;
    assert_eq!(emitter.spooled_bytes(), 0);
    task.finish().await;
    server.kill().await;
    assert_eq!(emitter.dropped(), 0);
}

#[tokio::test]
async fn a_server_killed_mid_stream_loses_no_event() {
    let fake = FakeAudit::default();
    let addr = free_addr().await;
    let server = serve(&fake, addr).await;
    let dir = TempDir::new();
    let mut config = config(addr, &dir.0);
    config.batch_max = 20;
    let (emitter, task) = AuditEmitter::start(config, CancellationToken::new()).unwrap();

    let sent = ids("kill", 600);
    let recorder = {
        let emitter = emitter.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            for chunk in sent.chunks(10) {
                record_all(&emitter, chunk);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    eventually("some events delivered", || fake.ids().len() >= 100).await;
    server.kill().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server = serve(&fake, addr).await;
    recorder.await.unwrap();

    eventually("every event delivered", || missing(&fake, &sent) == 0).await;
    eventually("spool drained", || spool_files(&dir.0).is_empty()).await;
    task.finish().await;
    server.kill().await;
    assert_eq!(emitter.dropped(), 0);
    assert!(
        fake.received.lock().unwrap().authorizations.len() >= 2,
        "the emitter reconnected"
    );
}

#[tokio::test]
async fn a_full_spool_refuses_calls() {
    let dir = TempDir::new();
    let mut config = config(free_addr().await, &dir.0);
    config.queue_capacity = 1;
    config.spool_max_bytes = 4000;
    let (emitter, task) = AuditEmitter::start(config, CancellationToken::new()).unwrap();
    assert!(emitter.admit().is_ok());

    let sent = ids("refuse", 20);
    record_all(&emitter, &sent);
    let refused = emitter.admit().expect_err("spool over its limit");
    assert_eq!(refused.code, Code::Unavailable);
    assert_eq!(refused.exception, "ServiceUnavailableException");
    assert!(refused.message.contains("audit spool is full"));
    task.finish().await;
    // Refusing new calls never costs the records of admitted ones.
    assert_eq!(emitter.dropped(), 0);
    assert_eq!(spooled_ids(&dir.0), sent.into_iter().collect());
}

#[tokio::test]
async fn a_full_spool_drops_and_counts_when_configured() {
    let dir = TempDir::new();
    let mut config = config(free_addr().await, &dir.0);
    config.queue_capacity = 1;
    config.spool_max_bytes = 4000;
    config.when_full = WhenFull::DropAndCount;
    let (emitter, task) = AuditEmitter::start(config, CancellationToken::new()).unwrap();

    record_all(&emitter, &ids("drop", 50));
    assert!(emitter.admit().is_ok());
    assert!(emitter.dropped() > 0);
    task.finish().await;
    let spooled = spooled_ids(&dir.0).len() as u64;
    assert_eq!(spooled + emitter.dropped(), 50);
}

#[tokio::test]
async fn finish_with_the_server_down_spools_everything_for_the_next_run() {
    let fake = FakeAudit::default();
    let addr = free_addr().await;
    let dir = TempDir::new();
    let (emitter, task) =
        AuditEmitter::start(config(addr, &dir.0), CancellationToken::new()).unwrap();
    let sent = ids("finish", 120);
    record_all(&emitter, &sent);
    task.finish().await;
    // After finish, records still land in the spool.
    let late = ids("late", 3);
    record_all(&emitter, &late);
    let all: HashSet<String> = sent.iter().chain(&late).cloned().collect();
    assert_eq!(spooled_ids(&dir.0), all);

    let server = serve(&fake, addr).await;
    let (next, task) = AuditEmitter::start(config(addr, &dir.0), CancellationToken::new()).unwrap();
    let sent: Vec<String> = all.into_iter().collect();
    eventually("replayed by the next run", || missing(&fake, &sent) == 0).await;
    eventually("spool drained", || spool_files(&dir.0).is_empty()).await;
    task.finish().await;
    server.kill().await;
    assert_eq!(next.spooled_bytes(), 0);
}

#[tokio::test]
async fn an_invalid_batch_is_set_aside_and_later_batches_flow() {
    let fake = FakeAudit::default();
    fake.poison.lock().unwrap().insert("poison".to_owned());
    let addr = free_addr().await;
    let server = serve(&fake, addr).await;
    let dir = TempDir::new();
    let (emitter, task) =
        AuditEmitter::start(config(addr, &dir.0), CancellationToken::new()).unwrap();

    let before = ids("before", 5);
    record_all(&emitter, &before);
    emitter.record(event("poison"));
    let rejected = dir.0.join("rejected");
    eventually("poison set aside", || {
        spooled_ids_in(&rejected).contains("poison")
    })
    .await;

    let after = ids("after", 50);
    record_all(&emitter, &after);
    eventually("later events delivered", || missing(&fake, &after) == 0).await;
    // What shared the poison's batch is set aside with it; the rest is delivered.
    let set_aside = spooled_ids_in(&rejected);
    let got = fake.ids();
    assert!(
        before
            .iter()
            .all(|id| got.contains(id) || set_aside.contains(id))
    );
    assert!(!got.contains("poison"));
    eventually("spool drained", || spool_files(&dir.0).is_empty()).await;
    task.finish().await;
    server.kill().await;
}

#[tokio::test]
async fn a_refused_record_is_set_aside_alone_and_counted() {
    let fake = FakeAudit::default();
    fake.refuse.lock().unwrap().insert("bad".to_owned());
    let addr = free_addr().await;
    let server = serve(&fake, addr).await;
    let dir = TempDir::new();
    let (emitter, task) =
        AuditEmitter::start(config(addr, &dir.0), CancellationToken::new()).unwrap();

    let before = ids("before", 5);
    record_all(&emitter, &before);
    emitter.record(event("bad"));
    let after = ids("after", 50);
    record_all(&emitter, &after);
    eventually("every good record delivered", || {
        missing(&fake, &before) + missing(&fake, &after) == 0
    })
    .await;
    let rejected = dir.0.join("rejected");
    eventually("the refused one set aside", || emitter.dead_lettered() == 1).await;
    assert_eq!(spooled_ids_in(&rejected), HashSet::from(["bad".to_owned()]));
    let reasons = std::fs::read_to_string(rejected.join("reasons.jsonl")).unwrap();
    let reason: Value = serde_json::from_str(reasons.trim_end()).unwrap();
    assert_eq!(reason["eventID"], "bad");
    assert_eq!(reason["reason"], "not a record");
    assert_eq!(emitter.dropped(), 0);
    task.finish().await;
    server.kill().await;
}

fn spooled_ids_in(dir: &Path) -> HashSet<String> {
    if dir.exists() {
        spooled_ids(dir)
    } else {
        HashSet::new()
    }
}

#[test]
fn the_spool_survives_a_reopen_and_resumes_replay_at_the_acknowledged_offset() {
    let dir = TempDir::new();
    let records: Vec<Record> = ids("spool", 10)
        .into_iter()
        .map(|id| Record {
            json: serde_json::to_string(&event(&id)).unwrap(),
            event_id: id,
            traceparent: None,
        })
        .collect();
    let spool = Spool::open(&dir.0, 1 << 20, 1 << 20).unwrap();
    spool.append(&records, true).unwrap();
    let size = spool.bytes();
    drop(spool);

    let spool = Spool::open(&dir.0, 1 << 20, 1 << 20).unwrap();
    assert_eq!(spool.bytes(), size);
    let mut replay = spool::Replay::default();
    replay.add(spool.take_ready());
    let first = replay.next_batch(&spool, 4).unwrap();
    assert_eq!(first.records[0].event_id, "spool-00000");
    replay.done(&spool, first.file, first.end);
    let _unacknowledged = replay.next_batch(&spool, 4).unwrap();
    replay.reset(&spool);

    replay.add(spool.take_ready());
    let resumed = replay.next_batch(&spool, 100).unwrap();
    assert_eq!(resumed.records.len(), 6);
    assert_eq!(resumed.records[0].event_id, "spool-00004");
    assert!(replay.next_batch(&spool, 100).is_none());
    replay.done(&spool, resumed.file, resumed.end);
    assert_eq!(spool.bytes(), 0);
    assert!(spool_files(&dir.0).is_empty());
}

#[tokio::test]
async fn finish_delivers_what_is_queued_when_the_server_is_up() {
    let fake = FakeAudit::default();
    let addr = free_addr().await;
    let server = serve(&fake, addr).await;
    let dir = TempDir::new();
    let (emitter, task) =
        AuditEmitter::start(config(addr, &dir.0), CancellationToken::new()).unwrap();
    let sent = ids("flush", 3000);
    record_all(&emitter, &sent);
    task.finish().await;
    assert_eq!(missing(&fake, &sent), 0);
    assert!(spool_files(&dir.0).is_empty());
    server.kill().await;
}

#[derive(clap::Parser)]
struct Flags {
    #[command(flatten)]
    emitter: EmitterArgs,
}

#[test]
fn flags_choose_the_sink_and_require_credentials_with_an_endpoint() {
    use clap::{CommandFactory, Parser};
    Flags::command().debug_assert();

    let none = Flags::try_parse_from(["svc"]).unwrap().emitter;
    assert!(none.emitter_config("kms-svc").unwrap().is_none());

    let no_credentials = Flags::try_parse_from(["svc", "--audit-endpoint", "http://audit:50052"])
        .unwrap()
        .emitter;
    assert!(no_credentials.emitter_config("kms-svc").is_err());

    let full = Flags::try_parse_from([
        "svc",
        "--audit-endpoint",
        "http://audit:50052",
        "--audit-access-key-id",
        AKID,
        "--audit-secret-access-key",
        SECRET,
        "--audit-when-full",
        "drop",
        "--audit-spool-dir",
        "/var/spool/keyhold",
    ])
    .unwrap()
    .emitter;
    let config = full.emitter_config("kms-svc").unwrap().unwrap();
    assert_eq!(
        config.spool_dir,
        PathBuf::from("/var/spool/keyhold/kms-svc")
    );
    assert_eq!(config.when_full, WhenFull::DropAndCount);
    assert_eq!(config.queue_capacity, DEFAULT_QUEUE_CAPACITY);
    assert_eq!(config.secret_access_key.as_str(), SECRET);
    assert!(!format!("{config:?}").contains(SECRET));
}

#[tokio::test]
async fn batches_of_large_records_stay_under_the_message_limit() {
    // tonic's default 4 MiB limit on the fake server: 1000 records of 30 KB (a
    // PutKeyPolicy record's size) would be 30 MB in one batch without the byte cap.
    let fake = FakeAudit::default();
    let addr = free_addr().await;
    let server = serve(&fake, addr).await;
    let dir = TempDir::new();
    let (emitter, task) =
        AuditEmitter::start(config(addr, &dir.0), CancellationToken::new()).unwrap();

    let sent = ids("large", 300);
    for id in &sent {
        let mut large = event(id);
        large.request_parameters = serde_json::json!({"policy": "x".repeat(30_000)});
        emitter.record(large);
    }
    eventually("all large events acknowledged", || {
        missing(&fake, &sent) == 0
    })
    .await;
    task.finish().await;
    server.kill().await;
    assert!(
        fake.received
            .lock()
            .unwrap()
            .batch_sizes
            .iter()
            .all(|n| *n <= BATCH_MAX_BYTES / 30_000 + 2)
    );
    assert!(spool_files(&dir.0).is_empty());
}

/// Log lines written while `f` runs on this thread.
fn logs_of(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn the_spool_warns_once_per_fill_level_it_crosses() {
    let dir = TempDir::new();
    let spool = Spool::open(&dir.0, 1000, 1 << 20).unwrap();
    // 99 bytes of JSON and a newline: ten lines fill the spool.
    let record = Record {
        event_id: "e".into(),
        json: format!("{{\"eventID\":\"e\",\"x\":\"{}\"}}", "x".repeat(77)),
        traceparent: None,
    };
    assert_eq!(record.json.len(), 99);
    let logs = logs_of(|| {
        for _ in 0..15 {
            spool.append(std::slice::from_ref(&record), false).unwrap();
        }
        for file in spool.take_ready() {
            spool.remove(&file);
        }
        for _ in 0..5 {
            spool.append(std::slice::from_ref(&record), false).unwrap();
        }
    });
    let count = |text: &str| logs.matches(text).count();
    assert_eq!(
        (
            count("is 50% full"),
            count("is 90% full"),
            count("is 100% full")
        ),
        (2, 1, 1),
        "{logs}"
    );
    assert_eq!(count("the audit spool is draining"), 1, "{logs}");
}
