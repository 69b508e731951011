//! gRPC channels and the dev principals' credentials.

use std::time::Duration;

use keyhold_platform::auth::ClientCredentials;
use keyhold_proto::kms::v1::kms_service_client::KmsServiceClient;
use tonic::{
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

pub const SERVING: i32 = ServingStatus::Serving as i32;

/// An access key of deploy/dev/principals.json.
#[derive(Debug, Clone, Copy)]
pub struct AccessKey {
    pub id: &'static str,
    pub secret: &'static str,
}

pub const ROOT: AccessKey = AccessKey {
    id: "AKIAKEYHOLDDEVROOT00",
    secret: "dev-only-root-secret-not-for-production",
};
/// The key user of the benchmark key: every measured call runs as this user, so each
/// one is authenticated and evaluated against the key policy.
pub const USER1: AccessKey = AccessKey {
    id: "AKIAKEYHOLDDEVUSER01",
    secret: "dev-only-user-0001-secret-not-for-production",
};
pub const USER1_NAME: &str = "AWSLabsUser-0001";

/// The platform's interceptor, the one every keyhold client uses: the measured calls
/// carry exactly the metadata a real client sends.
pub type KmsClient = KmsServiceClient<InterceptedService<Channel, ClientCredentials>>;

pub fn kms(channel: Channel, key: AccessKey) -> KmsClient {
    KmsServiceClient::with_interceptor(channel, ClientCredentials::new(key.id, key.secret))
}

/// One HTTP/2 connection, established now so that a wrong endpoint fails here and
/// not as a phase full of errors.
pub async fn connect(endpoint: &str) -> anyhow::Result<Channel> {
    Endpoint::from_shared(endpoint.to_owned())?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot connect to {endpoint}")))
}

/// `count` separate connections (each `connect` opens its own).
pub async fn connect_many(endpoint: &str, count: u64) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::new();
    for _ in 0..count {
        channels.push(connect(endpoint).await?);
    }
    Ok(channels)
}

/// Whether `endpoint` answers grpc.health.v1 Check with SERVING.
pub async fn serving(endpoint: &str) -> bool {
    let Ok(channel) = connect(endpoint).await else {
        return false;
    };
    let mut health = HealthClient::new(channel);
    let request = HealthCheckRequest {
        service: String::new(),
    };
    health
        .check(request)
        .await
        .is_ok_and(|r| r.into_inner().status == SERVING)
}

/// An AWS SDK KMS client signing as `key`, against kms-svc's AWS JSON endpoint. No
/// retries (a failed call is an error, as in the gRPC phases) and no stalled-stream
/// watch (the calls are small).
pub fn aws_kms(endpoint: &str, key: AccessKey, http2: bool) -> aws_sdk_kms::Client {
    use aws_sdk_kms::config::{
        BehaviorVersion, Builder, Credentials, Region, StalledStreamProtectionConfig,
        retry::RetryConfig,
    };
    let config = Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .retry_config(RetryConfig::disabled())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            key.id,
            key.secret,
            None,
            None,
            "keyhold-loadgen",
        ));
    let config = if http2 {
        config.http_client(crate::h2c::client())
    } else {
        config
    };
    aws_sdk_kms::Client::from_conf(config.build())
}
