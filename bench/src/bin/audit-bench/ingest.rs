//! `ingest`: records streamed into a spawned audit-svc as kms-svc's emitter streams
//! them (IngestEvents, batches, several batches awaiting acknowledgement per stream),
//! counted when acknowledged, i.e. durable in Postgres.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use keyhold_platform::auth::ClientCredentials;
use keyhold_proto::audit::v1::{IngestEventsRequest, audit_service_client::AuditServiceClient};
use serde::Serialize;
use sqlx::types::chrono::Utc;
use tokio::sync::{Semaphore, mpsc};
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;

use crate::{
    common::{self, CpuSampler, CpuUse, KMS_SVC, Latency, Server},
    records::Generator,
};

pub const TARGET_EVENTS_PER_SECOND: f64 = 30_000.0;

pub const SECOND: i64 = 1_000_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// Now, in microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// audit-svc's database; created when missing.
    #[arg(
        long,
        env = "KEYHOLD_AUDIT_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/keyhold_audit_bench"
    )]
    pub database_url: String,

    /// Drop and recreate the database first, so the run starts on empty tables.
    #[arg(long)]
    pub fresh: bool,

    #[command(flatten)]
    pub load: LoadArgs,

    /// Measured length, after the warmup.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,

    /// Uncounted lead-in (connections, pool, partitions, caches).
    #[arg(long, default_value_t = 2)]
    pub warmup_seconds: u64,

    /// Load exactly this many events instead of measuring for --seconds.
    #[arg(long)]
    pub events: Option<u64>,

    /// With --events: the events' times spread over this many days up to now.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=80))]
    pub days: u32,

    /// audit-svc without Insights (no per-minute counting at ingest, no worker): the
    /// baseline of the Insights cost (BENCHMARKS.md). By default both insight types are
    /// on, with the dev stack's worker settings (minutes judged every 10 s).
    #[arg(long)]
    pub without_insights: bool,
}

/// How the records are sent, shared with `lookup`'s loading.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Parallel IngestEvents streams (each its own HTTP/2 connection).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub streams: u64,

    /// Records per batch (kms-svc's emitter sends up to 1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch: u64,

    /// Batches sent and not yet acknowledged, per stream.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub in_flight: u64,
}

#[derive(Debug, Clone, Copy)]
pub enum Plan {
    /// Live records (times around now) for `measure` after `warmup`.
    Sustained { warmup: Duration, measure: Duration },
    /// Exactly `events` records, times spread evenly over [from, to] (microseconds
    /// since the Unix epoch).
    Exactly { events: u64, from: i64, to: i64 },
}

#[derive(Debug, Serialize)]
pub struct LoadResult {
    /// Wall seconds the counted records took: the measured window, or the whole load.
    pub seconds: f64,
    /// Records in acknowledged batches (in the window, for a sustained run).
    pub acknowledged: u64,
    /// Of those, how many audit-svc reported as new.
    pub stored: u64,
    pub events_per_second: f64,
    pub batch_ack: Latency,
    pub cpu: CpuUse,
}

#[derive(Debug, Serialize)]
pub struct IngestReport {
    pub database: String,
    pub mode: &'static str,
    pub streams: u64,
    pub batch: u64,
    pub in_flight_per_stream: u64,
    pub result: LoadResult,
    pub rows_in_events_after: i64,
    pub target_events_per_second: f64,
    pub pass: Option<bool>,
    pub audit_svc_log: String,
}

