//! `delivery`: does trail delivery keep up with ingest? One trail selecting every
//! management and data event, audit-svc delivering its log files into a spawned
//! object-svc every `--interval-seconds`, while IngestEvents streams load audit-svc
//! as fast as it takes them for `--seconds`. Reported: events/s ingested and
//! delivered, the delivery backlog sampled every 5 s (whether it grows), how long
//! the last events took to be delivered after the load stopped, and the lag from an
//! event's time to its log file's delivery, p50/p99 (weighted by records; within a
//! file the records' times are taken as spread evenly between its oldest and newest).

use std::time::{Duration, Instant};

use keyhold_platform::auth::ClientCredentials;
use keyhold_proto::audit::v1::{self as pb, trail_service_client::TrailServiceClient};
use serde::Serialize;
use sqlx::Row as _;

use crate::{
    common::{self, Server, USER1},
    ingest::{self, LoadArgs, LoadResult, Plan},
};

const TRAIL: &str = "benchTrail";
const BUCKET: &str = "bench-trail-logs";
/// The bound: delivered log files trail ingest by at most an interval + 5 s.
const SLACK_SECONDS: f64 = 5.0;

#[derive(Debug, Clone, clap::Args)]
pub struct DeliveryArgs {
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/keyhold_audit_bench_delivery"
    )]
    pub database_url: String,

    /// object-svc's database (recreated each run, like its blob directory).
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/keyhold_object_bench_delivery"
    )]
    pub object_database_url: String,

    #[command(flatten)]
    pub load: LoadArgs,

    /// audit-svc's KEYHOLD_DELIVERY_INTERVAL_SECONDS.
    #[arg(long, default_value_t = 10)]
    pub interval_seconds: u64,

    /// How long the load runs (the issue asks for 5 minutes).
    #[arg(long, default_value_t = 300)]
    pub seconds: u64,
}

#[derive(Debug, Serialize)]
pub struct DeliveryReport {
    pub interval_seconds: u64,
    pub load: LoadResult,
    pub delivered_events: i64,
    pub delivered_events_per_second: f64,
    pub log_files: i64,
    /// Events stored and not yet delivered, every 5 s of the load.
    pub backlog_samples: Vec<i64>,
    /// Seconds from the end of the load until the last event stored was delivered.
    pub drain_seconds: f64,
    pub lag_p50_seconds: f64,
    pub lag_p99_seconds: f64,
    pub lag_max_seconds: f64,
    pub pass: bool,
}

fn user_trails(
    channel: tonic::transport::Channel,
) -> TrailServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, ClientCredentials>,
> {
    TrailServiceClient::with_interceptor(channel, ClientCredentials::new(USER1.id, USER1.secret))
}

