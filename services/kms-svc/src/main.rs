//! kms-svc: load config, start telemetry, run. Bad config is one line and exit 1.

use std::process::ExitCode;

use clap::Parser;
use keyhold_platform::{shutdown, telemetry};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = kms_svc::Config::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kms-svc: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let _telemetry = telemetry::init(kms_svc::SERVICE_NAME, config.common.log_format);
        let address = config.listen_address();
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
        kms_svc::run(config, listener, shutdown::on_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kms-svc: {error:#}");
            ExitCode::FAILURE
        }
    }
}
