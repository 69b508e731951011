//! `overhead`: kms-svc's GenerateDataKey throughput with the audit pipeline on, as a
//! ratio to the same run with it off. One run spawns kms-svc once per variant, in
//! turn, on one fresh kms database, with the same master key and the same load.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use keyhold_proto::kms::v1::{CreateKeyRequest, GenerateDataKeyRequest};
use serde::Serialize;

use crate::{
    common::{self, CpuSampler, CpuUse, KMS_SVC, Latency, ROOT, Server, USER1, USER1_NAME},
    cores::CoreSplit,
    ingest,
};

pub const TARGET_RATIO: f64 = 0.85;

#[derive(Debug, Clone, clap::Args)]
pub struct OverheadArgs {
    /// kms-svc's database: dropped and recreated at the start of the run.
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/keyhold_audit_bench_kms"
    )]
    pub kms_database_url: String,

    /// audit-svc's database for the `on` variant: dropped and recreated, so the count
    /// of stored GenerateDataKey events is this run's alone.
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/keyhold_audit_bench_overhead"
    )]
    pub audit_database_url: String,

    /// Variants in the order they run: off (no audit endpoint, RUST_LOG=warn: each
    /// record is built, then neither shipped nor printed; the baseline), log (no
    /// endpoint, default RUST_LOG=info: LogSink writes each record as a JSON line to
    /// stderr, redirected to a file), on (records streamed to a spawned audit-svc,
    /// RUST_LOG=warn). Repeat a name to measure it again.
    #[arg(long, value_delimiter = ',', default_value = "off,on,log,off,on")]
    pub variants: Vec<Variant>,

    /// Measured length of each variant, after the warmup.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,

    #[arg(long, default_value_t = 2)]
    pub warmup_seconds: u64,

    /// Calls in flight: this many tasks, one call at a time each.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,

    /// HTTP/2 connections the tasks are spread over.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub connections: u64,

    /// Run kms-svc and the load on the first CPU, audit-svc and the machine's Postgres
    /// processes on the last (moved back at the end), as when the audit backend runs
    /// elsewhere. Needs the right to move Postgres' processes (root or postgres).
    #[arg(long)]
    pub split_cores: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Off,
    Log,
    On,
}

