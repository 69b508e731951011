//! CloudTrail Insights: unusual rates of management calls, found by comparing each
//! closed minute with a trailing baseline, and recorded as Insight events (Start, then
//! End, sharing a sharedEventID) in the same store as every other event.
//!
//! - counting happens at ingest, in the statement that stores a batch (store.rs,
//!   `insight_counts`);
//! - [`rates`] moves a closed minute's counts into per-series rates and reads the
//!   samples attributions are computed from;
//! - [`detector`] is the rule, pure: running sums over the window, Start and End;
//! - [`event`] writes the CloudTrail records;
//! - [`worker`] closes minutes periodically and stores what the detector found.
//!
//! The rule and its constants are in docs/aws-behaviour.md (CloudTrail Insights).

pub mod detector;
pub mod event;
pub mod rates;
pub mod worker;

use std::{collections::BTreeSet, fmt, str::FromStr};

/// The two kinds of management-event Insights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InsightType {
    /// Write management calls per minute of one (eventSource, eventName).
    ApiCallRate,
    /// Management calls per minute of one (eventSource, eventName) failing with one
    /// errorCode.
    ApiErrorRate,
}

impl InsightType {
    pub const ALL: [InsightType; 2] = [InsightType::ApiCallRate, InsightType::ApiErrorRate];

    pub fn as_str(self) -> &'static str {
        match self {
            InsightType::ApiCallRate => "ApiCallRateInsight",
            InsightType::ApiErrorRate => "ApiErrorRateInsight",
        }
    }
}

impl fmt::Display for InsightType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InsightType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InsightType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("{s} is not an insight type; use ApiCallRateInsight or ApiErrorRateInsight")
            })
    }
}

/// The insight types that are on: new Insights start only for these (an Insight under
/// way always gets its End).
pub type InsightTypes = BTreeSet<InsightType>;

/// The insight types of trails' insight selectors in AWS's shape
/// (`[{"InsightType": "ApiCallRateInsight"}]`), one JSON array per trail that is
/// logging (`trails.insight_selectors`); unknown types are ignored.
pub fn enabled_types_from_selectors<'a>(
    selectors: impl IntoIterator<Item = &'a serde_json::Value>,
) -> InsightTypes {
    selectors
        .into_iter()
        .filter_map(serde_json::Value::as_array)
        .flatten()
        .filter_map(|selector| selector.get("InsightType")?.as_str()?.parse().ok())
        .collect()
}

/// One rate the detector follows: ApiCallRateInsight per (source, name), with an empty
/// error code; ApiErrorRateInsight per (source, name, error code).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    pub insight_type: InsightType,
    pub event_source: String,
    pub event_name: String,
    pub error_code: String,
}

impl SeriesKey {
    pub fn call_rate(source: &str, name: &str) -> SeriesKey {
        SeriesKey {
            insight_type: InsightType::ApiCallRate,
            event_source: source.to_owned(),
            event_name: name.to_owned(),
            error_code: String::new(),
        }
    }

    pub fn error_rate(source: &str, name: &str, error_code: &str) -> SeriesKey {
        SeriesKey {
            insight_type: InsightType::ApiErrorRate,
            event_source: source.to_owned(),
            event_name: name.to_owned(),
            error_code: error_code.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_in_aws_shape_name_the_types() {
        let trails = [
            serde_json::json!([{"InsightType": "ApiErrorRateInsight"}]),
            serde_json::json!([{"InsightType": "ApiCallRateInsight"}, {"InsightType": "Nope"}]),
            serde_json::json!(null),
        ];
        assert_eq!(
            enabled_types_from_selectors(&trails),
            InsightTypes::from(InsightType::ALL)
        );
        assert!(enabled_types_from_selectors(&[serde_json::json!([])]).is_empty());
        assert_eq!(
            "ApiCallRate".parse::<InsightType>().unwrap_err(),
            "ApiCallRate is not an insight type; use ApiCallRateInsight or ApiErrorRateInsight"
        );
    }
}
