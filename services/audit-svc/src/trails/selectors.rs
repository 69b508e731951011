//! Which events a trail delivers: CloudTrail's basic event selectors (ReadWriteType,
//! management events, S3 object ARN prefixes) or its advanced event selectors (field
//! conditions), validated as AWS validates them and matched against stored events.
//! Stored in the trails table in AWS's JSON shapes.

use serde::{Deserialize, Serialize};

use super::error::{TrailError, TrailResult};

pub const S3_OBJECT: &str = "AWS::S3::Object";
const MAX_SELECTORS: usize = 5;
const MAX_DATA_RESOURCE_VALUES: usize = 250;
const MAX_ADVANCED_SELECTORS: usize = 500;
const MAX_ADVANCED_CONDITIONS: usize = 500;
/// The longest value (an ARN prefix, an event name) a selector may hold.
const MAX_VALUE: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataResource {
    #[serde(rename = "Type")]
    pub kind: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSelector {
    pub read_write_type: String,
    pub include_management_events: bool,
    pub data_resources: Vec<DataResource>,
    #[serde(default)]
    pub exclude_management_event_sources: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FieldSelector {
    pub field: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub starts_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ends_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_starts_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ends_with: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdvancedSelector {
    #[serde(default)]
    pub name: String,
    pub field_selectors: Vec<FieldSelector>,
}

/// A trail's selectors, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selectors {
    EventSelectors(Vec<EventSelector>),
    AdvancedEventSelectors(Vec<AdvancedSelector>),
}

impl Selectors {
    /// A new trail's: every management event, read and write, no data events.
    pub fn default_for_new_trail() -> Selectors {
        Selectors::EventSelectors(vec![EventSelector {
            read_write_type: "All".into(),
            include_management_events: true,
            data_resources: Vec::new(),
            exclude_management_event_sources: Vec::new(),
        }])
    }

    pub fn validated(self) -> TrailResult<Selectors> {
        match &self {
            Selectors::EventSelectors(selectors) => validate_basic(selectors)?,
            Selectors::AdvancedEventSelectors(selectors) => validate_advanced(selectors)?,
        }
        Ok(self)
    }

    pub fn matches(&self, event: &EventFacts<'_>) -> bool {
        match self {
            Selectors::EventSelectors(selectors) => selectors.iter().any(|s| s.matches(event)),
            Selectors::AdvancedEventSelectors(selectors) => {
                selectors.iter().any(|s| s.matches(event))
            }
        }
    }
}

/// What selectors look at in one stored event.
#[derive(Debug, Clone)]
pub struct EventFacts<'a> {
    /// Management | Data | Insight
    pub category: &'a str,
    pub source: &'a str,
    pub name: &'a str,
    pub read_only: bool,
    /// (type, ARN) of each resource.
    pub resources: Vec<(&'a str, &'a str)>,
}

fn invalid(message: impl Into<String>) -> TrailError {
    TrailError::InvalidEventSelectors(message.into())
}

fn validate_basic(selectors: &[EventSelector]) -> TrailResult<()> {
    if selectors.is_empty() || selectors.len() > MAX_SELECTORS {
        return Err(invalid(format!(
            "A trail can have between 1 and {MAX_SELECTORS} event selectors; {} were specified.",
            selectors.len()
        )));
    }
    let mut values = 0;
    for selector in selectors {
        if !matches!(
            selector.read_write_type.as_str(),
            "All" | "ReadOnly" | "WriteOnly"
        ) {
            return Err(invalid(format!(
                "Value {} for ReadWriteType is invalid. Valid values: ReadOnly, WriteOnly, All.",
                selector.read_write_type
            )));
        }
        if let Some(source) = selector
            .exclude_management_event_sources
            .iter()
            .find(|s| !matches!(s.as_str(), "kms.amazonaws.com" | "rdsdata.amazonaws.com"))
        {
            return Err(invalid(format!(
                "Value {} for ExcludeManagementEventSources is invalid. Valid values: kms.amazonaws.com, rdsdata.amazonaws.com.",
                keyhold_platform::error::clipped(source, 64)
            )));
        }
        for resource in &selector.data_resources {
            if resource.kind != S3_OBJECT {
                return Err(invalid(format!(
                    "Invalid request provided: {} is not a valid data resource type; keyhold records data events of {S3_OBJECT} only.",
                    resource.kind
                )));
            }
            if resource.values.is_empty() {
                return Err(invalid(
                    "Invalid request provided: data resource values must not be empty.",
                ));
            }
            for value in &resource.values {
                if !is_s3_arn_prefix(value) {
                    return Err(invalid(format!(
                        "Value {value} for DataResources.Values is invalid."
                    )));
                }
            }
            values += resource.values.len();
        }
    }
    if values > MAX_DATA_RESOURCE_VALUES {
        return Err(invalid(format!(
            "A trail can have at most {MAX_DATA_RESOURCE_VALUES} data resource values; {values} were specified."
        )));
    }
    Ok(())
}

/// `arn:aws:s3` (every bucket), `arn:aws:s3:::` followed by a bucket name and `/`
/// and an optional key prefix.
fn is_s3_arn_prefix(value: &str) -> bool {
    if value.len() > MAX_VALUE {
        return false;
    }
    if value == "arn:aws:s3" || value == "arn:aws:s3:::" {
        return true;
    }
    value
        .strip_prefix("arn:aws:s3:::")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(bucket, _)| (3..=63).contains(&bucket.len()))
}

