//! Services over TLS for the tests: a throwaway CA with a certificate per service
//! (as `keyhold up --tls` and the tls deployment component issue them), kms-svc
//! started with them, and TLS channels that trust the CA.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use keyhold_cli::tls::{DevCa, Issued};
use keyhold_platform::MemorySink;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{TestDatabase, kms::kms_config};

pub const SERVICES: [&str; 3] = ["kms-svc", "object-svc", "audit-svc"];

/// A work directory with the test principals, a master key, a CA and a certificate
/// per service.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: DevCa,
}

impl Pki {
    pub fn create() -> Pki {
        let dir = crate::binary::workdir(&[]);
        let ca = DevCa::new("test CA").unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        let pki = Pki { dir, ca };
        for service in SERVICES {
            pki.write_cert(service, &pki.ca.issue(Some(service)).unwrap());
        }
        pki
    }

    pub fn write_cert(&self, service: &str, issued: &Issued) {
        std::fs::write(self.dir.join(format!("{service}.pem")), &issued.cert_pem).unwrap();
        std::fs::write(self.dir.join(format!("{service}-key.pem")), &issued.key_pem).unwrap();
    }

    pub fn flags(&self, service: &str) -> Vec<String> {
        let path = |name: String| self.dir.join(name).display().to_string();
        vec![
            "--tls-cert-file".into(),
            path(format!("{service}.pem")),
            "--tls-key-file".into(),
            path(format!("{service}-key.pem")),
            "--tls-client-ca-file".into(),
            path("ca.pem".into()),
        ]
    }

    /// The principals file without any service key: services over TLS are who
    /// their certificates say.
    pub fn drop_service_keys(&self) {
        let path = self.dir.join("principals.json");
        let mut file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for principal in file["principals"].as_array_mut().unwrap() {
            if principal["type"] == "AWSService" {
                let entry = principal.as_object_mut().unwrap();
                entry.remove("access_key_id");
                entry.remove("secret_access_key");
            }
        }
        std::fs::write(&path, file.to_string()).unwrap();
    }
}

pub fn client_config(ca_pem: &str, identity: Option<&Issued>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(issued) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}

/// A channel to `address` over TLS, trusting `ca_pem`, presenting `identity`.
pub fn tls_channel(address: SocketAddr, ca_pem: &str, identity: Option<&Issued>) -> Channel {
    let config = Arc::new(client_config(ca_pem, identity));
    let connector = tower::service_fn(move |_: Uri| {
        let config = config.clone();
        async move {
            let tcp = TcpStream::connect(address).await?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
        }
    });
    Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_with_connector_lazy(connector)
}

pub fn plain_channel(address: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy()
}

/// The leaf certificate a new TLS connection to `address` is served.
pub async fn served_certificate(address: SocketAddr, ca_pem: &str) -> Vec<u8> {
    let tcp = TcpStream::connect(address).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(client_config(ca_pem, None)))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

pub async fn health(channel: Channel, service: &str) -> Result<i32, tonic::Status> {
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map(|r| r.into_inner().status)
}

pub async fn wait_serving(channel: Channel) {
    for _ in 0..400 {
        if health(channel.clone(), "")
            .await
            .is_ok_and(|status| status == 1)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("not SERVING within 10 s");
}

/// kms-svc over TLS with `extra` flags; records go to memory.
pub struct Kms {
    pub address: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _database: TestDatabase,
}

pub async fn start_kms(pki: &Pki, extra: &[&str]) -> Kms {
    let database = TestDatabase::create().await;
    let mut flags = pki.flags("kms-svc");
    flags.extend(extra.iter().map(|s| (*s).to_owned()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let config = kms_config(&database.url, &pki.dir, &flags);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(kms_svc::run_with_sink(
        config,
        listener,
        shutdown.clone(),
        Arc::new(MemorySink::default()),
    ));
    wait_serving(tls_channel(address, pki.ca.pem(), None)).await;
    Kms {
        address,
        shutdown,
        task,
        _database: database,
    }
}
