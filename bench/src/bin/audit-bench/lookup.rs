//! `lookup`: LookupEvents latency over a database of at least 1,000,000 events, for
//! each of CloudTrail's eight lookup attributes, with values taken from the data.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use keyhold_platform::auth::ClientCredentials;
use keyhold_proto::audit::v1::{
    LookupAttribute, LookupEventsRequest, audit_service_client::AuditServiceClient,
};
use serde::Serialize;
use sqlx::types::chrono::{DateTime, Utc};

use crate::{
    common::{self, CpuSampler, CpuUse, Latency, ROOT},
    ingest::{self, DAY, HOUR, LoadArgs, LoadResult, MINUTE, Plan, SECOND},
    records,
};

pub const TARGET_P99_MS: f64 = 20.0;

#[derive(Debug, Clone, clap::Args)]
pub struct LookupArgs {
    /// audit-svc's database; created when missing, loaded up to --events.
    #[arg(
        long,
        env = "KEYHOLD_AUDIT_BENCH_LOOKUP_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/keyhold_audit_bench_lookup"
    )]
    pub database_url: String,

    /// Drop and recreate the database first (then it is loaded from scratch).
    #[arg(long)]
    pub fresh: bool,

    /// Events the database must hold; missing ones are loaded first.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,

    /// Days the loaded events' times spread over, up to now.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=80))]
    pub days: u32,

    #[command(flatten)]
    pub load: LoadArgs,

    /// Measured calls per query and concurrency.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub calls: u64,

    /// Uncounted calls before each measurement.
    #[arg(long, default_value_t = 50)]
    pub warmup_calls: u64,

    /// Calls in flight for each measurement, e.g. 1,8.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    pub concurrency: Vec<u64>,

    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i32).range(1..=50))]
    pub max_results: i32,
}

#[derive(Debug, Serialize)]
pub struct Measured {
    pub concurrency: u64,
    pub latency: Latency,
    pub calls_per_second: f64,
    pub errors: u64,
    pub cpu: CpuUse,
}

#[derive(Debug, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub attribute: String,
    pub value: String,
    /// Matching rows in the whole database (management events).
    pub matching: i64,
    /// Events on the page of the first measured call.
    pub page_events: usize,
    pub runs: Vec<Measured>,
    /// p99 at one call in flight under the target.
    pub pass: bool,
}

#[derive(Debug, Serialize)]
pub struct LookupReport {
    pub database: String,
    pub events_in_database: i64,
    pub loaded: Option<LoadResult>,
    pub max_results: i32,
    pub calls: u64,
    pub cases: Vec<CaseResult>,
    pub target_p99_ms: f64,
    pub pass: bool,
}

/// One kind of query: the requests it cycles through (one, except for EventId).
struct Case {
    name: String,
    attribute: String,
    value: String,
    matching: i64,
    requests: Vec<LookupEventsRequest>,
}

pub async fn run(args: &LookupArgs, quiet: bool) -> anyhow::Result<LookupReport> {
    common::wait_for_quiet_machine(quiet).await;
    let database = common::ensure_database(&args.database_url, args.fresh).await?;
    let workdir = common::workdir("lookup")?;
    let audit = ingest::start_audit_svc(&args.database_url, &workdir).await?;
    let outcome = measure_all(args, &audit, quiet).await;
    let stopped = audit.stop().await;
    let (events_in_database, loaded, cases) = outcome?;
    stopped?;
    let pass = cases.iter().all(|c| c.pass);
    Ok(LookupReport {
        database,
        events_in_database,
        loaded,
        max_results: args.max_results,
        calls: args.calls,
        cases,
        target_p99_ms: TARGET_P99_MS,
        pass,
    })
}