const FIELDS: [&str; 6] = [
    "eventCategory",
    "eventSource",
    "eventName",
    "readOnly",
    "resources.type",
    "resources.ARN",
];

fn validate_advanced(selectors: &[AdvancedSelector]) -> TrailResult<()> {
    if selectors.is_empty() || selectors.len() > MAX_ADVANCED_SELECTORS {
        return Err(invalid(format!(
            "A trail can have between 1 and {MAX_ADVANCED_SELECTORS} advanced event selectors; {} were specified.",
            selectors.len()
        )));
    }
    let mut conditions = 0;
    for selector in selectors {
        if selector.name.len() > MAX_VALUE {
            return Err(invalid(format!(
                "Invalid request provided: an advanced event selector's name is at most {MAX_VALUE} characters long."
            )));
        }
        let has = |field: &str| selector.field_selectors.iter().any(|f| f.field == field);
        if !has("eventCategory") {
            return Err(invalid(
                "Invalid request provided: Each advanced event selector must have a field selector on eventCategory.",
            ));
        }
        for field in &selector.field_selectors {
            if !FIELDS.contains(&field.field.as_str()) {
                return Err(invalid(format!(
                    "Invalid request provided: {} is not a valid field. Valid fields: {}.",
                    field.field,
                    FIELDS.join(", ")
                )));
            }
            let operators = field.operators();
            if operators
                .iter()
                .flat_map(|(_, values)| values.iter())
                .any(|v| v.is_empty() || v.len() > MAX_VALUE)
            {
                return Err(invalid(format!(
                    "Invalid request provided: values of {} must be 1 to {MAX_VALUE} characters long.",
                    field.field
                )));
            }
            let count: usize = operators.iter().map(|(_, values)| values.len()).sum();
            if count == 0 {
                return Err(invalid(format!(
                    "Invalid request provided: the field selector on {} has no condition.",
                    field.field
                )));
            }
            conditions += count;
            if selector
                .field_selectors
                .iter()
                .filter(|f| f.field == field.field)
                .count()
                > 1
            {
                return Err(invalid(format!(
                    "Invalid request provided: {} appears in more than one field selector of an advanced event selector.",
                    field.field
                )));
            }
            if let Some(message) = value_rule_broken(field) {
                return Err(invalid(message));
            }
        }
        let data = selector
            .field_selectors
            .iter()
            .any(|f| f.field == "eventCategory" && f.equals.iter().any(|v| v == "Data"));
        if data && !has("resources.type") {
            return Err(invalid(
                "Invalid request provided: a data event selector needs a field selector on resources.type.",
            ));
        }
        if !data && (has("resources.type") || has("resources.ARN")) {
            return Err(invalid(
                "Invalid request provided: resources.type and resources.ARN apply to data events only.",
            ));
        }
    }
    if conditions > MAX_ADVANCED_CONDITIONS {
        return Err(invalid(format!(
            "Invalid request provided: advanced event selectors can have at most {MAX_ADVANCED_CONDITIONS} conditions; {conditions} were specified."
        )));
    }
    Ok(())
}

/// The values a field accepts, for the fields that take a fixed set.
fn value_rule_broken(field: &FieldSelector) -> Option<String> {
    let equals_only = field.only_equals();
    let broken = match field.field.as_str() {
        "eventCategory" => {
            !equals_only
                || field
                    .equals
                    .iter()
                    .any(|v| !matches!(v.as_str(), "Management" | "Data"))
        }
        "readOnly" => {
            !equals_only
                || field.equals.len() != 1
                || !matches!(field.equals[0].as_str(), "true" | "false")
        }
        "resources.type" => !equals_only || field.equals.iter().any(|v| v != S3_OBJECT),
        _ => false,
    };
    broken.then(|| match field.field.as_str() {
        "eventCategory" => {
            "Invalid request provided: eventCategory supports Equals with Management or Data."
                .into()
        }
        "readOnly" => {
            "Invalid request provided: readOnly supports Equals with one value, true or false."
                .into()
        }
        _ => format!("Invalid request provided: resources.type supports Equals {S3_OBJECT}."),
    })
}

