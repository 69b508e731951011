//! The run's two release servers: kms-svc, and object-svc pointed at it with
//! object-svc's own service principal, each on its own database, sharing one temp
//! workdir (principals, master keys, logs, the blob store), stopped with SIGTERM.
//!
//! Written here rather than shared with keyhold-loadgen's or audit-bench's modules:
//! those are changed independently, and this binary must not break when they do.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    str::FromStr,
    time::{Duration, Instant},
};

use sqlx::{ConnectOptions, Connection, postgres::PgConnectOptions};
use tokio::process::{Child, Command};

use crate::client::{AccessKey, serving};

/// Embedded so the binary runs from anywhere, not only from a checkout.
const DEV_PRINCIPALS: &str = include_str!("../../../../deploy/dev/principals.json");

/// object-svc's service principal (deploy/dev/principals.json): the one object-svc
/// calls kms-svc with, and the only kind of caller TransportProbeService accepts.
pub const OBJECT_SVC: AccessKey = AccessKey {
    id: "AKIAKEYHOLDDEVOBJSVC",
    secret: "dev-only-object-svc-secret-not-for-production",
};

/// The release binary `name` cargo put next to this one.
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    Ok(me
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no directory", me.display()))?
        .join(name))
}

/// Where the pieces of a run go.
pub struct Settings {
    pub kms_svc_bin: PathBuf,
    pub object_svc_bin: PathBuf,
    pub kms_database_url: String,
    pub object_database_url: String,
    /// The workdir is made under this directory (the blob store is inside it).
    pub parent_dir: PathBuf,
    pub keep_databases: bool,
}

pub struct Stack {
    pub kms: Server,
    pub object: Server,
    /// object-svc's S3 REST endpoint, `http://127.0.0.1:<port>`.
    pub s3_endpoint: String,
    pub workdir: PathBuf,
    pub blob_dir: PathBuf,
    kms_database_url: String,
    object_database_url: String,
    keep_databases: bool,
}

