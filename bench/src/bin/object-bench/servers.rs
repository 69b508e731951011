//! The run's two release servers: kms-svc, and object-svc pointed at it with
//! object-svc's own service principal, each on its own database, sharing one temp
//! workdir (principals, master keys, logs, the blob store), stopped with SIGTERM.
//!

use std::path::{Path, PathBuf};

pub use keyhold_bench::process::ServerProcess as Server;
use keyhold_bench::process::{RunDatabase, free_address, write_private};

use crate::client::AccessKey;

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
        RunDatabase::of(&settings.kms_database_url)?
            .recreate()
            .await?;
        RunDatabase::of(&settings.object_database_url)?
            .recreate()
            .await?;

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

        let kms = Server::start_grpc(
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
        let object = Server::start_grpc(
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

async fn drop_database(url: &str) -> anyhow::Result<()> {
    RunDatabase::of(url)?.drop_if_exists().await
}
