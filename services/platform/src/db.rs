//! Each service's own Postgres database: connect at start (or say why not in one
//! line), and tell a lost connection (retryable) from a real failure.

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions, PgSslMode},
};

/// Connects and checks the connection once, so a service that cannot reach its
/// database fails at start instead of on its first call. `settings` are run-time
/// parameters every connection of the pool starts with.
pub async fn connect(
    url: &str,
    max_connections: u32,
    settings: &[(&str, &str)],
) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| anyhow::anyhow!("invalid database URL: {e}"))?
        .options(settings.iter().copied());
    let options = plain_on_loopback(options, url);
    let shown = describe(&options);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // A ping per checkout costs a round trip on every call; a connection that
        // died is found by the query itself, answered UNAVAILABLE, and replaced.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the database {shown}: {}", one_line(&e)))?;
    Ok(pool)
}

/// Connects to a service's own database and brings its schema up to date.
pub async fn open(
    url: &str,
    max_connections: u32,
    migrator: &sqlx::migrate::Migrator,
    settings: &[(&str, &str)],
) -> anyhow::Result<PgPool> {
    let pool = connect(url, max_connections, settings).await?;
    migrator
        .run(&pool)
        .await
        .map_err(|e| anyhow::anyhow!("database migrations failed: {e}"))?;
    Ok(pool)
}

/// TLS as the URL's `sslmode` (or PGSSLMODE) says, libpq's `prefer` when neither
/// names one, except to a Postgres on this machine (loopback or a Unix socket): there
/// TLS protects nothing and cost kms-svc 15-20% of its throughput (BENCHMARKS.md).
fn plain_on_loopback(options: PgConnectOptions, url: &str) -> PgConnectOptions {
    let named = url.contains("sslmode=") || std::env::var_os("PGSSLMODE").is_some();
    let host = options.get_host();
    let loopback = host.starts_with('/')
        || host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if named || !loopback {
        return options;
    }
    options.ssl_mode(PgSslMode::Disable)
}

/// Host, port and database name, never the password.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    )
}

fn one_line(error: &sqlx::Error) -> String {
    error
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// True when the database is out of reach rather than the query being wrong: the
/// caller answers UNAVAILABLE and the pool reconnects on its own later.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now,
        // 08xxx connection exceptions.
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
        _ => false,
    }
}

/// The error each call answered by one shared statement gets when it failed
/// (sqlx errors cannot be cloned): the same message, and the same answer from
/// [`is_unavailable`], which decides between 503 and 500.
pub fn copy_error(error: &sqlx::Error) -> sqlx::Error {
    let copy = std::io::Error::other(error.to_string());
    if is_unavailable(error) {
        sqlx::Error::Io(copy)
    } else {
        sqlx::Error::Decode(Box::new(copy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copied_error_keeps_its_message_and_whether_the_database_is_out_of_reach() {
        for (error, unavailable) in [
            (sqlx::Error::PoolTimedOut, true),
            (sqlx::Error::Protocol("connection reset".into()), true),
            (sqlx::Error::RowNotFound, false),
            (sqlx::Error::ColumnNotFound("size".into()), false),
        ] {
            let copy = copy_error(&error);
            assert_eq!(is_unavailable(&copy), unavailable, "{error}");
            assert!(copy.to_string().contains(&error.to_string()), "{copy}");
        }
    }
}
