//! Phase D: object-svc's S3 REST endpoint, two ways.
//!
//! - boto3: bench/s3_boto3.py (embedded, written to the workdir) runs the same
//!   workload against keyhold's S3 endpoint and against moto's server started for this
//!   run: PUT and GET of 1 KiB and 1 MiB objects with SSE-KMS from a few client
//!   threads. Target: keyhold's ops/s at least `target` times moto's in every phase.
//! - the AWS SDK for Rust: PUT (from a file, so the SDK streams it aws-chunked with a
//!   CRC32 trailer) and GET of one large SSE-KMS object, MiB/s against PutObject and
//!   GetObject of the same size over gRPC on the same server, interleaved round by
//!   round (no target).

use std::{
    collections::BTreeMap,
    io::Write as _,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use aws_sdk_s3::{
    Client,
    config::{BehaviorVersion, Credentials, Region},
    primitives::ByteStream,
    types::ServerSideEncryption,
};
use serde::{Deserialize, Serialize};

use crate::{
    Fixture,
    client::USER1,
    procfs::{self, Watched},
    servers::{Server, Stack},
    throughput::{Side, round_line, timed},
    transfer::{self, ObjectClient, Payload, Received, Transferred},
};

/// The load script, embedded so the binary runs from anywhere.
const BOTO3_SCRIPT: &str = include_str!("../../../s3_boto3.py");

pub struct Settings {
    pub python: PathBuf,
    pub threads: u64,
    pub seconds: u64,
    pub warmup_seconds: u64,
    /// Operations per boto3 phase instead of a timed window.
    pub count: Option<u64>,
    /// keyhold ops/s over moto ops/s, each phase.
    pub target: f64,
    pub sdk_size: u64,
    pub sdk_rounds: u32,
    pub quiet_wait: Duration,
}

/// One phase of s3_boto3.py's JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Boto3Phase {
    pub phase: String,
    pub operation: String,
    pub object_bytes: u64,
    /// Operations completed inside the window.
    pub ops: u64,
    pub seconds: f64,
    pub ops_per_s: f64,
    pub mib_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// CPU seconds over the window: `wall`, `client` (the script), each watched
    /// process, `postgres`, `machine` (all busy CPU).
    pub cpu_s: BTreeMap<String, f64>,
}

impl Boto3Phase {
    /// CPU ms per counted operation of `name` (a key of `cpu_s`).
    pub fn cpu_ms_per_op(&self, name: &str) -> Option<f64> {
        let seconds = self.cpu_s.get(name)?;
        Some(seconds * 1000.0 / self.ops.max(1) as f64)
    }

    /// Busy CPU in none of the watched processes nor the script, ms per operation.
    pub fn rest_ms_per_op(&self) -> f64 {
        let machine = self.cpu_s.get("machine").copied().unwrap_or(0.0);
        let known: f64 = self
            .cpu_s
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "wall" | "machine"))
            .map(|(_, seconds)| seconds)
            .sum();
        (machine - known).max(0.0) * 1000.0 / self.ops.max(1) as f64
    }

    /// Cores busy on average over the window, the whole machine.
    pub fn busy_cores(&self) -> f64 {
        let wall = self.cpu_s.get("wall").copied().unwrap_or(0.0).max(1e-9);
        self.cpu_s.get("machine").copied().unwrap_or(0.0) / wall
    }
}

/// s3_boto3.py's JSON: one run against one server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Boto3Run {
    pub label: String,
    pub endpoint: String,
    pub bucket: String,
    pub threads: u64,
    pub boto3: String,
    pub botocore: String,
    pub python: String,
    pub kms_key_id: Option<String>,
    pub phases: Vec<Boto3Phase>,
    /// The first failed request or wrong answer, as precisely as the script had it.
    pub error: Option<serde_json::Value>,
    #[serde(default)]
    pub machine_busy_before: f64,
}

