//! Command-line flags.

use std::path::PathBuf;

/// Drives kms-svc's GenerateDataKey and Decrypt with authentication and key-policy
/// evaluation on every call, and grpc.health.v1 Check on the same server as the
/// transport ceiling, then reports each against that ceiling.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "keyhold-loadgen", version)]
pub struct Args {
    /// kms-svc to load. Ignored with --spawn.
    #[arg(
        long,
        env = "KEYHOLD_KMS_ENDPOINT",
        default_value = "http://127.0.0.1:50051"
    )]
    pub endpoint: String,

    /// Start the release kms-svc on a free 127.0.0.1 port for this run and stop it after.
    #[arg(long)]
    pub spawn: bool,

    /// The kms-svc binary --spawn starts; by default the one next to this executable.
    #[arg(long)]
    pub kms_svc_bin: Option<PathBuf>,

    /// Database of the spawned kms-svc, created when missing (never dropped).
    #[arg(
        long,
        env = "KEYHOLD_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/keyhold_bench"
    )]
    pub database_url: String,

    /// Measured length of each phase.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,

    /// Uncounted lead-in of each phase (connections warm, pools filled, caches primed).
    #[arg(long, default_value_t = 2)]
    pub warmup_seconds: u64,

    /// Requests in flight: this many tasks, each making one call at a time.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub concurrency: u64,

    /// HTTP/2 connections the tasks are spread over (round robin). One connection
    /// funnels every frame through one client task and one server connection task
    /// and caps the ceiling on its own; past two, on the 2-core benchmark machine,
    /// each extra connection costs wake-ups and syscalls. BENCHMARKS.md has the figures.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub connections: u64,

    /// Rounds of GenerateDataKey, Decrypt and a health phase after the first health
    /// phase. Each KMS phase is compared with the mean of the health phases just
    /// before and after it, and the target is judged on each call's median ratio over
    /// the rounds: on a noisy machine the ceiling moves between phases, and more
    /// rounds average that out.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,

    /// Also run GenerateDataKey through kms-svc's AWS JSON protocol (the AWS SDK for
    /// Rust, as `aws kms` and every SDK call it) in each round, compared with the gRPC
    /// GenerateDataKey of the same round.
    #[arg(long)]
    pub aws_json: bool,

    /// With --aws-json: the SDK's calls as streams of one HTTP/2 connection (h2c)
    /// instead of its own client's HTTP/1.1 connections, one per call in flight.
    #[arg(long, requires = "aws_json")]
    pub aws_http2: bool,

    /// kms-svc's AWS JSON endpoint for --aws-json. Ignored with --spawn.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL_KMS",
        default_value = "http://127.0.0.1:9001"
    )]
    pub aws_endpoint: String,

    /// Print one JSON object with the figures instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Also exit non-zero (2) when GenerateDataKey or Decrypt misses the target ratio.
    #[arg(long)]
    pub enforce_target: bool,
}
