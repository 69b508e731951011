//! Buckets and their settings: default encryption, Block Public Access, Object
//! Ownership and ACLs.

use chrono::Utc;

use super::Objects;
use crate::{
    access::{self, Check, Requester},
    error::{ObjectError, ObjectResult},
    model::{
        Acl, Bucket, DefaultEncryption, Grant, Grantee, ObjectOwnership, Permission,
        PublicAccessBlock, SseAlgorithm,
    },
    store::DeleteBucketOutcome,
    validate,
};

/// A read of a bucket's settings, by the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketRead {
    /// HeadBucket: S3 asks for s3:ListBucket.
    Head,
    /// GetBucketLocation (the AWS CLI asks before it reads a trail's bucket).
    Location,
    Encryption,
    PublicAccessBlock,
    Ownership,
    Acl,
}

impl BucketRead {
    fn check(self, bucket: &Bucket) -> Check<'_> {
        let action = match self {
            BucketRead::Head => "s3:ListBucket",
            BucketRead::Location => "s3:GetBucketLocation",
            BucketRead::Encryption => "s3:GetEncryptionConfiguration",
            BucketRead::PublicAccessBlock => "s3:GetBucketPublicAccessBlock",
            BucketRead::Ownership => "s3:GetBucketOwnershipControls",
            BucketRead::Acl => "s3:GetBucketAcl",
        };
        let check = Check::bucket(action, &bucket.name);
        match self {
            BucketRead::Head => check.or_public_grant(&bucket.acl, Permission::Read),
            BucketRead::Acl => check.or_public_grant(&bucket.acl, Permission::ReadAcp),
            _ => check,
        }
    }
}

/// One change to a bucket's settings.
#[derive(Debug, Clone)]
pub enum BucketSettingsChange {
    /// None: DeleteBucketEncryption, back to SSE-S3.
    Encryption(Option<DefaultEncryption>),
    /// None: DeletePublicAccessBlock (nothing blocked).
    PublicAccessBlock(Option<PublicAccessBlock>),
    Ownership(ObjectOwnership),
    /// PutBucketAcl: a canned ACL or explicit grants, already made an ACL.
    Acl(Acl),
}

impl BucketSettingsChange {
    fn check<'a>(&self, bucket: &'a Bucket) -> Check<'a> {
        let action = match self {
            BucketSettingsChange::Encryption(_) => "s3:PutEncryptionConfiguration",
            BucketSettingsChange::PublicAccessBlock(_) => "s3:PutBucketPublicAccessBlock",
            BucketSettingsChange::Ownership(_) => "s3:PutBucketOwnershipControls",
            BucketSettingsChange::Acl(_) => "s3:PutBucketAcl",
        };
        let check = Check::bucket(action, &bucket.name);
        match self {
            BucketSettingsChange::Acl(_) => {
                check.or_public_grant(&bucket.acl, Permission::WriteAcp)
            }
            _ => check,
        }
    }
}

impl Objects {
    pub async fn create_bucket(
        &self,
        requester: &Requester,
        name: &str,
        ownership: &str,
        canned_acl: &str,
    ) -> ObjectResult<Bucket> {
        let Some(account) = requester.account_id() else {
            return Err(ObjectError::access_denied());
        };
        validate::bucket_name(name).map_err(|reason| {
            tracing::debug!(bucket = name, reason, "invalid bucket name");
            ObjectError::InvalidBucketName(name.to_owned())
        })?;
        access::authorize_in_own_account(
            requester,
            &Check::bucket("s3:CreateBucket", name).with("s3:x-amz-acl", canned_acl),
        )?;
        let mut bucket = Bucket::new(name, account, Utc::now());
        if !ownership.is_empty() {
            bucket.ownership = ObjectOwnership::parse(ownership).ok_or_else(|| {
                ObjectError::invalid_argument(format!(
                    "Invalid x-amz-object-ownership header: {ownership}"
                ))
            })?;
        }
        if !canned_acl.is_empty() {
            let acl = canned(canned_acl, account)?;
            access::check_acl_on_write(&bucket, canned_acl, &acl)?;
            bucket.acl = acl;
        }
        if self.store.insert_bucket(&bucket).await? {
            return Ok(bucket);
        }
        let existing = self.store.bucket(name).await?;
        match existing {
            Some(existing) if existing.account_id == account => {
                Err(ObjectError::BucketAlreadyOwnedByYou(name.to_owned()))
            }
            _ => Err(ObjectError::BucketAlreadyExists(name.to_owned())),
        }
    }

    pub async fn delete_bucket(&self, requester: &Requester, name: &str) -> ObjectResult<()> {
        let bucket = self.bucket(name).await?;
        self.authorize(requester, &bucket, &Check::bucket("s3:DeleteBucket", name))?;
        match self.store.delete_bucket_if_empty(name).await? {
            DeleteBucketOutcome::Deleted => Ok(()),
            DeleteBucketOutcome::NotFound => Err(ObjectError::NoSuchBucket(name.to_owned())),
            DeleteBucketOutcome::NotEmpty => Err(ObjectError::BucketNotEmpty(name.to_owned())),
        }
    }

    pub async fn list_buckets(&self, requester: &Requester) -> ObjectResult<Vec<Bucket>> {
        let Some(account) = requester.account_id() else {
            return Err(ObjectError::access_denied());
        };
        access::authorize_in_own_account(requester, &Check::account("s3:ListAllMyBuckets"))?;
        Ok(self.store.list_buckets(account).await?)
    }

    /// A bucket with all its settings, for a caller allowed the read (HeadBucket and
    /// the Get* calls).
    pub async fn bucket_to_read(
        &self,
        requester: &Requester,
        name: &str,
        read: BucketRead,
    ) -> ObjectResult<Bucket> {
        let bucket = self.bucket(name).await?;
        self.authorize(requester, &bucket, &read.check(&bucket))?;
        Ok(bucket)
    }

