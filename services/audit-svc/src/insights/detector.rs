//! The anomaly rule, free of the database and of the clock: it is fed closed minutes
//! in order (their calls per series, and the calls of the minute leaving the baseline
//! window) and answers with the Insights that start or end at that minute.
//!
//! Baseline: the average calls per minute of a series over the `window` minutes
//! before the minute, kept as running sums (calls and squared calls), so a minute
//! costs the same whatever the window. A minute is anomalous when its calls exceed
//!
//! ```text
//! threshold = max(factor x average, average + deviations x stddev, floor)
//! ```
//!
//! An Insight starts at the first anomalous minute of a series with none under way,
//! once the window is full of history, and only for an enabled insight type. Its
//! baseline and threshold are frozen at the start. It ends after `quiet_minutes`
//! minutes in a row at or under the frozen threshold; it lasted from its first to its
//! last anomalous minute (quiet minutes between them included).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{InsightTypes, SeriesKey};

/// The constants of the rule (docs/aws-behaviour.md gives the reasons).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// K: a minute must exceed K times the baseline average...
    pub factor: f64,
    /// N: ...and the average plus N standard deviations...
    pub deviations: f64,
    /// ...and this many calls per minute.
    pub floor: f64,
    /// M: minutes in a row back at or under the threshold that end an Insight.
    pub quiet_minutes: u32,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            factor: 3.0,
            deviations: 4.0,
            floor: 10.0,
            quiet_minutes: 2,
        }
    }
}

/// An Insight under way.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenInsight {
    pub shared_event_id: Uuid,
    /// The first anomalous minute.
    pub start: DateTime<Utc>,
    /// Calls of the baseline window before `start`.
    pub baseline_calls: u64,
    pub threshold: f64,
    /// Calls and minutes from `start` through the last anomalous minute.
    pub calls: u64,
    pub minutes: u32,
    /// Calls and minutes since the last anomalous minute (all at or under threshold).
    pub pending_calls: u64,
    pub pending_minutes: u32,
}

/// What the detector keeps of a series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesState {
    /// Calls, and squared calls per minute, over the window before the next minute.
    pub sum: u64,
    pub sum_squares: u64,
    pub open: Option<OpenInsight>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsightState {
    Start,
    End,
}

impl InsightState {
    pub fn as_str(self) -> &'static str {
        match self {
            InsightState::Start => "Start",
            InsightState::End => "End",
        }
    }
}

/// insightContext.statistics of an Insight event.
#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    /// Calls per minute over the baseline window before the Insight's start.
    pub baseline_average: f64,
    /// Start: the calls of the first anomalous minute. End: calls per minute over
    /// the Insight's duration.
    pub insight_average: f64,
    /// Minutes (Start: 1).
    pub insight_duration: u32,
    pub baseline_duration: u32,
}

/// A half-open range of whole minutes, with the calls the series made in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub calls: u64,
}

impl Span {
    pub fn minutes(&self) -> u32 {
        u32::try_from((self.to - self.from).num_minutes()).unwrap_or(0)
    }
}

/// An Insight event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub key: SeriesKey,
    pub state: InsightState,
    pub shared_event_id: Uuid,
    /// Start: the start of the first anomalous minute. End: the end of the last.
    pub event_time: DateTime<Utc>,
    pub statistics: Statistics,
    /// The minutes the insight side of the attributions covers.
    pub insight: Span,
    /// The baseline window before the Insight's start.
    pub baseline: Span,
}

