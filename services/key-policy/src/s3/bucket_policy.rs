//! Bucket policies: the shared policy parser with S3's wording, then the checks only
//! S3 makes, which need the bucket's name.

use std::collections::HashSet;

use crate::document::{PolicyDocument, PolicyKind, Statement, parse_tree};
use crate::error::PolicyError;
use crate::matching::{wildcard_match, wildcard_matches_some_extension};
use crate::messages::S3_INVALID_RESOURCE;
use crate::s3::actions::{Target, targets_of};
use crate::s3::public::grants_public_access;

/// A bucket policy validated for one bucket, as S3's PutBucketPolicy validates it.
#[derive(Debug, Clone)]
pub struct BucketPolicy {
    document: PolicyDocument,
    public: bool,
}

const S3_ARN_PREFIX: &str = "arn:aws:s3:::";

/// When a statement's actions and resources cannot meet (`s3:GetObject` on the
/// bucket itself, `s3:ListBucket` on `bucket/*`).
pub(crate) const ACTION_RESOURCE_MISMATCH: &str =
    "Action does not apply to any resource(s) in statement";
pub(crate) const INVALID_CONDITION_KEY: &str = "Policy has an invalid condition key";
/// S3's message is not documented; this is IAM's wording of the same rule, which S3's
/// documentation states ("Each statement in a policy must have a unique Sid").
pub(crate) const DUPLICATE_SID: &str = "Statement IDs (SID) in a single policy must be unique.";

impl BucketPolicy {
    /// Validates `json` as the policy of `bucket`. The error's message is S3's
    /// `MalformedPolicy` message; over [`MAX_BUCKET_POLICY_BYTES`](crate::MAX_BUCKET_POLICY_BYTES)
    /// bytes it is [`BUCKET_POLICY_TOO_LARGE`](crate::BUCKET_POLICY_TOO_LARGE).
    pub fn parse(json: &str, bucket: &str) -> Result<BucketPolicy, PolicyError> {
        let (_, document) = parse_tree(json, PolicyKind::Bucket)?;
        let bucket_arn = format!("{S3_ARN_PREFIX}{bucket}");
        for statement in document.statements() {
            check_actions_meet_resources(statement, &bucket_arn)?;
            check_condition_keys(statement)?;
        }
        check_unique_sids(&document)?;
        let public = grants_public_access(&document);
        Ok(BucketPolicy { document, public })
    }

    /// AWS's "is public" judgement (Block Public Access): some Allow statement is for
    /// everyone (`*`, or `NotPrincipal`) and no condition narrows it to fixed values
    /// of a key that identifies the requester or its network (see
    /// [`crate::s3::public`]).
    pub fn is_public(&self) -> bool {
        self.public
    }

    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }
}

/// Which kinds of resource a statement's `Resource` (or `NotResource`) can name.
#[derive(Debug, Default, Clone, Copy)]
struct Coverage {
    bucket: bool,
    objects: bool,
    account: bool,
}

impl Coverage {
    const EVERYTHING: Coverage = Coverage {
        bucket: true,
        objects: true,
        account: true,
    };

    fn includes(self, target: Target) -> bool {
        match target {
            Target::Bucket => self.bucket,
            Target::Object => self.objects,
            Target::Account => self.account,
        }
    }

    fn union(self, other: Coverage) -> Coverage {
        Coverage {
            bucket: self.bucket || other.bucket,
            objects: self.objects || other.objects,
            account: self.account || other.account,
        }
    }
}

/// What one resource pattern can name in this bucket: `None` when it names nothing
/// of it (another bucket, not an S3 ARN), which S3 refuses.
fn coverage_of(pattern: &str, bucket_arn: &str) -> Option<Coverage> {
    if pattern == "*" {
        return Some(Coverage::EVERYTHING);
    }
    if !pattern.starts_with(S3_ARN_PREFIX) {
        return None;
    }
    let coverage = Coverage {
        bucket: wildcard_match(pattern, bucket_arn),
        objects: wildcard_matches_some_extension(pattern, &format!("{bucket_arn}/")),
        account: false,
    };
    (coverage.bucket || coverage.objects).then_some(coverage)
}

