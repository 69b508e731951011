//! The accept loop of keyhold's HTTP edges (S3 REST, the AWS JSON protocols):
//! HTTP/1.1 and h2 (prior knowledge) on one port, each connection watched so that
//! shutdown waits for requests in flight, within the port's connection limits.

use std::{convert::Infallible, future::Future, net::SocketAddr, time::Duration};

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::connections::{ConnectionLimits, LimitedListener, TrackedBody};

/// Serves `handler` on `listener` until `shutdown` is cancelled, then lets requests
/// in flight finish for up to `grace`. `name` says what the port serves, in logs;
/// `span` makes each request's span.
pub async fn serve<H, F, B>(
    name: &'static str,
    span: fn(&Request<Incoming>) -> tracing::Span,
    handler: H,
    listener: TcpListener,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()>
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client that half-closes after sending its request still gets the answer.
    // Each request's headers (the first one's, and those after a kept-alive
    // response) must arrive within the header timeout.
    builder
        .http1()
        .half_close(true)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let listener = LimitedListener::new(listener, limits);
    let graceful = GracefulShutdown::new();
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "serving {name}");
    }
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let handler = handler.clone();
        let activity = stream.activity();
        let service = hyper::service::service_fn(move |request| {
            let handler = handler.clone();
            // Taken when hyper hands the request over, not when its future first runs.
            let in_flight = Some(activity.begin_request());
            let span = span(&request);
            async move {
                let response = handler(request, peer).await;
                Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, in_flight)))
            }
            .instrument(span)
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "{name}: connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("{name}: requests still running after the shutdown grace period; closing them");
        }
    }
    Ok(())
}
