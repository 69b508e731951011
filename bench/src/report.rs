//! The figures of one run, as a table for people and as JSON for scripts.

use std::{fmt::Write as _, time::Duration};

use serde::Serialize;

use crate::load::Outcome;

/// GenerateDataKey and Decrypt must each reach this share of the ceiling's req/s.
pub const TARGET_RATIO: f64 = 0.5;
/// GenerateDataKey over the AWS JSON protocol against its gRPC rate (issue 17).
pub const AWS_JSON_TARGET: f64 = 0.5;

#[derive(Debug, Serialize)]
pub struct Report {
    pub endpoint: String,
    /// Where the spawned kms-svc wrote its stdout and stderr.
    pub kms_svc_log: Option<String>,
    pub key_arn: String,
    pub concurrency: u64,
    pub connections: u64,
    pub warmup_seconds: u64,
    pub seconds: u64,
    /// The mean of the two health phases' req/s.
    pub ceiling_req_per_s: f64,
    pub target_ratio: f64,
    pub rounds: u32,
    /// What the target is judged on: each call's median ratio over the rounds.
    pub median_ratios: MedianRatios,
    pub phases: Vec<Phase>,
    pub errors: u64,
    pub target_met: bool,
    /// Why the spawned kms-svc did not stop cleanly, if it did not.
    pub kms_svc_stop_error: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct MedianRatios {
    pub generate_data_key: f64,
    pub decrypt: f64,
    /// With --aws-json: GenerateDataKey over the AWS JSON protocol against gRPC's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_json_to_grpc: Option<f64>,
}

/// The median of the `id` phases' ratios to their ceilings (0 when there are none).
pub fn median_ratio(phases: &[Phase], id: &str) -> f64 {
    median(
        phases
            .iter()
            .filter(|p| p.id == id)
            .filter_map(|p| p.ratio_to_ceiling)
            .collect(),
    )
}

/// The median of `values` (0 when there are none).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[derive(Debug, Serialize)]
pub struct Phase {
    /// Stable, for scripts: health_start, generate_data_key, decrypt, health (between
    /// rounds), health_end.
    pub id: &'static str,
    pub name: &'static str,
    /// With `--rounds` above 1: which round (the first health phase is round 0).
    pub round: Option<u32>,
    pub requests: u64,
    pub req_per_s: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// For GenerateDataKey and Decrypt only.
    pub ratio_to_ceiling: Option<f64>,
    pub target_met: Option<bool>,
    pub cpu: CpuPerRequest,
}

/// CPU microseconds per counted request, by process, over the measured window.
#[derive(Debug, Serialize)]
pub struct CpuPerRequest {
    pub kms_svc_us: Option<f64>,
    pub loadgen_us: Option<f64>,
    /// The backends of kms-svc's database.
    pub postgres_us: Option<f64>,
    /// Busy time of everything else on the machine: near zero on a clean run.
    pub rest_us: Option<f64>,
    /// Average busy cores over the window (2.0 is a saturated 2-core machine).
    pub machine_busy_cores: Option<f64>,
    /// `rest` as a share of the machine's busy time.
    pub rest_share: Option<f64>,
}

/// Above this share of the machine used by other processes, a phase is flagged noisy.
const NOISY_SHARE: f64 = 0.05;

impl Phase {
    pub fn new(id: &'static str, name: &'static str, outcome: &Outcome) -> Phase {
        let requests = outcome.requests;
        let per_request = |time: Option<Duration>| {
            time.filter(|_| requests > 0)
                .map(|t| t.as_secs_f64() * 1e6 / requests as f64)
        };
        Phase {
            id,
            name,
            round: None,
            requests,
            req_per_s: requests as f64 / outcome.window.as_secs_f64(),
            p50_us: outcome.latency.value_at_quantile(0.5),
            p99_us: outcome.latency.value_at_quantile(0.99),
            max_us: outcome.latency.max(),
            errors: outcome.errors,
            first_error: outcome.first_error.clone(),
            ratio_to_ceiling: None,
            target_met: None,
            cpu: CpuPerRequest {
                kms_svc_us: per_request(outcome.cpu.server),
                loadgen_us: per_request(outcome.cpu.loadgen),
                postgres_us: per_request(outcome.cpu.postgres),
                rest_us: per_request(outcome.cpu.rest),
                machine_busy_cores: outcome
                    .cpu
                    .machine
                    .map(|m| m.as_secs_f64() / outcome.window.as_secs_f64()),
                rest_share: match (outcome.cpu.rest, outcome.cpu.machine) {
                    (Some(rest), Some(machine)) if !machine.is_zero() => {
                        Some(rest.as_secs_f64() / machine.as_secs_f64())
                    }
                    _ => None,
                },
            },
        }
    }

