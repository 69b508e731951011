//! The keyhold services `keyhold up` knows how to start, and how each one is
//! found and configured. Adding a service is one row in [`SERVICES`].

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::console::note;
use crate::dev_secrets::Credential;
use crate::files::is_executable_file;

/// One listening socket of a service, handed to it through `env`.
pub struct Endpoint {
    /// What to call it in the printout ("grpc", "s3 http").
    pub protocol: &'static str,
    pub env: &'static str,
    pub addr: &'static str,
    /// For an AWS protocol, the AWS CLI's name of the service (`kms`, `s3`): its
    /// endpoint is `AWS_ENDPOINT_URL_<NAME>` and `<name> = endpoint_url` in a config.
    pub aws_service: Option<&'static str>,
}

impl Endpoint {
    pub const fn grpc(addr: &'static str) -> Endpoint {
        Endpoint {
            protocol: "grpc",
            env: "KEYHOLD_LISTEN",
            addr,
            aws_service: None,
        }
    }

    pub const fn s3(addr: &'static str) -> Endpoint {
        Endpoint {
            protocol: "s3 http",
            env: "KEYHOLD_S3_LISTEN",
            addr,
            aws_service: Some("s3"),
        }
    }

    /// The AWS JSON protocol of kms-svc (`kms`) or audit-svc (`cloudtrail`).
    pub const fn aws_json(aws_service: &'static str, addr: &'static str) -> Endpoint {
        Endpoint {
            protocol: "aws http",
            env: "KEYHOLD_AWS_LISTEN",
            addr,
            aws_service: Some(aws_service),
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
    /// The file in the data dir holding the service's own master key,
    /// generated on the first run and kept. Each service has its own and
    /// sees no other's path.
    pub master_key: Option<&'static str>,
    /// Directories in the data dir the service keeps data in, created before
    /// it starts.
    pub data_dirs: &'static [DataDir],
    /// Without a required service there is nothing worth starting.
    pub required: bool,
    /// The service principal (a name in principals.json) whose credentials the
    /// service uses to stream its audit records to audit-svc; None for audit-svc.
    pub audit_principal: Option<&'static str>,
    /// The service principal with which the service calls kms-svc (for users,
    /// on their behalf); None when it does not call kms-svc.
    pub kms_principal: Option<&'static str>,
    /// Settings of the dev stack only, such as intervals shorter than production's.
    pub dev_env: &'static [(&'static str, &'static str)],
}

/// A directory under the data dir, handed to the service through `env`.
pub struct DataDir {
    pub env: &'static str,
    pub name: &'static str,
}

/// Where services stream their audit records, when audit-svc runs.
pub struct AuditTarget<'a> {
    pub endpoint: String,
    pub spool_dir: PathBuf,
    pub credentials: &'a [Credential],
}

/// Where the services that call kms-svc find it.
pub struct KmsTarget<'a> {
    pub endpoint: String,
    pub credentials: &'a [Credential],
}

/// Where audit-svc writes trails' log files (object-svc), and how often.
pub struct TrailDelivery {
    pub object_endpoint: String,
    pub interval_seconds: u64,
}

/// The dev stack delivers log files every 10 s (AWS: about every 5 minutes), so
/// that the lab sees them while it runs.
pub const DEV_DELIVERY_INTERVAL_SECONDS: u64 = 10;

/// object-svc's row, where trails deliver their log files.
pub const OBJECT_SERVICE: &str = "object-svc";

/// audit-svc's row, which every other service streams to.
pub const AUDIT_SERVICE: &str = "audit-svc";

/// audit-svc's Insights in the dev stack: a 5-minute baseline window and minutes
/// judged within seconds of their end, so a burst shows within two minutes (AWS: 7
/// days). Which types are on is up to the trails' insight selectors, as on AWS.
pub const AUDIT_DEV_INSIGHTS: &[(&str, &str)] = &[
    ("KEYHOLD_INSIGHTS_BASELINE_MINUTES", "5"),
    ("KEYHOLD_INSIGHTS_EVALUATE_SECONDS", "10"),
    ("KEYHOLD_INSIGHTS_CLOSE_DELAY_SECONDS", "5"),
];

/// kms-svc's row, which services with a `kms_principal` call.
pub const KMS_SERVICE: &str = "kms-svc";

