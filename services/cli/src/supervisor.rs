//! The services as child processes: started with their output prefixed and
//! copied to a log file, waited on until they listen, watched while they
//! run, and stopped in reverse order.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

use crate::console::{note, prefix};
use crate::services::Service;
use crate::signals::{Interrupted, Shutdown};

/// How long a service gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What the services are told to spend draining calls after SIGTERM: less
/// than [`STOP_GRACE`], so they end cleanly instead of being killed.
pub const SERVICE_DRAIN_SECONDS: &str = "8";

pub struct Running {
    pub service: &'static Service,
    pub log: PathBuf,
    child: Child,
    /// Also its process group's id. Kept apart from `child.id()`, which is
    /// gone once the child has been reaped.
    pid: Option<u32>,
    pumps: Vec<JoinHandle<()>>,
}

pub enum Ended {
    Signal(&'static str),
    Died {
        name: &'static str,
        status: String,
        log: PathBuf,
    },
}

pub fn spawn(
    service: &'static Service,
    binary: &Path,
    env: Vec<(&'static str, OsString)>,
    log: PathBuf,
) -> Result<Running> {
    // Truncated per run: the log named in an error is this run's.
    let log_file = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut child = Command::new(binary)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a Ctrl-C in the terminal reaches only
        // `keyhold`, which then stops the services in order, instead of every
        // service dying at once and looking like a crash.
        .process_group(0)
        // A safety net for paths that return early; normally stop() runs.
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id();
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(
            out,
            prefix(service.name),
            log_file.try_clone()?,
            false,
        )));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(
            err,
            prefix(service.name),
            log_file,
            true,
        )));
    }
    Ok(Running {
        service,
        log,
        child,
        pid,
        pumps,
    })
}

/// Copies a child's output line by line to our stdout/stderr with its name
/// in front, and unprefixed to its log file.
async fn pump(stream: impl AsyncRead + Unpin, prefix: String, mut log: File, to_stderr: bool) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        let _ = log.write_all(&line);
        let mut prefixed = Vec::with_capacity(prefix.len() + line.len());
        prefixed.extend_from_slice(prefix.as_bytes());
        prefixed.extend_from_slice(&line);
        // One write per line keeps lines from different services whole. A
        // closed terminal is no reason to stop draining the pipe.
        let _ = if to_stderr {
            std::io::stderr().lock().write_all(&prefixed)
        } else {
            std::io::stdout().lock().write_all(&prefixed)
        };
    }
}

impl Running {
    /// Waits until every endpoint accepts TCP connections.
    pub async fn wait_ready(&mut self, limit: Duration, shutdown: &mut Shutdown) -> Result<()> {
        let deadline = Instant::now() + limit;
        let name = self.service.name;
        for endpoint in self.service.endpoints {
            tokio::select! {
                status = self.child.wait() => {
                    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                    self.drain().await;
                    bail!("{name} exited ({status}) before listening on {}; see {}", endpoint.addr, self.log.display());
                }
                ready = accepts_connections(endpoint.addr, deadline) => if !ready {
                    bail!("{name} did not accept connections on {} within {} s; see {}", endpoint.addr, limit.as_secs(), self.log.display());
                },
                signal = shutdown.received() => return Err(Interrupted(signal).into()),
            }
        }
        Ok(())
    }

    /// SIGTERM, up to [`STOP_GRACE`] to exit, then SIGKILL. Sent to the
    /// service's process group, so helpers it started (or the real binary
    /// behind a wrapper script) stop with it, also when the service itself
    /// has already exited.
    async fn stop(mut self) {
        let name = self.service.name;
        let exited = matches!(self.child.try_wait(), Ok(Some(_)));
        if !exited {
            note(format_args!("stopping {name}"));
        }
        self.signal_group("TERM");
        if !exited && timeout(STOP_GRACE, self.child.wait()).await.is_err() {
            note(format_args!(
                "{name} did not stop within {} s; killing it",
                STOP_GRACE.as_secs()
            ));
            self.signal_group("KILL");
            let _ = self.child.kill().await;
        }
        self.drain().await;
    }

    /// `kill` rather than libc/nix: no unsafe code and no extra crate for
    /// one system call. Failures (nobody left in the group) are expected.
    fn signal_group(&self, signal: &str) {
        if let Some(pid) = self.pid {
            let _ = std::process::Command::new("kill")
                .args([&format!("-{signal}"), "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Lets the last lines of output reach the terminal and the log.
    async fn drain(&mut self) {
        for pump in self.pumps.drain(..) {
            let _ = timeout(Duration::from_secs(1), pump).await;
        }
    }
}

async fn accepts_connections(addr: &str, deadline: Instant) -> bool {
    loop {
        if let Ok(Ok(_)) = timeout(Duration::from_secs(1), TcpStream::connect(addr)).await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// Runs until a signal arrives or any service exits on its own.
pub async fn watch(running: &mut [Running], shutdown: &mut Shutdown) -> Ended {
    if running.is_empty() {
        return Ended::Signal(shutdown.received().await);
    }
    let exits = running.iter_mut().map(|r| {
        Box::pin(async move {
            let status = r
                .child
                .wait()
                .await
                .map_or_else(|e| e.to_string(), |s: ExitStatus| s.to_string());
            (r.service.name, status, r.log.clone())
        })
    });
    tokio::select! {
        signal = shutdown.received() => Ended::Signal(signal),
        ((name, status, log), _, _) = futures::future::select_all(exits) => Ended::Died { name, status, log },
    }
}

/// Newest first: services started later may depend on earlier ones.
pub async fn stop_all(running: Vec<Running>) {
    for service in running.into_iter().rev() {
        service.stop().await;
    }
}
