//! The gRPC adapter: convert the message, call the domain, convert back. Rules live in
//! the domain, statuses in error.rs. The platform stack has already authenticated the
//! caller (IngestEvents: service principals only) and records LookupEvents and
//! TailEvents calls.

use std::sync::Arc;

use keyhold_platform::{Caller, telemetry};
use keyhold_proto::audit::v1::{self as pb, audit_service_server::AuditService};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use crate::{
    access,
    domain::{Audit, LookupInput, TailFilter},
    record::AuditEvent,
};

pub struct AuditGrpc {
    audit: Arc<Audit>,
    /// Ends open streams on shutdown, so that draining does not wait for them.
    shutdown: CancellationToken,
}

impl AuditGrpc {
    pub fn new(audit: Arc<Audit>, shutdown: CancellationToken) -> Self {
        AuditGrpc { audit, shutdown }
    }
}

type GrpcResult<T> = Result<Response<T>, Status>;

fn require_caller<T>(request: &Request<T>) -> Result<&Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .ok_or_else(|| Status::unauthenticated(keyhold_platform::error::UNRECOGNIZED_CLIENT))
}

/// The caller, if its identity policy lets it read the trail.
fn require_reader<T>(request: &Request<T>) -> Result<(), Status> {
    Ok(access::check_read(require_caller(request)?)?)
}

pub fn event_of(event: &AuditEvent) -> pb::Event {
    pb::Event {
        event_id: event.event_id.to_string(),
        event_name: event.event_name.clone(),
        read_only: event.read_only.to_string(),
        access_key_id: event.access_key_id.clone().unwrap_or_default(),
        event_time: event.event_time_text(),
        event_source: event.event_source.clone(),
        username: event.username.clone().unwrap_or_default(),
        resources: event
            .resources
            .iter()
            .map(|r| pb::Resource {
                resource_type: r.resource_type.clone(),
                resource_name: r.arn.clone(),
            })
            .collect(),
        cloud_trail_event: event.cloud_trail_event.clone(),
    }
}

#[tonic::async_trait]
impl AuditService for AuditGrpc {
    type IngestEventsStream = ReceiverStream<Result<pb::IngestEventsResponse, Status>>;
    type TailEventsStream = ReceiverStream<Result<pb::TailEventsResponse, Status>>;

    async fn ingest_events(
        &self,
        request: Request<Streaming<pb::IngestEventsRequest>>,
    ) -> GrpcResult<Self::IngestEventsStream> {
        require_caller(&request)?;
        let mut batches = request.into_inner();
        let (replies, stream) = mpsc::channel(16);
        let audit = self.audit.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                // A batch in progress completes and is acknowledged; on shutdown the
                // stream then ends and the emitter reconnects elsewhere.
                let next = tokio::select! {
                    next = batches.message() => next,
                    () = shutdown.cancelled() => break,
                    () = replies.closed() => break,
                };
                let batch = match next {
                    Ok(Some(batch)) => batch,
                    Ok(None) => break,
                    Err(status) => {
                        // Said back to the emitter: a batch over the message limit
                        // (OUT_OF_RANGE) is one it must not send again as it is.
                        tracing::warn!(code = ?status.code(), error = %status.message(), "an ingest stream broke");
                        let _ = replies.send(Err(status)).await;
                        break;
                    }
                };
                // Each record of a sampled call gets a span in its call's trace,
                // lasting as long as the batch takes to store.
                let spans: Vec<tracing::Span> = batch
                    .records
                    .iter()
                    .filter_map(|r| {
                        telemetry::child_of_traceparent(&r.traceparent, "audit-svc store record")
                    })
                    .collect();
                let records = batch
                    .records
                    .into_iter()
                    .map(|r| (r.event_id, r.cloud_trail_event))
                    .collect();
                let reply = audit
                    .ingest(records)
                    .await
                    .map(|ingested| {
                        for rejected in &ingested.rejected {
                            tracing::warn!(event_id = %rejected.event_id, reason = %rejected.reason, "a record refused");
                        }
                        pb::IngestEventsResponse {
                            acknowledged_sequence: batch.batch_sequence,
                            stored: ingested.stored,
                            rejected: ingested
                                .rejected
                                .into_iter()
                                .map(|r| pb::RejectedRecord {
                                    event_id: r.event_id,
                                    reason: r.reason,
                                })
                                .collect(),
                        }
                    })
                    .map_err(Status::from);
                drop(spans);
                let failed = reply.is_err();
                if replies.send(reply).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(stream)))
    }

    async fn lookup_events(
        &self,
        request: Request<pb::LookupEventsRequest>,
    ) -> GrpcResult<pb::LookupEventsResponse> {
        require_reader(&request)?;
        let req = request.into_inner();
        let input = LookupInput {
            attributes: req
                .lookup_attributes
                .into_iter()
                .map(|a| (a.attribute_key, a.attribute_value))
                .collect(),
            start_time: req.start_time,
            end_time: req.end_time,
            event_category: req.event_category,
            max_results: req.max_results,
            next_token: req.next_token,
        };
        let page = self.audit.lookup(input).await?;
        Ok(Response::new(pb::LookupEventsResponse {
            events: page.events.iter().map(event_of).collect(),
            next_token: page.next_token.unwrap_or_default(),
        }))
    }

    async fn tail_events(
        &self,
        request: Request<pb::TailEventsRequest>,
    ) -> GrpcResult<Self::TailEventsStream> {
        require_reader(&request)?;
        let req = request.into_inner();
        let filter = TailFilter::parse(
            req.lookup_attribute
                .map(|a| (a.attribute_key, a.attribute_value)),
            &req.event_category,
        )?;
        let mut events = self.audit.subscribe();
        let (sender, stream) = mpsc::channel(256);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    next = events.recv() => next,
                    () = shutdown.cancelled() => break,
                    () = sender.closed() => break,
                };
                match next {
                    Ok(event) if filter.matches(&event) => {
                        let reply = pb::TailEventsResponse {
                            event: Some(event_of(&event)),
                        };
                        if sender.send(Ok(reply)).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            missed,
                            "a TailEvents subscriber fell behind and missed events"
                        );
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(stream)))
    }
}
