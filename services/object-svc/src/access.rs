//! Who may do what to a bucket or object: S3's authorization, decided by the policy
//! engine that decides KMS keys (keyhold_key_policy). A request is allowed when the
//! caller's identity policy, the bucket policy or a public ACL grant allows it and
//! nothing denies it; a caller of another account needs its own identity policy too
//! (docs/aws-behaviour.md, S3: "Authorization"). The order of checks on a read is
//! AWS's: authorize, then "SSE-KMS needs SigV4", then KMS.

use std::net::IpAddr;

use keyhold_key_policy::{
    AccessRequest, BucketPolicy, ConditionContext, S3Access, S3Caller, S3Decision, authorize_s3,
};
use keyhold_platform::{Caller, iam::policy_caller, principals::PrincipalKind};

use crate::{
    error::{ObjectError, ObjectResult, SIGV4_REQUIRED},
    model::{Acl, Bucket, ObjectRecord, Permission, SseAlgorithm},
};

/// The caller of one request, as the domain sees it, and where the request came from.
#[derive(Debug, Clone)]
pub struct Requester {
    caller: Option<Caller>,
    origin: Origin,
}

/// What AWS derives from the connection and from the service that sends a request
/// for one of its resources: the global condition keys of every S3 decision.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub source_ip: Option<IpAddr>,
    /// TLS on the connection (`aws:SecureTransport`).
    pub secure_transport: bool,
    /// `aws:SourceArn` / `aws:SourceAccount`: the resource an AWS service acts for
    /// (a trail delivering its log files). Kept from service principals only.
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
}

/// What a service principal may say about the resource it acts for: ARNs are at most
/// 2 KiB in AWS, so a longer value is dropped rather than evaluated.
const MAX_SOURCE_VALUE: usize = 2048;

impl Requester {
    pub fn new(caller: Option<&Caller>, mut origin: Origin) -> Self {
        let from_service = caller.is_some_and(|c| service_name(c).is_some());
        for value in [&mut origin.source_arn, &mut origin.source_account] {
            if !from_service || value.as_ref().is_some_and(|v| v.len() > MAX_SOURCE_VALUE) {
                *value = None;
            }
        }
        Requester {
            caller: caller.cloned(),
            origin,
        }
    }

    pub fn anonymous() -> Self {
        Requester::new(None, Origin::default())
    }

    pub fn caller(&self) -> Option<&Caller> {
        self.caller.as_ref()
    }

    /// The account the caller belongs to; None for anonymous and service callers.
    pub fn account_id(&self) -> Option<&str> {
        self.caller
            .as_ref()
            .filter(|caller| service_name(caller).is_none())
            .map(|caller| caller.principal.account_id.as_str())
    }

    /// The ARN kms-svc is asked to act for; anonymous callers never reach KMS.
    pub fn kms_user(&self) -> ObjectResult<&str> {
        match &self.caller {
            Some(caller) => Ok(&caller.principal.arn),
            None => Err(sigv4_required()),
        }
    }
}

/// A service principal calling for itself (not for a user): its service name.
fn service_name(caller: &Caller) -> Option<&str> {
    (caller.principal.kind == PrincipalKind::Service)
        .then(|| caller.principal.service.as_deref())
        .flatten()
}

/// One permission an operation needs: an S3 action on a bucket or object ARN, the
/// request's own condition keys, and the ACL grant that may also allow it.
#[derive(Debug)]
pub struct Check<'a> {
    action: &'static str,
    resource: String,
    keys: Vec<(&'static str, String)>,
    acl: Option<(&'a Acl, Permission)>,
}

impl<'a> Check<'a> {
    /// An action on the bucket itself (`arn:aws:s3:::<bucket>`).
    pub fn bucket(action: &'static str, bucket: &str) -> Self {
        Check {
            action,
            resource: format!("arn:aws:s3:::{bucket}"),
            keys: Vec::new(),
            acl: None,
        }
    }

    /// An action on one object (`arn:aws:s3:::<bucket>/<key>`).
    pub fn object(action: &'static str, bucket: &str, key: &str) -> Self {
        Check {
            action,
            resource: format!("arn:aws:s3:::{bucket}/{key}"),
            keys: Vec::new(),
            acl: None,
        }
    }

    /// An action on no bucket (ListBuckets: `s3:ListAllMyBuckets`).
    pub fn account(action: &'static str) -> Self {
        Check {
            action,
            resource: "*".to_owned(),
            keys: Vec::new(),
            acl: None,
        }
    }

    /// A condition key of the request (`s3:prefix`, `s3:x-amz-acl`...); an empty
    /// value is a header or parameter the request did not send.
    pub fn with(mut self, key: &'static str, value: &str) -> Self {
        if !value.is_empty() {
            self.keys.push((key, value.to_owned()));
        }
        self
    }

    /// An ACL whose public grant of `permission` also allows the request, while the
    /// bucket honours ACLs and Block Public Access does not ignore public ones.
    pub fn or_public_grant(mut self, acl: &'a Acl, permission: Permission) -> Self {
        self.acl = Some((acl, permission));
        self
    }

    pub fn action(&self) -> &'static str {
        self.action
    }

    fn context(&self, origin: &Origin) -> ConditionContext {
        let mut context = ConditionContext::new().with(
            "aws:SecureTransport",
            vec![origin.secure_transport.to_string()],
        );
        if let Some(ip) = origin.source_ip {
            context.insert("aws:SourceIp", vec![ip.to_string()]);
        }
        if let Some(arn) = &origin.source_arn {
            context.insert("aws:SourceArn", vec![arn.clone()]);
        }
        if let Some(account) = &origin.source_account {
            context.insert("aws:SourceAccount", vec![account.clone()]);
        }
        for (key, value) in &self.keys {
            context.insert(key, vec![value.clone()]);
        }
        context
    }

    fn public_grant(&self, bucket: &Bucket) -> bool {
        self.acl
            .is_some_and(|(acl, permission)| public_by_acl(bucket, acl, permission))
    }
}

