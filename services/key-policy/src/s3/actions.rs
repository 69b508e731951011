//! The S3 actions a bucket policy may name, and the resource each applies to.
//!
//! From the Service Authorization Reference's table of Amazon S3 actions (the
//! "Resource types" column): S3 refuses a bucket policy that names an action it does
//! not define ("Policy has invalid action") or an action none of the statement's
//! resources can be ("Action does not apply to any resource(s) in statement").

use crate::matching::wildcard_match_ignore_case;

/// What an action is performed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// `arn:aws:s3:::bucket`
    Bucket,
    /// `arn:aws:s3:::bucket/key`
    Object,
    /// No bucket at all (`ListAllMyBuckets`): only `Resource: "*"` covers it.
    Account,
}

use Target::{Account, Bucket, Object};

const ACTIONS: &[(&str, Target)] = &[
    // Objects.
    ("AbortMultipartUpload", Object),
    ("BypassGovernanceRetention", Object),
    ("DeleteObject", Object),
    ("DeleteObjectTagging", Object),
    ("DeleteObjectVersion", Object),
    ("DeleteObjectVersionTagging", Object),
    ("GetObject", Object),
    ("GetObjectAcl", Object),
    ("GetObjectAttributes", Object),
    ("GetObjectLegalHold", Object),
    ("GetObjectRetention", Object),
    ("GetObjectTagging", Object),
    ("GetObjectTorrent", Object),
    ("GetObjectVersion", Object),
    ("GetObjectVersionAcl", Object),
    ("GetObjectVersionAttributes", Object),
    ("GetObjectVersionForReplication", Object),
    ("GetObjectVersionTagging", Object),
    ("GetObjectVersionTorrent", Object),
    ("InitiateReplication", Object),
    ("ListMultipartUploadParts", Object),
    ("ObjectOwnerOverrideToBucketOwner", Object),
    ("PutObject", Object),
    ("PutObjectAcl", Object),
    ("PutObjectLegalHold", Object),
    ("PutObjectRetention", Object),
    ("PutObjectTagging", Object),
    ("PutObjectVersionAcl", Object),
    ("PutObjectVersionTagging", Object),
    ("ReplicateDelete", Object),
    ("ReplicateObject", Object),
    ("ReplicateTags", Object),
    ("RestoreObject", Object),
    // Buckets.
    ("CreateBucket", Bucket),
    ("DeleteBucket", Bucket),
    ("DeleteBucketPolicy", Bucket),
    ("DeleteBucketWebsite", Bucket),
    ("GetAccelerateConfiguration", Bucket),
    ("GetAnalyticsConfiguration", Bucket),
    ("GetBucketAcl", Bucket),
    ("GetBucketCORS", Bucket),
    ("GetBucketLocation", Bucket),
    ("GetBucketLogging", Bucket),
    ("GetBucketNotification", Bucket),
    ("GetBucketObjectLockConfiguration", Bucket),
    ("GetBucketOwnershipControls", Bucket),
    ("GetBucketPolicy", Bucket),
    ("GetBucketPolicyStatus", Bucket),
    ("GetBucketPublicAccessBlock", Bucket),
    ("GetBucketRequestPayment", Bucket),
    ("GetBucketTagging", Bucket),
    ("GetBucketVersioning", Bucket),
    ("GetBucketWebsite", Bucket),
    ("GetEncryptionConfiguration", Bucket),
    ("GetIntelligentTieringConfiguration", Bucket),
    ("GetInventoryConfiguration", Bucket),
    ("GetLifecycleConfiguration", Bucket),
    ("GetMetricsConfiguration", Bucket),
    ("GetReplicationConfiguration", Bucket),
    ("ListBucket", Bucket),
    ("ListBucketMultipartUploads", Bucket),
    ("ListBucketVersions", Bucket),
    ("PutAccelerateConfiguration", Bucket),
    ("PutAnalyticsConfiguration", Bucket),
    ("PutBucketAcl", Bucket),
    ("PutBucketCORS", Bucket),
    ("PutBucketLogging", Bucket),
    ("PutBucketNotification", Bucket),
    ("PutBucketObjectLockConfiguration", Bucket),
    ("PutBucketOwnershipControls", Bucket),
    ("PutBucketPolicy", Bucket),
    ("PutBucketPublicAccessBlock", Bucket),
    ("PutBucketRequestPayment", Bucket),
    ("PutBucketTagging", Bucket),
    ("PutBucketVersioning", Bucket),
    ("PutBucketWebsite", Bucket),
    ("PutEncryptionConfiguration", Bucket),
    ("PutIntelligentTieringConfiguration", Bucket),
    ("PutInventoryConfiguration", Bucket),
    ("PutLifecycleConfiguration", Bucket),
    ("PutMetricsConfiguration", Bucket),
    ("PutReplicationConfiguration", Bucket),
    // Neither: the account's own settings and listings.
    ("GetAccountPublicAccessBlock", Account),
    ("ListAccessPoints", Account),
    ("ListAllMyBuckets", Account),
    ("PutAccountPublicAccessBlock", Account),
];

/// The targets of every S3 action `pattern` names (`s3:Get*`, `*`, `s3:GetObject`),
/// compared without case as IAM compares actions. Empty when it names none.
pub(crate) fn targets_of(pattern: &str) -> impl Iterator<Item = Target> + '_ {
    ACTIONS
        .iter()
        .filter(move |(name, _)| {
            pattern == "*"
                || pattern
                    .get(..3)
                    .is_some_and(|service| service.eq_ignore_ascii_case("s3:"))
                    && wildcard_match_ignore_case(&pattern[3..], name)
        })
        .map(|&(_, target)| target)
}

/// Whether a bucket policy may name `pattern`: `*`, or `s3:` and a name (wildcards
/// allowed) that matches at least one S3 action.
pub(crate) fn is_s3_action_pattern(pattern: &str) -> bool {
    targets_of(pattern).next().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_actions_and_patterns() {
        for valid in [
            "*",
            "s3:*",
            "s3:GetObject",
            "S3:getobject",
            "s3:Get*",
            "s3:*Object",
            "s3:ListAllMyBuckets",
            "s3:CreateBucket",
            "s3:GetBucketPolicyStatus",
            "s3:GetObjectAttributes",
            "s3:Put?bject",
        ] {
            assert!(is_s3_action_pattern(valid), "{valid}");
        }
        for invalid in [
            "",
            "s3:",
            "s3:GetObjekt",
            "s3:Frobnicate*",
            "kms:Decrypt",
            "kms:*",
            "GetObject",
            "s3*",
            "iam:PassRole",
        ] {
            assert!(!is_s3_action_pattern(invalid), "{invalid}");
        }
    }

    #[test]
    fn targets() {
        let of = |pattern: &str| targets_of(pattern).collect::<Vec<_>>();
        assert_eq!(of("s3:GetObject"), [Object]);
        assert_eq!(of("s3:ListBucket"), [Bucket]);
        assert_eq!(of("s3:ListAllMyBuckets"), [Account]);
        let all = of("s3:*");
        assert!(all.contains(&Object) && all.contains(&Bucket) && all.contains(&Account));
        assert!(!of("s3:GetObject*").contains(&Bucket));
    }
}