impl Variant {
    fn describe(self) -> &'static str {
        match self {
            Variant::Off => "no audit endpoint, RUST_LOG=warn (baseline)",
            Variant::Log => "no audit endpoint, RUST_LOG=info (LogSink JSON line per call)",
            Variant::On => "streamed to audit-svc (IngestEvents), RUST_LOG=warn",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct VariantResult {
    pub variant: Variant,
    pub description: &'static str,
    pub requests_per_second: f64,
    pub latency: Latency,
    pub errors: u64,
    /// Successful GenerateDataKey calls over kms-svc's whole life (warmup included).
    pub calls_succeeded: u64,
    pub cpu: CpuUse,
    /// Bytes kms-svc wrote to stderr/stdout (the LogSink lines, for `log`).
    pub log_bytes: u64,
    /// For `on`: GenerateDataKey events audit-svc stored, after kms-svc's drain.
    pub stored_events: Option<i64>,
    pub all_delivered: Option<bool>,
    /// For `on`, when not every call was stored: GenerateDataKey records kms-svc left in
    /// its spool at exit (its flush timeout passed first), for its next start to send.
    pub spooled_events: Option<u64>,
    /// For `on`: seconds from kms-svc's SIGTERM until every call was stored.
    pub drain_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct OverheadReport {
    /// With --split-cores: (the CPU of kms-svc and the load, the CPU of audit-svc and
    /// Postgres).
    pub split_cores: Option<(usize, usize)>,
    pub concurrency: u64,
    pub connections: u64,
    pub seconds: u64,
    pub runs: Vec<VariantResult>,
    /// Mean req/s per variant over its runs.
    pub mean_requests_per_second: HashMap<Variant, f64>,
    pub baseline: Variant,
    pub ratio_on: Option<f64>,
    pub ratio_log: Option<f64>,
    pub target_ratio: f64,
    pub pass: Option<bool>,
}

pub async fn run(
    args: &OverheadArgs,
    split: Option<&CoreSplit>,
    quiet: bool,
) -> anyhow::Result<OverheadReport> {
    common::ensure_database(&args.kms_database_url, true).await?;
    let workdir = common::workdir("overhead")?;
    let principals = workdir.join("principals.json");
    let master_key = workdir.join("master.key");
    std::fs::write(&principals, common::DEV_PRINCIPALS)?;
    // One master key for every spawn: they share the kms database.
    std::fs::write(
        &master_key,
        keyhold_crypto::MasterKey::generate().to_base64(),
    )?;
    let kms_bin = common::sibling_binary("kms-svc")?;

    let mut runs = Vec::new();
    for (n, variant) in args.variants.iter().copied().enumerate() {
        common::wait_for_quiet_machine(quiet).await;
        if !quiet {
            eprintln!("audit-bench: overhead variant {variant:?}");
        }
        let audit = if variant == Variant::On {
            common::ensure_database(&args.audit_database_url, true).await?;
            let dir = workdir.join(format!("audit-{n}"));
            std::fs::create_dir_all(&dir)?;
            let audit = ingest::start_audit_svc(&args.audit_database_url, &dir).await?;
            if let Some(split) = split {
                split.move_to_back(audit.pid)?;
            }
            Some(audit)
        } else {
            None
        };
        let mut env = vec![
            ("KEYHOLD_DATABASE_URL", args.kms_database_url.clone()),
            ("KEYHOLD_PRINCIPALS_FILE", principals.display().to_string()),
            ("KEYHOLD_MASTER_KEY_FILE", master_key.display().to_string()),
        ];
        if variant != Variant::Log {
            env.push(("RUST_LOG", "warn".to_owned()));
        }
        if let Some(audit) = &audit {
            env.push(("KEYHOLD_AUDIT_ENDPOINT", audit.endpoint.clone()));
            env.push(("KEYHOLD_AUDIT_ACCESS_KEY_ID", KMS_SVC.id.to_owned()));
            env.push(("KEYHOLD_AUDIT_SECRET_ACCESS_KEY", KMS_SVC.secret.to_owned()));
            env.push((
                "KEYHOLD_AUDIT_SPOOL_DIR",
                spool_dir(&workdir, n).display().to_string(),
            ));
        }
        let log = workdir.join(format!("kms-svc-{n}-{variant:?}.log"));
        let kms = Server::start_grpc("kms-svc", &kms_bin, &env, log.clone()).await?;
        let measured = measure(args, &kms, audit.as_ref()).await;
        let stopping = Instant::now();
        let stopped = kms.stop().await;
        let mut result = measured?;
        stopped?;
        result.variant = variant;
        result.description = variant.describe();
        result.log_bytes = std::fs::metadata(&log).map_or(0, |m| m.len());
        if let Some(audit) = audit {
            let (stored, drained) =
                wait_stored(&args.audit_database_url, result.calls_succeeded, stopping).await?;
            result.stored_events = Some(stored);
            result.all_delivered = Some(drained.is_some());
            if drained.is_none() {
                result.spooled_events = Some(spooled_calls(&spool_dir(&workdir, n))?);
            }
            result.drain_seconds = drained;
            audit.stop().await?;
        }
        runs.push(result);
    }

    let mut sums: HashMap<Variant, (f64, u32)> = HashMap::new();
    for r in &runs {
        let entry = sums.entry(r.variant).or_default();
        entry.0 += r.requests_per_second;
        entry.1 += 1;
    }
    let mean: HashMap<Variant, f64> = sums
        .into_iter()
        .map(|(v, (sum, n))| (v, sum / f64::from(n)))
        .collect();
    let ratio = |v: Variant| Some(mean.get(&v)? / mean.get(&Variant::Off)?);
    let ratio_on = ratio(Variant::On);
    let delivered = runs
        .iter()
        .filter_map(|r| r.all_delivered)
        .all(|delivered| delivered);
    Ok(OverheadReport {
        split_cores: split.map(|s| (s.front, s.back)),
        concurrency: args.concurrency,
        connections: args.connections,
        seconds: args.seconds,
        pass: ratio_on.map(|r| r >= TARGET_RATIO && delivered),
        ratio_on,
        ratio_log: ratio(Variant::Log),
        mean_requests_per_second: mean,
        baseline: Variant::Off,
        target_ratio: TARGET_RATIO,
        runs,
    })
}

/// GenerateDataKey as AWSLabsUser-0001 on a key root created with the console policy
/// naming that user, so each call is authenticated and evaluated against a real
/// policy, with the encryption context S3 sends for an SSE-KMS object.
async fn measure(
    args: &OverheadArgs,
    kms: &Server,
    audit: Option<&Server>,
) -> anyhow::Result<VariantResult> {
    let channels = common::connect_many(&kms.endpoint, args.connections).await?;
    let created = crate::client::kms(channels[0].clone(), ROOT)
        .create_key(CreateKeyRequest {
            description: "audit-bench overhead key".into(),
            key_administrators: vec![USER1_NAME.into()],
            key_users: vec![USER1_NAME.into()],
            ..Default::default()
        })
        .await
        .map_err(|s| anyhow::anyhow!("CreateKey as root: {s}"))?
        .into_inner();
    let key_id = created
        .key_metadata
        .ok_or_else(|| anyhow::anyhow!("CreateKey returned no key metadata"))?
        .key_id;
    let request = GenerateDataKeyRequest {
        key_id,
        encryption_context: HashMap::from([(
            "aws:s3:arn".to_owned(),
            "arn:aws:s3:::bench/object".to_owned(),
        )]),
        key_spec: "AES_256".into(),
        number_of_bytes: 0,
    };

    let start = Instant::now();
    let window = (
        start + Duration::from_secs(args.warmup_seconds),
        start + Duration::from_secs(args.warmup_seconds + args.seconds),
    );
    let succeeded = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut pids = vec![
        ("kms-svc".to_owned(), vec![kms.pid]),
        ("audit-bench".to_owned(), vec![std::process::id()]),
    ];
    if let Some(audit) = audit {
        pids.insert(1, ("audit-svc".to_owned(), vec![audit.pid]));
    }
    let mut tasks = Vec::new();
    for n in 0..args.concurrency {
        let channel = channels[(n % args.connections) as usize].clone();
        let (request, succeeded, errors) = (request.clone(), succeeded.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = crate::client::kms(channel, USER1);
            let mut histogram = common::new_histogram();
            let mut in_window = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= window.1 {
                    break;
                }
                let ok = client.generate_data_key(request.clone()).await.is_ok();
                let done = Instant::now();
                if ok {
                    succeeded.fetch_add(1, Ordering::Relaxed);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                // A call counts when it completes inside the window.
                if ok && done >= window.0 && done < window.1 {
                    in_window += 1;
                    common::record(&mut histogram, done - sent);
                }
            }
            (in_window, histogram)
        }));
    }
    tokio::time::sleep_until(window.0.into()).await;
    let cpu = CpuSampler::start(pids, true);
    tokio::time::sleep_until(window.1.into()).await;
    let cpu = cpu.stop();
    let mut histogram = common::new_histogram();
    let mut in_window = 0;
    for task in tasks {
        let (n, h) = task.await?;
        in_window += n;
        histogram.add(&h)?;
    }
    Ok(VariantResult {
        variant: Variant::Off,
        description: "",
        requests_per_second: in_window as f64 / args.seconds as f64,
        latency: common::summarize(&histogram),
        errors: errors.load(Ordering::Relaxed),
        calls_succeeded: succeeded.load(Ordering::Relaxed),
        cpu,
        log_bytes: 0,
        stored_events: None,
        all_delivered: None,
        spooled_events: None,
        drain_seconds: None,
    })
}

fn spool_dir(workdir: &std::path::Path, n: usize) -> std::path::PathBuf {
    workdir.join(format!("spool-{n}"))
}

/// GenerateDataKey records in the spool files under `dir` (one record per line).
fn spooled_calls(dir: &std::path::Path) -> anyhow::Result<u64> {
    let mut count = 0;
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                // Line by line: a spool may hold up to a gigabyte.
                let file = std::io::BufReader::new(std::fs::File::open(&path)?);
                for line in std::io::BufRead::lines(file) {
                    if line?.contains(r#""eventName":"GenerateDataKey""#) {
                        count += 1;
                    }
                }
            }
        }
    }
    Ok(count)
}

