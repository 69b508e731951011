//! Phase B: small objects, many in flight. `concurrency` tasks over a few HTTP/2
//! connections, each making one call at a time; four sub-phases, each an uncounted
//! warm-up and a measured window: Sink of one small message (ceiling up), PutObject
//! SSE-KMS of distinct keys, Source of one small message (ceiling down), GetObject
//! SSE-KMS over the keys just put (every byte checked), then the same GETs once the
//! bucket has a bucket policy of 20 statements (authorization's cost on the data path),
//! then PutObject and GetObject again with SSE-S3 (no KMS call).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use serde::Serialize;
use tonic::transport::Channel;

use crate::{
    Fixture,
    client::AccessKey,
    procfs::{CpuMark, CpuSpent, Watched},
    servers::OBJECT_SVC,
    transfer::{self, ObjectClient, Payload, ProbeClient},
};

pub struct Settings {
    pub size: u64,
    pub concurrency: usize,
    pub warmup: Duration,
    pub measure: Duration,
    pub user: AccessKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sink,
    Put,
    Source,
    Get,
    /// GetObject again, with [`twenty_statement_policy`] on the bucket.
    GetUnderPolicy,
    PutSseS3,
    GetSseS3,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Sink => "Sink (ceiling up)",
            Kind::Put => "PutObject SSE-KMS",
            Kind::Source => "Source (ceiling down)",
            Kind::Get => "GetObject SSE-KMS",
            Kind::GetUnderPolicy => "GetObject SSE-KMS, 20-statement bucket policy",
            Kind::PutSseS3 => "PutObject SSE-S3",
            Kind::GetSseS3 => "GetObject SSE-S3",
        }
    }
}