impl Stack {
    pub async fn start(settings: &Settings) -> anyhow::Result<Stack> {
        for (name, path) in [
            ("kms-svc", &settings.kms_svc_bin),
            ("object-svc", &settings.object_svc_bin),
        ] {
            anyhow::ensure!(
                path.is_file(),
                "no {name} at {} (build it: cargo build --release -p {name}, or pass --{name}-bin)",
                path.display()
            );
        }
        // Fresh databases for every run: the blob store is deleted at the end, so an
        // object database kept from an earlier run would point at missing blobs.
        recreate_database(&settings.kms_database_url).await?;
        recreate_database(&settings.object_database_url).await?;

        let workdir = settings.parent_dir.join(format!(
            "keyhold-object-bench-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&workdir)?;
        let principals = workdir.join("principals.json");
        std::fs::write(&principals, DEV_PRINCIPALS)?;
        let kms_master = workdir.join("kms-master.key");
        let object_master = workdir.join("object-master.key");
        for path in [&kms_master, &object_master] {
            write_private(path, &keyhold_crypto::MasterKey::generate().to_base64())?;
        }
        let blob_dir = workdir.join("blobs");
        // A port of our choosing, so the s3 phase knows where the endpoint is.
        let s3_address = free_address()?;

        let kms = Server::start(
            "kms-svc",
            &settings.kms_svc_bin,
            &[
                ("KEYHOLD_DATABASE_URL", settings.kms_database_url.clone()),
                ("KEYHOLD_PRINCIPALS_FILE", path_text(&principals)),
                ("KEYHOLD_MASTER_KEY_FILE", path_text(&kms_master)),
            ],
            workdir.join("kms-svc.log"),
        )
        .await?;
        let object = Server::start(
            "object-svc",
            &settings.object_svc_bin,
            &[
                ("KEYHOLD_DATABASE_URL", settings.object_database_url.clone()),
                ("KEYHOLD_PRINCIPALS_FILE", path_text(&principals)),
                ("KEYHOLD_MASTER_KEY_FILE", path_text(&object_master)),
                ("KEYHOLD_BLOB_STORE", path_text(&blob_dir)),
                ("KEYHOLD_S3_LISTEN", s3_address.to_string()),
                ("KEYHOLD_KMS_ENDPOINT", kms.endpoint.clone()),
                ("KEYHOLD_KMS_ACCESS_KEY_ID", OBJECT_SVC.id.to_owned()),
                (
                    "KEYHOLD_KMS_SECRET_ACCESS_KEY",
                    OBJECT_SVC.secret.to_owned(),
                ),
            ],
            workdir.join("object-svc.log"),
        )
        .await;
        let object = match object {
            Ok(object) => object,
            Err(error) => {
                let _ = kms.stop().await;
                return Err(error);
            }
        };
        Ok(Stack {
            kms,
            object,
            s3_endpoint: format!("http://{s3_address}"),
            workdir,
            blob_dir,
            kms_database_url: settings.kms_database_url.clone(),
            object_database_url: settings.object_database_url.clone(),
            keep_databases: settings.keep_databases,
        })
    }

    /// SIGTERM to object-svc, then kms-svc; then the blob store, master keys and
    /// (unless kept) both databases go. The logs stay. Every step runs even when an
    /// earlier one failed; the first failure is returned.
    pub async fn stop(self) -> anyhow::Result<()> {
        let object = self.object.stop().await;
        let kms = self.kms.stop().await;
        let blobs = std::fs::remove_dir_all(&self.blob_dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| anyhow::anyhow!("cannot delete {}: {e}", self.blob_dir.display()));
        for key in ["kms-master.key", "object-master.key"] {
            let _ = std::fs::remove_file(self.workdir.join(key));
        }
        let databases = if self.keep_databases {
            Ok(())
        } else {
            match drop_database(&self.object_database_url).await {
                Ok(()) => drop_database(&self.kms_database_url).await,
                Err(e) => Err(e),
            }
        };
        object.and(kms).and(blobs).and(databases)
    }
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

/// A server process started for this run.
pub struct Server {
    pub name: &'static str,
    child: Child,
    pub pid: u32,
    pub endpoint: String,
    pub log: PathBuf,
    /// Whether dying of the SIGTERM `stop` sends counts as a clean stop (moto has no
    /// handler for it; keyhold's servers must drain and exit 0).
    killed_by_term_is_clean: bool,
}

impl Server {
    /// Starts `binary` on a free loopback port with exactly `env` (plus
    /// KEYHOLD_LISTEN) and waits until grpc.health reports SERVING.
    async fn start(
        name: &'static str,
        binary: &Path,
        env: &[(&str, String)],
        log: PathBuf,
    ) -> anyhow::Result<Server> {
        let address = free_address()?;
        let mut command = Command::new(binary);
        command.env("KEYHOLD_LISTEN", address.to_string());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut server = Server::spawn(name, command, format!("http://{address}"), log)?;
        server.wait_until_serving().await?;
        Ok(server)
    }

    /// Starts moto's server (`python -m moto.server`, from `pip install 'moto[server]'`)
    /// on a free loopback port and waits until it accepts connections.
    pub async fn start_moto(python: &Path, log: PathBuf) -> anyhow::Result<Server> {
        let address = free_address()?;
        let mut command = Command::new(python);
        command.args(["-m", "moto.server", "-H", "127.0.0.1", "-p"]);
        command.arg(address.port().to_string());
        let mut server = Server::spawn("moto", command, format!("http://{address}"), log)?;
        server.killed_by_term_is_clean = true;
        server
            .wait_until("accepting connections", || async move {
                tokio::net::TcpStream::connect(address).await.is_ok()
            })
            .await?;
        Ok(server)
    }

    /// Spawns `command` with the environment cleaned of what would change a server
    /// under measurement; its output goes to `log`.
    fn spawn(
        name: &'static str,
        mut command: Command,
        endpoint: String,
        log: PathBuf,
    ) -> anyhow::Result<Server> {
        let log_file = std::fs::File::create(&log)?;
        // Only what this run sets: an inherited RUST_LOG would change the logging being
        // measured, an OTEL endpoint would add trace export, KEYHOLD_AUDIT_ENDPOINT
        // would move the audit records off the log, and other KEYHOLD_* variables
        // would override the values below.
        for (key, _) in std::env::vars_os() {
            let text = key.to_string_lossy();
            if text == "RUST_LOG" || text.starts_with("KEYHOLD_") || text.starts_with("OTEL_") {
                command.env_remove(&key);
            }
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone()?))
            // The audit records are log lines (LogSink): to a file, never a terminal.
            .stderr(Stdio::from(log_file))
            // Should the run fail before `stop`, the server must not outlive it.
            .kill_on_drop(true);
        let program = command.as_std().get_program().to_owned();
        let child = command.spawn().map_err(|e| {
            anyhow::anyhow!(
                "cannot start {name} ({}): {e}",
                Path::new(&program).display()
            )
        })?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow::anyhow!("{name} exited at once"))?;
        Ok(Server {
            name,
            child,
            pid,
            endpoint,
            log,
            killed_by_term_is_clean: false,
        })
    }

    async fn wait_until_serving(&mut self) -> anyhow::Result<()> {
        let endpoint = self.endpoint.clone();
        self.wait_until("SERVING", || serving(&endpoint)).await
    }

    /// Polls `ready` until it holds, for up to 60 s; fails early if the process exits.
    async fn wait_until<F, R>(&mut self, what: &str, ready: F) -> anyhow::Result<()>
    where
        F: Fn() -> R,
        R: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "{} exited ({status}) while starting; its log: {}",
                    self.name,
                    self.log.display()
                );
            }
            if ready().await {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} not {what} after 60 s; its log: {}",
                self.name,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the process is still there (it may have crashed mid-run).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => anyhow::bail!(
                "{} exited ({status}) during the run; its log: {}",
                self.name,
                self.log.display()
            ),
        }
    }

    /// SIGTERM, as Kubernetes would, then the drain.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = i32::try_from(self.pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            // Already gone is reported by the exit status below.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        match tokio::time::timeout(Duration::from_secs(40), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                let by_term = {
                    use std::os::unix::process::ExitStatusExt as _;
                    status.signal() == Some(rustix::process::Signal::TERM.as_raw())
                };
                anyhow::ensure!(
                    status.success() || (self.killed_by_term_is_clean && by_term),
                    "{} exited with {status}; its log: {}",
                    self.name,
                    self.log.display()
                );
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                anyhow::bail!("{} did not stop within 40 s of SIGTERM; killed", self.name)
            }
        }
    }
}

