//! Background work that runs at start and then at a fixed period until shutdown:
//! kms-svc's key deletion, object-svc's blob sweeper, audit-svc's retention and trail
//! delivery.

use std::{future::Future, time::Duration};

use tokio_util::sync::CancellationToken;

/// Runs `round` now and then every `every` until `shutdown`. A round that overruns
/// the period delays the next one rather than bunching rounds up. Each round reports
/// its own outcome: a failed round is retried at the next tick.
pub async fn every<F, Fut>(every: Duration, shutdown: CancellationToken, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        // A round under way finishes: the work is short and leaves no half state.
        round().await;
    }
}

/// Like [`every`], but a round that says it left work behind (returns true) is
/// followed at once by the next: under load, work that arrived during a round does
/// not also wait out a period.
pub async fn every_until_caught_up<F, Fut>(
    every: Duration,
    shutdown: CancellationToken,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep_until(next) => {}
        }
        let started = tokio::time::Instant::now();
        next = if round().await {
            tokio::time::Instant::now()
        } else {
            started + every
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn runs_at_start_then_every_period_until_shutdown() {
        let rounds = Arc::new(AtomicU32::new(0));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(every(Duration::from_secs(10), shutdown.clone(), {
            let rounds = rounds.clone();
            move || {
                let rounds = rounds.clone();
                async move {
                    rounds.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 3, "at 0 s, 10 s and 20 s");
        shutdown.cancel();
        task.await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 3, "none after shutdown");
    }

    #[tokio::test(start_paused = true)]
    async fn a_round_that_left_work_is_followed_at_once() {
        let rounds = Arc::new(AtomicU32::new(0));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(every_until_caught_up(
            Duration::from_secs(10),
            shutdown.clone(),
            {
                let rounds = rounds.clone();
                move || {
                    let rounds = rounds.clone();
                    async move {
                        // Each round takes a second; the first three leave work behind.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        rounds.fetch_add(1, Ordering::SeqCst) < 3
                    }
                }
            },
        ));
        tokio::time::sleep(Duration::from_millis(4_500)).await;
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            4,
            "rounds back to back while busy"
        );
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            5,
            "then one a period: at 13 s"
        );
        shutdown.cancel();
        task.await.unwrap();
    }
}