    /// GetPublicAccessBlock: a bucket that never had one answers
    /// NoSuchPublicAccessBlockConfiguration, as S3 does.
    pub async fn public_access_block(
        &self,
        requester: &Requester,
        name: &str,
    ) -> ObjectResult<PublicAccessBlock> {
        let bucket = self
            .bucket_to_read(requester, name, BucketRead::PublicAccessBlock)
            .await?;
        bucket
            .public_access_block
            .ok_or(ObjectError::NoSuchPublicAccessBlockConfiguration(
                bucket.name,
            ))
    }

    pub async fn change_bucket(
        &self,
        requester: &Requester,
        name: &str,
        change: BucketSettingsChange,
    ) -> ObjectResult<()> {
        let mut bucket = self.bucket(name).await?;
        self.authorize(requester, &bucket, &change.check(&bucket))?;
        match change {
            BucketSettingsChange::Encryption(encryption) => {
                let encryption = encryption.unwrap_or_default();
                check_kms_master_key_id(encryption.kms_master_key_id.as_deref())?;
                if encryption.algorithm == SseAlgorithm::Aes256
                    && encryption.kms_master_key_id.is_some()
                {
                    return Err(ObjectError::invalid_argument(
                        "a KMS key id is only valid with aws:kms",
                    ));
                }
                bucket.encryption = encryption;
            }
            BucketSettingsChange::PublicAccessBlock(block) => bucket.public_access_block = block,
            BucketSettingsChange::Ownership(ownership) => bucket.ownership = ownership,
            BucketSettingsChange::Acl(acl) => {
                access::check_acl_change(&bucket, &acl)?;
                bucket.acl = acl;
            }
        }
        if self.store.update_bucket(&bucket).await? {
            Ok(())
        } else {
            Err(ObjectError::NoSuchBucket(name.to_owned()))
        }
    }

    /// The ACL a reader sees: with ACLs disabled, the owner's full control only.
    pub fn effective_bucket_acl(bucket: &Bucket) -> Acl {
        if bucket.ownership.acls_enabled() {
            bucket.acl.clone()
        } else {
            Acl::private(&bucket.account_id)
        }
    }

    pub(super) async fn bucket(&self, name: &str) -> ObjectResult<Bucket> {
        // No valid name holds a NUL (and Postgres text cannot): there is no such bucket.
        if name.contains('\0') {
            return Err(ObjectError::NoSuchBucket(name.to_owned()));
        }
        self.store
            .bucket(name)
            .await?
            .ok_or_else(|| ObjectError::NoSuchBucket(name.to_owned()))
    }
}

/// KMS names a key in at most 2048 characters; the id is stored, so no NUL either.
fn check_kms_master_key_id(id: Option<&str>) -> ObjectResult<()> {
    let problem = match id {
        Some(id) if id.len() > 2048 => "KMSMasterKeyID must be at most 2048 characters long",
        Some(id) if id.contains('\0') => "KMSMasterKeyID must not contain the NUL character",
        _ => return Ok(()),
    };
    Err(ObjectError::InvalidArgument {
        message: problem.to_owned(),
        argument_name: Some("KMSMasterKeyID".to_owned()),
        argument_value: None,
    })
}

/// A canned ACL by name, or InvalidArgument.
pub fn canned(name: &str, owner_id: &str) -> ObjectResult<Acl> {
    validate::canned_acl(name, owner_id).ok_or_else(|| ObjectError::InvalidArgument {
        message: format!("{name} is not a valid canned ACL"),
        argument_name: Some("x-amz-acl".to_owned()),
        argument_value: Some(name.to_owned()),
    })
}

/// The ACL a PutBucketAcl / PutObjectAcl asks for: a canned ACL or an explicit
/// policy, exactly one of them (as S3 requires).
pub fn requested_acl(
    canned_acl: &str,
    grants: Option<ObjectResult<Vec<Grant>>>,
    owner_id: &str,
) -> ObjectResult<Acl> {
    match (canned_acl.is_empty(), grants) {
        (false, Some(_)) => Err(ObjectError::InvalidRequest(
            "Specifying both Canned ACLs and Header Grants is not allowed".to_owned(),
        )),
        (false, None) => canned(canned_acl, owner_id),
        (true, None) => Err(ObjectError::MalformedAcl),
        (true, Some(grants)) => {
            let grants = grants?;
            if grants.len() > validate::MAX_GRANTS {
                return Err(ObjectError::MalformedAcl);
            }
            Ok(Acl {
                owner_id: owner_id.to_owned(),
                grants,
            })
        }
    }
}

/// One grant of an explicit policy: a canonical user by id or a group by URI.
pub fn grant(kind: &str, id: &str, uri: &str, permission: &str) -> ObjectResult<Grant> {
    // Stored with the bucket or object: bounded, and no NUL (Postgres cannot hold one).
    let storable = |text: &str| text.len() <= validate::MAX_GRANTEE_TEXT && !text.contains('\0');
    if !storable(id) || !storable(uri) {
        return Err(ObjectError::MalformedAcl);
    }
    let grantee = match kind {
        "CanonicalUser" if !id.is_empty() => Grantee::CanonicalUser { id: id.to_owned() },
        "Group" if !uri.is_empty() => Grantee::Group {
            uri: uri.to_owned(),
        },
        _ => return Err(ObjectError::MalformedAcl),
    };
    let permission = Permission::parse(permission).ok_or(ObjectError::MalformedAcl)?;
    Ok(Grant {
        grantee,
        permission,
    })
}
