//! TLS between services (docs/kubernetes.md, "TLS contract"): the gRPC port serves
//! TLS with the service's certificate and asks for (but does not require) a client
//! certificate signed by the CA bundle; outbound `https://` endpoints present the
//! same certificate and verify the server with the same bundle. The files are read
//! again every `KEYHOLD_TLS_RELOAD_SECONDS`: a renewed certificate serves the next
//! connection, without a restart.
//!
//! A verified client certificate names a keyhold service by its URI SAN
//! `spiffe://keyhold/service/<name>` ([`service_of`]); `auth.rs` decides what that
//! name may do.

use std::{
    convert::Infallible,
    io,
    path::{Path, PathBuf},
    pin::Pin,
    sync::{Arc, Mutex, RwLock, Weak},
    task::{Context, Poll},
    time::Duration,
};

use futures::Stream;
use rustls::{ClientConfig, RootCertStore, ServerConfig, server::WebPkiClientVerifier};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::{TlsAcceptor, TlsConnector, server::TlsStream};
use tonic::transport::{Channel, Endpoint, Uri, server::Connected};
use zeroize::Zeroizing;

use crate::{
    auth::TlsPeer,
    config::bad_config,
    connections::{GuardedConnectInfo, GuardedStream, LimitedListener},
};

/// The URI SAN prefix that names a keyhold service principal.
pub const SERVICE_URI_PREFIX: &str = "spiffe://keyhold/service/";

/// The TLS settings every service shares.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain of this service. Set (with the key and the CA bundle),
    /// the gRPC port serves TLS only, and the certificate is the client certificate
    /// of every outbound https:// endpoint.
    #[arg(long, env = "KEYHOLD_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// PEM private key of the certificate (PKCS#8, SEC1 or PKCS#1).
    #[arg(long, env = "KEYHOLD_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,

    /// PEM CA bundle: verifies client certificates on the gRPC port and the servers
    /// of outbound https:// endpoints.
    #[arg(long, env = "KEYHOLD_TLS_CLIENT_CA_FILE")]
    pub tls_client_ca_file: Option<PathBuf>,

    /// Seconds between two readings of the TLS files (renewed certificates are
    /// picked up this often).
    #[arg(long, env = "KEYHOLD_TLS_RELOAD_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub tls_reload_seconds: u64,

    /// The files once read, shared by every clone of these arguments, so that the
    /// server and each client of one process use one reloading [`Tls`].
    #[arg(skip)]
    loaded: Arc<Mutex<Option<Tls>>>,
}

impl TlsArgs {
    /// The TLS of this process, or None when no certificate is configured. Reads the
    /// files on the first call (a missing or bad file is a configuration error) and
    /// starts re-reading them; later calls return the same [`Tls`].
    pub fn load(&self) -> anyhow::Result<Option<Tls>> {
        let files = match (
            &self.tls_cert_file,
            &self.tls_key_file,
            &self.tls_client_ca_file,
        ) {
            (None, None, None) => return Ok(None),
            (Some(cert), Some(key), Some(ca)) => Files {
                cert: cert.clone(),
                key: key.clone(),
                ca: ca.clone(),
            },
            _ => {
                return Err(bad_config(
                    "KEYHOLD_TLS_CERT_FILE, KEYHOLD_TLS_KEY_FILE and KEYHOLD_TLS_CLIENT_CA_FILE go together: set all three or none",
                ));
            }
        };
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tls) = loaded.as_ref() {
            return Ok(Some(tls.clone()));
        }
        let tls = Tls::open(files, Duration::from_secs(self.tls_reload_seconds.max(1)))?;
        *loaded = Some(tls.clone());
        Ok(Some(tls))
    }
}

#[derive(Debug, Clone)]
struct Files {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

/// The contents the configurations were built from, to tell a renewal.
#[derive(PartialEq, Eq)]
struct Contents {
    cert: Vec<u8>,
    key: Zeroizing<Vec<u8>>,
    ca: Vec<u8>,
}

struct Current {
    contents: Contents,
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

/// A service's TLS configuration, re-read from its files while any clone lives.
#[derive(Clone)]
pub struct Tls(Arc<Inner>);

struct Inner {
    files: Files,
    current: RwLock<Current>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.0.files.cert)
            .field("ca", &self.0.files.ca)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the files and starts re-reading them every `reload` (on the current
    /// tokio runtime, until the last clone is dropped).
    fn open(files: Files, reload: Duration) -> anyhow::Result<Tls> {
        let contents = read(&files).map_err(bad_config)?;
        let (server, client) = build(&contents).map_err(|e| {
            bad_config(format!(
                "TLS files {}, {}, {}: {e:#}",
                files.cert.display(),
                files.key.display(),
                files.ca.display()
            ))
        })?;
        let tls = Tls(Arc::new(Inner {
            files,
            current: RwLock::new(Current {
                contents,
                server,
                client,
            }),
        }));
        let weak = Arc::downgrade(&tls.0);
        tokio::spawn(reload_every(weak, reload));
        Ok(tls)
    }

    /// What a new connection to the gRPC port is served with.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.read_current().server.clone()
    }

