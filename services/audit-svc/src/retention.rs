//! Retention: events older than the window go by whole day partitions, from a
//! background task.

use std::{sync::Arc, time::Duration};

use chrono::{Days, NaiveDate, Utc};
use keyhold_platform::periodic;
use tokio_util::sync::CancellationToken;

use crate::{domain::Audit, error::AuditResult};

/// Sweeps at start and then every `every` until `shutdown`.
pub async fn sweep_until(
    audit: Arc<Audit>,
    retention_days: u32,
    every: Duration,
    shutdown: CancellationToken,
) {
    periodic::every(every, shutdown, || async {
        match sweep_once(&audit, retention_days).await {
            Ok(days) if days.is_empty() => {}
            Ok(days) => tracing::info!(?days, "dropped the events of days past retention"),
            Err(error) => tracing::warn!(error = %error, "retention sweep failed; next time"),
        }
    })
    .await;
}

/// Drops every day partition that ends at or before now minus `retention_days`.
pub async fn sweep_once(audit: &Audit, retention_days: u32) -> AuditResult<Vec<NaiveDate>> {
    let cutoff = Utc::now()
        .checked_sub_days(Days::new(u64::from(retention_days)))
        .unwrap_or_else(Utc::now);
    audit.store().drop_partitions_before(cutoff).await
}
