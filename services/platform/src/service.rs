//! The `main` of every service binary: parse the configuration, start the runtime
//! and telemetry, serve, and turn the outcome into an exit status an operator can act
//! on. A service's main.rs only names itself and says how it serves.
//!
//! Exit status: 0 after a clean shutdown; 64 (EX_USAGE, as linkerd2-proxy uses it)
//! when the configuration is wrong, which restarting will not fix; 1 for everything
//! else (a database that does not answer, a port in use), which a restart may. Either
//! way the reason is one line on stderr, prefixed with the service's name.

use std::{future::Future, net::SocketAddr, process::ExitCode};

use tokio::net::TcpListener;

use crate::{config::BadConfig, telemetry};

/// EX_USAGE of sysexits.h: the configuration (flags, environment, files) is wrong.
pub const EXIT_BAD_CONFIG: u8 = 64;

/// Runs a service: `log_format` picks the log format out of its parsed configuration,
/// `serve` runs it until shutdown.
pub fn main<C, F, Fut>(
    service_name: &'static str,
    log_format: fn(&C) -> telemetry::LogFormat,
    serve: F,
) -> ExitCode
where
    C: clap::Parser,
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config = match C::try_parse() {
        Ok(config) => config,
        Err(error) => return refuse_arguments(service_name, &error),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{service_name}: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let _telemetry = telemetry::init(service_name, log_format(&config));
        serve(config).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{service_name}: {}", one_line(&format!("{error:#}")));
            if error.chain().any(|cause| cause.is::<BadConfig>()) {
                ExitCode::from(EXIT_BAD_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The listener of `address`, or why not (in use, not ours): not a configuration
/// error, since the same address may be free on the next try.
pub async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))
}

/// `--help` and `--version` print as clap prints them; a wrong flag is one line and
/// EX_USAGE, not clap's usage block and status 2.
fn refuse_arguments(service_name: &str, error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        error.exit();
    }
    let text = error.to_string();
    // clap ends its message with a usage block and a pointer to --help.
    let message = text.split("\nUsage:").next().unwrap_or_default();
    let message = message.trim().trim_start_matches("error:").trim();
    eprintln!("{service_name}: {}", one_line(message));
    ExitCode::from(EXIT_BAD_CONFIG)
}

/// Folds line breaks (clap's lists, a tool's multi-line output) into one line.
fn one_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_lines() {
        assert_eq!(
            one_line(
                "the following required arguments were not provided:\n  --principals-file <PRINCIPALS_FILE>\n"
            ),
            "the following required arguments were not provided: --principals-file <PRINCIPALS_FILE>"
        );
    }
}
