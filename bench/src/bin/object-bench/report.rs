//! The run's figures, as tables for a person or one JSON object.

use std::fmt::Write as _;

use serde::Serialize;

use crate::{
    Fixture, MEMORY_LIMIT, TARGET_RATIO,
    memory::{CallMemory, Memory},
    s3::{Boto3Run, S3Phase},
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
    pub s3: Option<S3Phase>,
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
            s3: None,
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
        let s3 = self.s3.as_ref().is_none_or(|s| s.pass);
        self.pass = memory && throughput && s3;
    }

    /// A failure, not a miss: calls failed or a server did not stop cleanly.
    pub fn failed(&self) -> bool {
        self.stop_error.is_some()
            || self.small.as_ref().is_some_and(|s| s.errors() > 0)
            || self.s3.as_ref().is_some_and(S3Phase::failed)
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
        if let Some(s) = &self.s3 {
            s3_table(&mut out, s);
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
        if let Some(s) = &self.s3 {
            let ratios: Vec<String> = s
                .ratios
                .iter()
                .map(|r| format!("{} {:.2}x", r.phase, r.ratio))
                .collect();
            lines.push(format!(
                "S3 boto3 keyhold/moto {} {} (target >= {:.0}x)",
                ratios.join(", "),
                verdict(s.pass),
                s.target_ratio
            ));
            if let Some(sdk) = &s.sdk {
                lines.push(format!(
                    "S3 SDK / gRPC: PUT {:.1}%, GET {:.1}% (no target)",
                    sdk.put_ratio * 100.0,
                    sdk.get_ratio * 100.0
                ));
            }
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
    let loads = [
        &s.sink,
        &s.put,
        &s.source,
        &s.get,
        &s.get_under_policy,
        &s.put_sse_s3,
        &s.get_sse_s3,
    ];
    for load in loads {
        small_row(out, load);
    }
    let _ = writeln!(
        out,
        "PUT / Sink: {:.1}%; GET / Source: {:.1}% (reported, no target); GET under a 20-statement bucket policy / GET: {:.1}% (target: at least 95%)",
        s.put_ratio * 100.0,
        s.get_ratio * 100.0,
        s.policy_get_ratio * 100.0
    );
    for load in loads {
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

fn s3_table(out: &mut String, s: &S3Phase) {
    let k = &s.keyhold;
    let _ = writeln!(
        out,
        "\nS3 endpoint, boto3 {} (Python {}), {} threads, a client each, path-style, no retries: keyhold {} (SSE-KMS {}) and moto {} (SSE-KMS {}); machine {:.0}% / {:.0}% busy just before",
        k.boto3,
        k.python,
        k.threads,
        s.s3_endpoint,
        k.kms_key_id.as_deref().unwrap_or("-"),
        s.moto_endpoint,
        s.moto.kms_key_id.as_deref().unwrap_or("-"),
        k.machine_busy_before * 100.0,
        s.moto.machine_busy_before * 100.0
    );
    let _ = writeln!(
        out,
        "| phase | server | ops/s | MiB/s | p50 ms | p99 ms | max ms | CPU ms per op: client | server | kms-svc | postgres | rest | busy cores |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (index, phase) in k.phases.iter().enumerate() {
        boto3_row(out, k, index, "object-svc");
        if let Some(m) = s.moto.phases.iter().position(|m| m.phase == phase.phase) {
            boto3_row(out, &s.moto, m, "moto");
        }
    }
    let _ = writeln!(
        out,
        "| phase | keyhold ops/s | moto ops/s | keyhold / moto | target >= {:.0}x | client bound ops/s (1 core / client CPU per op) | client bound / moto |",
        s.target_ratio
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|---:|---:|");
    let verdict = |pass: bool| if pass { "PASS" } else { "FAIL" };
    for r in &s.ratios {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.2}x | {} | {:.0} | {:.2}x |",
            r.phase,
            r.keyhold_ops_s,
            r.moto_ops_s,
            r.ratio,
            verdict(r.pass),
            r.client_bound_ops_s,
            r.client_bound_ops_s / r.moto_ops_s.max(1e-9)
        );
    }
    for run in [&s.keyhold, &s.moto] {
        if let Some(error) = &run.error {
            let _ = writeln!(out, "boto3 against {} FAILED: {error}", run.label);
        }
    }
    if let Some(sdk) = &s.sdk {
        let _ = writeln!(
            out,
            "\nS3 endpoint, AWS SDK for Rust: one {:.0} MiB SSE-KMS object at a time, 1 warm-up + {} rounds, each gRPC PUT, S3 PUT, gRPC GET, S3 GET; S3 PUT body: {}",
            mib(sdk.object_bytes),
            sdk.rounds,
            sdk.put_body
        );
        let _ = writeln!(
            out,
            "| call | MiB/s | rounds MiB/s | bytes/message | CPU ms per MiB: object-svc | kms-svc | bench | postgres | rest |"
        );
        let _ = writeln!(out, "|---|---:|---|---:|---:|---:|---:|---:|---:|");
        for side in [&sdk.grpc_put, &sdk.s3_put, &sdk.grpc_get, &sdk.s3_get] {
            throughput_row(out, side);
        }
        let peak = |p: Option<u64>| p.map_or_else(|| "-".to_owned(), |p| format!("{:.1}", mib(p)));
        let [a, b, c, d] = sdk.peak_above_before;
        let _ = writeln!(
            out,
            "S3 PUT / gRPC PUT: {:.1}%; S3 GET / gRPC GET: {:.1}% (no target). object-svc VmHWM above VmRSS before the call, warm-up round, MiB: gRPC PUT {}, S3 PUT {}, gRPC GET {}, S3 GET {}",
            sdk.put_ratio * 100.0,
            sdk.get_ratio * 100.0,
            peak(a),
            peak(b),
            peak(c),
            peak(d)
        );
    }
    if let Some(error) = &s.sdk_error {
        let _ = writeln!(out, "AWS SDK for Rust part FAILED: {error}");
    }
}

fn boto3_row(out: &mut String, run: &Boto3Run, index: usize, server: &str) {
    let p = &run.phases[index];
    let ms = |name: &str| {
        p.cpu_ms_per_op(name)
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
    };
    let _ = writeln!(
        out,
        "| {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {:.2} | {:.2} |",
        p.phase,
        run.label,
        p.ops_per_s,
        p.mib_per_s,
        p.p50_ms,
        p.p99_ms,
        p.max_ms,
        ms("client"),
        ms(server),
        ms("kms-svc"),
        ms("postgres"),
        p.rest_ms_per_op(),
        p.busy_cores()
    );
}
