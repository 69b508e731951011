//! Phase C: object-svc's memory while one large object (1 GiB by default) is put and
//! read back with SSE-KMS. The bench streams it from one repeated chunk and counts
//! the GET without keeping it, so only object-svc's own buffering shows.
//!
//! VmRSS is sampled from /proc/<pid>/status every few milliseconds during each call;
//! VmHWM, reset before each call through /proc/<pid>/clear_refs, is the kernel's
//! exact peak and the cross-check. The target is judged on the larger of the two.

use std::time::Duration;

use serde::Serialize;

use crate::{
    Fixture,
    procfs::{self, CpuMark, CpuSpent, RssSampler, Watched},
    throughput::mib,
    transfer::{self, ObjectClient, Payload, Transferred},
};

pub struct Settings {
    pub size: u64,
    pub sample_every: Duration,
    /// Target: peak minus idle stays under this many bytes.
    pub limit: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallMemory {
    pub call: &'static str,
    pub seconds: f64,
    pub mib_s: f64,
    pub samples: u64,
    /// Highest sampled VmRSS, bytes.
    pub sampled_peak: u64,
    /// VmHWM after the call, reset just before it; None when it could not be reset.
    pub hwm_peak: Option<u64>,
    /// max(sampled, hwm) - idle, bytes.
    pub above_idle: u64,
    pub rss_after: u64,
    pub cpu: CpuSpent,
}

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub object_bytes: u64,
    pub sample_every_ms: u64,
    /// VmRSS of object-svc before the PUT (median of a second's samples), bytes.
    pub idle_rss: u64,
    pub put: CallMemory,
    pub get: CallMemory,
    pub limit_bytes: u64,
    pub pass: bool,
    /// Why VmHWM could not be used, if so.
    pub hwm_note: Option<String>,
    pub machine_busy_before: f64,
}

/// The median VmRSS over about a second.
async fn idle_rss(pid: u32) -> anyhow::Result<u64> {
    let mut samples = Vec::new();
    for _ in 0..20 {
        if let Some(m) = procfs::memory(pid) {
            samples.push(m.rss);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    samples.sort_unstable();
    samples
        .get(samples.len() / 2)
        .copied()
        .ok_or_else(|| anyhow::anyhow!("cannot read /proc/{pid}/status"))
}

async fn watch<F>(
    call: &'static str,
    settings: &Settings,
    watched: Watched,
    idle: u64,
    hwm_note: &mut Option<String>,
    future: F,
) -> anyhow::Result<CallMemory>
where
    F: std::future::Future<Output = anyhow::Result<Transferred>>,
{
    let pid = watched.object_svc;
    let reset = procfs::reset_peak(pid);
    if let Err(error) = &reset {
        hwm_note.get_or_insert_with(|| format!("cannot reset VmHWM of {pid}: {error}"));
    }
    let before = CpuMark::take(watched);
    let sampler = RssSampler::start(pid, settings.sample_every);
    let transferred = future.await;
    let samples = sampler.finish();
    let after = CpuMark::take(watched);
    let transferred = transferred?;
    let hwm_peak = reset.ok().and_then(|()| procfs::memory(pid)).map(|m| m.hwm);
    let peak = samples.peak.max(hwm_peak.unwrap_or(0));
    // Settled: what object-svc keeps once the call is over.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = procfs::memory(pid).map_or(0, |m| m.rss);
    let seconds = transferred.elapsed.as_secs_f64();
    let memory = CallMemory {
        call,
        seconds,
        mib_s: mib(transferred.bytes) / seconds.max(1e-9),
        samples: samples.count,
        sampled_peak: samples.peak,
        hwm_peak,
        above_idle: peak.saturating_sub(idle),
        rss_after,
        cpu: CpuSpent::between(&before, &after),
    };
    eprintln!(
        "object-bench: {:.0} MiB {call}: {:.1} s, {:.0} MiB/s, object-svc peak {:.1} MiB above idle",
        mib(transferred.bytes),
        memory.seconds,
        memory.mib_s,
        mib(memory.above_idle)
    );
    Ok(memory)
}

pub async fn run(
    settings: &Settings,
    fixture: &Fixture,
    object: &mut ObjectClient,
    payload: &Payload,
    watched: Watched,
    machine_busy_before: f64,
) -> anyhow::Result<Memory> {
    let key = "memory/large";
    let idle = idle_rss(watched.object_svc).await?;
    let mut hwm_note = None;
    let put = watch(
        "PutObject SSE-KMS",
        settings,
        watched,
        idle,
        &mut hwm_note,
        transfer::put(
            object,
            payload,
            settings.size,
            &fixture.bucket,
            key,
            Some(&fixture.kms_key),
        ),
    )
    .await?;
    let get = watch(
        "GetObject SSE-KMS",
        settings,
        watched,
        idle,
        &mut hwm_note,
        transfer::get(object, &fixture.bucket, key, settings.size, None),
    )
    .await?;
    let pass = put.above_idle < settings.limit && get.above_idle < settings.limit;
    Ok(Memory {
        object_bytes: settings.size,
        sample_every_ms: settings.sample_every.as_millis() as u64,
        idle_rss: idle,
        put,
        get,
        limit_bytes: settings.limit,
        pass,
        hwm_note,
        machine_busy_before,
    })
}