/// Every resource must be of this bucket, and every action pattern must name some
/// action that one of the resources can be the target of. A `NotResource` statement
/// is about everything else, so any action applies to it.
fn check_actions_meet_resources(
    statement: &Statement,
    bucket_arn: &str,
) -> Result<(), PolicyError> {
    let resources = statement.resources();
    let mut coverage = Coverage::default();
    for pattern in &resources.patterns {
        let named = coverage_of(pattern, bucket_arn)
            .ok_or_else(|| PolicyError::malformed(S3_INVALID_RESOURCE))?;
        coverage = coverage.union(named);
    }
    if resources.negated {
        coverage = Coverage::EVERYTHING;
    }
    let actions = statement.actions();
    if actions.negated {
        return Ok(());
    }
    for pattern in &actions.patterns {
        if !targets_of(pattern).any(|target| coverage.includes(target)) {
            return Err(PolicyError::malformed(ACTION_RESOURCE_MISMATCH));
        }
    }
    Ok(())
}

/// The global condition keys and S3's own keys (lowercase, as policies store them).
const CONDITION_KEYS: &[&str] = &[
    "aws:calledvia",
    "aws:calledviafirst",
    "aws:calledvialast",
    "aws:currenttime",
    "aws:epochtime",
    "aws:federatedprovider",
    "aws:multifactorauthage",
    "aws:multifactorauthpresent",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalisawsservice",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalservicename",
    "aws:principalservicenameslist",
    "aws:principaltype",
    "aws:referer",
    "aws:requestedregion",
    "aws:resourceaccount",
    "aws:resourceorgid",
    "aws:resourceorgpaths",
    "aws:securetransport",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceidentity",
    "aws:sourceip",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourceowner",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:tagkeys",
    "aws:tokenissuetime",
    "aws:useragent",
    "aws:userid",
    "aws:username",
    "aws:viaawsservice",
    "aws:vpcsourceip",
    "s3:accesspointnetworkorigin",
    "s3:authtype",
    "s3:dataaccesspointaccount",
    "s3:dataaccesspointarn",
    "s3:delimiter",
    "s3:locationconstraint",
    "s3:max-keys",
    "s3:object-lock-legal-hold",
    "s3:object-lock-mode",
    "s3:object-lock-remaining-retention-days",
    "s3:object-lock-retain-until-date",
    "s3:prefix",
    "s3:requestobjecttagkeys",
    "s3:resourceaccount",
    "s3:signatureage",
    "s3:signatureversion",
    "s3:tlsversion",
    "s3:versionid",
    "s3:x-amz-acl",
    "s3:x-amz-content-sha256",
    "s3:x-amz-copy-source",
    "s3:x-amz-grant-full-control",
    "s3:x-amz-grant-read",
    "s3:x-amz-grant-read-acp",
    "s3:x-amz-grant-write",
    "s3:x-amz-grant-write-acp",
    "s3:x-amz-metadata-directive",
    "s3:x-amz-object-ownership",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-server-side-encryption-customer-algorithm",
    "s3:x-amz-storage-class",
];

/// Keys followed by a tag key of the user's choosing.
const TAG_KEY_PREFIXES: &[&str] = &[
    "aws:principaltag/",
    "aws:requesttag/",
    "aws:resourcetag/",
    "s3:existingobjecttag/",
    "s3:requestobjecttag/",
];

fn is_condition_key(key: &str) -> bool {
    CONDITION_KEYS.contains(&key)
        || TAG_KEY_PREFIXES
            .iter()
            .any(|prefix| key.strip_prefix(prefix).is_some_and(|tag| !tag.is_empty()))
}

fn check_condition_keys(statement: &Statement) -> Result<(), PolicyError> {
    if statement
        .conditions()
        .iter()
        .all(|condition| is_condition_key(condition.key()))
    {
        Ok(())
    } else {
        Err(PolicyError::malformed(INVALID_CONDITION_KEY))
    }
}

