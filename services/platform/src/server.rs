//! Serving a keyhold gRPC service: the shared stack, grpc.health.v1, reflection v1,
//! and graceful shutdown (NOT_SERVING, then drain in-flight calls with a deadline).

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{service::Routes, transport::Server};
use tonic_health::ServingStatus;
use tower::Layer;

use crate::{
    aws_json::{AwsEdge, AwsProtocol},
    connections::{ConnectionActivityLayer, ConnectionLimits, LimitedListener},
    stack::{KeyholdLayer, StackConfig},
};

/// A service's AWS JSON protocol and the port that serves it (plain HTTP, like the
/// S3 port: TLS is the ingress's).
pub struct AwsPort {
    pub protocol: &'static AwsProtocol,
    pub listener: TcpListener,
}

/// The ports a service with an AWS JSON protocol serves: gRPC, and the protocol when
/// given a port for it.
pub struct Listeners {
    pub grpc: TcpListener,
    pub aws: Option<TcpListener>,
}

impl Listeners {
    /// Binds both; one line says which failed.
    pub async fn bind(
        grpc: std::net::SocketAddr,
        aws: std::net::SocketAddr,
    ) -> anyhow::Result<Listeners> {
        Ok(Listeners {
            grpc: crate::service::bind(grpc).await?,
            aws: Some(crate::service::bind(aws).await?),
        })
    }
}

/// gRPC alone.
impl From<TcpListener> for Listeners {
    fn from(grpc: TcpListener) -> Self {
        Listeners { grpc, aws: None }
    }
}

/// Serves `routes` on `listener` until `shutdown` is cancelled, within `limits`.
/// `grpc_services` are the fully qualified service names health reports on. With
/// `aws`, the same routes behind the same stack also answer the AWS JSON protocol.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    mut stack: StackConfig,
    routes: Routes,
    grpc_services: &[&'static str],
    listener: TcpListener,
    aws: Option<AwsPort>,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    let service_name = stack.service_name;
    let metrics = match stack.metrics_listen {
        Some(address) => {
            let mut collectors = std::mem::take(&mut stack.collectors);
            collectors.extend(stack.sink.collector());
            collectors.push(stack.calls.collector());
            let registry = crate::metrics::registry(collectors);
            Some(crate::metrics::listen(address, registry, shutdown.clone()).await?)
        }
        None => None,
    };
    let (health, health_service) = tonic_health::server::health_reporter();
    for name in grpc_services.iter().copied().chain([""]) {
        health
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(keyhold_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let routes = routes
        .add_service(health_service.clone())
        .add_service(reflection);

    let tls = stack.tls.load()?;
    let health_port = match stack.health_listen {
        Some(address) => Some(
            serve_health(
                crate::service::bind(address).await?,
                limits,
                health_service.clone(),
            )
            .await,
        ),
        None => None,
    };
    let local = listener.local_addr()?;
    let listener = LimitedListener::new(listener, limits);
    let signal = {
        let shutdown = shutdown.clone();
        let health = health.clone();
        let names: Vec<&'static str> = grpc_services.to_vec();
        async move {
            shutdown.cancelled().await;
            // Load balancers and probes see NOT_SERVING before connections close.
            for name in names.into_iter().chain([""]) {
                health
                    .set_service_status(name, ServingStatus::NotServing)
                    .await;
            }
            tracing::info!("draining in-flight calls");
        }
    };
    let layer = KeyholdLayer::new(stack);
    let aws_edge = aws.map(|port| {
        let edge = AwsEdge::new(port.protocol, &layer, layer.layer(routes.clone()));
        let handler = move |request, peer| {
            let edge = edge.clone();
            async move { edge.handle(request, peer).await }
        };
        tokio::spawn(crate::http_edge::serve(
            "the AWS JSON protocol",
            |_| tracing::Span::none(),
            handler,
            port.listener,
            limits,
            shutdown.clone(),
            grace,
        ))
    });
    let router = Server::builder()
        .layer(ConnectionActivityLayer)
        .layer(layer)
        .add_routes(routes);
    let tls_on = tls.is_some();
    let mut server = match tls {
        Some(tls) => tokio::spawn(
            router.serve_with_incoming_shutdown(crate::tls::incoming(listener, tls), signal),
        ),
        None => tokio::spawn(router.serve_with_incoming_shutdown(listener.into_incoming(), signal)),
    };
    tracing::info!(service = service_name, address = %local, tls = tls_on, "serving gRPC");

    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = &mut server => result??,
        () = deadline => {
            tracing::warn!(grace_seconds = grace.as_secs(), "drain deadline passed; closing the remaining calls");
            server.abort();
        }
    }
    if let Some((stop, mut task)) = health_port {
        // Open Watch streams would hold a graceful stop forever: probes use Check.
        stop.cancel();
        if tokio::time::timeout(Duration::from_secs(1), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
    if let Some(aws_edge) = aws_edge {
        // It stops on the same token, within the same grace.
        let _ = aws_edge.await;
    }
    if let Some(metrics) = metrics {
        let _ = metrics.await;
    }
    tracing::info!(service = service_name, "stopped");
    Ok(())
}

/// Serves grpc.health.v1 alone, in plaintext, on `listener` until the returned
/// token is cancelled (after the gRPC port stopped: probes see NOT_SERVING while it
/// drains).
async fn serve_health<H>(
    listener: TcpListener,
    limits: ConnectionLimits,
    health: tonic_health::pb::health_server::HealthServer<H>,
) -> (CancellationToken, tokio::task::JoinHandle<()>)
where
    H: tonic_health::pb::health_server::Health,
{
    let stop = CancellationToken::new();
    let address = listener.local_addr().ok();
    let incoming = LimitedListener::new(listener, limits).into_incoming();
    let server = Server::builder()
        .layer(ConnectionActivityLayer)
        .add_service(health)
        .serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned());
    let task = tokio::spawn(async move {
        if let Err(error) = server.await {
            tracing::warn!(%error, "the health port failed");
        }
    });
    if let Some(address) = address {
        tracing::info!(%address, "serving grpc.health.v1 in plaintext");
    }
    (stop, task)
}
