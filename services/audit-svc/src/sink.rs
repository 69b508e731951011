//! audit-svc's own calls (LookupEvents, TailEvents) become records in its own store,
//! through the same ingest path as every other service's. The stack's `record` must
//! not block a request: it queues, and one task writes the queue in batches.

use std::{sync::Arc, time::Duration};

use keyhold_platform::{AuditSink, CloudTrailEvent};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

use crate::{domain::Audit, error::AuditError};

const QUEUE: usize = 10_000;
const BATCH: usize = 500;
const ATTEMPTS: u32 = 5;

pub struct StoreSink {
    queue: mpsc::Sender<CloudTrailEvent>,
}

impl AuditSink for StoreSink {
    fn record(&self, event: CloudTrailEvent) {
        match self.queue.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(event)) => {
                tracing::warn!(event_id = %event.event_id, "audit-svc's own record queue is full; a record is dropped");
            }
            Err(TrySendError::Closed(event)) => {
                tracing::warn!(event_id = %event.event_id, "audit-svc is stopping; a record of its own is dropped");
            }
        }
    }
}

/// The sink for the stack, and the queue [`write_until`] drains.
pub fn store_sink() -> (StoreSink, mpsc::Receiver<CloudTrailEvent>) {
    let (queue, records) = mpsc::channel(QUEUE);
    (StoreSink { queue }, records)
}

/// Writes queued records until `stop`, then writes what is left and returns.
pub async fn write_until(
    audit: Arc<Audit>,
    mut records: mpsc::Receiver<CloudTrailEvent>,
    stop: CancellationToken,
) {
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        let stopping = tokio::select! {
            received = records.recv_many(&mut batch, BATCH) => received == 0,
            () = stop.cancelled() => true,
        };
        if stopping {
            while let Ok(record) = records.try_recv() {
                batch.push(record);
            }
        }
        write(&audit, batch, &stop).await;
        if stopping {
            return;
        }
    }
}

async fn write(audit: &Audit, batch: Vec<CloudTrailEvent>, stop: &CancellationToken) {
    if batch.is_empty() {
        return;
    }
    let records: Vec<(String, String)> = batch
        .iter()
        .filter_map(|event| match serde_json::to_string(event) {
            Ok(json) => Some((event.event_id.clone(), json)),
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize an audit record");
                None
            }
        })
        .collect();
    for attempt in 1..=ATTEMPTS {
        match audit.ingest(records.clone()).await {
            Ok(_) => return,
            Err(AuditError::Unavailable) if attempt < ATTEMPTS && !stop.is_cancelled() => {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
            Err(error) => {
                tracing::error!(error = %error, records = records.len(), "audit-svc's own records are lost");
                return;
            }
        }
    }
}
