//! No audit record is lost when audit-svc dies under load: kms-svc keeps serving,
//! spools what it cannot deliver, and replays it once audit-svc is back; every
//! successful call is then stored exactly once.

use std::{
    collections::HashSet,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use keyhold_proto::kms::v1::{EncryptRequest, GenerateRandomRequest};
use keyhold_tests::{
    KmsHarness, TestDatabase, Who, binary::stored_request_ids, kms::test_principals,
};

const KMS_SVC_ID: &str = "AKIAKEYHOLDDEVKMSSVC";
const KMS_SVC_SECRET: &str = "dev-only-kms-svc-secret-not-for-production";

fn free_address() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().to_string()
}

/// The audit-svc binary on `address`, a separate process so that it can be killed.
fn start_audit_svc(address: &str, database_url: &str, principals: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_audit-svc"))
        .env_clear()
        .env("KEYHOLD_LISTEN", address)
        .env("KEYHOLD_AWS_LISTEN", "127.0.0.1:0")
        .env("KEYHOLD_DATABASE_URL", database_url)
        .env("KEYHOLD_PRINCIPALS_FILE", principals)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start audit-svc")
}

async fn wait_listening(address: &str) {
    let started = Instant::now();
    while tokio::net::TcpStream::connect(address).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "audit-svc did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_audit_svc_under_load_loses_no_record() {
    let dir =
        std::env::temp_dir().join(format!("keyhold-noloss-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let principals = dir.join("principals.json");
    std::fs::write(&principals, test_principals()).unwrap();

    let audit_db = TestDatabase::create().await;
    let audit_address = free_address();
    let mut audit = start_audit_svc(&audit_address, &audit_db.url, &principals);
    wait_listening(&audit_address).await;

    let kms_db = TestDatabase::create().await;
    let kms_url = kms_db.url.clone();
    let endpoint = format!("http://{audit_address}");
    let spool = dir.join("spool");
    let kms = KmsHarness::start_with_flags(
        kms_db,
        kms_url,
        &[
            "--audit-endpoint",
            &endpoint,
            "--audit-access-key-id",
            KMS_SVC_ID,
            "--audit-secret-access-key",
            KMS_SVC_SECRET,
            "--audit-spool-dir",
            spool.to_str().unwrap(),
        ],
    )
    .await;

    // Load: 16 callers until told to stop, each keeping the request id of every
    // call that succeeded.
    let succeeded = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let mut callers = Vec::new();
    for n in 0..16 {
        let mut client = kms.client(Who::Root);
        let succeeded = succeeded.clone();
        let stop = stop.clone();
        callers.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                let response = if n % 2 == 0 {
                    client
                        .generate_random(GenerateRandomRequest {
                            number_of_bytes: 16,
                        })
                        .await
                        .map(|r| r.metadata().clone())
                } else {
                    client
                        .encrypt(EncryptRequest {
                            key_id: "alias/none".into(),
                            plaintext: b"x".to_vec(),
                            ..Default::default()
                        })
                        .await
                        .map(|r| r.metadata().clone())
                };
                // Refused calls are recorded too, but only successes are promised here.
                if let Ok(metadata) = response {
                    let id = metadata
                        .get("x-amzn-requestid")
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_owned();
                    succeeded.lock().unwrap().push(id);
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(700)).await;
    audit.kill().unwrap(); // SIGKILL: no goodbye, acknowledgements in flight are lost
    audit.wait().unwrap();
    let during_outage = succeeded.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        succeeded.lock().unwrap().len() > during_outage,
        "kms-svc keeps serving while audit-svc is down"
    );
    let mut audit = start_audit_svc(&audit_address, &audit_db.url, &principals);
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.cancel();
    for caller in callers {
        caller.await.unwrap();
    }

    let expected: HashSet<String> = succeeded.lock().unwrap().iter().cloned().collect();
    assert!(
        expected.len() > 100,
        "the load made {} calls",
        expected.len()
    );
    let started = Instant::now();
    let stored = loop {
        let stored = stored_request_ids(&audit_db.url).await;
        if expected.iter().all(|id| stored.contains_key(id)) {
            break stored;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} of {} successful calls never reached audit-svc",
            expected
                .iter()
                .filter(|id| !stored.contains_key(*id))
                .count(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "{} successful calls ({} before the kill), each stored once",
        expected.len(),
        during_outage
    );
    let duplicated: Vec<_> = expected.iter().filter(|id| stored[*id] != 1).collect();
    assert!(
        duplicated.is_empty(),
        "stored more than once: {duplicated:?}"
    );

    kms.stop().await;
    audit.kill().unwrap();
    audit.wait().unwrap();
}
