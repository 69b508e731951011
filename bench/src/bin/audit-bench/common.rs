//! What every subcommand needs: spawned release servers, databases, gRPC channels,
//! latency summaries and CPU accounting from /proc.

use std::{
    collections::HashMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use keyhold_bench::process::RunDatabase;
use serde::Serialize;
use sqlx::{Connection, PgConnection};

/// Embedded so the binary runs from anywhere, not only from a checkout.
pub const DEV_PRINCIPALS: &str = include_str!("../../../../deploy/dev/principals.json");

use crate::proc_ticks::{machine_ticks, postgres_pids, process_ticks};

pub use crate::client::{AccessKey, ROOT, USER1, USER1_NAME, connect_many};

/// kms-svc's service principal: IngestEvents accepts only service principals, and a
/// real emitter presents exactly this one.
pub const KMS_SVC: AccessKey = AccessKey {
    id: "AKIAKEYHOLDDEVKMSSVC",
    secret: "dev-only-kms-svc-secret-not-for-production",
};

/// A scratch directory for one run: principals file, master key, logs, spool.
pub fn workdir(tag: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "keyhold-audit-bench-{tag}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The release binary `name` cargo put next to this one.
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no directory", me.display()))?
        .join(name);
    anyhow::ensure!(
        path.is_file(),
        "no {name} at {} (build it: cargo build --release -p {name})",
        path.display()
    );
    Ok(path)
}

pub use keyhold_bench::process::ServerProcess as Server;

/// The database named in `url`: dropped first when `fresh`, created when missing.
/// Returns its name (Postgres backends show it in their process titles).
pub async fn ensure_database(url: &str, fresh: bool) -> anyhow::Result<String> {
    let database = RunDatabase::of(url)?;
    if fresh {
        database.recreate().await?;
    } else {
        database.create_if_missing().await?;
    }
    Ok(database.name)
}

pub async fn db(url: &str) -> anyhow::Result<PgConnection> {
    Ok(PgConnection::connect(url).await?)
}

/// Waits until no keyhold-loadgen runs and the machine is otherwise idle: on 2 cores,
/// two benchmarks at once (or a benchmark and a build) would each measure the other.
/// Gives up on idleness (never on keyhold-loadgen) after 15 minutes, saying so.
pub async fn wait_for_quiet_machine(quiet: bool) {
    let started = Instant::now();
    let mut said = false;
    loop {
        let loadgen = std::process::Command::new("pgrep")
            .args(["-f", "keyhold-loadgen"])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let busy = if loadgen {
            1.0
        } else {
            let before = machine_ticks();
            tokio::time::sleep(Duration::from_secs(1)).await;
            match (before, machine_ticks()) {
                (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => (b1 - b0) as f64 / (t1 - t0) as f64,
                _ => 0.0,
            }
        };
        // A quarter of the machine: above idle noise, below any real build or load.
        if !loadgen && (busy < 0.25 || started.elapsed() > Duration::from_secs(900)) {
            if busy >= 0.25 && !quiet {
                eprintln!(
                    "audit-bench: machine still {:.0}% busy after 15 min; measuring anyway",
                    busy * 100.0
                );
            }
            return;
        }
        if !said && !quiet {
            eprintln!(
                "audit-bench: waiting for a quiet machine ({})",
                if loadgen {
                    "keyhold-loadgen is running".to_owned()
                } else {
                    format!("{:.0}% busy", busy * 100.0)
                }
            );
            said = true;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub fn new_histogram() -> Histogram<u64> {
    // Microseconds, up to 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

pub fn summarize(histogram: &Histogram<u64>) -> Latency {
    let ms = |micros: u64| micros as f64 / 1000.0;
    Latency {
        count: histogram.len(),
        p50_ms: ms(histogram.value_at_quantile(0.50)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        max_ms: ms(histogram.max()),
    }
}

/// CPU seconds used by the processes of interest between `start` and `stop`, so a
/// report says which process was busy (on 2 cores, 2.0 CPU-s per second is all).
#[derive(Debug, Default, Clone, Serialize)]
pub struct CpuUse {
    pub seconds: f64,
    /// CPU seconds per wall second, by process group.
    pub per_second: Vec<(String, f64)>,
    /// The whole machine's busy share of all cores, 0..1.
    pub machine_busy: f64,
}

pub struct CpuSampler {
    groups: Vec<(String, Vec<u32>)>,
    /// Postgres backends and background processes (WAL writer, checkpointer): found
    /// by command name, since backends start and end during a run.
    postgres: bool,
    started: Instant,
    ticks: HashMap<u32, u64>,
    machine: Option<(u64, u64)>,
}

impl CpuSampler {
    pub fn start(groups: Vec<(String, Vec<u32>)>, postgres: bool) -> CpuSampler {
        let mut sampler = CpuSampler {
            groups,
            postgres,
            started: Instant::now(),
            ticks: HashMap::new(),
            machine: machine_ticks(),
        };
        sampler.ticks = sampler.snapshot();
        sampler
    }

    fn snapshot(&self) -> HashMap<u32, u64> {
        let mut ticks = HashMap::new();
        for (_, pids) in &self.groups {
            for pid in pids {
                if let Some(t) = process_ticks(*pid) {
                    ticks.insert(*pid, t);
                }
            }
        }
        if self.postgres {
            for pid in postgres_pids() {
                if let Some(t) = process_ticks(pid) {
                    ticks.insert(pid, t);
                }
            }
        }
        ticks
    }

    pub fn stop(&self) -> CpuUse {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        let end = self.snapshot();
        let hz = rustix::param::clock_ticks_per_second().max(1) as f64;
        let delta = |pid: &u32| {
            let now = end.get(pid).copied().unwrap_or(0);
            now.saturating_sub(self.ticks.get(pid).copied().unwrap_or(0))
        };
        let mut per_second: Vec<(String, f64)> = self
            .groups
            .iter()
            .map(|(name, pids)| {
                let ticks: u64 = pids.iter().map(delta).sum();
                (name.clone(), ticks as f64 / hz / seconds)
            })
            .collect();
        if self.postgres {
            let ticks: u64 = postgres_pids().iter().map(delta).sum();
            per_second.push(("postgres (all)".into(), ticks as f64 / hz / seconds));
        }
        let machine_busy = match (self.machine, machine_ticks()) {
            (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
                (busy1 - busy0) as f64 / (total1 - total0) as f64
            }
            _ => f64::NAN,
        };
        CpuUse {
            seconds,
            per_second,
            machine_busy,
        }
    }
}

pub fn cpu_line(cpu: &CpuUse) -> String {
    let parts: Vec<String> = cpu
        .per_second
        .iter()
        .map(|(name, share)| format!("{name} {share:.2}"))
        .collect();
    format!(
        "CPU-s per s: {}; machine busy {:.0}% of {} cores",
        parts.join(", "),
        cpu.machine_busy * 100.0,
        machine_cores()
    )
}

/// The machine's CPUs (those `machine_ticks` sums), whatever this process may use.
fn machine_cores() -> usize {
    std::fs::read_to_string("/proc/stat").map_or(0, |stat| {
        stat.lines()
            .filter(|line| line.starts_with("cpu") && !line.starts_with("cpu "))
            .count()
    })
}
