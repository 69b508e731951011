//! The CloudTrail record every call becomes, and where records go.
//!
//! The record is assembled by the tower stack (`stack.rs`) from what every call has
//! (caller, method, status); handlers only add what only they know, the resources a
//! call touched, through [`AuditNotes`]. Every record is bounded ([`bound`]) on its
//! way into a sink.

mod bound;

use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

pub use self::bound::{
    BoundedEvent, FALLBACK_FIELD_BYTES, MAX_FIELD_BYTES, MAX_RECORD_BYTES, truncate_text,
    truncate_value,
};

pub const EVENT_VERSION: &str = "1.11";

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CloudTrailEvent {
    pub event_version: &'static str,
    pub user_identity: UserIdentity,
    /// UTC, when the call completed.
    pub event_time: String,
    pub event_source: String,
    pub event_name: String,
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    pub user_agent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub request_parameters: Value,
    pub response_elements: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Value>,
    #[serde(rename = "requestID")]
    pub request_id: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub read_only: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<EventResource>,
    pub event_type: &'static str,
    pub management_event: bool,
    pub recipient_account_id: String,
    pub event_category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_details: Option<Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    pub account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EventResource {
    #[serde(rename = "ARN")]
    pub arn: String,
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The record's `userIdentity`: the caller, or CloudTrail's anonymous requester. One
/// that presented credentials which failed is still shown against `account_id`.
pub fn user_identity(
    caller: Option<&crate::auth::Caller>,
    presented_access_key: Option<&str>,
    account_id: &str,
) -> UserIdentity {
    match caller {
        Some(caller) => {
            let principal = &caller.principal;
            UserIdentity {
                kind: principal.kind.cloudtrail_type().to_owned(),
                principal_id: Some(principal.principal_id()),
                arn: Some(principal.arn.clone()),
                account_id: principal.account_id.clone(),
                access_key_id: (!principal.access_key_id.is_empty())
                    .then(|| principal.access_key_id.clone()),
                user_name: (!principal.is_root()).then(|| principal.name.clone()),
                invoked_by: caller.via_service().map(str::to_owned),
            }
        }
        None => UserIdentity {
            kind: "Unknown".to_owned(),
            principal_id: None,
            arn: None,
            account_id: match presented_access_key {
                Some(_) => account_id.to_owned(),
                None => "anonymous".to_owned(),
            },
            access_key_id: presented_access_key.map(str::to_owned),
            user_name: None,
            invoked_by: None,
        },
    }
}

/// A record's `eventTime` for a call completing now: UTC, to the second, as CloudTrail
/// writes it.
pub fn event_time_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The longest client request id a record keeps.
pub const MAX_CLIENT_REQUEST_ID: usize = 128;

/// The id a client gave its call (`x-request-id`, on gRPC and S3 alike), kept in the
/// record as `additionalEventData.clientRequestId` for correlation only: the record's
/// requestID is always keyhold's own, since a client's id need not be unique. Kept
/// when it is 1 to [`MAX_CLIENT_REQUEST_ID`] printable ASCII characters, else left out.
pub fn client_request_id(headers: &http::HeaderMap) -> Option<String> {
    let id = headers.get(crate::stack::REQUEST_ID_HEADER)?.as_bytes();
    let printable = id.iter().all(|b| (0x20..0x7f).contains(b));
    (printable && (1..=MAX_CLIENT_REQUEST_ID).contains(&id.len()))
        .then(|| String::from_utf8_lossy(id).into_owned())
}

/// Where finished records go. `record` must not block the request path.
pub trait AuditSink: Send + Sync + 'static {
    /// The one way into a sink: bounds the record ([`CloudTrailEvent::bounded`]),
    /// whichever service and path built it, then delivers it.
    fn record(&self, event: CloudTrailEvent) {
        self.deliver(event.bounded());
    }

    /// Like [`AuditSink::record`], for a call whose span `traceparent` names (see
    /// `telemetry::sampled_traceparent`): audit-svc's work on the record joins that trace.
    fn record_in_trace(&self, event: CloudTrailEvent, traceparent: Option<String>) {
        self.deliver(event.bounded().in_trace(traceparent));
    }

    /// Takes a bounded record. Must not block.
    fn deliver(&self, record: BoundedEvent);

    /// Whether the sink can take another call's record; the stack refuses the call
    /// with this error otherwise, before the call does anything worth recording.
    fn admit(&self) -> Result<(), crate::error::AwsError> {
        Ok(())
    }

    /// What the sink shows on the metrics endpoint, if anything.
    fn collector(&self) -> Option<Box<dyn prometheus_client::collector::Collector>> {
        None
    }
}

/// Writes each record as one JSON log line (target `audit`), until audit-svc exists.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogSink;

impl AuditSink for LogSink {
    fn deliver(&self, record: BoundedEvent) {
        tracing::info!(target: "audit", event = %record.json(), "cloudtrail event");
    }
}

/// Keeps records in memory: for tests that assert what was recorded.
#[derive(Debug, Default, Clone)]
pub struct MemorySink(Arc<Mutex<Vec<CloudTrailEvent>>>);

impl MemorySink {
    pub fn events(&self) -> Vec<CloudTrailEvent> {
        self.0.lock().expect("sink lock").clone()
    }
}

impl AuditSink for MemorySink {
    fn deliver(&self, record: BoundedEvent) {
        let (event, _) = record.into_parts();
        self.0.lock().expect("sink lock").push(event);
    }
}

/// What a handler adds to its call's record. The stack puts one in every request's
/// extensions; handlers find it with `request.extensions().get::<AuditNotes>()`.
#[derive(Debug, Default, Clone)]
pub struct AuditNotes(Arc<Mutex<Notes>>);

#[derive(Debug, Default)]
pub(crate) struct Notes {
    pub(crate) resources: Vec<EventResource>,
    pub(crate) additional_event_data: Option<Value>,
    pub(crate) request_parameters: Option<Value>,
    pub(crate) parameter_names: Vec<(&'static str, &'static str)>,
}

impl AuditNotes {
    pub fn add_resource(&self, kind: &str, arn: &str, account_id: &str) {
        let mut notes = self.0.lock().expect("audit notes lock");
        if !notes.resources.iter().any(|r| r.arn == arn) {
            notes.resources.push(EventResource {
                arn: arn.to_owned(),
                account_id: account_id.to_owned(),
                kind: kind.to_owned(),
            });
        }
    }

    pub fn set_additional_event_data(&self, data: Value) {
        self.0
            .lock()
            .expect("audit notes lock")
            .additional_event_data = Some(data);
    }

    /// For client-streaming calls, whose request the stack does not buffer: the
    /// handler says what the call asked for (secrets left out).
    pub fn set_request_parameters(&self, parameters: Value) {
        self.0.lock().expect("audit notes lock").request_parameters = Some(parameters);
    }

    /// Shows the request field `field` as `shown` in requestParameters: CloudTrail's
    /// names for S3 are not the API's (`bucketName` for `Bucket`).
    pub fn rename_request_parameter(&self, field: &'static str, shown: &'static str) {
        self.0
            .lock()
            .expect("audit notes lock")
            .parameter_names
            .push((field, shown));
    }

    pub(crate) fn take(&self) -> Notes {
        std::mem::take(&mut *self.0.lock().expect("audit notes lock"))
    }
}
