//! Reads of the database's key change counter (`key_changes`), shared by the calls
//! waiting for one ([`platform::batch`]): a cached read must see a value read after
//! the call arrived, and one read started after several calls arrived serves them
//! all. Under load one single-row query then answers many calls instead of one each.

use keyhold_platform::batch::Batcher;
use sqlx::PgPool;

#[derive(Clone)]
pub struct ChangeCounter {
    reads: Batcher<(), Result<i64, String>>,
}

impl ChangeCounter {
    pub fn new(pool: PgPool) -> Self {
        let reads = Batcher::new(usize::MAX, move |calls: Vec<()>| {
            let pool = pool.clone();
            Box::pin(async move {
                let read: Result<i64, String> = sqlx::query_scalar("SELECT value FROM key_changes")
                    .fetch_one(&pool)
                    .await
                    .map_err(|e| e.to_string());
                vec![read; calls.len()]
            })
        });
        ChangeCounter { reads }
    }

    /// The counter, from a read that started after this call.
    pub async fn current(&self) -> Result<i64, String> {
        self.reads
            .call(())
            .await
            .unwrap_or_else(|unanswered| Err(unanswered.to_string()))
    }
}
