//! The emitter's background task: one `IngestEvents` stream at a time, fed from the
//! spool first (older records, and replaying them frees the space `admit` watches),
//! then from the queue, with a few batches in flight.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::Duration,
};

use keyhold_proto::audit::v1::{
    AuditRecord, IngestEventsRequest, IngestEventsResponse,
    audit_service_client::AuditServiceClient,
};
use tokio::{
    sync::mpsc,
    time::{Instant, sleep_until},
};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Status, Streaming, metadata::AsciiMetadataValue, transport::Channel};

use super::{
    BATCH_MAX_BYTES, Record, Shared,
    dead_letter::DeadLetter,
    spool::{Replay, SpoolBatch},
};
use crate::{audit::MAX_RECORD_BYTES, auth::AUTHORIZATION_HEADER};

/// Unacknowledged batches per stream: enough to hide a round trip, few enough that a
/// broken stream leaves little to resend.
const WINDOW: usize = 4;
/// An audit-svc that holds the stream open but stops acknowledging is as good as
/// down; after this long its batches are spooled and the stream reopened.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) channel: Channel,
    pub(crate) authorization: Option<AsciiMetadataValue>,
    pub(crate) queue: mpsc::Receiver<Record>,
    pub(crate) batch_max: usize,
    pub(crate) linger: Duration,
    pub(crate) flush_timeout: Duration,
    /// Once the process is shutting down, spool files stay where they are (safe, and
    /// replayed at the next start); only the queue is worth delivering.
    pub(crate) shutdown: CancellationToken,
    pub(crate) finish: CancellationToken,
}

enum Origin {
    Queue,
    Spool { file: u64, end: u64 },
}

struct InFlight {
    seq: u64,
    records: Vec<Record>,
    origin: Origin,
    sent_at: Instant,
}

enum End {
    /// Finishing, and everything queued was acknowledged.
    Flushed,
    /// Finishing, and the flush timeout passed.
    OutOfTime,
    Broken(Status),
}

struct Session {
    tx: mpsc::Sender<IngestEventsRequest>,
    seq: u64,
    in_flight: VecDeque<InFlight>,
    /// Whether audit-svc answered at all, which resets the reconnect backoff.
    answered: bool,
}