    /// Numbers the phase when there is more than one round.
    pub fn in_round(mut self, round: u32, rounds: u32) -> Phase {
        self.round = (rounds > 1).then_some(round);
        self
    }

    fn label(&self) -> String {
        match self.round {
            Some(round) if round > 0 => format!("{} #{round}", self.name),
            _ => self.name.to_owned(),
        }
    }

    pub fn against(mut self, ceiling: f64) -> Phase {
        let ratio = if ceiling > 0.0 {
            self.req_per_s / ceiling
        } else {
            0.0
        };
        self.ratio_to_ceiling = Some(ratio);
        self.target_met = Some(ratio >= TARGET_RATIO);
        self
    }
}

impl Report {
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "keyhold-loadgen: {} in flight over {} connection(s); each phase {} s warm-up + {} s measured",
            self.concurrency, self.connections, self.warmup_seconds, self.seconds
        );
        let _ = writeln!(out, "endpoint {}", self.endpoint);
        if let Some(log) = &self.kms_svc_log {
            let _ = writeln!(out, "spawned kms-svc log: {log}");
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<22} {:>10} {:>10} {:>10} {:>7} {:>11}  target",
            "phase", "req/s", "p50", "p99", "errors", "of ceiling"
        );
        for phase in &self.phases {
            let ratio = phase
                .ratio_to_ceiling
                .map(|r| format!("{:.1}%", r * 100.0))
                .unwrap_or_default();
            let verdict = match phase.target_met {
                Some(true) => format!("PASS (>= {:.0}%)", TARGET_RATIO * 100.0),
                Some(false) => format!("FAIL (< {:.0}%)", TARGET_RATIO * 100.0),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "{:<22} {:>10.0} {:>10} {:>10} {:>7} {:>11}  {verdict}",
                phase.label(),
                phase.req_per_s,
                millis(phase.p50_us),
                millis(phase.p99_us),
                phase.errors,
                ratio
            );
        }
        let _ = writeln!(
            out,
            "{:<22} {:>10.0}",
            "ceiling (mean)", self.ceiling_req_per_s
        );
        if self.rounds > 1 {
            let verdict = if self.target_met { "PASS" } else { "FAIL" };
            let _ = writeln!(
                out,
                "median of {} rounds: GenerateDataKey {:.1}%, Decrypt {:.1}% of the ceiling around each: {verdict} (target >= {:.0}% each)",
                self.rounds,
                self.median_ratios.generate_data_key * 100.0,
                self.median_ratios.decrypt * 100.0,
                TARGET_RATIO * 100.0
            );
        }
        if let Some(ratio) = self.median_ratios.aws_json_to_grpc {
            let verdict = if ratio >= AWS_JSON_TARGET {
                "PASS"
            } else {
                "FAIL"
            };
            let _ = writeln!(
                out,
                "GenerateDataKey over the AWS JSON protocol: {:.1}% of its gRPC rate (median of the rounds): {verdict} (target >= {:.0}%)",
                ratio * 100.0,
                AWS_JSON_TARGET * 100.0
            );
        }

        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<22} {:>10} {:>10} {:>10} {:>10} {:>11}",
            "CPU µs per request", "kms-svc", "postgres", "loadgen", "rest", "busy cores"
        );
        for phase in &self.phases {
            let _ = writeln!(
                out,
                "{:<22} {:>10} {:>10} {:>10} {:>10} {:>11}",
                phase.label(),
                figure(phase.cpu.kms_svc_us, 1),
                figure(phase.cpu.postgres_us, 1),
                figure(phase.cpu.loadgen_us, 1),
                figure(phase.cpu.rest_us, 1),
                figure(phase.cpu.machine_busy_cores, 2)
            );
        }

        for phase in &self.phases {
            if let Some(share) = phase.cpu.rest_share.filter(|&s| s > NOISY_SHARE) {
                let _ = writeln!(
                    out,
                    "\nnoisy: other processes used {:.0}% of the machine's busy time during {}",
                    share * 100.0,
                    phase.label()
                );
            }
        }
        if let Some(error) = &self.kms_svc_stop_error {
            let _ = writeln!(out, "\nkms-svc did not stop cleanly: {error}");
        }
        for phase in self.phases.iter().filter(|p| p.errors > 0) {
            let _ = writeln!(
                out,
                "\n{}: {} error(s), the first: {}",
                phase.label(),
                phase.errors,
                phase.first_error.as_deref().unwrap_or("?")
            );
        }
        out
    }
}