impl Transition {
    /// The eventID: derived from the Insight and the state, so closing the same
    /// minute again (after a crash) stores nothing new.
    pub fn event_id(&self) -> Uuid {
        derived_id(&[&self.shared_event_id.to_string(), self.state.as_str()])
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Detector {
    /// Minutes in the baseline window.
    pub window: u32,
    pub rule: Rule,
    /// Minutes closed so far, up to `window`: no Insight starts before it is full.
    pub history: u32,
    pub series: BTreeMap<SeriesKey, SeriesState>,
}

impl Detector {
    pub fn new(window: u32, rule: Rule) -> Detector {
        Detector {
            window: window.max(1),
            rule,
            history: 0,
            series: BTreeMap::new(),
        }
    }

    /// Closes `minute` (its start): `calls` are its calls per series, `leaving` those
    /// of the minute `window` minutes earlier, which leaves the baseline now.
    pub fn close_minute(
        &mut self,
        minute: DateTime<Utc>,
        calls: &BTreeMap<SeriesKey, u64>,
        leaving: &BTreeMap<SeriesKey, u64>,
        enabled: &InsightTypes,
    ) -> Vec<Transition> {
        for key in calls.keys() {
            self.series.entry(key.clone()).or_default();
        }
        let window = self.window;
        let full = self.history >= window;
        let mut transitions = Vec::new();
        for (key, state) in &mut self.series {
            let count = calls.get(key).copied().unwrap_or(0);
            match &mut state.open {
                None => {
                    let threshold = threshold(&self.rule, window, state.sum, state.sum_squares);
                    if full && enabled.contains(&key.insight_type) && count as f64 > threshold {
                        let open = OpenInsight {
                            shared_event_id: shared_event_id(key, minute),
                            start: minute,
                            baseline_calls: state.sum,
                            threshold,
                            calls: count,
                            minutes: 1,
                            pending_calls: 0,
                            pending_minutes: 0,
                        };
                        transitions.push(transition(key, InsightState::Start, &open, window));
                        state.open = Some(open);
                    }
                }
                Some(open) => {
                    if count as f64 > open.threshold {
                        open.calls += open.pending_calls + count;
                        open.minutes += open.pending_minutes + 1;
                        open.pending_calls = 0;
                        open.pending_minutes = 0;
                    } else {
                        open.pending_calls += count;
                        open.pending_minutes += 1;
                        if open.pending_minutes >= self.rule.quiet_minutes {
                            transitions.push(transition(key, InsightState::End, open, window));
                            state.open = None;
                        }
                    }
                }
            }
            let gone = leaving.get(key).copied().unwrap_or(0);
            state.sum = (state.sum + count).saturating_sub(gone);
            state.sum_squares = (state.sum_squares + count * count).saturating_sub(gone * gone);
        }
        self.series
            .retain(|_, state| state.sum > 0 || state.open.is_some());
        self.history = (self.history + 1).min(window);
        transitions
    }
}

/// The calls per minute a minute must exceed to be anomalous, given the window's sums.
pub fn threshold(rule: &Rule, window: u32, sum: u64, sum_squares: u64) -> f64 {
    let minutes = f64::from(window.max(1));
    let average = sum as f64 / minutes;
    let variance = (sum_squares as f64 / minutes - average * average).max(0.0);
    (rule.factor * average)
        .max(average + rule.deviations * variance.sqrt())
        .max(rule.floor)
}

fn transition(key: &SeriesKey, state: InsightState, open: &OpenInsight, window: u32) -> Transition {
    let minutes = |n: u32| TimeDelta::minutes(i64::from(n));
    let (insight, insight_duration, event_time) = match state {
        // The Start event tells the first anomalous minute.
        InsightState::Start => (
            Span {
                from: open.start,
                to: open.start + minutes(1),
                calls: open.calls,
            },
            1,
            open.start,
        ),
        InsightState::End => {
            let end = open.start + minutes(open.minutes);
            (
                Span {
                    from: open.start,
                    to: end,
                    calls: open.calls,
                },
                open.minutes,
                end,
            )
        }
    };
    Transition {
        key: key.clone(),
        state,
        shared_event_id: open.shared_event_id,
        event_time,
        statistics: Statistics {
            baseline_average: open.baseline_calls as f64 / f64::from(window),
            insight_average: insight.calls as f64 / f64::from(insight_duration),
            insight_duration,
            baseline_duration: window,
        },
        insight,
        baseline: Span {
            from: open.start - minutes(window),
            to: open.start,
            calls: open.baseline_calls,
        },
    }
}

/// The sharedEventID of the Insight of `key` starting at `start`.
pub fn shared_event_id(key: &SeriesKey, start: DateTime<Utc>) -> Uuid {
    derived_id(&[
        "keyhold-insight",
        key.insight_type.as_str(),
        &key.event_source,
        &key.event_name,
        &key.error_code,
        &start.timestamp().to_string(),
    ])
}

/// A UUID (version 4 layout) from the SHA-256 of `parts`: the same parts, the same id.
fn derived_id(parts: &[&str]) -> Uuid {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.len().to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::insights::InsightType;

    const WINDOW: u32 = 5;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap()
    }

    fn minute(n: i64) -> DateTime<Utc> {
        t0() + TimeDelta::minutes(n)
    }

    fn denied() -> SeriesKey {
        SeriesKey::error_rate("kms.amazonaws.com", "Decrypt", "AccessDeniedException")
    }

    fn both() -> InsightTypes {
        InsightTypes::from(InsightType::ALL)
    }

    /// Feeds one series' calls per minute from minute 0, with the calls leaving the
    /// window taken from the same list (the clock is the minute index); returns the
    /// transitions with the minute that produced each.
    fn run(
        detector: &mut Detector,
        key: &SeriesKey,
        counts: &[u64],
        enabled: &InsightTypes,
    ) -> Vec<(i64, Transition)> {
        let mut found = Vec::new();
        for (i, &count) in counts.iter().enumerate() {
            let calls = BTreeMap::from([(key.clone(), count)]);
            let leaving = i
                .checked_sub(detector.window as usize)
                .map(|old| BTreeMap::from([(key.clone(), counts[old])]))
                .unwrap_or_default();
            let minute_index = i as i64;
            for t in detector.close_minute(minute(minute_index), &calls, &leaving, enabled) {
                found.push((minute_index, t));
            }
        }
        found
    }

    #[test]
    fn a_burst_of_errors_starts_and_ends_an_insight() {
        let mut detector = Detector::new(WINDOW, Rule::default());
        // Baseline 2,4,2,4,3: sum 15, average 3, squares 49, variance 49/5 - 9 = 0.8,
        // so the threshold is max(3 x 3, 3 + 4 x 0.894, 10) = 10 (the floor).
        let counts = [2, 4, 2, 4, 3, 60, 40, 5, 0, 0];
        let found = run(&mut detector, &denied(), &counts, &both());
        assert_eq!(found.len(), 2, "{found:#?}");

        let (at, start) = &found[0];
        assert_eq!(*at, 5);
        assert_eq!(start.state, InsightState::Start);
        assert_eq!(start.event_time, minute(5));
        assert_eq!(
            start.statistics,
            Statistics {
                baseline_average: 3.0,
                insight_average: 60.0,
                insight_duration: 1,
                baseline_duration: 5,
            }
        );
        assert_eq!(
            start.insight,
            Span {
                from: minute(5),
                to: minute(6),
                calls: 60
            }
        );
        assert_eq!(
            start.baseline,
            Span {
                from: minute(0),
                to: minute(5),
                calls: 15
            }
        );

        // 60 and 40 are over 10; 5 then 0 are two quiet minutes: the End is closed
        // with minute 8 and tells minutes 5-6, (60 + 40) / 2 = 50 per minute.
        let (at, end) = &found[1];
        assert_eq!(*at, 8);
        assert_eq!(end.state, InsightState::End);
        assert_eq!(end.shared_event_id, start.shared_event_id);
        assert_ne!(end.event_id(), start.event_id());
        assert_eq!(end.event_time, minute(7));
        assert_eq!(
            end.statistics,
            Statistics {
                baseline_average: 3.0,
                insight_average: 50.0,
                insight_duration: 2,
                baseline_duration: 5,
            }
        );
        assert_eq!(end.insight.calls, 100);
        assert_eq!(end.baseline, start.baseline);
        assert!(detector.series[&denied()].open.is_none());
    }

    #[test]
    fn the_standard_deviation_term_raises_the_threshold_of_a_bursty_baseline() {
        // Baseline 0,0,0,0,50: average 10, variance 2500/5 - 100 = 400, stddev 20:
        // threshold max(30, 10 + 80, 10) = 90.
        assert_eq!(threshold(&Rule::default(), WINDOW, 50, 2500), 90.0);
        let mut detector = Detector::new(WINDOW, Rule::default());
        let found = run(&mut detector, &denied(), &[0, 0, 0, 0, 50, 90], &both());
        assert!(found.is_empty(), "90 is not over 90: {found:#?}");
        let mut detector = Detector::new(WINDOW, Rule::default());
        let found = run(&mut detector, &denied(), &[0, 0, 0, 0, 50, 91], &both());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1.statistics.baseline_average, 10.0);
        assert_eq!(found[0].1.statistics.insight_average, 91.0);
    }