/// One sub-phase's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Load {
    pub call: &'static str,
    /// Calls completed successfully inside the window, per second.
    pub per_second: f64,
    pub counted: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Failed calls over the whole sub-phase, warm-up included.
    pub errors: u64,
    pub first_error: Option<String>,
    pub cpu: CpuSpent,
    /// CPU µs per counted call, per process.
    pub cpu_us_per_call: CpuPerCall,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct CpuPerCall {
    pub object_svc: f64,
    pub kms_svc: f64,
    pub bench: f64,
    pub postgres: f64,
    pub rest: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Small {
    pub object_bytes: u64,
    pub concurrency: usize,
    pub connections: usize,
    pub warmup_seconds: f64,
    pub measure_seconds: f64,
    pub sink: Load,
    pub put: Load,
    pub source: Load,
    pub get: Load,
    pub get_under_policy: Load,
    pub put_sse_s3: Load,
    pub get_sse_s3: Load,
    /// PutObject/s over Sink/s, GetObject/s over Source/s (reported, no target).
    pub put_ratio: f64,
    pub get_ratio: f64,
    /// GetObject/s with the 20-statement bucket policy over GetObject/s without one,
    /// in the same run (target: at least 0.95).
    pub policy_get_ratio: f64,
    /// Objects the PUT sub-phase stored (warm-up included), which the GETs read.
    pub objects_stored: usize,
    pub machine_busy_before: f64,
}

impl Small {
    pub fn errors(&self) -> u64 {
        self.sink.errors
            + self.put.errors
            + self.source.errors
            + self.get.errors
            + self.get_under_policy.errors
            + self.put_sse_s3.errors
            + self.get_sse_s3.errors
    }
}

struct Worker {
    kind: Kind,
    task: usize,
    tasks: usize,
    object: ObjectClient,
    probe: ProbeClient,
    payload: Payload,
    size: u64,
    fixture: Arc<Fixture>,
    calls: u64,
    keys: Arc<Vec<String>>,
    stored: Vec<String>,
}

impl Worker {
    async fn call(&mut self) -> anyhow::Result<()> {
        self.calls += 1;
        match self.kind {
            Kind::Sink => {
                transfer::sink(&mut self.probe, &self.payload, self.size).await?;
            }
            Kind::Source => {
                transfer::source(&mut self.probe, self.size, self.size as u32).await?;
            }
            Kind::Put | Kind::PutSseS3 => {
                let (folder, kms_key) = match self.kind {
                    Kind::Put => ("small", Some(self.fixture.kms_key.as_str())),
                    _ => ("small-sse-s3", None),
                };
                let key = format!("{folder}/{:03}/{:08}", self.task, self.calls);
                transfer::put(
                    &mut self.object,
                    &self.payload,
                    self.size,
                    &self.fixture.bucket,
                    &key,
                    kms_key,
                )
                .await?;
                self.stored.push(key);
            }
            Kind::Get | Kind::GetUnderPolicy | Kind::GetSseS3 => {
                // Each task starts at its own place in the list and walks on from there.
                let count = self.keys.len();
                let start = self.task * count / self.tasks.max(1);
                let key = &self.keys[(start + self.calls as usize) % count];
                let sse = match self.kind {
                    Kind::GetSseS3 => "AES256",
                    _ => "aws:kms",
                };
                transfer::get_encrypted(
                    &mut self.object,
                    &self.fixture.bucket,
                    key,
                    self.size,
                    Some(&self.payload),
                    sse,
                )
                .await?;
            }
        }
        Ok(())
    }
}

struct TaskOutcome {
    counted: u64,
    latency: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
    stored: Vec<String>,
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 60 s at 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

async fn drive(mut worker: Worker, window_start: Instant, window_end: Instant) -> TaskOutcome {
    let mut outcome = TaskOutcome {
        counted: 0,
        latency: histogram(),
        errors: 0,
        first_error: None,
        stored: Vec::new(),
    };
    while Instant::now() < window_end {
        let started = Instant::now();
        let result = worker.call().await;
        let done = Instant::now();
        match result {
            Ok(()) => {
                if done >= window_start && done <= window_end {
                    outcome.counted += 1;
                    let micros = u64::try_from((done - started).as_micros()).unwrap_or(u64::MAX);
                    outcome.latency.saturating_record(micros.max(1));
                }
            }
            Err(error) => {
                outcome.errors += 1;
                if outcome.first_error.is_none() {
                    outcome.first_error = Some(format!("{error:#}"));
                }
            }
        }
    }
    outcome.stored = std::mem::take(&mut worker.stored);
    outcome
}

/// How long calls still in flight when the window closes may take to finish.
const STRAGGLER_GRACE: Duration = Duration::from_secs(30);

#[allow(clippy::too_many_arguments)]
async fn load(
    kind: Kind,
    settings: &Settings,
    channels: &[Channel],
    fixture: &Arc<Fixture>,
    payload: &Payload,
    keys: &Arc<Vec<String>>,
    watched: Watched,
) -> anyhow::Result<(Load, Vec<String>)> {
    let start = Instant::now();
    let window_start = start + settings.warmup;
    let window_end = window_start + settings.measure;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..settings.concurrency {
        let channel = channels[task % channels.len()].clone();
        let worker = Worker {
            kind,
            task,
            tasks: settings.concurrency,
            object: transfer::object_client(channel.clone(), settings.user),
            probe: transfer::probe_client(channel, OBJECT_SVC),
            payload: payload.clone(),
            size: settings.size,
            fixture: fixture.clone(),
            calls: 0,
            keys: keys.clone(),
            stored: Vec::new(),
        };
        tasks.spawn(drive(worker, window_start, window_end));
    }
    tokio::time::sleep_until(window_start.into()).await;
    let before = CpuMark::take(watched);
    tokio::time::sleep_until(window_end.into()).await;
    let after = CpuMark::take(watched);
    let cpu = CpuSpent::between(&before, &after);

    let mut latency = histogram();
    let (mut counted, mut errors, mut first_error, mut stored) = (0, 0, None, Vec::new());
    let deadline = tokio::time::Instant::now() + STRAGGLER_GRACE;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(joined)) => {
                let outcome = joined?;
                counted += outcome.counted;
                errors += outcome.errors;
                latency.add(&outcome.latency)?;
                if first_error.is_none() {
                    first_error = outcome.first_error;
                }
                stored.extend(outcome.stored);
            }
            Ok(None) => break,
            Err(_) => {
                let stuck = tasks.len() as u64;
                tasks.abort_all();
                errors += stuck;
                first_error.get_or_insert_with(|| {
                    format!("{stuck} calls unanswered {STRAGGLER_GRACE:?} after the window")
                });
                break;
            }
        }
    }
    let measure = settings.measure.as_secs_f64();
    let per_call = |cpu_s: f64| cpu_s * 1e6 / counted.max(1) as f64;
    let ms = |micros: u64| micros as f64 / 1000.0;
    let load = Load {
        call: kind.label(),
        per_second: counted as f64 / measure,
        counted,
        p50_ms: ms(latency.value_at_quantile(0.50)),
        p99_ms: ms(latency.value_at_quantile(0.99)),
        max_ms: ms(latency.max()),
        errors,
        first_error,
        cpu,
        cpu_us_per_call: CpuPerCall {
            object_svc: per_call(cpu.object_svc_s),
            kms_svc: per_call(cpu.kms_svc_s),
            bench: per_call(cpu.bench_s),
            postgres: per_call(cpu.postgres_s),
            rest: per_call(cpu.rest_s()),
        },
    };
    eprintln!(
        "object-bench: 4 KiB {}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
        load.call, load.per_second, load.p50_ms, load.p99_ms, load.errors
    );
    Ok((load, stored))
}

