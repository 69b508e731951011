//! What every listening port (each service's gRPC port, object-svc's S3 endpoint)
//! grants a connection, whoever opens it: a bounded number of connections at once,
//! a deadline for the first request, and an idle timeout.
//!
//! The listener hands out [`GuardedStream`]s. Each knows whether a request is in
//! flight on it (the server marks requests with [`Activity::begin_request`]): with
//! none, a read that finds nothing closes the connection once its deadline passed,
//! which is, for a new connection, `header_read_timeout` after it was accepted
//! (whatever it sent meanwhile: the HTTP/2 preface, part of a head), and afterwards
//! `idle_timeout` after the last byte received or the last request done. While a
//! request is in flight, the connection is not timed (a long download, a server
//! stream that waits for events); what may stall then is bounded separately: a
//! write the client does not read for `idle_timeout` fails, and S3 request bodies
//! have their own timer.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, future::BoxFuture, task::AtomicWaker};
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};
use tonic::transport::server::{Connected, TcpConnectInfo};
use tower::{Layer, Service};

use crate::config::ConnectionArgs;

/// The limits of one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl From<&ConnectionArgs> for ConnectionLimits {
    fn from(args: &ConnectionArgs) -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(args.header_read_timeout_seconds.max(1)),
            idle_timeout: Duration::from_secs(args.idle_timeout_seconds.max(1)),
            max_connections: usize::try_from(args.max_connections.max(1)).unwrap_or(usize::MAX),
        }
    }
}

/// A TCP listener that accepts a connection only when fewer than
/// `max_connections` of its connections are open: the others wait in the kernel's
/// accept queue.
pub struct LimitedListener {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    limits: ConnectionLimits,
}

impl LimitedListener {
    pub fn new(listener: TcpListener, limits: ConnectionLimits) -> Self {
        LimitedListener {
            listener,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// The next connection, once there is room for it. Accept failures (out of
    /// file descriptors and the like) are logged and retried: the port keeps serving
    /// the connections it has.
    pub async fn accept(&self) -> (GuardedStream<TcpStream>, SocketAddr) {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the connection slots are never closed");
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    return (GuardedStream::new(stream, self.limits, Some(slot)), peer);
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// The connections as tonic's `serve_with_incoming` takes them.
    pub fn into_incoming(
        self,
    ) -> impl Stream<Item = Result<GuardedStream<TcpStream>, Infallible>> + Send + 'static {
        futures::stream::unfold(self, |listener| async move {
            let (stream, _) = listener.accept().await;
            Some((Ok(stream), listener))
        })
    }
}

/// What a connection's server tells it: requests starting and ending.
#[derive(Debug)]
pub struct Activity {
    accepted: Instant,
    in_flight: AtomicUsize,
    served_any: AtomicBool,
    /// When a byte last arrived or a request last ended, in milliseconds after
    /// `accepted`.
    last_active_ms: AtomicU64,
    /// The connection's reader, woken when its last request ends so that its
    /// deadline is taken again.
    reader: AtomicWaker,
}

impl Activity {
    fn new() -> Self {
        Activity {
            accepted: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served_any: AtomicBool::new(false),
            last_active_ms: AtomicU64::new(0),
            reader: AtomicWaker::new(),
        }
    }

    /// Marks a request in flight until the guard is dropped (with its response).
    pub fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.served_any.store(true, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        RequestGuard(self.clone())
    }

    fn touch(&self) {
        let since = u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active_ms.fetch_max(since, Ordering::SeqCst);
    }

    /// When a read that finds nothing should close the connection.
    fn read_deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        if !self.served_any.load(Ordering::SeqCst) {
            return Some(self.accepted + limits.header_read_timeout);
        }
        let last_active = Duration::from_millis(self.last_active_ms.load(Ordering::SeqCst));
        Some(self.accepted + last_active + limits.idle_timeout)
    }
}

/// A request in flight on a connection.
#[derive(Debug)]
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.touch();
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.reader.wake();
        }
    }
}

/// An accepted connection, closed (its reads and writes fail with `TimedOut`)
/// when it overstays, and holding its place under the listener's limit.
pub struct GuardedStream<IO> {
    inner: IO,
    limits: ConnectionLimits,
    activity: Arc<Activity>,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Pin<Box<Sleep>>,
    write_stalled: bool,
    _slot: Option<OwnedSemaphorePermit>,
}

impl<IO> GuardedStream<IO> {
    pub fn new(inner: IO, limits: ConnectionLimits, slot: Option<OwnedSemaphorePermit>) -> Self {
        let activity = Arc::new(Activity::new());
        let first_deadline = activity.accepted + limits.header_read_timeout;
        GuardedStream {
            inner,
            limits,
            activity,
            read_timer: Box::pin(tokio::time::sleep_until(first_deadline)),
            write_timer: Box::pin(tokio::time::sleep_until(first_deadline)),
            write_stalled: false,
            _slot: slot,
        }
    }

    pub fn activity(&self) -> Arc<Activity> {
        self.activity.clone()
    }

