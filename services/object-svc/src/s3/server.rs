//! The accept loop: HTTP/1.1 and h2 (prior knowledge) on one port, each connection
//! watched so that shutdown waits for requests in flight, within the port's
//! connection limits (platform's connections.rs).

use std::{convert::Infallible, time::Duration};

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use keyhold_platform::connections::{ConnectionLimits, LimitedListener, TrackedBody};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Edge;

pub async fn serve(
    edge: Edge,
    listener: TcpListener,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
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
        tracing::info!(%address, "serving the S3 REST endpoint");
    }
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let edge = edge.clone();
        let activity = stream.activity();
        let service = hyper::service::service_fn(move |request| {
            let edge = edge.clone();
            // Taken when hyper hands the request over, not when its future first runs.
            let in_flight = Some(activity.begin_request());
            let span = keyhold_platform::telemetry::http_server_span(&request);
            async move {
                let response = edge.handle(request, peer).await;
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
                tracing::debug!(error = %error, "S3 connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("S3 endpoint: requests still running after the shutdown grace period; closing them");
        }
    }
    Ok(())
}
