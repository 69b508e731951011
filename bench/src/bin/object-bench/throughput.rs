//! Phase A: large objects. Each round streams the same number of bytes four ways on
//! one HTTP/2 connection, one call at a time: Sink (ceiling up), PutObject with
//! SSE-KMS, Source (ceiling down), GetObject of the object just put. Interleaving
//! lets real and ceiling share the machine's drift; each round starts only once the
//! machine is quiet (other tenants' builds would be measured too). One uncounted
//! round first warms up and checks every byte of a GET against what was put.

use serde::Serialize;

use crate::{
    Fixture,
    procfs::{self, CpuMark, CpuSpent, Watched},
    transfer::{self, ObjectClient, Payload, ProbeClient, Transferred},
};

pub struct Settings {
    pub size: u64,
    pub rounds: u32,
    /// Source's message size; the Sink and PutObject chunk is the payload's.
    pub source_chunk: u32,
    pub target: f64,
    /// Before each round, wait up to this long for a quiet machine (zero: never).
    pub quiet_wait: std::time::Duration,
}

/// One kind of call over the counted rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub call: &'static str,
    /// All bytes over all the calls' time.
    pub mib_s: f64,
    pub runs_mib_s: Vec<f64>,
    /// Mean bytes per data message (GetObject's are object-svc's choice).
    pub message_bytes: f64,
    pub cpu: CpuSpent,
    /// CPU milliseconds per MiB moved, per process.
    pub cpu_ms_per_mib: CpuPerMib,
    #[serde(skip)]
    bytes: u64,
    #[serde(skip)]
    messages: u64,
    #[serde(skip)]
    seconds: f64,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct CpuPerMib {
    pub object_svc: f64,
    pub kms_svc: f64,
    pub bench: f64,
    pub postgres: f64,
    pub rest: f64,
}

impl Side {
    pub fn new(call: &'static str) -> Side {
        Side {
            call,
            mib_s: 0.0,
            runs_mib_s: Vec::new(),
            message_bytes: 0.0,
            cpu: CpuSpent::default(),
            cpu_ms_per_mib: CpuPerMib::default(),
            bytes: 0,
            messages: 0,
            seconds: 0.0,
        }
    }

    pub fn add(&mut self, transfer: Transferred, cpu: CpuSpent) {
        let seconds = transfer.elapsed.as_secs_f64();
        self.runs_mib_s.push(mib(transfer.bytes) / seconds);
        self.bytes += transfer.bytes;
        self.messages += transfer.messages;
        self.seconds += seconds;
        self.cpu.add(cpu);
    }

    /// The latest call's MiB/s, for progress lines.
    pub fn last_mib_s(&self) -> f64 {
        self.runs_mib_s.last().copied().unwrap_or(0.0)
    }

