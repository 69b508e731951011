//! Configuration every service shares. Each flag has a `KEYHOLD_...` env var; secrets
//! can also come from a file (`..._FILE`), which is how Kubernetes Secrets are mounted.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::telemetry::LogFormat;

#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Address the gRPC server listens on.
    #[arg(long, env = "KEYHOLD_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Postgres URL of this service's own database.
    #[arg(long, env = "KEYHOLD_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// File holding the Postgres URL (takes the place of --database-url).
    #[arg(long, env = "KEYHOLD_DATABASE_URL_FILE")]
    pub database_url_file: Option<PathBuf>,

    /// Connections in the pool of the service's database.
    #[arg(long, env = "KEYHOLD_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,

    /// Principals file (JSON): the account's users, root and service principals.
    #[arg(long, env = "KEYHOLD_PRINCIPALS_FILE")]
    pub principals_file: PathBuf,

    #[arg(long, env = "KEYHOLD_ACCOUNT_ID", default_value = "000000000000")]
    pub account_id: String,

    #[arg(long, env = "KEYHOLD_REGION", default_value = "us-east-1")]
    pub region: String,

    #[arg(long, env = "KEYHOLD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Requests per second each principal may make before ThrottlingException
    /// (RESOURCE_EXHAUSTED); 0 means no quota.
    #[arg(long, env = "KEYHOLD_REQUESTS_PER_SECOND", default_value_t = 0)]
    pub requests_per_second: u32,

    /// Seconds in-flight calls get to finish after SIGTERM before the server stops.
    #[arg(long, env = "KEYHOLD_SHUTDOWN_GRACE_SECONDS", default_value_t = 20)]
    pub shutdown_grace_seconds: u64,

    /// Where to serve Prometheus metrics (GET /metrics), e.g. 127.0.0.1:9464; unset,
    /// no metrics port is opened.
    #[arg(long, env = "KEYHOLD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Where to serve grpc.health.v1 alone, in plaintext (for kubelet's gRPC probes
    /// when the gRPC port serves TLS), e.g. 0.0.0.0:50050; unset, no health port.
    #[arg(long, env = "KEYHOLD_HEALTH_LISTEN")]
    pub health_listen: Option<SocketAddr>,

    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,

    #[command(flatten)]
    pub connections: ConnectionArgs,
}

/// The limits every listening port (gRPC, and object-svc's S3 endpoint) applies to
/// its connections, whoever opens them.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// Seconds a new connection has to deliver its first request (HTTP/1.1: each
    /// request's headers; HTTP/2: the handshake and a first request).
    #[arg(long, env = "KEYHOLD_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_seconds: u64,

    /// Seconds a connection may sit with no request in flight and nothing received
    /// before it is closed; also how long a request body or a response may stall.
    #[arg(long, env = "KEYHOLD_IDLE_TIMEOUT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_seconds: u64,

    /// Connections each port serves at once; more wait in the kernel's accept
    /// queue until one closes.
    #[arg(long, env = "KEYHOLD_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

impl CommonArgs {
    /// The listen address, or the service's default.
    pub fn listen_or(&self, default: &str) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| default.parse().expect("a valid default address"))
    }

    /// The service's own database, its schema brought up to date.
    pub async fn open_database(
        &self,
        default_database: &str,
        migrator: &sqlx::migrate::Migrator,
    ) -> anyhow::Result<sqlx::PgPool> {
        self.open_database_with(default_database, migrator, &[])
            .await
    }

    /// The same, each connection starting with these Postgres run-time `settings`.
    pub async fn open_database_with(
        &self,
        default_database: &str,
        migrator: &sqlx::migrate::Migrator,
        settings: &[(&str, &str)],
    ) -> anyhow::Result<sqlx::PgPool> {
        crate::db::open(
            &self.database_url(default_database)?,
            self.database_max_connections,
            migrator,
            settings,
        )
        .await
    }

    /// What each of the service's ports grants a connection.
    pub fn connection_limits(&self) -> crate::connections::ConnectionLimits {
        (&self.connections).into()
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }

    /// The database URL from the flag, the file, or the service's default.
    pub fn database_url(&self, default_database: &str) -> anyhow::Result<String> {
        Ok(secret_value(
            self.database_url.as_deref(),
            self.database_url_file.as_ref(),
            "database URL",
        )?
        .unwrap_or_else(|| format!("postgres://postgres@127.0.0.1:5432/{default_database}")))
    }
}

/// The master key of a service that has one (kms-svc wraps key material with it,
/// object-svc its SSE-S3 data keys).
#[derive(Debug, Clone, clap::Args)]
pub struct MasterKeyArgs {
    /// The service's 256-bit master key (base64 or hex). Prefer --master-key-file:
    /// an inline secret shows in process listings.
    #[arg(long, env = "KEYHOLD_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,

    #[arg(long, env = "KEYHOLD_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

impl MasterKeyArgs {
    pub fn master_key(&self) -> anyhow::Result<keyhold_crypto::MasterKey> {
        let text = secret_value(
            self.master_key.as_deref(),
            self.master_key_file.as_ref(),
            "master key",
        )?
        .ok_or_else(|| {
            bad_config("no master key: set KEYHOLD_MASTER_KEY_FILE (or KEYHOLD_MASTER_KEY)")
        })?;
        keyhold_crypto::MasterKey::parse(text.as_bytes())
            .map_err(|e| bad_config(format!("master key: {e}")))
    }
}

/// Marks an error as the configuration's fault, which a restart cannot fix: the
/// service then exits with EX_USAGE (see `service.rs`). It reads as its message alone.
#[derive(Debug)]
pub struct BadConfig(String);

impl std::fmt::Display for BadConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadConfig {}

/// `error` as a [`BadConfig`], its causes folded into its message.
pub fn bad_config(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(BadConfig(format!("{error:#}")))
}

/// Reads a secret given inline or as a file; a file wins, since an inline value in a
/// manifest is the less deliberate choice.
pub fn secret_value(
    inline: Option<&str>,
    file: Option<&PathBuf>,
    what: &str,
) -> anyhow::Result<Option<String>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            bad_config(format!(
                "cannot read the {what} file {}: {e}",
                path.display()
            ))
        })?;
        return Ok(Some(text.trim().to_owned()));
    }
    Ok(inline.map(str::to_owned))
}