async fn measure_all(
    args: &LookupArgs,
    audit: &common::Server,
    quiet: bool,
) -> anyhow::Result<(i64, Option<LoadResult>, Vec<CaseResult>)> {
    let mut db = common::db(&args.database_url).await?;
    const COUNT: &str = "SELECT count(*) FROM events";
    let existing: i64 = sqlx::query_scalar(COUNT).fetch_one(&mut db).await?;
    let missing = u64::try_from(args.events as i64 - existing).unwrap_or(0);
    let loaded = if missing > 0 {
        if !quiet {
            eprintln!(
                "audit-bench: loading {missing} events over {} days",
                args.days
            );
        }
        let to = ingest::now_micros() - MINUTE;
        let plan = Plan::Exactly {
            events: missing,
            from: to - i64::from(args.days) * DAY,
            to,
        };
        let loaded = ingest::drive(audit, &args.load, plan, quiet).await?;
        // What autovacuum would do shortly after a load this size: without statistics
        // the planner would be measured guessing, not the indexes.
        sqlx::raw_sql("VACUUM ANALYZE events, event_resources")
            .execute(&mut db)
            .await?;
        Some(loaded)
    } else {
        None
    };
    let events_in_database: i64 = sqlx::query_scalar(COUNT).fetch_one(&mut db).await?;
    let mut cases = cases(&mut db, args).await?;

    let channels = common::connect_many(&audit.endpoint, 4).await?;
    // Second pages: NextToken positions the index walk mid-range.
    let mut pages = Vec::new();
    for case in &cases {
        if matches!(
            case.name.as_str(),
            "EventName common" | "ResourceName key id"
        ) {
            // Fewer matches than a page (a small database) leave no second page.
            if let Some(next) = second_page(channels[0].clone(), &case.requests[0]).await? {
                pages.push(Case {
                    name: format!("{}, page 2", case.name),
                    attribute: case.attribute.clone(),
                    value: case.value.clone(),
                    matching: case.matching,
                    requests: vec![next],
                });
            }
        }
    }
    cases.extend(pages);
    let mut results = Vec::new();
    for case in cases {
        common::wait_for_quiet_machine(quiet).await;
        let mut client = client(channels[0].clone());
        let first = client
            .lookup_events(case.requests[0].clone())
            .await
            .map_err(|s| anyhow::anyhow!("{} {}: {s}", case.attribute, case.value))?
            .into_inner();
        let mut runs = Vec::new();
        for &concurrency in &args.concurrency {
            runs.push(
                measure(
                    &channels,
                    &case.requests,
                    concurrency,
                    args.warmup_calls,
                    args.calls,
                    audit.pid,
                )
                .await?,
            );
        }
        let pass = runs
            .iter()
            .find(|r| r.concurrency == 1)
            .or(runs.first())
            .is_some_and(|r| r.latency.p99_ms < TARGET_P99_MS && r.errors == 0);
        results.push(CaseResult {
            name: case.name,
            attribute: case.attribute,
            value: case.value,
            matching: case.matching,
            page_events: first.events.len(),
            runs,
            pass,
        });
    }
    Ok((events_in_database, loaded, results))
}

type Client = AuditServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, ClientCredentials>,
>;

fn client(channel: tonic::transport::Channel) -> Client {
    // Root: an administrator reading the trail, as in the labs.
    AuditServiceClient::with_interceptor(channel, ClientCredentials::new(ROOT.id, ROOT.secret))
        .max_decoding_message_size(64 << 20)
}

fn request(
    attribute: Option<(&str, &str)>,
    max_results: i32,
    range: Option<(String, String)>,
) -> LookupEventsRequest {
    let (start_time, end_time) = range.unwrap_or_default();
    LookupEventsRequest {
        lookup_attributes: attribute
            .map(|(key, value)| LookupAttribute {
                attribute_key: key.to_owned(),
                attribute_value: value.to_owned(),
            })
            .into_iter()
            .collect(),
        start_time,
        end_time,
        max_results,
        ..Default::default()
    }
}

