//! kms-svc started in-process over real TCP, and clients for each dev principal.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use keyhold_platform::{MemorySink, auth::ClientCredentials};
use keyhold_proto::kms::v1::kms_service_client::KmsServiceClient;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::{
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

use crate::{TestDatabase, dev_principals_path};

pub const ACCOUNT: &str = "000000000000";
pub const USER1_ARN: &str = "arn:aws:iam::000000000000:user/AWSLabsUser-0001";
pub const USER2_ARN: &str = "arn:aws:iam::000000000000:user/AWSLabsUser-0002";
pub const ROOT_ARN: &str = "arn:aws:iam::000000000000:root";
/// A third user that the tests add to the dev principals: in no key policy.
pub const USER3_ARN: &str = "arn:aws:iam::000000000000:user/AWSLabsUser-0003";
/// A fifth test user: the lab users' identity policy without S3 access.
pub const USER5_ARN: &str = "arn:aws:iam::000000000000:user/AWSLabsUser-0005";
/// The dev user with S3 read-only access.
pub const READER_ARN: &str = "arn:aws:iam::000000000000:user/AWSLabsReader";
/// The second dev account and its one user.
pub const PARTNER_ACCOUNT: &str = "111111111111";
pub const PARTNER_ARN: &str = "arn:aws:iam::111111111111:user/PartnerUser";
/// A fourth test user: the lab users' identity policy without cloudtrail:LookupEvents.
pub const USER4_ARN: &str = "arn:aws:iam::000000000000:user/AWSLabsUser-0004";

/// The dev principals of deploy/dev/principals.json, and nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Root,
    User1,
    User2,
    User3,
    /// AWSLabsUser-0005: no S3 permission at all.
    NoS3,
    /// AWSLabsReader: S3 read-only access (AmazonS3ReadOnlyAccess's actions).
    Reader,
    /// PartnerUser of the second dev account (111111111111), S3 full access there.
    Partner,
    /// audit-svc's service principal (cloudtrail.amazonaws.com) calling for itself.
    CloudTrail,
    /// object-svc's service principal calling for AWSLabsUser-0001.
    ObjectSvcForUser1,
    /// kms-svc's service principal (kms.amazonaws.com), as its audit emitter calls.
    KmsSvc,
    /// No credentials at all.
    Anonymous,
    /// User1's access key with a wrong secret.
    WrongSecret,
}

impl Who {
    /// Access key id and secret, as in the principals file.
    pub fn credentials(self) -> Option<(&'static str, &'static str)> {
        match self {
            Who::Root => Some((
                "AKIAKEYHOLDDEVROOT00",
                "dev-only-root-secret-not-for-production",
            )),
            Who::User1 => Some((
                "AKIAKEYHOLDDEVUSER01",
                "dev-only-user-0001-secret-not-for-production",
            )),
            Who::User2 => Some((
                "AKIAKEYHOLDDEVUSER02",
                "dev-only-user-0002-secret-not-for-production",
            )),
            Who::ObjectSvcForUser1 => Some((
                "AKIAKEYHOLDDEVOBJSVC",
                "dev-only-object-svc-secret-not-for-production",
            )),
            Who::KmsSvc => Some((
                "AKIAKEYHOLDDEVKMSSVC",
                "dev-only-kms-svc-secret-not-for-production",
            )),
            Who::User3 => Some(("AKIAKEYHOLDTESTUSR03", "test-only-user-0003-secret")),
            Who::NoS3 => Some(("AKIAKEYHOLDTESTUSR05", "test-only-user-0005-secret")),
            Who::Reader => Some((
                "AKIAKEYHOLDDEVREADER",
                "dev-only-reader-secret-not-for-production",
            )),
            Who::Partner => Some((
                "AKIAKEYHOLDDEVPARTNR",
                "dev-only-partner-secret-not-for-production",
            )),
            Who::CloudTrail => Some((
                "AKIAKEYHOLDDEVAUDITS",
                "dev-only-audit-svc-secret-not-for-production",
            )),
            Who::WrongSecret => Some(("AKIAKEYHOLDDEVUSER01", "not-the-secret")),
            Who::Anonymous => None,
        }
    }
}

/// The credentials `who` sends.
pub fn credentials(who: Who) -> ClientCredentials {
    match who.credentials() {
        None => ClientCredentials::anonymous(),
        Some((akid, secret)) if who == Who::ObjectSvcForUser1 => {
            ClientCredentials::new(akid, secret).on_behalf_of(USER1_ARN)
        }
        Some((akid, secret)) => ClientCredentials::new(akid, secret),
    }
}

pub type KmsClient = KmsServiceClient<InterceptedService<Channel, ClientCredentials>>;