    pub fn finish(&mut self) {
        self.mib_s = mib(self.bytes) / self.seconds.max(1e-9);
        self.message_bytes = self.bytes as f64 / self.messages.max(1) as f64;
        let per = |cpu_s: f64| cpu_s * 1000.0 / mib(self.bytes).max(1e-9);
        self.cpu_ms_per_mib = CpuPerMib {
            object_svc: per(self.cpu.object_svc_s),
            kms_svc: per(self.cpu.kms_svc_s),
            bench: per(self.cpu.bench_s),
            postgres: per(self.cpu.postgres_s),
            rest: per(self.cpu.rest_s()),
        };
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Direction {
    pub ceiling: Side,
    pub real: Side,
    /// real MiB/s / ceiling MiB/s.
    pub ratio: f64,
    pub pass: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub object_bytes: u64,
    pub chunk_bytes: u64,
    pub source_chunk_bytes: u64,
    pub rounds: u32,
    pub target_ratio: f64,
    pub up: Direction,
    pub down: Direction,
    /// GetObject's own message size (seen in the warm-up), when it differs from
    /// `source_chunk_bytes`: Source at that size too, each round, for comparison only.
    pub get_message_bytes: u64,
    pub source_at_get_size: Option<Side>,
    /// GetObject MiB/s over that Source's (no target).
    pub get_vs_source_at_get_size: Option<f64>,
    /// The machine's busy share in the second before the phase.
    pub machine_busy_before: f64,
}

/// Each side's latest MiB/s, for the progress line after a round.
pub fn round_line(sides: &[Side]) -> String {
    let parts: Vec<String> = sides
        .iter()
        .map(|side| format!("{} {:.0}", side.call, side.last_mib_s()))
        .collect();
    format!("{} MiB/s", parts.join(", "))
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub async fn timed<F>(watched: Watched, call: F) -> anyhow::Result<(Transferred, CpuSpent)>
where
    F: std::future::Future<Output = anyhow::Result<Transferred>>,
{
    let before = CpuMark::take(watched);
    let transfer = call.await?;
    let after = CpuMark::take(watched);
    Ok((transfer, CpuSpent::between(&before, &after)))
}

pub async fn run(
    settings: &Settings,
    fixture: &Fixture,
    object: &mut ObjectClient,
    probe: &mut ProbeClient,
    payload: &Payload,
    watched: Watched,
    machine_busy_before: f64,
) -> anyhow::Result<Throughput> {
    let size = settings.size;
    let bucket = fixture.bucket.as_str();
    let kms_key = fixture.kms_key.as_str();

    // Warm-up and check: every byte of one GET is compared with what was put.
    transfer::sink(probe, payload, size).await?;
    transfer::put(
        object,
        payload,
        size,
        bucket,
        "throughput/warm-up",
        Some(kms_key),
    )
    .await?;
    transfer::source(probe, size, settings.source_chunk).await?;
    let checked = transfer::get(object, bucket, "throughput/warm-up", size, Some(payload)).await?;
    let get_message = u32::try_from(checked.bytes / checked.messages.max(1)).unwrap_or(u32::MAX);
    let extra = (get_message != settings.source_chunk).then_some(get_message);
    if let Some(chunk) = extra {
        transfer::source(probe, size, chunk).await?;
    }
    let mut extra_side = Side::new("Source at GET's message size");

    let mut sides = [
        Side::new("Sink (ceiling up)"),
        Side::new("PutObject SSE-KMS"),
        Side::new("Source (ceiling down)"),
        Side::new("GetObject SSE-KMS"),
    ];
    for round in 0..settings.rounds {
        if !settings.quiet_wait.is_zero() {
            procfs::wait_for_quiet(settings.quiet_wait, "the next round").await;
        }
        let key = format!("throughput/round-{round}");
        let (t, cpu) = timed(watched, transfer::sink(probe, payload, size)).await?;
        sides[0].add(t, cpu);
        let (t, cpu) = timed(
            watched,
            transfer::put(object, payload, size, bucket, &key, Some(kms_key)),
        )
        .await?;
        sides[1].add(t, cpu);
        let (t, cpu) = timed(
            watched,
            transfer::source(probe, size, settings.source_chunk),
        )
        .await?;
        sides[2].add(t, cpu);
        let (t, cpu) = timed(watched, transfer::get(object, bucket, &key, size, None)).await?;
        sides[3].add(t, cpu);
        if let Some(chunk) = extra {
            let (t, cpu) = timed(watched, transfer::source(probe, size, chunk)).await?;
            extra_side.add(t, cpu);
        }
        eprintln!(
            "object-bench: round {}/{}: {}",
            round + 1,
            settings.rounds,
            round_line(&sides)
        );
    }
    for side in &mut sides {
        side.finish();
    }
    extra_side.finish();
    let get_vs_extra = extra.map(|_| sides[3].mib_s / extra_side.mib_s.max(1e-9));
    let [sink, put, source, get] = sides;
    let direction = |ceiling: Side, real: Side| {
        let ratio = real.mib_s / ceiling.mib_s.max(1e-9);
        Direction {
            ceiling,
            real,
            ratio,
            pass: ratio >= settings.target,
        }
    };
    Ok(Throughput {
        object_bytes: size,
        chunk_bytes: payload.chunk_size() as u64,
        source_chunk_bytes: u64::from(settings.source_chunk),
        rounds: settings.rounds,
        target_ratio: settings.target,
        up: direction(sink, put),
        down: direction(source, get),
        get_message_bytes: u64::from(get_message),
        source_at_get_size: extra.map(|_| extra_side),
        get_vs_source_at_get_size: get_vs_extra,
        machine_busy_before,
    })
}
