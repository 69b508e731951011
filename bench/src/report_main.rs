//! The `main` the benchmark binaries share: run the measurement on a fresh runtime,
//! print its report (one JSON line, or the table for a person) and turn it into the
//! exit code.

use std::{future::Future, process::ExitCode};

use serde::Serialize;

/// Runs `run` and prints its report as JSON with `json`, else as `table` renders it;
/// `exit_code` judges the report. A run that fails, or a report that cannot be
/// serialized, is exit code 1 with one line on stderr starting with `name`.
pub fn report_main<R: Serialize>(
    name: &str,
    json: bool,
    run: impl Future<Output = anyhow::Result<R>>,
    table: impl FnOnce(&R) -> String,
    exit_code: impl FnOnce(&R) -> ExitCode,
) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{name}: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run) {
        Ok(report) => {
            if json {
                match serde_json::to_string(&report) {
                    Ok(json) => println!("{json}"),
                    Err(error) => {
                        eprintln!("{name}: {error}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", table(&report));
            }
            exit_code(&report)
        }
        Err(error) => {
            eprintln!("{name}: {error:#}");
            ExitCode::FAILURE
        }
    }
}