/// keyhold against moto in one boto3 phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseRatio {
    pub phase: String,
    pub keyhold_ops_s: f64,
    pub moto_ops_s: f64,
    pub ratio: f64,
    pub pass: bool,
    /// One core over the boto3 process's CPU per operation against keyhold: about the
    /// most this client could drive (its threads share one GIL), however fast the server.
    pub client_bound_ops_s: f64,
}

/// The AWS SDK for Rust against gRPC, one large object.
#[derive(Debug, Clone, Serialize)]
pub struct Sdk {
    pub object_bytes: u64,
    pub rounds: u32,
    /// How the SDK's PUT body is made.
    pub put_body: &'static str,
    pub grpc_put: Side,
    pub s3_put: Side,
    pub grpc_get: Side,
    pub s3_get: Side,
    /// S3 MiB/s over gRPC MiB/s.
    pub put_ratio: f64,
    pub get_ratio: f64,
    /// object-svc's VmHWM above its VmRSS before the call, in the warm-up round:
    /// gRPC PUT, S3 PUT, gRPC GET, S3 GET (bytes; None when VmHWM could not be reset).
    pub peak_above_before: [Option<u64>; 4],
}

#[derive(Debug, Clone, Serialize)]
pub struct S3Phase {
    pub s3_endpoint: String,
    pub moto_endpoint: String,
    pub target_ratio: f64,
    pub keyhold: Boto3Run,
    pub moto: Boto3Run,
    pub ratios: Vec<PhaseRatio>,
    /// Every boto3 phase ran on both and met the target.
    pub pass: bool,
    pub sdk: Option<Sdk>,
    /// Why the SDK part could not be measured.
    pub sdk_error: Option<String>,
}

impl S3Phase {
    /// A failure, not a miss: a boto3 request failed or the SDK part did.
    pub fn failed(&self) -> bool {
        self.keyhold.error.is_some() || self.moto.error.is_some() || self.sdk_error.is_some()
    }
}

pub async fn run(
    settings: &Settings,
    stack: &Stack,
    fixture: &Fixture,
    object: &mut ObjectClient,
    payload: &Payload,
) -> anyhow::Result<S3Phase> {
    let script = stack.workdir.join("s3_boto3.py");
    std::fs::write(&script, BOTO3_SCRIPT)?;
    let moto = Server::start_moto(&settings.python, stack.workdir.join("moto.log"))
        .await
        .map_err(|e| e.context("moto (pip install 'moto[server]')"))?;
    eprintln!(
        "object-bench: s3: moto pid {} at {}, keyhold S3 at {}",
        moto.pid, moto.endpoint, stack.s3_endpoint
    );
    let runs = boto3_both(settings, stack, fixture, &script, &moto).await;
    let moto_endpoint = moto.endpoint.clone();
    let moto_stopped = moto.stop().await;
    let (keyhold, moto_run) = runs?;
    moto_stopped?;

    let ratios: Vec<PhaseRatio> = keyhold
        .phases
        .iter()
        .filter_map(|k| {
            let m = moto_run.phases.iter().find(|m| m.phase == k.phase)?;
            let ratio = k.ops_per_s / m.ops_per_s.max(1e-9);
            Some(PhaseRatio {
                phase: k.phase.clone(),
                keyhold_ops_s: k.ops_per_s,
                moto_ops_s: m.ops_per_s,
                ratio,
                pass: ratio >= settings.target,
                client_bound_ops_s: 1000.0 / k.cpu_ms_per_op("client").unwrap_or(0.0).max(1e-9),
            })
        })
        .collect();
    let complete = keyhold.error.is_none()
        && moto_run.error.is_none()
        && !ratios.is_empty()
        && ratios.len() == keyhold.phases.len();

    let (sdk, sdk_error) = match sdk(settings, stack, fixture, object, payload).await {
        Ok(sdk) => (Some(sdk), None),
        Err(error) => (None, Some(format!("{error:#}"))),
    };
    Ok(S3Phase {
        s3_endpoint: stack.s3_endpoint.clone(),
        moto_endpoint,
        target_ratio: settings.target,
        pass: complete && ratios.iter().all(|r| r.pass),
        keyhold,
        moto: moto_run,
        ratios,
        sdk,
        sdk_error,
    })
}

