//! The decision for one S3 request, following AWS's documented evaluation: an
//! explicit Deny in the bucket policy or the identity policy wins; within the
//! bucket's account either policy (or an ACL grant) may allow; across accounts the
//! caller's account must allow (its identity policy) and so must the bucket owner
//! (the bucket policy or an ACL grant).

use crate::context::RequestValues;
use crate::document::Effect;
use crate::evaluate::{AccessRequest, Caller, covering, identity_verdict};
use crate::principal::{PrincipalMatch, Requester};
use crate::s3::BucketPolicy;

/// Who makes an S3 request.
#[derive(Debug, Clone, Copy)]
pub enum S3Caller<'a> {
    /// An IAM identity (user, role, account root) with its identity policy.
    Principal(Caller<'a>),
    /// An AWS service principal such as `cloudtrail.amazonaws.com` (no account, no
    /// identity policy: only a bucket policy statement with `{"Service": "<name>"}`
    /// or `*` can allow it).
    Service(&'a str),
    Anonymous,
}

/// What S3 knows about the bucket a request targets.
#[derive(Debug, Clone, Copy)]
pub struct S3Access<'a> {
    /// The owner account id.
    pub bucket_account: &'a str,
    pub bucket_policy: Option<&'a BucketPolicy>,
    /// Block Public Access's RestrictPublicBuckets is in effect.
    pub restrict_public_buckets: bool,
    /// object-svc already judged that an ACL grant allows this request.
    pub acl_allows: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Decision {
    Allow,
    ExplicitDenyInResourcePolicy,
    ExplicitDenyInIdentityPolicy,
    /// Nothing allows it.
    ImplicitDeny,
}

impl S3Decision {
    pub fn is_allowed(self) -> bool {
        self == S3Decision::Allow
    }

    /// The AccessDenied message S3 returns, `None` when allowed. AWS explains a
    /// denial ("User: <arn> is not authorized to perform: <action> on resource:
    /// \"<arn>\" because no identity-based policy allows the <action> action") only
    /// to callers of the bucket's own account; everyone else (anonymous, services,
    /// other accounts) reads "Access Denied".
    pub fn denied_message(
        self,
        caller: &S3Caller,
        access: &S3Access,
        action: &str,
        resource: &str,
    ) -> Option<String> {
        let reason = match self {
            S3Decision::Allow => return None,
            S3Decision::ExplicitDenyInResourcePolicy => {
                "with an explicit deny in a resource-based policy".to_owned()
            }
            S3Decision::ExplicitDenyInIdentityPolicy => {
                "with an explicit deny in an identity-based policy".to_owned()
            }
            S3Decision::ImplicitDeny => {
                format!("because no identity-based policy allows the {action} action")
            }
        };
        Some(match caller {
            S3Caller::Principal(caller) if caller.account_id == access.bucket_account => format!(
                "User: {} is not authorized to perform: {action} on resource: \"{resource}\" {reason}",
                caller.arn
            ),
            _ => "Access Denied".to_owned(),
        })
    }
}

/// AWS's safeguard against a bucket policy that locks out its owner: "the root
/// principal of the account that owns a bucket can always use the GetBucketPolicy,
/// PutBucketPolicy, and DeleteBucketPolicy API actions, even if their bucket policy
/// explicitly denies" it (PutBucketPolicy API reference).
const ROOT_POLICY_ACTIONS: [&str; 3] = [
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
];

fn is_owner_root(caller: &S3Caller, access: &S3Access) -> bool {
    matches!(caller, S3Caller::Principal(c) if c.is_account_root && c.account_id == access.bucket_account)
}

impl S3Caller<'_> {
    fn requester(&self) -> Requester<'_> {
        match self {
            S3Caller::Principal(caller) => Requester::Identity(caller),
            S3Caller::Service(name) => Requester::Service(name),
            S3Caller::Anonymous => Requester::Anonymous,
        }
    }
}

/// Decides one S3 request. `request.action` is the IAM action (`s3:GetObject`);
/// `request.resource` is the S3 ARN
/// (`arn:aws:s3:::bucket`, `arn:aws:s3:::bucket/key`, or `*` for calls on no bucket);
/// `request.context` holds the request's condition keys (`aws:SourceIp`,
/// `aws:SecureTransport`, `s3:prefix`, ...). `aws:PrincipalArn` and
/// `aws:PrincipalAccount` come from the caller, and are absent for anonymous and
/// service requesters.
pub fn authorize_s3(access: &S3Access, caller: &S3Caller, request: &AccessRequest) -> S3Decision {
    if is_owner_root(caller, access)
        && ROOT_POLICY_ACTIONS
            .iter()
            .any(|action| action.eq_ignore_ascii_case(request.action))
    {
        return S3Decision::Allow;
    }
    let requester = caller.requester();
    let values = RequestValues::for_requester(request.context, &requester);
    let values = &values;
    let bucket_statements = |effect| {
        access
            .bucket_policy
            .into_iter()
            .flat_map(move |policy| covering(policy.document(), effect, request, values))
    };

    // A Deny naming the caller's account covers every identity of the account.
    if bucket_statements(Effect::Deny).any(|s| s.principal_match(&requester) != PrincipalMatch::No)
    {
        return S3Decision::ExplicitDenyInResourcePolicy;
    }
    let identity = match caller {
        S3Caller::Principal(caller) => identity_verdict(caller, request, values),
        S3Caller::Service(_) | S3Caller::Anonymous => None,
    };
    if identity == Some(Effect::Deny) {
        return S3Decision::ExplicitDenyInIdentityPolicy;
    }

    let same_account =
        matches!(caller, S3Caller::Principal(c) if c.account_id == access.bucket_account);
    // RestrictPublicBuckets: a public policy still serves the owner's account and AWS
    // services, and nobody else.
    let policy_is_restricted = access.restrict_public_buckets
        && access.bucket_policy.is_some_and(BucketPolicy::is_public)
        && !same_account
        && !matches!(caller, S3Caller::Service(_));
    let grant = if policy_is_restricted {
        PrincipalMatch::No
    } else {
        bucket_statements(Effect::Allow)
            .map(|s| s.principal_match(&requester))
            .max()
            .unwrap_or(PrincipalMatch::No)
    };
    let identity_allows = identity == Some(Effect::Allow);

    let allowed = match caller {
        // A statement naming the caller's own account only hands the decision to IAM,
        // which the identity policy has already given.
        S3Caller::Principal(_) if same_account => {
            identity_allows || grant == PrincipalMatch::Direct || access.acl_allows
        }
        // Both accounts must agree: the caller's (IAM) and the bucket owner's.
        S3Caller::Principal(_) => {
            identity_allows && (grant != PrincipalMatch::No || access.acl_allows)
        }
        S3Caller::Service(_) | S3Caller::Anonymous => {
            grant == PrincipalMatch::Direct || access.acl_allows
        }
    };
    if allowed {
        S3Decision::Allow
    } else {
        S3Decision::ImplicitDeny
    }
}

#[cfg(test)]
mod tests;
