//! keyhold-loadgen: see `cli::Args` for what it measures and BENCHMARKS.md for how
//! to run it and what the figures mean.
//!
//! Exit codes: 0 all calls succeeded; 1 any call failed, the run could not be made,
//! or the spawned kms-svc did not stop cleanly; 2 with --enforce-target, a KMS phase
//! under the target share of the ceiling.

mod cli;
mod cpu;
mod fixture;
mod load;
mod progress;
mod report;
mod run;
mod spawn;
mod workload;

use std::{io::IsTerminal as _, process::ExitCode};

use clap::Parser;
use keyhold_bench::{client, proc_ticks, report_main::report_main};

use crate::{cli::Args, report::Report, run::Target, spawn::SpawnedServer};

fn main() -> ExitCode {
    let args = Args::parse();
    report_main(
        "keyhold-loadgen",
        args.json,
        run(&args),
        Report::table,
        |report| {
            if report.errors > 0 || report.kms_svc_stop_error.is_some() {
                ExitCode::FAILURE
            } else if args.enforce_target && !report.target_met {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        },
    )
}

async fn run(args: &Args) -> anyhow::Result<Report> {
    let progress = !args.json && std::io::stdout().is_terminal();
    if !args.spawn {
        let target = Target {
            endpoint: args.endpoint.clone(),
            aws_endpoint: args.aws_endpoint.clone(),
            log: None,
            watched: cpu::Watched::default(),
        };
        return run::measure(args, &target, progress).await;
    }

    let binary = match &args.kms_svc_bin {
        Some(path) => path.clone(),
        None => spawn::default_binary()?,
    };
    let server = SpawnedServer::start(&binary, &args.database_url).await?;
    let log = server.server.log.display().to_string();
    // Said now, not only in the report: a run that fails half-way still points to it.
    eprintln!(
        "keyhold-loadgen: spawned {} at {} (pid {}), log {log}",
        binary.display(),
        server.server.endpoint,
        server.server.pid
    );
    let watched = cpu::Watched {
        server_pid: Some(server.server.pid),
        database: server.database.clone(),
    };
    let target = Target {
        endpoint: server.server.endpoint.clone(),
        aws_endpoint: server.aws_endpoint.clone(),
        log: Some(log),
        watched,
    };
    let measured = run::measure(args, &target, progress).await;
    let stopped = server.stop().await;
    let mut report = measured?;
    // The figures stand, but a server that did not stop cleanly fails the run.
    report.kms_svc_stop_error = stopped.err().map(|e| format!("{e:#}"));
    Ok(report)
}