/// The script against keyhold, then against moto, each after a quiet-machine wait.
async fn boto3_both(
    settings: &Settings,
    stack: &Stack,
    fixture: &Fixture,
    script: &Path,
    moto: &Server,
) -> anyhow::Result<(Boto3Run, Boto3Run)> {
    let object_svc = format!("object-svc={}", stack.object.pid);
    let kms_svc = format!("kms-svc={}", stack.kms.pid);
    let keyhold_args = [
        "--label",
        "keyhold",
        "--endpoint",
        &stack.s3_endpoint,
        "--access-key",
        USER1.id,
        "--secret-key",
        USER1.secret,
        "--kms-key-id",
        &fixture.kms_key,
        "--watch",
        &object_svc,
        "--watch",
        &kms_svc,
        "--watch-postgres",
    ];
    let keyhold = boto3(settings, script, &keyhold_args).await?;
    let moto_pid = format!("moto={}", moto.pid);
    // moto takes any credentials; the key is made in moto's own KMS first.
    let moto_args = [
        "--label",
        "moto",
        "--endpoint",
        &moto.endpoint,
        "--access-key",
        "AKIAMOTOBENCH0000000",
        "--secret-key",
        "moto-bench-secret",
        "--create-kms-key",
        "--watch",
        &moto_pid,
    ];
    let moto_run = boto3(settings, script, &moto_args).await?;
    Ok((keyhold, moto_run))
}

/// One run of the script; a failed request comes back in `error`, not as Err.
async fn boto3(settings: &Settings, script: &Path, args: &[&str]) -> anyhow::Result<Boto3Run> {
    let label = args.get(1).copied().unwrap_or("?");
    let busy = quiet(settings.quiet_wait, "the boto3 run").await;
    eprintln!(
        "object-bench: s3: boto3 against {label}: {} threads, {}",
        settings.threads,
        match settings.count {
            Some(count) => format!("{count} operations per phase"),
            None => format!(
                "{} s + {} s per phase",
                settings.warmup_seconds, settings.seconds
            ),
        }
    );
    let mut command = tokio::process::Command::new(&settings.python);
    command
        .arg(script)
        .args(args)
        .args(["--create-bucket", "--json", "--threads"])
        .arg(settings.threads.to_string());
    match settings.count {
        Some(count) => command.arg("--count").arg(count.to_string()),
        None => command
            .arg("--seconds")
            .arg(settings.seconds.to_string())
            .arg("--warmup-seconds")
            .arg(settings.warmup_seconds.to_string()),
    };
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot run {}: {e}", Path::new(&settings.python).display())
        })?;
    let mut run: Boto3Run = serde_json::from_slice(&output.stdout).map_err(|e| {
        anyhow::anyhow!(
            "s3_boto3.py against {label} exited with {} and no report ({e}); is boto3 installed? \
             (pip install boto3 'moto[server]')",
            output.status
        )
    })?;
    run.machine_busy_before = busy;
    if let Some(error) = &run.error {
        eprintln!("object-bench: s3: boto3 against {label} FAILED: {error}");
    }
    Ok(run)
}

async fn quiet(limit: Duration, label: &str) -> f64 {
    if limit.is_zero() {
        procfs::machine_busy(Duration::from_secs(1)).await
    } else {
        procfs::wait_for_quiet(limit, label).await
    }
}

/// The AWS SDK for Rust against keyhold's S3 endpoint, path-style, as AWSLabsUser-0001.
fn sdk_client(endpoint: &str) -> Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            USER1.id,
            USER1.secret,
            None,
            None,
            "object-bench",
        ))
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

