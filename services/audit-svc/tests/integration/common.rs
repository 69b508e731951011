//! audit-svc started in-process over real TCP on its own test database, clients for
//! the dev principals, and CloudTrail records to feed it.

#![allow(dead_code)]

use std::{net::SocketAddr, time::Duration};

use chrono::{DateTime, Utc};
use clap::Parser;
use keyhold_platform::auth::ClientCredentials;
use keyhold_proto::audit::v1::{self as pb, audit_service_client::AuditServiceClient};
use keyhold_tests::TestDatabase;
use sqlx::PgPool;
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{
    Status,
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};
use uuid::Uuid;

pub const ACCOUNT: &str = "000000000000";

/// The dev principals (deploy/dev/principals.json), and a test user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Root,
    User1,
    /// object-svc's service principal, calling for itself (as its emitter does).
    ObjectSvc,
    /// A user whose identity policy does not allow cloudtrail:LookupEvents.
    User4,
}

impl Who {
    fn credentials(self) -> (&'static str, &'static str) {
        match self {
            Who::Root => (
                "AKIAKEYHOLDDEVROOT00",
                "dev-only-root-secret-not-for-production",
            ),
            Who::User1 => (
                "AKIAKEYHOLDDEVUSER01",
                "dev-only-user-0001-secret-not-for-production",
            ),
            Who::ObjectSvc => (
                "AKIAKEYHOLDDEVOBJSVC",
                "dev-only-object-svc-secret-not-for-production",
            ),
            Who::User4 => ("AKIAKEYHOLDTESTUSR04", "test-only-user-0004-secret"),
        }
    }
}

pub type AuditClient = AuditServiceClient<InterceptedService<Channel, ClientCredentials>>;

pub struct AuditHarness {
    pub address: SocketAddr,
    pub database: TestDatabase,
    /// audit-svc's own database, for checks behind its back.
    pub pool: PgPool,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl AuditHarness {
    pub async fn start() -> AuditHarness {
        Self::start_with_flags(&[]).await
    }

    pub async fn start_with_flags(flags: &[&str]) -> AuditHarness {
        Self::start_on(TestDatabase::create().await, flags).await
    }

    /// audit-svc (run(), so its own calls are recorded in its store) on `database`.
    pub async fn start_on(database: TestDatabase, flags: &[&str]) -> AuditHarness {
        let principals = std::env::temp_dir().join(format!(
            "keyhold-audit-principals-{}.json",
            Uuid::new_v4().simple()
        ));
        std::fs::write(&principals, keyhold_tests::kms::test_principals())
            .expect("write the principals");
        let mut args = vec![
            "audit-svc".to_owned(),
            "--principals-file".to_owned(),
            principals.display().to_string(),
            "--database-url".to_owned(),
            database.url.clone(),
            "--shutdown-grace-seconds".to_owned(),
            "5".to_owned(),
        ];
        args.extend(flags.iter().map(|s| (*s).to_owned()));
        let config = audit_svc::Config::try_parse_from(args).expect("valid audit-svc flags");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind audit-svc");
        let address = listener.local_addr().expect("audit-svc address");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(audit_svc::run(config, listener, shutdown.clone()));
        let pool = PgPool::connect(&database.url)
            .await
            .expect("the test database");
        let harness = AuditHarness {
            address,
            database,
            pool,
            shutdown,
            task,
        };
        harness.wait_until_serving().await;
        harness
    }

    async fn wait_until_serving(&self) {
        let mut health = tonic_health::pb::health_client::HealthClient::new(self.channel());
        for _ in 0..200 {
            assert!(!self.task.is_finished(), "audit-svc stopped while starting");
            let check = health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await;
            if check.is_ok_and(|r| r.into_inner().status == 1) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("audit-svc did not become SERVING");
    }

    pub fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.address))
            .expect("endpoint")
            .connect_lazy()
    }

    pub fn client(&self, who: Who) -> AuditClient {
        let (akid, secret) = who.credentials();
        AuditServiceClient::with_interceptor(self.channel(), ClientCredentials::new(akid, secret))
    }

    /// Sends batches on one IngestEvents stream as object-svc; returns the acks.
    pub async fn ingest(
        &self,
        batches: Vec<Vec<pb::AuditRecord>>,
    ) -> Result<Vec<pb::IngestEventsResponse>, Status> {
        ingest_as(&mut self.client(Who::ObjectSvc), batches).await
    }

    /// Ingests records in batches of 500 and expects them all to be new.
    pub async fn ingest_all(&self, records: &[Record]) {
        let batches: Vec<Vec<pb::AuditRecord>> = records
            .chunks(500)
            .map(|chunk| chunk.iter().map(Record::to_proto).collect())
            .collect();
        let acks = self.ingest(batches).await.expect("ingest");
        let stored: u32 = acks.iter().map(|a| a.stored).sum();
        assert_eq!(stored as usize, records.len(), "every record is new");
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect("a count")
    }

    pub async fn stop(self) -> TestDatabase {
        self.shutdown.cancel();
        self.task
            .await
            .expect("audit-svc task")
            .expect("audit-svc stops cleanly");
        self.pool.close().await;
        self.database
    }
}