impl EventSelector {
    fn matches(&self, event: &EventFacts<'_>) -> bool {
        let direction = match self.read_write_type.as_str() {
            "ReadOnly" => event.read_only,
            "WriteOnly" => !event.read_only,
            _ => true,
        };
        if !direction {
            return false;
        }
        match event.category {
            "Management" => {
                self.include_management_events
                    && !self
                        .exclude_management_event_sources
                        .iter()
                        .any(|s| s == event.source)
            }
            "Data" => self.data_resources.iter().any(|resource| {
                event.resources.iter().any(|(kind, arn)| {
                    *kind == resource.kind && resource.values.iter().any(|v| arn.starts_with(v))
                })
            }),
            _ => false,
        }
    }
}

impl FieldSelector {
    fn operators(&self) -> [(&'static str, &Vec<String>); 6] {
        [
            ("Equals", &self.equals),
            ("StartsWith", &self.starts_with),
            ("EndsWith", &self.ends_with),
            ("NotEquals", &self.not_equals),
            ("NotStartsWith", &self.not_starts_with),
            ("NotEndsWith", &self.not_ends_with),
        ]
    }

    fn only_equals(&self) -> bool {
        self.operators()
            .iter()
            .all(|(name, values)| *name == "Equals" || values.is_empty())
    }

    /// One value satisfies the field selector: it meets one of the positive
    /// conditions (if there are any) and none of the negative ones.
    fn accepts(&self, value: &str) -> bool {
        let positive = self.equals.len() + self.starts_with.len() + self.ends_with.len();
        let hit = self.equals.iter().any(|v| v == value)
            || self
                .starts_with
                .iter()
                .any(|v| value.starts_with(v.as_str()))
            || self.ends_with.iter().any(|v| value.ends_with(v.as_str()));
        let excluded = self.not_equals.iter().any(|v| v == value)
            || self
                .not_starts_with
                .iter()
                .any(|v| value.starts_with(v.as_str()))
            || self
                .not_ends_with
                .iter()
                .any(|v| value.ends_with(v.as_str()));
        (positive == 0 || hit) && !excluded
    }
}

impl AdvancedSelector {
    /// Every field selector holds. For resources.ARN, some resource of the selected
    /// type must satisfy it.
    fn matches(&self, event: &EventFacts<'_>) -> bool {
        let resource_type = self
            .field_selectors
            .iter()
            .find(|f| f.field == "resources.type");
        self.field_selectors.iter().all(|field| {
            let read_only = event.read_only.to_string();
            match field.field.as_str() {
                "eventCategory" => field.accepts(event.category),
                "eventSource" => field.accepts(event.source),
                "eventName" => field.accepts(event.name),
                "readOnly" => field.accepts(&read_only),
                "resources.type" => event.resources.iter().any(|(kind, _)| field.accepts(kind)),
                "resources.ARN" => event.resources.iter().any(|(kind, arn)| {
                    resource_type.is_none_or(|t| t.accepts(kind)) && field.accepts(arn)
                }),
                _ => false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_event<'a>(name: &'a str, read_only: bool, key_arn: &'a str) -> EventFacts<'a> {
        EventFacts {
            category: "Data",
            source: "s3.amazonaws.com",
            name,
            read_only,
            resources: vec![(S3_OBJECT, key_arn), ("AWS::S3::Bucket", "arn:aws:s3:::b")],
        }
    }

    fn management<'a>(name: &'a str, read_only: bool) -> EventFacts<'a> {
        EventFacts {
            category: "Management",
            source: "kms.amazonaws.com",
            name,
            read_only,
            resources: Vec::new(),
        }
    }

    fn basic(read_write: &str, management: bool, prefixes: &[&str]) -> Selectors {
        Selectors::EventSelectors(vec![EventSelector {
            read_write_type: read_write.into(),
            include_management_events: management,
            data_resources: if prefixes.is_empty() {
                Vec::new()
            } else {
                vec![DataResource {
                    kind: S3_OBJECT.into(),
                    values: prefixes.iter().map(|p| (*p).to_owned()).collect(),
                }]
            },
            exclude_management_event_sources: Vec::new(),
        }])
    }

    #[test]
    fn basic_selectors_pick_management_and_prefixed_data_events() {
        let new_trail = Selectors::default_for_new_trail();
        assert!(new_trail.matches(&management("Decrypt", true)));
        assert!(!new_trail.matches(&data_event("GetObject", true, "arn:aws:s3:::b/k")));

        let logs = basic("All", false, &["arn:aws:s3:::b/logs/"]);
        assert!(logs.matches(&data_event("PutObject", false, "arn:aws:s3:::b/logs/1")));
        assert!(!logs.matches(&data_event("PutObject", false, "arn:aws:s3:::b/other")));
        assert!(!logs.matches(&management("Decrypt", true)));

        let writes = basic("WriteOnly", true, &["arn:aws:s3"]);
        assert!(writes.matches(&data_event("PutObject", false, "arn:aws:s3:::b/k")));
        assert!(!writes.matches(&data_event("GetObject", true, "arn:aws:s3:::b/k")));
        assert!(!writes.matches(&management("Decrypt", true)));
        assert!(writes.matches(&management("CreateKey", false)));
        // Insight events are not the business of event selectors.
        let insight = EventFacts {
            category: "Insight",
            ..management("Decrypt", true)
        };
        assert!(!new_trail.matches(&insight));
    }

    #[test]
    fn advanced_selectors_combine_their_conditions() {
        let selectors = Selectors::AdvancedEventSelectors(vec![
            AdvancedSelector {
                name: "writes of one bucket, but not its tmp/".into(),
                field_selectors: vec![
                    FieldSelector {
                        field: "eventCategory".into(),
                        equals: vec!["Data".into()],
                        ..Default::default()
                    },
                    FieldSelector {
                        field: "resources.type".into(),
                        equals: vec![S3_OBJECT.into()],
                        ..Default::default()
                    },
                    FieldSelector {
                        field: "resources.ARN".into(),
                        starts_with: vec!["arn:aws:s3:::b/".into()],
                        not_starts_with: vec!["arn:aws:s3:::b/tmp/".into()],
                        ..Default::default()
                    },
                    FieldSelector {
                        field: "readOnly".into(),
                        equals: vec!["false".into()],
                        ..Default::default()
                    },
                ],
            },
            AdvancedSelector {
                name: "management events but Decrypt".into(),
                field_selectors: vec![
                    FieldSelector {
                        field: "eventCategory".into(),
                        equals: vec!["Management".into()],
                        ..Default::default()
                    },
                    FieldSelector {
                        field: "eventName".into(),
                        not_equals: vec!["Decrypt".into()],
                        ..Default::default()
                    },
                ],
            },
        ])
        .validated()
        .unwrap();
        assert!(selectors.matches(&data_event("PutObject", false, "arn:aws:s3:::b/a")));
        assert!(!selectors.matches(&data_event("PutObject", false, "arn:aws:s3:::b/tmp/a")));
        assert!(!selectors.matches(&data_event("GetObject", true, "arn:aws:s3:::b/a")));
        assert!(!selectors.matches(&data_event("PutObject", false, "arn:aws:s3:::c/a")));
        assert!(selectors.matches(&management("GenerateDataKey", true)));
        assert!(!selectors.matches(&management("Decrypt", true)));
    }

    #[test]
    fn invalid_selectors_say_what_is_wrong() {
        let error = |s: Selectors| match s.validated() {
            Err(TrailError::InvalidEventSelectors(message)) => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            error(basic("Sometimes", true, &[])),
            "Value Sometimes for ReadWriteType is invalid. Valid values: ReadOnly, WriteOnly, All."
        );
        assert_eq!(
            error(basic("All", true, &["arn:aws:s3:::b"])),
            "Value arn:aws:s3:::b for DataResources.Values is invalid."
        );
        assert_eq!(
            error(Selectors::EventSelectors(Vec::new())),
            "A trail can have between 1 and 5 event selectors; 0 were specified."
        );
        let no_category = Selectors::AdvancedEventSelectors(vec![AdvancedSelector {
            name: String::new(),
            field_selectors: vec![FieldSelector {
                field: "eventName".into(),
                equals: vec!["Decrypt".into()],
                ..Default::default()
            }],
        }]);
        assert_eq!(
            error(no_category),
            "Invalid request provided: Each advanced event selector must have a field selector on eventCategory."
        );
        assert!(
            basic("All", true, &["arn:aws:s3", "arn:aws:s3:::bkt/"])
                .validated()
                .is_ok()
        );
    }
}
