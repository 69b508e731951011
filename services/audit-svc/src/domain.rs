//! The audit trail's rules, free of gRPC: ingest batches, answer LookupEvents, feed
//! live tails.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use keyhold_platform::audit::{MAX_RECORD_BYTES, truncate_text};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use uuid::Uuid;

use keyhold_platform::error::clipped;

use crate::{
    error::{AuditError, AuditResult},
    record::{Attribute, AuditEvent, Category, MAX_SHOWN},
    store::{AuditStore, PageQuery},
};

pub const DEFAULT_MAX_RESULTS: i32 = 10;
pub const MAX_MAX_RESULTS: i32 = 50;
/// Events a slow tail may fall behind by before it starts missing some.
const TAIL_BUFFER: usize = 4096;

/// What LookupEvents asks, as the caller wrote it.
#[derive(Debug, Clone, Default)]
pub struct LookupInput {
    pub attributes: Vec<(String, String)>,
    pub start_time: String,
    pub end_time: String,
    pub event_category: String,
    pub max_results: i32,
    pub next_token: String,
}

#[derive(Debug)]
pub struct LookupPage {
    pub events: Vec<AuditEvent>,
    pub next_token: Option<String>,
}

/// TailEvents' filter.
#[derive(Debug, Clone)]
pub struct TailFilter {
    pub attribute: Option<Attribute>,
    /// None: every category.
    pub category: Option<Category>,
}

impl TailFilter {
    pub fn parse(attribute: Option<(String, String)>, category: &str) -> AuditResult<TailFilter> {
        let attribute = attribute
            .filter(|(key, value)| !(key.is_empty() && value.is_empty()))
            .map(|(key, value)| Attribute::parse("lookupAttribute.attributeValue", &key, &value))
            .transpose()?;
        let category = match category.to_ascii_lowercase().as_str() {
            "" => None,
            "management" => Some(Category::Management),
            "data" => Some(Category::Data),
            "insight" => Some(Category::Insight),
            _ => {
                return Err(AuditError::InvalidEventCategory(format!(
                    "Event category {} is not valid; use management, data or insight.",
                    clipped(category, MAX_SHOWN)
                )));
            }
        };
        Ok(TailFilter {
            attribute,
            category,
        })
    }

    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.category.is_none_or(|c| c == event.category)
            && self.attribute.as_ref().is_none_or(|a| a.matches(event))
    }
}

/// What became of a batch: how many records were new, and which were refused.
#[derive(Debug, Default)]
pub struct Ingested {
    pub stored: u32,
    pub rejected: Vec<Rejected>,
}

/// A record audit-svc refused; both texts are bounded, whatever the sender sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub event_id: String,
    pub reason: String,
}

impl Rejected {
    const MAX_EVENT_ID: usize = 128;
    const MAX_REASON: usize = 1024;

    fn new(mut event_id: String, mut reason: String) -> Rejected {
        truncate_text(&mut event_id, Self::MAX_EVENT_ID);
        truncate_text(&mut reason, Self::MAX_REASON);
        Rejected { event_id, reason }
    }
}

pub struct Audit {
    store: AuditStore,
    tail: broadcast::Sender<Arc<AuditEvent>>,
    tokens: TokenSigner,
    rejected: AtomicU64,
    stored: AtomicU64,
    /// Per ingested batch: how long ago its oldest record's call was made.
    lag: Histogram,
}

