//! CPU time from /proc, to tell where a phase's cycles went on a machine that runs
//! the load generator, kms-svc and Postgres side by side.

use std::{collections::HashMap, time::Duration};

use crate::proc_ticks::{machine_ticks, process_ticks};

/// CPU time (user + system) of one process, all its threads.
pub fn process(pid: u32) -> Option<Duration> {
    Some(ticks(process_ticks(pid)?))
}

/// Busy CPU time of the whole machine, every core added up.
pub fn machine() -> Option<Duration> {
    Some(ticks(machine_ticks()?.0))
}

fn ticks(count: u64) -> Duration {
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    Duration::from_nanos(count.saturating_mul(1_000_000_000) / per_second)
}

/// Postgres rewrites a backend's argv into `postgres: [cluster: ]user database
/// host(port) state`.
fn is_backend_of(title: &str, database: &str) -> bool {
    title.starts_with("postgres:") && title.split_whitespace().any(|word| word == database)
}

/// The Postgres backends serving `database`, with their CPU ticks.
fn postgres_backends(database: &str) -> HashMap<u32, u64> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let title = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let title = String::from_utf8_lossy(&title);
            is_backend_of(&title, database).then_some(())?;
            Some((pid, process_ticks(pid)?))
        })
        .collect()
}

/// CPU readings at one instant: this process, kms-svc and its database's backends
/// (when this run started kms-svc), the machine.
#[derive(Debug, Clone)]
pub struct Sample {
    loadgen: Option<Duration>,
    server: Option<Duration>,
    postgres: Option<HashMap<u32, u64>>,
    machine: Option<Duration>,
}

/// What the samples look at besides this process.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    pub server_pid: Option<u32>,
    pub database: Option<String>,
}

impl Sample {
    pub fn take(watched: &Watched) -> Sample {
        Sample {
            loadgen: process(std::process::id()),
            server: watched.server_pid.and_then(process),
            postgres: watched.database.as_deref().map(postgres_backends),
            machine: machine(),
        }
    }

    /// CPU spent between `self` and `later`.
    pub fn until(&self, later: &Sample) -> Usage {
        let diff = |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?));
        let loadgen = diff(self.loadgen, later.loadgen);
        let server = diff(self.server, later.server);
        let postgres = match (&self.postgres, &later.postgres) {
            // A backend that appeared in between did all its work in between.
            (Some(before), Some(after)) => Some(ticks(
                after
                    .iter()
                    .map(|(pid, &t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0)))
                    .sum(),
            )),
            _ => None,
        };
        let machine = diff(self.machine, later.machine);
        // Busy time none of the three accounts for: other tenants of the machine,
        // kernel threads. Near zero means the figures are clean.
        let rest = match (machine, loadgen, server, postgres) {
            (Some(m), Some(l), Some(s), Some(p)) => {
                Some(m.saturating_sub(l).saturating_sub(s).saturating_sub(p))
            }
            _ => None,
        };
        Usage {
            loadgen,
            server,
            postgres,
            machine,
            rest,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub loadgen: Option<Duration>,
    pub server: Option<Duration>,
    pub postgres: Option<Duration>,
    pub machine: Option<Duration>,
    pub rest: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_told_by_their_database() {
        let title = "postgres: 15/main: postgres keyhold_bench 127.0.0.1(38896) idle\0\0";
        assert!(is_backend_of(title, "keyhold_bench"));
        assert!(!is_backend_of(title, "keyhold"));
        assert!(!is_backend_of(
            "postgres: 15/main: checkpointer ",
            "keyhold_bench"
        ));
        assert!(!is_backend_of("vim keyhold_bench", "keyhold_bench"));
    }
}