/// A random 256-bit key, hex: object-svc's SSE-S3 master key for this run only.
fn run_master_key() -> String {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    a.as_bytes()
        .iter()
        .chain(b.as_bytes())
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

async fn start_object_svc(
    args: &DeliveryArgs,
    workdir: &std::path::Path,
) -> anyhow::Result<Server> {
    common::ensure_database(&args.object_database_url, true).await?;
    let master = workdir.join("object-master.key");
    keyhold_bench::process::write_private(&master, &run_master_key())?;
    let blobs = workdir.join("object-blobs");
    std::fs::create_dir_all(&blobs)?;
    let s3 = keyhold_bench::process::free_address()?;
    Server::start_grpc(
        "object-svc",
        &common::sibling_binary("object-svc")?,
        &[
            ("KEYHOLD_DATABASE_URL", args.object_database_url.clone()),
            (
                "KEYHOLD_PRINCIPALS_FILE",
                workdir.join("principals.json").display().to_string(),
            ),
            ("KEYHOLD_MASTER_KEY_FILE", master.display().to_string()),
            ("KEYHOLD_BLOB_STORE", blobs.display().to_string()),
            ("KEYHOLD_S3_LISTEN", s3.to_string()),
            // Log files are SSE-S3: object-svc never calls kms-svc in this run.
            ("KEYHOLD_KMS_ENDPOINT", "http://127.0.0.1:9".to_owned()),
            (
                "KEYHOLD_KMS_ACCESS_KEY_ID",
                "AKIAKEYHOLDDEVOBJSVC".to_owned(),
            ),
            (
                "KEYHOLD_KMS_SECRET_ACCESS_KEY",
                "dev-only-object-svc-secret-not-for-production".to_owned(),
            ),
            ("RUST_LOG", "warn".to_owned()),
        ],
        workdir.join("object-svc.log"),
    )
    .await
}

/// myTrail as the lab makes it, selecting every management and S3 data event.
async fn lab_trail(audit: &Server) -> anyhow::Result<()> {
    let mut trails = user_trails(crate::client::connect(&audit.endpoint).await?);
    trails
        .create_trail(pb::CreateTrailRequest {
            name: TRAIL.into(),
            s3_bucket_name: BUCKET.into(),
            create_s3_bucket: true,
            ..Default::default()
        })
        .await?;
    trails
        .put_event_selectors(pb::PutEventSelectorsRequest {
            trail_name: TRAIL.into(),
            event_selectors: vec![pb::EventSelector {
                read_write_type: "All".into(),
                include_management_events: Some(true),
                data_resources: vec![pb::DataResource {
                    r#type: "AWS::S3::Object".into(),
                    values: vec!["arn:aws:s3".into()],
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .await?;
    trails
        .start_logging(pb::StartLoggingRequest { name: TRAIL.into() })
        .await?;
    Ok(())
}

/// Events stored after the trail's cursor: what is waiting to be delivered.
const BACKLOG: &str = "SELECT count(*) FROM events e, trails t \
    WHERE e.ingest_xid IS NOT NULL \
      AND (e.ingest_xid, e.ingest_seq) > (t.cursor_xid::text::xid8, t.cursor_seq)";

/// The newest position stored, and whether the cursor has reached a position.
const NEWEST: &str = "SELECT ingest_xid::text::bigint AS xid, ingest_seq FROM events \
    WHERE ingest_xid IS NOT NULL ORDER BY ingest_xid DESC, ingest_seq DESC LIMIT 1";
const REACHED: &str = "SELECT (cursor_xid, cursor_seq) >= ($1, $2) AND pending_end_xid IS NULL \
    FROM trails";

/// Weighted quantiles of the lag; each file stands for `records` lags spread evenly
/// from (delivered - newest) to (delivered - oldest).
fn lag_quantiles(files: &[(i64, f64, f64)], quantiles: &[f64]) -> Vec<f64> {
    const POINTS: i64 = 20;
    let mut samples: Vec<(f64, f64)> = Vec::new();
    for &(records, min_lag, max_lag) in files {
        let points = POINTS.min(records.max(1));
        for i in 0..points {
            let at = if points == 1 {
                0.5
            } else {
                i as f64 / (points - 1) as f64
            };
            samples.push((
                min_lag + (max_lag - min_lag) * at,
                records as f64 / points as f64,
            ));
        }
    }
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = samples.iter().map(|s| s.1).sum();
    quantiles
        .iter()
        .map(|q| {
            let mut seen = 0.0;
            for (lag, weight) in &samples {
                seen += weight;
                if seen >= q * total {
                    return *lag;
                }
            }
            samples.last().map_or(0.0, |s| s.0)
        })
        .collect()
}

pub async fn run(args: &DeliveryArgs, quiet: bool) -> anyhow::Result<DeliveryReport> {
    common::wait_for_quiet_machine(quiet).await;
    common::ensure_database(&args.database_url, true).await?;
    let workdir = common::workdir("delivery")?;
    std::fs::write(workdir.join("principals.json"), common::DEV_PRINCIPALS)?;
    let object = start_object_svc(args, &workdir).await?;
    let audit = ingest::start_audit_svc_with_env(
        &args.database_url,
        &workdir,
        ingest::Insights::Default,
        &[
            ("KEYHOLD_OBJECT_ENDPOINT", object.endpoint.clone()),
            (
                "KEYHOLD_DELIVERY_INTERVAL_SECONDS",
                args.interval_seconds.to_string(),
            ),
        ],
    )
    .await?;
    lab_trail(&audit).await?;

    let mut db = common::db(&args.database_url).await?;
    let sampler_url = args.database_url.clone();
    let stop_sampling = std::sync::Arc::new(tokio::sync::Notify::new());
    let sampler = {
        let stop = stop_sampling.clone();
        tokio::spawn(async move {
            let mut db = common::db(&sampler_url).await?;
            let mut samples: Vec<i64> = Vec::new();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = stop.notified() => return anyhow::Ok(samples),
                }
                samples.push(sqlx::query_scalar(BACKLOG).fetch_one(&mut db).await?);
            }
        })
    };
    let started = chrono::Utc::now();
    let load = ingest::drive(
        &audit,
        &args.load,
        Plan::Sustained {
            warmup: Duration::ZERO,
            measure: Duration::from_secs(args.seconds),
        },
        quiet,
    )
    .await;
    let load_ended = Instant::now();
    stop_sampling.notify_one();
    let load = load?;
    let backlog_samples = sampler.await??;

    // Until the trail has delivered everything stored when the load ended.
    let newest = sqlx::query(NEWEST).fetch_one(&mut db).await?;
    let (xid, seq): (i64, i64) = (newest.try_get("xid")?, newest.try_get("ingest_seq")?);
    let deadline = load_ended + Duration::from_secs(args.interval_seconds * 6 + 60);
    loop {
        let reached: bool = sqlx::query_scalar(REACHED)
            .bind(xid)
            .bind(seq)
            .fetch_one(&mut db)
            .await?;
        if reached {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the trail did not catch up within {} s of the load's end",
            (deadline - load_ended).as_secs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drain_seconds = load_ended.elapsed().as_secs_f64();

    let rows = sqlx::query(
        "SELECT records::bigint AS records, \
           extract(epoch FROM delivered_at - newest_event_time)::float8 AS min_lag, \
           extract(epoch FROM delivered_at - oldest_event_time)::float8 AS max_lag, \
           delivered_at <= $1 AS in_window \
         FROM trail_log_files WHERE oldest_event_time >= $2",
    )
    .bind(started + chrono::TimeDelta::seconds(args.seconds as i64))
    .bind(started)
    .fetch_all(&mut db)
    .await?;
    let mut files = Vec::new();
    let (mut delivered_events, mut in_window) = (0i64, 0i64);
    for row in &rows {
        let records: i64 = row.try_get("records")?;
        files.push((records, row.try_get("min_lag")?, row.try_get("max_lag")?));
        delivered_events += records;
        if row.try_get::<bool, _>("in_window")? {
            in_window += records;
        }
    }
    let lags = lag_quantiles(&files, &[0.5, 0.99, 1.0]);
    let _ = audit.stop().await;
    let _ = object.stop().await;
    let bound = args.interval_seconds as f64 + SLACK_SECONDS;
    let last_third = &backlog_samples[backlog_samples.len() * 2 / 3..];
    let first_third = &backlog_samples[..backlog_samples.len() / 3];
    let growing = match (first_third.iter().max(), last_third.iter().max()) {
        (Some(early), Some(late)) => *late > early.saturating_mul(2).max(1000),
        _ => false,
    };
    Ok(DeliveryReport {
        interval_seconds: args.interval_seconds,
        delivered_events,
        delivered_events_per_second: in_window as f64 / args.seconds as f64,
        log_files: rows.len() as i64,
        drain_seconds,
        lag_p50_seconds: lags[0],
        lag_p99_seconds: lags[1],
        lag_max_seconds: lags[2],
        pass: lags[1] <= bound && drain_seconds <= bound && !growing,
        backlog_samples,
        load,
    })
}

pub fn table(report: &DeliveryReport) -> String {
    let bound = report.interval_seconds as f64 + SLACK_SECONDS;
    format!(
        "Trail delivery under sustained ingest (one trail selecting everything, interval {} s)\n\n\
         | figure | value |\n|---|---|\n\
         | ingested (acknowledged) | {:.0} events/s over {:.0} s |\n\
         | delivered during the load | {:.0} events/s |\n\
         | delivered in all | {} events in {} log files |\n\
         | backlog every 5 s | {:?} |\n\
         | drain after the load | {:.1} s (bound {bound:.0} s) |\n\
         | lag event -> delivered, p50 / p99 / max | {:.1} / {:.1} / {:.1} s (bound p99 {bound:.0} s) |\n\
         | result | {} |\n",
        report.interval_seconds,
        report.load.events_per_second,
        report.load.seconds,
        report.delivered_events_per_second,
        report.delivered_events,
        report.log_files,
        report.backlog_samples,
        report.drain_seconds,
        report.lag_p50_seconds,
        report.lag_p99_seconds,
        report.lag_max_seconds,
        if report.pass { "PASS" } else { "FAIL" },
    )
}
