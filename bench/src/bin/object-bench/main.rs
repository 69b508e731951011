//! object-bench: object-svc's SSE-KMS PutObject and GetObject against the transport
//! ceiling on the same server (see BENCHMARKS.md, "object-svc: SSE-KMS object
//! throughput vs the transport ceiling").
//!
//! One run spawns the release kms-svc and object-svc built next to this binary
//! (cargo build --release -p keyhold-bench -p kms-svc -p object-svc), each on a fresh
//! database, and measures, in this order:
//!
//! - memory: object-svc's peak RSS above idle while a 1 GiB object is put and read
//!   back with SSE-KMS (target: under 64 MiB);
//! - throughput: MiB/s of 64 MiB PutObject / GetObject with SSE-KMS against
//!   TransportProbeService Sink / Source of the same bytes (target: at least 50% of
//!   the ceiling both ways);
//! - small: 4 KiB objects with SSE-KMS at 64 in flight, objects/s and p50/p99 (with
//!   Sink/Source of 4 KiB at 64 in flight beside them; no target);
//! - s3 (only when asked for): the S3 REST endpoint. bench/s3_boto3.py's boto3 load
//!   (PUT and GET of 1 KiB and 1 MiB with SSE-KMS, 4 threads) against keyhold and
//!   against a moto server started for the run (target: keyhold at least 5x moto's
//!   ops/s in every phase), and the AWS SDK for Rust putting and getting a 256 MiB
//!   SSE-KMS object, MiB/s against gRPC PutObject/GetObject in the same run.
//!
//! Exit codes: 0 measured and every target met; 1 the run failed (a call failed, a
//! server could not start or did not stop cleanly); 2 a target missed.

mod memory;
mod procfs;
mod report;
mod s3;
mod servers;
mod small;
mod throughput;
mod transfer;

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;
// The kms load generator's client: the same credentials, channels and health probe.
use keyhold_bench::{client, proc_ticks, report_main::report_main};
use keyhold_proto::{kms::v1 as kms, object::v1::CreateBucketRequest};

use crate::{
    client::{USER1, USER1_NAME},
    procfs::Watched,
    report::Report,
    servers::{OBJECT_SVC, Stack},
    transfer::Payload,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Phase {
    Memory,
    Throughput,
    Small,
    S3,
}

#[derive(Debug, clap::Parser)]
#[command(
    name = "object-bench",
    version,
    about = "object-svc SSE-KMS PutObject/GetObject against the transport ceiling, small objects, and memory"
)]
struct Args {
    /// The kms-svc binary; by default the one next to this executable.
    #[arg(long)]
    kms_svc_bin: Option<PathBuf>,

    /// The object-svc binary; by default the one next to this executable.
    #[arg(long)]
    object_svc_bin: Option<PathBuf>,

    /// kms-svc's database: dropped and created at the start, dropped at the end.
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/keyhold_bench_kms"
    )]
    kms_database_url: String,

    /// object-svc's database: dropped and created at the start, dropped at the end.
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/keyhold_bench_object"
    )]
    object_database_url: String,

    /// Leave both databases in place at the end (they are still recreated next run).
    #[arg(long)]
    keep_databases: bool,

    /// Where the run's workdir (logs, keys, blob store) is made; by default the temp
    /// dir. The blob store is on this disk, and is deleted at the end.
    #[arg(long)]
    workdir_parent: Option<PathBuf>,

    /// The phases to run (comma-separated); they always run in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "memory,throughput,small"
    )]
    phases: Vec<Phase>,

    /// Throughput: object size in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    size_mib: u64,

    /// Throughput and memory: bytes per PutObject and Sink message, in KiB.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=4000))]
    chunk_kib: u64,

    /// Throughput: bytes per Source message, in KiB (default: --chunk-kib).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4000))]
    source_chunk_kib: Option<u64>,

    /// Throughput: counted rounds (each Sink, PUT, Source, GET), after one warm-up round.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,

    /// Small: object size in bytes.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=4_000_000))]
    small_bytes: u64,

    /// Small: calls in flight (tasks, each one call at a time).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    concurrency: u64,

    /// Small: HTTP/2 connections the tasks share, round robin.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    connections: u64,

    /// Small: measured seconds of each sub-phase.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,

    /// Small: uncounted lead-in of each sub-phase.
    #[arg(long, default_value_t = 2)]
    warmup_seconds: u64,

    /// Memory: object size in MiB.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=65536))]
    memory_mib: u64,

    /// Memory: VmRSS sampling period in milliseconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    sample_ms: u64,

    /// S3: boto3 client threads (each its own client), against keyhold and moto alike.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    s3_threads: u64,

    /// S3: measured seconds of each boto3 phase (put-1KiB, get-1KiB, put-1MiB, get-1MiB).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    s3_seconds: u64,

    /// S3: uncounted lead-in of each boto3 phase.
    #[arg(long, default_value_t = 1)]
    s3_warmup_seconds: u64,

    /// S3: operations per boto3 phase, all counted, instead of --s3-seconds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    s3_count: Option<u64>,

    /// S3: object size of the AWS SDK for Rust PUT/GET against gRPC, in MiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=4096))]
    sdk_size_mib: u64,

    /// S3: counted rounds of the SDK part (gRPC PUT, S3 PUT, gRPC GET, S3 GET), after
    /// one warm-up round.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    sdk_rounds: u32,

    /// S3: the Python with boto3 and moto[server] (pip install boto3 'moto[server]').
    #[arg(long, default_value = "python3")]
    python: PathBuf,

    /// Before each phase, wait up to this long for the machine to be under 25% busy
    /// (0: do not wait). The report shows how busy it was either way.
    #[arg(long, default_value_t = 300)]
    quiet_wait_seconds: u64,

    /// Print one JSON object with the figures instead of the tables.
    #[arg(long)]
    json: bool,
}

