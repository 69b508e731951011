//! `--spawn`: the release kms-svc started for this run, on its own database, with a
//! fresh master key and the dev principals, stopped with SIGTERM at the end.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    str::FromStr,
    time::{Duration, Instant},
};

use sqlx::{ConnectOptions, Connection, postgres::PgConnectOptions};
use tokio::process::{Child, Command};

/// Embedded so the binary runs from anywhere, not only from a checkout.
const DEV_PRINCIPALS: &str = include_str!("../../deploy/dev/principals.json");

pub struct SpawnedServer {
    child: Child,
    pub pid: u32,
    pub endpoint: String,
    /// The database name, which its Postgres backends show in their process titles.
    pub database: Option<String>,
    pub workdir: PathBuf,
    pub log: PathBuf,
}

/// The kms-svc binary cargo put next to this one.
pub fn default_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no directory", me.display()))?;
    Ok(dir.join("kms-svc"))
}

impl SpawnedServer {
    pub async fn start(binary: &Path, database_url: &str) -> anyhow::Result<SpawnedServer> {
        anyhow::ensure!(
            binary.is_file(),
            "no kms-svc at {} (build it: cargo build --release -p kms-svc, or pass --kms-svc-bin)",
            binary.display()
        );
        let database = ensure_database(database_url).await?;

        let workdir =
            std::env::temp_dir().join(format!("keyhold-loadgen-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&workdir)?;
        let principals = workdir.join("principals.json");
        let master_key = workdir.join("master.key");
        let log = workdir.join("kms-svc.log");
        std::fs::write(&principals, DEV_PRINCIPALS)?;
        write_private(
            &master_key,
            &keyhold_crypto::MasterKey::generate().to_base64(),
        )?;
        let log_file = std::fs::File::create(&log)?;

        let address = free_port()?;
        let mut command = Command::new(binary);
        // Only what this run sets: an inherited RUST_LOG would change the logging being
        // measured, an OTEL endpoint would add trace export, KEYHOLD_AUDIT_ENDPOINT would
        // move the audit records off the log, and KEYHOLD_*_FILE variables would
        // override the values below.
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if name_text == "RUST_LOG"
                || name_text.starts_with("KEYHOLD_")
                || name_text.starts_with("OTEL_")
            {
                command.env_remove(&name);
            }
        }
        command
            .env("KEYHOLD_LISTEN", address.to_string())
            .env("KEYHOLD_DATABASE_URL", database_url)
            .env("KEYHOLD_PRINCIPALS_FILE", &principals)
            .env("KEYHOLD_MASTER_KEY_FILE", &master_key)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file))
            // Should the run fail before `stop`, the server must not outlive it.
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", binary.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow::anyhow!("kms-svc exited at once"))?;
        let mut server = SpawnedServer {
            child,
            pid,
            endpoint: format!("http://{address}"),
            database: Some(database),
            workdir,
            log,
        };
        server.wait_until_serving().await?;
        Ok(server)
    }

    async fn wait_until_serving(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "kms-svc exited ({status}) while starting; its log: {}",
                    self.log.display()
                );
            }
            if crate::client::serving(&self.endpoint).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "kms-svc not SERVING after 30 s; its log: {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, as Kubernetes would, then wait for the drain. The master key goes with
    /// the server; the log stays for reading.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let pid = i32::try_from(self.pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
        }
        let status = match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                self.child.kill().await?;
                anyhow::bail!("kms-svc did not stop within 30 s of SIGTERM; killed");
            }
        };
        let _ = std::fs::remove_file(self.workdir.join("master.key"));
        anyhow::ensure!(
            status.success(),
            "kms-svc exited with {status}; its log: {}",
            self.log.display()
        );
        Ok(())
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

fn free_port() -> anyhow::Result<std::net::SocketAddr> {
    // Released before kms-svc binds it: a small race, harmless on a benchmark machine.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// Creates the database named in `url` when it is missing, and names it; never drops
/// anything, so a shared server's other databases are safe.
async fn ensure_database(url: &str) -> anyhow::Result<String> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| anyhow::anyhow!("invalid --database-url: {e}"))?;
    let name = options
        .get_database()
        .ok_or_else(|| anyhow::anyhow!("--database-url names no database"))?
        .to_owned();
    let mut admin = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .map_err(|e| {
            // Host, port and name only: the URL may carry a password.
            let (host, port) = (options.get_host(), options.get_port());
            anyhow::anyhow!("cannot reach Postgres at {host}:{port} for {name}: {e}")
        })?;
    let exists = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut admin)
        .await?
        .is_some();
    if !exists {
        // Identifiers cannot be bound; quoting (with doubled quotes) keeps any name inert.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
            .execute(&mut admin)
            .await?;
    }
    admin.close().await.ok();
    Ok(name)
}
