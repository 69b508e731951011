//! Calls that only the caller's own (IAM) permissions decide, as AWS decides actions
//! no resource policy covers: the account root may do anything, an explicit Deny in
//! the identity policy wins, else an Allow is needed. Evaluated by the key-policy
//! engine, the same one every key decision uses.

use keyhold_key_policy::{
    AccessRequest, Caller as PolicyCaller, ConditionContext, Decision, authorize_without_key,
};

use crate::auth::Caller;

/// The caller as the policy engine sees it.
pub fn policy_caller(caller: &Caller) -> PolicyCaller<'_> {
    PolicyCaller {
        arn: &caller.principal.arn,
        account_id: &caller.principal.account_id,
        is_account_root: caller.principal.is_root(),
        identity_policy: caller.principal.identity_policy.as_ref(),
    }
}

/// Whether the caller's identity policy allows `action` on `resource`; `Err` holds
/// AWS's AccessDenied message.
pub fn check_identity(
    caller: &Caller,
    action: &str,
    resource: &str,
    context: &ConditionContext,
) -> Result<(), String> {
    let request = AccessRequest {
        action,
        resource,
        context,
    };
    let who = &caller.principal.arn;
    match authorize_without_key(&policy_caller(caller), &request) {
        Decision::Allow => Ok(()),
        Decision::ExplicitDenyInIdentityPolicy | Decision::ExplicitDenyInResourcePolicy => {
            Err(format!(
                "User: {who} is not authorized to perform: {action} on resource: {resource} with an explicit deny in an identity-based policy"
            ))
        }
        Decision::ImplicitDeny => Err(format!(
            "User: {who} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action"
        )),
    }
}
