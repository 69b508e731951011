//! `keyhold up --tls`: a throwaway CA and a certificate per service under
//! `.keyhold/tls`, as the tls deployment component issues them (docs/kubernetes.md,
//! "TLS contract"): ECDSA P-256, the service named by the URI SAN
//! `spiffe://keyhold/service/<name>`, valid for `localhost` and 127.0.0.1.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// A certificate authority held in memory, which issues service certificates.
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A certificate and its private key, in PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl DevCa {
    pub fn new(name: &str) -> Result<DevCa> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key)?.pem();
        Ok(DevCa {
            issuer: Issuer::new(params, key),
            pem,
        })
    }

    /// The CA certificate: the bundle every service trusts.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A certificate for `localhost` and 127.0.0.1 naming the service `service` by
    /// its URI SAN (or, with None, no service), for server and client use.
    pub fn issue(&self, service: Option<&str>) -> Result<Issued> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, service.unwrap_or("keyhold client"));
        params.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into()?),
            SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        ];
        if let Some(service) = service {
            params.subject_alt_names.push(SanType::URI(
                format!("spiffe://keyhold/service/{service}").try_into()?,
            ));
        }
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Where one service's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// The files of `service` under `dir`.
pub fn service_files(dir: &Path, service: &str) -> ServiceFiles {
    ServiceFiles {
        cert: dir.join(format!("{service}.pem")),
        key: dir.join(format!("{service}-key.pem")),
        ca: dir.join("ca.pem"),
    }
}

/// A new CA and a certificate for each of `services` under `dir` (replacing what an
/// earlier run left: the CA lives only as long as one `keyhold up`).
pub fn generate(dir: &Path, services: &[&str]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ca = DevCa::new("keyhold dev CA")?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    for service in services {
        let issued = ca.issue(Some(service))?;
        let files = service_files(dir, service);
        std::fs::write(&files.cert, &issued.cert_pem)?;
        write_private(&files.key, issued.key_pem.as_bytes())?;
    }
    Ok(())
}

/// Writes a file only its owner may read, from the moment it exists.
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot replace {}", path.display())),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}
