//! object-svc's S3-compatible REST endpoint: the AWS CLI and SDKs work against it
//! with `--endpoint-url`. s3s speaks the protocol (routing, SigV4 in headers and
//! presigned URLs, aws-chunked bodies, XML); the edge adds what every request needs
//! (request ids, refusals, S3's error XML, the CloudTrail record); the adapters call
//! the same domain as the gRPC API, so rules and audit events are the same.

mod api;
mod audit;
mod auth;
mod body;
mod buckets;
mod call;
mod convert;
mod edge;
mod errors;
mod host;
mod multipart;
mod objects;
#[cfg(test)]
mod proptests;
mod server;

use std::{sync::Arc, time::Duration};

use keyhold_platform::{AuditSink, Principals, throttle::Throttle};
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::domain::Objects;

pub use edge::Edge;

pub const DEFAULT_S3_LISTEN: &str = "127.0.0.1:9000";

/// What the endpoint needs besides the domain.
pub struct S3Settings {
    pub principals: Arc<Principals>,
    pub sink: Arc<dyn AuditSink>,
    /// Requests per second per caller; None for no quota.
    pub requests_per_second: Option<u32>,
    pub account_id: String,
    pub region: String,
    /// Serve virtual-hosted-style requests (`<bucket>.<base domain>`) too.
    pub base_domain: Option<String>,
}

/// Builds the endpoint's request handler.
pub fn endpoint(objects: Arc<Objects>, settings: S3Settings) -> anyhow::Result<Edge> {
    let throttle = settings
        .requests_per_second
        .filter(|rate| *rate > 0)
        .map(|rate| Arc::new(Throttle::new(rate)));
    let mut builder = S3ServiceBuilder::new(api::S3Api::new(objects));
    builder.set_auth(auth::PrincipalsAuth(settings.principals.clone()));
    builder.set_access(auth::RecordingAccess {
        principals: settings.principals,
        throttle: throttle.clone(),
    });
    if let Some(domain) = settings.base_domain {
        // s3s's check of a domain name, for a clear error at start-up.
        s3s::host::SingleDomain::new(&domain)
            .map_err(|e| anyhow::anyhow!("S3 base domain {domain:?}: {e}"))?;
        builder.set_host(host::BaseDomain(domain));
    }
    Ok(Edge::new(edge::EdgeShared {
        service: builder.build(),
        sink: settings.sink,
        throttle,
        account_id: settings.account_id,
        region: settings.region,
    }))
}

/// Serves `edge` on `listener` until `shutdown`, then lets requests in flight finish
/// for up to `grace`.
pub async fn serve(
    edge: Edge,
    listener: TcpListener,
    shutdown: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    server::serve(edge, listener, shutdown, grace).await
}
