//! What each service says when it refuses a policy.
//!
//! KMS and IAM describe a problem in keyhold's own words. S3 answers PutBucketPolicy
//! with short fixed messages (code `MalformedPolicy`) that users paste into search
//! engines, so bucket policies use S3's wording wherever it is known. Sources: the
//! messages AWS CLI, SDK and Terraform users quote in public issue threads (aws-cli
//! #2779 for the first byte, versity/versitygw #647-#650 and its PutBucketPolicy
//! integration tests, which are written against AWS, for effect, action, principal,
//! resource, version, "Missing required field Statement", the empty Statement and
//! invalid JSON after a leading `{`). Where S3's wording is unknown (an unknown
//! field, a duplicate JSON key, a malformed Condition) the shared wording is kept.

use crate::document::PolicyKind;
use crate::error::PolicyError;
use crate::json::Json;

/// S3's message for a bucket policy over [`crate::MAX_BUCKET_POLICY_BYTES`]. S3 documents the
/// 20 KB limit but not this error; this is the message S3-compatible servers return
/// (MinIO, with its own code `PolicyTooLarge`, which is not in S3's list of error
/// codes), so keyhold reports it as `MalformedPolicy` with this text.
pub const BUCKET_POLICY_TOO_LARGE: &str = "Policy exceeds the maximum allowed document size.";

/// Something wrong with a policy whose wording differs between services.
pub(crate) enum Problem<'a> {
    TooLarge,
    /// Bucket policies only: S3 checks the first byte before parsing.
    NoLeadingBrace,
    NotJson(&'a serde_json::Error),
    BadVersion,
    NoStatement,
    EmptyStatementList,
    NoEffect,
    BadEffect(&'a Json),
    NoPrincipal,
    InvalidPrincipal,
    /// Neither `field` nor `not_field` (`Action`/`NotAction`, `Resource`/`NotResource`).
    NoElement {
        field: &'a str,
        not_field: &'a str,
    },
    /// `name` is neither a string nor a non-empty array of strings.
    BadElementType {
        name: &'a str,
    },
    InvalidAction(&'a str),
    EmptyResource,
}

impl PolicyKind {
    pub(crate) fn refuse(self, problem: Problem) -> PolicyError {
        match self {
            PolicyKind::Key | PolicyKind::Identity => self.refuse_in_kms_words(problem),
            PolicyKind::Bucket => PolicyError::Malformed(s3_message(problem)),
        }
    }

    fn refuse_in_kms_words(self, problem: Problem) -> PolicyError {
        let message = match problem {
            Problem::TooLarge => return PolicyError::TooLarge,
            Problem::NotJson(error) => match self {
                PolicyKind::Identity => format!("The identity policy is not valid JSON: {error}."),
                _ => format!("The new key policy is not valid JSON: {error}."),
            },
            // Only bucket policies check the first byte on its own.
            Problem::NoLeadingBrace => "Policy must be a JSON object.".to_owned(),
            Problem::BadVersion => {
                "Policy has an invalid Version: it must be \"2012-10-17\" or \"2008-10-17\"."
                    .to_owned()
            }
            Problem::NoStatement => "Policy has no Statement.".to_owned(),
            Problem::EmptyStatementList => {
                "Policy Statement must be a statement object or a non-empty array of statement objects."
                    .to_owned()
            }
            Problem::NoEffect => "Policy contains a statement with no Effect.".to_owned(),
            Problem::BadEffect(value) => format!(
                "Policy contains a statement with an invalid Effect \"{}\": it must be \"Allow\" or \"Deny\".",
                shown(value)
            ),
            Problem::NoPrincipal => "Policy contains a statement with no Principal.".to_owned(),
            Problem::InvalidPrincipal => crate::principal::INVALID_PRINCIPALS.to_owned(),
            Problem::NoElement { field, not_field } => {
                format!("Policy contains a statement with no {field} or {not_field}.")
            }
            Problem::BadElementType { name } => format!(
                "Policy contains a statement whose {name} is not a string or a non-empty array of strings."
            ),
            Problem::InvalidAction(action) => format!(
                "Policy contains a statement with an invalid action \"{action}\": an action is \"*\" or \"<service>:<name>\", such as \"kms:Decrypt\"."
            ),
            Problem::EmptyResource => {
                "Policy contains a statement with an empty resource.".to_owned()
            }
        };
        PolicyError::Malformed(message)
    }
}

fn s3_message(problem: Problem) -> String {
    let fixed = match problem {
        Problem::TooLarge => BUCKET_POLICY_TOO_LARGE,
        Problem::NoLeadingBrace => "Policies must be valid JSON and the first byte must be '{'",
        Problem::NotJson(_) => "This policy contains invalid Json",
        Problem::BadVersion => "The policy must contain a valid version string",
        Problem::NoStatement => "Missing required field Statement",
        Problem::EmptyStatementList => "Could not parse the policy: Statement is empty!",
        Problem::NoEffect => "Missing required field Effect",
        Problem::BadEffect(value) => return format!("Invalid effect: {}", shown(value)),
        Problem::NoPrincipal => "Missing required field Principal",
        Problem::InvalidPrincipal => S3_INVALID_PRINCIPAL,
        Problem::NoElement { field, .. } => return format!("Missing required field {field}"),
        Problem::BadElementType { name } if name.ends_with("Action") => S3_INVALID_ACTION,
        Problem::BadElementType { .. } => S3_INVALID_RESOURCE,
        Problem::InvalidAction(_) => S3_INVALID_ACTION,
        Problem::EmptyResource => S3_INVALID_RESOURCE,
    };
    fixed.to_owned()
}

pub(crate) const S3_INVALID_PRINCIPAL: &str = "Invalid principal in policy";
pub(crate) const S3_INVALID_ACTION: &str = "Policy has invalid action";
pub(crate) const S3_INVALID_RESOURCE: &str = "Policy has invalid resource";

/// A JSON value as a user wrote it: strings without their quotes.
fn shown(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}
