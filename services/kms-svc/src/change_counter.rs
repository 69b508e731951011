//! Reads of the database's key change counter (`key_changes`), shared by the calls
//! waiting for one: a cached read must see a value read after the call arrived, and
//! one read started after several calls arrived serves them all. Under load one
//! single-row query then answers many calls instead of one each.

use std::sync::{Arc, Mutex, PoisonError};

use sqlx::PgPool;
use tokio::sync::oneshot;

type Waiter = oneshot::Sender<Result<i64, String>>;

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiter>,
    reading: bool,
}

#[derive(Clone)]
pub struct ChangeCounter {
    pool: PgPool,
    queue: Arc<Mutex<Queue>>,
}

impl ChangeCounter {
    pub fn new(pool: PgPool) -> Self {
        ChangeCounter {
            pool,
            queue: Arc::default(),
        }
    }

    /// The counter, from a read that started after this call.
    pub async fn current(&self) -> Result<i64, String> {
        let (sender, receiver) = oneshot::channel();
        let start_reader = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.waiting.push(sender);
            !std::mem::replace(&mut queue.reading, true)
        };
        if start_reader {
            tokio::spawn(self.clone().read_while_waited_for());
        }
        receiver
            .await
            .unwrap_or_else(|_| Err("the change counter reader stopped".into()))
    }

    /// Reads for the calls queued before each read starts, until none wait.
    async fn read_while_waited_for(self) {
        loop {
            let batch = {
                let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                if queue.waiting.is_empty() {
                    queue.reading = false;
                    return;
                }
                std::mem::take(&mut queue.waiting)
            };
            // Every call of `batch` arrived before this read starts.
            let read: Result<i64, String> = sqlx::query_scalar("SELECT value FROM key_changes")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| e.to_string());
            for waiter in batch {
                let _ = waiter.send(read.clone());
            }
        }
    }
}
