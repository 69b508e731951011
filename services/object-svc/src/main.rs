//! object-svc: load config, start telemetry, run. Bad config is one line and exit 1.

use std::process::ExitCode;

use clap::Parser;
use keyhold_platform::{shutdown, telemetry};

fn main() -> ExitCode {
    let config = object_svc::Config::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("object-svc: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let _telemetry = telemetry::init(object_svc::SERVICE_NAME, config.common.log_format);
        let listeners = object_svc::Listeners::bind(&config).await?;
        object_svc::run(config, listeners, shutdown::on_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("object-svc: {error:#}");
            ExitCode::FAILURE
        }
    }
}
