//! `keyhold up`: the local stack in one command. Builds nothing; starts the
//! service binaries that exist, with a database each and the dev secrets,
//! and stops everything on Ctrl-C.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::{Args, ValueEnum};

use crate::console::{self, note};
use crate::dev_secrets::{self, DevSecrets};
use crate::postgres::{self, Cluster, Source};
use crate::services::{self, Located, Settings};
use crate::signals::{self, Shutdown};
use crate::supervisor::{self, Ended};

#[derive(Args)]
pub struct UpArgs {
    /// Directory kept between runs: principals, master keys, object blobs, Postgres cluster, logs.
    #[arg(long, env = "KEYHOLD_DATA_DIR", default_value = ".keyhold")]
    data_dir: PathBuf,

    /// Where the service binaries are [default: the directory of this executable].
    #[arg(long, env = "KEYHOLD_BIN_DIR")]
    bin_dir: Option<PathBuf>,

    /// Use this Postgres server (one database per service on it) instead of a private cluster.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,

    /// Directory holding initdb and pg_ctl [default: PATH, then the newest /usr/lib/postgresql/*/bin].
    #[arg(long, env = "KEYHOLD_PG_BIN_DIR")]
    pg_bin_dir: Option<PathBuf>,

    /// The AWS account id the services present.
    #[arg(long, env = "KEYHOLD_ACCOUNT_ID", default_value = "000000000000", value_parser = parse_account_id)]
    account_id: String,

    /// The AWS region the services present.
    #[arg(long, env = "KEYHOLD_REGION", default_value = "us-east-1", value_parser = parse_region)]
    region: String,

    /// Log format of the services.
    #[arg(long, env = "KEYHOLD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Seconds each service gets to start accepting connections.
    #[arg(long, env = "KEYHOLD_READY_TIMEOUT", default_value_t = 30)]
    ready_timeout: u64,

    /// Run the services' gRPC ports and their calls to each other over mTLS, with a
    /// CA and certificates generated under <data-dir>/tls at each start (no service
    /// keys are given to the services). The S3 port stays plain HTTP.
    #[arg(long)]
    tls: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

fn parse_account_id(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err("an AWS account id is 12 digits".to_owned())
    }
}

fn parse_region(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Ok(s.to_owned())
    } else {
        Err("a region looks like us-east-1".to_owned())
    }
}

const SHUTDOWN_GRACE_ENV: &str = "KEYHOLD_SHUTDOWN_GRACE_SECONDS";

/// What the stack runs against, for the services and the printout.
struct Database<'a> {
    /// A URL of the server; each service gets it with its database as path.
    server_url: String,
    /// The private cluster, when there is one.
    cluster: Option<&'a Cluster>,
}

pub async fn run(args: UpArgs) -> Result<()> {
    let mut shutdown = signals::listen()?;
    let data_dir = std::path::absolute(&args.data_dir)
        .with_context(|| format!("resolving {}", args.data_dir.display()))?;
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => own_dir()?,
    };

    // Everything that can be refused is checked before anything is written.
    let located = services::locate(&bin_dir, services::SERVICES)?;
    console::set_prefix_width(located.iter().map(|l| l.service.name.len()));
    services::check_ports_free(&located)?;
    let source = postgres::choose(args.database_url.as_deref(), args.pg_bin_dir.as_deref())?;

    std::fs::create_dir_all(data_dir.join("logs"))
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let master_keys: Vec<PathBuf> = located
        .iter()
        .filter_map(|l| l.service.master_key_file(&data_dir))
        .collect();
    let secrets = dev_secrets::prepare(&data_dir, &master_keys)?;
    services::create_data_dirs(&located, &data_dir)?;

    match source {
        Source::External(server_url) => {
            let database = Database {
                server_url,
                cluster: None,
            };
            run_stack(
                &args,
                &data_dir,
                &located,
                &secrets,
                &database,
                &mut shutdown,
            )
            .await
        }
        Source::Private(bins) => {
            let cluster = Cluster::locate(bins, &data_dir)?;
            let result = async {
                let server_url = shutdown.or_interrupted(cluster.start()).await?;
                let database = Database {
                    server_url,
                    cluster: Some(&cluster),
                };
                run_stack(
                    &args,
                    &data_dir,
                    &located,
                    &secrets,
                    &database,
                    &mut shutdown,
                )
                .await
            }
            .await;
            // Whatever happened, including a failed or interrupted start.
            cluster.stop().await;
            result
        }
    }
}

