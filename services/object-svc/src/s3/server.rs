//! The S3 port: the platform's HTTP edge accept loop serving [`Edge`].

use std::time::Duration;

use keyhold_platform::{connections::ConnectionLimits, http_edge};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Edge;

pub async fn serve(
    edge: Edge,
    listener: TcpListener,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    let handler = move |request, peer| {
        let edge = edge.clone();
        async move { edge.handle(request, peer).await }
    };
    http_edge::serve(
        "the S3 REST endpoint",
        keyhold_platform::telemetry::http_server_span,
        handler,
        listener,
        limits,
        shutdown,
        grace,
    )
    .await
}