/// The queries, with values read from the data so that each one finds events.
async fn cases(db: &mut sqlx::PgConnection, args: &LookupArgs) -> anyhow::Result<Vec<Case>> {
    let max = args.max_results;
    let management = "event_category = 'Management'";
    // Not audit-svc's own records (of these very lookups): their counts grow as the
    // benchmark runs, so a name rare now would not be rare while measured.
    let names: Vec<(String, i64)> = sqlx::query_as(
        "SELECT event_name, count(*) FROM events WHERE event_category = 'Management' \
         AND event_source <> 'cloudtrail.amazonaws.com' \
         GROUP BY 1 ORDER BY 2 DESC",
    )
    .fetch_all(&mut *db)
    .await?;
    anyhow::ensure!(!names.is_empty(), "the database holds no management events");
    let common_name = names[0].clone();
    let rare_name = names[names.len() - 1].clone();

    // Each EventId call asks for a different event: a point lookup, not one cached row.
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT event_id::text FROM events TABLESAMPLE SYSTEM (1) \
         WHERE event_category = 'Management' LIMIT $1",
    )
    .bind(i64::try_from(args.calls + args.warmup_calls).unwrap_or(1000))
    .fetch_all(&mut *db)
    .await?;
    anyhow::ensure!(!ids.is_empty(), "no event ids sampled");

    let mut out = Vec::new();
    let count_where = async |db: &mut sqlx::PgConnection, sql: String| -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(db)
            .await?)
    };
    out.push(Case {
        name: "EventId (500 different ids)".into(),
        attribute: "EventId".into(),
        value: format!("{} sampled ids", ids.len()),
        matching: 1,
        requests: ids
            .iter()
            .map(|id| request(Some(("EventId", id)), max, None))
            .collect(),
    });

    // Attribute values the generator is known to write; `matching` proves they exist.
    // (The values below are all generated constants, never input text.)
    let user = 41;
    let key = records::key_id(user, 3);
    let simple: Vec<(&str, &str, String, String)> = vec![
        (
            "EventName common",
            "EventName",
            common_name.0.clone(),
            format!("event_name = '{}'", common_name.0),
        ),
        (
            "EventName rare",
            "EventName",
            rare_name.0.clone(),
            format!("event_name = '{}'", rare_name.0),
        ),
        (
            "ReadOnly true",
            "ReadOnly",
            "true".into(),
            "read_only".into(),
        ),
        (
            "ReadOnly false",
            "ReadOnly",
            "false".into(),
            "NOT read_only".into(),
        ),
        (
            "Username lab user",
            "Username",
            records::user_name(user),
            format!("username = '{}'", records::user_name(user)),
        ),
        (
            "Username root",
            "Username",
            "root".into(),
            "username = 'root'".into(),
        ),
        (
            "AccessKeyId lab user",
            "AccessKeyId",
            records::user_access_key(user),
            format!("access_key_id = '{}'", records::user_access_key(user)),
        ),
        (
            "EventSource kms",
            "EventSource",
            "kms.amazonaws.com".into(),
            "event_source = 'kms.amazonaws.com'".into(),
        ),
        (
            "EventSource s3",
            "EventSource",
            "s3.amazonaws.com".into(),
            "event_source = 's3.amazonaws.com'".into(),
        ),
    ];
    for (name, attribute, value, filter) in simple {
        let matching = count_where(
            &mut *db,
            format!("SELECT count(*) FROM events WHERE {management} AND {filter}"),
        )
        .await?;
        out.push(Case {
            name: name.into(),
            requests: vec![request(Some((attribute, &value)), max, None)],
            attribute: attribute.into(),
            value,
            matching,
        });
    }
    let resources: Vec<(&str, &str, String, &str)> = vec![
        (
            "ResourceType KMS key",
            "ResourceType",
            "AWS::KMS::Key".into(),
            "type",
        ),
        (
            "ResourceType S3 bucket",
            "ResourceType",
            "AWS::S3::Bucket".into(),
            "type",
        ),
        (
            "ResourceName key id",
            "ResourceName",
            key.to_string(),
            "name",
        ),
        (
            "ResourceName key ARN",
            "ResourceName",
            records::key_arn(&key),
            "name",
        ),
    ];
    for (name, attribute, value, kind) in resources {
        let matching = count_where(
            &mut *db,
            format!(
                "SELECT count(*) FROM event_resources WHERE {management} \
                 AND kind = '{kind}' AND value = '{value}'"
            ),
        )
        .await?;
        out.push(Case {
            name: name.into(),
            requests: vec![request(Some((attribute, &value)), max, None)],
            attribute: attribute.into(),
            value,
            matching,
        });
    }

    // A one-hour window half-way back: the index walk starts mid-range, not at its end.
    let hour_micros = ingest::now_micros() - i64::from(args.days) / 2 * DAY;
    let at = |micros: i64| DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default();
    let hour = at(hour_micros - hour_micros.rem_euclid(HOUR));
    let hour_end = at(hour.timestamp_micros() + HOUR - SECOND);
    let range = || Some((hour.to_rfc3339(), hour_end.to_rfc3339()));
    let in_hour = format!(
        "event_time >= '{}' AND event_time <= '{}'",
        hour.to_rfc3339(),
        hour_end.to_rfc3339()
    );
    out.push(Case {
        name: "time range only (1 h)".into(),
        attribute: "-".into(),
        value: hour.format("%Y-%m-%dT%H:00Z +1h").to_string(),
        matching: count_where(
            &mut *db,
            format!("SELECT count(*) FROM events WHERE {management} AND {in_hour}"),
        )
        .await?,
        requests: vec![request(None, max, range())],
    });
    // An attribute and a time range: a common name within the hour, and the rare one
    // within a day (a rare name within an hour mostly matches nothing).
    let day_start = at(hour.timestamp_micros() - 12 * HOUR);
    let day_end = at(day_start.timestamp_micros() + DAY - SECOND);
    let in_day = format!(
        "event_time >= '{}' AND event_time <= '{}'",
        day_start.to_rfc3339(),
        day_end.to_rfc3339()
    );
    for (name, value, filter, window) in [
        ("EventName common in 1 h", &common_name.0, &in_hour, range()),
        (
            "EventName rare in 1 day",
            &rare_name.0,
            &in_day,
            Some((day_start.to_rfc3339(), day_end.to_rfc3339())),
        ),
    ] {
        out.push(Case {
            name: name.into(),
            attribute: "EventName".into(),
            value: value.clone(),
            matching: count_where(
                &mut *db,
                format!(
                    "SELECT count(*) FROM events WHERE {management} AND {filter} \
                     AND event_name = '{value}'"
                ),
            )
            .await?,
            requests: vec![request(Some(("EventName", value)), max, window)],
        });
    }
    out.push(Case {
        name: "no filter at all".into(),
        attribute: "-".into(),
        value: "-".into(),
        matching: count_where(
            &mut *db,
            format!("SELECT count(*) FROM events WHERE {management}"),
        )
        .await?,
        requests: vec![request(None, max, None)],
    });
    Ok(out)
}