impl Worker {
    pub(crate) async fn run(mut self) {
        let mut replay = Replay::default();
        let mut backoff = BACKOFF_MIN;
        let mut deadline = None;
        loop {
            let (end, mut session) = self.session(&mut replay, &mut deadline).await;
            if session.answered {
                backoff = BACKOFF_MIN;
            }
            let status = match end {
                End::Flushed => None,
                End::OutOfTime => {
                    tracing::warn!(
                        unacknowledged_batches = session.in_flight.len(),
                        "audit flush timed out; spooling what audit-svc has not acknowledged"
                    );
                    None
                }
                End::Broken(status) => Some(status),
            };
            let poisoned = status.as_ref().is_some_and(never_accepted);
            if poisoned
                && let Some(status) = &status
                && let Some(batch) = session.in_flight.pop_front()
            {
                self.set_aside(batch, status, &mut replay);
            }
            for batch in session.in_flight.drain(..) {
                // Batches read from the spool are still in their file.
                if let Origin::Queue = batch.origin {
                    self.shared.spill(&batch.records, false);
                }
            }
            replay.reset(&self.shared.spool);
            let Some(status) = status else { break };
            if deadline.is_some() {
                break;
            }
            if poisoned {
                continue;
            }
            log_broken(&status, backoff);
            if self.back_off(backoff).await {
                break;
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        self.spool_rest();
    }

    /// One stream, until it breaks or the flush is over.
    async fn session(
        &mut self,
        replay: &mut Replay,
        deadline: &mut Option<Instant>,
    ) -> (End, Session) {
        let mut client = AuditServiceClient::new(self.channel.clone());
        let (tx, rx) = mpsc::channel(WINDOW + 1);
        let mut session = Session {
            tx,
            seq: 0,
            in_flight: VecDeque::new(),
            answered: false,
        };
        let mut request = Request::new(ReceiverStream::new(rx));
        if let Some(authorization) = &self.authorization {
            request
                .metadata_mut()
                .insert(AUTHORIZATION_HEADER, authorization.clone());
        }
        // Batches go out before the response headers arrive: a server may wait for
        // the first batch before it answers.
        let call = client.ingest_events(request);
        tokio::pin!(call);
        let mut inbound: Option<Streaming<IngestEventsResponse>> = None;
        let mut queue_open = true;
        loop {
            if self.finish.is_cancelled() && deadline.is_none() {
                *deadline = Some(Instant::now() + self.flush_timeout);
                // Later records go straight to the spool, fsynced, by `record`.
                self.queue.close();
            }
            let finishing = deadline.is_some();
            if finishing && !queue_open && session.in_flight.is_empty() {
                return (End::Flushed, session);
            }
            if !finishing && !self.shutdown.is_cancelled() {
                while session.in_flight.len() < WINDOW {
                    if replay.is_idle() {
                        if !self.shared.spool.has_ready() {
                            break;
                        }
                        replay.add(self.shared.spool.take_ready());
                    }
                    let Some(SpoolBatch { file, records, end }) =
                        replay.next_batch(&self.shared.spool, self.batch_max)
                    else {
                        continue;
                    };
                    let records = self.within_limit(records);
                    if records.is_empty() {
                        replay.done(&self.shared.spool, file, end);
                        continue;
                    }
                    if !session.send(records, Origin::Spool { file, end }) {
                        return (End::Broken(stream_gone()), session);
                    }
                }
            }
            let room = session.in_flight.len() < WINDOW;
            let oldest = session.in_flight.front().map(|b| b.sent_at);
            tokio::select! {
                () = self.finish.cancelled(), if !finishing => {}
                answer = &mut call, if inbound.is_none() => match answer {
                    Ok(response) => {
                        session.answered = true;
                        inbound = Some(response.into_inner());
                    }
                    Err(status) => return (End::Broken(status), session),
                },
                message = next_message(&mut inbound) => match message {
                    Ok(Some(ack)) => {
                        session.answered = true;
                        self.acknowledge(&mut session, ack, replay);
                    }
                    Ok(None) => {
                        return (End::Broken(Status::unavailable("audit-svc closed the stream")), session);
                    }
                    Err(status) => return (End::Broken(status), session),
                },
                first = self.queue.recv(), if queue_open && room => match first {
                    Some(first) => {
                        let batch = self.gather_batch(first, self.linger).await;
                        let records = self.within_limit(batch);
                        if !records.is_empty() && !session.send(records, Origin::Queue) {
                            return (End::Broken(stream_gone()), session);
                        }
                    }
                    None => queue_open = false,
                },
                () = ack_due(oldest) => {
                    return (End::Broken(Status::deadline_exceeded(format!(
                        "audit-svc acknowledged nothing for {} s", ACK_TIMEOUT.as_secs()
                    ))), session);
                }
                () = until(*deadline) => return (End::OutOfTime, session),
            }
        }
    }

    /// The first record and whatever else is queued, up to a batch, waiting up to
    /// `linger` after the first record for the batch to fill, unless the emitter is
    /// asked to finish meanwhile. Acknowledgements wait meanwhile (at most `linger`);
    /// the records stay in the queue's order.
    async fn gather_batch(&mut self, first: Record, linger: Duration) -> Vec<Record> {
        let until = Instant::now() + linger;
        let mut batch = Batch::new(first);
        while !batch.is_full(self.batch_max) {
            let next = match self.queue.try_recv() {
                Ok(record) => Some(record),
                Err(_) if linger.is_zero() || self.finish.is_cancelled() => None,
                // A closed queue, the time up or `finish` end the wait; `recv` is
                // cancel-safe, so nothing is lost when it is abandoned.
                Err(_) => tokio::select! {
                    next = tokio::time::timeout_at(until, self.queue.recv()) => next.ok().flatten(),
                    () = self.finish.cancelled() => None,
                },
            };
            match next {
                Some(record) => batch.push(record),
                None => break,
            }
        }
        batch.records
    }

    /// Sets aside, before sending, records too large for audit-svc to take (from a
    /// spool written before records were bounded): they would fail every batch.
    fn within_limit(&self, records: Vec<Record>) -> Vec<Record> {
        if records.iter().all(|r| r.json.len() <= MAX_RECORD_BYTES) {
            return records;
        }
        let (sendable, oversized): (Vec<Record>, Vec<Record>) = records
            .into_iter()
            .partition(|r| r.json.len() <= MAX_RECORD_BYTES);
        let reason = format!("the record is over the limit of {MAX_RECORD_BYTES} bytes");
        self.shared
            .spool
            .dead_letters()
            .keep_records(&oversized, &reason);
        sendable
    }

    /// Completes the batches an acknowledgement covers, setting aside the records
    /// audit-svc refused in them.
    fn acknowledge(&self, session: &mut Session, ack: IngestEventsResponse, replay: &mut Replay) {
        let refused: HashMap<&str, &str> = ack
            .rejected
            .iter()
            .map(|r| (r.event_id.as_str(), r.reason.as_str()))
            .collect();
        while session
            .in_flight
            .front()
            .is_some_and(|b| b.seq <= ack.acknowledged_sequence)
        {
            let batch = session.in_flight.pop_front().expect("checked");
            if !refused.is_empty() {
                let letters: Vec<DeadLetter<'_>> = batch
                    .records
                    .iter()
                    .filter_map(|r| {
                        Some(DeadLetter {
                            event_id: &r.event_id,
                            reason: refused.get(r.event_id.as_str())?,
                            json: &r.json,
                        })
                    })
                    .collect();
                self.shared.spool.dead_letters().keep(&letters);
            }
            if let Origin::Spool { file, end } = batch.origin {
                replay.done(&self.shared.spool, file, end);
            }
        }
    }

    /// Sets aside a batch audit-svc refused whole for a reason no retry changes (the
    /// oldest unacknowledged one, since it answers in order): resending it would fail
    /// forever and hold up everything behind it.
    fn set_aside(&self, batch: InFlight, status: &Status, replay: &mut Replay) {
        let reason = format!("audit-svc refused the batch: {}", status.message());
        self.shared
            .spool
            .dead_letters()
            .keep_records(&batch.records, &reason);
        if let Origin::Spool { file, end } = batch.origin {
            replay.done(&self.shared.spool, file, end);
        }
    }

    /// Waits before reconnecting, spooling what is queued meanwhile so `record` keeps
    /// finding room. True when `finish` was called.
    async fn back_off(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                () = sleep_until(until) => return false,
                () = self.finish.cancelled() => return true,
                first = self.queue.recv() => match first {
                    Some(first) => {
                        let records = self.gather_batch(first, Duration::ZERO).await;
                        self.shared.spill(&records, false);
                    }
                    None => return true,
                },
            }
        }
    }

