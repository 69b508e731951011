//! Background work that runs at start and then at a fixed period until shutdown:
//! kms-svc's key deletion, object-svc's blob sweeper, audit-svc's retention.

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
}