/// The SDK part: one warm-up round whose GETs are checked byte for byte, then
/// `sdk_rounds` rounds of gRPC PUT, S3 PUT, gRPC GET, S3 GET of `sdk_size` bytes.
async fn sdk(
    settings: &Settings,
    stack: &Stack,
    fixture: &Fixture,
    object: &mut ObjectClient,
    payload: &Payload,
) -> anyhow::Result<Sdk> {
    let size = settings.sdk_size;
    let bucket = fixture.bucket.as_str();
    let watched = Watched {
        object_svc: stack.object.pid,
        kms_svc: stack.kms.pid,
    };
    // The SDK reads the file as a user's upload would; it is written (and so in the
    // page cache) before anything is timed.
    let file = UploadFile::write(&stack.workdir.join("s3-sdk-upload.bin"), payload, size)?;
    let s3 = sdk_client(&stack.s3_endpoint);
    eprintln!(
        "object-bench: s3: AWS SDK for Rust, {} MiB, 1 warm-up + {} rounds",
        size >> 20,
        settings.sdk_rounds
    );

    let pid = stack.object.pid;
    let mut peaks = [None; 4];
    peaks[0] = peak_during(
        pid,
        transfer::put(
            object,
            payload,
            size,
            bucket,
            "s3/grpc-warm-up",
            Some(&fixture.kms_key),
        ),
    )
    .await?;
    peaks[1] = peak_during(
        pid,
        s3_put(&s3, &file.path, bucket, "s3/sdk-warm-up", &fixture.kms_key),
    )
    .await?;
    peaks[2] = peak_during(
        pid,
        transfer::get(object, bucket, "s3/grpc-warm-up", size, Some(payload)),
    )
    .await?;
    peaks[3] = peak_during(
        pid,
        s3_get(&s3, bucket, "s3/sdk-warm-up", size, Some(payload)),
    )
    .await?;

    let mut sides = [
        Side::new("PutObject gRPC"),
        Side::new("PutObject S3 (SDK)"),
        Side::new("GetObject gRPC"),
        Side::new("GetObject S3 (SDK)"),
    ];
    for round in 0..settings.sdk_rounds {
        quiet(settings.quiet_wait, "the next SDK round").await;
        let grpc_key = format!("s3/grpc-round-{round}");
        let s3_key = format!("s3/sdk-round-{round}");
        let (t, cpu) = timed(
            watched,
            transfer::put(
                object,
                payload,
                size,
                bucket,
                &grpc_key,
                Some(&fixture.kms_key),
            ),
        )
        .await?;
        sides[0].add(t, cpu);
        let (t, cpu) = timed(
            watched,
            s3_put(&s3, &file.path, bucket, &s3_key, &fixture.kms_key),
        )
        .await?;
        sides[1].add(t, cpu);
        let (t, cpu) = timed(
            watched,
            transfer::get(object, bucket, &grpc_key, size, None),
        )
        .await?;
        sides[2].add(t, cpu);
        let (t, cpu) = timed(watched, s3_get(&s3, bucket, &s3_key, size, None)).await?;
        sides[3].add(t, cpu);
        eprintln!(
            "object-bench: s3 round {}/{}: {}",
            round + 1,
            settings.sdk_rounds,
            round_line(&sides)
        );
    }
    for side in &mut sides {
        side.finish();
    }
    let [grpc_put, s3_put, grpc_get, s3_get] = sides;
    Ok(Sdk {
        object_bytes: size,
        rounds: settings.sdk_rounds,
        put_body: "ByteStream::from_path (a file in the page cache, 64 KiB reads), sent aws-chunked with a CRC32 trailer",
        put_ratio: s3_put.mib_s / grpc_put.mib_s.max(1e-9),
        get_ratio: s3_get.mib_s / grpc_get.mib_s.max(1e-9),
        grpc_put,
        s3_put,
        grpc_get,
        s3_get,
        peak_above_before: peaks,
    })
}