    #[test]
    fn a_short_lull_does_not_end_an_insight() {
        let mut detector = Detector::new(WINDOW, Rule::default());
        // One quiet minute (3) between bursts stays inside the Insight: it lasts
        // minutes 5-7, (30 + 3 + 45) / 3 = 26 per minute.
        let counts = [1, 1, 1, 1, 1, 30, 3, 45, 0, 0, 0];
        let found = run(&mut detector, &denied(), &counts, &both());
        let states: Vec<(i64, InsightState)> = found.iter().map(|(m, t)| (*m, t.state)).collect();
        assert_eq!(states, [(5, InsightState::Start), (9, InsightState::End)]);
        let end = &found[1].1;
        assert_eq!(end.event_time, minute(8));
        assert_eq!(end.statistics.insight_duration, 3);
        assert_eq!(end.statistics.insight_average, 26.0);
        assert_eq!(end.statistics.baseline_average, 1.0);
    }

    #[test]
    fn no_insight_before_the_window_is_full_or_for_a_type_that_is_off() {
        let mut detector = Detector::new(WINDOW, Rule::default());
        // The burst in minute 4 has only four minutes of history before it.
        assert!(run(&mut detector, &denied(), &[0, 0, 0, 0, 500], &both()).is_empty());

        let mut detector = Detector::new(WINDOW, Rule::default());
        let only_calls = InsightTypes::from([InsightType::ApiCallRate]);
        assert!(run(&mut detector, &denied(), &[0, 0, 0, 0, 0, 500], &only_calls).is_empty());
    }