/// The databases, the services, the printout, and the wait for the end.
async fn run_stack(
    args: &UpArgs,
    data_dir: &Path,
    located: &[Located],
    secrets: &DevSecrets,
    database: &Database<'_>,
    shutdown: &mut Shutdown,
) -> Result<()> {
    let names: Vec<&'static str> = located.iter().map(|l| l.service.database).collect();
    let created = shutdown
        .or_interrupted(postgres::ensure_databases(&database.server_url, &names))
        .await?;
    for name in created {
        note(format_args!("created database {name}"));
    }

    let credentials = dev_secrets::credentials(&secrets.principals_file)?;
    let tls_dir = args.tls.then(|| data_dir.join("tls"));
    if let Some(dir) = &tls_dir {
        let names: Vec<&str> = located.iter().map(|l| l.service.name).collect();
        keyhold_cli::tls::generate(dir, &names)?;
        note(format_args!(
            "generated a dev CA and service certificates in {}",
            dir.display()
        ));
    }
    let scheme = if args.tls { "https" } else { "http" };
    let kms = located
        .iter()
        .find(|l| l.service.name == services::KMS_SERVICE)
        .and_then(|l| l.service.endpoints.first())
        .map(|endpoint| services::KmsTarget {
            endpoint: format!("{scheme}://{}", endpoint.addr),
            credentials: &credentials,
        });
    let audit = located
        .iter()
        .find(|l| l.service.name == services::AUDIT_SERVICE)
        .and_then(|l| l.service.endpoints.first())
        .map(|endpoint| services::AuditTarget {
            endpoint: format!("{scheme}://{}", endpoint.addr),
            spool_dir: data_dir.join("audit-spool"),
            credentials: &credentials,
        });
    let trail_delivery = located
        .iter()
        .find(|l| l.service.name == services::OBJECT_SERVICE)
        .and_then(|l| l.service.endpoints.first())
        .map(|endpoint| services::TrailDelivery {
            object_endpoint: format!("{scheme}://{}", endpoint.addr),
            interval_seconds: services::DEV_DELIVERY_INTERVAL_SECONDS,
        });
    let settings = Settings {
        data_dir,
        principals_file: &secrets.principals_file,
        account_id: &args.account_id,
        region: &args.region,
        log_format: args.log_format.as_str(),
        kms,
        audit,
        trail_delivery,
        tls_dir: tls_dir.as_deref(),
    };
    // All before the first start: a service that cannot be configured (its
    // principal missing from an edited principals file) stops nothing.
    let envs = located
        .iter()
        .map(|l| {
            let url = postgres::with_database(&database.server_url, l.service.database)?;
            services::environment(l.service, &url, &settings)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut running = Vec::new();
    let result = async {
        for (Located { service, binary }, mut env) in located.iter().zip(envs) {
            note(format_args!("starting {}", service.name));
            // The services drain for up to 20 s after SIGTERM by default; we
            // kill after 10 s. Unless the user chose, let them finish first.
            if std::env::var_os(SHUTDOWN_GRACE_ENV).is_none() {
                env.push((SHUTDOWN_GRACE_ENV, supervisor::SERVICE_DRAIN_SECONDS.into()));
            }
            let log = data_dir.join("logs").join(format!("{}.log", service.name));
            running.push(supervisor::spawn(service, binary, env, log)?);
            if let Some(started) = running.last_mut() {
                started
                    .wait_ready(Duration::from_secs(args.ready_timeout), shutdown)
                    .await?;
            }
        }
        print_summary(
            data_dir,
            &running,
            database,
            secrets,
            &credentials,
            tls_dir.as_deref(),
        )?;
        match supervisor::watch(&mut running, shutdown).await {
            Ended::Signal(signal) => {
                note(format_args!("{signal}: stopping"));
                Ok(())
            }
            Ended::Died { name, status, log } => {
                note(format_args!(
                    "{name} exited on its own ({status}); stopping everything"
                ));
                Err(anyhow!(
                    "{name} exited unexpectedly ({status}); see {}",
                    log.display()
                ))
            }
        }
    }
    .await;
    supervisor::stop_all(running).await;
    result
}

fn print_summary(
    data_dir: &Path,
    running: &[supervisor::Running],
    database: &Database<'_>,
    secrets: &DevSecrets,
    credentials: &[dev_secrets::Credential],
    tls_dir: Option<&Path>,
) -> Result<()> {
    let mut out = String::from("\nkeyhold is up (Ctrl-C stops everything)\n\n");
    for r in running {
        // The database is named once, on the service's first line.
        for (index, endpoint) in r.service.endpoints.iter().enumerate() {
            let line = format!(
                "  {:<12} {:<8} {:<18}",
                r.service.name, endpoint.protocol, endpoint.addr
            );
            out += &match index {
                0 => format!("{line} database {}\n", r.service.database),
                _ => format!("{}\n", line.trim_end()),
            };
        }
    }
    out += &format!(
        "  {:<12} {}\n",
        "postgres",
        postgres::redacted(&postgres::with_database(
            &database.server_url,
            "<database>"
        )?)
    );
    if let Some(cluster) = database.cluster {
        let layout = &cluster.layout;
        out += &format!(
            "  {:<12} private cluster {}, log {}\n",
            "",
            layout.data.display(),
            layout.log.display()
        );
        if let Some(from) = &layout.relocated_from {
            out += &format!(
                "  {:<12} (under /tmp because user {} cannot reach {}; lost on reboot)\n",
                "",
                cluster.user().unwrap_or("?"),
                from.display()
            );
        }
    }
    out += &format!("  {:<12} {}\n", "data dir", data_dir.display());
    out += &format!("  {:<12} {}\n", "logs", data_dir.join("logs").display());
    if let Some(dir) = tls_dir {
        out += &format!(
            "  {:<12} gRPC ports serve TLS: trust {} (the S3 and AWS JSON ports stay plain HTTP)\n",
            "tls",
            dir.join("ca.pem").display()
        );
    }

    out += &format!(
        "\ndev credentials (dev only, from {}):\n",
        secrets.principals_file.display()
    );
    let width = credentials.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in credentials {
        out += &format!(
            "  {:<width$}  {}  {}\n",
            c.name, c.access_key_id, c.secret_access_key
        );
    }
    let grpc = running
        .iter()
        .flat_map(|r| r.service.endpoints)
        .find(|e| e.protocol == "grpc");
    let caller = credentials
        .iter()
        .find(|c| c.kind == "Root")
        .or(credentials.first());
    if let (Some(endpoint), Some(caller)) = (grpc, caller) {
        // Over TLS, grpcurl must trust the generated CA (a client certificate is
        // optional: users present their keys).
        let transport = match tls_dir {
            Some(dir) => format!("-cacert {}", dir.join("ca.pem").display()),
            None => "-plaintext".to_owned(),
        };
        out += &format!(
            "\ntry:\n  grpcurl {transport} -H 'authorization: Bearer {}:{}' {} list\n",
            caller.access_key_id, caller.secret_access_key, endpoint.addr
        );
    }
    out += &aws_cli_setup(
        running.iter().flat_map(|r| r.service.endpoints),
        credentials,
    );
    println!("{out}");
    Ok(())
}

/// The environment and the `~/.aws/config` profile that point the AWS CLI and SDKs
/// at the running services, as the lab user.
pub fn aws_cli_setup<'a>(
    endpoints: impl Iterator<Item = &'a crate::services::Endpoint>,
    credentials: &[dev_secrets::Credential],
) -> String {
    let mut endpoints: Vec<(&str, String)> = endpoints
        .filter_map(|e| Some((e.aws_service?, format!("http://{}", e.addr))))
        .collect();
    endpoints.sort();
    let user = credentials
        .iter()
        .find(|c| c.name == LAB_USER)
        .or_else(|| credentials.iter().find(|c| c.kind == "User"));
    let Some(user) = user.filter(|_| !endpoints.is_empty()) else {
        return String::new();
    };
    let mut out = format!("\nAWS CLI and SDKs, as {}:\n", user.name);
    for (service, url) in &endpoints {
        out += &format!(
            "  export AWS_ENDPOINT_URL_{}={url}\n",
            service.to_ascii_uppercase()
        );
    }
    out += &format!(
        "  export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_DEFAULT_REGION={REGION}\n",
        user.access_key_id, user.secret_access_key
    );
    out += &format!(
        "or in ~/.aws/config (then --profile keyhold):\n  [profile keyhold]\n  region = {REGION}\n  aws_access_key_id = {}\n  aws_secret_access_key = {}\n  services = keyhold\n  [services keyhold]\n",
        user.access_key_id, user.secret_access_key
    );
    for (service, url) in &endpoints {
        out += &format!("  {service} =\n    endpoint_url = {url}\n");
    }
    out
}

/// Whose keys the AWS CLI lines use: the user the lab is about.
pub const LAB_USER: &str = "AWSLabsUser-0001";
/// The dev stack's region (every service's default).
const REGION: &str = "us-east-1";

/// The service binaries sit next to `keyhold` in a cargo target dir or an
/// install prefix.
fn own_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the keyhold executable (pass --bin-dir)")?;
    exe.parent()
        .map(Path::to_owned)
        .context("the keyhold executable has no directory (pass --bin-dir)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_account_and_region() {
        assert!(parse_account_id("000000000000").is_ok());
        assert!(parse_account_id("12345").is_err());
        assert!(parse_account_id("00000000000a").is_err());
        assert!(parse_region("eu-west-3").is_ok());
        assert!(parse_region("EU West").is_err());
        assert!(parse_region("").is_err());
    }

    #[test]
    fn aws_lines_point_every_aws_service_at_the_stack_as_the_lab_user() {
        let credential = |name: &str, kind: &str, key: &str| dev_secrets::Credential {
            name: name.to_owned(),
            kind: kind.to_owned(),
            access_key_id: key.to_owned(),
            secret_access_key: format!("{key}-secret"),
        };
        let credentials = [
            credential("root", "Root", "ROOTKEY"),
            credential(LAB_USER, "User", "USERKEY"),
        ];
        let all = crate::services::SERVICES.iter().flat_map(|s| s.endpoints);
        let printed = aws_cli_setup(all, &credentials);
        let expected = "
AWS CLI and SDKs, as AWSLabsUser-0001:
  export AWS_ENDPOINT_URL_CLOUDTRAIL=http://127.0.0.1:9002
  export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:9001
  export AWS_ENDPOINT_URL_S3=http://127.0.0.1:9000
  export AWS_ACCESS_KEY_ID=USERKEY AWS_SECRET_ACCESS_KEY=USERKEY-secret AWS_DEFAULT_REGION=us-east-1
or in ~/.aws/config (then --profile keyhold):
  [profile keyhold]
  region = us-east-1
  aws_access_key_id = USERKEY
  aws_secret_access_key = USERKEY-secret
  services = keyhold
  [services keyhold]
  cloudtrail =
    endpoint_url = http://127.0.0.1:9002
  kms =
    endpoint_url = http://127.0.0.1:9001
  s3 =
    endpoint_url = http://127.0.0.1:9000
";
        assert_eq!(printed, expected);
        // Without audit-svc and object-svc, only kms-svc's line.
        let kms_only = crate::services::SERVICES
            .iter()
            .filter(|s| s.name == crate::services::KMS_SERVICE)
            .flat_map(|s| s.endpoints);
        let printed = aws_cli_setup(kms_only, &credentials);
        assert!(printed.contains("AWS_ENDPOINT_URL_KMS"));
        assert!(!printed.contains("AWS_ENDPOINT_URL_S3"));
    }
}
