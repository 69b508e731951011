//! audit-svc's own calls (LookupEvents, TailEvents) become records in its own store,
//! through the same ingest path as every other service's. The stack's `record` must
//! not block a request: it queues, and one task writes the queue in batches.

use std::{sync::Arc, time::Duration};

use keyhold_platform::{AuditSink, AwsError, BoundedEvent};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

use crate::{domain::Audit, error::AuditError};

const QUEUE: usize = 10_000;
const BATCH: usize = 500;
/// A lost database is retried every this long, until it is back or we stop.
const RETRY: Duration = Duration::from_millis(500);

pub struct StoreSink {
    queue: mpsc::Sender<BoundedEvent>,
}

impl AuditSink for StoreSink {
    /// Like the emitter of the other services: while the queue is full (the database
    /// is away or slow), new calls are refused rather than left unrecorded.
    fn admit(&self) -> Result<(), AwsError> {
        if self.queue.capacity() == 0 {
            return Err(AwsError::unavailable());
        }
        Ok(())
    }

    fn deliver(&self, record: BoundedEvent) {
        match self.queue.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(record)) => {
                tracing::warn!(event_id = %record.event().event_id, "audit-svc's own record queue is full; a record is dropped");
            }
            Err(TrySendError::Closed(record)) => {
                tracing::warn!(event_id = %record.event().event_id, "audit-svc is stopping; a record of its own is dropped");
            }
        }
    }
}

/// The sink for the stack, and the queue [`write_until`] drains.
pub fn store_sink() -> (StoreSink, mpsc::Receiver<BoundedEvent>) {
    store_sink_holding(QUEUE)
}

fn store_sink_holding(records: usize) -> (StoreSink, mpsc::Receiver<BoundedEvent>) {
    let (queue, receiver) = mpsc::channel(records);
    (StoreSink { queue }, receiver)
}

/// Writes queued records until `stop`, then writes what is left and returns.
pub async fn write_until(
    audit: Arc<Audit>,
    mut records: mpsc::Receiver<BoundedEvent>,
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

async fn write(audit: &Audit, batch: Vec<BoundedEvent>, stop: &CancellationToken) {
    if batch.is_empty() {
        return;
    }
    let records: Vec<(String, String)> = batch
        .into_iter()
        .map(|record| {
            let (event, json) = record.into_parts();
            (event.event_id, json)
        })
        .collect();
    loop {
        match audit.ingest(records.clone()).await {
            Ok(ingested) => {
                for rejected in ingested.rejected {
                    tracing::error!(event_id = %rejected.event_id, reason = %rejected.reason, "a record of audit-svc's own is refused");
                }
                return;
            }
            // Meanwhile the queue fills and admit() refuses new calls.
            Err(AuditError::Unavailable) if !stop.is_cancelled() => tokio::time::sleep(RETRY).await,
            Err(error) => {
                tracing::error!(error = %error, records = records.len(), "audit-svc's own records are lost");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhold_platform::CloudTrailEvent;

    fn event() -> CloudTrailEvent {
        CloudTrailEvent {
            event_version: keyhold_platform::audit::EVENT_VERSION,
            user_identity: keyhold_platform::audit::UserIdentity {
                kind: "Root".into(),
                principal_id: None,
                arn: None,
                account_id: "000000000000".into(),
                access_key_id: None,
                user_name: None,
                invoked_by: None,
            },
            event_time: "2026-11-28T00:00:00Z".into(),
            event_source: "cloudtrail.amazonaws.com".into(),
            event_name: "LookupEvents".into(),
            aws_region: "us-east-1".into(),
            source_ip_address: "127.0.0.1".into(),
            user_agent: String::new(),
            error_code: None,
            error_message: None,
            request_parameters: serde_json::Value::Null,
            response_elements: serde_json::Value::Null,
            additional_event_data: None,
            request_id: "r".into(),
            event_id: uuid::Uuid::new_v4().to_string(),
            read_only: true,
            resources: Vec::new(),
            event_type: "AwsApiCall",
            management_event: true,
            recipient_account_id: "000000000000".into(),
            event_category: "Management",
            tls_details: None,
        }
    }

    #[test]
    fn a_full_queue_refuses_calls_instead_of_dropping_their_records() {
        let (sink, mut records) = store_sink_holding(1);
        assert!(sink.admit().is_ok());
        sink.record(event());
        let refused = sink.admit().unwrap_err();
        assert_eq!(refused.code, tonic::Code::Unavailable);
        assert!(records.try_recv().is_ok(), "the queued record is kept");
        assert!(sink.admit().is_ok(), "room again once the writer took it");
    }
}