pub async fn ingest_as(
    client: &mut AuditClient,
    batches: Vec<Vec<pb::AuditRecord>>,
) -> Result<Vec<pb::IngestEventsResponse>, Status> {
    let count = batches.len();
    let (sender, requests) = mpsc::channel(count.max(1));
    for (i, records) in batches.into_iter().enumerate() {
        sender
            .send(pb::IngestEventsRequest {
                batch_sequence: i as u64 + 1,
                records,
            })
            .await
            .expect("queue a batch");
    }
    // Keep the request stream open until every ack is in, as the emitter does.
    let mut replies = client
        .ingest_events(ReceiverStream::new(requests))
        .await?
        .into_inner();
    let mut acks = Vec::with_capacity(count);
    while acks.len() < count {
        match replies.message().await? {
            Some(ack) => acks.push(ack),
            None => break,
        }
    }
    drop(sender);
    Ok(acks)
}

/// A CloudTrail record as keyhold's services write them.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: Uuid,
    pub time: DateTime<Utc>,
    pub name: String,
    pub source: String,
    pub user: User,
    pub read_only: bool,
    pub category: &'static str,
    /// (type, ARN)
    pub resources: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    Root,
    User1,
    User2,
    /// An anonymous S3 caller.
    Anonymous,
}

impl User {
    pub fn access_key(self) -> Option<&'static str> {
        match self {
            User::Root => Some("AKIAKEYHOLDDEVROOT00"),
            User::User1 => Some("AKIAKEYHOLDDEVUSER01"),
            User::User2 => Some("AKIAKEYHOLDDEVUSER02"),
            User::Anonymous => None,
        }
    }

    pub fn username(self) -> Option<&'static str> {
        match self {
            User::Root => Some("root"),
            User::User1 => Some("AWSLabsUser-0001"),
            User::User2 => Some("AWSLabsUser-0002"),
            User::Anonymous => None,
        }
    }

    fn identity(self) -> serde_json::Value {
        match self {
            User::Root => serde_json::json!({
                "type": "Root", "principalId": ACCOUNT,
                "arn": format!("arn:aws:iam::{ACCOUNT}:root"), "accountId": ACCOUNT,
                "accessKeyId": "AKIAKEYHOLDDEVROOT00"
            }),
            User::User1 | User::User2 => {
                let name = self.username().expect("a user name");
                serde_json::json!({
                    "type": "IAMUser", "principalId": format!("AIDA{name}"),
                    "arn": format!("arn:aws:iam::{ACCOUNT}:user/{name}"), "accountId": ACCOUNT,
                    "accessKeyId": self.access_key(), "userName": name
                })
            }
            User::Anonymous => serde_json::json!({"type": "Unknown", "accountId": "anonymous"}),
        }
    }
}

pub fn key_arn(key_id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}")
}

impl Record {
    /// A KMS management event by `user` at `time`.
    pub fn kms(name: &str, user: User, time: DateTime<Utc>, key_id: &str) -> Record {
        Record {
            id: Uuid::new_v4(),
            time,
            name: name.to_owned(),
            source: "kms.amazonaws.com".to_owned(),
            user,
            read_only: matches!(name, "DescribeKey" | "ListKeys" | "GetKeyPolicy"),
            category: "Management",
            resources: vec![("AWS::KMS::Key".to_owned(), key_arn(key_id))],
        }
    }