/// What setup made: the SSE-KMS key (by alias) and the bucket, both AWSLabsUser-0001's.
pub struct Fixture {
    pub bucket: String,
    /// The alias every PUT names as its SSE-KMS key.
    pub kms_key: String,
    pub key_arn: String,
}

const TARGET_RATIO: f64 = 0.5;
/// The s3 phase: keyhold's boto3 ops/s over moto's, every phase.
const S3_TARGET_RATIO: f64 = 5.0;
const MEMORY_LIMIT: u64 = 64 * 1024 * 1024;

fn main() -> ExitCode {
    let args = Args::parse();
    report_main(
        "object-bench",
        args.json,
        run(&args),
        Report::table,
        |report| {
            if report.failed() {
                ExitCode::FAILURE
            } else if !report.pass {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        },
    )
}

async fn run(args: &Args) -> anyhow::Result<Report> {
    let settings = servers::Settings {
        kms_svc_bin: match &args.kms_svc_bin {
            Some(path) => path.clone(),
            None => servers::sibling_binary("kms-svc")?,
        },
        object_svc_bin: match &args.object_svc_bin {
            Some(path) => path.clone(),
            None => servers::sibling_binary("object-svc")?,
        },
        kms_database_url: args.kms_database_url.clone(),
        object_database_url: args.object_database_url.clone(),
        parent_dir: args
            .workdir_parent
            .clone()
            .unwrap_or_else(std::env::temp_dir),
        keep_databases: args.keep_databases,
    };
    let mut stack = Stack::start(&settings).await?;
    eprintln!(
        "object-bench: kms-svc pid {} at {}, object-svc pid {} at {}; workdir {}",
        stack.kms.pid,
        stack.kms.endpoint,
        stack.object.pid,
        stack.object.endpoint,
        stack.workdir.display()
    );
    let measured = measure(args, &mut stack).await;
    let logs = [
        stack.kms.log.display().to_string(),
        stack.object.log.display().to_string(),
    ];
    let stopped = stack.stop().await;
    let mut report = measured?;
    report.logs = logs.to_vec();
    // The figures stand, but a server that did not stop cleanly fails the run.
    report.stop_error = stopped.err().map(|e| format!("{e:#}"));
    Ok(report)
}

async fn setup(stack: &Stack, object: &mut transfer::ObjectClient) -> anyhow::Result<Fixture> {
    let mut kms_client = client::kms(client::connect(&stack.kms.endpoint).await?, USER1);
    let key = kms_client
        .create_key(kms::CreateKeyRequest {
            description: "object-bench SSE-KMS key".into(),
            key_administrators: vec![USER1_NAME.into()],
            key_users: vec![USER1_NAME.into()],
            ..Default::default()
        })
        .await
        .map_err(|s| anyhow::anyhow!("CreateKey: {:?}: {}", s.code(), s.message()))?
        .into_inner()
        .key_metadata
        .ok_or_else(|| anyhow::anyhow!("CreateKey returned no key metadata"))?;
    let alias = "alias/object-bench";
    kms_client
        .create_alias(kms::CreateAliasRequest {
            alias_name: alias.into(),
            target_key_id: key.key_id.clone(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("CreateAlias: {:?}: {}", s.code(), s.message()))?;
    let bucket = "keyhold-object-bench";
    object
        .create_bucket(CreateBucketRequest {
            bucket: bucket.into(),
            ..Default::default()
        })
        .await
        .map_err(|s| anyhow::anyhow!("CreateBucket: {:?}: {}", s.code(), s.message()))?;
    Ok(Fixture {
        bucket: bucket.into(),
        kms_key: alias.into(),
        key_arn: key.arn,
    })
}

async fn measure(args: &Args, stack: &mut Stack) -> anyhow::Result<Report> {
    let watched = Watched {
        object_svc: stack.object.pid,
        kms_svc: stack.kms.pid,
    };
    let quiet_limit = Duration::from_secs(args.quiet_wait_seconds);
    let quiet = |label: &'static str| async move {
        if quiet_limit.is_zero() {
            procfs::machine_busy(Duration::from_secs(1)).await
        } else {
            procfs::wait_for_quiet(quiet_limit, label).await
        }
    };
    // Large transfers share one connection, real and ceiling alike.
    let channel = client::connect(&stack.object.endpoint).await?;
    let mut object = transfer::object_client(channel.clone(), USER1);
    let mut probe = transfer::probe_client(channel, OBJECT_SVC);
    let fixture = Arc::new(setup(stack, &mut object).await?);
    let payload = Payload::new((args.chunk_kib * 1024) as usize);

    let mut report = Report::new(stack, &fixture);
    if args.phases.contains(&Phase::Memory) {
        let busy = quiet("the memory phase").await;
        eprintln!("object-bench: memory: {} MiB PUT and GET", args.memory_mib);
        let settings = memory::Settings {
            size: args.memory_mib * 1024 * 1024,
            sample_every: Duration::from_millis(args.sample_ms),
            limit: MEMORY_LIMIT,
        };
        report.memory =
            Some(memory::run(&settings, &fixture, &mut object, &payload, watched, busy).await?);
        stack.object.check_alive()?;
    }
    if args.phases.contains(&Phase::Throughput) {
        let busy = quiet("the throughput phase").await;
        eprintln!(
            "object-bench: throughput: {} MiB, 1 warm-up + {} rounds",
            args.size_mib, args.rounds
        );
        let settings = throughput::Settings {
            size: args.size_mib * 1024 * 1024,
            rounds: args.rounds,
            source_chunk: (args.source_chunk_kib.unwrap_or(args.chunk_kib) * 1024) as u32,
            target: TARGET_RATIO,
            quiet_wait: quiet_limit,
        };
        report.throughput = Some(
            throughput::run(
                &settings,
                &fixture,
                &mut object,
                &mut probe,
                &payload,
                watched,
                busy,
            )
            .await?,
        );
        stack.object.check_alive()?;
    }
    if args.phases.contains(&Phase::Small) {
        let busy = quiet("the small-object phase").await;
        eprintln!(
            "object-bench: small: {} B objects, {} in flight over {} connections, {} s + {} s per sub-phase",
            args.small_bytes, args.concurrency, args.connections, args.warmup_seconds, args.seconds
        );
        let channels = client::connect_many(&stack.object.endpoint, args.connections).await?;
        let settings = small::Settings {
            size: args.small_bytes,
            concurrency: args.concurrency as usize,
            warmup: Duration::from_secs(args.warmup_seconds),
            measure: Duration::from_secs(args.seconds),
            user: USER1,
        };
        report.small = Some(small::run(&settings, &channels, &fixture, watched, busy).await?);
        stack.object.check_alive()?;
    }
    if args.phases.contains(&Phase::S3) {
        eprintln!(
            "object-bench: s3: boto3 against keyhold and moto, then the AWS SDK for Rust ({} MiB) against gRPC",
            args.sdk_size_mib
        );
        let settings = s3::Settings {
            python: args.python.clone(),
            threads: args.s3_threads,
            seconds: args.s3_seconds,
            warmup_seconds: args.s3_warmup_seconds,
            count: args.s3_count,
            target: S3_TARGET_RATIO,
            sdk_size: args.sdk_size_mib * 1024 * 1024,
            sdk_rounds: args.sdk_rounds,
            quiet_wait: quiet_limit,
        };
        report.s3 = Some(s3::run(&settings, stack, &fixture, &mut object, &payload).await?);
        stack.object.check_alive()?;
    }
    stack.kms.check_alive()?;
    report.object_svc_rss_end = procfs::memory(stack.object.pid).map(|m| m.rss);
    report.finish();
    Ok(report)
}
