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
mod buffered;
mod call;
mod chunk_guard;
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

use keyhold_platform::{AuditSink, Principals, connections::ConnectionLimits, throttle::Throttle};
use s3s::{
    config::{S3Config, StaticConfigProvider},
    service::S3ServiceBuilder,
};
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
    /// How long a request body may stall before the request fails (RequestTimeout).
    pub body_idle_timeout: Duration,
    /// Where the requests served are counted.
    pub calls: keyhold_platform::metrics::CallMetrics,
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
        documents: buffered::DocumentBudget::default(),
    });
    builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(s3s_limits()))));
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
        body_idle_timeout: settings.body_idle_timeout,
        calls: settings.calls,
    }))
}

/// What s3s may read into memory. Browser-form uploads never reach s3s (the edge
/// refuses them from their headers); were one to, it could read nothing of its file.
fn s3s_limits() -> S3Config {
    let mut config = S3Config::default();
    config.xml_max_body_size = buffered::MAX_DOCUMENT_BYTES;
    config.post_object_max_file_size = 0;
    config.form_max_field_size = 16 * 1024;
    config.form_max_fields_size = 64 * 1024;
    config.form_max_parts = 16;
    config
}

/// Serves `edge` on `listener` within `limits` until `shutdown`, then lets requests
/// in flight finish for up to `grace`.
pub async fn serve(
    edge: Edge,
    listener: TcpListener,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    server::serve(edge, listener, limits, shutdown, grace).await
}