// audit-svc starts first so the others' audit streams find it; object-svc after
// kms-svc, which it calls.
#[rustfmt::skip]
pub const SERVICES: &[Service] = &[
    Service { name: AUDIT_SERVICE, database: "keyhold_audit", endpoints: &[Endpoint::grpc("127.0.0.1:50053"), Endpoint::aws_json("cloudtrail", "127.0.0.1:9002")], master_key: Some("audit-master.key"), data_dirs: &[], required: false, audit_principal: None, kms_principal: None, dev_env: &[("KEYHOLD_DIGEST_INTERVAL_SECONDS", "60")] },
    Service { name: KMS_SERVICE, database: "keyhold_kms", endpoints: &[Endpoint::grpc("127.0.0.1:50051"), Endpoint::aws_json("kms", "127.0.0.1:9001")], master_key: Some("kms-master.key"), data_dirs: &[], required: true, audit_principal: Some("kms-svc"), kms_principal: None, dev_env: &[] },
    Service { name: OBJECT_SERVICE, database: "keyhold_object", endpoints: &[Endpoint::grpc("127.0.0.1:50052"), Endpoint::s3("127.0.0.1:9000")], master_key: Some("object-master.key"), data_dirs: &[DataDir { env: "KEYHOLD_BLOB_STORE", name: "object-blobs" }], required: false, audit_principal: Some("object-svc"), kms_principal: Some("object-svc"), dev_env: &[] },
];

impl Service {
    pub fn master_key_file(&self, data_dir: &Path) -> Option<PathBuf> {
        self.master_key.map(|file| data_dir.join(file))
    }
}

fn credential<'c>(credentials: &'c [Credential], name: &str) -> Option<&'c Credential> {
    credentials.iter().find(|c| c.name == name)
}

impl AuditTarget<'_> {
    /// The environment that points `service` at audit-svc, when it has a principal.
    /// Over TLS (`with_keys` false) the service's certificate says who it is.
    fn environment(&self, service: &Service, with_keys: bool) -> Vec<(&'static str, OsString)> {
        let Some(credential) = service
            .audit_principal
            .and_then(|name| credential(self.credentials, name))
        else {
            return Vec::new();
        };
        let mut env = vec![
            ("KEYHOLD_AUDIT_ENDPOINT", self.endpoint.clone().into()),
            ("KEYHOLD_AUDIT_SPOOL_DIR", self.spool_dir.clone().into()),
        ];
        if !with_keys {
            return env;
        }
        env.extend([
            (
                "KEYHOLD_AUDIT_ACCESS_KEY_ID",
                credential.access_key_id.clone().into(),
            ),
            (
                "KEYHOLD_AUDIT_SECRET_ACCESS_KEY",
                credential.secret_access_key.clone().into(),
            ),
        ]);
        env
    }
}

impl KmsTarget<'_> {
    /// The environment that points `service` at kms-svc as `principal`. A
    /// missing principal is an error here: the service would refuse to start.
    fn environment(
        &self,
        service: &Service,
        principal: &str,
        principals_file: &Path,
        with_keys: bool,
    ) -> Result<Vec<(&'static str, OsString)>> {
        let Some(credential) = credential(self.credentials, principal) else {
            bail!(
                "{} calls kms-svc as principal \"{principal}\", which is not in {} (add it, or delete the file to get the repository's)",
                service.name,
                principals_file.display()
            );
        };
        let endpoint = ("KEYHOLD_KMS_ENDPOINT", self.endpoint.clone().into());
        if !with_keys {
            return Ok(vec![endpoint]);
        }
        Ok(vec![
            endpoint,
            (
                "KEYHOLD_KMS_ACCESS_KEY_ID",
                credential.access_key_id.clone().into(),
            ),
            (
                "KEYHOLD_KMS_SECRET_ACCESS_KEY",
                credential.secret_access_key.clone().into(),
            ),
        ])
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

/// Creates the data directories of the located services.
pub fn create_data_dirs(located: &[Located], data_dir: &Path) -> Result<()> {
    for dir in located.iter().flat_map(|l| l.service.data_dirs) {
        let path = data_dir.join(dir.name);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    }
    Ok(())
}

/// Everything a service is told at start, shared by all services.
pub struct Settings<'a> {
    /// Holds the master keys and data directories.
    pub data_dir: &'a Path,
    pub principals_file: &'a Path,
    pub account_id: &'a str,
    pub region: &'a str,
    pub log_format: &'a str,
    /// Set when kms-svc is part of the stack (always: it is required).
    pub kms: Option<KmsTarget<'a>>,
    /// Set when audit-svc is part of the stack.
    pub audit: Option<AuditTarget<'a>>,
    /// Set when object-svc is part of the stack: audit-svc delivers trails there.
    pub trail_delivery: Option<TrailDelivery>,
    /// `keyhold up --tls`: where the CA and each service's certificate are. The
    /// services then call each other over mTLS, without service keys.
    pub tls_dir: Option<&'a Path>,
}

