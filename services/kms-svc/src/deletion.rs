//! Keys past their waiting period are deleted by a background sweep, their material
//! destroyed with them (the store cascades).

use std::{sync::Arc, time::Duration};

use keyhold_platform::periodic;
use tokio_util::sync::CancellationToken;

use crate::domain::Kms;

pub async fn sweep_until(kms: Arc<Kms>, every: Duration, shutdown: CancellationToken) {
    periodic::every(every, shutdown, || async {
        match kms.delete_expired_keys().await {
            Ok(deleted) if deleted.is_empty() => {}
            Ok(deleted) => {
                tracing::info!(count = deleted.len(), keys = ?deleted, "deleted keys past their deletion date")
            }
            // The next tick retries; a lost database recovers on its own.
            Err(error) => tracing::warn!(%error, "deletion sweep failed"),
        }
    })
    .await;
}
