//! A progress bar per phase on stderr, only for a person watching a terminal.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    warmup: Duration,
}

impl Progress {
    pub fn new(enabled: bool, label: &str, warmup: Duration, measure: Duration) -> Progress {
        let bar = enabled.then(|| {
            let total = (warmup + measure).as_millis() as u64;
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{prefix:>28} [{bar:30}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(label.to_owned());
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            warmup,
        }
    }

    /// Moves the bar along until `end`; returns at once when there is no bar.
    pub async fn tick_until(&self, end: Instant) {
        let Some(bar) = &self.bar else { return };
        loop {
            let elapsed = self.started.elapsed();
            bar.set_position(elapsed.as_millis() as u64);
            bar.set_message(if elapsed < self.warmup {
                "warm-up"
            } else {
                "measuring"
            });
            if Instant::now() >= end {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
