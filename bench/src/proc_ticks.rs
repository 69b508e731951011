//! CPU time read from /proc, shared by keyhold-loadgen, audit-bench and object-bench.

/// utime + stime of a process, in clock ticks (all its threads).
pub fn process_ticks(pid: u32) -> Option<u64> {
    stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime + stime, in clock ticks, from a /proc/<pid>/stat line.
fn stat_ticks(stat: &str) -> Option<u64> {
    // The command name may hold spaces and parentheses; fields resume after its last ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of proc(5); field 3 is the first here.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Every process named `postgres`: backends, WAL writer, checkpointer.
pub fn postgres_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres")
        })
        .collect()
}

/// (busy, total) jiffies of all CPUs from /proc/stat.
pub fn machine_ticks() -> Option<(u64, u64)> {
    machine_ticks_of(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn machine_ticks_of(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal; guest time is already in user.
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_ticks_survive_a_command_name_with_spaces_and_parentheses() {
        let stat =
            "4242 (tokio (rt) w) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0 99";
        assert_eq!(stat_ticks(stat), Some(325));
    }

    #[test]
    fn machine_busy_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 1000 30 7 8 2 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        let total = 100 + 5 + 50 + 1000 + 30 + 7 + 8 + 2;
        assert_eq!(
            machine_ticks_of(stat),
            Some((100 + 5 + 50 + 7 + 8 + 2, total))
        );
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        assert!(process_ticks(std::process::id()).is_some());
    }
}
