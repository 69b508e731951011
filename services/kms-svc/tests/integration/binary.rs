//! The kms-svc binary as a Kubernetes operator meets it: one line and a non-zero
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
    dir
}

fn kms_svc(dir: &std::path::Path, database_url: &str, listen: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kms-svc"));
    command
        .env_clear()
        .env("KEYHOLD_LISTEN", listen)
        .env("KEYHOLD_DATABASE_URL", database_url)
        .env("KEYHOLD_PRINCIPALS_FILE", dir.join("principals.json"))
        .env("KEYHOLD_MASTER_KEY_FILE", dir.join("master.key"))
        .env("KEYHOLD_SHUTDOWN_GRACE_SECONDS", "5");
    command
}

#[test]
fn an_unreachable_database_stops_the_binary_with_one_line() {
    let dir = workdir();
    let output = kms_svc(
        &dir,
        "postgres://postgres@127.0.0.1:1/keyhold_kms",
        "127.0.0.1:0",
    )
    .output()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0]
            .starts_with("kms-svc: cannot reach the database postgres://127.0.0.1:1/keyhold_kms: "),
        "{stderr}"
    );

    let output = kms_svc(
        &dir,
        "postgres://postgres@127.0.0.1:1/keyhold_kms",
        "127.0.0.1:0",
    )
    .env_remove("KEYHOLD_MASTER_KEY_FILE")
    .output()
    .unwrap();
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "kms-svc: no master key: set KEYHOLD_MASTER_KEY_FILE (or KEYHOLD_MASTER_KEY)\n"
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
    let mut child = kms_svc(&dir, &database.url, &address)
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
                service: String::new(),
            })
            .await;
        if check.is_ok_and(|r| r.into_inner().status == 1) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "kms-svc did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, logs) = keyhold_tests::terminate(&mut child, "kms-svc").await;
    assert!(status.success(), "exit status {status}");
    assert!(logs.contains("shutdown signal received"), "{logs}");
    assert!(logs.contains("stopped"), "{logs}");
}
