//! Blobs nothing references (replaced, deleted, or left by a writer that crashed
//! mid-PUT) are removed by a background sweep.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::domain::Objects;

pub async fn sweep_until(
    objects: Arc<Objects>,
    every: Duration,
    abandoned_after: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(abandoned_after).unwrap_or(chrono::Duration::MAX);
        match objects.sweep_blobs(cutoff).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed unreferenced blobs"),
            // The next tick retries; a lost database recovers on its own.
            Err(error) => tracing::warn!(%error, "blob sweep failed"),
        }
    }
}
