//! The size limits of a CloudTrail record. Every record passes through
//! [`CloudTrailEvent::bounded`] on its way into a sink (the sink trait's `record`), so
//! no caller can make one that audit-svc cannot take, whatever it sends:
//!
//! - every string of the record (requestParameters keys and values at any depth,
//!   userAgent, errorMessage, resource ARNs, additionalEventData...) is cut at
//!   [`MAX_FIELD_BYTES`] bytes, at a UTF-8 boundary, and ends with the marker
//!   `...[keyhold truncated N bytes]`;
//! - the serialized record stays within [`MAX_RECORD_BYTES`]: when it would not,
//!   requestParameters and responseElements are replaced by
//!   `{"omittedBytes": N, "reason": ...}`, then additionalEventData too, then every
//!   string is cut at [`FALLBACK_FIELD_BYTES`], and finally resources are dropped.

use std::io;

use serde_json::{Map, Value, json};

use super::CloudTrailEvent;

/// The most bytes of any one string a record shows: the largest value AWS accepts in
/// any field keyhold records (a key policy, 32 KiB), so that no valid request loses
/// anything. Even in the worst case of JSON escaping (6 bytes for a control byte) one
/// such string fits a record.
pub const MAX_FIELD_BYTES: usize = 32 * 1024;
/// The largest serialized record.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;
/// The cap of every string of a record that is still too large once its parameters,
/// response and additional data were omitted.
pub const FALLBACK_FIELD_BYTES: usize = 1024;

/// A record within the limits, and its JSON: what every sink receives. Only
/// [`CloudTrailEvent::bounded`] makes one.
#[derive(Debug, Clone)]
pub struct BoundedEvent {
    event: CloudTrailEvent,
    json: String,
    /// The W3C traceparent of the call's span, when its trace is exported.
    traceparent: Option<String>,
}

impl BoundedEvent {
    /// The record, its audit-svc work to join the trace `traceparent` names.
    pub fn in_trace(mut self, traceparent: Option<String>) -> Self {
        self.traceparent = traceparent;
        self
    }

    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_deref()
    }

    pub fn event(&self) -> &CloudTrailEvent {
        &self.event
    }

    /// The record as CloudTrail JSON, at most [`MAX_RECORD_BYTES`] long.
    pub fn json(&self) -> &str {
        &self.json
    }

    pub fn into_parts(self) -> (CloudTrailEvent, String) {
        (self.event, self.json)
    }
}

/// Cuts `text` to at most `cap` bytes: its start (at a character boundary) followed
/// by a marker that says how many bytes were cut. Shorter text is left alone, so
/// cutting twice at the same cap changes nothing.
pub fn truncate_text(text: &mut String, cap: usize) {
    if text.len() <= cap {
        return;
    }
    // The marker's count has at most as many digits as the text's length.
    let longest_marker = marker(text.len()).len();
    let mut end = cap.saturating_sub(longest_marker);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = marker(text.len() - end);
    text.truncate(end);
    text.push_str(&cut);
}

fn marker(cut: usize) -> String {
    format!("...[keyhold truncated {cut} bytes]")
}

