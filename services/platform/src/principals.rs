//! The principals file: who may call keyhold, with which credentials, and what their
//! identity (IAM) policy allows. In a cluster it is a mounted Secret.

use std::{collections::HashMap, path::Path, sync::Arc};

use keyhold_key_policy::PolicyDocument;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::config::bad_config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PrincipalKind {
    Root,
    #[serde(rename = "IAMUser")]
    IamUser,
    /// A keyhold service (object-svc, audit-svc) that may call on a user's behalf.
    #[serde(rename = "AWSService")]
    Service,
}

impl PrincipalKind {
    /// The CloudTrail `userIdentity.type`.
    pub fn cloudtrail_type(self) -> &'static str {
        match self {
            PrincipalKind::Root => "Root",
            PrincipalKind::IamUser => "IAMUser",
            PrincipalKind::Service => "AWSService",
        }
    }
}

pub struct Principal {
    pub name: String,
    pub kind: PrincipalKind,
    pub arn: String,
    pub account_id: String,
    pub access_key_id: String,
    secret_access_key: Zeroizing<String>,
    pub identity_policy: Option<PolicyDocument>,
    /// For service principals: the service name shown as `invokedBy` and matched by
    /// `kms:ViaService` (for example `s3.amazonaws.com`).
    pub service: Option<String>,
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("name", &self.name)
            .field("arn", &self.arn)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// A stable CloudTrail `principalId`: the account id for root, else an id derived
    /// from the access key (AWS ids are opaque too).
    pub fn principal_id(&self) -> String {
        match self.kind {
            PrincipalKind::Root => self.account_id.clone(),
            _ if self.access_key_id.is_empty() => format!("AROA{}", self.name.to_ascii_uppercase()),
            _ => format!("AIDA{}", self.access_key_id.trim_start_matches("AKIA")),
        }
    }

    pub fn is_root(&self) -> bool {
        self.kind == PrincipalKind::Root
    }

    /// The secret itself, for protocols that sign with it (S3's SigV4): the verifier
    /// must derive the same signing key. Never log or return it.
    pub fn signing_secret(&self) -> &str {
        &self.secret_access_key
    }

    /// Constant-time comparison, so response timing says nothing about the secret.
    pub fn secret_matches(&self, candidate: &str) -> bool {
        self.secret_access_key
            .as_bytes()
            .ct_eq(candidate.as_bytes())
            .into()
    }
}

#[derive(Debug, Default, Clone)]
pub struct Principals {
    /// The installation's own account: the one its keys and buckets are created in
    /// unless a caller of another account creates them.
    pub account_id: String,
    by_access_key: HashMap<String, Arc<Principal>>,
    by_arn: HashMap<String, Arc<Principal>>,
    by_name: HashMap<String, Arc<Principal>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    account_id: String,
    principals: Vec<EntryShape>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryShape {
    name: String,
    #[serde(rename = "type")]
    kind: PrincipalKind,
    arn: String,
    /// Optional for `AWSService` principals, which authenticate by their client
    /// certificate over TLS (docs/kubernetes.md, "TLS contract").
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    secret_access_key: Option<Zeroizing<String>>,
    #[serde(default)]
    identity_policy: Option<serde_json::Value>,
    #[serde(default)]
    service: Option<String>,
}

/// The account an IAM ARN belongs to: principals of several accounts may share one
/// installation (cross-account access is decided by bucket policies).
fn account_of(arn: &str) -> Option<String> {
    let account = arn.strip_prefix("arn:aws:iam::")?.split(':').next()?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_owned())
}

