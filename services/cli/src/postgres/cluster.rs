//! The private Postgres cluster: created once with `initdb`, started with
//! `pg_ctl` on a free port for each run, stopped when `keyhold up` ends.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use anyhow::{Context, Result, bail};
use tokio::process::Command;

use super::bins::PgBins;
use crate::console::note;
use crate::files::{last_line, last_line_of, stable_hash};
use crate::run_as::{RunAs, effective_uid, owner_of, unprivileged_user};

/// Unix socket paths are limited to ~104 bytes (macOS) / 108 (Linux),
/// including Postgres's `/.s.PGSQL.<port>`.
const MAX_SOCKET_DIR_LEN: usize = 80;

/// Where the cluster's pieces live.
pub struct Layout {
    /// The data dir, or /tmp/keyhold-<hash> when the Postgres user cannot
    /// reach the data dir.
    pub root: PathBuf,
    pub data: PathBuf,
    pub log: PathBuf,
    pub socket_dir: PathBuf,
    /// The data dir, when the cluster had to move out of it.
    pub relocated_from: Option<PathBuf>,
}

impl Layout {
    fn under(root: PathBuf, relocated_from: Option<&Path>) -> Layout {
        let hash_source = relocated_from.unwrap_or(&root);
        let socket_dir = if root.as_os_str().len() + "/run".len() <= MAX_SOCKET_DIR_LEN {
            root.join("run")
        } else {
            PathBuf::from(format!("/tmp/keyhold-{}-run", stable_hash(hash_source)))
        };
        Layout {
            data: root.join("postgres"),
            log: root.join("postgres.log"),
            socket_dir,
            relocated_from: relocated_from.map(Path::to_owned),
            root,
        }
    }

    fn is_initialized(&self) -> bool {
        self.data.join("PG_VERSION").is_file()
    }
}

pub struct Cluster {
    bins: PgBins,
    /// `None`: run the tools as ourselves (we are not root).
    run_as: Option<RunAs>,
    pub layout: Layout,
}

impl Cluster {
    /// Decides where the cluster lives and as whom it runs; touches nothing
    /// yet except creating the data dir's own directory.
    pub fn locate(bins: PgBins, data_dir: &Path) -> Result<Cluster> {
        let home = Layout::under(data_dir.to_owned(), None);
        if effective_uid()? != 0 {
            return Ok(Cluster {
                bins,
                run_as: None,
                layout: home,
            });
        }
        let away = Layout::under(
            PathBuf::from(format!("/tmp/keyhold-{}", stable_hash(data_dir))),
            Some(data_dir),
        );
        // An existing cluster keeps running as whoever created it: Postgres
        // refuses a data directory owned by another user, and this way a
        // later-created `postgres` user does not strand a `nobody` cluster.
        for layout in [home, away] {
            if layout.is_initialized() {
                let owner = owner_of(&layout.data)?;
                if owner.uid == 0 {
                    bail!(
                        "{} belongs to root, and Postgres refuses to run as root: chown -R it to an unprivileged user or delete it",
                        layout.data.display()
                    );
                }
                return Ok(Cluster {
                    bins,
                    run_as: Some(owner),
                    layout,
                });
            }
        }
        let user = unprivileged_user()?;
        let layout = if user.can_traverse(data_dir) {
            Layout::under(data_dir.to_owned(), None)
        } else {
            Layout::under(
                PathBuf::from(format!("/tmp/keyhold-{}", stable_hash(data_dir))),
                Some(data_dir),
            )
        };
        Ok(Cluster {
            bins,
            run_as: Some(user),
            layout,
        })
    }

    pub fn user(&self) -> Option<&str> {
        self.run_as.as_ref().map(|u| u.name.as_str())
    }

