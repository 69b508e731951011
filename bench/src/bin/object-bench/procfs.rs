//! What /proc says about the run: CPU time per process (to tell where a phase's
//! cycles went on 2 shared cores), resident memory of object-svc, and whether the
//! machine is quiet enough to measure.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::proc_ticks::{machine_ticks, postgres_pids, process_ticks};
use serde::Serialize;

/// The processes a phase's CPU is split over.
#[derive(Debug, Clone, Copy)]
pub struct Watched {
    pub object_svc: u32,
    pub kms_svc: u32,
}

/// A snapshot of CPU ticks.
#[derive(Debug, Clone)]
pub struct CpuMark {
    at: Instant,
    object_svc: u64,
    kms_svc: u64,
    bench: u64,
    postgres: HashMap<u32, u64>,
    machine_busy: u64,
}

impl CpuMark {
    pub fn take(watched: Watched) -> CpuMark {
        let machine_busy = machine_ticks().map_or(0, |(busy, _)| busy);
        CpuMark {
            at: Instant::now(),
            object_svc: process_ticks(watched.object_svc).unwrap_or(0),
            kms_svc: process_ticks(watched.kms_svc).unwrap_or(0),
            bench: process_ticks(std::process::id()).unwrap_or(0),
            postgres: postgres_pids()
                .into_iter()
                .filter_map(|pid| Some((pid, process_ticks(pid)?)))
                .collect(),
            machine_busy,
        }
    }
}

/// CPU seconds spent between two marks, summed over any number of intervals.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct CpuSpent {
    pub wall_s: f64,
    pub object_svc_s: f64,
    pub kms_svc_s: f64,
    pub bench_s: f64,
    /// Every process named `postgres` (backends, WAL writer, checkpointer).
    pub postgres_s: f64,
    /// Busy CPU seconds of the whole machine, all cores.
    pub machine_s: f64,
}

impl CpuSpent {
    pub fn between(start: &CpuMark, end: &CpuMark) -> CpuSpent {
        let hz = rustix::param::clock_ticks_per_second().max(1) as f64;
        let s = |a: u64, b: u64| b.saturating_sub(a) as f64 / hz;
        let postgres: u64 = end
            .postgres
            .iter()
            .map(|(pid, ticks)| ticks.saturating_sub(start.postgres.get(pid).copied().unwrap_or(0)))
            .sum();
        CpuSpent {
            wall_s: end.at.duration_since(start.at).as_secs_f64(),
            object_svc_s: s(start.object_svc, end.object_svc),
            kms_svc_s: s(start.kms_svc, end.kms_svc),
            bench_s: s(start.bench, end.bench),
            postgres_s: postgres as f64 / hz,
            machine_s: s(start.machine_busy, end.machine_busy),
        }
    }

    pub fn add(&mut self, other: CpuSpent) {
        self.wall_s += other.wall_s;
        self.object_svc_s += other.object_svc_s;
        self.kms_svc_s += other.kms_svc_s;
        self.bench_s += other.bench_s;
        self.postgres_s += other.postgres_s;
        self.machine_s += other.machine_s;
    }

    /// Busy CPU not in any watched process: other tenants, builds, kernel threads.
    pub fn rest_s(&self) -> f64 {
        (self.machine_s - self.object_svc_s - self.kms_svc_s - self.bench_s - self.postgres_s)
            .max(0.0)
    }
}

/// The machine's busy share of all cores over `over`, 0..1.
pub async fn machine_busy(over: Duration) -> f64 {
    let before = machine_ticks();
    tokio::time::sleep(over).await;
    match (before, machine_ticks()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => (b1 - b0) as f64 / (t1 - t0) as f64,
        _ => 0.0,
    }
}

/// Waits until the machine is under 25% busy over one second (our servers are idle
/// between phases, so what is busy is someone else), at most `limit`. Returns the
/// busy share seen last, and says so on stderr when it had to wait.
pub async fn wait_for_quiet(limit: Duration, label: &str) -> f64 {
    let started = Instant::now();
    let mut said = false;
    loop {
        let busy = machine_busy(Duration::from_secs(1)).await;
        if busy < 0.25 {
            if said {
                eprintln!(
                    "object-bench: quiet after {:.0} s ({:.0}% busy)",
                    started.elapsed().as_secs_f64(),
                    busy * 100.0
                );
            }
            return busy;
        }
        if started.elapsed() >= limit {
            eprintln!(
                "object-bench: machine still {:.0}% busy after {} s; measuring {label} anyway",
                busy * 100.0,
                limit.as_secs()
            );
            return busy;
        }
        if !said {
            eprintln!(
                "object-bench: waiting for a quiet machine before {label} ({:.0}% busy; up to {} s)",
                busy * 100.0,
                limit.as_secs()
            );
            said = true;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// VmRSS and VmHWM of a process, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss: u64,
    pub hwm: u64,
}

pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line
            .get(name.len()..)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some(Memory {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
    })
}

/// Resets the process's VmHWM to its current RSS (proc(5), clear_refs "5").
pub fn reset_peak(pid: u32) -> std::io::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

/// Samples VmRSS on its own thread (so a busy async runtime cannot delay it).
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<RssSamples>,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct RssSamples {
    pub count: u64,
    pub peak: u64,
    pub last: u64,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = RssSamples::default();
            loop {
                if let Some(m) = memory(pid) {
                    samples.count += 1;
                    samples.peak = samples.peak.max(m.rss);
                    samples.last = m.rss;
                }
                if flag.load(Ordering::Relaxed) {
                    return samples;
                }
                // The sampler's own thread, not a tokio worker.
                #[allow(clippy::disallowed_methods)]
                std::thread::sleep(every);
            }
        });
        RssSampler { stop, thread }
    }

    /// Stops after one last sample.
    pub fn finish(self) -> RssSamples {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}
