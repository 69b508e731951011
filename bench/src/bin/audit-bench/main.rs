//! audit-bench: the audit pipeline's benchmarks (see BENCHMARKS.md, "audit pipeline").
//!
//! - `ingest`: events/s audit-svc makes durable in Postgres from IngestEvents streams.
//! - `overhead`: kms-svc's GenerateDataKey req/s with the pipeline on, as a ratio to
//!   the same run with it off.
//! - `lookup`: LookupEvents p50/p99 per attribute over at least 1,000,000 events.
//! - `delivery`: trail log file delivery keeping up with sustained ingest.
//!
//! Each spawns the release servers built next to it (cargo build --release -p
//! keyhold-bench -p kms-svc -p audit-svc) and waits, before each measurement, until no
//! keyhold-loadgen runs: on a 2-core machine two benchmarks would measure each other.
//!
//! Exit codes: 0 measured and every target met; 1 the run failed; 2 a target missed.

mod common;
mod cores;
mod delivery;
mod ingest;
mod lookup;
mod overhead;
mod records;

use std::process::ExitCode;

use clap::Parser;
// The kms load generator's client: the same credentials, client and health probe.
use keyhold_bench::{client, proc_ticks};

#[derive(Debug, clap::Parser)]
#[command(
    name = "audit-bench",
    version,
    about = "keyhold audit pipeline benchmarks"
)]
struct Args {
    #[command(subcommand)]
    command: Command,

    /// Print one JSON object with the figures instead of the table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Sustained IngestEvents into a spawned audit-svc (target >= 30,000 events/s),
    /// or with --events N, load exactly N events.
    Ingest(ingest::IngestArgs),
    /// GenerateDataKey req/s with the audit pipeline on vs off (target ratio >= 0.85).
    Overhead(overhead::OverheadArgs),
    /// LookupEvents p50/p99 per attribute over >= 1,000,000 events (target p99 < 20 ms).
    Lookup(lookup::LookupArgs),
    /// Trail delivery under sustained ingest: backlog, drain and lag (target p99 lag
    /// <= interval + 5 s, backlog not growing).
    Delivery(delivery::DeliveryArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Before the runtime: its threads and the servers it spawns inherit the front CPU.
    let split = match &args.command {
        Command::Overhead(a) if a.split_cores => match cores::CoreSplit::apply() {
            Ok(split) => Some(split),
            Err(error) => {
                eprintln!("audit-bench: {error:#}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("audit-bench: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let quiet = args.json;
    let outcome = runtime.block_on(async {
        let (json, table, pass) = match &args.command {
            Command::Ingest(a) => {
                let r = ingest::run(a, quiet).await?;
                (serde_json::to_string(&r)?, ingest::table(&r), r.pass)
            }
            Command::Overhead(a) => {
                // Ctrl-C ends the run through `split`'s drop, which puts Postgres back.
                let r = tokio::select! {
                    r = overhead::run(a, split.as_ref(), quiet) => r?,
                    _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
                };
                (serde_json::to_string(&r)?, overhead::table(&r), r.pass)
            }
            Command::Lookup(a) => {
                let r = lookup::run(a, quiet).await?;
                (serde_json::to_string(&r)?, lookup::table(&r), Some(r.pass))
            }
            Command::Delivery(a) => {
                let r = delivery::run(a, quiet).await?;
                (
                    serde_json::to_string(&r)?,
                    delivery::table(&r),
                    Some(r.pass),
                )
            }
        };
        anyhow::Ok((json, table, pass))
    });
    match outcome {
        Ok((json, table, pass)) => {
            if args.json {
                println!("{json}");
            } else {
                print!("{table}");
            }
            if pass == Some(false) {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("audit-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}