pub async fn run(args: &IngestArgs, quiet: bool) -> anyhow::Result<IngestReport> {
    common::wait_for_quiet_machine(quiet).await;
    let database = common::ensure_database(&args.database_url, args.fresh).await?;
    let workdir = common::workdir("ingest")?;
    let insights = if args.without_insights {
        Insights::Off
    } else {
        Insights::On
    };
    let audit = start_audit_svc_with(&args.database_url, &workdir, insights).await?;
    let plan = match args.events {
        Some(events) => {
            // A minute back: the load's newest records stay clear of audit-svc's own
            // records of the lookups made later.
            let to = now_micros() - MINUTE;
            Plan::Exactly {
                events,
                from: to - i64::from(args.days) * DAY,
                to,
            }
        }
        None => Plan::Sustained {
            warmup: Duration::from_secs(args.warmup_seconds),
            measure: Duration::from_secs(args.seconds),
        },
    };
    let driven = drive(&audit, &args.load, plan, quiet).await;
    let stopped = audit.stop().await;
    let result = driven?;
    stopped?;
    let mut db = common::db(&args.database_url).await?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut db)
        .await?;
    let sustained = args.events.is_none();
    Ok(IngestReport {
        database,
        mode: if sustained { "sustained" } else { "load" },
        streams: args.load.streams,
        batch: args.load.batch,
        in_flight_per_stream: args.load.in_flight,
        pass: sustained.then_some(result.events_per_second >= TARGET_EVENTS_PER_SECOND),
        result,
        rows_in_events_after: rows,
        target_events_per_second: TARGET_EVENTS_PER_SECOND,
        audit_svc_log: workdir.join("audit-svc.log").display().to_string(),
    })
}

/// The release audit-svc on `database_url`, logging at warn to a file in `workdir`.
pub async fn start_audit_svc(
    database_url: &str,
    workdir: &std::path::Path,
) -> anyhow::Result<Server> {
    start_audit_svc_with(database_url, workdir, Insights::Default).await
}

/// How audit-svc computes Insights during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insights {
    /// As shipped: rates counted, the worker every minute, no type on.
    Default,
    /// Both types on, minutes judged every 10 s, 5 s after their end (the dev stack).
    On,
    /// No counting at ingest and no worker.
    Off,
}

pub async fn start_audit_svc_with(
    database_url: &str,
    workdir: &std::path::Path,
    insights: Insights,
) -> anyhow::Result<Server> {
    start_audit_svc_with_env(database_url, workdir, insights, &[]).await
}

/// Like [`start_audit_svc_with`], with `extra` settings on top.
pub async fn start_audit_svc_with_env(
    database_url: &str,
    workdir: &std::path::Path,
    insights: Insights,
    extra: &[(&str, String)],
) -> anyhow::Result<Server> {
    let principals = workdir.join("principals.json");
    std::fs::write(&principals, common::DEV_PRINCIPALS)?;
    let mut env = vec![
        ("KEYHOLD_DATABASE_URL", database_url.to_owned()),
        ("KEYHOLD_PRINCIPALS_FILE", principals.display().to_string()),
        // Per-call logging would be measured along with the ingest.
        ("RUST_LOG", "warn".to_owned()),
    ];
    match insights {
        Insights::Default => {}
        Insights::On => env.extend([
            (
                "KEYHOLD_INSIGHT_TYPES",
                "ApiCallRateInsight,ApiErrorRateInsight".to_owned(),
            ),
            ("KEYHOLD_INSIGHTS_EVALUATE_SECONDS", "10".to_owned()),
            ("KEYHOLD_INSIGHTS_CLOSE_DELAY_SECONDS", "5".to_owned()),
        ]),
        Insights::Off => env.push(("KEYHOLD_INSIGHT_RATES", "false".to_owned())),
    }
    env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    Server::start_grpc(
        "audit-svc",
        &common::sibling_binary("audit-svc")?,
        &env,
        workdir.join("audit-svc.log"),
    )
    .await
}

/// What the streams share.
struct Shared {
    plan: Plan,
    batch: u64,
    /// Sustained: when counting starts and sending stops.
    window: (Instant, Instant),
    /// Exactly: the next batch to send, across all streams.
    next_batch: AtomicU64,
    seed: u64,
}

struct StreamResult {
    acknowledged: u64,
    stored: u64,
    histogram: hdrhistogram::Histogram<u64>,
    first_send: Option<Instant>,
    last_ack: Option<Instant>,
}

