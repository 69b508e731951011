//! Authorization: combining the key policy with the caller's identity policy, as
//! AWS KMS does.
//!
//! A key policy is the only thing that can grant access to a key. Identity policies
//! matter only where the key policy lets the account decide (an account principal,
//! as in "Enable IAM User Permissions"), and through their explicit denies.

use crate::context::{ConditionContext, RequestValues};
use crate::document::{Effect, PolicyDocument, Statement};
use crate::error::PolicyError;
use crate::principal::{PrincipalMatch, Requester};

/// Who is calling.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// e.g. `arn:aws:iam::000000000000:user/AWSLabsUser-0001` or
    /// `arn:aws:iam::000000000000:root`; compared case-sensitively.
    pub arn: &'a str,
    pub account_id: &'a str,
    /// The account's root user: IAM allows it everything, but it still needs the key
    /// policy's account statement. Its `identity_policy` is ignored.
    pub is_account_root: bool,
    pub identity_policy: Option<&'a PolicyDocument>,
}

/// What is being done. Condition keys are looked up case-insensitively.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    /// e.g. `kms:Decrypt`; compared case-insensitively.
    pub action: &'a str,
    /// The key ARN, or `*` for calls that target no key.
    pub resource: &'a str,
    pub context: &'a ConditionContext,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// An explicit Deny in the key (resource-based) policy.
    ExplicitDenyInResourcePolicy,
    /// An explicit Deny in the caller's identity policy.
    ExplicitDenyInIdentityPolicy,
    /// Nothing allows it.
    ImplicitDeny,
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// AWS's message when a new key policy would not let its author change it again.
pub const LOCKOUT_MESSAGE: &str =
    "The new key policy will not allow you to update the key policy in the future.";

