//! Runs a stream's producer in its own task, a bounded number of items ahead of its
//! consumer, so reading a blob, decrypting it and sending it over HTTP/2 overlap on
//! different cores instead of taking turns.

use futures::{Stream, StreamExt, stream::BoxStream};
use tokio_stream::wrappers::ReceiverStream;

/// `stream`, produced by a spawned task at most `depth` items ahead. Dropping the
/// returned stream stops the task at its next item.
pub fn read_ahead<T, S>(stream: S, depth: usize) -> BoxStream<'static, T>
where
    T: Send + 'static,
    S: Stream<Item = T> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(depth.max(1));
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            if sender.send(item).await.is_err() {
                return;
            }
        }
    });
    ReceiverStream::new(receiver).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_arrive_in_order_and_all_of_them() {
        let items: Vec<u32> = read_ahead(futures::stream::iter(0..1000u32), 4)
            .collect()
            .await;
        assert_eq!(items, (0..1000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn dropping_the_consumer_stops_the_producer() {
        let (done_sender, done) = tokio::sync::oneshot::channel::<()>();
        let endless = futures::stream::unfold(done_sender, |guard| async move {
            tokio::task::yield_now().await;
            Some((1u8, guard))
        });
        let mut ahead = read_ahead(endless, 2);
        assert_eq!(ahead.next().await, Some(1));
        drop(ahead);
        // The producer's state (holding the sender) is dropped when its task ends.
        tokio::time::timeout(std::time::Duration::from_secs(5), done)
            .await
            .expect("the producer task stopped")
            .unwrap_err();
    }
}