/// Polls audit-svc's database until it holds at least `calls` GenerateDataKey events
/// (30 s at most); returns the count and, if it got there, the seconds since `since`.
async fn wait_stored(
    database_url: &str,
    calls: u64,
    since: Instant,
) -> anyhow::Result<(i64, Option<f64>)> {
    let mut db = common::db(database_url).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE event_name = 'GenerateDataKey' \
             AND event_source = 'kms.amazonaws.com'",
        )
        .fetch_one(&mut db)
        .await?;
        if stored >= i64::try_from(calls).unwrap_or(i64::MAX) {
            return Ok((stored, Some(since.elapsed().as_secs_f64())));
        }
        if Instant::now() > deadline {
            return Ok((stored, None));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn table(report: &OverheadReport) -> String {
    let mut out = format!(
        "kms-svc GenerateDataKey, {} in flight over {} connections, {} s per variant\n",
        report.concurrency, report.connections, report.seconds
    );
    if let Some((front, back)) = report.split_cores {
        out += &format!(
            "  split cores: kms-svc and the load on CPU {front}, audit-svc and Postgres on CPU {back}\n"
        );
    }
    out += &format!(
        "  {:<5} {:>9} {:>8} {:>8} {:>7} {:>11} {:>10}  {}\n",
        "var", "req/s", "p50 ms", "p99 ms", "errors", "log bytes", "stored", "CPU"
    );
    for r in &report.runs {
        let stored = match (r.stored_events, r.all_delivered) {
            (Some(n), Some(true)) => format!("{n} all"),
            (Some(n), _) => match r.spooled_events {
                Some(spooled) => format!("{n} +{spooled} spooled"),
                None => format!("{n} MISSING"),
            },
            _ => "-".into(),
        };
        out += &format!(
            "  {:<5} {:>9.0} {:>8.2} {:>8.2} {:>7} {:>11} {:>10}  {}\n",
            format!("{:?}", r.variant).to_lowercase(),
            r.requests_per_second,
            r.latency.p50_ms,
            r.latency.p99_ms,
            r.errors,
            r.log_bytes,
            stored,
            common::cpu_line(&r.cpu)
        );
        if let (Some(calls), Some(drain)) = (Some(r.calls_succeeded), r.drain_seconds) {
            out += &format!(
                "        {calls} successful calls, all stored {drain:.1} s after kms-svc's SIGTERM\n"
            );
        }
    }
    let show = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.3}"));
    out += &format!(
        "  baseline: off. ratio on/off {} (target >= {:.2}: {}), ratio log/off {}\n",
        show(report.ratio_on),
        report.target_ratio,
        match report.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "not measured",
        },
        show(report.ratio_log)
    );
    out
}
