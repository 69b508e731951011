//! audit-svc: load config, start telemetry, run (`keyhold_platform::service`: one line
//! and exit 64 for bad configuration, 1 for other failures).

use std::process::ExitCode;

use keyhold_platform::{server, service, shutdown};

fn main() -> ExitCode {
    service::main(
        audit_svc::SERVICE_NAME,
        |config: &audit_svc::Config| config.common.log_format,
        |config| async move {
            let listeners =
                server::Listeners::bind(config.listen_address(), config.aws_listen).await?;
            audit_svc::run(config, listeners, shutdown::on_signal()).await
        },
    )
}
