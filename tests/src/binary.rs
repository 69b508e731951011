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

/// The directory that holds the service binaries, found beside `binary` (a
/// `CARGO_BIN_EXE_*` path): `cargo test --workspace` builds all three there.
pub fn bin_dir(binary: &str) -> PathBuf {
    let dir = Path::new(binary)
        .parent()
        .expect("a binary's directory")
        .to_owned();
    for name in ["kms-svc", "object-svc", "audit-svc"] {
        assert!(
            dir.join(name).exists(),
            "{name} is not built in {}: run `cargo build --bins` (or `cargo test --workspace`)",
            dir.display()
        );
    }
    dir
}

/// One service binary run as its Deployment runs it: environment only, secrets in
/// files, stopped with SIGTERM, started again with the same environment (the same
/// spool directory: a StatefulSet pod's volume).
pub struct ServiceProcess {
    pub name: &'static str,
    /// Its gRPC address.
    pub address: String,
    binary: PathBuf,
    env: Vec<(String, String)>,
    /// Where its stderr goes (a pipe nobody reads would stall a chatty service).
    log: PathBuf,
    child: Option<std::process::Child>,
}

impl ServiceProcess {
    /// `name` from `bin_dir`, serving gRPC on `address`, its database at `database_url`,
    /// principals and master key from `dir` (see [`workdir`]), plus `env`.
    pub fn new(
        bin_dir: &Path,
        name: &'static str,
        dir: &Path,
        database_url: &str,
        env: &[(&str, String)],
    ) -> Self {
        let address = free_address();
        let mut all = vec![
            ("KEYHOLD_LISTEN".to_owned(), address.clone()),
            ("KEYHOLD_DATABASE_URL".to_owned(), database_url.to_owned()),
            (
                "KEYHOLD_PRINCIPALS_FILE".to_owned(),
                dir.join("principals.json").display().to_string(),
            ),
            (
                "KEYHOLD_MASTER_KEY_FILE".to_owned(),
                dir.join("master.key").display().to_string(),
            ),
            ("KEYHOLD_SHUTDOWN_GRACE_SECONDS".to_owned(), "5".to_owned()),
            // Any free port: tests run many services side by side.
            ("KEYHOLD_AWS_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ];
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        ServiceProcess {
            name,
            address,
            binary: bin_dir.join(name),
            env: all,
            log: dir.join(format!("{name}.log")),
            child: None,
        }
    }

    /// The environment that makes this service stream its records to `audit`
    /// (spooling in `spool` while it cannot) as service principal `who`.
    pub fn audit_env(audit: &str, who: crate::Who, spool: &Path) -> Vec<(&'static str, String)> {
        let (akid, secret) = who.credentials().expect("a service principal");
        vec![
            ("KEYHOLD_AUDIT_ENDPOINT", format!("http://{audit}")),
            ("KEYHOLD_AUDIT_ACCESS_KEY_ID", akid.to_owned()),
            ("KEYHOLD_AUDIT_SECRET_ACCESS_KEY", secret.to_owned()),
            ("KEYHOLD_AUDIT_SPOOL_DIR", spool.display().to_string()),
        ]
    }

    /// Starts the process and waits until it is SERVING.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "{} is running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the service's log");
        let child = Command::new(&self.binary)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.binary.display()));
        self.child = Some(child);
        wait_serving(&self.address, self.name).await;
    }

    /// SIGTERM, as a pod deletion sends; returns what it logged since it first started.
    pub async fn stop(&mut self) -> String {
        let mut child = self.child.take().expect("running");
        let (status, _) = crate::terminate(&mut child, self.name).await;
        let logs = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(
            status.success(),
            "{} exited with {status}: {logs}",
            self.name
        );
        logs
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// requestID -> how many records audit-svc's database (at `database_url`) holds of it.
pub async fn stored_request_ids(database_url: &str) -> std::collections::HashMap<String, i64> {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(database_url).await.unwrap();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT (cloud_trail_event::jsonb)->>'requestID', count(*) FROM events GROUP BY 1",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    rows.into_iter().collect()
}
