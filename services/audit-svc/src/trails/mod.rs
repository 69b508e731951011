//! CloudTrail trails: their configuration (TrailService, `grpc`), the events each one
//! selects (`selectors`), and the worker that delivers them as log files into the
//! trail's bucket through object-svc (`delivery`, `object_client`). State in
//! Postgres (`store`, migration 0003).

pub mod delivery;
pub mod digest_delivery;
pub mod error;
pub mod grpc;
pub mod names;
pub mod object_client;
pub mod selectors;
pub mod store;
pub mod validation;

use chrono::{DateTime, Utc};

/// Time for everything trails do, injectable so tests never wait for an interval.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Where trails live: an account's trails in the installation's region.
#[derive(Debug, Clone)]
pub struct TrailScope {
    pub account_id: String,
    pub region: String,
}

impl TrailScope {
    pub fn arn(&self, name: &str) -> String {
        trail_arn(&self.region, &self.account_id, name)
    }
}

pub fn trail_arn(region: &str, account_id: &str, name: &str) -> String {
    format!("arn:aws:cloudtrail:{region}:{account_id}:trail/{name}")
}
