//! `--spawn`: the release kms-svc started for this run, on its own database, with a
//! fresh master key and the dev principals, stopped with SIGTERM at the end.

use std::path::{Path, PathBuf};

use keyhold_bench::process::{RunDatabase, ServerProcess, write_private};

/// Embedded so the binary runs from anywhere, not only from a checkout.
const DEV_PRINCIPALS: &str = include_str!("../../deploy/dev/principals.json");

pub struct SpawnedServer {
    /// The process: its pid, endpoint and log.
    pub server: ServerProcess,
    /// The database name, which its Postgres backends show in their process titles.
    pub database: Option<String>,
    pub workdir: PathBuf,
    /// Where it serves the AWS JSON protocol.
    pub aws_endpoint: String,
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
        // Created when missing, never dropped: a shared server's databases are safe.
        let database = RunDatabase::of(database_url)?;
        database.create_if_missing().await?;

        let workdir =
            std::env::temp_dir().join(format!("keyhold-loadgen-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&workdir)?;
        let principals = workdir.join("principals.json");
        let master_key = workdir.join("master.key");
        std::fs::write(&principals, DEV_PRINCIPALS)?;
        write_private(
            &master_key,
            &keyhold_crypto::MasterKey::generate().to_base64(),
        )?;
        let aws_address = keyhold_bench::process::free_address()?;
        let server = ServerProcess::start_grpc(
            "kms-svc",
            binary,
            &[
                ("KEYHOLD_AWS_LISTEN", aws_address.to_string()),
                ("KEYHOLD_DATABASE_URL", database_url.to_owned()),
                ("KEYHOLD_PRINCIPALS_FILE", principals.display().to_string()),
                ("KEYHOLD_MASTER_KEY_FILE", master_key.display().to_string()),
            ],
            workdir.join("kms-svc.log"),
        )
        .await?;
        Ok(SpawnedServer {
            server,
            database: Some(database.name),
            workdir,
            aws_endpoint: format!("http://{aws_address}"),
        })
    }

    /// SIGTERM, as Kubernetes would, then wait for the drain. The master key goes with
    /// the server; the log stays for reading.
    pub async fn stop(self) -> anyhow::Result<()> {
        let stopped = self.server.stop().await;
        let _ = std::fs::remove_file(self.workdir.join("master.key"));
        stopped
    }
}