    /// What a new outbound connection presents and verifies with.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.read_current().client.clone()
    }

    fn read_current(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.0.current.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the files again; rebuilds when they changed. A bad renewal is logged
    /// and the configuration in use stays.
    fn reload(&self) {
        let contents = match read(&self.0.files) {
            Ok(contents) => contents,
            Err(error) => {
                tracing::warn!(%error, "cannot read the TLS files again; keeping the certificate in use");
                return;
            }
        };
        if self.read_current().contents == contents {
            return;
        }
        match build(&contents) {
            Ok((server, client)) => {
                *self.0.current.write().unwrap_or_else(|e| e.into_inner()) = Current {
                    contents,
                    server,
                    client,
                };
                tracing::info!(cert = %self.0.files.cert.display(), "TLS files changed: new connections use them");
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "the renewed TLS files are not usable; keeping the certificate in use");
            }
        }
    }
}

async fn reload_every(tls: Weak<Inner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = tls.upgrade() else {
            return;
        };
        Tls(inner).reload();
    }
}

fn read(files: &Files) -> Result<Contents, String> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path)
            .map_err(|e| format!("cannot read the TLS {what} file {}: {e}", path.display()))
    };
    Ok(Contents {
        cert: read(&files.cert, "certificate")?,
        key: Zeroizing::new(read(&files.key, "key")?),
        ca: read(&files.ca, "CA")?,
    })
}

fn build(contents: &Contents) -> anyhow::Result<(Arc<ServerConfig>, Arc<ClientConfig>)> {
    let certs = CertificateDer::pem_slice_iter(&contents.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("certificate: {e}"))?;
    if certs.is_empty() {
        anyhow::bail!("the certificate file holds no certificate");
    }
    let key = PrivateKeyDer::from_pem_slice(&contents.key)
        .map_err(|e| anyhow::anyhow!("private key: {e}"))?;
    let roots = Arc::new(roots_of(&contents.ca)?);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(|e| anyhow::anyhow!("the key does not fit the certificate: {e}"))?;
    server.alpn_protocols = vec![b"h2".to_vec()];
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)?;
    client.alpn_protocols = vec![b"h2".to_vec()];
    Ok((Arc::new(server), Arc::new(client)))
}

/// The certificates of a PEM CA bundle, at least one.
fn roots_of(ca_pem: &[u8]) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem) {
        let ca = ca.map_err(|e| anyhow::anyhow!("CA bundle: {e}"))?;
        roots
            .add(ca)
            .map_err(|e| anyhow::anyhow!("CA bundle: {e}"))?;
    }
    if roots.is_empty() {
        anyhow::bail!("the CA file holds no certificate");
    }
    Ok(roots)
}

/// What a caller without a certificate of its own (a user's CLI) connects with:
/// servers verified against the PEM CA bundle `ca_pem`, HTTP/2.
pub fn client_config_trusting(ca_pem: &[u8]) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots_of(ca_pem)?)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(client))
}

/// A TLS connection accepted by the gRPC port.
pub struct TlsConnection {
    stream: TlsStream<GuardedStream<TcpStream>>,
    peer: TlsPeer,
}

/// What tonic puts in each request's extensions for a [`TlsConnection`].
#[derive(Debug, Clone)]
pub struct TlsConnectionInfo {
    pub guarded: GuardedConnectInfo,
    pub peer: TlsPeer,
}

impl Connected for TlsConnection {
    type ConnectInfo = TlsConnectionInfo;

