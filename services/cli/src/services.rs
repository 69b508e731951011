//! The keyhold services `keyhold up` knows how to start, and how each one is
//! found and configured. Adding a service is one row in [`SERVICES`].

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::console::note;
use crate::files::is_executable_file;

/// One listening socket of a service, handed to it through `env`.
pub struct Endpoint {
    /// What to call it in the printout ("grpc", "s3 http").
    pub protocol: &'static str,
    pub env: &'static str,
    pub addr: &'static str,
}

impl Endpoint {
    pub const fn grpc(addr: &'static str) -> Endpoint {
        Endpoint {
            protocol: "grpc",
            env: "KEYHOLD_LISTEN",
            addr,
        }
    }
}

pub struct Service {
    /// Also the binary's file name.
    pub name: &'static str,
    pub database: &'static str,
    /// Started in table order and each waited for, so a service may depend on
    /// any row above it (everything needs kms-svc).
    pub endpoints: &'static [Endpoint],
    /// Only kms-svc holds the master key; nothing else should see its path.
    pub master_key: bool,
    /// Without a required service there is nothing worth starting.
    pub required: bool,
    /// The service principal (a name in principals.json) whose credentials the
    /// service uses to stream its audit records to audit-svc; None for audit-svc.
    pub audit_principal: Option<&'static str>,
}

/// Where services stream their audit records, when audit-svc runs.
pub struct AuditTarget<'a> {
    pub endpoint: String,
    pub spool_dir: PathBuf,
    pub credentials: &'a [crate::dev_secrets::Credential],
}

/// audit-svc's row, which every other service streams to.
pub const AUDIT_SERVICE: &str = "audit-svc";

// audit-svc starts first so the others' audit streams find it. Next row: object-svc
// (grpc 127.0.0.1:50052 plus an S3 HTTP endpoint on 127.0.0.1:9000, database
// keyhold_object, audit principal "object-svc").
#[rustfmt::skip]
pub const SERVICES: &[Service] = &[
    Service { name: AUDIT_SERVICE, database: "keyhold_audit", endpoints: &[Endpoint::grpc("127.0.0.1:50053")], master_key: false, required: false, audit_principal: None },
    Service { name: "kms-svc", database: "keyhold_kms", endpoints: &[Endpoint::grpc("127.0.0.1:50051")], master_key: true, required: true, audit_principal: Some("kms-svc") },
];

impl AuditTarget<'_> {
    /// The environment that points `service` at audit-svc, when it has a principal.
    fn environment(&self, service: &Service) -> Vec<(&'static str, OsString)> {
        let Some(credential) = service
            .audit_principal
            .and_then(|name| self.credentials.iter().find(|c| c.name == name))
        else {
            return Vec::new();
        };
        vec![
            ("KEYHOLD_AUDIT_ENDPOINT", self.endpoint.clone().into()),
            ("KEYHOLD_AUDIT_SPOOL_DIR", self.spool_dir.clone().into()),
            (
                "KEYHOLD_AUDIT_ACCESS_KEY_ID",
                credential.access_key_id.clone().into(),
            ),
            (
                "KEYHOLD_AUDIT_SECRET_ACCESS_KEY",
                credential.secret_access_key.clone().into(),
            ),
        ]
    }
}

pub struct Located {
    pub service: &'static Service,
    pub binary: PathBuf,
}

/// The services whose binaries exist in `bin_dir`; absent optional ones are
/// skipped with a note, an absent required one is an error.
pub fn locate(bin_dir: &Path, table: &'static [Service]) -> Result<Vec<Located>> {
    let mut found = Vec::new();
    for service in table {
        let binary = bin_dir.join(service.name);
        if is_executable_file(&binary) {
            found.push(Located { service, binary });
        } else if service.required {
            bail!(
                "{} not found in {}: build it with `cargo build --release --bins` (or point --bin-dir / KEYHOLD_BIN_DIR at the directory that holds it)",
                service.name,
                bin_dir.display()
            );
        } else {
            note(format_args!("{}: not built, skipped", service.name));
        }
    }
    Ok(found)
}

/// Fails when an endpoint's address is taken. Without this check a leftover
/// service from an earlier run would answer our readiness probe and we would
/// report a stack as up that we do not own.
pub fn check_ports_free(located: &[Located]) -> Result<()> {
    for endpoint in located
        .iter()
        .flat_map(|l| l.service.endpoints.iter().map(move |e| (l.service.name, e)))
    {
        let (name, endpoint) = endpoint;
        if let Err(err) = TcpListener::bind(endpoint.addr) {
            bail!(
                "{} ({name} {}) is not free: {err} (is another `keyhold up` still running?)",
                endpoint.addr,
                endpoint.protocol
            );
        }
    }
    Ok(())
}

