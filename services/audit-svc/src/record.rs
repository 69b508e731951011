//! One CloudTrail record as audit-svc stores it: the JSON exactly as it arrived, and
//! the attributes LookupEvents and TailEvents select on, read from that JSON.

use chrono::{DateTime, NaiveDate, SecondsFormat, SubsecRound, Utc};
use keyhold_platform::error::clipped;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{AuditError, AuditResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Management,
    Data,
    Insight,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Management => "Management",
            Category::Data => "Data",
            Category::Insight => "Insight",
        }
    }

    fn of_record(json: &Value) -> Option<Category> {
        match json.get("eventCategory").and_then(Value::as_str) {
            Some("Management") => Some(Category::Management),
            Some("Data") => Some(Category::Data),
            Some("Insight") => Some(Category::Insight),
            Some(_) => None,
            // Records from before eventCategory existed.
            None if json.get("eventType").and_then(Value::as_str)
                == Some("AwsCloudTrailInsight") =>
            {
                Some(Category::Insight)
            }
            None if json.get("managementEvent").and_then(Value::as_bool) == Some(false) => {
                Some(Category::Data)
            }
            None => Some(Category::Management),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub resource_type: String,
    pub arn: String,
}

impl Resource {
    /// The values a ResourceName lookup finds this resource by: the ARN and, when the
    /// ARN has a '/', the part after the last one (a KMS key's id, an object's name).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let short = self
            .arn
            .rsplit_once('/')
            .map(|(_, tail)| tail)
            .filter(|tail| !tail.is_empty());
        std::iter::once(self.arn.as_str()).chain(short)
    }
}

/// A parsed record: the stored JSON and its indexed attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub event_id: Uuid,
    pub event_time: DateTime<Utc>,
    pub event_name: String,
    pub event_source: String,
    pub category: Category,
    pub read_only: bool,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub resources: Vec<Resource>,
    /// The record's errorCode: what error rates (Insights) are counted by.
    pub error_code: Option<String>,
    pub cloud_trail_event: String,
}

impl AuditEvent {
    /// Reads a record; `event_id` is the id its envelope claims, which must be the
    /// record's own eventID.
    pub fn parse(event_id: &str, cloud_trail_event: String) -> AuditResult<AuditEvent> {
        Self::read(Some(event_id), cloud_trail_event)
    }

    /// Reads a record as stored (checked when it was ingested).
    pub fn parse_stored(cloud_trail_event: String) -> AuditResult<AuditEvent> {
        Self::read(None, cloud_trail_event)
    }