    pub fn json(&self) -> String {
        let management = self.category == "Management";
        serde_json::json!({
            "eventVersion": "1.11",
            "userIdentity": self.user.identity(),
            "eventTime": self.time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "eventSource": self.source,
            "eventName": self.name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "127.0.0.1",
            "userAgent": "aws-cli/2.15.0",
            "requestParameters": {"keyId": self.resources.first().map(|r| r.1.clone())},
            "responseElements": null,
            "requestID": Uuid::new_v4().to_string(),
            "eventID": self.id.to_string(),
            "readOnly": self.read_only,
            "resources": self.resources.iter().map(|(kind, arn)| serde_json::json!({
                "ARN": arn, "accountId": ACCOUNT, "type": kind
            })).collect::<Vec<_>>(),
            "eventType": if self.category == "Insight" { "AwsCloudTrailInsight" } else { "AwsApiCall" },
            "managementEvent": management,
            "recipientAccountId": ACCOUNT,
            "eventCategory": self.category
        })
        .to_string()
    }

    pub fn to_proto(&self) -> pb::AuditRecord {
        pb::AuditRecord {
            event_id: self.id.to_string(),
            cloud_trail_event: self.json(),
            traceparent: String::new(),
        }
    }
}

pub fn attribute(key: &str, value: &str) -> pb::LookupAttribute {
    pb::LookupAttribute {
        attribute_key: key.to_owned(),
        attribute_value: value.to_owned(),
    }
}

/// Where the tests' lookups end: an hour before the test run started. The tests write
/// their events earlier than that (see `base_time`), and audit-svc's own recorded
/// LookupEvents calls (at now) stay out of the results.
pub fn lookup_end() -> DateTime<Utc> {
    static END: std::sync::LazyLock<DateTime<Utc>> =
        std::sync::LazyLock::new(|| Utc::now() - chrono::TimeDelta::hours(1));
    *END
}

/// Events written by a test start here, two hours back in whole seconds.
pub fn base_time() -> DateTime<Utc> {
    use chrono::DurationRound;
    (lookup_end() - chrono::TimeDelta::hours(1))
        .duration_trunc(chrono::TimeDelta::seconds(1))
        .expect("a whole second")
}

/// LookupEvents by `attribute` (or none), up to [`lookup_end`].
pub fn lookup(attribute: Option<pb::LookupAttribute>) -> pb::LookupEventsRequest {
    pb::LookupEventsRequest {
        lookup_attributes: attribute.into_iter().collect(),
        end_time: lookup_end().to_rfc3339(),
        ..Default::default()
    }
}

/// Every event id of a lookup, walking all pages of `page_size`.
pub async fn walk(
    client: &mut AuditClient,
    mut request: pb::LookupEventsRequest,
    page_size: i32,
) -> Vec<String> {
    request.max_results = page_size;
    let mut ids = Vec::new();
    loop {
        let page = client
            .lookup_events(request.clone())
            .await
            .expect("lookup")
            .into_inner();
        assert!(page.events.len() <= page_size as usize);
        ids.extend(page.events.into_iter().map(|e| e.event_id));
        if page.next_token.is_empty() {
            return ids;
        }
        request.next_token = page.next_token;
    }
}

/// The ids of `records` that pass `keep`, newest first (time, then id, descending).
pub fn expected<'r>(
    records: impl IntoIterator<Item = &'r Record>,
    keep: impl Fn(&Record) -> bool,
) -> Vec<String> {
    let mut kept: Vec<&Record> = records.into_iter().filter(|r| keep(r)).collect();
    kept.sort_by_key(|r| std::cmp::Reverse((r.time, r.id)));
    kept.iter().map(|r| r.id.to_string()).collect()
}

/// kms-svc's and object-svc's service principals, as their emitters present them.
pub const KMS_SVC: (&str, &str) = (
    "AKIAKEYHOLDDEVKMSSVC",
    "dev-only-kms-svc-secret-not-for-production",
);
pub const OBJECT_SVC: (&str, &str) = (
    "AKIAKEYHOLDDEVOBJSVC",
    "dev-only-object-svc-secret-not-for-production",
);

/// The flags that make a service stream its records to the audit-svc at `address`
/// as `principal`, spooling under `spool`.
pub fn emitter_flags(
    address: impl std::fmt::Display,
    principal: (&str, &str),
    spool: &std::path::Path,
) -> Vec<String> {
    vec![
        "--audit-endpoint".into(),
        format!("http://{address}"),
        "--audit-access-key-id".into(),
        principal.0.into(),
        "--audit-secret-access-key".into(),
        principal.1.into(),
        "--audit-spool-dir".into(),
        spool.display().to_string(),
    ]
}
