//! Calls that share one round trip. While a batch is being served, the calls that
//! arrive wait for the next one, which takes all of them: alone, a call costs one
//! round trip as before; under load one round trip (one statement, one commit) serves
//! many calls, and the database wakes once for them instead of once each.
//!
//! Freshness is kept: a call is served by a batch that started after the call
//! arrived, so it sees everything committed before it was made (a read) and is
//! acknowledged only once its own batch is done (a write).

use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use tokio::sync::oneshot;

type Run<T, R> = dyn Fn(Vec<T>) -> BoxFuture<'static, Vec<R>> + Send + Sync;

/// Gathers calls of `T` into batches for `run`, which answers each batch with one `R`
/// per call, in order.
pub struct Batcher<T, R> {
    inner: Arc<Inner<T, R>>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T, R> std::fmt::Debug for Batcher<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("max_batch", &self.inner.max_batch)
            .finish_non_exhaustive()
    }
}

struct Inner<T, R> {
    queue: Mutex<Queue<T, R>>,
    max_batch: usize,
    run: Box<Run<T, R>>,
}

struct Queue<T, R> {
    waiting: Vec<(T, oneshot::Sender<R>)>,
    serving: bool,
}

/// The batch that would have answered a call ended without an answer for it (its
/// runner panicked, or returned fewer answers than calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the batch serving this call ended without an answer")]
pub struct Unanswered;

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// `run` gets at most `max_batch` calls at a time. It runs on a task of its own,
    /// so a caller that goes away does not cancel the batch its call is in.
    pub fn new<F>(max_batch: usize, run: F) -> Self
    where
        F: Fn(Vec<T>) -> BoxFuture<'static, Vec<R>> + Send + Sync + 'static,
    {
        Self {
            inner: Arc::new(Inner {
                queue: Mutex::new(Queue {
                    waiting: Vec::new(),
                    serving: false,
                }),
                max_batch: max_batch.max(1),
                run: Box::new(run),
            }),
        }
    }

    /// Queues `item` and waits for the answer of the batch that takes it.
    pub async fn call(&self, item: T) -> Result<R, Unanswered> {
        let (sender, receiver) = oneshot::channel();
        let start_server = {
            let mut queue = self.inner.lock();
            queue.waiting.push((item, sender));
            !std::mem::replace(&mut queue.serving, true)
        };
        if start_server {
            tokio::spawn(Arc::clone(&self.inner).serve_while_waited_for());
        }
        receiver.await.map_err(|_| Unanswered)
    }
}

impl<T: Send + 'static, R: Send + 'static> Inner<T, R> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue<T, R>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves the calls queued before each batch starts, until none wait.
    async fn serve_while_waited_for(self: Arc<Self>) {
        // A panic in `run` must still let the next call start a server again.
        struct Unwinding<'a, T, R>(&'a Inner<T, R>);
        impl<T, R> Drop for Unwinding<'_, T, R> {
            fn drop(&mut self) {
                let mut queue = self.0.queue.lock().unwrap_or_else(PoisonError::into_inner);
                queue.serving = false;
                // Dropping the senders answers their calls with `Unanswered`.
                queue.waiting.clear();
            }
        }
        let unwinding = Unwinding(&*self);
        loop {
            let batch = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    queue.serving = false;
                    // From here on a new call starts its own server: this one must
                    // not touch the queue again.
                    std::mem::forget(unwinding);
                    return;
                }
                let take = queue.waiting.len().min(self.max_batch);
                queue.waiting.drain(..take).collect::<Vec<_>>()
            };
            let (items, senders): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
            let answers = (self.run)(items).await;
            for (sender, answer) in senders.into_iter().zip(answers) {
                let _ = sender.send(answer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use futures::FutureExt;

    use super::*;

    /// A batcher that doubles its items, after `delay`, counting its batches.
    fn doubler(max_batch: usize, delay: Duration) -> (Batcher<u32, u32>, Arc<AtomicUsize>) {
        let batches = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&batches);
        let batcher = Batcher::new(max_batch, move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(delay).await;
                items.into_iter().map(|i| i * 2).collect()
            }
            .boxed()
        });
        (batcher, batches)
    }

    #[tokio::test]
    async fn each_call_gets_its_own_answer_and_waiting_calls_share_a_batch() {
        let (batcher, batches) = doubler(100, Duration::from_millis(20));
        let calls: Vec<_> = (0..50)
            .map(|i| {
                let batcher = batcher.clone();
                tokio::spawn(async move { (i, batcher.call(i).await) })
            })
            .collect();
        for call in calls {
            let (i, answer) = call.await.unwrap();
            assert_eq!(answer, Ok(i * 2));
        }
        // The first call's batch, then (at most) one for everything that queued
        // behind it; far fewer than 50.
        let served = batches.load(Ordering::SeqCst);
        assert!((1..=3).contains(&served), "{served} batches");
        // Alone, a call is served at once, in a batch of its own.
        assert_eq!(batcher.call(7).await, Ok(14));
        assert_eq!(batches.load(Ordering::SeqCst), served + 1);
    }

    #[tokio::test]
    async fn batches_hold_at_most_max_batch_calls() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sizes);
        let batcher = Batcher::new(4, move |items: Vec<u32>| {
            seen.lock().unwrap().push(items.len());
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                items
            }
            .boxed()
        });
        let calls: Vec<_> = (0..20)
            .map(|i| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.call(i).await })
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap(), Ok(i as u32));
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 20);
        assert!(sizes.iter().all(|&n| (1..=4).contains(&n)), "{sizes:?}");
    }

    #[tokio::test]
    async fn a_call_that_goes_away_leaves_its_batch_running() {
        let (batcher, batches) = doubler(10, Duration::from_millis(50));
        let gone = tokio::time::timeout(Duration::from_millis(5), batcher.call(1)).await;
        assert!(gone.is_err(), "the call was still waiting");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(batches.load(Ordering::SeqCst), 1);
        assert_eq!(batcher.call(2).await, Ok(4));
    }

    #[tokio::test]
    async fn a_batch_that_fails_to_answer_leaves_the_batcher_usable() {
        let short = Batcher::new(10, |items: Vec<u32>| {
            async move {
                if items.contains(&0) {
                    panic!("the runner failed");
                }
                // One answer short.
                items.into_iter().skip(1).collect()
            }
            .boxed()
        });
        assert_eq!(short.call(0).await, Err(Unanswered));
        assert_eq!(short.call(5).await, Err(Unanswered));
        // A lone call after both is served by a new batch (and answered short again).
        assert_eq!(short.call(6).await, Err(Unanswered));
    }
}