/// The service's environment on top of the inherited one.
pub fn environment(
    service: &Service,
    database_url: &str,
    settings: &Settings<'_>,
) -> Result<Vec<(&'static str, OsString)>> {
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
    if let Some(file) = service.master_key_file(settings.data_dir) {
        env.push(("KEYHOLD_MASTER_KEY_FILE", file.into()));
    }
    env.extend(service.dev_env.iter().map(|(k, v)| (*k, (*v).into())));
    env.extend(
        service
            .data_dirs
            .iter()
            .map(|d| (d.env, settings.data_dir.join(d.name).into())),
    );
    if let Some(principal) = service.kms_principal {
        let Some(kms) = &settings.kms else {
            bail!("{} needs {KMS_SERVICE}, which is not running", service.name);
        };
        env.extend(kms.environment(
            service,
            principal,
            settings.principals_file,
            settings.tls_dir.is_none(),
        )?);
    }
    if let Some(audit) = &settings.audit {
        env.extend(audit.environment(service, settings.tls_dir.is_none()));
    }
    if let Some(dir) = settings.tls_dir {
        let files = keyhold_cli::tls::service_files(dir, service.name);
        env.extend([
            ("KEYHOLD_TLS_CERT_FILE", files.cert.into()),
            ("KEYHOLD_TLS_KEY_FILE", files.key.into()),
            ("KEYHOLD_TLS_CLIENT_CA_FILE", files.ca.into()),
        ]);
    }
    if let Some(delivery) = settings
        .trail_delivery
        .as_ref()
        .filter(|_| service.name == AUDIT_SERVICE)
    {
        // audit-svc writes as its own principal, the principals file's `audit-svc`.
        env.extend([
            (
                "KEYHOLD_OBJECT_ENDPOINT",
                delivery.object_endpoint.clone().into(),
            ),
            (
                "KEYHOLD_DELIVERY_INTERVAL_SECONDS",
                delivery.interval_seconds.to_string().into(),
            ),
        ]);
    }
    if service.name == AUDIT_SERVICE {
        env.extend(
            AUDIT_DEV_INSIGHTS
                .iter()
                .map(|(k, v)| (*k, OsString::from(v))),
        );
    }
    Ok(env)
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
            master_key: Some("kms-master.key"),
            data_dirs: &[],
            required: true,
            audit_principal: Some("kms-svc"),
            kms_principal: None,
            dev_env: &[],
        },
        Service {
            name: "object-svc",
            database: "keyhold_object",
            endpoints: &[],
            master_key: Some("object-master.key"),
            data_dirs: &[DataDir {
                env: "KEYHOLD_BLOB_STORE",
                name: "object-blobs",
            }],
            required: false,
            audit_principal: Some("object-svc"),
            kms_principal: Some("object-svc"),
            dev_env: &[],
        },
        Service {
            name: "audit-svc",
            database: "keyhold_audit",
            endpoints: &[],
            master_key: Some("audit-master.key"),
            data_dirs: &[],
            required: false,
            audit_principal: None,
            kms_principal: None,
            dev_env: &[("KEYHOLD_DIGEST_INTERVAL_SECONDS", "60")],
        },
    ];

    fn service_credential(name: &str) -> Credential {
        Credential {
            name: name.to_owned(),
            kind: "AWSService".to_owned(),
            access_key_id: format!("AKIA-{name}"),
            secret_access_key: format!("secret-{name}"),
        }
    }

    fn get(env: &[(&str, OsString)], key: &str) -> Option<OsString> {
        env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }

    fn settings(credentials: &[Credential]) -> Settings<'_> {
        Settings {
            data_dir: Path::new("/d"),
            principals_file: Path::new("/d/principals.json"),
            account_id: "000000000000",
            region: "us-east-1",
            log_format: "json",
            kms: Some(KmsTarget {
                endpoint: "http://127.0.0.1:1".to_owned(),
                credentials,
            }),
            audit: Some(AuditTarget {
                endpoint: "http://127.0.0.1:3".to_owned(),
                spool_dir: PathBuf::from("/d/audit-spool"),
                credentials,
            }),
            trail_delivery: Some(TrailDelivery {
                object_endpoint: "http://127.0.0.1:2".to_owned(),
                interval_seconds: DEV_DELIVERY_INTERVAL_SECONDS,
            }),
            tls_dir: None,
        }
    }

    #[test]
    fn with_tls_every_service_gets_its_certificate_and_no_service_keys() {
        let credentials = [
            service_credential("object-svc"),
            service_credential("kms-svc"),
            service_credential("audit-svc"),
        ];
        let settings = Settings {
            tls_dir: Some(Path::new("/d/tls")),
            ..settings(&credentials)
        };
        for service in TABLE {
            let env = environment(service, "postgres://x", &settings).unwrap();
            let name = service.name;
            assert_eq!(
                get(&env, "KEYHOLD_TLS_CERT_FILE"),
                Some(format!("/d/tls/{name}.pem").into())
            );
            assert_eq!(
                get(&env, "KEYHOLD_TLS_KEY_FILE"),
                Some(format!("/d/tls/{name}-key.pem").into())
            );
            assert_eq!(
                get(&env, "KEYHOLD_TLS_CLIENT_CA_FILE"),
                Some("/d/tls/ca.pem".into())
            );
            for key in [
                "KEYHOLD_KMS_ACCESS_KEY_ID",
                "KEYHOLD_KMS_SECRET_ACCESS_KEY",
                "KEYHOLD_AUDIT_ACCESS_KEY_ID",
                "KEYHOLD_AUDIT_SECRET_ACCESS_KEY",
            ] {
                assert_eq!(get(&env, key), None, "{name} {key}");
            }
        }
        let object = environment(&TABLE[1], "postgres://x", &settings).unwrap();
        assert_eq!(
            get(&object, "KEYHOLD_KMS_ENDPOINT"),
            Some("http://127.0.0.1:1".into()),
            "the scheme is the caller's choice (up.rs picks https with --tls)"
        );
        assert!(get(&object, "KEYHOLD_AUDIT_ENDPOINT").is_some());
    }

    #[test]
    fn the_generated_certificates_name_each_service() {
        let dir = std::env::temp_dir().join(format!("keyhold-tls-{}", std::process::id()));
        keyhold_cli::tls::generate(&dir, &["kms-svc", "object-svc"]).unwrap();
        let files = keyhold_cli::tls::service_files(&dir, "object-svc");
        let cert = std::fs::read_to_string(&files.cert).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        let key = std::fs::metadata(&files.key).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
            0o600
        );
        assert!(files.ca.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
        write_executable(&dir.join("audit-svc"));
        assert_eq!(locate(&dir, TABLE).unwrap().len(), 3);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn each_service_gets_its_own_master_key() {
        let credentials = [
            service_credential("kms-svc"),
            service_credential("object-svc"),
        ];
        let settings = settings(&credentials);
        let kms = environment(&TABLE[0], "postgres://h/keyhold_kms", &settings).unwrap();
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
        let object = environment(&TABLE[1], "postgres://h/keyhold_object", &settings).unwrap();
        assert_eq!(
            get(&object, "KEYHOLD_MASTER_KEY_FILE"),
            Some("/d/object-master.key".into())
        );
        let audit = environment(&TABLE[2], "postgres://h/keyhold_audit", &settings).unwrap();
        assert_eq!(
            get(&audit, "KEYHOLD_MASTER_KEY_FILE"),
            Some("/d/audit-master.key".into())
        );
        assert_eq!(
            get(&audit, "KEYHOLD_DIGEST_INTERVAL_SECONDS"),
            Some("60".into())
        );
        assert_eq!(get(&kms, "KEYHOLD_DIGEST_INTERVAL_SECONDS"), None);
        // The dev stack's Insights: a 5-minute baseline, audit-svc only; the types are
        // the trails' insight selectors.
        assert_eq!(
            get(&audit, "KEYHOLD_INSIGHTS_BASELINE_MINUTES"),
            Some("5".into())
        );
        assert_eq!(get(&kms, "KEYHOLD_INSIGHTS_BASELINE_MINUTES"), None);
        assert_eq!(get(&audit, "KEYHOLD_INSIGHT_TYPES"), None);
    }

    #[test]
    fn audit_svc_delivers_trails_into_object_svc_every_10_seconds() {
        let credentials = [
            service_credential("kms-svc"),
            service_credential("object-svc"),
        ];
        let settings = settings(&credentials);
        let audit = environment(&TABLE[2], "postgres://h/keyhold_audit", &settings).unwrap();
        assert_eq!(
            get(&audit, "KEYHOLD_OBJECT_ENDPOINT"),
            Some("http://127.0.0.1:2".into())
        );
        assert_eq!(
            get(&audit, "KEYHOLD_DELIVERY_INTERVAL_SECONDS"),
            Some("10".into())
        );
        let object = environment(&TABLE[1], "postgres://h/keyhold_object", &settings).unwrap();
        assert_eq!(get(&object, "KEYHOLD_OBJECT_ENDPOINT"), None);
    }

    #[test]
    fn object_svc_calls_kms_as_its_own_principal() {
        let credentials = [
            service_credential("kms-svc"),
            service_credential("object-svc"),
        ];
        let settings = settings(&credentials);
        let object = environment(&TABLE[1], "postgres://h/keyhold_object", &settings).unwrap();
        assert_eq!(
            get(&object, "KEYHOLD_KMS_ENDPOINT"),
            Some("http://127.0.0.1:1".into())
        );
        assert_eq!(
            get(&object, "KEYHOLD_KMS_ACCESS_KEY_ID"),
            Some("AKIA-object-svc".into())
        );
        assert_eq!(
            get(&object, "KEYHOLD_KMS_SECRET_ACCESS_KEY"),
            Some("secret-object-svc".into())
        );
        assert_eq!(
            get(&object, "KEYHOLD_BLOB_STORE"),
            Some("/d/object-blobs".into())
        );
        // Its audit stream uses the same principal; the spool dir is shared
        // (each service spools into a subdirectory named after itself).
        assert_eq!(
            get(&object, "KEYHOLD_AUDIT_ACCESS_KEY_ID"),
            Some("AKIA-object-svc".into())
        );
        assert_eq!(
            get(&object, "KEYHOLD_AUDIT_SPOOL_DIR"),
            Some("/d/audit-spool".into())
        );

        let kms = environment(&TABLE[0], "postgres://h/keyhold_kms", &settings).unwrap();
        assert_eq!(get(&kms, "KEYHOLD_KMS_ENDPOINT"), None);
        assert_eq!(get(&kms, "KEYHOLD_KMS_ACCESS_KEY_ID"), None);
        assert_eq!(get(&kms, "KEYHOLD_BLOB_STORE"), None);
        assert_eq!(
            get(&kms, "KEYHOLD_AUDIT_ACCESS_KEY_ID"),
            Some("AKIA-kms-svc".into())
        );
    }

    #[test]
    fn a_missing_kms_principal_is_an_error() {
        let credentials = [service_credential("kms-svc")];
        let err = environment(
            &TABLE[1],
            "postgres://h/keyhold_object",
            &settings(&credentials),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("\"object-svc\"") && err.contains("/d/principals.json"),
            "{err}"
        );
    }

    #[test]
    fn creates_the_data_dirs() {
        let dir = test_dir("data-dirs");
        write_executable(&dir.join("kms-svc"));
        write_executable(&dir.join("object-svc"));
        let located = locate(&dir, TABLE).unwrap();
        create_data_dirs(&located, &dir).unwrap();
        create_data_dirs(&located, &dir).unwrap();
        assert!(dir.join("object-blobs").is_dir());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn every_row_is_sane() {
        for (i, service) in SERVICES.iter().enumerate() {
            assert!(
                !service.endpoints.is_empty(),
                "{} has nothing to wait for",
                service.name
            );
            assert!(service.database.starts_with("keyhold_"));
            if service.kms_principal.is_some() {
                assert!(
                    SERVICES[..i].iter().any(|s| s.name == KMS_SERVICE),
                    "{} calls kms-svc but starts before it",
                    service.name
                );
            }
        }
        assert!(SERVICES.iter().any(|s| s.required));
        assert!(SERVICES.iter().any(|s| s.name == KMS_SERVICE && s.required));
        let mut keys: Vec<_> = SERVICES.iter().filter_map(|s| s.master_key).collect();
        let mut dirs: Vec<_> = SERVICES
            .iter()
            .flat_map(|s| s.data_dirs.iter().map(|d| d.name))
            .collect();
        let mut addrs: Vec<_> = SERVICES
            .iter()
            .flat_map(|s| s.endpoints.iter().map(|e| e.addr))
            .collect();
        for names in [&mut keys, &mut dirs, &mut addrs] {
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count, "shared: {names:?}");
        }
    }

    #[test]
    fn object_svc_follows_kms_svc() {
        let names: Vec<_> = SERVICES.iter().map(|s| s.name).collect();
        assert_eq!(names, [AUDIT_SERVICE, KMS_SERVICE, "object-svc"]);
        let object = &SERVICES[2];
        assert_eq!(object.database, "keyhold_object");
        assert_eq!(object.endpoints[0].addr, "127.0.0.1:50052");
        assert_eq!(object.master_key, Some("object-master.key"));
        assert_eq!(object.kms_principal, Some("object-svc"));
        assert_eq!(object.audit_principal, Some("object-svc"));
    }
}