    /// The last step: everything still queued goes to the spool, durably.
    fn spool_rest(&mut self) {
        self.queue.close();
        let mut rest = Vec::new();
        while let Ok(record) = self.queue.try_recv() {
            rest.push(record);
        }
        let count = rest.len();
        for chunk in rest.chunks(self.batch_max) {
            self.shared.spill(chunk, false);
        }
        if let Err(e) = self.shared.spool.sync() {
            tracing::error!(error = %e, "cannot fsync the audit spool");
        }
        tracing::info!(
            spooled_now = count,
            spool_bytes = self.shared.spool.bytes(),
            "audit emitter flushed"
        );
    }
}

/// Records taken for one IngestEvents message.
struct Batch {
    records: Vec<Record>,
    bytes: usize,
}

impl Batch {
    fn new(first: Record) -> Self {
        Batch {
            bytes: first.json.len(),
            records: vec![first],
        }
    }

    fn push(&mut self, record: Record) {
        self.bytes += record.json.len();
        self.records.push(record);
    }

    fn is_full(&self, batch_max: usize) -> bool {
        self.records.len() >= batch_max || self.bytes >= BATCH_MAX_BYTES
    }
}

impl Session {
    /// False when the stream is gone; the batch is then in flight, to be spooled.
    fn send(&mut self, records: Vec<Record>, origin: Origin) -> bool {
        self.seq += 1;
        let request = IngestEventsRequest {
            batch_sequence: self.seq,
            records: records
                .iter()
                .map(|r| AuditRecord {
                    event_id: r.event_id.clone(),
                    cloud_trail_event: r.json.clone(),
                    traceparent: r.traceparent.clone().unwrap_or_default(),
                })
                .collect(),
        };
        self.in_flight.push_back(InFlight {
            seq: self.seq,
            records,
            origin,
            sent_at: Instant::now(),
        });
        // Never full: it holds at most the unacknowledged batches, fewer than its size.
        self.tx.try_send(request).is_ok()
    }
}

/// Whether a status that broke the stream says the oldest batch can never be taken:
/// invalid (an audit-svc that refuses whole batches), or over its message limit.
fn never_accepted(status: &Status) -> bool {
    matches!(status.code(), Code::InvalidArgument | Code::OutOfRange)
}

fn stream_gone() -> Status {
    Status::unavailable("the audit stream ended")
}

fn log_broken(status: &Status, backoff: Duration) {
    let retry_ms = backoff.as_millis() as u64;
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => tracing::error!(
            code = ?status.code(),
            error = %status.message(),
            retry_ms,
            "audit-svc refused the emitter's credentials (check KEYHOLD_AUDIT_ACCESS_KEY_ID); records are spooled meanwhile"
        ),
        _ => tracing::warn!(
            code = ?status.code(),
            error = %status.message(),
            retry_ms,
            "audit stream to audit-svc broken; records are spooled until it is back"
        ),
    }
}

async fn next_message(
    inbound: &mut Option<Streaming<IngestEventsResponse>>,
) -> Result<Option<IngestEventsResponse>, Status> {
    match inbound {
        Some(stream) => stream.message().await,
        None => std::future::pending().await,
    }
}

async fn ack_due(oldest: Option<Instant>) {
    match oldest {
        Some(sent_at) => sleep_until(sent_at + ACK_TIMEOUT).await,
        None => std::future::pending().await,
    }
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
