//! kms-svc: load config, start telemetry, run (`keyhold_platform::service`: one line
//! and exit 64 for bad configuration, 1 for other failures).

use std::process::ExitCode;

use keyhold_platform::{server, service, shutdown};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    service::main(
        kms_svc::SERVICE_NAME,
        |config: &kms_svc::Config| config.common.log_format,
        |config| async move {
            let listeners =
                server::Listeners::bind(config.listen_address(), config.aws_listen).await?;
            kms_svc::run(config, listeners, shutdown::on_signal()).await
        },
    )
}
