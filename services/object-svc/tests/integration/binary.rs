//! The object-svc binary as a Kubernetes operator meets it: one line and a non-zero
//! exit when it cannot start, a clean drain and exit 0 on SIGTERM.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use keyhold_tests::{TestDatabase, kms::test_principals};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn workdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("keyhold-bin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("principals.json"), test_principals()).unwrap();
    std::fs::write(
        dir.join("master.key"),
        keyhold_crypto::MasterKey::generate().to_base64(),
    )
    .unwrap();
    std::fs::write(
        dir.join("kms-secret"),
        "dev-only-object-svc-secret-not-for-production\n",
    )
    .unwrap();
    dir
}

/// The environment a Deployment gives object-svc: secrets as files.
fn object_svc(dir: &std::path::Path, database_url: &str, listen: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_object-svc"));
    command
        .env_clear()
        .env("KEYHOLD_LISTEN", listen)
        .env("KEYHOLD_S3_LISTEN", "127.0.0.1:0")
        .env("KEYHOLD_DATABASE_URL", database_url)
        .env("KEYHOLD_PRINCIPALS_FILE", dir.join("principals.json"))
        .env("KEYHOLD_MASTER_KEY_FILE", dir.join("master.key"))
        .env("KEYHOLD_BLOB_STORE", dir.join("blobs"))
        .env("KEYHOLD_KMS_ENDPOINT", "http://127.0.0.1:1")
        .env("KEYHOLD_KMS_ACCESS_KEY_ID", "AKIAKEYHOLDDEVOBJSVC")
        .env("KEYHOLD_KMS_SECRET_ACCESS_KEY_FILE", dir.join("kms-secret"))
        .env("KEYHOLD_SHUTDOWN_GRACE_SECONDS", "5");
    command
}

fn one_line_failure(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn start_up_failures_are_one_line() {
    let dir = workdir();
    let unreachable = "postgres://postgres@127.0.0.1:1/keyhold_object";
    let stderr = one_line_failure(&mut object_svc(&dir, unreachable, "127.0.0.1:0"));
    assert!(
        stderr.starts_with(
            "object-svc: cannot reach the database postgres://127.0.0.1:1/keyhold_object: "
        ),
        "{stderr}"
    );
    assert_eq!(
        one_line_failure(
            object_svc(&dir, unreachable, "127.0.0.1:0").env_remove("KEYHOLD_MASTER_KEY_FILE")
        ),
        "object-svc: no master key: set KEYHOLD_MASTER_KEY_FILE (or KEYHOLD_MASTER_KEY)\n"
    );
    assert_eq!(
        one_line_failure(
            object_svc(&dir, unreachable, "127.0.0.1:0")
                .env_remove("KEYHOLD_KMS_SECRET_ACCESS_KEY_FILE")
        ),
        "object-svc: no credentials for kms-svc: set KEYHOLD_KMS_ACCESS_KEY_ID and \
         KEYHOLD_KMS_SECRET_ACCESS_KEY (or their _FILE forms) to object-svc's service principal\n"
    );
}

#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let database = TestDatabase::create().await;
    let dir = workdir();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let address = format!("127.0.0.1:{port}");
    // kms-svc is not running: object-svc starts anyway (it connects on first use).
    let mut child = object_svc(&dir, &database.url, &address)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy();
    let mut health = HealthClient::new(channel);
    let started = Instant::now();
    loop {
        let check = health
            .check(HealthCheckRequest {
                service: "keyhold.object.v1.ObjectService".into(),
            })
            .await;
        if check.is_ok_and(|r| r.into_inner().status == 1) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "object-svc did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        dir.join("blobs").is_dir(),
        "the blob store directory is created"
    );

    let (status, logs) = keyhold_tests::terminate(&mut child, "object-svc").await;
    assert!(status.success(), "exit status {status}");
    assert!(logs.contains("shutdown signal received"), "{logs}");
}