pub struct KmsHarness {
    pub address: SocketAddr,
    /// Where kms-svc serves the AWS KMS JSON protocol (`aws kms`, the SDKs).
    pub aws_address: SocketAddr,
    pub sink: MemorySink,
    pub database: TestDatabase,
    pub database_url: String,
    pub workdir: PathBuf,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl KmsHarness {
    /// A fresh database, a fresh master key, kms-svc serving on 127.0.0.1:0.
    pub async fn start() -> KmsHarness {
        let database = TestDatabase::create().await;
        let url = database.url.clone();
        Self::start_on(database, url, None).await
    }

    /// kms-svc on `database` reached through `database_url`, reusing `workdir`
    /// (and so its master key) when given.
    pub async fn start_on(
        database: TestDatabase,
        database_url: String,
        workdir: Option<PathBuf>,
    ) -> KmsHarness {
        Self::start_configured(database, database_url, workdir, &[]).await
    }

    /// kms-svc with extra command-line flags.
    pub async fn start_with_flags(
        database: TestDatabase,
        database_url: String,
        flags: &[&str],
    ) -> KmsHarness {
        Self::start_configured(database, database_url, None, flags).await
    }

    async fn start_configured(
        database: TestDatabase,
        database_url: String,
        workdir: Option<PathBuf>,
        flags: &[&str],
    ) -> KmsHarness {
        let workdir = workdir.unwrap_or_else(|| {
            let dir = std::env::temp_dir()
                .join(format!("keyhold-test-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).expect("create the test workdir");
            std::fs::write(
                dir.join("master.key"),
                keyhold_crypto::MasterKey::generate().to_base64(),
            )
            .expect("write the master key");
            std::fs::write(dir.join("principals.json"), test_principals())
                .expect("write the principals");
            dir
        });
        let config = kms_config(&database_url, &workdir, flags);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind kms-svc");
        let address = listener.local_addr().expect("kms-svc address");
        let aws_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind kms-svc's AWS port");
        let aws_address = aws_listener.local_addr().expect("kms-svc's AWS address");
        let listeners = keyhold_platform::server::Listeners {
            grpc: listener,
            aws: Some(aws_listener),
        };
        let sink = MemorySink::default();
        let shutdown = CancellationToken::new();
        // With an audit endpoint the records stream there (the real emitter);
        // otherwise the test reads them from the memory sink.
        let task = if config.audit.audit_endpoint.is_some() {
            tokio::spawn(kms_svc::run(config, listeners, shutdown.clone()))
        } else {
            tokio::spawn(kms_svc::run_with_sink(
                config,
                listeners,
                shutdown.clone(),
                std::sync::Arc::new(sink.clone()),
            ))
        };
        let harness = KmsHarness {
            address,
            aws_address,
            sink,
            database,
            database_url,
            workdir,
            shutdown,
            task,
        };
        harness.wait_until_serving().await;
        harness
    }

    async fn wait_until_serving(&self) {
        crate::wait_until_serving(self.channel(), "kms-svc", || self.task.is_finished()).await;
    }

    /// The records so far, once there are at least `count`: a record is completed when
    /// the server drops the response body, which can be just after the client has it.
    pub async fn events_at_least(&self, count: usize) -> Vec<keyhold_platform::CloudTrailEvent> {
        for _ in 0..100 {
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

    /// The endpoint URL of the AWS KMS JSON protocol (`AWS_ENDPOINT_URL_KMS`).
    pub fn aws_endpoint(&self) -> String {
        format!("http://{}", self.aws_address)
    }

    pub fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.address))
            .expect("endpoint")
            .connect_lazy()
    }

    pub fn client(&self, who: Who) -> KmsClient {
        KmsServiceClient::with_interceptor(self.channel(), credentials(who))
    }
}

/// The ciphertext blob of `plaintext` under `key_id`, encrypted by `client`.
pub async fn ciphertext_of(client: &mut KmsClient, key_id: &str, plaintext: &[u8]) -> Vec<u8> {
    client
        .encrypt(keyhold_proto::kms::v1::EncryptRequest {
            key_id: key_id.to_owned(),
            plaintext: plaintext.to_vec(),
            ..Default::default()
        })
        .await
        .expect("Encrypt")
        .into_inner()
        .ciphertext_blob
}

/// A client of the kms-svc serving at `address` (host:port), as `who`.
pub fn client_at(address: &str, who: Who) -> KmsClient {
    let channel = Endpoint::from_shared(format!("http://{address}"))
        .expect("endpoint")
        .connect_lazy();
    KmsServiceClient::with_interceptor(channel, credentials(who))
}

impl KmsHarness {
    /// Stops the service (as SIGTERM would) and returns what a restart needs.
    pub async fn stop(self) -> (TestDatabase, String, PathBuf) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("kms-svc task")
            .expect("kms-svc stops cleanly");
        (self.database, self.database_url, self.workdir)
    }

    pub async fn restart(self) -> KmsHarness {
        let (database, url, workdir) = self.stop().await;
        Self::start_on(database, url, Some(workdir)).await
    }
}

/// The dev principals plus AWSLabsUser-0003, a user with the lab users' identity
/// policy who is in no key policy, AWSLabsUser-0004, who may not read the trail, and
/// AWSLabsUser-0005, who has no S3 permission.
pub fn test_principals() -> String {
    let mut file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dev_principals_path()).expect("dev principals"),
    )
    .expect("dev principals are JSON");
    let principals = file["principals"]
        .as_array_mut()
        .expect("a principals list");
    let mut outsider = principals
        .iter()
        .find(|p| p["name"] == "AWSLabsUser-0002")
        .expect("AWSLabsUser-0002")
        .clone();
    outsider["name"] = "AWSLabsUser-0003".into();
    outsider["arn"] = USER3_ARN.into();
    outsider["access_key_id"] = "AKIAKEYHOLDTESTUSR03".into();
    outsider["secret_access_key"] = "test-only-user-0003-secret".into();
    let mut no_trail = outsider.clone();
    let mut no_s3 = outsider.clone();
    principals.push(outsider);
    // The lab users' identity policy without S3 access.
    no_s3["name"] = "AWSLabsUser-0005".into();
    no_s3["arn"] = USER5_ARN.into();
    no_s3["access_key_id"] = "AKIAKEYHOLDTESTUSR05".into();
    no_s3["secret_access_key"] = "test-only-user-0005-secret".into();
    no_s3["identity_policy"]["Statement"]
        .as_array_mut()
        .expect("statements")
        .retain(|s| s["Action"] != "s3:*");
    principals.push(no_s3);
    // The lab users' identity policy without the statement that lets them read the
    // audit trail.
    no_trail["name"] = "AWSLabsUser-0004".into();
    no_trail["arn"] = USER4_ARN.into();
    no_trail["access_key_id"] = "AKIAKEYHOLDTESTUSR04".into();
    no_trail["secret_access_key"] = "test-only-user-0004-secret".into();
    no_trail["identity_policy"]["Statement"]
        .as_array_mut()
        .expect("statements")
        .retain(|s| s["Action"] != "cloudtrail:LookupEvents");
    principals.push(no_trail);
    file.to_string()
}

