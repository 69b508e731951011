//! The key policies of AWS managed keys (`alias/aws/<service>`), which AWS writes
//! and nobody can change.
//!
//! They let every principal of the account use the key, but only through the
//! service (`kms:ViaService`) and only from the account (`kms:CallerAccount`), and
//! let the account read the key's metadata directly. They have no "Enable IAM User
//! Permissions" statement and grant no administrative action, so no principal, the
//! account root included, may change, disable or delete an AWS managed key.

use crate::json::Json;

const USE_ACTIONS: [&str; 5] = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
];

const METADATA_ACTIONS: [&str; 3] = ["kms:Describe*", "kms:Get*", "kms:List*"];

/// The policy of the account's AWS managed key for Amazon S3 (`alias/aws/s3`), as
/// AWS writes it (`auto-s3-2`).
pub fn s3_managed_key_policy(account_id: &str, region: &str) -> String {
    aws_managed_key_policy("auto-s3-2", "S3", "s3", account_id, region)
}

/// `policy_id` as AWS names it, `display_name` as the Sid names the service,
/// `endpoint` the service's endpoint prefix (`s3` for `s3.<region>.amazonaws.com`).
fn aws_managed_key_policy(
    policy_id: &str,
    display_name: &str,
    endpoint: &str,
    account_id: &str,
    region: &str,
) -> String {
    let use_through_service = Json::object([
        (
            "Sid",
            Json::String(format!(
                "Allow access through {display_name} for all principals in the account that are authorized to use {display_name}"
            )),
        ),
        ("Effect", Json::str("Allow")),
        ("Principal", Json::object([("AWS", Json::str("*"))])),
        ("Action", Json::strings(&USE_ACTIONS)),
        ("Resource", Json::str("*")),
        (
            "Condition",
            Json::object([(
                "StringEquals",
                Json::object([
                    ("kms:CallerAccount", Json::str(account_id)),
                    (
                        "kms:ViaService",
                        Json::String(format!("{endpoint}.{region}.amazonaws.com")),
                    ),
                ]),
            )]),
        ),
    ]);
    let metadata_for_the_account = Json::object([
        (
            "Sid",
            Json::str("Allow direct access to key metadata to the account"),
        ),
        ("Effect", Json::str("Allow")),
        (
            "Principal",
            Json::object([(
                "AWS",
                Json::String(format!("arn:aws:iam::{account_id}:root")),
            )]),
        ),
        ("Action", Json::strings(&METADATA_ACTIONS)),
        ("Resource", Json::str("*")),
    ]);
    Json::object([
        ("Version", Json::str("2012-10-17")),
        ("Id", Json::str(policy_id)),
        (
            "Statement",
            Json::Array(vec![use_through_service, metadata_for_the_account]),
        ),
    ])
    .to_pretty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessRequest, Caller, ConditionContext, Decision, PolicyDocument, authorize};
    use serde_json::json;

    const ACCOUNT: &str = "000000000000";
    const KEY: &str = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const ROOT: &str = "arn:aws:iam::000000000000:root";
    const USER: &str = "arn:aws:iam::000000000000:user/AWSLabsUser-0001";
    const VIA_S3: &str = "s3.us-east-1.amazonaws.com";

    /// The policy AWS shows for `alias/aws/s3`, written out by hand.
    fn aws_policy() -> serde_json::Value {
        json!({
            "Version": "2012-10-17",
            "Id": "auto-s3-2",
            "Statement": [
                {
                    "Sid": "Allow access through S3 for all principals in the account that are authorized to use S3",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {
                        "kms:CallerAccount": "000000000000",
                        "kms:ViaService": "s3.us-east-1.amazonaws.com"
                    }}
                },
                {
                    "Sid": "Allow direct access to key metadata to the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                    "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                    "Resource": "*"
                }
            ]
        })
    }

    fn policy() -> PolicyDocument {
        PolicyDocument::parse_key_policy(&s3_managed_key_policy(ACCOUNT, "us-east-1")).unwrap()
    }

    fn caller<'a>(
        arn: &'a str,
        account_id: &'a str,
        identity_policy: Option<&'a PolicyDocument>,
    ) -> Caller<'a> {
        Caller {
            arn,
            account_id,
            is_account_root: arn.ends_with(":root"),
            identity_policy,
        }
    }

    fn via(service: &str) -> ConditionContext {
        ConditionContext::new().with("kms:ViaService", vec![service.to_owned()])
    }

    fn decide(caller: &Caller, action: &str, context: &ConditionContext) -> Decision {
        authorize(
            &policy(),
            caller,
            &AccessRequest {
                action,
                resource: KEY,
                context,
            },
        )
    }

    const USE: [&str; 7] = [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:DescribeKey",
    ];

    const ADMINISTRATION: [&str; 14] = [
        "kms:PutKeyPolicy",
        "kms:DisableKey",
        "kms:EnableKey",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
        "kms:UpdateKeyDescription",
        "kms:CreateAlias",
        "kms:UpdateAlias",
        "kms:DeleteAlias",
        "kms:CreateGrant",
        "kms:RevokeGrant",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:EnableKeyRotation",
    ];

    #[test]
    fn the_policy_is_the_one_aws_writes() {
        let text = s3_managed_key_policy(ACCOUNT, "us-east-1");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            aws_policy()
        );
        assert_eq!(policy().id(), Some("auto-s3-2"));
        let other_region: serde_json::Value =
            serde_json::from_str(&s3_managed_key_policy("123456789012", "eu-west-1")).unwrap();
        assert_eq!(
            other_region["Statement"][0]["Condition"]["StringEquals"],
            json!({"kms:CallerAccount": "123456789012", "kms:ViaService": "s3.eu-west-1.amazonaws.com"})
        );
    }

    #[test]
    fn anyone_of_the_account_uses_the_key_through_s3_only() {
        for who in [
            caller(USER, ACCOUNT, None),
            caller(ROOT, ACCOUNT, None),
            caller("arn:aws:iam::000000000000:role/Anything", ACCOUNT, None),
        ] {
            for action in USE {
                assert_eq!(
                    decide(&who, action, &via(VIA_S3)),
                    Decision::Allow,
                    "{} {action}",
                    who.arn
                );
            }
        }
        let user = caller(USER, ACCOUNT, None);
        for action in ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"] {
            assert_eq!(
                decide(&user, action, &ConditionContext::new()),
                Decision::ImplicitDeny,
                "directly: {action}"
            );
            assert_eq!(
                decide(&user, action, &via("ec2.us-east-1.amazonaws.com")),
                Decision::ImplicitDeny,
                "through another service: {action}"
            );
            assert_eq!(
                decide(&user, action, &via("s3.eu-west-1.amazonaws.com")),
                Decision::ImplicitDeny,
                "through S3 of another region: {action}"
            );
        }
    }

    #[test]
    fn another_account_cannot_use_it_even_through_s3() {
        let outsider = caller(
            "arn:aws:iam::111111111111:user/Outsider",
            "111111111111",
            None,
        );
        assert_eq!(
            decide(&outsider, "kms:Decrypt", &via(VIA_S3)),
            Decision::ImplicitDeny
        );
        // kms-svc puts the caller's account in the context; without it, evaluation
        // takes it from the caller all the same.
        let stated = via(VIA_S3).with("kms:CallerAccount", vec!["111111111111".into()]);
        assert_eq!(
            decide(&outsider, "kms:Decrypt", &stated),
            Decision::ImplicitDeny
        );
        let user = caller(USER, ACCOUNT, None);
        let stated = via(VIA_S3).with("kms:CallerAccount", vec![ACCOUNT.into()]);
        assert_eq!(decide(&user, "kms:Decrypt", &stated), Decision::Allow);
    }

    #[test]
    fn the_root_reads_metadata_but_administers_nothing() {
        let root = caller(ROOT, ACCOUNT, None);
        for action in [
            "kms:DescribeKey",
            "kms:GetKeyPolicy",
            "kms:GetKeyRotationStatus",
            "kms:ListKeyPolicies",
            "kms:ListResourceTags",
            "kms:ListGrants",
        ] {
            assert_eq!(
                decide(&root, action, &ConditionContext::new()),
                Decision::Allow,
                "{action}"
            );
        }
        for action in ADMINISTRATION {
            for context in [ConditionContext::new(), via(VIA_S3)] {
                assert_eq!(
                    decide(&root, action, &context),
                    Decision::ImplicitDeny,
                    "{action}"
                );
            }
        }
        for action in ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"] {
            assert_eq!(
                decide(&root, action, &ConditionContext::new()),
                Decision::ImplicitDeny,
                "the root too uses it only through S3: {action}"
            );
        }
    }

    #[test]
    fn an_identity_policy_allowing_everything_reaches_only_metadata() {
        let everything = PolicyDocument::parse_identity_policy(
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}"#,
        )
        .unwrap();
        let user = caller(USER, ACCOUNT, Some(&everything));
        assert_eq!(
            decide(&user, "kms:DescribeKey", &ConditionContext::new()),
            Decision::Allow
        );
        assert_eq!(
            decide(&user, "kms:GetKeyPolicy", &ConditionContext::new()),
            Decision::Allow
        );
        for action in ADMINISTRATION {
            assert_eq!(
                decide(&user, action, &ConditionContext::new()),
                Decision::ImplicitDeny,
                "{action}"
            );
        }
        assert_eq!(
            decide(&user, "kms:Decrypt", &ConditionContext::new()),
            Decision::ImplicitDeny
        );
        // Without the identity policy, the account statement gives a user nothing.
        assert_eq!(
            decide(
                &caller(USER, ACCOUNT, None),
                "kms:DescribeKey",
                &ConditionContext::new()
            ),
            Decision::ImplicitDeny
        );
    }
}