impl Audit {
    /// Loads (or on first start creates) the NextToken signing key.
    pub async fn open(store: AuditStore) -> AuditResult<Audit> {
        let mut fresh = [0u8; 32];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut fresh);
        let key = store.token_key(&fresh).await?;
        let (tail, _) = broadcast::channel(TAIL_BUFFER);
        Ok(Audit {
            store,
            tail,
            tokens: TokenSigner { key },
            rejected: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            // eventTime has whole seconds, so finer buckets would mean nothing.
            lag: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
        })
    }

    pub fn store(&self) -> &AuditStore {
        &self.store
    }

    /// Stores the acceptable records of a batch durably and names the others. Live
    /// tails see the new ones once they are committed.
    pub async fn ingest(&self, records: Vec<(String, String)>) -> AuditResult<Ingested> {
        // Each record is judged alone: one that can never be stored (not a CloudTrail
        // record, over the size limit) is named in the answer for the emitter to set
        // aside, and the rest of its batch is stored, so nothing waits behind it.
        let mut events = Vec::with_capacity(records.len());
        let mut rejected = Vec::new();
        let mut seen = std::collections::HashSet::with_capacity(records.len());
        for (event_id, json) in records {
            let parsed = if json.len() > MAX_RECORD_BYTES {
                Err(AuditError::InvalidRecord(format!(
                    "the record is {} bytes, over the limit of {MAX_RECORD_BYTES} bytes",
                    json.len()
                )))
            } else {
                AuditEvent::parse(&event_id, json)
            };
            match parsed {
                // A batch that repeats a record stores it once.
                Ok(event) => {
                    if seen.insert(event.event_id) {
                        events.push(event);
                    }
                }
                Err(AuditError::InvalidRecord(reason)) => {
                    rejected.push(Rejected::new(event_id, reason));
                }
                Err(other) => return Err(other),
            }
        }
        if !rejected.is_empty() {
            self.rejected
                .fetch_add(rejected.len() as u64, Ordering::Relaxed);
        }
        let inserted = self.store.insert(&events).await?;
        let stored = u32::try_from(inserted.len()).unwrap_or(u32::MAX);
        self.stored.fetch_add(u64::from(stored), Ordering::Relaxed);
        if let Some(oldest) = events.iter().map(|event| event.event_time).min() {
            let lag = (chrono::Utc::now() - oldest).to_std().unwrap_or_default();
            self.lag.observe(lag.as_secs_f64());
        }
        if self.tail.receiver_count() > 0 && !inserted.is_empty() {
            let new: std::collections::HashSet<Uuid> = inserted.into_iter().collect();
            for event in events.into_iter().filter(|e| new.contains(&e.event_id)) {
                // No tail listening is fine; a slow one lags, it never blocks ingest.
                let _ = self.tail.send(Arc::new(event));
            }
        }
        Ok(Ingested { stored, rejected })
    }

    /// Records refused since the start, for the metrics.
    pub fn rejected_count(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Records stored since the start (a record sent twice counts once).
    pub fn stored_count(&self) -> u64 {
        self.stored.load(Ordering::Relaxed)
    }

    /// The age of each ingested batch's oldest record, for the metrics.
    pub fn ingest_lag(&self) -> &Histogram {
        &self.lag
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<AuditEvent>> {
        self.tail.subscribe()
    }

    pub async fn lookup(&self, input: LookupInput) -> AuditResult<LookupPage> {
        let attribute = match input.attributes.as_slice() {
            [] => None,
            [(key, value)] => Some(Attribute::parse(
                "lookupAttributes.1.member.attributeValue",
                key,
                value,
            )?),
            _ => {
                return Err(AuditError::InvalidLookupAttributes(
                    "You can specify only one lookup attribute.".into(),
                ));
            }
        };
        let start = parse_time("StartTime", &input.start_time)?;
        let end = parse_time("EndTime", &input.end_time)?;
        if let (Some(start), Some(end)) = (start, end)
            && start > end
        {
            return Err(AuditError::InvalidTimeRange(
                "Start time must be before or equal to end time.".into(),
            ));
        }
        let category = match input.event_category.to_ascii_lowercase().as_str() {
            "" | "management" => Category::Management,
            "insight" => Category::Insight,
            _ => {
                return Err(AuditError::InvalidEventCategory(format!(
                    "Event category {} is not valid; the only valid value is insight.",
                    clipped(&input.event_category, MAX_SHOWN)
                )));
            }
        };
        let max_results = match input.max_results {
            0 => DEFAULT_MAX_RESULTS,
            n @ 1..=MAX_MAX_RESULTS => n,
            n => {
                return Err(AuditError::InvalidMaxResults(format!(
                    "MaxResults {n} is not valid; specify a value from 1 to {MAX_MAX_RESULTS}."
                )));
            }
        };
        let fingerprint = fingerprint(attribute.as_ref(), start, end, category);
        let before = if input.next_token.is_empty() {
            (far_future(), Uuid::max())
        } else {
            self.tokens.open(&input.next_token, &fingerprint)?
        };
        let query = PageQuery {
            attribute,
            category,
            start: start.unwrap_or_else(far_past),
            end: end.unwrap_or_else(far_future),
            before,
            limit: i64::from(max_results) + 1,
        };
        let records = self.store.page(&query).await?;
        let mut events = records
            .into_iter()
            .map(|json| {
                AuditEvent::parse_stored(json)
                    .map_err(|e| AuditError::Internal(format!("a stored record: {e}")))
            })
            .collect::<AuditResult<Vec<_>>>()?;
        let max = usize::try_from(max_results).unwrap_or(10);
        let next_token = (events.len() > max).then(|| {
            events.truncate(max);
            let last = events.last().expect("a full page");
            self.tokens
                .seal((last.event_time, last.event_id), &fingerprint)
        });
        Ok(LookupPage { events, next_token })
    }
}

fn parse_time(name: &str, text: &str) -> AuditResult<Option<DateTime<Utc>>> {
    optional_time(name, text).map_err(AuditError::InvalidTimeRange)
}

/// An RFC 3339 timestamp, in UTC: request ranges, eventTime, digest windows.
pub(crate) fn rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A request's optional time `name`: empty is none; anything else must be RFC 3339,
/// or the message says so.
pub(crate) fn optional_time(name: &str, text: &str) -> Result<Option<DateTime<Utc>>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    rfc3339(text).map(Some).ok_or_else(|| {
        format!(
            "{name} {} is not an RFC 3339 timestamp, e.g. 2025-01-31T12:00:00Z.",
            clipped(text, MAX_SHOWN)
        )
    })
}

