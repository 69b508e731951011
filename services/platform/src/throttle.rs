//! A per-principal request quota, as AWS applies to KMS calls: each access key gets
//! a token bucket of `rate` requests per second (burst of one second's worth). Past
//! it a call is refused with ThrottlingException, and the client retries.

use std::{collections::HashMap, sync::Mutex, time::Instant};

use crate::error::AwsError;

pub struct Throttle {
    rate: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Throttle {
    /// `requests_per_second` must be positive.
    pub fn new(requests_per_second: u32) -> Self {
        Throttle {
            rate: f64::from(requests_per_second),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `principal`'s quota, or says why not.
    pub fn admit(&self, principal: &str) -> Result<(), AwsError> {
        self.admit_at(principal, Instant::now())
    }

    fn admit_at(&self, principal: &str, now: Instant) -> Result<(), AwsError> {
        let mut buckets = self.buckets.lock().expect("throttle lock");
        let bucket = buckets.entry(principal.to_owned()).or_insert(Bucket {
            tokens: self.rate,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled);
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * self.rate).min(self.rate);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(AwsError::new(
                tonic::Code::ResourceExhausted,
                "ThrottlingException",
                "Rate exceeded",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_past_the_rate_is_refused_until_tokens_refill() {
        let throttle = Throttle::new(2);
        let start = Instant::now();
        assert!(throttle.admit_at("a", start).is_ok());
        assert!(throttle.admit_at("a", start).is_ok());
        let refused = throttle.admit_at("a", start).unwrap_err();
        assert_eq!(
            (
                refused.code,
                refused.exception.as_ref(),
                refused.message.as_str()
            ),
            (
                tonic::Code::ResourceExhausted,
                "ThrottlingException",
                "Rate exceeded"
            )
        );
        assert!(
            throttle.admit_at("b", start).is_ok(),
            "quotas are per principal"
        );
        assert!(
            throttle
                .admit_at("a", start + Duration::from_millis(500))
                .is_ok()
        );
    }
}
