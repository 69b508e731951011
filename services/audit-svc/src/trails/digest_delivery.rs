//! The digest step of each delivery round: for every trail that validates its log
//! files, the digests whose windows have closed, written into the trail's bucket as
//! CloudTrail acting for the trail, with GetTrailStatus' digest fields kept current.

use std::sync::Arc;

use crate::digests::{DigestError, DigestSchedule, DigestTrail, SigningKeys, write_due_digests};

use super::{
    Clock,
    error::TrailResult,
    object_client::{TrailObjects, TrailWriter},
    store::TrailStore,
};

/// What GetTrailStatus shows while audit-svc cannot sign.
pub const NO_MASTER_KEY: &str =
    "audit-svc has no master key (KEYHOLD_MASTER_KEY_FILE), so it cannot sign digest files";

pub struct DigestDelivery {
    store: TrailStore,
    writer: TrailWriter,
    /// None when audit-svc runs without a master key.
    keys: Option<SigningKeys>,
    schedule: DigestSchedule,
    clock: Arc<dyn Clock>,
}

impl DigestDelivery {
    pub fn new(
        store: TrailStore,
        writer: TrailWriter,
        keys: Option<SigningKeys>,
        schedule: DigestSchedule,
        clock: Arc<dyn Clock>,
    ) -> Self {
        DigestDelivery {
            store,
            writer,
            keys,
            schedule,
            clock,
        }
    }

    /// Writes the digests due for every validating trail; one trail's failure shows
    /// in its status and does not hold the others back.
    pub async fn deliver_once(&self) -> TrailResult<()> {
        for trail in self.store.digest_trails().await? {
            let outcome = self.deliver_trail(&trail).await;
            if let Err(error) = &outcome {
                tracing::warn!(trail = %trail.name, error = %error, "digest delivery failed; next round");
            }
            let recorded = match &outcome {
                Ok(time) => Ok(*time),
                Err(error) => Err(error.as_str()),
            };
            self.store.record_digest_delivery(&trail, recorded).await?;
        }
        Ok(())
    }

    /// The time of the last digest written, if any; else the text GetTrailStatus shows.
    async fn deliver_trail(
        &self,
        trail: &DigestTrail,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
        let Some(keys) = &self.keys else {
            return Err(NO_MASTER_KEY.to_owned());
        };
        let objects = TrailObjects::Trail {
            writer: &self.writer,
            trail_arn: trail.arn(),
            account: trail.account_id.clone(),
        };
        match write_due_digests(
            &objects,
            self.store.pool(),
            keys,
            trail,
            self.schedule,
            self.clock.now(),
        )
        .await
        {
            Ok(written) => Ok((!written.is_empty()).then(|| self.clock.now())),
            Err(DigestError::Store { error, .. }) => Err(error.to_string()),
            Err(other) => {
                // Database and key errors are audit-svc's own, not the bucket's.
                tracing::error!(error = %other, "writing digests");
                Err("InternalFailure".to_owned())
            }
        }
    }
}