/// Cuts every string of `value`, object keys included, at `cap` bytes.
pub fn truncate_value(value: &mut Value, cap: usize) {
    match value {
        Value::String(text) => truncate_text(text, cap),
        Value::Array(items) => items.iter_mut().for_each(|v| truncate_value(v, cap)),
        Value::Object(fields) if fields.keys().any(|k| k.len() > cap) => {
            let old = std::mem::take(fields);
            for (mut key, mut item) in old {
                truncate_text(&mut key, cap);
                truncate_value(&mut item, cap);
                fields.insert(key, item);
            }
        }
        Value::Object(fields) => fields.values_mut().for_each(|v| truncate_value(v, cap)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

impl CloudTrailEvent {
    /// This record within [`MAX_FIELD_BYTES`] per string and [`MAX_RECORD_BYTES`] in
    /// all, serialized.
    pub fn bounded(mut self) -> BoundedEvent {
        self.truncate_strings(MAX_FIELD_BYTES);
        let mut json = serialize(&self);
        if json.len() <= MAX_RECORD_BYTES {
            return BoundedEvent {
                event: self,
                json,
                traceparent: None,
            };
        }
        omit(&mut self.request_parameters);
        omit(&mut self.response_elements);
        json = serialize(&self);
        if json.len() > MAX_RECORD_BYTES {
            if let Some(data) = self.additional_event_data.as_mut() {
                omit(data);
            }
            self.truncate_strings(FALLBACK_FIELD_BYTES);
            json = serialize(&self);
        }
        // With every string short, only the list of resources can still be long.
        while json.len() > MAX_RECORD_BYTES && !self.resources.is_empty() {
            self.resources.truncate(self.resources.len() / 2);
            json = serialize(&self);
        }
        BoundedEvent {
            event: self,
            json,
            traceparent: None,
        }
    }

    fn truncate_strings(&mut self, cap: usize) {
        let identity = &mut self.user_identity;
        for text in [&mut identity.kind, &mut identity.account_id]
            .into_iter()
            .chain(
                [
                    &mut identity.principal_id,
                    &mut identity.arn,
                    &mut identity.access_key_id,
                    &mut identity.user_name,
                    &mut identity.invoked_by,
                ]
                .into_iter()
                .flatten(),
            )
        {
            truncate_text(text, cap);
        }
        for text in [
            &mut self.event_time,
            &mut self.event_source,
            &mut self.event_name,
            &mut self.aws_region,
            &mut self.source_ip_address,
            &mut self.user_agent,
            &mut self.request_id,
            &mut self.event_id,
            &mut self.recipient_account_id,
        ]
        .into_iter()
        .chain(
            [&mut self.error_code, &mut self.error_message]
                .into_iter()
                .flatten(),
        ) {
            truncate_text(text, cap);
        }
        for resource in &mut self.resources {
            for text in [
                &mut resource.arn,
                &mut resource.account_id,
                &mut resource.kind,
            ] {
                truncate_text(text, cap);
            }
        }
        for value in [&mut self.request_parameters, &mut self.response_elements]
            .into_iter()
            .chain(
                [&mut self.additional_event_data, &mut self.tls_details]
                    .into_iter()
                    .flatten(),
            )
        {
            truncate_value(value, cap);
        }
    }
}

/// Replaces a part of the record with a marker saying how large it was.
fn omit(value: &mut Value) {
    if value.is_null() {
        return;
    }
    let mut counter = ByteCounter(0);
    // Writing to a counter cannot fail, and a Value always serializes.
    let _ = serde_json::to_writer(&mut counter, value);
    let mut marker = Map::new();
    marker.insert("omittedBytes".to_owned(), json!(counter.0));
    marker.insert(
        "reason".to_owned(),
        json!(format!(
            "keyhold omitted this part: the record would exceed {MAX_RECORD_BYTES} bytes"
        )),
    );
    *value = Value::Object(marker);
}

fn serialize(event: &CloudTrailEvent) -> String {
    // Every map of a record has string keys and every number is finite: it serializes.
    serde_json::to_string(event).expect("a CloudTrail record serializes")
}

struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{EVENT_VERSION, EventResource, UserIdentity};

    fn event() -> CloudTrailEvent {
        CloudTrailEvent {
            event_version: EVENT_VERSION,
            user_identity: UserIdentity {
                kind: "Unknown".into(),
                principal_id: None,
                arn: None,
                account_id: "anonymous".into(),
                access_key_id: None,
                user_name: None,
                invoked_by: None,
            },
            event_time: "2026-01-01T00:00:00Z".into(),
            event_source: "s3.amazonaws.com".into(),
            event_name: "GetObject".into(),
            aws_region: "us-east-1".into(),
            source_ip_address: "127.0.0.1".into(),
            user_agent: String::new(),
            error_code: None,
            error_message: None,
            request_parameters: Value::Null,
            response_elements: Value::Null,
            additional_event_data: None,
            request_id: "r".into(),
            event_id: "e".into(),
            read_only: true,
            resources: Vec::new(),
            event_type: "AwsApiCall",
            management_event: false,
            recipient_account_id: "000000000000".into(),
            event_category: "Data",
            tls_details: None,
        }
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary_with_a_marker() {
        let mut short = "é".repeat(10);
        truncate_text(&mut short, 20);
        assert_eq!(short, "é".repeat(10));
        let mut long = "é".repeat(100);
        truncate_text(&mut long, 37);
        // Room is kept for a 3-digit count (32 bytes of marker): 5 bytes are left,
        // of which 2 whole characters fit.
        assert_eq!(long, "éé...[keyhold truncated 196 bytes]");
        let again = long.clone();
        truncate_text(&mut long, 37);
        assert_eq!(long, again);
    }

    #[test]
    fn every_string_from_a_request_is_cut_keys_included() {
        let long = "x".repeat(MAX_FIELD_BYTES + 10);
        // 34 bytes are kept for the marker of a 5-digit count.
        let cut = format!(
            "{}...[keyhold truncated 44 bytes]",
            &long[..MAX_FIELD_BYTES - 34]
        );
        let mut event = event();
        event.user_agent = long.clone();
        event.error_message = Some(long.clone());
        event.user_identity.access_key_id = Some(long.clone());
        event.request_parameters = json!({"a": [{"b": long}], long.clone(): 1});
        event.additional_event_data = Some(json!({"clientRequestId": long}));
        event.resources.push(EventResource {
            arn: long.clone(),
            account_id: "000000000000".into(),
            kind: "AWS::S3::Bucket".into(),
        });
        let bounded = event.bounded();
        let event = bounded.event();
        assert_eq!(event.user_agent, cut);
        assert_eq!(event.error_message.as_deref(), Some(cut.as_str()));
        assert_eq!(
            event.user_identity.access_key_id.as_deref(),
            Some(cut.as_str())
        );
        assert_eq!(
            event.request_parameters,
            json!({"a": [{"b": cut}], cut.clone(): 1})
        );
        assert_eq!(
            event.additional_event_data,
            Some(json!({"clientRequestId": cut}))
        );
        assert_eq!(event.resources[0].arn, cut);
        assert_eq!(bounded.json(), serde_json::to_string(event).unwrap());
    }

    #[test]
    fn a_record_too_large_in_all_loses_its_parameters_then_more() {
        // 16 fields of 32 KiB of control bytes: 6 bytes each in JSON, 3 MiB.
        let field = "\u{1}".repeat(MAX_FIELD_BYTES);
        let parameters: Map<String, Value> =
            (0..16).map(|i| (format!("f{i}"), json!(field))).collect();
        let mut event = event();
        event.request_parameters = Value::Object(parameters);
        event.response_elements = json!({"small": true});
        let bounded = event.bounded();
        assert!(bounded.json().len() <= MAX_RECORD_BYTES);
        let kept = bounded.event();
        assert!(kept.request_parameters["omittedBytes"].as_u64().unwrap() > 3 << 20);
        assert_eq!(kept.response_elements["omittedBytes"], json!(14));

        // Resources too many to fit even with short strings.
        let mut event = self::event();
        event.user_agent = field.clone();
        event.additional_event_data = Some(json!({"x": field}));
        event.resources = (0..100)
            .map(|i| EventResource {
                arn: format!("{i}{field}"),
                account_id: "000000000000".into(),
                kind: "AWS::S3::Object".into(),
            })
            .collect();
        let bounded = event.bounded();
        assert!(bounded.json().len() <= MAX_RECORD_BYTES);
        let kept = bounded.event();
        assert!(!kept.resources.is_empty() && kept.resources.len() < 100);
        assert!(kept.user_agent.len() <= FALLBACK_FIELD_BYTES);
        assert!(kept.additional_event_data.as_ref().unwrap()["omittedBytes"].is_u64());
    }
}
