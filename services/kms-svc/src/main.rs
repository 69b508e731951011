//! kms-svc: load config, start telemetry, run (`keyhold_platform::service`: one line
//! and exit 64 for bad configuration, 1 for other failures).

use std::process::ExitCode;

use keyhold_platform::{service, shutdown};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    service::main(
        kms_svc::SERVICE_NAME,
        |config: &kms_svc::Config| config.common.log_format,
        |config| async move {
            let listener = service::bind(config.listen_address()).await?;
            kms_svc::run(config, listener, shutdown::on_signal()).await
        },
    )
}