pub async fn drive(
    audit: &Server,
    load: &LoadArgs,
    plan: Plan,
    quiet: bool,
) -> anyhow::Result<LoadResult> {
    let channels = common::connect_many(&audit.endpoint, load.streams).await?;
    let now = Instant::now();
    let window = match plan {
        Plan::Sustained { warmup, measure } => (now + warmup, now + warmup + measure),
        Plan::Exactly { .. } => (now, now),
    };
    let shared = Arc::new(Shared {
        plan,
        batch: load.batch,
        window,
        next_batch: AtomicU64::new(0),
        seed: Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64,
    });
    let cpu = CpuSampler::start(
        vec![
            ("audit-svc".into(), vec![audit.pid]),
            ("audit-bench".into(), vec![std::process::id()]),
        ],
        true,
    );
    // Progress for long loads, on stderr so --json output stays clean.
    let progress = match plan {
        Plan::Exactly { events, .. } if !quiet && events >= 100_000 => {
            let shared = shared.clone();
            let batches = events.div_ceil(load.batch);
            Some(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    let sent = shared.next_batch.load(Ordering::Relaxed).min(batches);
                    eprintln!("audit-bench: {sent}/{batches} batches sent");
                }
            }))
        }
        _ => None,
    };
    let tasks: Vec<_> = channels
        .into_iter()
        .enumerate()
        .map(|(n, channel)| tokio::spawn(stream(channel, shared.clone(), n as u64, load.in_flight)))
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await??);
    }
    if let Some(progress) = progress {
        progress.abort();
    }
    // Sampled while the window is fresh: for a sustained run, the last acks arrive
    // just after the window closes.
    let cpu = cpu.stop();

    let mut histogram = common::new_histogram();
    for r in &results {
        histogram.add(&r.histogram)?;
    }
    let acknowledged: u64 = results.iter().map(|r| r.acknowledged).sum();
    let stored: u64 = results.iter().map(|r| r.stored).sum();
    let seconds = match plan {
        Plan::Sustained { measure, .. } => measure.as_secs_f64(),
        Plan::Exactly { .. } => {
            let first = results.iter().filter_map(|r| r.first_send).min();
            let last = results.iter().filter_map(|r| r.last_ack).max();
            match (first, last) {
                (Some(first), Some(last)) => (last - first).as_secs_f64(),
                _ => 0.0,
            }
        }
    };
    Ok(LoadResult {
        seconds,
        acknowledged,
        stored,
        events_per_second: acknowledged as f64 / seconds.max(1e-9),
        batch_ack: common::summarize(&histogram),
        cpu,
    })
}