fn far_past() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date")
}

fn far_future() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .expect("a valid date")
}

/// What a NextToken is bound to: the attribute, the time range and the category (not
/// MaxResults, which a caller may change between pages).
fn fingerprint(
    attribute: Option<&Attribute>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    category: Category,
) -> [u8; 32] {
    let micros = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros().to_string());
    let text = format!(
        "{}\n{}\n{}\n{}",
        attribute.map(Attribute::fingerprint).unwrap_or_default(),
        micros(start).unwrap_or_default(),
        micros(end).unwrap_or_default(),
        category.as_str()
    );
    Sha256::digest(text.as_bytes()).into()
}

/// NextTokens: version 1, the position (event time in microseconds, event id), and an
/// HMAC-SHA256 over version, position and the query's fingerprint. Keyset positions,
/// not offsets: events arriving between pages do not shift the pages still to come.
struct TokenSigner {
    key: Vec<u8>,
}

const TOKEN_VERSION: u8 = 1;
const TOKEN_LEN: usize = 1 + 8 + 16 + 32;
/// TOKEN_LEN bytes in unpadded base64.
const TOKEN_TEXT_LEN: usize = TOKEN_LEN.div_ceil(3) * 4;
const INVALID_TOKEN: &str = "The NextToken is not valid: it was altered, or it belongs to a \
     request with different lookup attributes, time range or event category.";

impl TokenSigner {
    fn mac(&self, position: &[u8], fingerprint: &[u8; 32]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length");
        mac.update(position);
        mac.update(fingerprint);
        mac
    }

    fn seal(&self, (time, id): (DateTime<Utc>, Uuid), fingerprint: &[u8; 32]) -> String {
        let mut token = Vec::with_capacity(TOKEN_LEN);
        token.push(TOKEN_VERSION);
        token.extend_from_slice(&time.timestamp_micros().to_be_bytes());
        token.extend_from_slice(id.as_bytes());
        let tag = self.mac(&token, fingerprint).finalize().into_bytes();
        token.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(token)
    }

    fn open(&self, token: &str, fingerprint: &[u8; 32]) -> AuditResult<(DateTime<Utc>, Uuid)> {
        let invalid = || AuditError::InvalidNextToken(INVALID_TOKEN.into());
        // Ours are 76 characters: anything longer is not worth decoding.
        if token.len() > TOKEN_TEXT_LEN {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        if bytes.len() != TOKEN_LEN || bytes[0] != TOKEN_VERSION {
            return Err(invalid());
        }
        let (position, tag) = bytes.split_at(1 + 8 + 16);
        self.mac(position, fingerprint)
            .verify_slice(tag)
            .map_err(|_| invalid())?;
        let micros = i64::from_be_bytes(position[1..9].try_into().map_err(|_| invalid())?);
        let id = Uuid::from_slice(&position[9..]).map_err(|_| invalid())?;
        let time = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
        Ok((time, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_key_and_query() {
        let signer = TokenSigner { key: vec![7; 32] };
        let query = fingerprint(None, None, None, Category::Management);
        let other = fingerprint(None, None, None, Category::Insight);
        let position = (Utc::now(), Uuid::new_v4());
        let token = signer.seal(position, &query);
        let opened = signer.open(&token, &query).unwrap();
        assert_eq!(opened.1, position.1);
        assert_eq!(opened.0.timestamp_micros(), position.0.timestamp_micros());
        assert!(signer.open(&token, &other).is_err());
        let stranger = TokenSigner { key: vec![8; 32] };
        assert!(stranger.open(&token, &query).is_err());
        let mut tampered = URL_SAFE_NO_PAD.decode(&token).unwrap();
        tampered[5] ^= 1;
        assert!(
            signer
                .open(&URL_SAFE_NO_PAD.encode(tampered), &query)
                .is_err()
        );
    }
}