    fn read(expected_id: Option<&str>, cloud_trail_event: String) -> AuditResult<AuditEvent> {
        let event_id = expected_id.unwrap_or("stored");
        let invalid = |why: String| AuditError::InvalidRecord(format!("record {event_id}: {why}"));
        let json: Value = serde_json::from_str(&cloud_trail_event)
            .map_err(|e| invalid(format!("cloudTrailEvent is not valid JSON: {e}")))?;
        if !json.is_object() {
            return Err(invalid("cloudTrailEvent is not a JSON object".into()));
        }
        let text = |field: &str| json.get(field).and_then(Value::as_str);
        let required = |field: &str| {
            text(field)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| invalid(format!("cloudTrailEvent has no {field}")))
        };
        let id_text = required("eventID")?;
        if expected_id.is_some_and(|expected| expected != id_text) {
            return Err(invalid(format!(
                "eventId {event_id} of the record differs from its eventID {id_text}"
            )));
        }
        let parsed_id = Uuid::parse_str(id_text)
            .map_err(|_| invalid(format!("eventID {id_text} is not a UUID")))?;
        let time_text = required("eventTime")?;
        let event_time = DateTime::parse_from_rfc3339(time_text)
            .map_err(|_| invalid(format!("eventTime {time_text} is not an RFC 3339 time")))?
            .with_timezone(&Utc)
            // Postgres keeps microseconds; NextToken positions must be the stored times.
            .trunc_subsecs(6);
        // An Insights record names the API it is about in insightDetails only;
        // LookupEvents shows that name and source as the event's.
        let insight_text = |field: &str| {
            json.get("insightDetails")
                .and_then(|d| d.get(field))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        };
        let event_name = text("eventName")
            .filter(|v| !v.is_empty())
            .or_else(|| insight_text("eventName"))
            .ok_or_else(|| invalid("cloudTrailEvent has no eventName".into()))?
            .to_owned();
        let category = Category::of_record(&json).ok_or_else(|| {
            invalid(format!(
                "eventCategory {} is none of Management, Data, Insight",
                json["eventCategory"]
            ))
        })?;
        let read_only = match json.get("readOnly") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        let identity = json.get("userIdentity");
        let identity_text = |field: &str| {
            identity
                .and_then(|i| i.get(field))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        };
        let username = identity_text("userName")
            .map(str::to_owned)
            .or_else(|| (identity_text("type") == Some("Root")).then(|| "root".to_owned()))
            .or_else(|| {
                identity_text("arn")
                    .and_then(|arn| arn.rsplit(['/', ':']).next())
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            });
        let resources = json
            .get("resources")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|r| {
                        let arn = r.get("ARN").and_then(Value::as_str)?;
                        Some(Resource {
                            resource_type: r
                                .get("type")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            arn: arn.to_owned(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(AuditEvent {
            event_id: parsed_id,
            event_time,
            event_name,
            event_source: text("eventSource")
                .or_else(|| insight_text("eventSource"))
                .unwrap_or_default()
                .to_owned(),
            category,
            read_only,
            username,
            access_key_id: identity_text("accessKeyId").map(str::to_owned),
            resources,
            error_code: text("errorCode")
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            cloud_trail_event,
        })
    }

    /// The UTC day whose partition holds this event.
    pub fn day(&self) -> NaiveDate {
        self.event_time.date_naive()
    }

    /// The (kind, value) rows of `event_resources`, without repeats.
    pub fn resource_keys(&self) -> Vec<(&'static str, &str)> {
        let mut keys: Vec<(&'static str, &str)> = Vec::new();
        for resource in &self.resources {
            let candidates = (!resource.resource_type.is_empty())
                .then_some(("type", resource.resource_type.as_str()))
                .into_iter()
                .chain(resource.names().map(|name| ("name", name)));
            for key in candidates {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys
    }

    pub fn event_time_text(&self) -> String {
        rfc3339(self.event_time)
    }
}

pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The lookup attributes of CloudTrail's LookupEvents (and TailEvents' filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// None when the value is no UUID: such an id names no event.
    EventId(Option<Uuid>),
    EventName(String),
    ReadOnly(bool),
    Username(String),
    ResourceType(String),
    ResourceName(String),
    EventSource(String),
    AccessKeyId(String),
}

/// CloudTrail's limit on a lookup attribute's value, in characters.
pub const MAX_ATTRIBUTE_VALUE: usize = 2000;
/// The most of a client's value an error message repeats.
pub const MAX_SHOWN: usize = 256;

pub const ATTRIBUTE_KEYS: &str =
    "EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId";

impl Attribute {
    /// `field` is where the value sits in the request, as CloudTrail's validation
    /// messages name it.
    pub fn parse(field: &str, key: &str, value: &str) -> AuditResult<Attribute> {
        let invalid = AuditError::InvalidLookupAttributes;
        if value.chars().count() > MAX_ATTRIBUTE_VALUE {
            return Err(AuditError::Validation(format!(
                "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length less than or equal to {MAX_ATTRIBUTE_VALUE}"
            )));
        }
        if value.is_empty() {
            return Err(invalid(format!(
                "The value of lookup attribute {key} must not be empty."
            )));
        }
        let text = value.to_owned();
        Ok(match key {
            "EventId" => Attribute::EventId(Uuid::parse_str(value).ok()),
            "EventName" => Attribute::EventName(text),
            "ReadOnly" => Attribute::ReadOnly(match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(invalid(format!(
                        "The value of lookup attribute ReadOnly must be true or false, not {value}."
                    )));
                }
            }),
            "Username" => Attribute::Username(text),
            "ResourceType" => Attribute::ResourceType(text),
            "ResourceName" => Attribute::ResourceName(text),
            "EventSource" => Attribute::EventSource(text),
            "AccessKeyId" => Attribute::AccessKeyId(text),
            other => {
                return Err(invalid(format!(
                    "{} is not a lookup attribute key; valid keys: {ATTRIBUTE_KEYS}.",
                    clipped(other, MAX_SHOWN)
                )));
            }
        })
    }

    /// Identifies the attribute and value in a NextToken's query fingerprint.
    pub fn fingerprint(&self) -> String {
        match self {
            Attribute::EventId(id) => {
                format!("EventId={}", id.map(|i| i.to_string()).unwrap_or_default())
            }
            Attribute::EventName(v) => format!("EventName={v}"),
            Attribute::ReadOnly(v) => format!("ReadOnly={v}"),
            Attribute::Username(v) => format!("Username={v}"),
            Attribute::ResourceType(v) => format!("ResourceType={v}"),
            Attribute::ResourceName(v) => format!("ResourceName={v}"),
            Attribute::EventSource(v) => format!("EventSource={v}"),
            Attribute::AccessKeyId(v) => format!("AccessKeyId={v}"),
        }
    }

    pub fn matches(&self, event: &AuditEvent) -> bool {
        match self {
            Attribute::EventId(id) => *id == Some(event.event_id),
            Attribute::EventName(v) => event.event_name == *v,
            Attribute::ReadOnly(v) => event.read_only == *v,
            Attribute::Username(v) => event.username.as_deref() == Some(v),
            Attribute::ResourceType(v) => event.resources.iter().any(|r| r.resource_type == *v),
            Attribute::ResourceName(v) => event
                .resources
                .iter()
                .any(|r| r.names().any(|name| name == v)),
            Attribute::EventSource(v) => event.event_source == *v,
            Attribute::AccessKeyId(v) => event.access_key_id.as_deref() == Some(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_ARN: &str =
        "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn record(identity: Value, extra: Value) -> String {
        let mut json = serde_json::json!({
            "eventVersion": "1.11",
            "userIdentity": identity,
            "eventTime": "2025-03-04T05:06:07Z",
            "eventSource": "kms.amazonaws.com",
            "eventName": "Decrypt",
            "awsRegion": "us-east-1",
            "eventID": "5b5c9a34-7c64-4a4d-9d54-0b5f2bd3e7a1",
            "readOnly": true,
            "resources": [{"ARN": KEY_ARN, "accountId": "000000000000", "type": "AWS::KMS::Key"}],
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "eventCategory": "Management"
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            json[k] = v.clone();
        }
        json.to_string()
    }

    #[test]
    fn extracts_the_lookup_attributes() {
        let json = record(
            serde_json::json!({
                "type": "IAMUser",
                "arn": "arn:aws:iam::000000000000:user/AWSLabsUser-0001",
                "accountId": "000000000000",
                "accessKeyId": "AKIAKEYHOLDDEVUSER01",
                "userName": "AWSLabsUser-0001"
            }),
            serde_json::json!({}),
        );
        let event =
            AuditEvent::parse("5b5c9a34-7c64-4a4d-9d54-0b5f2bd3e7a1", json.clone()).unwrap();
        assert_eq!(event.event_name, "Decrypt");
        assert_eq!(event.event_source, "kms.amazonaws.com");
        assert_eq!(event.category, Category::Management);
        assert!(event.read_only);
        assert_eq!(event.username.as_deref(), Some("AWSLabsUser-0001"));
        assert_eq!(event.access_key_id.as_deref(), Some("AKIAKEYHOLDDEVUSER01"));
        assert_eq!(event.event_time_text(), "2025-03-04T05:06:07Z");
        assert_eq!(event.cloud_trail_event, json);
        assert_eq!(
            event.resource_keys(),
            vec![
                ("type", "AWS::KMS::Key"),
                ("name", KEY_ARN),
                ("name", "1234abcd-12ab-34cd-56ef-1234567890ab"),
            ]
        );
        assert!(
            Attribute::parse("f", "ResourceName", "1234abcd-12ab-34cd-56ef-1234567890ab")
                .unwrap()
                .matches(&event)
        );
    }

    #[test]
    fn usernames_of_root_roles_and_services() {
        let id = "5b5c9a34-7c64-4a4d-9d54-0b5f2bd3e7a1";
        let root = record(
            serde_json::json!({"type": "Root", "arn": "arn:aws:iam::000000000000:root"}),
            serde_json::json!({}),
        );
        assert_eq!(
            AuditEvent::parse(id, root).unwrap().username.as_deref(),
            Some("root")
        );
        let role = record(
            serde_json::json!({"type": "AssumedRole",
                "arn": "arn:aws:sts::000000000000:assumed-role/my-role/my-session"}),
            serde_json::json!({"readOnly": false, "eventCategory": "Data"}),
        );
        let event = AuditEvent::parse(id, role).unwrap();
        assert_eq!(event.username.as_deref(), Some("my-session"));
        assert!(!event.read_only);
        assert_eq!(event.category, Category::Data);
        let anonymous = record(
            serde_json::json!({"type": "Unknown", "accountId": "anonymous"}),
            serde_json::json!({}),
        );
        assert_eq!(AuditEvent::parse(id, anonymous).unwrap().username, None);
    }

    #[test]
    fn insight_records_are_found_by_the_api_they_are_about() {
        let json = serde_json::json!({
            "eventVersion": "1.11",
            "eventTime": "2025-03-04T05:06:00Z",
            "awsRegion": "us-east-1",
            "eventID": "5b5c9a34-7c64-4a4d-9d54-0b5f2bd3e7a1",
            "eventType": "AwsCloudTrailInsight",
            "sharedEventID": "6b5c9a34-7c64-4a4d-9d54-0b5f2bd3e7a1",
            "insightDetails": {"state": "Start", "eventSource": "kms.amazonaws.com",
                "eventName": "Decrypt", "insightType": "ApiErrorRateInsight",
                "errorCode": "AccessDeniedException"},
            "eventCategory": "Insight"
        })
        .to_string();
        let event = AuditEvent::parse_stored(json).unwrap();
        assert_eq!(event.category, Category::Insight);
        assert_eq!(event.event_name, "Decrypt");
        assert_eq!(event.event_source, "kms.amazonaws.com");
        assert_eq!(event.error_code, None, "an Insight is no failed call");
        let failed = record(
            serde_json::json!({"type": "Root"}),
            serde_json::json!({"errorCode": "AccessDeniedException"}),
        );
        let event = AuditEvent::parse_stored(failed).unwrap();
        assert_eq!(event.error_code.as_deref(), Some("AccessDeniedException"));
    }

    #[test]
    fn refuses_records_it_cannot_index() {
        let id = "5b5c9a34-7c64-4a4d-9d54-0b5f2bd3e7a1";
        let error = |json: String| match AuditEvent::parse(id, json) {
            Err(AuditError::InvalidRecord(message)) => message,
            other => panic!("expected InvalidRecord, got {other:?}"),
        };
        assert!(error("{not json".into()).contains("not valid JSON"));
        let no_name = record(
            serde_json::json!({}),
            serde_json::json!({"eventName": null}),
        );
        assert_eq!(
            error(no_name),
            format!("record {id}: cloudTrailEvent has no eventName")
        );
        let other_id = record(serde_json::json!({}), serde_json::json!({}));
        assert!(
            matches!(AuditEvent::parse("00000000-0000-0000-0000-000000000000", other_id),
            Err(AuditError::InvalidRecord(m)) if m.contains("differs"))
        );
    }
}