fn check_unique_sids(document: &PolicyDocument) -> Result<(), PolicyError> {
    let mut seen = HashSet::new();
    let duplicate = document
        .statements()
        .iter()
        .filter_map(Statement::sid)
        .any(|sid| !seen.insert(sid));
    if duplicate {
        Err(PolicyError::malformed(DUPLICATE_SID))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_BUCKET_POLICY_BYTES;

    const BUCKET: &str = "logs";

    fn statement(fields: &str) -> String {
        format!(r#"{{"Version": "2012-10-17", "Statement": [{{{fields}}}]}}"#)
    }

    /// A valid statement with `field` replaced (or removed, with `None`).
    fn statement_with(field: &str, value: Option<&str>) -> String {
        let mut fields = vec![
            ("Sid", r#""Read""#),
            ("Effect", r#""Allow""#),
            ("Principal", r#"{"AWS": "arn:aws:iam::111111111111:root"}"#),
            ("Action", r#""s3:GetObject""#),
            ("Resource", r#""arn:aws:s3:::logs/*""#),
        ];
        fields.retain(|(name, _)| *name != field);
        if let Some(value) = value {
            fields.push((field, value));
        }
        let body: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!(r#""{name}": {value}"#))
            .collect();
        statement(&body.join(", "))
    }

    fn refused(json: &str) -> String {
        match BucketPolicy::parse(json, BUCKET) {
            Err(PolicyError::Malformed(message)) => message,
            other => panic!("{json} gave {other:?}"),
        }
    }

    fn accepted(json: &str) -> BucketPolicy {
        BucketPolicy::parse(json, BUCKET).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn a_valid_policy() {
        let policy = accepted(&statement_with(
            "Condition",
            Some(r#"{"Bool": {"aws:SecureTransport": "true"}}"#),
        ));
        assert_eq!(policy.document().statements().len(), 1);
        assert_eq!(policy.document().statements()[0].sid(), Some("Read"));
        assert!(!policy.is_public());
    }

    #[test]
    fn bucket_policies_can_be_shared_between_threads() {
        fn shared<T: Send + Sync + Clone>() {}
        shared::<BucketPolicy>();
    }

    #[test]
    fn not_json() {
        let first_byte = "Policies must be valid JSON and the first byte must be '{'";
        for text in [
            "",
            " {}",
            "false",
            "[]",
            "invalid_json",
            r#""Statement": []}"#,
            "\n{\"Statement\": []}",
        ] {
            assert_eq!(refused(text), first_byte, "{text:?}");
        }
        for text in ["{true}", "{asdf", r#"{"Principal": "*" "#, "{} {}"] {
            assert_eq!(
                refused(text),
                "This policy contains invalid Json",
                "{text:?}"
            );
        }
    }

    #[test]
    fn document_level_errors() {
        assert_eq!(refused("{}"), "Missing required field Statement");
        assert_eq!(
            refused(r#"{"Version": "2012-10-17"}"#),
            "Missing required field Statement"
        );
        assert_eq!(
            refused(r#"{"Statement": []}"#),
            "Could not parse the policy: Statement is empty!"
        );
        let valid = statement_with("Sid", None);
        for version in [r#""""#, r#""invalid""#, r#""2012-10-16""#, "2012"] {
            let json = valid.replace(r#""2012-10-17""#, version);
            assert_eq!(
                refused(&json),
                "The policy must contain a valid version string",
                "{version}"
            );
        }
        accepted(&valid.replace("2012-10-17", "2008-10-17"));
        accepted(&valid.replace(r#""Version": "2012-10-17", "#, ""));
    }

    #[test]
    fn statement_level_errors() {
        let check = |field: &str, value: Option<&str>, expected: &str| {
            assert_eq!(
                refused(&statement_with(field, value)),
                expected,
                "{field} = {value:?}"
            );
        };
        check("Effect", None, "Missing required field Effect");
        check("Effect", Some(r#""hello""#), "Invalid effect: hello");
        check("Effect", Some(r#""allow""#), "Invalid effect: allow");
        check("Principal", None, "Missing required field Principal");
        check("Action", None, "Missing required field Action");
        check("Resource", None, "Missing required field Resource");
        let invalid_principal = "Invalid principal in policy";
        for principal in [
            r#""arn:aws:iam::111111111111:root""#,
            r#"{"AWS": "user"}"#,
            r#"{"AWS": "arn:aws:iam::111111111111:user/"}"#,
            r#"{"AWS": []}"#,
            r#"{"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}"#,
            r#"{"Service": ""}"#,
            "{}",
        ] {
            check("Principal", Some(principal), invalid_principal);
        }
        for action in [
            r#""invalid_action""#,
            r#""s3:GetObjekt""#,
            r#""kms:Decrypt""#,
            r#"["s3:GetObject", "iam:*"]"#,
            "[]",
            "7",
        ] {
            check("Action", Some(action), "Policy has invalid action");
        }
        for resource in [
            r#""arn:aws:s3:::other/*""#,
            r#""arn:aws:s3:::logs2/*""#,
            r#""logs/*""#,
            r#""arn:aws:kms:us-east-1:111111111111:key/x""#,
            r#""""#,
            r#"["arn:aws:s3:::logs/*", "arn:aws:s3:::other/*"]"#,
            "[]",
        ] {
            check("Resource", Some(resource), "Policy has invalid resource");
        }
        check(
            "Condition",
            Some(r#"{"StringEquals": {"s3:x-amz-frobnicate": "x"}}"#),
            "Policy has an invalid condition key",
        );
        check(
            "Condition",
            Some(r#"{"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}"#),
            "Policy has an invalid condition key",
        );
        check(
            "Condition",
            Some(r#"{"StringEquals": {"aws:ResourceTag/": "x"}}"#),
            "Policy has an invalid condition key",
        );
    }

    #[test]
    fn principals_s3_accepts() {
        for principal in [
            r#""*""#,
            r#"{"AWS": "*"}"#,
            r#"{"AWS": "111111111111"}"#,
            r#"{"AWS": ["arn:aws:iam::111111111111:root", "arn:aws:iam::111111111111:user/AWSLabsUser-0001"]}"#,
            r#"{"AWS": "arn:aws:iam::111111111111:role/service-role/Reader"}"#,
            r#"{"Service": "cloudtrail.amazonaws.com"}"#,
            r#"{"Service": ["cloudtrail.amazonaws.com", "logging.s3.amazonaws.com"], "AWS": "111111111111"}"#,
        ] {
            accepted(&statement_with("Principal", Some(principal)));
        }
        accepted(&statement_with("Principal", None).replace(
            r#""Effect": "Allow""#,
            r#""Effect": "Deny", "NotPrincipal": {"AWS": "111111111111"}"#,
        ));
    }

    #[test]
    fn resources_of_the_bucket() {
        let with = |action: &str, resource: &str| {
            statement_with("Action", Some(action)).replace(r#""arn:aws:s3:::logs/*""#, resource)
        };
        for (action, resource) in [
            (
                r#""s3:GetObject""#,
                r#""arn:aws:s3:::logs/AWSLogs/111111111111/*""#,
            ),
            (r#""s3:GetObject""#, r#""arn:aws:s3:::logs/report.csv""#),
            (r#""s3:GetObject""#, r#""arn:aws:s3:::log*""#),
            (r#""s3:GetObject""#, r#""*""#),
            (r#""s3:ListBucket""#, r#""arn:aws:s3:::logs""#),
            (r#""s3:ListBucket""#, r#""arn:aws:s3:::*""#),
            (r#""s3:GetBucketAcl""#, r#""arn:aws:s3:::l?gs""#),
            (
                r#"["s3:ListBucket", "s3:GetObject"]"#,
                r#"["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"]"#,
            ),
            (r#""s3:*""#, r#""arn:aws:s3:::logs/*""#),
            (r#""s3:Get*""#, r#""arn:aws:s3:::logs""#),
            (r#""*""#, r#""arn:aws:s3:::logs""#),
            (r#""s3:ListAllMyBuckets""#, r#""*""#),
        ] {
            accepted(&with(action, resource));
        }
        let mismatch = "Action does not apply to any resource(s) in statement";
        for (action, resource) in [
            (r#""s3:GetObject""#, r#""arn:aws:s3:::logs""#),
            (r#""s3:ListBucket""#, r#""arn:aws:s3:::logs/*""#),
            (
                r#"["s3:GetObject", "s3:ListBucket"]"#,
                r#""arn:aws:s3:::logs/*""#,
            ),
            (r#""s3:GetObject*""#, r#""arn:aws:s3:::logs""#),
            (r#""s3:ListAllMyBuckets""#, r#""arn:aws:s3:::logs""#),
        ] {
            assert_eq!(
                refused(&with(action, resource)),
                mismatch,
                "{action} on {resource}"
            );
        }
        // NotAction and NotResource are about everything else.
        accepted(
            &statement_with("Action", None)
                .replace(r#""Sid""#, r#""NotAction": "s3:ListBucket", "Sid""#),
        );
        accepted(&statement_with("Resource", None).replace(
            r#""Sid""#,
            r#""NotResource": "arn:aws:s3:::logs/private/*", "Sid""#,
        ));
        assert_eq!(
            refused(&statement_with("Resource", None).replace(
                r#""Sid""#,
                r#""NotResource": "arn:aws:s3:::other/*", "Sid""#
            )),
            "Policy has invalid resource"
        );
    }

    #[test]
    fn condition_keys_s3_knows() {
        for condition in [
            r#"{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#,
            r#"{"Bool": {"aws:SecureTransport": false}}"#,
            r#"{"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:111111111111:trail/*"}}"#,
            r#"{"StringEquals": {"AWS:SourceAccount": "111111111111", "s3:x-amz-acl": "bucket-owner-full-control"}}"#,
            r#"{"StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:111111111111:key/x"}}"#,
            r#"{"StringLike": {"s3:ExistingObjectTag/Project": "x*", "aws:PrincipalTag/team": "a"}}"#,
            r#"{"Null": {"s3:x-amz-server-side-encryption": "true"}}"#,
        ] {
            accepted(&statement_with("Condition", Some(condition)));
        }
        let list = statement_with("Action", Some(r#""s3:ListBucket""#)).replace("logs/*", "logs");
        accepted(&list.replace(
            r#""Sid""#,
            r#""Condition": {"NumericLessThanEquals": {"s3:max-keys": 100}, "StringLike": {"s3:prefix": "home/*"}, "StringEquals": {"s3:delimiter": "/"}}, "Sid""#,
        ));
    }

    #[test]
    fn duplicate_sids() {
        let one = r#"{"Sid": "Same", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"}"#;
        let json = format!(r#"{{"Statement": [{one}, {one}]}}"#);
        assert_eq!(
            refused(&json),
            "Statement IDs (SID) in a single policy must be unique."
        );
        let without_sids = json.replace(r#""Sid": "Same", "#, "");
        accepted(&without_sids);
    }

    /// A valid policy padded with spaces to exactly `len` bytes.
    fn policy_of_len(len: usize) -> String {
        let mut policy = statement_with("Sid", None);
        policy.insert_str(1, &" ".repeat(len - policy.len()));
        assert_eq!(policy.len(), len);
        policy
    }

    #[test]
    fn size_limit() {
        assert_eq!(MAX_BUCKET_POLICY_BYTES, 20_480);
        accepted(&policy_of_len(MAX_BUCKET_POLICY_BYTES));
        let too_large = "Policy exceeds the maximum allowed document size.";
        assert_eq!(
            refused(&policy_of_len(MAX_BUCKET_POLICY_BYTES + 1)),
            too_large
        );
        assert_eq!(
            refused(&"x".repeat(MAX_BUCKET_POLICY_BYTES + 1)),
            too_large,
            "checked first"
        );
        assert_eq!(crate::BUCKET_POLICY_TOO_LARGE, too_large);
    }
}