fn millis(micros: u64) -> String {
    format!("{:.2} ms", micros as f64 / 1000.0)
}

fn figure(value: Option<f64>, decimals: usize) -> String {
    value
        .map(|v| format!("{v:.decimals$}"))
        .unwrap_or_else(|| "-".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(name: &'static str, req_per_s: f64) -> Phase {
        Phase {
            id: name,
            name,
            round: None,
            requests: 0,
            req_per_s,
            p50_us: 900,
            p99_us: 4_100,
            max_us: 9_000,
            errors: 0,
            first_error: None,
            ratio_to_ceiling: None,
            target_met: None,
            cpu: CpuPerRequest {
                kms_svc_us: None,
                postgres_us: None,
                loadgen_us: None,
                rest_us: None,
                machine_busy_cores: None,
                rest_share: None,
            },
        }
    }

    #[test]
    fn half_the_ceiling_meets_the_target_and_less_does_not() {
        assert_eq!(
            phase("GenerateDataKey", 25_000.0)
                .against(50_000.0)
                .target_met,
            Some(true)
        );
        let short = phase("Decrypt", 24_999.0).against(50_000.0);
        assert_eq!(short.target_met, Some(false));
        assert!((short.ratio_to_ceiling.unwrap() - 0.49998).abs() < 1e-9);
    }

    #[test]
    fn the_median_ratio_is_the_middle_round_or_the_mean_of_the_two_middle_ones() {
        let rounds = |ratios: &[f64]| -> Vec<Phase> {
            ratios
                .iter()
                .map(|r| phase("decrypt", r * 10_000.0).against(10_000.0))
                .collect()
        };
        assert!((median_ratio(&rounds(&[0.7, 0.4, 0.5]), "decrypt") - 0.5).abs() < 1e-9);
        assert!((median_ratio(&rounds(&[0.4, 0.6]), "decrypt") - 0.5).abs() < 1e-9);
        assert_eq!(median_ratio(&rounds(&[0.4]), "generate_data_key"), 0.0);
    }

    #[test]
    fn the_table_shows_each_phase_and_the_verdicts() {
        let report = Report {
            endpoint: "http://127.0.0.1:1".into(),
            kms_svc_log: Some("/tmp/x/kms-svc.log".into()),
            key_arn: String::new(),
            concurrency: 64,
            connections: 4,
            warmup_seconds: 2,
            seconds: 10,
            ceiling_req_per_s: 50_000.0,
            target_ratio: TARGET_RATIO,
            rounds: 1,
            median_ratios: MedianRatios {
                generate_data_key: 0.6,
                decrypt: 0.2,
                aws_json_to_grpc: None,
            },
            phases: vec![
                phase("health (start)", 50_000.0),
                phase("GenerateDataKey", 30_000.0).against(50_000.0),
                phase("Decrypt", 10_000.0).against(50_000.0),
            ],
            errors: 0,
            target_met: false,
            kms_svc_stop_error: None,
        };
        let table = report.table();
        assert!(table.contains("/tmp/x/kms-svc.log"), "{table}");
        assert!(table.contains("60.0%") && table.contains("PASS"), "{table}");
        assert!(table.contains("20.0%") && table.contains("FAIL"), "{table}");
        assert!(
            table.contains("0.90 ms") && table.contains("4.10 ms"),
            "{table}"
        );
    }
}
