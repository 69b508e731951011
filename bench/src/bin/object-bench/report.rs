//! The run's figures, as tables for a person or one JSON object.

use std::fmt::Write as _;

use serde::Serialize;

use crate::{
    Fixture, MEMORY_LIMIT, TARGET_RATIO,
    memory::{CallMemory, Memory},
    servers::Stack,
    small::{Load, Small},
    throughput::{Side, Throughput, mib},
};

#[derive(Debug, Serialize)]
pub struct Report {
    pub object_svc: String,
    pub object_svc_pid: u32,
    pub kms_svc: String,
    pub kms_svc_pid: u32,
    pub key_arn: String,
    pub bucket: String,
    pub workdir: String,
    pub logs: Vec<String>,
    pub memory: Option<Memory>,
    pub throughput: Option<Throughput>,
    pub small: Option<Small>,
    pub object_svc_rss_end: Option<u64>,
    /// Every measured target met.
    pub pass: bool,
    /// A server did not stop cleanly.
    pub stop_error: Option<String>,
}

impl Report {
    pub fn new(stack: &Stack, fixture: &Fixture) -> Report {
        Report {
            object_svc: stack.object.endpoint.clone(),
            object_svc_pid: stack.object.pid,
            kms_svc: stack.kms.endpoint.clone(),
            kms_svc_pid: stack.kms.pid,
            key_arn: fixture.key_arn.clone(),
            bucket: fixture.bucket.clone(),
            workdir: stack.workdir.display().to_string(),
            logs: Vec::new(),
            memory: None,
            throughput: None,
            small: None,
            object_svc_rss_end: None,
            pass: false,
            stop_error: None,
        }
    }

    pub fn finish(&mut self) {
        let memory = self.memory.as_ref().is_none_or(|m| m.pass);
        let throughput = self
            .throughput
            .as_ref()
            .is_none_or(|t| t.up.pass && t.down.pass);
        self.pass = memory && throughput;
    }

    /// A failure, not a miss: calls failed or a server did not stop cleanly.
    pub fn failed(&self) -> bool {
        self.stop_error.is_some() || self.small.as_ref().is_some_and(|s| s.errors() > 0)
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "object-bench: object-svc {} (pid {}), kms-svc {} (pid {})",
            self.object_svc, self.object_svc_pid, self.kms_svc, self.kms_svc_pid
        );
        let _ = writeln!(
            out,
            "SSE-KMS key {} (alias/object-bench), bucket {}; logs: {}",
            self.key_arn,
            self.bucket,
            self.logs.join(", ")
        );
        if let Some(m) = &self.memory {
            memory_table(&mut out, m);
        }
        if let Some(t) = &self.throughput {
            throughput_table(&mut out, t);
        }
        if let Some(s) = &self.small {
            small_table(&mut out, s);
        }
        let _ = writeln!(out);
        if let Some(rss) = self.object_svc_rss_end {
            let _ = writeln!(out, "object-svc VmRSS at the end: {:.1} MiB", mib(rss));
        }
        let verdict = |pass: bool| if pass { "PASS" } else { "FAIL" };
        let mut lines = Vec::new();
        if let Some(t) = &self.throughput {
            lines.push(format!(
                "PUT {:.1}% of the ceiling {}, GET {:.1}% {}",
                t.up.ratio * 100.0,
                verdict(t.up.pass),
                t.down.ratio * 100.0,
                verdict(t.down.pass)
            ));
        }
        if let Some(m) = &self.memory {
            lines.push(format!(
                "peak above idle {:.1} MiB {}",
                mib(m.put.above_idle.max(m.get.above_idle)),
                verdict(m.pass)
            ));
        }
        if lines.is_empty() {
            lines.push("no targeted phase was run".to_owned());
        }
        let _ = writeln!(
            out,
            "Result: {} ({})",
            if self.failed() {
                "FAILED RUN"
            } else {
                verdict(self.pass)
            },
            lines.join("; ")
        );
        if let Some(error) = &self.stop_error {
            let _ = writeln!(out, "stop: {error}");
        }
        out
    }
}

fn memory_table(out: &mut String, m: &Memory) {
    let _ = writeln!(
        out,
        "\nMemory: one {:.0} MiB object, PUT then GET with SSE-KMS; object-svc VmRSS sampled every {} ms, VmHWM reset before each call",
        mib(m.object_bytes),
        m.sample_every_ms
    );
    let _ = writeln!(
        out,
        "idle VmRSS (before the PUT): {:.1} MiB; target: peak under {:.0} MiB above idle",
        mib(m.idle_rss),
        mib(m.limit_bytes)
    );
    let _ = writeln!(
        out,
        "| call | seconds | MiB/s | samples | sampled peak MiB | VmHWM MiB | above idle MiB | VmRSS after MiB | CPU-s/s object-svc / kms-svc / bench / postgres / rest |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for c in [&m.put, &m.get] {
        memory_row(out, c);
    }
    if let Some(note) = &m.hwm_note {
        let _ = writeln!(out, "note: {note}");
    }
    let _ = writeln!(
        out,
        "memory target (< {:.0} MiB above idle): {}",
        mib(MEMORY_LIMIT),
        if m.pass { "PASS" } else { "FAIL" }
    );
}