    fn connect_info(&self) -> TlsConnectionInfo {
        TlsConnectionInfo {
            guarded: self.stream.get_ref().0.connect_info(),
            peer: self.peer.clone(),
        }
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The TLS connections of `listener`: each handshake runs in its own task (bounded
/// by the connection's first-request deadline), so a slow client holds up no other.
pub fn incoming(
    listener: LimitedListener,
    tls: Tls,
) -> impl Stream<Item = Result<TlsConnection, Infallible>> + Send + 'static {
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => accepted,
                () = sender.closed() => return,
            };
            let acceptor = TlsAcceptor::from(tls.server_config());
            let sender = sender.clone();
            tokio::spawn(async move {
                match acceptor.accept(stream).await {
                    Ok(stream) => {
                        let service = stream.get_ref().1.peer_certificates().and_then(service_of);
                        let peer = TlsPeer { service };
                        let _ = sender.send(Ok(TlsConnection { stream, peer })).await;
                    }
                    Err(error) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

/// A lazily connecting channel to `endpoint`: over TLS with `tls` when its scheme is
/// `https` (server name: the endpoint's host), else plain HTTP/2.
pub fn connect_lazy(endpoint: Endpoint, tls: Option<&Tls>) -> anyhow::Result<Channel> {
    if endpoint.uri().scheme_str() != Some("https") {
        return Ok(endpoint.connect_lazy());
    }
    let Some(tls) = tls.cloned() else {
        return Err(bad_config(format!(
            "{} is an https:// endpoint: set KEYHOLD_TLS_CERT_FILE, KEYHOLD_TLS_KEY_FILE and KEYHOLD_TLS_CLIENT_CA_FILE",
            endpoint.uri()
        )));
    };
    Ok(connect_lazy_tls(endpoint, move || tls.client_config()))
}

/// A lazily connecting channel to `endpoint` over TLS, each new connection made with
/// the configuration `config` gives then (server name: the endpoint's host).
pub fn connect_lazy_tls(
    endpoint: Endpoint,
    config: impl Fn() -> Arc<ClientConfig> + Clone + Send + 'static,
) -> Channel {
    let connector = tower::service_fn(move |uri: Uri| {
        let config = config.clone();
        async move {
            let host = uri.host().ok_or("the endpoint has no host")?;
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let name = ServerName::try_from(host.clone())?;
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let stream = TlsConnector::from(config()).connect(name, tcp).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(hyper_util::rt::TokioIo::new(stream))
        }
    });
    endpoint.connect_with_connector_lazy(connector)
}

/// The keyhold service a certificate chain's leaf names by its URI SAN
/// `spiffe://keyhold/service/<name>`, if any.
pub fn service_of(chain: &[CertificateDer<'_>]) -> Option<String> {
    let leaf = chain.first()?;
    uri_names(leaf.as_ref())
        .into_iter()
        .find_map(|uri| uri.strip_prefix(SERVICE_URI_PREFIX).map(str::to_owned))
        .filter(|name| !name.is_empty())
}

/// One DER element at the start of `input`: its tag, its contents, what follows.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let length = bytes
            .iter()
            .fold(0usize, |length, byte| (length << 8) | usize::from(*byte));
        (length, rest)
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

const SEQUENCE: u8 = 0x30;
/// id-ce-subjectAltName, 2.5.29.17.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// The URI entries of an X.509 certificate's subjectAltName extension (RFC 5280:
/// Certificate, then TBSCertificate, whose `[3]` holds the extensions; a GeneralName
/// `[6]` is a URI). The certificate was verified before; what does not parse has no
/// URIs.
fn uri_names(certificate: &[u8]) -> Vec<String> {
    let mut uris = Vec::new();
    let Some((SEQUENCE, certificate, _)) = element(certificate) else {
        return uris;
    };
    let Some((SEQUENCE, mut tbs, _)) = element(certificate) else {
        return uris;
    };
    let mut extensions = None;
    while let Some((tag, contents, rest)) = element(tbs) {
        if tag == 0xa3 {
            extensions = Some(contents);
            break;
        }
        tbs = rest;
    }
    let Some((SEQUENCE, mut extensions, _)) = extensions.and_then(element) else {
        return uris;
    };
    while let Some((SEQUENCE, extension, rest)) = element(extensions) {
        extensions = rest;
        let Some((0x06, oid, rest)) = element(extension) else {
            continue;
        };
        if oid != SUBJECT_ALT_NAME {
            continue;
        }
        // An optional `critical` BOOLEAN, then the OCTET STRING of the names.
        let Some((mut tag, mut value, rest)) = element(rest) else {
            continue;
        };
        if tag == 0x01 {
            let Some((next_tag, next_value, _)) = element(rest) else {
                continue;
            };
            (tag, value) = (next_tag, next_value);
        }
        if tag != 0x04 {
            continue;
        }
        let Some((SEQUENCE, mut names, _)) = element(value) else {
            continue;
        };
        while let Some((tag, name, rest)) = element(names) {
            if tag == 0x86
                && let Ok(uri) = std::str::from_utf8(name)
            {
                uris.push(uri.to_owned());
            }
            names = rest;
        }
    }
    uris
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(sans: Vec<rcgen::SanType>) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = sans;
        params.self_signed(&key).unwrap().der().clone()
    }

    fn uri(text: &str) -> rcgen::SanType {
        rcgen::SanType::URI(text.try_into().unwrap())
    }

    #[test]
    fn the_service_is_the_spiffe_uri_of_the_leaf() {
        let cert = certificate(vec![
            rcgen::SanType::DnsName("kms-svc.keyhold.svc".try_into().unwrap()),
            uri("https://example.com/x"),
            uri("spiffe://keyhold/service/object-svc"),
        ]);
        assert_eq!(service_of(&[cert]).as_deref(), Some("object-svc"));
    }

    #[test]
    fn other_names_name_no_service() {
        for sans in [
            vec![],
            vec![rcgen::SanType::DnsName("object-svc".try_into().unwrap())],
            vec![uri("spiffe://other/service/object-svc")],
            vec![uri("spiffe://keyhold/service/")],
        ] {
            assert_eq!(service_of(&[certificate(sans)]), None);
        }
        assert_eq!(service_of(&[]), None);
        assert_eq!(uri_names(b"\x30\x84\xff\xff\xff\xff"), Vec::<String>::new());
    }
}