pub async fn run(
    settings: &Settings,
    channels: &[Channel],
    fixture: &Arc<Fixture>,
    watched: Watched,
    machine_busy_before: f64,
) -> anyhow::Result<Small> {
    let payload = &Payload::new(settings.size as usize);
    let run = |kind: Kind, keys: Arc<Vec<String>>| async move {
        load(kind, settings, channels, fixture, payload, &keys, watched).await
    };
    let none = Arc::new(Vec::new());
    let (sink, _) = run(Kind::Sink, none.clone()).await?;
    let (put, stored) = run(Kind::Put, none.clone()).await?;
    let (source, _) = run(Kind::Source, none.clone()).await?;
    anyhow::ensure!(
        !stored.is_empty(),
        "no small object was stored, so none can be read ({})",
        put.first_error.as_deref().unwrap_or("no error reported")
    );
    let objects_stored = stored.len();
    let keys = Arc::new(stored);
    let (get, _) = run(Kind::Get, keys.clone()).await?;
    let mut owner = transfer::object_client(channels[0].clone(), settings.user);
    let policy = twenty_statement_policy(&fixture.bucket);
    owner
        .put_bucket_policy(keyhold_proto::object::v1::PutBucketPolicyRequest {
            bucket: fixture.bucket.clone(),
            policy,
        })
        .await?;
    let (get_under_policy, _) = run(Kind::GetUnderPolicy, keys).await?;
    owner
        .delete_bucket_policy(keyhold_proto::object::v1::DeleteBucketPolicyRequest {
            bucket: fixture.bucket.clone(),
        })
        .await?;
    let (put_sse_s3, stored) = run(Kind::PutSseS3, none).await?;
    anyhow::ensure!(
        !stored.is_empty(),
        "no small SSE-S3 object was stored ({})",
        put_sse_s3
            .first_error
            .as_deref()
            .unwrap_or("no error reported")
    );
    let (get_sse_s3, _) = run(Kind::GetSseS3, Arc::new(stored)).await?;
    Ok(Small {
        object_bytes: settings.size,
        concurrency: settings.concurrency,
        connections: channels.len(),
        warmup_seconds: settings.warmup.as_secs_f64(),
        measure_seconds: settings.measure.as_secs_f64(),
        put_ratio: put.per_second / sink.per_second.max(1e-9),
        get_ratio: get.per_second / source.per_second.max(1e-9),
        policy_get_ratio: get_under_policy.per_second / get.per_second.max(1e-9),
        sink,
        put,
        source,
        get,
        get_under_policy,
        put_sse_s3,
        get_sse_s3,
        objects_stored,
        machine_busy_before,
    })
}

/// A bucket policy of 20 statements as a shared bucket might have: grants to other
/// principals and prefixes, conditions, and a Deny, none of which applies to the
/// bench's user, so that every GET is evaluated against all of them.
fn twenty_statement_policy(bucket: &str) -> String {
    let mut statements: Vec<serde_json::Value> = (0..19)
        .map(|n| {
            serde_json::json!({
                "Sid": format!("Team{n}Reads"),
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::000000000000:user/team-{n}")},
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [
                    format!("arn:aws:s3:::{bucket}"),
                    format!("arn:aws:s3:::{bucket}/team-{n}/*"),
                ],
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            })
        })
        .collect();
    statements.push(serde_json::json!({
        "Sid": "NoDeletesOfArchives",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:DeleteObject",
        "Resource": format!("arn:aws:s3:::{bucket}/archive/*"),
    }));
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}
