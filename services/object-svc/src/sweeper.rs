//! Blobs nothing references (replaced, deleted, or left by a writer that crashed
//! mid-PUT) are removed by a background sweep.

use std::{sync::Arc, time::Duration};

use keyhold_platform::periodic;
use tokio_util::sync::CancellationToken;

use crate::domain::Objects;

pub async fn sweep_until(
    objects: Arc<Objects>,
    every: Duration,
    abandoned_after: Duration,
    replaced_grace: Duration,
    shutdown: CancellationToken,
) {
    periodic::every(every, shutdown, || async {
        let now = chrono::Utc::now();
        let before =
            |age: Duration| now - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
        match objects
            .sweep_blobs(before(abandoned_after), before(replaced_grace))
            .await
        {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed unreferenced blobs"),
            // The next tick retries; a lost database recovers on its own.
            Err(error) => tracing::warn!(%error, "blob sweep failed"),
        }
    })
    .await;
}
