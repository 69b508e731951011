//! TransportProbeService: the benchmark's transport ceiling, the same bytes through
//! the same server and stack as PutObject/GetObject, with no storage and no crypto.

use bytes::Bytes;
use futures::{Stream, StreamExt, stream};
use keyhold_proto::object::v1::{
    SinkRequest, SinkResponse, SourceRequest, SourceResponse,
    transport_probe_service_server::TransportProbeService,
};
use tonic::{Request, Response, Status, Streaming};

pub struct TransportProbe;

const MAX_CHUNK: u32 = 4 * 1024 * 1024 - 64;

#[tonic::async_trait]
impl TransportProbeService for TransportProbe {
    async fn sink(
        &self,
        request: Request<Streaming<SinkRequest>>,
    ) -> Result<Response<SinkResponse>, Status> {
        let mut stream = request.into_inner();
        let mut bytes_received = 0u64;
        while let Some(chunk) = stream.message().await? {
            bytes_received += chunk.data.len() as u64;
        }
        Ok(Response::new(SinkResponse { bytes_received }))
    }

    type SourceStream =
        std::pin::Pin<Box<dyn Stream<Item = Result<SourceResponse, Status>> + Send>>;

    async fn source(
        &self,
        request: Request<SourceRequest>,
    ) -> Result<Response<Self::SourceStream>, Status> {
        let SourceRequest { size, chunk_size } = request.into_inner();
        let chunk_size = chunk_size.clamp(1, MAX_CHUNK) as u64;
        let chunk = Bytes::from(vec![0x5a; chunk_size as usize]);
        let chunks = size.div_ceil(chunk_size);
        let stream = stream::iter(0..chunks).map(move |index| {
            let len = chunk_size.min(size - index * chunk_size) as usize;
            Ok(SourceResponse {
                data: chunk.slice(..len),
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