/// The Config the binary would build from these flags.
pub fn kms_config(
    database_url: &str,
    workdir: &std::path::Path,
    extra: &[&str],
) -> kms_svc::Config {
    let principals = workdir.join("principals.json");
    let master_key = workdir.join("master.key");
    let mut args = vec![
        "kms-svc".to_owned(),
        "--principals-file".to_owned(),
        principals.display().to_string(),
        "--database-url".to_owned(),
        database_url.to_owned(),
        "--master-key-file".to_owned(),
        master_key.display().to_string(),
        "--shutdown-grace-seconds".to_owned(),
        "5".to_owned(),
        // Tests move deletion dates into the past and expect the sweep soon after.
        "--deletion-sweep-seconds".to_owned(),
        "1".to_owned(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    kms_svc::Config::try_parse_from(args).expect("valid kms-svc flags")
}

/// The lab's key as the lab user (AWSLabsUser-0001) makes it: its own administrator
/// and user.
pub async fn lab_user_key(client: &mut KmsClient) -> keyhold_proto::kms::v1::KeyMetadata {
    console_key(client, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await
}

/// The key policy the console writes for these key administrators and key users
/// (ARNs), as a document for `aws kms create-key --policy`.
pub fn console_policy(administrators: &[&str], users: &[&str]) -> String {
    let owned = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    keyhold_key_policy::console_key_policy(ACCOUNT, &owned(administrators), &owned(users))
}

/// The lab's key: "KMS Key for S3 data" with the console policy for these key
/// administrators and key users (names or ARNs), created by `client`.
pub async fn console_key(
    client: &mut KmsClient,
    administrators: &[&str],
    users: &[&str],
) -> keyhold_proto::kms::v1::KeyMetadata {
    let request = keyhold_proto::kms::v1::CreateKeyRequest {
        description: "KMS Key for S3 data".into(),
        key_administrators: administrators.iter().map(|s| (*s).to_owned()).collect(),
        key_users: users.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    };
    client
        .create_key(request)
        .await
        .expect("create a console-policy key")
        .into_inner()
        .key_metadata
        .expect("key metadata")
}