/// The upload's source file, deleted when dropped.
struct UploadFile {
    path: PathBuf,
}

impl UploadFile {
    fn write(path: &Path, payload: &Payload, size: u64) -> anyhow::Result<UploadFile> {
        let file = UploadFile {
            path: path.to_owned(),
        };
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for piece in payload.pieces(size) {
            out.write_all(&piece)?;
        }
        out.flush()?;
        Ok(file)
    }
}

impl Drop for UploadFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// object-svc's VmHWM during `call` above its VmRSS just before it (None if the
/// peak could not be reset).
async fn peak_during<F>(pid: u32, call: F) -> anyhow::Result<Option<u64>>
where
    F: std::future::Future<Output = anyhow::Result<Transferred>>,
{
    let before = procfs::memory(pid).map(|m| m.rss);
    let reset = procfs::reset_peak(pid).is_ok();
    call.await?;
    let after = procfs::memory(pid).map(|m| m.hwm);
    Ok(match (reset, before, after) {
        (true, Some(before), Some(hwm)) => Some(hwm.saturating_sub(before)),
        _ => None,
    })
}

fn sdk_error<E: std::fmt::Debug + aws_sdk_s3::error::ProvideErrorMetadata>(
    call: &str,
    key: &str,
    error: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> anyhow::Error {
    let status = error.raw_response().map(|r| r.status().as_u16());
    let request_id = error
        .raw_response()
        .and_then(|r| r.headers().get("x-amz-request-id"))
        .unwrap_or("-")
        .to_owned();
    match error.as_service_error() {
        Some(service) => anyhow::anyhow!(
            "S3 {call} of {key} failed: HTTP {}, {}: {} (request id {request_id})",
            status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            service.code().unwrap_or("-"),
            service.message().unwrap_or("-"),
        ),
        None => anyhow::anyhow!("S3 {call} of {key} failed: {error:?}"),
    }
}

/// S3 PutObject with SSE-KMS through the SDK, the body streamed from `path`.
async fn s3_put(
    s3: &Client,
    path: &Path,
    bucket: &str,
    key: &str,
    kms_key: &str,
) -> anyhow::Result<Transferred> {
    let started = Instant::now();
    let body = ByteStream::from_path(path).await?;
    let size = body.size_hint().0;
    let output = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body)
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(kms_key)
        .send()
        .await
        .map_err(|e| sdk_error("PutObject", key, e))?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        output.server_side_encryption() == Some(&ServerSideEncryption::AwsKms),
        "S3 PutObject of {key} answered server-side encryption {:?}, not aws:kms",
        output.server_side_encryption()
    );
    Ok(Transferred {
        bytes: size,
        messages: size.div_ceil(64 * 1024),
        elapsed,
    })
}

/// S3 GetObject through the SDK: the body is counted (and with `verify` compared with
/// what was put), not kept.
async fn s3_get(
    s3: &Client,
    bucket: &str,
    key: &str,
    size: u64,
    verify: Option<&Payload>,
) -> anyhow::Result<Transferred> {
    let started = Instant::now();
    let output = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| sdk_error("GetObject", key, e))?;
    anyhow::ensure!(
        output.server_side_encryption() == Some(&ServerSideEncryption::AwsKms),
        "S3 GetObject of {key} answered server-side encryption {:?}, not aws:kms",
        output.server_side_encryption()
    );
    let mut body = output.body;
    let mut received = Received::new(verify);
    let what = format!("S3 GetObject of {key}");
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| anyhow::anyhow!("{what}: the body failed at {}: {e}", received.bytes))?
    {
        received.take(&what, &chunk)?;
    }
    let elapsed = started.elapsed();
    let Received {
        bytes, messages, ..
    } = received;
    anyhow::ensure!(
        bytes == size,
        "S3 GetObject of {key}: {bytes} bytes received, {size} were put"
    );
    Ok(Transferred {
        bytes,
        messages,
        elapsed,
    })
}
