//! The periodic task that closes minutes: moves their counts into rates, runs the
//! detector over them in order and stores the Insight events it finds, then saves the
//! detector, all in one transaction. One replica at a time does this (a Postgres
//! advisory lock); the Insight events' ids are derived from the Insight, so a round
//! retried after a failure stores nothing twice.

use std::{future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use keyhold_platform::periodic;
use tokio_util::sync::CancellationToken;

use super::{
    InsightTypes,
    detector::{Rule, Transition},
    event::{self, Origin, Side},
    rates,
};
use crate::{
    domain::Audit,
    error::{AuditError, AuditResult},
};

/// What time it is; tests bring their own.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The key of the advisory lock that makes one replica at a time close minutes.
const LOCK: i64 = 0x6b65_7968_6f6c_6449;
/// Minutes one round closes at most, so a long outage is caught up over a few rounds
/// instead of one long transaction.
const MINUTES_PER_ROUND: u32 = 240;
/// Events read per side of an Insight to count its attributions (the newest ones).
const SAMPLES: i64 = 10_000;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Minutes in the baseline window.
    pub window_minutes: u32,
    /// How long after its end a minute is closed: events arriving later than that for
    /// a closed minute are not counted.
    pub close_delay: TimeDelta,
    pub rule: Rule,
    pub origin: Origin,
}

/// What a round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub minutes_closed: u32,
    /// The eventIDs of the Insight events stored.
    pub recorded: Vec<String>,
    /// Calls counted for minutes already closed, left out.
    pub late_calls: i64,
}

pub struct Worker {
    audit: Arc<Audit>,
    settings: Settings,
}

impl Worker {
    pub fn new(audit: Arc<Audit>, settings: Settings) -> Worker {
        Worker { audit, settings }
    }

    /// Closes every minute that ended `close_delay` before `now` (at most
    /// MINUTES_PER_ROUND), starting Insights only of the `enabled` types.
    pub async fn round(&self, now: DateTime<Utc>, enabled: &InsightTypes) -> AuditResult<Round> {
        let one = TimeDelta::minutes(1);
        let window = TimeDelta::minutes(i64::from(self.settings.window_minutes.max(1)));
        let closable_end = (now - self.settings.close_delay)
            .duration_trunc(one)
            .map_err(|e| AuditError::Internal(format!("the minute of {now}: {e}")))?;
        let pool = self.audit.store().pool();
        let mut tx = pool.begin().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if !locked {
            return Ok(Round::default());
        }
        let (last_closed, mut detector) = rates::load(
            &mut tx,
            self.settings.window_minutes,
            self.settings.rule.clone(),
        )
        .await?;
        let first = match last_closed {
            Some(last) => last + one,
            // The first round starts with the oldest counts there are (events stored
            // before any round: their minutes make the first baseline).
            None => rates::earliest_count(&mut tx)
                .await?
                .unwrap_or(closable_end - one)
                .min(closable_end - one),
        };
        if first >= closable_end {
            // Ended here and now, not when the dropped transaction's rollback gets its
            // turn on the connection: until then the advisory lock stays held and
            // the next round, on another connection, would find it taken.
            tx.rollback().await?;
            return Ok(Round::default());
        }
        let late_calls = rates::roll_up(&mut tx, closable_end, last_closed).await?;
        if late_calls > 0 {
            tracing::warn!(
                calls = late_calls,
                "calls arrived after their minute was closed; Insights leave them out"
            );
        }
        let mut round = Round {
            late_calls,
            ..Round::default()
        };
        let mut transitions = Vec::new();
        let mut minute = first;
        while minute < closable_end && round.minutes_closed < MINUTES_PER_ROUND {
            let calls = rates::minute_calls(&mut tx, minute).await?;
            let leaving = rates::minute_calls(&mut tx, minute - window).await?;
            transitions.extend(detector.close_minute(minute, &calls, &leaving, enabled));
            round.minutes_closed += 1;
            minute += one;
        }
        let mut records = Vec::with_capacity(transitions.len());
        for transition in &transitions {
            records.push(self.record(transition).await?);
        }
        if !records.is_empty() {
            round.recorded = records.iter().map(|(id, _)| id.clone()).collect();
            let ingested = self.audit.ingest(records).await?;
            if let Some(refused) = ingested.rejected.first() {
                return Err(AuditError::Internal(format!(
                    "an Insight event was refused: {}",
                    refused.reason
                )));
            }
        }
        let last = minute - one;
        rates::save(&mut tx, last, &detector).await?;
        // The next minute to close needs the rates from a window before it onwards.
        rates::forget_rates_before(&mut tx, minute - window).await?;
        tx.commit().await?;
        for t in &transitions {
            tracing::info!(
                state = t.state.as_str(),
                insight_type = %t.key.insight_type,
                event_source = %t.key.event_source,
                event_name = %t.key.event_name,
                error_code = %t.key.error_code,
                shared_event_id = %t.shared_event_id,
                "Insight event recorded"
            );
        }
        Ok(round)
    }

    /// The eventID and record of a transition, its attributions counted from the
    /// series' events.
    async fn record(&self, transition: &Transition) -> AuditResult<(String, String)> {
        let pool = self.audit.store().pool();
        let insight = rates::samples(pool, &transition.key, &transition.insight, SAMPLES).await?;
        let baseline = rates::samples(pool, &transition.key, &transition.baseline, SAMPLES).await?;
        let attributions = event::attributions(
            &Side {
                samples: &insight,
                calls: transition.insight.calls,
                minutes: transition.insight.minutes(),
            },
            &Side {
                samples: &baseline,
                calls: transition.baseline.calls,
                minutes: transition.baseline.minutes(),
            },
        );
        let record = event::record(&self.settings.origin, transition, attributions);
        Ok((transition.event_id().to_string(), record.to_string()))
    }
}

/// Runs a round every `every` until `shutdown`, asking `enabled` each time which
/// insight types are on.
pub async fn run_until<F, Fut>(
    worker: Worker,
    clock: Arc<dyn Clock>,
    every: Duration,
    enabled: F,
    shutdown: CancellationToken,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = InsightTypes>,
{
    periodic::every(every, shutdown, || async {
        let types = enabled().await;
        if let Err(error) = worker.round(clock.now(), &types).await {
            tracing::warn!(error = %error, "closing Insights minutes failed; next round");
        }
    })
    .await;
}