/// One IngestEvents stream: a sender keeping `in_flight` batches unacknowledged, and
/// this task reading the acknowledgements.
async fn stream(
    channel: tonic::transport::Channel,
    shared: Arc<Shared>,
    number: u64,
    in_flight: u64,
) -> anyhow::Result<StreamResult> {
    let mut client = AuditServiceClient::with_interceptor(
        channel,
        ClientCredentials::new(KMS_SVC.id, KMS_SVC.secret),
    )
    .max_decoding_message_size(64 << 20)
    .max_encoding_message_size(64 << 20);
    let in_flight = usize::try_from(in_flight).unwrap_or(1);
    let (requests, receiver) = mpsc::channel(in_flight);
    let permits = Arc::new(Semaphore::new(in_flight));
    // (sequence, when sent, records): acknowledgements arrive in order.
    let pending = Arc::new(Mutex::new(VecDeque::<(u64, Instant, u64)>::new()));

    let sender = {
        let (shared, permits, pending) = (shared.clone(), permits.clone(), pending.clone());
        tokio::spawn(async move {
            let mut generator = Generator::new(shared.seed ^ (number.wrapping_mul(0x9E37_79B9)));
            let mut sequence = 0u64;
            loop {
                let Ok(permit) = permits.acquire().await else {
                    break;
                };
                permit.forget();
                let records = match shared.plan {
                    Plan::Sustained { .. } => {
                        if Instant::now() >= shared.window.1 {
                            break;
                        }
                        // Live calls of the last second, as an emitter sends them.
                        let count = usize::try_from(shared.batch).unwrap_or(1000);
                        let step = SECOND / shared.batch as i64;
                        generator.batch(count, now_micros() - SECOND, step)
                    }
                    Plan::Exactly { events, from, to } => {
                        let k = shared.next_batch.fetch_add(1, Ordering::Relaxed);
                        let first = k * shared.batch;
                        if first >= events {
                            break;
                        }
                        let count = (events - first).min(shared.batch);
                        let step = (to - from) / events.max(1) as i64;
                        generator.batch(count as usize, from + step * first as i64, step)
                    }
                };
                sequence += 1;
                let count = records.len() as u64;
                pending.lock().expect("pending batches").push_back((
                    sequence,
                    Instant::now(),
                    count,
                ));
                let request = IngestEventsRequest {
                    batch_sequence: sequence,
                    records,
                };
                if requests.send(request).await.is_err() {
                    break;
                }
            }
            // Dropping `requests` ends the stream once the last batches are acknowledged.
        })
    };

    let mut result = StreamResult {
        acknowledged: 0,
        stored: 0,
        histogram: common::new_histogram(),
        first_send: None,
        last_ack: None,
    };
    let mut replies = client
        .ingest_events(ReceiverStream::new(receiver))
        .await?
        .into_inner();
    while let Some(ack) = replies.message().await? {
        let now = Instant::now();
        let counted = match shared.plan {
            Plan::Sustained { .. } => now >= shared.window.0 && now < shared.window.1,
            Plan::Exactly { .. } => true,
        };
        let mut pending = pending.lock().expect("pending batches");
        while let Some(&(sequence, sent, count)) = pending.front() {
            if sequence > ack.acknowledged_sequence {
                break;
            }
            pending.pop_front();
            result.first_send.get_or_insert(sent);
            if counted {
                result.acknowledged += count;
                common::record(&mut result.histogram, now - sent);
            }
            permits.add_permits(1);
        }
        if counted {
            result.stored += u64::from(ack.stored);
        }
        result.last_ack = Some(now);
    }
    sender.await?;
    let unacknowledged = pending.lock().expect("pending batches").len();
    anyhow::ensure!(
        unacknowledged == 0,
        "stream {number} ended with {unacknowledged} batches unacknowledged"
    );
    Ok(result)
}

pub fn table(report: &IngestReport) -> String {
    let r = &report.result;
    let mut out = String::new();
    out += &format!(
        "audit-svc IngestEvents ({}) into {}: {} streams x {} batches of {} in flight\n",
        report.mode, report.database, report.streams, report.in_flight_per_stream, report.batch
    );
    out += &format!(
        "  {:<28} {:>12}\n  {:<28} {:>12}\n  {:<28} {:>12.2}\n  {:<28} {:>12.0}\n",
        "events acknowledged",
        r.acknowledged,
        "of which new (stored)",
        r.stored,
        "seconds",
        r.seconds,
        "events/s (durable)",
        r.events_per_second
    );
    out += &format!(
        "  {:<28} {:>12.1}\n  {:<28} {:>12.1}\n  {:<28} {:>12.1}\n",
        "batch ack p50 ms",
        r.batch_ack.p50_ms,
        "batch ack p99 ms",
        r.batch_ack.p99_ms,
        "batch ack max ms",
        r.batch_ack.max_ms
    );
    out += &format!("  {}\n", common::cpu_line(&r.cpu));
    out += &format!("  rows in events now: {}\n", report.rows_in_events_after);
    if let Some(pass) = report.pass {
        out += &format!(
            "  target >= {:.0} events/s: {}\n",
            report.target_events_per_second,
            if pass { "PASS" } else { "FAIL" }
        );
    }
    out
}