/// Authorization of a call on a key: `key_policy` is the key's policy.
///
/// Order: a Deny in the key policy, then a Deny in the identity policy, then an
/// Allow in the key policy (for the caller directly, for anyone, or for the caller's
/// account when the identity policy allows the same request), else implicit deny.
pub fn authorize(
    key_policy: &PolicyDocument,
    caller: &Caller,
    request: &AccessRequest,
) -> Decision {
    let values = RequestValues::new(request.context, caller);
    let key_statements = |effect| covering(key_policy, effect, request, &values);
    let requester = Requester::Identity(caller);

    // A Deny naming the caller's account covers every identity of the account,
    // without asking IAM: a deny cannot be delegated away.
    if key_statements(Effect::Deny).any(|s| s.principal_match(&requester) != PrincipalMatch::No) {
        return Decision::ExplicitDenyInResourcePolicy;
    }
    let identity = identity_verdict(caller, request, &values);
    if identity == Some(Effect::Deny) {
        return Decision::ExplicitDenyInIdentityPolicy;
    }
    let allowed = key_statements(Effect::Allow).any(|s| match s.principal_match(&requester) {
        PrincipalMatch::Direct => true,
        PrincipalMatch::ViaAccount => identity == Some(Effect::Allow),
        PrincipalMatch::No => false,
    });
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Authorization of a call that targets no key (CreateKey, ListKeys, ListAliases,
/// GenerateRandom, CreateAlias's alias part): only IAM decides, and the account root
/// is allowed everything.
pub fn authorize_without_key(caller: &Caller, request: &AccessRequest) -> Decision {
    let values = RequestValues::new(request.context, caller);
    match identity_verdict(caller, request, &values) {
        Some(Effect::Allow) => Decision::Allow,
        Some(Effect::Deny) => Decision::ExplicitDenyInIdentityPolicy,
        None => Decision::ImplicitDeny,
    }
}

/// AWS's lockout safety check for CreateKey and PutKeyPolicy: the caller must still
/// be allowed `kms:PutKeyPolicy` on the key under the new policy. `key_arn` is the
/// key's ARN (for CreateKey, the ARN the key will have).
pub fn check_lockout_safety(
    new_policy: &PolicyDocument,
    caller: &Caller,
    key_arn: &str,
) -> Result<(), PolicyError> {
    let request = AccessRequest {
        action: "kms:PutKeyPolicy",
        resource: key_arn,
        context: &ConditionContext::new(),
    };
    if authorize(new_policy, caller, &request).is_allowed() {
        Ok(())
    } else {
        Err(PolicyError::malformed(LOCKOUT_MESSAGE))
    }
}

/// What the caller's own (IAM) permissions say: `None` when they neither allow nor
/// deny. The account root is allowed everything and has no identity policy.
pub(crate) fn identity_verdict(
    caller: &Caller,
    request: &AccessRequest,
    values: &RequestValues,
) -> Option<Effect> {
    if caller.is_account_root {
        return Some(Effect::Allow);
    }
    let policy = caller.identity_policy?;
    if covering(policy, Effect::Deny, request, values)
        .next()
        .is_some()
    {
        Some(Effect::Deny)
    } else if covering(policy, Effect::Allow, request, values)
        .next()
        .is_some()
    {
        Some(Effect::Allow)
    } else {
        None
    }
}

/// The statements of `policy` with `effect` that are about this request, before
/// looking at principals.
pub(crate) fn covering<'p>(
    policy: &'p PolicyDocument,
    effect: Effect,
    request: &'p AccessRequest,
    values: &'p RequestValues,
) -> impl Iterator<Item = &'p Statement> {
    policy
        .statements()
        .iter()
        .filter(move |s| s.effect() == effect && s.covers(request.action, request.resource, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::{add_key_user, console_key_policy, default_key_policy, remove_key_user};

    const ACCOUNT: &str = "000000000000";
    const KEY: &str = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const OTHER_KEY: &str =
        "arn:aws:kms:us-east-1:000000000000:key/99999999-12ab-34cd-56ef-1234567890ab";
    const ROOT: &str = "arn:aws:iam::000000000000:root";
    const LAB_USER: &str = "arn:aws:iam::000000000000:user/AWSLabsUser-0001";
    const OTHER_USER: &str = "arn:aws:iam::000000000000:user/AWSLabsUser-0002";
    const ADMIN: &str = "arn:aws:iam::000000000000:role/KeyAdmin";

    const USER_ACTIONS: [&str; 8] = [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:GenerateDataKeyPair",
        "kms:DescribeKey",
    ];
    /// "kms:CreateGrant" is among them: the console's `kms:Create*` covers it.
    const ADMIN_ACTIONS: [&str; 21] = [
        "kms:CreateAlias",
        "kms:CreateGrant",
        "kms:DescribeKey",
        "kms:EnableKey",
        "kms:EnableKeyRotation",
        "kms:ListGrants",
        "kms:ListResourceTags",
        "kms:PutKeyPolicy",
        "kms:UpdateKeyDescription",
        "kms:UpdateAlias",
        "kms:RevokeGrant",
        "kms:DisableKey",
        "kms:DisableKeyRotation",
        "kms:GetKeyPolicy",
        "kms:GetKeyRotationStatus",
        "kms:DeleteAlias",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
        "kms:RotateKeyOnDemand",
    ];

    fn key_policy(json: &str) -> PolicyDocument {
        PolicyDocument::parse_key_policy(json).unwrap()
    }

    fn identity_policy(json: &str) -> PolicyDocument {
        PolicyDocument::parse_identity_policy(json).unwrap()
    }

    fn allow_identity(actions: &str, resources: &str) -> PolicyDocument {
        identity_policy(&format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": {actions}, "Resource": {resources}}}]}}"#
        ))
    }

    fn user<'a>(arn: &'a str, identity_policy: Option<&'a PolicyDocument>) -> Caller<'a> {
        Caller {
            arn,
            account_id: ACCOUNT,
            is_account_root: false,
            identity_policy,
        }
    }

    fn root() -> Caller<'static> {
        Caller {
            arn: ROOT,
            account_id: ACCOUNT,
            is_account_root: true,
            identity_policy: None,
        }
    }

    fn decide_with(
        policy: &PolicyDocument,
        caller: &Caller,
        action: &str,
        context: &ConditionContext,
    ) -> Decision {
        authorize(
            policy,
            caller,
            &AccessRequest {
                action,
                resource: KEY,
                context,
            },
        )
    }

    fn decide(policy: &PolicyDocument, caller: &Caller, action: &str) -> Decision {
        decide_with(policy, caller, action, &ConditionContext::new())
    }

    fn console(administrators: &[&str], users: &[&str]) -> String {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        console_key_policy(ACCOUNT, &owned(administrators), &owned(users))
    }

    /// The console policy without its "Enable IAM User Permissions" statement.
    fn without_root_statement(policy: &str) -> PolicyDocument {
        let mut value: serde_json::Value = serde_json::from_str(policy).unwrap();
        let statements = value["Statement"].as_array_mut().unwrap();
        statements.retain(|s| s["Sid"] != "Enable IAM User Permissions");
        key_policy(&value.to_string())
    }

    #[test]
    fn key_administrator_manages_but_cannot_use_the_key() {
        let policy = key_policy(&console(&[ADMIN], &[LAB_USER]));
        let admin = user(ADMIN, None);
        for action in ADMIN_ACTIONS {
            assert_eq!(decide(&policy, &admin, action), Decision::Allow, "{action}");
        }
        for action in [
            "kms:Decrypt",
            "kms:Encrypt",
            "kms:GenerateDataKey",
            "kms:ReEncryptFrom",
            "kms:GenerateDataKeyWithoutPlaintext",
        ] {
            assert_eq!(
                decide(&policy, &admin, action),
                Decision::ImplicitDeny,
                "{action}"
            );
        }
    }

    #[test]
    fn key_user_uses_but_cannot_manage_the_key() {
        let policy = key_policy(&console(&[ADMIN], &[LAB_USER]));
        let lab_user = user(LAB_USER, None);
        for action in USER_ACTIONS {
            assert_eq!(
                decide(&policy, &lab_user, action),
                Decision::Allow,
                "{action}"
            );
        }
        for action in [
            "kms:PutKeyPolicy",
            "kms:DisableKey",
            "kms:ScheduleKeyDeletion",
            "kms:GetKeyPolicy",
            "kms:TagResource",
        ] {
            assert_eq!(
                decide(&policy, &lab_user, action),
                Decision::ImplicitDeny,
                "{action}"
            );
        }
    }

    #[test]
    fn key_user_grants_need_an_aws_resource() {
        let policy = key_policy(&console(&[ADMIN], &[LAB_USER]));
        let lab_user = user(LAB_USER, None);
        let for_resource =
            ConditionContext::new().with("kms:GrantIsForAWSResource", vec!["true".into()]);
        let not_for_resource =
            ConditionContext::new().with("kms:GrantIsForAWSResource", vec!["false".into()]);
        for action in ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"] {
            assert_eq!(
                decide_with(&policy, &lab_user, action, &for_resource),
                Decision::Allow
            );
            assert_eq!(
                decide_with(&policy, &lab_user, action, &not_for_resource),
                Decision::ImplicitDeny
            );
            assert_eq!(decide(&policy, &lab_user, action), Decision::ImplicitDeny);
        }
    }

    #[test]
    fn user_whose_identity_policy_does_not_mention_the_action_is_denied() {
        let policy = key_policy(&console(&[ADMIN], &[LAB_USER]));
        let encrypt_only = allow_identity(r#"["kms:Encrypt", "s3:*"]"#, r#""*""#);
        let other = user(OTHER_USER, Some(&encrypt_only));
        assert_eq!(
            decide(&policy, &other, "kms:Decrypt"),
            Decision::ImplicitDeny
        );
        assert_eq!(decide(&policy, &other, "kms:Encrypt"), Decision::Allow);
        let nobody = user(OTHER_USER, None);
        assert_eq!(
            decide(&policy, &nobody, "kms:Encrypt"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn identity_policy_works_through_the_root_statement_only() {
        let text = console(&[ADMIN], &[LAB_USER]);
        let everything = allow_identity(r#""kms:*""#, r#""*""#);
        let other = user(OTHER_USER, Some(&everything));
        for action in ["kms:Decrypt", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"] {
            assert_eq!(decide(&key_policy(&text), &other, action), Decision::Allow);
            assert_eq!(
                decide(&without_root_statement(&text), &other, action),
                Decision::ImplicitDeny
            );
        }
        // The key users and administrators are named directly and keep their access.
        let stripped = without_root_statement(&text);
        assert_eq!(
            decide(&stripped, &user(LAB_USER, None), "kms:Decrypt"),
            Decision::Allow
        );
        assert_eq!(
            decide(&stripped, &user(ADMIN, None), "kms:DisableKey"),
            Decision::Allow
        );
    }

    #[test]
    fn account_root_needs_the_root_statement() {
        let text = console(&[ADMIN], &[LAB_USER]);
        let policy = key_policy(&text);
        for action in ADMIN_ACTIONS
            .iter()
            .chain(&USER_ACTIONS)
            .chain(&["kms:CreateGrant"])
        {
            assert_eq!(
                decide(&policy, &root(), action),
                Decision::Allow,
                "{action}"
            );
            assert_eq!(
                decide(&without_root_statement(&text), &root(), action),
                Decision::ImplicitDeny,
                "{action}"
            );
        }
        let default = key_policy(&default_key_policy(ACCOUNT));
        assert_eq!(decide(&default, &root(), "kms:Decrypt"), Decision::Allow);
    }

    #[test]
    fn bare_account_id_principal_works_like_the_root_arn() {
        let policy = key_policy(
            r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "000000000000"}, "Action": "kms:*", "Resource": "*"}}"#,
        );
        let everything = allow_identity(r#""kms:*""#, r#""*""#);
        assert_eq!(decide(&policy, &root(), "kms:Decrypt"), Decision::Allow);
        assert_eq!(
            decide(&policy, &user(OTHER_USER, Some(&everything)), "kms:Decrypt"),
            Decision::Allow
        );
        assert_eq!(
            decide(&policy, &user(OTHER_USER, None), "kms:Decrypt"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn other_accounts_are_not_matched() {
        let policy = key_policy(&console(&[ADMIN], &[LAB_USER]));
        let everything = allow_identity(r#""kms:*""#, r#""*""#);
        let stranger = Caller {
            arn: "arn:aws:iam::111111111111:user/Stranger",
            account_id: "111111111111",
            is_account_root: false,
            identity_policy: Some(&everything),
        };
        assert_eq!(
            decide(&policy, &stranger, "kms:Decrypt"),
            Decision::ImplicitDeny
        );
        let stranger_root = Caller {
            arn: "arn:aws:iam::111111111111:root",
            account_id: "111111111111",
            is_account_root: true,
            identity_policy: None,
        };
        assert_eq!(
            decide(&policy, &stranger_root, "kms:Decrypt"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn lab_step_six_remove_and_restore_the_key_user() {
        let original = console(&[LAB_USER], &[LAB_USER]);
        let lab_user = user(LAB_USER, None);
        assert_eq!(
            decide(&key_policy(&original), &lab_user, "kms:Decrypt"),
            Decision::Allow
        );

        let removed = remove_key_user(&original, LAB_USER).unwrap();
        let policy = key_policy(&removed);
        assert_eq!(
            decide(&policy, &lab_user, "kms:Decrypt"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(&policy, &lab_user, "kms:GenerateDataKey"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(&policy, &lab_user, "kms:DescribeKey"),
            Decision::Allow,
            "still a key administrator"
        );
        assert_eq!(
            decide(&policy, &lab_user, "kms:PutKeyPolicy"),
            Decision::Allow
        );

        let restored = add_key_user(&removed, LAB_USER).unwrap();
        let policy = key_policy(&restored);
        assert_eq!(decide(&policy, &lab_user, "kms:Decrypt"), Decision::Allow);
        assert_eq!(
            decide(&policy, &lab_user, "kms:GenerateDataKey"),
            Decision::Allow
        );
    }

    /// The console policy plus one more statement.
    fn console_plus(statement: &str) -> PolicyDocument {
        let mut value: serde_json::Value =
            serde_json::from_str(&console(&[ADMIN], &[LAB_USER])).unwrap();
        value["Statement"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::from_str(statement).unwrap());
        key_policy(&value.to_string())
    }

    #[test]
    fn explicit_deny_in_the_key_policy_beats_allow() {
        let policy = console_plus(&format!(
            r#"{{"Effect": "Deny", "Principal": {{"AWS": "{LAB_USER}"}}, "Action": "kms:Decrypt", "Resource": "*"}}"#
        ));
        let lab_user = user(LAB_USER, None);
        assert_eq!(
            decide(&policy, &lab_user, "kms:Decrypt"),
            Decision::ExplicitDenyInResourcePolicy
        );
        assert_eq!(decide(&policy, &lab_user, "kms:Encrypt"), Decision::Allow);
        assert_eq!(
            decide(&policy, &user(OTHER_USER, None), "kms:Decrypt"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn key_policy_deny_of_the_account_covers_its_users_and_root() {
        let policy = console_plus(&format!(
            r#"{{"Effect": "Deny", "Principal": {{"AWS": "{ROOT}"}}, "Action": "kms:ScheduleKeyDeletion", "Resource": "*"}}"#
        ));
        let everything = allow_identity(r#""kms:*""#, r#""*""#);
        for caller in [
            root(),
            user(ADMIN, None),
            user(OTHER_USER, Some(&everything)),
        ] {
            assert_eq!(
                decide(&policy, &caller, "kms:ScheduleKeyDeletion"),
                Decision::ExplicitDenyInResourcePolicy,
                "{}",
                caller.arn
            );
        }
        assert_eq!(decide(&policy, &root(), "kms:DisableKey"), Decision::Allow);
    }

    #[test]
    fn explicit_deny_in_the_identity_policy_beats_allow() {
        let policy = key_policy(&console(&[ADMIN], &[LAB_USER]));
        let deny_decrypt = identity_policy(
            r#"{"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
                              {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]}"#,
        );
        let lab_user = user(LAB_USER, Some(&deny_decrypt));
        assert_eq!(
            decide(&policy, &lab_user, "kms:Decrypt"),
            Decision::ExplicitDenyInIdentityPolicy
        );
        assert_eq!(decide(&policy, &lab_user, "kms:Encrypt"), Decision::Allow);
        let other = user(OTHER_USER, Some(&deny_decrypt));
        assert_eq!(
            decide(&policy, &other, "kms:Decrypt"),
            Decision::ExplicitDenyInIdentityPolicy
        );
        assert_eq!(decide(&policy, &other, "kms:PutKeyPolicy"), Decision::Allow);
    }

    #[test]
    fn key_policy_deny_is_reported_before_identity_deny() {
        let policy = console_plus(
            r#"{"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}"#,
        );
        let deny = identity_policy(
            r#"{"Statement": {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}}"#,
        );
        assert_eq!(
            decide(&policy, &user(LAB_USER, Some(&deny)), "kms:Decrypt"),
            Decision::ExplicitDenyInResourcePolicy
        );
        assert_eq!(
            decide(&policy, &user(LAB_USER, Some(&deny)), "kms:Encrypt"),
            Decision::ExplicitDenyInIdentityPolicy
        );
    }

    #[test]
    fn the_account_root_ignores_identity_policies() {
        let policy = key_policy(&default_key_policy(ACCOUNT));
        let deny = identity_policy(
            r#"{"Statement": {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}}"#,
        );
        let root_with_policy = Caller {
            identity_policy: Some(&deny),
            ..root()
        };
        assert_eq!(
            decide(&policy, &root_with_policy, "kms:Decrypt"),
            Decision::Allow
        );
    }

    #[test]
    fn identity_policy_resources_are_matched() {
        let policy = key_policy(&default_key_policy(ACCOUNT));
        let check = |resources: &str, expected: Decision| {
            let identity = allow_identity(r#""kms:Decrypt""#, resources);
            assert_eq!(
                decide(&policy, &user(OTHER_USER, Some(&identity)), "kms:Decrypt"),
                expected,
                "{resources}"
            );
        };
        check(&format!(r#""{KEY}""#), Decision::Allow);
        check(&format!(r#""{OTHER_KEY}""#), Decision::ImplicitDeny);
        check(&format!(r#"["{OTHER_KEY}", "{KEY}"]"#), Decision::Allow);
        check(r#""arn:aws:kms:*:000000000000:key/*""#, Decision::Allow);
        check(
            r#""arn:aws:kms:*:111111111111:key/*""#,
            Decision::ImplicitDeny,
        );
        check(
            r#""arn:aws:kms:us-east-1:000000000000:alias/*""#,
            Decision::ImplicitDeny,
        );
        let not_resource = identity_policy(&format!(
            r#"{{"Statement": {{"Effect": "Allow", "Action": "kms:*", "NotResource": "{OTHER_KEY}"}}}}"#
        ));
        assert_eq!(
            decide(
                &policy,
                &user(OTHER_USER, Some(&not_resource)),
                "kms:Decrypt"
            ),
            Decision::Allow
        );
    }

    #[test]
    fn identity_policy_conditions_apply_through_the_account_statement() {
        let policy = key_policy(&default_key_policy(ACCOUNT));
        let via_s3 = identity_policy(
            r#"{"Statement": {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}}"#,
        );
        let caller = user(OTHER_USER, Some(&via_s3));
        let s3 = ConditionContext::new()
            .with("kms:ViaService", vec!["s3.us-east-1.amazonaws.com".into()]);
        assert_eq!(
            decide_with(&policy, &caller, "kms:Decrypt", &s3),
            Decision::Allow
        );
        assert_eq!(
            decide(&policy, &caller, "kms:Decrypt"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn via_service_in_the_key_policy() {
        let policy = key_policy(&format!(
            r#"{{"Statement": [{{"Effect": "Allow", "Principal": {{"AWS": "{LAB_USER}"}},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
                "Condition": {{"StringEquals": {{"kms:ViaService": "s3.us-east-1.amazonaws.com",
                                                "kms:CallerAccount": "000000000000"}}}}}}]}}"#
        ));
        let lab_user = user(LAB_USER, None);
        let via =
            |service: &str| ConditionContext::new().with("kms:ViaService", vec![service.into()]);
        assert_eq!(
            decide_with(
                &policy,
                &lab_user,
                "kms:Decrypt",
                &via("s3.us-east-1.amazonaws.com")
            ),
            Decision::Allow
        );
        assert_eq!(
            decide_with(
                &policy,
                &lab_user,
                "kms:Decrypt",
                &via("ec2.us-east-1.amazonaws.com")
            ),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(&policy, &lab_user, "kms:Decrypt"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn encryption_context_conditions() {
        let policy = key_policy(&format!(
            r#"{{"Statement": [{{"Effect": "Allow", "Principal": {{"AWS": "{LAB_USER}"}},
                "Action": "kms:Decrypt", "Resource": "*",
                "Condition": {{"StringLike": {{"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::mybucket/*"}}}}}}]}}"#
        ));
        let lab_user = user(LAB_USER, None);
        let context =
            |arn: &str| ConditionContext::new().with_encryption_context([("aws:s3:arn", arn)]);
        assert_eq!(
            decide_with(
                &policy,
                &lab_user,
                "kms:Decrypt",
                &context("arn:aws:s3:::mybucket/img.png")
            ),
            Decision::Allow
        );
        assert_eq!(
            decide_with(
                &policy,
                &lab_user,
                "kms:Decrypt",
                &context("arn:aws:s3:::other/img.png")
            ),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn deny_unless_condition() {
        // A common guard: deny use without an encryption context.
        let policy = console_plus(
            r#"{"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
                "Condition": {"Null": {"kms:EncryptionContextKeys": "true"}}}"#,
        );
        let lab_user = user(LAB_USER, None);
        assert_eq!(
            decide(&policy, &lab_user, "kms:Encrypt"),
            Decision::ExplicitDenyInResourcePolicy
        );
        let with_context = ConditionContext::new().with_encryption_context([("purpose", "test")]);
        assert_eq!(
            decide_with(&policy, &lab_user, "kms:Encrypt", &with_context),
            Decision::Allow
        );
    }

    #[test]
    fn actions_match_case_insensitively_and_resources_exactly() {
        let policy = key_policy(&format!(
            r#"{{"Statement": [{{"Effect": "Allow", "Principal": {{"AWS": "{LAB_USER}"}},
                "Action": "KMS:decrypt", "Resource": "{KEY}"}}]}}"#
        ));
        let lab_user = user(LAB_USER, None);
        assert_eq!(decide(&policy, &lab_user, "kms:Decrypt"), Decision::Allow);
        let upper_key = KEY.to_uppercase();
        let request = AccessRequest {
            action: "kms:Decrypt",
            resource: &upper_key,
            context: &ConditionContext::new(),
        };
        assert_eq!(
            authorize(&policy, &lab_user, &request),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn principal_arns_match_case_sensitively() {
        let policy = key_policy(&console(&[], &[LAB_USER]));
        let lowercase = "arn:aws:iam::000000000000:user/awslabsuser-0001";
        assert_eq!(
            decide(&policy, &user(lowercase, None), "kms:Decrypt"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn wildcard_principal_with_caller_account_condition() {
        let policy = key_policy(
            r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt",
                "Resource": "*", "Condition": {"StringEquals": {"kms:CallerAccount": "000000000000"}}}}"#,
        );
        assert_eq!(
            decide(&policy, &user(OTHER_USER, None), "kms:Decrypt"),
            Decision::Allow
        );
        let stranger = Caller {
            arn: "arn:aws:iam::111111111111:user/Stranger",
            account_id: "111111111111",
            is_account_root: false,
            identity_policy: None,
        };
        assert_eq!(
            decide(&policy, &stranger, "kms:Decrypt"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn not_action_and_not_principal() {
        let policy = key_policy(&format!(
            r#"{{"Statement": [
                {{"Effect": "Allow", "Principal": "*", "NotAction": ["kms:PutKeyPolicy", "kms:Schedule*"], "Resource": "*"}},
                {{"Effect": "Deny", "NotPrincipal": {{"AWS": ["{ROOT}", "{ADMIN}"]}}, "Action": "kms:Disable*", "Resource": "*"}}]}}"#
        ));
        let lab_user = user(LAB_USER, None);
        assert_eq!(decide(&policy, &lab_user, "kms:Decrypt"), Decision::Allow);
        assert_eq!(
            decide(&policy, &lab_user, "kms:PutKeyPolicy"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(&policy, &lab_user, "kms:ScheduleKeyDeletion"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(&policy, &lab_user, "kms:DisableKey"),
            Decision::ExplicitDenyInResourcePolicy
        );
        assert_eq!(
            decide(&policy, &user(ADMIN, None), "kms:DisableKey"),
            Decision::Allow
        );
        assert_eq!(decide(&policy, &root(), "kms:DisableKey"), Decision::Allow);
    }

    #[test]
    fn service_principals_never_match_callers() {
        let policy = key_policy(
            r#"{"Statement": {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "kms:*", "Resource": "*"}}"#,
        );
        assert_eq!(
            decide(&policy, &root(), "kms:Decrypt"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn calls_without_a_key() {
        let context = ConditionContext::new();
        let request = |action| AccessRequest {
            action,
            resource: "*",
            context: &context,
        };
        assert_eq!(
            authorize_without_key(&root(), &request("kms:CreateKey")),
            Decision::Allow
        );
        assert_eq!(
            authorize_without_key(&user(LAB_USER, None), &request("kms:CreateKey")),
            Decision::ImplicitDeny
        );
        let identity = identity_policy(
            r#"{"Statement": [{"Effect": "Allow", "Action": ["kms:CreateKey", "kms:List*", "kms:GenerateRandom"], "Resource": "*"},
                              {"Effect": "Deny", "Action": "kms:ListAliases", "Resource": "*"}]}"#,
        );
        let lab_user = user(LAB_USER, Some(&identity));
        assert_eq!(
            authorize_without_key(&lab_user, &request("kms:CreateKey")),
            Decision::Allow
        );
        assert_eq!(
            authorize_without_key(&lab_user, &request("kms:ListKeys")),
            Decision::Allow
        );
        assert_eq!(
            authorize_without_key(&lab_user, &request("kms:ListAliases")),
            Decision::ExplicitDenyInIdentityPolicy
        );
        assert_eq!(
            authorize_without_key(&lab_user, &request("kms:CreateAlias")),
            Decision::ImplicitDeny
        );
        let keys_only = allow_identity(r#""kms:*""#, r#""arn:aws:kms:*:000000000000:key/*""#);
        assert_eq!(
            authorize_without_key(&user(LAB_USER, Some(&keys_only)), &request("kms:CreateKey")),
            Decision::ImplicitDeny,
            "CreateKey needs Resource \"*\""
        );
    }

    #[test]
    fn lockout_safety_check() {
        let console_text = console(&[LAB_USER], &[LAB_USER]);
        let lab_user = user(LAB_USER, None);
        assert_eq!(
            check_lockout_safety(&key_policy(&console_text), &lab_user, KEY),
            Ok(())
        );
        assert_eq!(
            check_lockout_safety(&key_policy(&console_text), &root(), KEY),
            Ok(())
        );
        let users_only = key_policy(&console(&[], &[LAB_USER]));
        assert_eq!(
            check_lockout_safety(&users_only, &lab_user, KEY),
            Err(PolicyError::Malformed(LOCKOUT_MESSAGE.to_owned()))
        );
        assert_eq!(
            check_lockout_safety(
                &without_root_statement(&console(&[], &[LAB_USER])),
                &root(),
                KEY
            ),
            Err(PolicyError::Malformed(LOCKOUT_MESSAGE.to_owned()))
        );
    }
}
