//! One fresh database per test, dropped when the test ends.

use std::str::FromStr;

use sqlx::{ConnectOptions, Connection, postgres::PgConnectOptions};

pub struct TestDatabase {
    pub name: String,
    pub url: String,
    server: PgConnectOptions,
}

fn server_options() -> PgConnectOptions {
    let url = std::env::var("KEYHOLD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    PgConnectOptions::from_str(&url).expect("KEYHOLD_TEST_DATABASE_URL is a Postgres URL")
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let server = server_options();
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
