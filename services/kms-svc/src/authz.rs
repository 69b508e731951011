//! Authorization of one call: the key policy (and, through its account statement,
//! the caller's identity policy) decides, evaluated on every request. The policy comes
//! from the key cache (`key_cache.rs`), which checks the database's change counter on
//! every read that every policy write moves on before it returns, so a change applies
//! to the very next call on every replica.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use keyhold_key_policy::{AccessRequest, ConditionContext, Decision, PolicyDocument, authorize};
use keyhold_platform::{Caller, iam::policy_caller};
use uuid::Uuid;

use crate::{
    error::{KmsError, KmsResult},
    model::Key,
};

/// A key's policy text and the document parsed from it.
type ParsedPolicy = (Arc<str>, Arc<PolicyDocument>);

/// Parsed key policies by key, reused while the stored text is unchanged. The text
/// is compared on every call, so the cache can never serve a stale policy.
#[derive(Default)]
pub struct PolicyCache {
    parsed: Mutex<HashMap<Uuid, ParsedPolicy>>,
}

impl PolicyCache {
    fn policy_of(&self, key: &Key) -> KmsResult<Arc<PolicyDocument>> {
        let mut parsed = self.parsed.lock().expect("policy cache lock");
        if let Some((text, document)) = parsed.get(&key.key_id)
            && (Arc::ptr_eq(text, &key.policy) || **text == *key.policy)
        {
            return Ok(document.clone());
        }
        let document = Arc::new(PolicyDocument::parse_key_policy(&key.policy).map_err(|e| {
            KmsError::Internal(format!("stored policy of {} is invalid: {e}", key.arn))
        })?);
        parsed.insert(key.key_id, (key.policy.clone(), document.clone()));
        Ok(document)
    }
}

/// The request facts conditions can test.
pub fn condition_context(
    caller: &Caller,
    region: &str,
    encryption_context: Option<&std::collections::BTreeMap<String, String>>,
) -> ConditionContext {
    let mut context = ConditionContext::new();
    context.insert(
        "kms:CallerAccount",
        vec![caller.principal.account_id.clone()],
    );
    context.insert("aws:PrincipalArn", vec![caller.principal.arn.clone()]);
    context.insert(
        "kms:GrantIsForAWSResource",
        vec![caller.via.is_some().to_string()],
    );
    if let Some(service) = caller.via_service() {
        // AWS names the regional endpoint: s3.amazonaws.com -> s3.us-east-1.amazonaws.com.
        let via = match service.strip_suffix(".amazonaws.com") {
            Some(name) => format!("{name}.{region}.amazonaws.com"),
            None => service.to_owned(),
        };
        context.insert("kms:ViaService", vec![via]);
    }
    match encryption_context {
        Some(pairs) => {
            context.with_encryption_context(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        }
        None => context,
    }
}

impl PolicyCache {
    /// Refuses with AWS's AccessDenied message unless `action` is allowed on `key`.
    pub fn check(
        &self,
        caller: &Caller,
        key: &Key,
        action: &str,
        context: &ConditionContext,
    ) -> KmsResult<()> {
        // The mutation `keyhold lab` must catch (Cargo.toml): every key policy ignored.
        if cfg!(feature = "mutant-ignore-key-policy") {
            return Ok(());
        }
        let policy = self.policy_of(key)?;
        let request = AccessRequest {
            action,
            resource: &key.arn,
            context,
        };
        denied_unless(
            authorize(&policy, &policy_caller(caller), &request),
            caller,
            action,
            &key.arn,
        )
    }
}

/// Checks `document` (a policy about to be stored) the same way, for the lockout
/// safety check.
pub fn allows(
    document: &PolicyDocument,
    caller: &Caller,
    key_arn: &str,
    action: &str,
    context: &ConditionContext,
) -> bool {
    let request = AccessRequest {
        action,
        resource: key_arn,
        context,
    };
    authorize(document, &policy_caller(caller), &request) == Decision::Allow
}

/// Calls that target no key (CreateKey, ListKeys, GenerateRandom) and the alias half
/// of alias calls: the identity policy decides.
pub fn check_without_key(
    caller: &Caller,
    action: &str,
    context: &ConditionContext,
) -> KmsResult<()> {
    check_identity(caller, action, "*", context)
}

pub fn check_identity(
    caller: &Caller,
    action: &str,
    resource: &str,
    context: &ConditionContext,
) -> KmsResult<()> {
    keyhold_platform::iam::check_identity(caller, action, resource, context)
        .map_err(KmsError::AccessDenied)
}

fn denied_unless(
    decision: Decision,
    caller: &Caller,
    action: &str,
    key_arn: &str,
) -> KmsResult<()> {
    let who = &caller.principal.arn;
    let why = match decision {
        Decision::Allow => return Ok(()),
        Decision::ExplicitDenyInResourcePolicy => {
            "with an explicit deny in a resource-based policy".to_owned()
        }
        Decision::ExplicitDenyInIdentityPolicy => {
            "with an explicit deny in an identity-based policy".to_owned()
        }
        Decision::ImplicitDeny => {
            format!("because no resource-based policy allows the {action} action")
        }
    };
    Err(KmsError::AccessDenied(format!(
        "User: {who} is not authorized to perform: {action} on resource: {key_arn} {why}"
    )))
}
