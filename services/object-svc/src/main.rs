//! object-svc: load config, start telemetry, run (`keyhold_platform::service`: one line
//! and exit 64 for bad configuration, 1 for other failures).

use std::process::ExitCode;

use keyhold_platform::{service, shutdown};

// Every request allocates many small, short-lived buffers (h2 frames, protobuf, rows,
// the audit record): glibc's malloc was ~16% of object-svc's CPU on small PUTs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    service::main(
        object_svc::SERVICE_NAME,
        |config: &object_svc::Config| config.common.log_format,
        |config| async move {
            let listeners = object_svc::Listeners::bind(&config).await?;
            object_svc::run(config, listeners, shutdown::on_signal()).await
        },
    )
}