    fn timed_out(what: &str) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
    }

    /// A write the client does not take fails once it stalled for the idle timeout.
    fn poll_write_stall<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if !self.write_stalled {
            self.write_stalled = true;
            let deadline = Instant::now() + self.limits.idle_timeout;
            self.write_timer.as_mut().reset(deadline);
        }
        match self.write_timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Self::timed_out(
                "the client did not read the response in time",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for GuardedStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.activity.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                this.activity.reader.register(cx.waker());
                let Some(deadline) = this.activity.read_deadline(&this.limits) else {
                    return Poll::Pending;
                };
                if this.read_timer.deadline() != deadline {
                    this.read_timer.as_mut().reset(deadline);
                }
                match this.read_timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Err(Self::timed_out("no request on the connection in time")))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for GuardedStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending => this.poll_write_stall(cx),
            ready => {
                this.write_stalled = false;
                ready
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.poll_write_stall(cx),
            ready => {
                this.write_stalled = false;
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// What tonic puts in each request's extensions for a guarded connection.
#[derive(Debug, Clone)]
pub struct GuardedConnectInfo {
    pub tcp: TcpConnectInfo,
    pub activity: Arc<Activity>,
}

impl Connected for GuardedStream<TcpStream> {
    type ConnectInfo = GuardedConnectInfo;

    fn connect_info(&self) -> GuardedConnectInfo {
        GuardedConnectInfo {
            tcp: self.inner.connect_info(),
            activity: self.activity.clone(),
        }
    }
}

/// The outermost layer of a gRPC server on a [`LimitedListener`]: marks each call
/// in flight on its connection until its response body is done, and puts the
/// connection's `TcpConnectInfo` where the rest of the stack reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectionActivityLayer;

impl<S> Layer<S> for ConnectionActivityLayer {
    type Service = ConnectionActivity<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConnectionActivity { inner }
    }
}

#[derive(Debug, Clone)]
pub struct ConnectionActivity<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for ConnectionActivity<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<TrackedBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let mut info = request.extensions().get::<GuardedConnectInfo>().cloned();
        if let Some(tls) = request
            .extensions()
            .get::<crate::tls::TlsConnectionInfo>()
            .cloned()
        {
            request.extensions_mut().insert(tls.peer);
            info = Some(tls.guarded);
        }
        let guard = info.map(|info| {
            request.extensions_mut().insert(info.tcp);
            info.activity.begin_request()
        });
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| TrackedBody::new(body, guard)))
        })
    }
}

/// A response body that keeps its request in flight until it is done.
#[derive(Debug)]
pub struct TrackedBody<B> {
    inner: B,
    _guard: Option<RequestGuard>,
}

impl<B> TrackedBody<B> {
    pub fn new(inner: B, guard: Option<RequestGuard>) -> Self {
        TrackedBody {
            inner,
            _guard: guard,
        }
    }
}

impl<B: HttpBody + Unpin> HttpBody for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(30),
        max_connections: 4,
    };

    async fn read_fails_after(stream: &mut GuardedStream<tokio::io::DuplexStream>) -> Duration {
        let started = Instant::now();
        let mut buffer = [0u8; 16];
        let error = loop {
            match stream.read(&mut buffer).await {
                Ok(0) => panic!("EOF instead of a timeout"),
                Ok(_) => continue,
                Err(error) => break error,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_request_closes_at_the_header_deadline_whatever_it_sends() {
        let (mut client, server) = duplex(1024);
        let mut stream = GuardedStream::new(server, LIMITS, None);
        let trickle = tokio::spawn(async move {
            for _ in 0..100 {
                if client.write_all(b"G").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        assert_eq!(read_fails_after(&mut stream).await, Duration::from_secs(10));
        trickle.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_never_timed_and_idleness_counts_from_its_end() {
        let (_client, server) = duplex(1024);
        let mut stream = GuardedStream::new(server, LIMITS, None);
        let activity = stream.activity();
        let guard = activity.begin_request();
        let reading = tokio::spawn(async move { read_fails_after(&mut stream).await });
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(!reading.is_finished(), "timed out with a request in flight");
        drop(guard);
        // 300 s in flight, then 30 s idle.
        assert_eq!(reading.await.unwrap(), Duration::from_secs(330));
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_received_after_a_request_keep_the_connection() {
        let (mut client, server) = duplex(1024);
        let mut stream = GuardedStream::new(server, LIMITS, None);
        drop(stream.activity().begin_request());
        let reading = tokio::spawn(async move { read_fails_after(&mut stream).await });
        tokio::time::sleep(Duration::from_secs(20)).await;
        client.write_all(b"ping").await.unwrap();
        // 20 s, then 30 s from the bytes.
        assert_eq!(reading.await.unwrap(), Duration::from_secs(50));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_the_client_does_not_take_fails_after_the_idle_timeout() {
        let (_client, server) = duplex(16);
        let mut stream = GuardedStream::new(server, LIMITS, None);
        drop(stream.activity().begin_request());
        let started = Instant::now();
        let error = stream.write_all(&[0u8; 64]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
