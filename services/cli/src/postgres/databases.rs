//! One database per service on whichever server is in use.

use anyhow::{Context, Result};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use super::url::{redacted, with_database};

/// Creates the databases that do not exist yet; returns the ones created.
pub async fn ensure_databases(
    server_url: &str,
    names: &[&'static str],
) -> Result<Vec<&'static str>> {
    let admin_url = with_database(server_url, "postgres")?;
    let mut conn = PgConnection::connect(&admin_url)
        .await
        .with_context(|| format!("connecting to {}", redacted(&admin_url)))?;
    let mut created = Vec::new();
    for &name in names {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&mut conn)
                .await
                .with_context(|| format!("looking for database {name}"))?;
        if exists {
            continue;
        }
        // CREATE DATABASE takes no bind parameters; the name is quoted as an
        // identifier (and comes from the service table anyway).
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await {
            Ok(_) => created.push(name),
            // Someone else (a concurrent run) created it between our check
            // and now: just as good.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("creating database {name} (the user needs CREATEDB)")
                });
            }
        }
    }
    let _ = conn.close().await;
    Ok(created)
}
