//! One phase: `concurrency` tasks over the channels, each making one call at a time,
//! a warm-up that is not counted, then a measured window.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tonic::transport::Channel;

use crate::{
    cpu,
    fixture::Fixture,
    progress::Progress,
    workload::{Kind, Worker},
};

pub struct Settings {
    pub concurrency: u64,
    pub warmup: Duration,
    pub measure: Duration,
    /// Processes whose CPU time each phase reports.
    pub watched: cpu::Watched,
    pub progress: bool,
}

pub struct Outcome {
    /// Calls that completed, successfully, inside the measured window.
    pub requests: u64,
    pub window: Duration,
    /// Microseconds, of the calls counted in `requests`.
    pub latency: Histogram<u64>,
    /// Failed calls over the whole phase, warm-up included: any is a problem.
    pub errors: u64,
    pub first_error: Option<String>,
    pub cpu: cpu::Usage,
}

struct TaskOutcome {
    requests: u64,
    latency: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// How long calls still in flight when the window closes may take to finish.
const STRAGGLER_GRACE: Duration = Duration::from_secs(30);

fn histogram() -> Histogram<u64> {
    // 1 µs to 60 s at 3 significant digits: a stalled call still lands in range.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

pub async fn run(
    label: &str,
    kind: Kind,
    channels: &[Channel],
    aws: Option<&aws_sdk_kms::Client>,
    fixture: &Fixture,
    settings: &Settings,
) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let window_start = start + settings.warmup;
    let window_end = window_start + settings.measure;

    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..settings.concurrency {
        let channel = channels[index as usize % channels.len()].clone();
        let worker = Worker::new(kind, channel, aws, fixture);
        tasks.spawn(drive(worker, window_start, window_end));
    }

    let progress = Progress::new(settings.progress, label, settings.warmup, settings.measure);
    let sample_at = |at: Instant| async move {
        tokio::time::sleep_until(at.into()).await;
        cpu::Sample::take(&settings.watched)
    };
    let (before, after) = tokio::join!(sample_at(window_start), async {
        let ticker = progress.tick_until(window_end);
        let after = sample_at(window_end).await;
        ticker.await;
        after
    });
    progress.finish();

    let mut outcome = Outcome {
        requests: 0,
        window: settings.measure,
        latency: histogram(),
        errors: 0,
        first_error: None,
        cpu: before.until(&after),
    };
    // A call the server never answers must not hang the run; the phase fails instead.
    let deadline = window_end + STRAGGLER_GRACE;
    loop {
        let joined = match tokio::time::timeout_at(deadline.into(), tasks.join_next()).await {
            Ok(Some(joined)) => joined,
            Ok(None) => break,
            Err(_) => {
                outcome.errors += tasks.len() as u64;
                outcome.first_error.get_or_insert_with(|| {
                    format!(
                        "no answer {} s after the window closed",
                        STRAGGLER_GRACE.as_secs()
                    )
                });
                tasks.abort_all();
                break;
            }
        };
        let task = joined?;
        outcome.requests += task.requests;
        outcome.latency.add(&task.latency)?;
        outcome.errors += task.errors;
        if outcome.first_error.is_none() {
            outcome.first_error = task.first_error;
        }
    }
    Ok(outcome)
}

/// Calls until the window closes; a call counts when it completes inside the window,
/// so calls in flight at either edge neither inflate nor deflate the rate.
async fn drive(mut worker: Worker, window_start: Instant, window_end: Instant) -> TaskOutcome {
    let mut outcome = TaskOutcome {
        requests: 0,
        latency: histogram(),
        errors: 0,
        first_error: None,
    };
    loop {
        let sent = Instant::now();
        if sent >= window_end {
            return outcome;
        }
        let result = worker.call().await;
        let done = Instant::now();
        match result {
            Ok(()) if done >= window_start && done < window_end => {
                outcome.requests += 1;
                let micros =
                    u64::try_from(done.duration_since(sent).as_micros()).unwrap_or(u64::MAX);
                outcome.latency.saturating_record(micros.max(1));
            }
            Ok(()) => {}
            Err(error) => {
                outcome.errors += 1;
                outcome.first_error.get_or_insert(error);
            }
        }
    }
}
