//! Running `initdb` and `pg_ctl` as an unprivileged user when `keyhold` runs
//! as root: both refuse to run as root.
//!
//! Ids come from the `id` command rather than libc or /etc/passwd so users
//! from NSS sources (LDAP, systemd-homed) resolve too, without unsafe code.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// A user other than the one running `keyhold`.
#[derive(Clone, Debug)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

pub fn effective_uid() -> Result<u32> {
    id(&["-u"]).context("finding out who runs keyhold (`id -u`)")
}

/// `postgres` (what distribution packages create) or else `nobody`.
pub fn unprivileged_user() -> Result<RunAs> {
    ["postgres", "nobody"].into_iter().find_map(lookup).context(
        "running as root, and neither a `postgres` nor a `nobody` user exists to run Postgres as",
    )
}

/// The owner of `path`, by name when it has one.
pub fn owner_of(path: &Path) -> Result<RunAs> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let name = Command::new("id")
        .args(["-nu", &meta.uid().to_string()])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| format!("uid {}", meta.uid()));
    Ok(RunAs {
        name,
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

fn lookup(name: &str) -> Option<RunAs> {
    Some(RunAs {
        name: name.to_owned(),
        uid: id(&["-u", name]).ok()?,
        gid: id(&["-g", name]).ok()?,
    })
}

fn id(args: &[&str]) -> Result<u32> {
    let out = Command::new("id")
        .args(args)
        .stderr(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!("`id {}` failed", args.join(" "));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

impl RunAs {
    /// Whether this user can reach `dir`. Asked of the kernel by running
    /// `test -x` as the user, which covers every ancestor directory, ACLs and
    /// odd modes exactly as Postgres will meet them later. Supplementary
    /// groups are dropped here just as they are for the real commands.
    pub fn can_traverse(&self, dir: &Path) -> bool {
        Command::new("test")
            .arg("-x")
            .arg(dir)
            .uid(self.uid)
            .gid(self.gid)
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    pub fn give(&self, path: &Path) -> Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("giving {} to user {}", path.display(), self.name))
    }

    pub fn apply(&self, command: &mut tokio::process::Command) {
        command.uid(self.uid).gid(self.gid);
    }
}
