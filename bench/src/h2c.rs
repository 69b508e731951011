//! An HTTP client for the AWS SDK that speaks HTTP/2 without TLS ("h2c", prior
//! knowledge) over one connection, for `--aws-http2`: kms-svc's AWS port serves h2c,
//! but the SDK's own client speaks HTTP/1.1 to `http://` endpoints, one connection
//! per call in flight. The SDK still signs, serializes and parses every call.

use aws_smithy_runtime_api::client::{
    http::{
        HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
    },
    orchestrator::HttpRequest,
    result::ConnectorError,
};
use aws_smithy_types::body::SdkBody;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector as TcpConnector},
    rt::TokioExecutor,
};

#[derive(Debug, Clone)]
struct H2c(Client<TcpConnector, SdkBody>);

impl HttpConnector for H2c {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let response = client
                .request(request)
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            aws_smithy_runtime_api::http::Response::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The SDK's HTTP client: every call a stream of one shared HTTP/2 connection.
pub fn client() -> SharedHttpClient {
    let mut tcp = TcpConnector::new();
    tcp.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(tcp);
    let connector = SharedHttpConnector::new(H2c(client));
    http_client_fn(move |_settings, _components| connector.clone())
}
