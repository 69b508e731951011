//! The object-svc binary as a Kubernetes operator meets it: one line and a non-zero
//! exit when it cannot start (64 when the configuration is at fault), a clean drain
//! and exit 0 on SIGTERM.

use std::process::{Command, Stdio};

use keyhold_tests::{
    TestDatabase,
    binary::{free_address, one_line_failure, wait_serving, workdir},
};

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

fn object_workdir() -> std::path::PathBuf {
    workdir(&[(
        "kms-secret",
        "dev-only-object-svc-secret-not-for-production\n",
    )])
}

#[test]
fn start_up_failures_are_one_line() {
    let dir = object_workdir();
    let unreachable = "postgres://postgres@127.0.0.1:1/keyhold_object";
    let (code, stderr) = one_line_failure(&mut object_svc(&dir, unreachable, "127.0.0.1:0"));
    assert!(
        stderr.starts_with(
            "object-svc: cannot reach the database postgres://127.0.0.1:1/keyhold_object: "
        ),
        "{stderr}"
    );
    assert_eq!(code, Some(1), "a database may come back: not a usage error");
    let (code, stderr) = one_line_failure(
        object_svc(&dir, unreachable, "127.0.0.1:0").env_remove("KEYHOLD_MASTER_KEY_FILE"),
    );
    assert_eq!(
        stderr,
        "object-svc: no master key: set KEYHOLD_MASTER_KEY_FILE (or KEYHOLD_MASTER_KEY)\n"
    );
    assert_eq!(code, Some(64), "bad configuration is EX_USAGE");
    let (code, stderr) = one_line_failure(
        object_svc(&dir, unreachable, "127.0.0.1:0")
            .env_remove("KEYHOLD_KMS_SECRET_ACCESS_KEY_FILE"),
    );
    assert_eq!(
        stderr,
        "object-svc: no credentials for kms-svc: set KEYHOLD_KMS_ACCESS_KEY_ID and \
         KEYHOLD_KMS_SECRET_ACCESS_KEY (or their _FILE forms) to object-svc's service principal\n"
    );
    assert_eq!(code, Some(64), "bad configuration is EX_USAGE");
}

#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let database = TestDatabase::create().await;
    let dir = object_workdir();
    let address = free_address();
    // kms-svc is not running: object-svc starts anyway (it connects on first use).
    let mut child = object_svc(&dir, &database.url, &address)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_serving(&address, "object-svc").await;
    assert!(
        dir.join("blobs").is_dir(),
        "the blob store directory is created"
    );

    let (status, logs) = keyhold_tests::terminate(&mut child, "object-svc").await;
    assert!(status.success(), "exit status {status}");
    assert!(logs.contains("shutdown signal received"), "{logs}");
}
