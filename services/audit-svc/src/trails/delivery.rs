//! The delivery worker: for each trail with something to deliver, the events its
//! selectors pick, in the order they became durable, as gzip JSON log files
//! `{"Records":[...]}` at AWS's key layout, written through object-svc.
//!
//! Each event lands in exactly one log file per trail. A batch is the range of
//! positions after the trail's cursor; before its files are written, the batch's end
//! and the time its keys carry are recorded (`begin_batch`), and its object keys are
//! derived from the trail, the batch's start and that time. A crash or a failed PUT
//! leaves the batch recorded: the next round reads the same range and writes the
//! same keys again, overwriting whatever part was written. Only after every PUT do
//! the cursor move and the files get recorded, in one transaction.

use std::{collections::BTreeMap, io::Write, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use flate2::{Compression, write::GzEncoder};
use keyhold_platform::periodic;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::{
    Clock,
    digest_delivery::DigestDelivery,
    error::{TrailError, TrailResult},
    object_client::{Sse, TrailWriter},
    selectors::EventFacts,
    store::{DeliveredFile, Position, StoredEvent, TrailRow, TrailStore},
    trail_arn,
};

/// Events read per batch: one batch is at most one log file of each kind.
pub const DEFAULT_BATCH_EVENTS: i64 = 10_000;

/// The encryption context key CloudTrail adds to SSE-KMS log files.
const CLOUDTRAIL_CONTEXT: &str = "aws:cloudtrail:arn";

/// The two kinds of log files, each under its own folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    CloudTrail,
    Insight,
}

impl LogKind {
    pub fn folder(self) -> &'static str {
        match self {
            LogKind::CloudTrail => "CloudTrail",
            LogKind::Insight => "CloudTrail-Insight",
        }
    }
}

pub struct Delivery {
    store: TrailStore,
    writer: TrailWriter,
    clock: Arc<dyn Clock>,
    batch_events: i64,
    /// Digest files, written after each round's log files.
    digests: Option<DigestDelivery>,
}

/// The parts of a record the selectors need that have no column of their own.
#[derive(Deserialize)]
struct RecordShape<'a> {
    #[serde(rename = "recipientAccountId", borrow, default)]
    recipient_account_id: Option<&'a str>,
    #[serde(default, borrow)]
    resources: Vec<ResourceShape<'a>>,
    #[serde(rename = "insightDetails", borrow, default)]
    insight_details: Option<InsightShape<'a>>,
}

#[derive(Deserialize)]
struct ResourceShape<'a> {
    #[serde(rename = "ARN", borrow, default)]
    arn: &'a str,
    #[serde(rename = "type", borrow, default)]
    kind: &'a str,
}

#[derive(Deserialize)]
struct InsightShape<'a> {
    #[serde(rename = "insightType", borrow, default)]
    insight_type: &'a str,
}

/// Whether `trail` delivers `event`, and in which kind of file.
pub fn kind_for(trail: &TrailRow, event: &StoredEvent) -> Option<LogKind> {
    let shape: RecordShape<'_> = match serde_json::from_str(&event.json) {
        Ok(shape) => shape,
        Err(error) => {
            // Ingest validated it; a record that no longer parses is reported, not delivered.
            tracing::error!(error = %error, "a stored record does not parse; not delivered");
            return None;
        }
    };
    if shape
        .recipient_account_id
        .is_some_and(|account| account != trail.account_id)
    {
        return None;
    }
    if event.category == "Insight" {
        let insight_type = shape.insight_details.map(|d| d.insight_type)?;
        return trail
            .insight_types
            .iter()
            .any(|t| t == insight_type)
            .then_some(LogKind::Insight);
    }
    let facts = EventFacts {
        category: &event.category,
        source: &event.source,
        name: &event.name,
        read_only: event.read_only,
        resources: shape.resources.iter().map(|r| (r.kind, r.arn)).collect(),
    };
    trail
        .selectors
        .matches(&facts)
        .then_some(LogKind::CloudTrail)
}

