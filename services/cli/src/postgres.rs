//! Where the services' databases live: a server named by DATABASE_URL, or a
//! private cluster that `keyhold up` creates and runs itself.

mod bins;
mod cluster;
mod databases;
mod url;

use std::path::Path;

use anyhow::{Result, bail};

pub use bins::{PgBins, find as find_bins};
pub use cluster::Cluster;
pub use databases::ensure_databases;
pub use url::{redacted, with_database};

pub enum Source {
    /// A URL of the server; its path is replaced per service.
    External(String),
    Private(PgBins),
}

/// Decided before anything is written to disk, so a machine without Postgres
/// gets its one-line answer straight away.
pub fn choose(database_url: Option<&str>, pg_bin_dir: Option<&Path>) -> Result<Source> {
    if let Some(url) = database_url.filter(|u| !u.trim().is_empty()) {
        // Validates the URL's shape now rather than at the first service.
        with_database(url, "postgres")?;
        return Ok(Source::External(url.to_owned()));
    }
    match bins::find(pg_bin_dir)? {
        Some(bins) => Ok(Source::Private(bins)),
        None => bail!(
            "no Postgres found (initdb and pg_ctl, on PATH or in /usr/lib/postgresql/*/bin): install it (`apt-get install postgresql` / `brew install postgresql`) or set DATABASE_URL=postgres://USER@HOST:5432/postgres to use a running server"
        ),
    }
}
