//! One fresh database per test, dropped when the test ends, on the server of
//! `KEYHOLD_TEST_DATABASE_URL`, else the machine's server at 127.0.0.1:5432, else a
//! private cluster started the way `keyhold up` starts one (and left running for the
//! next test process; `pg_ctl -D <data dir> stop` stops it).

use std::{path::PathBuf, str::FromStr, time::Duration};

use sqlx::{ConnectOptions, Connection, postgres::PgConnectOptions};
use tokio::sync::OnceCell;

const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TestDatabase {
    pub name: String,
    pub url: String,
    server: PgConnectOptions,
}

/// The server every test of this process uses, chosen once.
async fn server_options() -> PgConnectOptions {
    static SERVER: OnceCell<PgConnectOptions> = OnceCell::const_new();
    SERVER.get_or_init(choose_server).await.clone()
}

async fn choose_server() -> PgConnectOptions {
    // A server named explicitly is used as it is, and its failures are the test's.
    if let Ok(url) = std::env::var("KEYHOLD_TEST_DATABASE_URL") {
        return PgConnectOptions::from_str(&url)
            .expect("KEYHOLD_TEST_DATABASE_URL is a Postgres URL");
    }
    let machine = PgConnectOptions::from_str(DEFAULT_SERVER).expect("a valid URL");
    if answers(&machine).await {
        return machine;
    }
    let url = private_cluster()
        .await
        .unwrap_or_else(|e| panic!("no Postgres answers at {DEFAULT_SERVER}, and a private cluster could not be started: {e:#} (install Postgres, or set KEYHOLD_TEST_DATABASE_URL)"));
    PgConnectOptions::from_str(&url).expect("the private cluster's URL")
}

async fn answers(server: &PgConnectOptions) -> bool {
    let connect = tokio::time::timeout(Duration::from_secs(5), server.connect()).await;
    match connect {
        Ok(Ok(connection)) => {
            connection.close().await.ok();
            true
        }
        _ => false,
    }
}

/// Starts (or joins) the test cluster under the keyhold cache directory. A file lock
/// keeps two test processes from creating or starting it at once.
async fn private_cluster() -> anyhow::Result<String> {
    use anyhow::Context as _;
    use keyhold_cli::postgres::{self, Cluster};

    let dir = cache_dir().join("test-postgres");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock_path = dir.with_extension("lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
        .await?
        .context("locking the test cluster")?;
    let bins = postgres::find_bins(None)?
        .context("no initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin")?;
    let url = Cluster::locate(bins, &dir)?.start_or_join().await;
    drop(lock);
    url
}

/// `KEYHOLD_CACHE`, else `~/.cache/keyhold` (where `.ci/run` keeps its tools too).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KEYHOLD_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache").join("keyhold")
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let server = server_options().await;
        let name = format!("keyhold_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = server
            .connect()
            .await
            .expect("the test Postgres server is reachable");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let url = format!(
            "postgres://{}@{}:{}/{name}",
            server.get_username(),
            server.get_host(),
            server.get_port()
        );
        TestDatabase { name, url, server }
    }

    /// The address of the Postgres server this database is on (for a proxy in front
    /// of it): the machine's, or the private cluster the tests started.
    pub fn server_address(&self) -> std::net::SocketAddr {
        let host = match self.server.get_host() {
            "localhost" => "127.0.0.1",
            host => host,
        };
        format!("{host}:{}", self.server.get_port())
            .parse()
            .expect("the test server is at an IP address")
    }

    /// The URL of this database through another host:port (a proxy).
    pub fn url_via(&self, address: std::net::SocketAddr) -> String {
        format!(
            "postgres://{}@{address}/{}",
            self.server.get_username(),
            self.name
        )
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee; a short-lived thread and runtime
        // keep it independent of the test's own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let mut admin = server.connect().await.ok()?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .ok()
            })
        })
        .join();
    }
}

/// A Postgres cluster of one test's own, for tests that crash it: created in a fresh
/// directory, killed with SIGKILL, started again (crash recovery), and stopped and
/// removed when dropped.
pub struct OwnCluster {
    cluster: Option<keyhold_cli::postgres::Cluster>,
    dir: PathBuf,
}

impl OwnCluster {
    pub async fn start() -> OwnCluster {
        use keyhold_cli::postgres::{self, Cluster};
        let dir = std::env::temp_dir().join(format!(
            "keyhold-own-cluster-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let bins = postgres::find_bins(None)
            .expect("look for initdb and pg_ctl")
            .expect("initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin");
        let cluster = Cluster::locate(bins, &dir).expect("locate the cluster");
        let own = OwnCluster {
            cluster: Some(cluster),
            dir,
        };
        own.cluster().start().await.expect("start the cluster");
        own
    }

    fn cluster(&self) -> &keyhold_cli::postgres::Cluster {
        self.cluster
            .as_ref()
            .expect("the cluster is there until dropped")
    }

    /// The URL of database `name`, created if missing.
    pub async fn database_url(&self, name: &'static str) -> String {
        let server = self.server_url();
        keyhold_cli::postgres::ensure_databases(&server, &[name])
            .await
            .expect("create the database");
        keyhold_cli::postgres::with_database(&server, name).expect("a database URL")
    }

    fn server_url(&self) -> String {
        let pid_file = std::fs::read_to_string(self.cluster().layout.data.join("postmaster.pid"))
            .expect("the cluster runs");
        let port = pid_file.lines().nth(3).expect("the port line").trim();
        format!("postgres://keyhold@127.0.0.1:{port}/postgres")
    }

    /// SIGKILL to the postmaster, as a crash or the OOM killer would send it; its
    /// backends exit on their own when they notice.
    pub fn kill(&self) {
        let pid_file = std::fs::read_to_string(self.cluster().layout.data.join("postmaster.pid"))
            .expect("the cluster runs");
        let pid = pid_file.lines().next().expect("the pid line").trim();
        let status = std::process::Command::new("kill")
            .args(["-KILL", pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -KILL {pid}");
    }

    /// Starts the killed cluster again (it recovers from its WAL), once the killed
    /// postmaster's backends are gone. It listens on another port: ask
    /// [`Self::database_url`] again.
    pub async fn restart(&self) {
        let mut last_error = None;
        for _ in 0..30 {
            match self.cluster().start().await {
                Ok(_) => return,
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("the cluster did not start again: {last_error:?}");
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let Some(cluster) = self.cluster.take() else {
            return;
        };
        let dir = self.dir.clone();
        // Drop runs outside any runtime guarantee: a thread and a runtime of its own.
        let stopped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| runtime.block_on(cluster.stop()))
        })
        .join();
        if stopped.is_ok() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