/// `[prefix/]AWSLogs/<account>/<folder>/<region>/YYYY/MM/DD/<account>_<folder>_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz`
pub fn log_file_key(
    trail: &TrailRow,
    kind: LogKind,
    time: DateTime<Utc>,
    batch_start: Position,
) -> String {
    let folder = kind.folder();
    let account = &trail.account_id;
    let region = &trail.region;
    let arn = trail_arn(region, account, &trail.name);
    let unique = Sha256::digest(format!(
        "{arn}|{folder}|{}|{}",
        batch_start.xid, batch_start.seq
    ));
    let unique: String = unique[..8].iter().map(|b| format!("{b:02x}")).collect();
    let prefix = if trail.s3_key_prefix.is_empty() {
        String::new()
    } else {
        format!("{}/", trail.s3_key_prefix)
    };
    format!(
        "{prefix}AWSLogs/{account}/{folder}/{region}/{}/{account}_{folder}_{region}_{}_{unique}.json.gz",
        time.format("%Y/%m/%d"),
        time.format("%Y%m%dT%H%MZ"),
    )
}

/// A log file's JSON, `{"Records":[...]}`.
fn log_file_json(records: &[&StoredEvent]) -> String {
    let size: usize = records.iter().map(|r| r.json.len() + 1).sum();
    let mut json = String::with_capacity(size + 16);
    json.push_str("{\"Records\":[");
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&record.json);
    }
    json.push_str("]}");
    json
}

/// A log file's bytes: the uncompressed JSON's SHA-256 and the gzip of it. gzip's
/// fastest level: a file of 10,000 records is ~11 MB of JSON, and the default
/// level made compressing it most of a delivery round's time for a few percent
/// smaller files.
fn sealed(json: &str) -> (String, Vec<u8>) {
    let hash: String = Sha256::digest(json.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut gzip = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::fast());
    gzip.write_all(json.as_bytes())
        .expect("writing into a Vec cannot fail");
    (hash, gzip.finish().expect("writing into a Vec cannot fail"))
}

impl Delivery {
    pub fn new(store: TrailStore, writer: TrailWriter, clock: Arc<dyn Clock>) -> Self {
        Delivery {
            store,
            writer,
            clock,
            batch_events: DEFAULT_BATCH_EVENTS,
            digests: None,
        }
    }

    /// Also writes the digest files of trails that validate their log files.
    pub fn with_digests(mut self, digests: DigestDelivery) -> Self {
        self.digests = Some(digests);
        self
    }

    /// Reads at most `events` events per batch (tests make batches small).
    pub fn with_batch_events(mut self, events: i64) -> Self {
        self.batch_events = events.max(1);
        self
    }

    /// Delivers now and then every `every` until `shutdown`; at once again after a
    /// busy round (one that read a full batch): under load the events that arrived
    /// during a round should not also wait out an interval.
    pub async fn run_until(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        periodic::every_until_caught_up(every, shutdown, || async {
            self.deliver_once().await.unwrap_or_else(|error| {
                tracing::warn!(error = %error, "trail delivery round failed; next time");
                false
            })
        })
        .await;
    }

    /// One round: every trail with something to deliver, each until it is caught up
    /// or its delivery fails (the error shows in GetTrailStatus); then the digests
    /// that are due, which name the log files just delivered. Says whether the round
    /// was busy (some trail had a full batch to deliver).
    pub async fn deliver_once(&self) -> TrailResult<bool> {
        let mut busy = false;
        for trail in self.store.deliverable().await? {
            let name = trail.name.clone();
            match self.deliver_trail(trail).await {
                Ok(full) => busy |= full,
                Err(error) => {
                    tracing::warn!(trail = %name, error = %error, "trail delivery failed; next round");
                }
            }
        }
        if let Some(digests) = &self.digests {
            digests.deliver_once().await?;
        }
        Ok(busy)
    }