    /// Creates the cluster if needed and starts it; returns a URL of the
    /// server (its `postgres` database).
    pub async fn start(&self) -> Result<String> {
        if let (Some(from), Some(user)) = (&self.layout.relocated_from, &self.run_as) {
            note(format_args!(
                "user {} cannot reach {}, so the Postgres cluster lives in {} (it does not survive a reboot)",
                user.name,
                from.display(),
                self.layout.data.display()
            ));
        }
        self.make_dirs()?;
        self.init_once().await?;
        // A postmaster left by a run that died without cleaning up (kill -9,
        // a crash) is stopped and started afresh rather than reused: this run
        // then owns it and stops it on exit, and the port we print is the port
        // it listens on.
        if self.is_running().await {
            note("stopping a Postgres left running by an earlier run");
            self.pg_ctl_stop().await?;
        }
        let port = free_port()?;
        note(format_args!(
            "starting Postgres on 127.0.0.1:{port} (log: {})",
            self.layout.log.display()
        ));
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {}",
            shell_quote(&self.layout.socket_dir)
        );
        let out = self
            .command(&self.bins.pg_ctl)
            .arg("-D")
            .arg(&self.layout.data)
            .arg("-l")
            .arg(&self.layout.log)
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .output()
            .await
            .with_context(|| format!("running {}", self.bins.pg_ctl.display()))?;
        if !out.status.success() {
            let why = last_line(&self.layout.log)
                .or_else(|| last_output_line(&out))
                .unwrap_or_default();
            bail!(
                "Postgres did not start ({}): {why}; see {}",
                out.status,
                self.layout.log.display()
            );
        }
        Ok(format!("postgres://keyhold@127.0.0.1:{port}/postgres"))
    }

    /// Like [`Cluster::start`], but a cluster already running is joined rather than
    /// restarted: the test harness shares one cluster between test processes, which
    /// leave it running for the next. Callers serialize concurrent calls themselves.
    pub async fn start_or_join(&self) -> Result<String> {
        if self.layout.is_initialized()
            && self.is_running().await
            && let Some(port) = self.running_port()
        {
            return Ok(format!("postgres://keyhold@127.0.0.1:{port}/postgres"));
        }
        self.start().await
    }

    /// The port of the running postmaster: the fourth line of `postmaster.pid`.
    fn running_port(&self) -> Option<u16> {
        let pid_file = fs::read_to_string(self.layout.data.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    /// Stops the cluster if it runs; never fails (it is cleanup), but says
    /// so when Postgres is left behind.
    pub async fn stop(&self) {
        if !self.layout.is_initialized() || !self.is_running().await {
            return;
        }
        note("stopping Postgres");
        if let Err(err) = self.pg_ctl_stop().await {
            note(format_args!(
                "{err:#}; stop it by hand: pg_ctl -D {} stop",
                self.layout.data.display()
            ));
        }
    }

    fn make_dirs(&self) -> Result<()> {
        if self.layout.relocated_from.is_some() {
            self.make_private_dir(&self.layout.root)?;
        }
        if self.layout.socket_dir.starts_with(&self.layout.root) {
            fs::create_dir_all(&self.layout.socket_dir)
                .with_context(|| format!("creating {}", self.layout.socket_dir.display()))?;
            self.give(&self.layout.socket_dir)?;
        } else {
            self.make_private_dir(&self.layout.socket_dir)?;
        }
        // Postgres appends to its log as the unprivileged user, which cannot
        // create files in a root-owned data dir.
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.layout.log)
            .with_context(|| format!("creating {}", self.layout.log.display()))?;
        self.give(&self.layout.log)
    }

    /// A directory under the shared /tmp: refuse one that somebody else
    /// prepared for us, and keep it closed to other users.
    fn make_private_dir(&self, dir: &Path) -> Result<()> {
        use std::os::unix::fs::MetadataExt as _;
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let meta = fs::symlink_metadata(dir)?;
        let ours = [Some(0), self.run_as.as_ref().map(|u| u.uid)];
        if !meta.is_dir() || !ours.contains(&Some(meta.uid())) {
            bail!(
                "{} exists but is not a directory owned by us; remove it",
                dir.display()
            );
        }
        self.give(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("chmod {}", dir.display()))
    }

    fn give(&self, path: &Path) -> Result<()> {
        match &self.run_as {
            Some(user) => user.give(path),
            None => Ok(()),
        }
    }

    /// initdb runs into a scratch directory that is renamed on success, so
    /// an interrupted initdb never leaves a half-made cluster that later runs
    /// would trust.
    async fn init_once(&self) -> Result<()> {
        let data = &self.layout.data;
        if self.layout.is_initialized() {
            return Ok(());
        }
        if data.exists() {
            bail!(
                "{} exists but holds no Postgres cluster: move it away so keyhold can create one",
                data.display()
            );
        }
        let scratch = self.layout.root.join("postgres.initdb");
        if scratch.exists() {
            fs::remove_dir_all(&scratch)
                .with_context(|| format!("removing {}", scratch.display()))?;
        }
        fs::create_dir(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
        self.give(&scratch)?;
        note(format_args!(
            "creating a Postgres cluster in {}{} (once; kept between runs)",
            data.display(),
            self.user()
                .map(|u| format!(" as user {u}"))
                .unwrap_or_default()
        ));
        let out = self
            .command(&self.bins.initdb)
            .arg("-D")
            .arg(&scratch)
            .args(["-U", "keyhold", "--auth=trust", "-E", "UTF8"])
            .output()
            .await
            .with_context(|| format!("running {}", self.bins.initdb.display()))?;
        // initdb's chatter goes to the cluster's log, not the terminal.
        let mut log = Vec::from(b"--- initdb ---\n".as_slice());
        log.extend_from_slice(&out.stdout);
        log.extend_from_slice(&out.stderr);
        let _ = fs::OpenOptions::new()
            .append(true)
            .open(&self.layout.log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &log));
        if !out.status.success() {
            let why = last_output_line(&out).unwrap_or_default();
            bail!(
                "initdb failed ({}): {why}; full output in {}",
                out.status,
                self.layout.log.display()
            );
        }
        fs::rename(&scratch, data)
            .with_context(|| format!("renaming {} to {}", scratch.display(), data.display()))
    }

    async fn is_running(&self) -> bool {
        // pg_ctl status: 0 running, 3 not running, 4 no usable data dir.
        let status = self
            .command(&self.bins.pg_ctl)
            .arg("-D")
            .arg(&self.layout.data)
            .arg("status")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        status.is_ok_and(|s| s.success())
    }

    async fn pg_ctl_stop(&self) -> Result<()> {
        let out = self
            .command(&self.bins.pg_ctl)
            .arg("-D")
            .arg(&self.layout.data)
            .args(["-m", "fast", "-w", "-t", "60", "stop"])
            .output()
            .await
            .context("running pg_ctl stop")?;
        if !out.status.success() {
            bail!(
                "pg_ctl stop failed ({}): {}",
                out.status,
                last_output_line(&out).unwrap_or_default()
            );
        }
        Ok(())
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        // The unprivileged user may not be able to enter our working
        // directory (e.g. under /root), which Postgres tools complain about.
        command
            .current_dir(&self.layout.root)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        // Its own process group: a Ctrl-C in the terminal reaches only
        // `keyhold`, which then stops Postgres in order.
        command.process_group(0);
        if let Some(user) = &self.run_as {
            user.apply(&mut command);
        }
        command
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port for Postgres")?;
    Ok(listener.local_addr()?.port())
}

/// pg_ctl hands `-o` to a shell.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

fn last_output_line(out: &Output) -> Option<String> {
    last_line_of(&String::from_utf8_lossy(&out.stderr))
        .or_else(|| last_line_of(&String::from_utf8_lossy(&out.stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_keeps_socket_paths_short() {
        let short = Layout::under(PathBuf::from("/home/u/.keyhold"), None);
        assert_eq!(short.data, Path::new("/home/u/.keyhold/postgres"));
        assert_eq!(short.log, Path::new("/home/u/.keyhold/postgres.log"));
        assert_eq!(short.socket_dir, Path::new("/home/u/.keyhold/run"));
        let deep = PathBuf::from(format!("/home/u/{}/.keyhold", "d".repeat(90)));
        let long = Layout::under(deep.clone(), None);
        assert!(
            long.socket_dir.starts_with("/tmp/")
                && long.socket_dir.as_os_str().len() < MAX_SOCKET_DIR_LEN
        );
        assert_eq!(long.data, deep.join("postgres"));
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
