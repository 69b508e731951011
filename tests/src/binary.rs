//! Service binaries run as a Deployment runs them: configured by environment
//! variables, secrets in files, stopped with SIGTERM. Used by each service crate's
//! binary tests.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// A fresh directory with the test principals (`principals.json`), a master key
/// (`master.key`) and `extra` files (name, contents).
pub fn workdir(extra: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keyhold-bin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    write(&dir, "principals.json", &crate::kms::test_principals());
    write(
        &dir,
        "master.key",
        &keyhold_crypto::MasterKey::generate().to_base64(),
    );
    for (name, contents) in extra {
        write(&dir, name, contents);
    }
    dir
}

fn write(dir: &Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents).unwrap();
}

/// A loopback address nothing listens on (for a binary to bind itself).
pub fn free_address() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().to_string()
}

/// Runs `command`, which must fail with one line on stderr; returns its exit code and
/// that line (with its newline).
pub fn one_line_failure(command: &mut Command) -> (Option<i32>, String) {
    let output = command.output().unwrap();
    assert!(!output.status.success(), "{:?} succeeded", command);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    (output.status.code(), stderr)
}

/// Waits until the binary serving gRPC on `address` is SERVING (20 s at most).
pub async fn wait_serving(address: &str, name: &str) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy();
    crate::wait_until_serving(channel, name, || false).await;
}
