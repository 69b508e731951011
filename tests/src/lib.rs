//! Test harness: real keyhold services on 127.0.0.1:0, each test with its own
//! Postgres database (see `db` for which server), and the outside tools a few tests
//! drive (`tools`: moto, the AWS CLI), found or installed on first use.

pub mod aws_cli;
pub mod binary;
pub mod db;
pub mod kms;
pub mod kms_bad_inputs;
pub mod lab;
pub mod object;
pub mod proxy;
pub mod rpcs;
pub mod s3;
pub mod s3_sdk;
pub mod setup;
pub mod texts;
pub mod tls;
pub mod tools;
pub mod trails;

pub use db::TestDatabase;
pub use kms::{KmsClient, KmsHarness, Who};
pub use object::{ObjectClient, ObjectHarness};

/// Held by a test while it measures the process's resident memory, so that two such
/// tests (of the `memory` test binary) never run at once.
pub async fn measuring_memory() -> tokio::sync::MutexGuard<'static, ()> {
    static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    MEASURING.lock().await
}

/// The repository's dev principals file, as `keyhold up` ships it.
pub fn dev_principals_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/dev/principals.json")
}

/// Deterministic bytes that differ by position and by seed, so misplaced or mixed-up
/// bytes show in a comparison.
pub fn seeded_bytes(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect()
}

/// Reads the AWS exception name a status carries.
pub fn exception(status: &tonic::Status) -> String {
    keyhold_platform::error::exception_of(status).unwrap_or_default()
}

/// Asserts code, exception and exact message of a failed call.
#[track_caller]
pub fn assert_error<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: tonic::Code,
    exception_name: &str,
    message: &str,
) {
    let status = result.expect_err("the call should fail");
    assert_eq!(
        (status.code(), exception(&status).as_str(), status.message()),
        (code, exception_name, message),
        "unexpected status {status:?}"
    );
}

/// Waits until the server on `channel` answers grpc.health.v1 Check with SERVING;
/// panics if it does not within 20 s or if `stopped()` says it died meanwhile.
pub async fn wait_until_serving(
    channel: tonic::transport::Channel,
    name: &str,
    stopped: impl Fn() -> bool,
) {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(20) {
        assert!(!stopped(), "{name} stopped while starting");
        let check = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await;
        if check.is_ok_and(|r| r.into_inner().status == 1) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{name} did not become SERVING");
}

/// Sends SIGTERM to a service binary and waits (10 s at most) for it to exit; returns
/// its exit status and what it wrote to stderr (which must be piped).
pub async fn terminate(
    child: &mut std::process::Child,
    name: &str,
) -> (std::process::ExitStatus, String) {
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    let stopped = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        assert!(
            stopped.elapsed() < std::time::Duration::from_secs(10),
            "{name} did not stop on SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let mut logs = String::new();
    if let Some(stderr) = child.stderr.as_mut() {
        std::io::Read::read_to_string(stderr, &mut logs).expect("read stderr");
    }
    (status, logs)
}

/// An address nothing listens on yet, for a flag such as `--metrics-listen`.
pub fn free_address() -> std::net::SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    probe.local_addr().expect("its address")
}

/// The text of a service's `GET /metrics` at `address`.
pub async fn scrape(address: std::net::SocketAddr) -> String {
    let response = reqwest::get(format!("http://{address}/metrics"))
        .await
        .expect("the metrics endpoint answers");
    assert_eq!(response.status(), 200);
    response.text().await.expect("the metrics text")
}

/// The value of the sample `name` whose labels include every one of `labels`.
pub fn labelled_metric(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let (sample, value) = line.rsplit_once(' ')?;
        let (sample_name, rest) = sample.split_once('{')?;
        let set = rest.strip_suffix('}')?;
        let wanted = labels.iter().all(|(label, want)| {
            set.split(',')
                .any(|pair| pair == format!("{label}=\"{want}\""))
        });
        (sample_name == name && wanted).then(|| value.parse().ok())?
    })
}

/// The value of the unlabelled sample `name` in a scrape.
pub fn metric(scrape: &str, name: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let (sample, value) = line.split_once(' ')?;
        (sample == name).then(|| value.parse().ok())?
    })
}