/// `first` continued at its second page, with the NextToken of its first; None when
/// the first page is the only one.
async fn second_page(
    channel: tonic::transport::Channel,
    first: &LookupEventsRequest,
) -> anyhow::Result<Option<LookupEventsRequest>> {
    let page = client(channel)
        .lookup_events(first.clone())
        .await?
        .into_inner();
    Ok((!page.next_token.is_empty()).then(|| LookupEventsRequest {
        next_token: page.next_token,
        ..first.clone()
    }))
}

/// `warmup` then `calls` calls, `concurrency` at a time, cycling through `requests`.
async fn measure(
    channels: &[tonic::transport::Channel],
    requests: &[LookupEventsRequest],
    concurrency: u64,
    warmup: u64,
    calls: u64,
    audit_pid: u32,
) -> anyhow::Result<Measured> {
    let requests = Arc::new(requests.to_vec());
    let mut cpu = None;
    let mut measured = (common::new_histogram(), 0u64, Duration::ZERO);
    for (phase, total) in [(0, warmup), (1, calls)] {
        let next = Arc::new(AtomicU64::new(0));
        if phase == 1 {
            cpu = Some(CpuSampler::start(
                vec![("audit-svc".into(), vec![audit_pid])],
                true,
            ));
        }
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|n| {
                let channel = channels[(n as usize) % channels.len()].clone();
                let (next, requests) = (next.clone(), requests.clone());
                tokio::spawn(async move {
                    let mut client = client(channel);
                    let mut histogram = common::new_histogram();
                    let mut errors = 0u64;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            break;
                        }
                        let request = requests[(i as usize) % requests.len()].clone();
                        let sent = Instant::now();
                        match client.lookup_events(request).await {
                            Ok(_) => common::record(&mut histogram, sent.elapsed()),
                            Err(_) => errors += 1,
                        }
                    }
                    (histogram, errors)
                })
            })
            .collect();
        let mut histogram = common::new_histogram();
        let mut errors = 0;
        for task in tasks {
            let (h, e) = task.await?;
            histogram.add(&h)?;
            errors += e;
        }
        if phase == 1 {
            measured = (histogram, errors, started.elapsed());
        }
    }
    let (histogram, errors, elapsed) = measured;
    Ok(Measured {
        concurrency,
        latency: common::summarize(&histogram),
        calls_per_second: calls as f64 / elapsed.as_secs_f64().max(1e-9),
        errors,
        cpu: cpu.map(|c| c.stop()).unwrap_or_default(),
    })
}

pub fn table(report: &LookupReport) -> String {
    let mut out = format!(
        "LookupEvents over {} events in {}, MaxResults {}, {} calls per cell\n",
        report.events_in_database, report.database, report.max_results, report.calls
    );
    if let Some(loaded) = &report.loaded {
        out += &format!(
            "  loaded {} events in {:.1} s ({:.0} events/s)\n",
            loaded.acknowledged, loaded.seconds, loaded.events_per_second
        );
    }
    let concurrencies: Vec<u64> = report
        .cases
        .first()
        .map(|c| c.runs.iter().map(|r| r.concurrency).collect())
        .unwrap_or_default();
    out += &format!("  {:<28} {:>8} {:>5}", "query", "matching", "page");
    for c in &concurrencies {
        out += &format!(
            " {:>9} {:>9} {:>7}",
            format!("c{c} p50"),
            format!("c{c} p99"),
            format!("c{c} /s")
        );
    }
    out += "  p99<20ms@c1\n";
    for case in &report.cases {
        out += &format!(
            "  {:<28} {:>8} {:>5}",
            case.name, case.matching, case.page_events
        );
        for r in &case.runs {
            out += &format!(
                " {:>9.2} {:>9.2} {:>7.0}",
                r.latency.p50_ms, r.latency.p99_ms, r.calls_per_second
            );
        }
        out += if case.pass { "  PASS\n" } else { "  FAIL\n" };
    }
    out += &format!(
        "  all p99 (1 in flight) < {:.0} ms: {}\n",
        report.target_p99_ms,
        if report.pass { "PASS" } else { "FAIL" }
    );
    out
}
