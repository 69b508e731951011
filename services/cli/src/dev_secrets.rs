//! The dev-only secrets in the data dir: the principals file the services
//! authenticate against, and the master keys (kms-svc's, object-svc's, audit-svc's).

use std::fs;
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::TryRng as _;
use serde::Deserialize;

use crate::console::note;

/// The repository's dev principals; their secrets are public (README).
const DEV_PRINCIPALS: &str = include_str!("../../../deploy/dev/principals.json");

const MASTER_KEY_LEN: usize = 32;

pub struct DevSecrets {
    pub principals_file: PathBuf,
}

/// Writes the principals file when missing and makes sure each of
/// `master_key_files` holds a key (one per service that has one).
pub fn prepare(data_dir: &Path, master_key_files: &[PathBuf]) -> Result<DevSecrets> {
    let secrets = DevSecrets {
        principals_file: data_dir.join("principals.json"),
    };
    write_principals(&secrets.principals_file)?;
    for file in master_key_files {
        if ensure_master_key(file)? {
            note(format_args!(
                "generated a dev master key in {}",
                file.display()
            ));
        }
    }
    Ok(secrets)
}

/// Written when missing; an existing file is kept so local edits (extra
/// principals, policies) survive restarts. A note says when it differs from
/// the repository's copy, which is the usual reason for surprises.
fn write_principals(path: &Path) -> Result<()> {
    match fs::read_to_string(path) {
        Ok(existing) if existing == DEV_PRINCIPALS => Ok(()),
        Ok(_) => {
            note(format_args!(
                "{} differs from deploy/dev/principals.json; keeping it (delete it to get the repository's)",
                path.display()
            ));
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::write(path, DEV_PRINCIPALS).with_context(|| format!("writing {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Generates the key once and reuses it afterwards, so ciphertexts made in
/// one run still decrypt in the next. Returns whether it was generated.
fn ensure_master_key(path: &Path) -> Result<bool> {
    // create_new + mode: the key is never readable by others, not even
    // between creating the file and a chmod.
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let mut key = [0u8; MASTER_KEY_LEN];
            rand::rngs::SysRng
                .try_fill_bytes(&mut key)
                .context("reading the OS random number generator")?;
            let mut text = STANDARD.encode(key);
            text.push('\n');
            key.fill(0);
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            check_master_key(path)?;
            Ok(false)
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// Catches a damaged key here, with advice, rather than as a service crash.
fn check_master_key(path: &Path) -> Result<()> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let decoded = STANDARD.decode(text.trim());
    if decoded.map(|k| k.len()) != Ok(MASTER_KEY_LEN) {
        bail!(
            "{} is not a base64-encoded {MASTER_KEY_LEN}-byte key; fix it, or delete it to generate a new one (data encrypted under the old key becomes unreadable)",
            path.display()
        );
    }
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        note(format_args!(
            "{} was readable by others (mode {:o}); set it to 600",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct PrincipalsFile {
    principals: Vec<Credential>,
}

#[derive(Deserialize)]
pub struct Credential {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// The credentials in the principals file actually in use, for the printout.
pub fn credentials(principals_file: &Path) -> Result<Vec<Credential>> {
    let text = fs::read_to_string(principals_file)
        .with_context(|| format!("reading {}", principals_file.display()))?;
    let file: PrincipalsFile = serde_json::from_str(&text)
        .with_context(|| format!("parsing {}", principals_file.display()))?;
    Ok(file.principals)
}

/// The credentials of the dev principals `keyhold up` writes on a first run.
pub fn dev_credentials() -> Vec<Credential> {
    let file: PrincipalsFile =
        serde_json::from_str(DEV_PRINCIPALS).expect("the embedded dev principals parse");
    file.principals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::test_dir;

    #[test]
    fn dev_principals_parse() {
        let dir = test_dir("principals");
        let path = dir.join("principals.json");
        write_principals(&path).unwrap();
        let creds = credentials(&path).unwrap();
        assert!(
            creds
                .iter()
                .any(|c| c.kind == "Root" && c.access_key_id.starts_with("AKIA"))
        );
        // Every service principal the table names has credentials.
        for service in crate::services::SERVICES {
            for name in [service.audit_principal, service.kms_principal]
                .into_iter()
                .flatten()
            {
                assert!(
                    creds
                        .iter()
                        .any(|c| c.name == name && c.kind == "AWSService"),
                    "{} names principal {name}, which is not a service principal in deploy/dev/principals.json",
                    service.name
                );
            }
        }
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn prepare_makes_every_master_key_once() {
        let dir = test_dir("prepare");
        let keys = [dir.join("kms-master.key"), dir.join("object-master.key")];
        let secrets = prepare(&dir, &keys).unwrap();
        assert_eq!(secrets.principals_file, dir.join("principals.json"));
        let first: Vec<String> = keys
            .iter()
            .map(|k| fs::read_to_string(k).unwrap())
            .collect();
        assert_ne!(first[0], first[1], "each service has its own key");
        for key in &keys {
            assert_eq!(
                fs::metadata(key).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        prepare(&dir, &keys).unwrap();
        let again: Vec<String> = keys
            .iter()
            .map(|k| fs::read_to_string(k).unwrap())
            .collect();
        assert_eq!(first, again, "kept across runs");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn master_key_is_made_once_and_private() {
        let dir = test_dir("master-key");
        let path = dir.join("kms-master.key");
        assert!(ensure_master_key(&path).unwrap());
        let first = fs::read_to_string(&path).unwrap();
        assert!(first.ends_with('\n'));
        assert_eq!(STANDARD.decode(first.trim()).unwrap().len(), 32);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!ensure_master_key(&path).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), first);

        fs::write(&path, "short\n").unwrap();
        let err = ensure_master_key(&path).unwrap_err().to_string();
        assert!(err.contains("not a base64-encoded 32-byte key"), "{err}");
        let _ = fs::remove_dir_all(dir);
    }
}