/// A throwaway key, but a key: readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

fn free_address() -> anyhow::Result<std::net::SocketAddr> {
    // Released before the server binds it: a small race, harmless on a bench machine.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// (admin connection options, quoted database name) for `url`.
fn database_of(url: &str) -> anyhow::Result<(PgConnectOptions, String, String)> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| anyhow::anyhow!("invalid database URL: {e}"))?;
    let name = options
        .get_database()
        .ok_or_else(|| anyhow::anyhow!("the database URL {url:?} names no database"))?
        .to_owned();
    anyhow::ensure!(
        name != "postgres",
        "refusing to drop and recreate the database \"postgres\""
    );
    // Identifiers cannot be bound; doubled quotes keep any name inert.
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    Ok((options.database("postgres"), name, quoted))
}

async fn admin(options: &PgConnectOptions, name: &str) -> anyhow::Result<sqlx::PgConnection> {
    options.connect().await.map_err(|e| {
        // Host, port and name only: the URL may carry a password.
        let (host, port) = (options.get_host(), options.get_port());
        anyhow::anyhow!("cannot reach Postgres at {host}:{port} for {name}: {e}")
    })
}

/// Drops the database named in `url` if it exists (a crashed run's), then creates it.
async fn recreate_database(url: &str) -> anyhow::Result<()> {
    let (options, name, quoted) = database_of(url)?;
    let mut admin = admin(&options, &name).await?;
    for statement in [
        format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"),
        format!("CREATE DATABASE {quoted}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut admin)
            .await?;
    }
    admin.close().await.ok();
    Ok(())
}

async fn drop_database(url: &str) -> anyhow::Result<()> {
    let (options, name, quoted) = database_of(url)?;
    let mut admin = admin(&options, &name).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    admin.close().await.ok();
    Ok(())
}
