//! `overhead --split-cores`: kms-svc and the load on the first CPU, audit-svc and every
//! Postgres process on the last, as when the audit backend runs on machines of its own
//! (its own pods, a database server). On a 2-core machine shared by all of them, the
//! `on` variant otherwise measures Postgres taking kms-svc's CPU as much as the
//! pipeline's own cost.
//!
//! The machine's Postgres processes are moved for the run and put back when the split
//! is dropped (also on Ctrl-C); backends started meanwhile get the postmaster's old set.

use rustix::{
    process::Pid,
    thread::{CpuSet, sched_getaffinity, sched_setaffinity},
};

use crate::proc_ticks::postgres_pids;

pub struct CoreSplit {
    pub front: usize,
    pub back: usize,
    /// What this process and its children may use without the split.
    original: CpuSet,
    /// Postgres processes and their sets before the split.
    postgres: Vec<(u32, CpuSet)>,
}

impl CoreSplit {
    /// Call before the async runtime starts: its threads, and every process spawned
    /// later, inherit the calling thread's set.
    pub fn apply() -> anyhow::Result<CoreSplit> {
        let original = sched_getaffinity(None)?;
        let cpus: Vec<usize> = (0..CpuSet::MAX_CPU)
            .filter(|cpu| original.is_set(*cpu))
            .collect();
        let (Some(&front), Some(&back)) = (cpus.first(), cpus.last()) else {
            anyhow::bail!("no CPU to run on");
        };
        anyhow::ensure!(
            front != back,
            "--split-cores needs two CPUs; this process may use only CPU {front}"
        );
        let mut split = CoreSplit {
            front,
            back,
            original,
            postgres: Vec::new(),
        };
        for pid in postgres_pids() {
            // A backend that ended since the listing needs no moving.
            let Ok(set) = sched_getaffinity(Some(pid_of(pid)?)) else {
                continue;
            };
            split.postgres.push((pid, set));
            if let Err(error) = pin_threads(pid, back) {
                // Likewise one that ends while it is being moved.
                if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    anyhow::bail!(
                        "cannot move postgres process {pid} to CPU {back}: {error} \
                         (run as root or as the postgres user)"
                    );
                }
            }
        }
        anyhow::ensure!(
            !split.postgres.is_empty(),
            "--split-cores found no postgres process on this machine to move"
        );
        sched_setaffinity(None, &only(front))?;
        Ok(split)
    }

    /// Moves every thread of `pid` (a spawned audit-svc) to the back CPU.
    pub fn move_to_back(&self, pid: u32) -> anyhow::Result<()> {
        pin_threads(pid, self.back)
    }
}

impl Drop for CoreSplit {
    fn drop(&mut self) {
        // The oldest process (the postmaster) gives its set to backends born meanwhile.
        let postmaster = self
            .postgres
            .iter()
            .min_by_key(|(pid, _)| *pid)
            .map(|(_, set)| *set);
        for pid in postgres_pids() {
            let set = self
                .postgres
                .iter()
                .find(|(known, _)| *known == pid)
                .map(|(_, set)| *set)
                .or(postmaster)
                .unwrap_or(self.original);
            if let Ok(pid) = pid_of(pid) {
                // A process that ended meanwhile has nothing to restore.
                let _ = sched_setaffinity(Some(pid), &set);
            }
        }
        let _ = sched_setaffinity(None, &self.original);
    }
}

fn only(cpu: usize) -> CpuSet {
    let mut set = CpuSet::new();
    set.set(cpu);
    set
}

fn pid_of(pid: u32) -> anyhow::Result<Pid> {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| anyhow::anyhow!("{pid} is no process id"))
}

/// Every thread of a process: the affinity call moves one thread at a time.
fn pin_threads(pid: u32, cpu: usize) -> anyhow::Result<()> {
    let set = only(cpu);
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))?;
    for task in tasks {
        let tid = task?.file_name().to_string_lossy().parse::<u32>()?;
        sched_setaffinity(Some(pid_of(tid)?), &set)?;
    }
    Ok(())
}