/// Whether `requester` may do what `check` names to `bucket`, whose parsed policy is
/// `policy`. `Err` is S3's AccessDenied with AWS's message for the caller.
pub fn authorize(
    requester: &Requester,
    bucket: &Bucket,
    policy: Option<&BucketPolicy>,
    check: &Check,
) -> ObjectResult<()> {
    let access = S3Access {
        bucket_account: &bucket.account_id,
        bucket_policy: policy,
        restrict_public_buckets: bucket.effective_block().restrict_public_buckets,
        acl_allows: check.public_grant(bucket),
    };
    decide(requester, &access, check)
}

/// An action on no bucket (ListBuckets, CreateBucket): the caller's own account
/// decides, through its identity policy.
pub fn authorize_in_own_account(requester: &Requester, check: &Check) -> ObjectResult<()> {
    let Some(account) = requester.account_id() else {
        return Err(ObjectError::access_denied());
    };
    let access = S3Access {
        bucket_account: account,
        bucket_policy: None,
        restrict_public_buckets: false,
        acl_allows: false,
    };
    decide(requester, &access, check)
}

fn decide(requester: &Requester, access: &S3Access, check: &Check) -> ObjectResult<()> {
    let caller = match &requester.caller {
        None => S3Caller::Anonymous,
        Some(caller) => match service_name(caller) {
            Some(service) => S3Caller::Service(service),
            None => S3Caller::Principal(policy_caller(caller)),
        },
    };
    let context = check.context(&requester.origin);
    let request = AccessRequest {
        action: check.action,
        resource: &check.resource,
        context: &context,
    };
    let decision = authorize_s3(access, &caller, &request);
    if decision.is_allowed() {
        Ok(())
    } else {
        Err(denied(decision, &caller, access, check))
    }
}

fn denied(
    decision: S3Decision,
    caller: &S3Caller,
    access: &S3Access,
    check: &Check,
) -> ObjectError {
    let message = decision
        .denied_message(caller, access, check.action, &check.resource)
        .unwrap_or_else(|| "Access Denied".to_owned());
    ObjectError::AccessDenied(message)
}

/// Bucket-policy calls are the bucket owner's: a caller of another account gets
/// MethodNotAllowed even when a policy would allow it, as in S3.
pub fn owner_account_only(requester: &Requester, bucket: &Bucket) -> ObjectResult<()> {
    match requester.account_id() {
        Some(account) if account == bucket.account_id => Ok(()),
        _ => Err(ObjectError::MethodNotAllowed),
    }
}

/// After a read was allowed: an anonymous caller cannot read an SSE-KMS object (KMS
/// needs a signed caller to decide on), whatever made the object readable.
pub fn check_anonymous_read(requester: &Requester, object: &ObjectRecord) -> ObjectResult<()> {
    if requester.caller.is_none() && object.encryption.algorithm == SseAlgorithm::AwsKms {
        return Err(sigv4_required());
    }
    Ok(())
}

/// A canned or explicit ACL about to be set on a bucket or object.
pub fn check_acl_change(bucket: &Bucket, acl: &Acl) -> ObjectResult<()> {
    if !bucket.ownership.acls_enabled() {
        return Err(ObjectError::AccessControlListNotSupported);
    }
    if acl.is_public() && bucket.effective_block().block_public_acls {
        return Err(ObjectError::access_denied());
    }
    Ok(())
}

/// An ACL sent along with PutObject / CopyObject / CreateBucket: with ACLs disabled
/// only the owner's full control is accepted (`bucket-owner-full-control`, or
/// `private`, the same grant in a one-account installation), as in S3.
pub fn check_acl_on_write(bucket: &Bucket, canned: &str, acl: &Acl) -> ObjectResult<()> {
    if !bucket.ownership.acls_enabled() {
        return match canned {
            "" | "private" | "bucket-owner-full-control" => Ok(()),
            _ => Err(ObjectError::AccessControlListNotSupported),
        };
    }
    check_acl_change(bucket, acl)
}

/// A new bucket policy against Block Public Access: BlockPublicPolicy refuses one
/// that AWS would judge public, with AWS's message.
pub fn check_policy_change(
    requester: &Requester,
    bucket: &Bucket,
    policy: &BucketPolicy,
) -> ObjectResult<()> {
    if !(policy.is_public() && bucket.effective_block().block_public_policy) {
        return Ok(());
    }
    let who = requester
        .caller()
        .map(|caller| caller.principal.arn.as_str())
        .unwrap_or("anonymous");
    Err(ObjectError::AccessDenied(format!(
        "User: {who} is not authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::{}\" because public policies are blocked by the BlockPublicPolicy block public access setting.",
        bucket.name
    )))
}

fn public_by_acl(bucket: &Bucket, acl: &Acl, permission: Permission) -> bool {
    bucket.ownership.acls_enabled()
        && !bucket.effective_block().ignore_public_acls
        && acl.grants_public(permission)
}

fn sigv4_required() -> ObjectError {
    ObjectError::InvalidArgument {
        message: SIGV4_REQUIRED.to_owned(),
        argument_name: Some("Authorization".to_owned()),
        argument_value: None,
    }
}