/// Everything a service is told at start, shared by all services.
pub struct Settings<'a> {
    pub principals_file: &'a Path,
    pub master_key_file: &'a Path,
    pub account_id: &'a str,
    pub region: &'a str,
    pub log_format: &'a str,
    /// Set when audit-svc is part of the stack.
    pub audit: Option<AuditTarget<'a>>,
}

/// The service's environment on top of the inherited one.
pub fn environment(
    service: &Service,
    database_url: &str,
    settings: &Settings<'_>,
) -> Vec<(&'static str, OsString)> {
    let mut env: Vec<(&'static str, OsString)> = service
        .endpoints
        .iter()
        .map(|e| (e.env, e.addr.into()))
        .collect();
    env.extend([
        ("KEYHOLD_DATABASE_URL", database_url.into()),
        ("KEYHOLD_PRINCIPALS_FILE", settings.principals_file.into()),
        ("KEYHOLD_ACCOUNT_ID", settings.account_id.into()),
        ("KEYHOLD_REGION", settings.region.into()),
        ("KEYHOLD_LOG_FORMAT", settings.log_format.into()),
    ]);
    if service.master_key {
        env.push(("KEYHOLD_MASTER_KEY_FILE", settings.master_key_file.into()));
    }
    if let Some(audit) = &settings.audit {
        env.extend(audit.environment(service));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{test_dir, write_executable};

    static TABLE: &[Service] = &[
        Service {
            name: "kms-svc",
            database: "keyhold_kms",
            endpoints: &[Endpoint::grpc("127.0.0.1:1")],
            master_key: true,
            required: true,
            audit_principal: Some("kms-svc"),
        },
        Service {
            name: "object-svc",
            database: "keyhold_object",
            endpoints: &[],
            master_key: false,
            required: false,
            audit_principal: Some("object-svc"),
        },
    ];

    #[test]
    fn finds_binaries_next_to_each_other_and_skips_optional_ones() {
        let dir = test_dir("locate");
        let err = locate(&dir, TABLE).err().unwrap().to_string();
        assert!(
            err.contains("kms-svc not found") && err.contains("cargo build --release --bins"),
            "{err}"
        );

        write_executable(&dir.join("kms-svc"));
        std::fs::write(dir.join("object-svc"), "not executable").unwrap();
        let found = locate(&dir, TABLE).unwrap();
        assert_eq!(
            found.iter().map(|l| l.service.name).collect::<Vec<_>>(),
            ["kms-svc"]
        );
        assert_eq!(found[0].binary, dir.join("kms-svc"));

        write_executable(&dir.join("object-svc"));
        assert_eq!(locate(&dir, TABLE).unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn only_kms_gets_the_master_key() {
        let settings = Settings {
            principals_file: Path::new("/d/principals.json"),
            master_key_file: Path::new("/d/kms-master.key"),
            account_id: "000000000000",
            region: "us-east-1",
            log_format: "json",
            audit: None,
        };
        let kms = environment(&TABLE[0], "postgres://h/keyhold_kms", &settings);
        let get = |env: &[(&str, OsString)], key: &str| {
            env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
        };
        assert_eq!(get(&kms, "KEYHOLD_LISTEN"), Some("127.0.0.1:1".into()));
        assert_eq!(
            get(&kms, "KEYHOLD_DATABASE_URL"),
            Some("postgres://h/keyhold_kms".into())
        );
        assert_eq!(
            get(&kms, "KEYHOLD_MASTER_KEY_FILE"),
            Some("/d/kms-master.key".into())
        );
        assert_eq!(get(&kms, "KEYHOLD_LOG_FORMAT"), Some("json".into()));
        let object = environment(&TABLE[1], "postgres://h/keyhold_object", &settings);
        assert_eq!(get(&object, "KEYHOLD_MASTER_KEY_FILE"), None);
    }

    #[test]
    fn every_row_is_sane() {
        for service in SERVICES {
            assert!(
                !service.endpoints.is_empty(),
                "{} has nothing to wait for",
                service.name
            );
            assert!(service.database.starts_with("keyhold_"));
        }
        assert!(SERVICES.iter().any(|s| s.required));
    }
}
