//! Block Public Access's meaning of "public" for a bucket policy.
//!
//! From the S3 User Guide ("The meaning of public") and the PublicAccessBlock API
//! reference: a policy is public unless every statement that grants to everyone is
//! narrowed to fixed values of a key that identifies the requester, its account or
//! organization, its network, or the resource it acts for: `aws:SourceIp` (CIDR
//! blocks), `aws:SourceArn`, `aws:SourceVpc`, `aws:SourceVpce`, `aws:SourceOwner`,
//! `aws:SourceAccount`, `aws:PrincipalArn`, `aws:PrincipalAccount`,
//! `aws:PrincipalOrgID`, `aws:userid` (outside the pattern `AROLEID:*`), S3's access
//! point keys, and `s3:x-amz-server-side-encryption-aws-kms-key-id`.
//!
//! keyhold does not refine further by action (AWS also calls a grant public only if
//! it includes a "bad action" such as `s3:Get*` or `s3:Put*`): every Allow for `*`
//! counts, which can only call more policies public, never fewer.

use crate::condition::Condition;
use crate::document::{Effect, PolicyDocument, PrincipalClause, Statement};

const NARROWING_KEYS: &[&str] = &[
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceip",
    "aws:sourceowner",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:userid",
    "s3:dataaccesspointaccount",
    "s3:dataaccesspointarn",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
];

pub(crate) fn grants_public_access(document: &PolicyDocument) -> bool {
    document.statements().iter().any(is_public_grant)
}

fn is_public_grant(statement: &Statement) -> bool {
    let for_everyone = match statement.principal_clause() {
        Some(PrincipalClause::Principal(set)) => set.includes_anyone(),
        // Everyone but a few named principals is still everyone.
        Some(PrincipalClause::NotPrincipal(_)) => true,
        None => false,
    };
    statement.effect() == Effect::Allow
        && for_everyone
        && !statement.conditions().iter().any(narrows)
}

fn narrows(condition: &Condition) -> bool {
    NARROWING_KEYS.contains(&condition.key()) && condition.fixes_values()
}

#[cfg(test)]
mod tests {
    use crate::s3::BucketPolicy;

    /// Whether a policy of one statement with this principal, effect and condition is public.
    fn public(effect: &str, principal: &str, condition: Option<&str>) -> bool {
        let condition = condition
            .map(|c| format!(r#", "Condition": {c}"#))
            .unwrap_or_default();
        let json = format!(
            r#"{{"Statement": {{"Effect": "{effect}", {principal}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"{condition}}}}}"#
        );
        BucketPolicy::parse(&json, "logs").unwrap().is_public()
    }

    const EVERYONE: &str = r#""Principal": "*""#;

    #[test]
    fn principals() {
        assert!(public("Allow", EVERYONE, None));
        assert!(public("Allow", r#""Principal": {"AWS": "*"}"#, None));
        assert!(public(
            "Allow",
            r#""Principal": {"AWS": ["111111111111", "*"]}"#,
            None
        ));
        assert!(public(
            "Allow",
            r#""NotPrincipal": {"AWS": "111111111111"}"#,
            None
        ));
        assert!(!public(
            "Allow",
            r#""Principal": {"AWS": "111111111111"}"#,
            None
        ));
        assert!(!public(
            "Allow",
            r#""Principal": {"AWS": "arn:aws:iam::111111111111:user/a"}"#,
            None
        ));
        assert!(!public(
            "Allow",
            r#""Principal": {"Service": "cloudtrail.amazonaws.com"}"#,
            None
        ));
        assert!(
            !public("Deny", EVERYONE, None),
            "a Deny never makes a policy public"
        );
        assert!(!public(
            "Deny",
            r#""NotPrincipal": {"AWS": "111111111111"}"#,
            None
        ));
    }

    #[test]
    fn conditions_that_narrow() {
        for narrowing in [
            r#"{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#,
            r#"{"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}}"#,
            r#"{"StringEquals": {"aws:SourceAccount": "111111111111"}}"#,
            r#"{"ArnEquals": {"aws:SourceArn": "arn:aws:cloudtrail:us-east-1:111111111111:trail/t"}}"#,
            r#"{"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:us-east-1:111111111111:trail/t"}}"#,
            r#"{"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}"#,
            r#"{"StringEquals": {"aws:SourceVpc": "vpc-111bbb22"}}"#,
            r#"{"StringEquals": {"aws:SourceOwner": "111111111111"}}"#,
            r#"{"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}"#,
            r#"{"StringEquals": {"aws:PrincipalAccount": "111111111111"}}"#,
            r#"{"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/r"}}"#,
            r#"{"StringEquals": {"aws:userid": "AIDAEXAMPLE"}}"#,
            r#"{"StringEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:111111111111:key/k"}}"#,
            r#"{"ForAnyValue:StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}"#,
            // One narrowing key is enough, whatever else the statement asks.
            r#"{"Bool": {"aws:SecureTransport": "true"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
        ] {
            assert!(!public("Allow", EVERYONE, Some(narrowing)), "{narrowing}");
        }
    }

    #[test]
    fn conditions_that_do_not_narrow() {
        for open in [
            r#"{"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}"#,
            r#"{"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "::/0"]}}"#,
            r#"{"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#,
            r#"{"StringLike": {"aws:SourceAccount": "*"}}"#,
            r#"{"StringLike": {"aws:SourceVpce": "vpce-*"}}"#,
            r#"{"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:111111111111:trail/*"}}"#,
            r#"{"StringNotEquals": {"aws:SourceAccount": "111111111111"}}"#,
            r#"{"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}}"#,
            r#"{"ForAllValues:StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}"#,
            r#"{"StringLike": {"aws:userid": "AROLEID:*"}}"#,
            r#"{"Bool": {"aws:SecureTransport": "true"}}"#,
            r#"{"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}"#,
            r#"{"Null": {"aws:SourceVpce": "false"}}"#,
        ] {
            assert!(public("Allow", EVERYONE, Some(open)), "{open}");
        }
    }

    #[test]
    fn one_public_statement_makes_the_policy_public() {
        let json = r#"{"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "s3:*", "Resource": "arn:aws:s3:::logs/*"},
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/public/*"}]}"#;
        assert!(BucketPolicy::parse(json, "logs").unwrap().is_public());
    }
}