fn memory_row(out: &mut String, c: &CallMemory) {
    let per = |v: f64| v / c.cpu.wall_s.max(1e-9);
    let _ = writeln!(
        out,
        "| {} | {:.2} | {:.0} | {} | {:.1} | {} | {:.1} | {:.1} | {:.2} / {:.2} / {:.2} / {:.2} / {:.2} |",
        c.call,
        c.seconds,
        c.mib_s,
        c.samples,
        mib(c.sampled_peak),
        c.hwm_peak
            .map_or_else(|| "-".to_owned(), |h| format!("{:.1}", mib(h))),
        mib(c.above_idle),
        mib(c.rss_after),
        per(c.cpu.object_svc_s),
        per(c.cpu.kms_svc_s),
        per(c.cpu.bench_s),
        per(c.cpu.postgres_s),
        per(c.cpu.rest_s()),
    );
}

fn throughput_table(out: &mut String, t: &Throughput) {
    let _ = writeln!(
        out,
        "\nThroughput: {:.0} MiB per call, {} KiB per Sink/PutObject message, {} KiB per Source message; one call at a time on one connection; 1 warm-up + {} rounds",
        mib(t.object_bytes),
        t.chunk_bytes / 1024,
        t.source_chunk_bytes / 1024,
        t.rounds
    );
    let _ = writeln!(
        out,
        "machine {:.0}% busy just before",
        t.machine_busy_before * 100.0
    );
    let _ = writeln!(
        out,
        "| call | MiB/s | rounds MiB/s | bytes/message | CPU ms per MiB: object-svc | kms-svc | bench | postgres | rest |"
    );
    let _ = writeln!(out, "|---|---:|---|---:|---:|---:|---:|---:|---:|");
    for side in [&t.up.ceiling, &t.up.real, &t.down.ceiling, &t.down.real] {
        throughput_row(out, side);
    }
    if let Some(side) = &t.source_at_get_size {
        throughput_row(out, side);
    }
    let verdict = |pass: bool| if pass { "PASS" } else { "FAIL" };
    let _ = writeln!(
        out,
        "PUT / Sink: {:.1}% {}; GET / Source: {:.1}% {} (target >= {:.0}%)",
        t.up.ratio * 100.0,
        verdict(t.up.pass),
        t.down.ratio * 100.0,
        verdict(t.down.pass),
        TARGET_RATIO * 100.0
    );
    if let Some(ratio) = t.get_vs_source_at_get_size {
        let _ = writeln!(
            out,
            "GET / Source at GET's own {} KiB messages: {:.1}% (for comparison, no target)",
            t.get_message_bytes / 1024,
            ratio * 100.0
        );
    }
}

fn throughput_row(out: &mut String, s: &Side) {
    let runs: Vec<String> = s.runs_mib_s.iter().map(|v| format!("{v:.0}")).collect();
    let c = &s.cpu_ms_per_mib;
    let _ = writeln!(
        out,
        "| {} | {:.1} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
        s.call,
        s.mib_s,
        runs.join(" "),
        s.message_bytes,
        c.object_svc,
        c.kms_svc,
        c.bench,
        c.postgres,
        c.rest
    );
}

fn small_table(out: &mut String, s: &Small) {
    let _ = writeln!(
        out,
        "\nSmall objects: {} B, {} in flight over {} connections, {:.0} s warm-up + {:.0} s measured per call; {} objects stored; machine {:.0}% busy just before",
        s.object_bytes,
        s.concurrency,
        s.connections,
        s.warmup_seconds,
        s.measure_seconds,
        s.objects_stored,
        s.machine_busy_before * 100.0
    );
    let _ = writeln!(
        out,
        "| call | calls/s | p50 ms | p99 ms | max ms | errors | CPU µs per call: object-svc | kms-svc | bench | postgres | rest | busy cores |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for load in [&s.sink, &s.put, &s.source, &s.get] {
        small_row(out, load);
    }
    let _ = writeln!(
        out,
        "PUT / Sink: {:.1}%; GET / Source: {:.1}% (reported, no target)",
        s.put_ratio * 100.0,
        s.get_ratio * 100.0
    );
    for load in [&s.sink, &s.put, &s.source, &s.get] {
        if let Some(error) = &load.first_error {
            let _ = writeln!(out, "{} first error: {error}", load.call);
        }
    }
}

fn small_row(out: &mut String, l: &Load) {
    let c = &l.cpu_us_per_call;
    let _ = writeln!(
        out,
        "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} |",
        l.call,
        l.per_second,
        l.p50_ms,
        l.p99_ms,
        l.max_ms,
        l.errors,
        c.object_svc,
        c.kms_svc,
        c.bench,
        c.postgres,
        c.rest,
        l.cpu.machine_s / l.cpu.wall_s.max(1e-9)
    );
}