impl Principals {
    pub fn load(path: &Path) -> anyhow::Result<Principals> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            bad_config(format!(
                "cannot read the principals file {}: {e}",
                path.display()
            ))
        })?);
        Self::parse(&text)
            .map_err(|e| bad_config(format!("invalid principals file {}: {e}", path.display())))
    }

    pub fn parse(text: &str) -> anyhow::Result<Principals> {
        let file: FileShape = serde_json::from_str(text)?;
        let mut principals = Principals {
            account_id: file.account_id.clone(),
            ..Default::default()
        };
        for entry in file.principals {
            let identity_policy = match entry.identity_policy {
                Some(doc) => Some(
                    PolicyDocument::parse_identity_policy(&doc.to_string())
                        .map_err(|e| anyhow::anyhow!("identity policy of {}: {e}", entry.name))?,
                ),
                None => None,
            };
            if entry.kind == PrincipalKind::Service && entry.service.is_none() {
                anyhow::bail!("service principal {} needs a \"service\" name", entry.name);
            }
            let (access_key_id, secret_access_key) = match (
                entry.access_key_id,
                entry.secret_access_key,
            ) {
                (Some(id), Some(secret)) if !id.is_empty() => (id, secret),
                (None, None) if entry.kind == PrincipalKind::Service => {
                    (String::new(), Zeroizing::new(String::new()))
                }
                _ => anyhow::bail!(
                    "principal {} needs an access_key_id and a secret_access_key (only AWSService principals may omit both)",
                    entry.name
                ),
            };
            let account_id = account_of(&entry.arn).ok_or_else(|| {
                anyhow::anyhow!(
                    "principal {}: its ARN must read arn:aws:iam::<12-digit account id>:...",
                    entry.name
                )
            })?;
            let principal = Arc::new(Principal {
                name: entry.name,
                kind: entry.kind,
                arn: entry.arn,
                account_id,
                access_key_id,
                secret_access_key,
                identity_policy,
                service: entry.service,
            });
            if !principal.access_key_id.is_empty()
                && principals
                    .by_access_key
                    .insert(principal.access_key_id.clone(), principal.clone())
                    .is_some()
            {
                anyhow::bail!("{} appears twice", principal.access_key_id);
            }
            for (index, key) in [
                (&mut principals.by_arn, principal.arn.clone()),
                (&mut principals.by_name, principal.name.clone()),
            ] {
                if index.insert(key.clone(), principal.clone()).is_some() {
                    anyhow::bail!("{key} appears twice");
                }
            }
        }
        Ok(principals)
    }

    pub fn by_access_key(&self, access_key_id: &str) -> Option<&Arc<Principal>> {
        self.by_access_key.get(access_key_id)
    }

    /// Finds a principal by ARN or by name, as the console lets users pick either.
    pub fn find(&self, arn_or_name: &str) -> Option<&Arc<Principal>> {
        self.by_arn
            .get(arn_or_name)
            .or_else(|| self.by_name.get(arn_or_name))
    }

    /// The same principals, except that service principals cannot authenticate by
    /// their keys: what a port without client certificates (the S3 endpoint) uses
    /// when TLS is on, where services authenticate only by their certificate.
    pub fn without_service_keys(&self) -> Principals {
        let mut principals = self.clone();
        principals
            .by_access_key
            .retain(|_, principal| principal.kind != PrincipalKind::Service);
        principals
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Principal>> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &str = include_str!("../../../deploy/dev/principals.json");

    #[test]
    fn the_dev_file_loads_with_the_lab_users() {
        let principals = Principals::parse(DEV).unwrap();
        let user = principals.find("AWSLabsUser-0001").unwrap();
        assert_eq!(user.arn, "arn:aws:iam::000000000000:user/AWSLabsUser-0001");
        assert!(user.identity_policy.is_some());
        assert!(
            principals
                .find("arn:aws:iam::000000000000:root")
                .unwrap()
                .is_root()
        );
        assert_eq!(
            principals
                .by_access_key("AKIAKEYHOLDDEVOBJSVC")
                .unwrap()
                .service
                .as_deref(),
            Some("s3.amazonaws.com")
        );
    }

    #[test]
    fn each_principal_belongs_to_the_account_of_its_arn() {
        let principals = Principals::parse(DEV).unwrap();
        assert_eq!(principals.account_id, "000000000000");
        assert_eq!(
            principals.find("AWSLabsReader").unwrap().account_id,
            "000000000000"
        );
        assert_eq!(
            principals.find("PartnerUser").unwrap().account_id,
            "111111111111"
        );

        let not_iam = DEV.replace(
            "arn:aws:iam::111111111111:user/PartnerUser",
            "arn:aws:s3:::PartnerUser",
        );
        let error = Principals::parse(&not_iam).unwrap_err().to_string();
        assert!(
            error.contains(
                "principal PartnerUser: its ARN must read arn:aws:iam::<12-digit account id>:"
            ),
            "{error}"
        );
    }

    #[test]
    fn secrets_compare_exactly() {
        let principals = Principals::parse(DEV).unwrap();
        let root = principals.find("root").unwrap();
        assert!(root.secret_matches("dev-only-root-secret-not-for-production"));
        assert!(!root.secret_matches("dev-only-root-secret-not-for-productio"));
        assert!(!root.secret_matches(""));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let principals = Principals::parse(DEV).unwrap();
        let text = format!("{:?}", principals.find("root").unwrap());
        assert!(!text.contains("dev-only-root-secret"));
    }

    #[test]
    fn duplicate_access_keys_are_refused() {
        let text = DEV.replace("AKIAKEYHOLDDEVUSER02", "AKIAKEYHOLDDEVUSER01");
        let err = Principals::parse(&text).unwrap_err().to_string();
        assert!(err.contains("AKIAKEYHOLDDEVUSER01 appears twice"), "{err}");
    }

    #[test]
    fn only_services_may_go_without_keys() {
        let keyless = DEV.replace(
            r#""access_key_id": "AKIAKEYHOLDDEVOBJSVC",
      "secret_access_key": "dev-only-object-svc-secret-not-for-production""#,
            r#""identity_policy": null"#,
        );
        assert_ne!(keyless, DEV);
        let principals = Principals::parse(&keyless).unwrap();
        assert!(principals.by_access_key("AKIAKEYHOLDDEVOBJSVC").is_none());
        assert!(principals.by_access_key("").is_none());
        assert_eq!(
            principals.find("object-svc").unwrap().principal_id(),
            "AROAOBJECT-SVC"
        );

        let user = DEV.replace(r#""access_key_id": "AKIAKEYHOLDDEVUSER02","#, "");
        let error = Principals::parse(&user).unwrap_err().to_string();
        assert!(
            error.contains("AWSLabsUser-0002 needs an access_key_id"),
            "{error}"
        );
    }
}
