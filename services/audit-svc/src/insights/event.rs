//! Insight events as CloudTrail records them: eventType AwsCloudTrailInsight,
//! eventCategory Insight, the API in insightDetails, statistics and attributions in
//! insightDetails.insightContext.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{InsightType, detector::Transition};
use crate::record::rfc3339;

/// Attributions list at most this many values per attribute and side.
pub const TOP_VALUES: usize = 5;
/// How a missing value (a call without an error code, an anonymous caller) is shown.
pub const NO_VALUE: &str = "null";

/// What attributions are counted from: one event of the series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    pub user_identity_arn: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
}

impl Sample {
    /// The attribution fields of a stored CloudTrail record.
    pub fn of_record(record: &Value) -> Sample {
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Sample {
            user_identity_arn: text(record.get("userIdentity").and_then(|i| i.get("arn"))),
            user_agent: text(record.get("userAgent")),
            error_code: text(record.get("errorCode")),
        }
    }
}

/// The events an attribution side was counted from: `samples` of the side's events
/// (all of them, or the newest when there were more), `calls` events in all over
/// `minutes` minutes.
#[derive(Debug, Clone)]
pub struct Side<'a> {
    pub samples: &'a [Sample],
    pub calls: u64,
    pub minutes: u32,
}

impl Side<'_> {
    /// The top values of one attribute with their calls per minute. With every event
    /// sampled this is exact; otherwise each value's share of the sample is scaled to
    /// the side's calls.
    fn top(&self, value_of: impl Fn(&Sample) -> Option<&str>) -> Value {
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for sample in self.samples {
            *counts
                .entry(value_of(sample).unwrap_or(NO_VALUE))
                .or_default() += 1;
        }
        let mut ranked: Vec<(&str, u64)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let sampled = self.samples.len() as f64;
        let minutes = f64::from(self.minutes.max(1));
        Value::Array(
            ranked
                .into_iter()
                .take(TOP_VALUES)
                .map(|(value, count)| {
                    let average = count as f64 * self.calls as f64 / sampled / minutes;
                    json!({"value": value, "average": average})
                })
                .collect(),
        )
    }
}

/// insightContext.attributions: the user identities, user agents and error codes
/// behind the Insight, against the same over the baseline.
pub fn attributions(insight: &Side<'_>, baseline: &Side<'_>) -> Value {
    type ValueOf = fn(&Sample) -> Option<&str>;
    let attributes: [(&str, ValueOf); 3] = [
        ("userIdentityArn", |s| s.user_identity_arn.as_deref()),
        ("userAgent", |s| s.user_agent.as_deref()),
        ("errorCode", |s| s.error_code.as_deref()),
    ];
    Value::Array(
        attributes
            .into_iter()
            .map(|(attribute, value_of)| {
                json!({
                    "attribute": attribute,
                    "insight": insight.top(value_of),
                    "baseline": baseline.top(value_of),
                })
            })
            .collect(),
    )
}

/// Where the Insight events are recorded.
#[derive(Debug, Clone)]
pub struct Origin {
    pub account_id: String,
    pub region: String,
}

/// The CloudTrail record of `transition`.
pub fn record(origin: &Origin, transition: &Transition, attributions: Value) -> Value {
    let key = &transition.key;
    let stats = &transition.statistics;
    let mut details = json!({
        "state": transition.state.as_str(),
        "eventSource": key.event_source,
        "eventName": key.event_name,
        "insightType": key.insight_type.as_str(),
    });
    if key.insight_type == InsightType::ApiErrorRate {
        details["errorCode"] = json!(key.error_code);
    }
    details["insightContext"] = json!({
        "statistics": {
            "baseline": {"average": stats.baseline_average},
            "insight": {"average": stats.insight_average},
            "insightDuration": stats.insight_duration,
            "baselineDuration": stats.baseline_duration,
        },
        "attributions": attributions,
    });
    json!({
        "eventVersion": keyhold_platform::audit::EVENT_VERSION,
        "eventTime": rfc3339(transition.event_time),
        "awsRegion": origin.region,
        "eventID": transition.event_id().to_string(),
        "eventType": "AwsCloudTrailInsight",
        "recipientAccountId": origin.account_id,
        "sharedEventID": transition.shared_event_id.to_string(),
        "insightDetails": details,
        "eventCategory": "Insight",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(arn: &str, agent: &str, error: Option<&str>) -> Sample {
        Sample {
            user_identity_arn: Some(arn.into()),
            user_agent: Some(agent.into()),
            error_code: error.map(Into::into),
        }
    }

    #[test]
    fn attributions_rank_values_by_calls_per_minute() {
        let alice = "arn:aws:iam::000000000000:user/alice";
        let bob = "arn:aws:iam::000000000000:user/bob";
        let insight = [
            sample(alice, "cli", Some("AccessDeniedException")),
            sample(alice, "cli", Some("AccessDeniedException")),
            sample(alice, "sdk", Some("AccessDeniedException")),
            sample(bob, "cli", Some("AccessDeniedException")),
        ];
        let baseline = [Sample::default(), sample(bob, "sdk", None)];
        let value = attributions(
            &Side {
                samples: &insight,
                calls: 4,
                minutes: 2,
            },
            &Side {
                samples: &baseline,
                calls: 2,
                minutes: 4,
            },
        );
        assert_eq!(
            value,
            json!([
                {"attribute": "userIdentityArn",
                 "insight": [{"value": alice, "average": 1.5}, {"value": bob, "average": 0.5}],
                 "baseline": [{"value": bob, "average": 0.25}, {"value": "null", "average": 0.25}]},
                {"attribute": "userAgent",
                 "insight": [{"value": "cli", "average": 1.5}, {"value": "sdk", "average": 0.5}],
                 "baseline": [{"value": "null", "average": 0.25}, {"value": "sdk", "average": 0.25}]},
                {"attribute": "errorCode",
                 "insight": [{"value": "AccessDeniedException", "average": 2.0}],
                 "baseline": [{"value": "null", "average": 0.5}]},
            ])
        );
    }

    #[test]
    fn a_partial_sample_is_scaled_to_the_calls() {
        // 4 of 100 calls sampled over 10 minutes: 3 of 4 -> 75 calls -> 7.5 a minute.
        let samples = [
            sample("a", "x", None),
            sample("a", "x", None),
            sample("a", "x", None),
            sample("b", "x", None),
        ];
        let side = Side {
            samples: &samples,
            calls: 100,
            minutes: 10,
        };
        let top = side.top(|s| s.user_identity_arn.as_deref());
        assert_eq!(
            top,
            json!([{"value": "a", "average": 7.5}, {"value": "b", "average": 2.5}])
        );
    }
}
