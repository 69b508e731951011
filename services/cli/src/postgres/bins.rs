//! Finding the system's `initdb` and `pg_ctl`.
//!
//! Both must come from the same directory: a cluster made by one major
//! version cannot be started by another.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::files::is_executable_file;

/// Where Debian and Ubuntu install server binaries: one directory per major
/// version, none of them on PATH.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

pub struct PgBins {
    pub initdb: PathBuf,
    pub pg_ctl: PathBuf,
}

impl PgBins {
    fn in_dir(dir: &Path) -> Option<PgBins> {
        let initdb = dir.join("initdb");
        let pg_ctl = dir.join("pg_ctl");
        (is_executable_file(&initdb) && is_executable_file(&pg_ctl))
            .then_some(PgBins { initdb, pg_ctl })
    }
}

/// `Ok(None)` when there is no Postgres at all; the caller knows the
/// alternative (DATABASE_URL) and says so.
pub fn find(override_dir: Option<&Path>) -> Result<Option<PgBins>> {
    if let Some(dir) = override_dir {
        return match PgBins::in_dir(dir) {
            Some(bins) => Ok(Some(bins)),
            None => bail!(
                "--pg-bin-dir {} does not contain both initdb and pg_ctl",
                dir.display()
            ),
        };
    }
    let path = std::env::var_os("PATH");
    let candidates = candidate_dirs(
        path.as_deref(),
        &versioned_dir_names(Path::new(DEBIAN_ROOT)),
        Path::new(DEBIAN_ROOT),
    );
    Ok(candidates.iter().find_map(|dir| PgBins::in_dir(dir)))
}

/// PATH first (the user's explicit choice), then the Debian-style version
/// directories newest first.
fn candidate_dirs(path: Option<&OsStr>, versions: &[String], root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = path
        .map(|p| {
            std::env::split_paths(p)
                .filter(|d| !d.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut versions: Vec<(Vec<u32>, &String)> = versions
        .iter()
        .filter_map(|v| Some((version_key(v)?, v)))
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    dirs.extend(versions.into_iter().map(|(_, v)| root.join(v).join("bin")));
    dirs
}

fn versioned_dir_names(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

/// "9.6" -> [9, 6], "16" -> [16]; anything else is not a version directory.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_first_then_newest_version_first() {
        let versions = ["9.6", "16", "10", "15", "README"].map(String::from);
        let dirs = candidate_dirs(
            Some(OsStr::new("/opt/pg/bin::/usr/bin")),
            &versions,
            Path::new("/usr/lib/postgresql"),
        );
        let want = [
            "/opt/pg/bin",
            "/usr/bin",
            "/usr/lib/postgresql/16/bin",
            "/usr/lib/postgresql/15/bin",
            "/usr/lib/postgresql/10/bin",
            "/usr/lib/postgresql/9.6/bin",
        ];
        assert_eq!(dirs, want.map(PathBuf::from));
    }

    #[test]
    fn no_path_still_tries_versions() {
        let dirs = candidate_dirs(None, &["14".to_owned()], Path::new("/r"));
        assert_eq!(dirs, [PathBuf::from("/r/14/bin")]);
    }

    #[test]
    fn both_binaries_must_be_in_one_dir() {
        let dir = crate::files::test_dir("pg-bins");
        assert!(PgBins::in_dir(&dir).is_none());
        crate::files::write_executable(&dir.join("initdb"));
        assert!(PgBins::in_dir(&dir).is_none());
        crate::files::write_executable(&dir.join("pg_ctl"));
        assert!(PgBins::in_dir(&dir).is_some());
        assert!(find(Some(&dir)).unwrap().is_some());
        assert!(find(Some(Path::new("/nonexistent"))).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