    /// Delivers the trail's events below the horizon of the round's start. Events
    /// stored meanwhile wait for the next round: among them the records of this
    /// round's own PutObjects, which a trail logging its own bucket would otherwise
    /// chase, one small file after another. While a batch's files are written, the
    /// next batch is read (only one batch is ever begun and not completed). Returns
    /// whether it met a full batch.
    async fn deliver_trail(&self, mut trail: TrailRow) -> TrailResult<bool> {
        let horizon = self.store.horizon().await?;
        let below = if trail.is_logging {
            horizon
        } else {
            horizon.min(trail.stop_xid)
        };
        let mut busy = false;
        let mut read_ahead: Option<Vec<StoredEvent>> = None;
        loop {
            let (end, time, events, full) = match trail.pending {
                Some((end, time)) => {
                    let events = self.store.events_between(trail.cursor, end).await?;
                    (end, time, events, false)
                }
                None => {
                    let events = match read_ahead.take() {
                        Some(events) => events,
                        None => {
                            self.store
                                .events_after(trail.cursor, below, self.batch_events)
                                .await?
                        }
                    };
                    let Some(last) = events.last() else {
                        self.settle_stopped(&trail, horizon).await?;
                        return Ok(busy);
                    };
                    let end = last.position;
                    let full = events.len() as i64 == self.batch_events;
                    busy |= full;
                    if !events.iter().any(|e| kind_for(&trail, e).is_some()) {
                        // Nothing selected: the cursor moves over them, no file.
                        if !self.store.skip(&trail, end).await? || !full {
                            return Ok(busy);
                        }
                        trail.cursor = end;
                        continue;
                    }
                    let time = self.clock.now();
                    if !self.store.begin_batch(&trail, end, time).await? {
                        return Ok(busy); // another replica took it
                    }
                    (end, time, events, full)
                }
            };
            // Each record parsed once: which file, if any, it goes to.
            let selected: Vec<(LogKind, &StoredEvent)> = events
                .iter()
                .filter_map(|e| kind_for(&trail, e).map(|kind| (kind, e)))
                .collect();
            // A full batch may have a next one: read it while this one is written.
            let next = async {
                if full {
                    Some(self.store.events_after(end, below, self.batch_events).await)
                } else {
                    None
                }
            };
            let (written, next) = tokio::join!(self.write_batch(&trail, time, &selected), next);
            let files = match written {
                Ok(files) => files,
                Err(message) => {
                    self.store
                        .record_error(&trail, &message, self.clock.now())
                        .await?;
                    return Err(TrailError::Internal(message));
                }
            };
            if !self
                .store
                .complete_batch(&trail, end, &files, self.clock.now())
                .await?
            {
                return Ok(busy);
            }
            trail.cursor = end;
            trail.pending = None;
            read_ahead = next.transpose()?;
        }
    }

    /// A stopped trail whose events before the stop are all delivered leaves the
    /// worker's list.
    async fn settle_stopped(&self, trail: &TrailRow, horizon: i64) -> TrailResult<()> {
        if !trail.is_logging && trail.cursor.xid < trail.stop_xid && horizon >= trail.stop_xid {
            self.store
                .skip(
                    trail,
                    Position {
                        xid: trail.stop_xid,
                        seq: 0,
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// Writes the batch's files (one per kind with records); returns what was written.
    async fn write_batch(
        &self,
        trail: &TrailRow,
        time: DateTime<Utc>,
        selected: &[(LogKind, &StoredEvent)],
    ) -> Result<Vec<DeliveredFile>, String> {
        let arn = trail_arn(&trail.region, &trail.account_id, &trail.name);
        let sse = if trail.kms_key_id.is_empty() {
            Sse::S3
        } else {
            Sse::Kms {
                key_id: trail.kms_key_id.clone(),
                context: BTreeMap::from([(CLOUDTRAIL_CONTEXT.to_owned(), arn.clone())]),
            }
        };
        let mut files = Vec::new();
        for kind in [LogKind::CloudTrail, LogKind::Insight] {
            let records: Vec<&StoredEvent> = selected
                .iter()
                .filter(|(of, _)| *of == kind)
                .map(|(_, e)| *e)
                .collect();
            let (Some(oldest), Some(newest)) = (
                records.iter().map(|r| r.event_time).min(),
                records.iter().map(|r| r.event_time).max(),
            ) else {
                continue;
            };
            let key = log_file_key(trail, kind, time, trail.cursor);
            // Off the async workers: the next batch is read meanwhile.
            let json = log_file_json(&records);
            let (sha256_hex, body) = tokio::task::spawn_blocking(move || sealed(&json))
                .await
                .map_err(|e| format!("compressing a log file failed: {e}"))?;
            self.writer
                .put(
                    &arn,
                    &trail.account_id,
                    &trail.s3_bucket_name,
                    &key,
                    body,
                    BTreeMap::new(),
                    &sse,
                )
                .await?;
            files.push(DeliveredFile {
                s3_bucket: trail.s3_bucket_name.clone(),
                s3_object: key,
                sha256_hex,
                oldest_event_time: oldest,
                newest_event_time: newest,
                records: records.len() as i32,
            });
        }
        Ok(files)
    }
}
