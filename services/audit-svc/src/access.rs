//! Who may read the trail. As in CloudTrail, LookupEvents needs
//! `cloudtrail:LookupEvents` from the caller's identity policy (the account root always
//! has it; an explicit Deny wins); TailEvents shows the same events live and needs the
//! same. Events carry other users' parameters (encryption contexts, object keys), so
//! being authenticated is not enough.

use keyhold_key_policy::ConditionContext;
use keyhold_platform::{Caller, iam};

use crate::error::{AuditError, AuditResult};

pub const LOOKUP_ACTION: &str = "cloudtrail:LookupEvents";
/// LookupEvents has no resource-level permissions: only `"Resource": "*"` grants it.
const ANY_RESOURCE: &str = "*";

pub fn check_read(caller: &Caller) -> AuditResult<()> {
    let mut context = ConditionContext::new();
    context.insert("aws:PrincipalArn", vec![caller.principal.arn.clone()]);
    context.insert(
        "aws:PrincipalAccount",
        vec![caller.principal.account_id.clone()],
    );
    iam::check_identity(caller, LOOKUP_ACTION, ANY_RESOURCE, &context)
        .map_err(AuditError::AccessDenied)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use keyhold_platform::Principals;

    use super::*;

    fn user(statements: serde_json::Value) -> Caller {
        let principals = Principals::parse(
            &serde_json::json!({
                "account_id": "000000000000",
                "principals": [{
                    "name": "u", "type": "IAMUser",
                    "arn": "arn:aws:iam::000000000000:user/u",
                    "access_key_id": "AKIAKEYHOLDTESTUSERU",
                    "secret_access_key": "s",
                    "identity_policy": {"Version": "2012-10-17", "Statement": statements}
                }]
            })
            .to_string(),
        )
        .unwrap();
        Caller {
            principal: Arc::clone(principals.by_access_key("AKIAKEYHOLDTESTUSERU").unwrap()),
            via: None,
        }
    }

    #[test]
    fn an_explicit_deny_wins_over_an_allow() {
        let allow =
            serde_json::json!({"Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*"});
        assert_eq!(check_read(&user(serde_json::json!([allow]))), Ok(()));
        let deny = serde_json::json!({"Effect": "Deny", "Action": "cloudtrail:LookupEvents", "Resource": "*"});
        assert_eq!(
            check_read(&user(serde_json::json!([allow, deny]))),
            Err(AuditError::AccessDenied(
                "User: arn:aws:iam::000000000000:user/u is not authorized to perform: \
                 cloudtrail:LookupEvents on resource: * with an explicit deny in an \
                 identity-based policy"
                    .into()
            ))
        );
        // A grant on some trail's ARN does not cover an action without resources.
        let narrow = serde_json::json!({"Effect": "Allow", "Action": "cloudtrail:LookupEvents",
            "Resource": "arn:aws:cloudtrail:us-east-1:000000000000:trail/t"});
        assert!(check_read(&user(serde_json::json!([narrow]))).is_err());
    }
}
