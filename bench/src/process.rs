//! Server processes a benchmark starts for its run (kms-svc, object-svc, audit-svc,
//! moto), and the databases they get: shared by keyhold-loadgen, audit-bench and
//! object-bench.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    str::FromStr,
    time::{Duration, Instant},
};

use sqlx::{ConnectOptions, Connection, postgres::PgConnectOptions};
use tokio::process::{Child, Command};

/// How long a server gets to become ready, and to drain after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(40);

/// A server process started for this run; killed if dropped before `stop`.
pub struct ServerProcess {
    pub name: &'static str,
    child: Child,
    pub pid: u32,
    pub endpoint: String,
    pub log: PathBuf,
    /// Whether dying of the SIGTERM `stop` sends counts as a clean stop (moto has no
    /// handler for it; keyhold's servers must drain and exit 0).
    killed_by_term_is_clean: bool,
}

impl ServerProcess {
    /// Starts a keyhold service `binary` on a free loopback port with exactly `env`
    /// (plus KEYHOLD_LISTEN) and waits until grpc.health reports SERVING.
    pub async fn start_grpc(
        name: &'static str,
        binary: &Path,
        env: &[(&str, String)],
        log: PathBuf,
    ) -> anyhow::Result<ServerProcess> {
        let address = free_address()?;
        let mut command = Command::new(binary);
        command.env("KEYHOLD_LISTEN", address.to_string());
        // kms-svc and audit-svc serve their AWS protocol too; any free port will do.
        command.env("KEYHOLD_AWS_LISTEN", "127.0.0.1:0");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut server = ServerProcess::spawn(name, command, format!("http://{address}"), log)?;
        let endpoint = server.endpoint.clone();
        server
            .wait_until("SERVING", || crate::client::serving(&endpoint))
            .await?;
        Ok(server)
    }

    /// Starts moto's server (`python -m moto.server`, from `pip install 'moto[server]'`)
    /// on a free loopback port and waits until it accepts connections.
    pub async fn start_moto(python: &Path, log: PathBuf) -> anyhow::Result<ServerProcess> {
        let address = free_address()?;
        let mut command = Command::new(python);
        command.args(["-m", "moto.server", "-H", "127.0.0.1", "-p"]);
        command.arg(address.port().to_string());
        let mut server = ServerProcess::spawn("moto", command, format!("http://{address}"), log)?;
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
    ) -> anyhow::Result<ServerProcess> {
        let log_file = std::fs::File::create(&log)?;
        // Only what this run sets: an inherited RUST_LOG would change the logging being
        // measured, an OTEL endpoint would add trace export, KEYHOLD_AUDIT_ENDPOINT
        // would move the audit records off the log, and other KEYHOLD_* variables
        // (KEYHOLD_*_FILE ones included) would override the values the run sets.
        for (key, _) in std::env::vars_os() {
            let text = key.to_string_lossy();
            if text == "RUST_LOG" || text.starts_with("KEYHOLD_") || text.starts_with("OTEL_") {
                command.env_remove(&key);
            }
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone()?))
            // Audit records may be log lines (LogSink): to a file, never a terminal,
            // whose speed would then be what gets measured.
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
        Ok(ServerProcess {
            name,
            child,
            pid,
            endpoint,
            log,
            killed_by_term_is_clean: false,
        })
    }

    /// Polls `ready` until it holds; fails early if the process exits.
    async fn wait_until<F, R>(&mut self, what: &str, ready: F) -> anyhow::Result<()>
    where
        F: Fn() -> R,
        R: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + START_TIMEOUT;
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
                "{} not {what} after {} s; its log: {}",
                self.name,
                START_TIMEOUT.as_secs(),
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
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
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
                anyhow::bail!(
                    "{} did not stop within {} s of SIGTERM; killed",
                    self.name,
                    STOP_TIMEOUT.as_secs()
                )
            }
        }
    }
}

/// A loopback address to start a server on. Released before the server binds it: a
/// small race, harmless on a bench machine.
pub fn free_address() -> anyhow::Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// A throwaway key, but a key: readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// A run's database, named by `url`.
pub struct RunDatabase {
    admin: PgConnectOptions,
    /// The database's name, which its Postgres backends show in their process titles.
    pub name: String,
    quoted: String,
}

impl RunDatabase {
    pub fn of(url: &str) -> anyhow::Result<RunDatabase> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| anyhow::anyhow!("invalid database URL: {e}"))?;
        let name = options
            .get_database()
            .ok_or_else(|| anyhow::anyhow!("the database URL {url:?} names no database"))?
            .to_owned();
        // Identifiers cannot be bound; doubled quotes keep any name inert.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        Ok(RunDatabase {
            admin: options.database("postgres"),
            name,
            quoted,
        })
    }

    /// Creates the database when it is missing; never drops anything, so a shared
    /// server's other databases are safe.
    pub async fn create_if_missing(&self) -> anyhow::Result<()> {
        let mut admin = self.connect().await?;
        let exists = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(&self.name)
            .fetch_optional(&mut admin)
            .await?
            .is_some();
        if !exists {
            self.execute(&mut admin, "CREATE DATABASE").await?;
        }
        admin.close().await.ok();
        Ok(())
    }

    /// Drops the database if it exists (a crashed run's), then creates it.
    pub async fn recreate(&self) -> anyhow::Result<()> {
        self.drop_if_exists().await?;
        let mut admin = self.connect().await?;
        self.execute(&mut admin, "CREATE DATABASE").await?;
        admin.close().await.ok();
        Ok(())
    }

    pub async fn drop_if_exists(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.name != "postgres",
            "refusing to drop the database \"postgres\""
        );
        let mut admin = self.connect().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.quoted
        )))
        .execute(&mut admin)
        .await?;
        admin.close().await.ok();
        Ok(())
    }

    async fn connect(&self) -> anyhow::Result<sqlx::PgConnection> {
        self.admin.connect().await.map_err(|e| {
            // Host, port and name only: the URL may carry a password.
            let (host, port) = (self.admin.get_host(), self.admin.get_port());
            anyhow::anyhow!(
                "cannot reach Postgres at {host}:{port} for {}: {e}",
                self.name
            )
        })
    }

    async fn execute(&self, admin: &mut sqlx::PgConnection, verb: &str) -> anyhow::Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("{verb} {}", self.quoted)))
            .execute(admin)
            .await?;
        Ok(())
    }
}