    #[test]
    fn an_insight_under_way_ends_even_when_its_type_is_turned_off() {
        let mut detector = Detector::new(WINDOW, Rule::default());
        let found = run(&mut detector, &denied(), &[0, 0, 0, 0, 0, 500], &both());
        assert_eq!(found.len(), 1);
        let calls = BTreeMap::new();
        let none = InsightTypes::new();
        assert!(
            detector
                .close_minute(minute(6), &calls, &BTreeMap::new(), &none)
                .is_empty()
        );
        let end = detector.close_minute(minute(7), &calls, &BTreeMap::new(), &none);
        assert_eq!(end.len(), 1);
        assert_eq!(end[0].state, InsightState::End);
        assert_eq!(end[0].statistics.insight_average, 500.0);
    }

    #[test]
    fn the_window_slides_and_quiet_series_are_forgotten() {
        let mut detector = Detector::new(WINDOW, Rule::default());
        let key = SeriesKey::call_rate("kms.amazonaws.com", "CreateKey");
        run(
            &mut detector,
            &key,
            &[1, 2, 3, 4, 5, 6, 7],
            &InsightTypes::new(),
        );
        // The window before minute 7 holds minutes 2-6.
        let state = &detector.series[&key];
        assert_eq!(state.sum, 3 + 4 + 5 + 6 + 7);
        assert_eq!(state.sum_squares, 9 + 16 + 25 + 36 + 49);
        // A series whose window holds no calls any more is dropped.
        let mut quiet = Detector::new(WINDOW, Rule::default());
        run(&mut quiet, &key, &[1, 0, 0, 0, 0, 0], &InsightTypes::new());
        assert!(quiet.series.is_empty());
    }

    #[test]
    fn ids_are_derived_from_the_insight() {
        let a = shared_event_id(&denied(), minute(5));
        assert_eq!(a, shared_event_id(&denied(), minute(5)));
        assert_ne!(a, shared_event_id(&denied(), minute(6)));
        let other = SeriesKey::error_rate("kms.amazonaws.com", "Decrypt", "NotFoundException");
        assert_ne!(a, shared_event_id(&other, minute(5)));
        assert_eq!(a.get_version_num(), 4);
    }
}
