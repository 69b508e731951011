//! The object-svc binary as a Kubernetes operator meets it: one line and a non-zero
//! exit when it cannot start (64 when the configuration is at fault), a clean drain
//! and exit 0 on SIGTERM.

use std::process::{Command, Stdio};

use keyhold_tests::{
    TestDatabase,
    binary::{free_address, one_line_failure, wait_serving, workdir},
};

/// The environment a Deployment gives object-svc: secrets as files.
pub(crate) fn object_svc(dir: &std::path::Path, database_url: &str, listen: &str) -> Command {
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

pub(crate) fn object_workdir() -> std::path::PathBuf {
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
         KEYHOLD_KMS_SECRET_ACCESS_KEY (or their _FILE forms) to object-svc's service principal, \
         or KEYHOLD_TLS_CERT_FILE\n"
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

/// Issue 12, section 3: at any RUST_LOG, object-svc's log never shows a request body
/// or a signature (s3s logged a malformed XML body whole at ERROR, and at DEBUG the
/// signature it computed, which a log reader could replay), and no line is longer
/// than the cap.
#[tokio::test]
async fn logs_never_show_bodies_or_signatures_whatever_rust_log_says() {
    use keyhold_tests::{
        Who,
        s3::{Payload, RawSigner, send_raw, xml_field},
    };
    let database = TestDatabase::create().await;
    let dir = object_workdir();
    let address = free_address();
    let s3 = free_address();
    let mut child = object_svc(&dir, &database.url, &address)
        .env("KEYHOLD_S3_LISTEN", &s3)
        .env("RUST_LOG", "debug,s3s=trace")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read as it comes: a full pipe would stall the service's logging.
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut logs = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut logs).unwrap();
        String::from_utf8_lossy(&logs).into_owned()
    });
    wait_serving(&address, "object-svc").await;

    // A malformed 1 MiB XML document, without credentials.
    const MARKER: &str = "BODY-THAT-MUST-NOT-BE-LOGGED ";
    let mut body = "<AccessControlPolicy><Owner>".to_owned();
    while body.len() < 1024 * 1024 {
        body.push_str(MARKER);
    }
    let url = format!("http://{s3}/logged?acl");
    let (status, xml) = send_raw("PUT", &url, &[], body.into_bytes()).await;
    assert_eq!(
        (status, xml_field(&xml, "Code").as_deref()),
        (400, Some("MalformedXML")),
        "{xml}"
    );

    // A signature made with the wrong secret, and the one the server computes.
    let root = format!("http://{s3}/");
    let signed_with = |who: Who, time| {
        let mut signer = RawSigner::new(who);
        signer.time = time;
        signer.sign("GET", &root, &[], Payload::Bytes(b""))
    };
    let now = std::time::SystemTime::now();
    let (wrong_headers, wrong) = signed_with(Who::WrongSecret, now);
    let (_, expected) = signed_with(Who::User1, now);
    let (status, xml) = send_raw("GET", &root, &wrong_headers, Vec::new()).await;
    assert_eq!(
        (status, xml_field(&xml, "Code").as_deref()),
        (403, Some("SignatureDoesNotMatch")),
        "{xml}"
    );

    let (status, _) = keyhold_tests::terminate(&mut child, "object-svc").await;
    assert!(status.success(), "exit status {status}");
    let logs = reader.join().unwrap();
    assert!(
        logs.contains("serving the S3 REST endpoint"),
        "the log was captured: {logs}"
    );
    assert!(!logs.contains(MARKER.trim()), "a request body was logged");
    assert!(!logs.contains(&wrong), "the client's signature was logged");
    assert!(
        !logs.contains(&expected),
        "the computed signature was logged"
    );
    let longest = logs.lines().map(str::len).max().unwrap_or_default();
    assert!(longest <= 16 * 1024, "a log line of {longest} bytes");
}
