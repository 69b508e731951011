//! Policy documents: parsing and validation.
//!
//! Validation is strict (unknown fields, duplicate keys and malformed values are
//! refused) because a policy that is silently read differently from how its author
//! meant it is an access-control bug, and refusing costs the author one retry.

use crate::condition::{Condition, parse_conditions};
use crate::context::RequestValues;
use crate::error::PolicyError;
use crate::json::Json;
use crate::matching::{wildcard_match, wildcard_match_ignore_case};
use crate::messages::Problem;
use crate::principal::{PrincipalMatch, PrincipalSet, Requester};
use crate::s3::{MAX_BUCKET_POLICY_BYTES, is_s3_action_pattern};

/// Policies are at most 32 KiB (AWS's limit for key policies), counted in UTF-8 bytes.
pub const MAX_POLICY_BYTES: usize = 32768;

const DOCUMENT_FIELDS: [&str; 3] = ["Version", "Id", "Statement"];
const STATEMENT_FIELDS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// The places a policy can live. Resource policies (key and bucket policies) name
/// principals, an identity policy is about its owner; each service words its refusals
/// its own way (see [`crate::messages`]), and a bucket policy names S3 actions only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolicyKind {
    Key,
    Identity,
    Bucket,
}

impl PolicyKind {
    fn max_bytes(self) -> usize {
        match self {
            PolicyKind::Key | PolicyKind::Identity => MAX_POLICY_BYTES,
            PolicyKind::Bucket => MAX_BUCKET_POLICY_BYTES,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PrincipalClause {
    Principal(PrincipalSet),
    NotPrincipal(PrincipalSet),
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: wildcard patterns, and whether
/// the statement is about what they match or about everything else.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PatternList {
    pub(crate) patterns: Vec<String>,
    pub(crate) negated: bool,
}

impl PatternList {
    fn covers(&self, text: &str, matches: fn(&str, &str) -> bool) -> bool {
        self.patterns.iter().any(|p| matches(p, text)) != self.negated
    }
}

/// One validated statement of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    /// `None` in identity policies, whose statements are about the policy's owner.
    principal: Option<PrincipalClause>,
    actions: PatternList,
    resources: PatternList,
    conditions: Vec<Condition>,
}

impl Statement {
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Whether the statement is about this action on this resource under these
    /// condition values, whoever the caller is.
    pub(crate) fn covers(&self, action: &str, resource: &str, values: &RequestValues) -> bool {
        self.actions.covers(action, wildcard_match_ignore_case)
            && self.resources.covers(resource, wildcard_match)
            && self.conditions.iter().all(|c| c.holds(values))
    }

    pub(crate) fn principal_match(&self, requester: &Requester) -> PrincipalMatch {
        match &self.principal {
            None => PrincipalMatch::Direct,
            Some(PrincipalClause::Principal(set)) => set.match_requester(requester),
            Some(PrincipalClause::NotPrincipal(set)) if set.names_requester(requester) => {
                PrincipalMatch::No
            }
            Some(PrincipalClause::NotPrincipal(_)) => PrincipalMatch::Direct,
        }
    }

    pub(crate) fn principal_clause(&self) -> Option<&PrincipalClause> {
        self.principal.as_ref()
    }

    pub(crate) fn actions(&self) -> &PatternList {
        &self.actions
    }

    pub(crate) fn resources(&self) -> &PatternList {
        &self.resources
    }

    pub(crate) fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

/// A parsed, validated policy document (key policy or identity policy).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    version: Option<String>,
    id: Option<String>,
    statements: Vec<Statement>,
}

impl PolicyDocument {
    /// Key policies: every statement must have Principal (or NotPrincipal).
    pub fn parse_key_policy(json: &str) -> Result<PolicyDocument, PolicyError> {
        parse_tree(json, PolicyKind::Key).map(|(_, document)| document)
    }

    /// Identity policies (attached to a user): statements have no Principal.
    pub fn parse_identity_policy(json: &str) -> Result<PolicyDocument, PolicyError> {
        parse_tree(json, PolicyKind::Identity).map(|(_, document)| document)
    }

    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

/// Validates `json` and returns both the document and the tree it was read from,
/// so that the console edits can change the tree and keep everything else as is.
pub(crate) fn parse_tree(
    json: &str,
    kind: PolicyKind,
) -> Result<(Json, PolicyDocument), PolicyError> {
    if json.len() > kind.max_bytes() {
        return Err(kind.refuse(Problem::TooLarge));
    }
    if kind == PolicyKind::Bucket && !json.starts_with('{') {
        return Err(kind.refuse(Problem::NoLeadingBrace));
    }
    let tree = Json::parse(json).map_err(|e| kind.refuse(Problem::NotJson(&e)))?;
    if let Some(key) = first_duplicate_key(&tree) {
        return Err(PolicyError::malformed(format!(
            "Policy contains a duplicate JSON key \"{key}\"."
        )));
    }
    let document = parse_document(&tree, kind)?;
    Ok((tree, document))
}

fn parse_document(tree: &Json, kind: PolicyKind) -> Result<PolicyDocument, PolicyError> {
    let Json::Object(fields) = tree else {
        return Err(PolicyError::malformed("Policy must be a JSON object."));
    };
    if let Some((unknown, _)) = fields
        .iter()
        .find(|(k, _)| !DOCUMENT_FIELDS.contains(&k.as_str()))
    {
        return Err(PolicyError::malformed(format!(
            "Policy contains an unknown field \"{unknown}\"."
        )));
    }
    let version = match tree.get("Version") {
        None => None,
        Some(Json::String(v)) if v == "2012-10-17" || v == "2008-10-17" => Some(v.clone()),
        Some(_) => return Err(kind.refuse(Problem::BadVersion)),
    };
    let id = match tree.get("Id") {
        None => None,
        Some(Json::String(id)) => Some(id.clone()),
        Some(_) => return Err(PolicyError::malformed("Policy Id must be a string.")),
    };
    let bad_statement_list = || kind.refuse(Problem::EmptyStatementList);
    let statements = match tree.get("Statement") {
        None => return Err(kind.refuse(Problem::NoStatement)),
        Some(single @ Json::Object(_)) => vec![parse_statement(single, kind)?],
        Some(Json::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Json::Object(_) => parse_statement(item, kind),
                _ => Err(bad_statement_list()),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad_statement_list()),
    };
    Ok(PolicyDocument {
        version,
        id,
        statements,
    })
}

fn parse_statement(statement: &Json, kind: PolicyKind) -> Result<Statement, PolicyError> {
    let Json::Object(fields) = statement else {
        unreachable!("callers pass objects only");
    };
    if let Some((unknown, _)) = fields
        .iter()
        .find(|(k, _)| !STATEMENT_FIELDS.contains(&k.as_str()))
    {
        return Err(PolicyError::malformed(format!(
            "Policy contains a statement with an unknown field \"{unknown}\"."
        )));
    }
    let sid = match statement.get("Sid") {
        None => None,
        Some(Json::String(sid)) => Some(sid.clone()),
        Some(_) => {
            return Err(PolicyError::malformed(
                "Policy contains a statement whose Sid is not a string.",
            ));
        }
    };
    let effect = match statement.get("Effect") {
        None => return Err(kind.refuse(Problem::NoEffect)),
        Some(Json::String(e)) if e == "Allow" => Effect::Allow,
        Some(Json::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => return Err(kind.refuse(Problem::BadEffect(other))),
    };
    let principal = parse_principal_clause(statement, kind)?;
    let actions = parse_pattern_list(statement, kind, "Action", "NotAction")?;
    for action in &actions.patterns {
        validate_action(action, kind)?;
    }
    let resources = parse_pattern_list(statement, kind, "Resource", "NotResource")?;
    for resource in &resources.patterns {
        if resource.trim().is_empty() {
            return Err(kind.refuse(Problem::EmptyResource));
        }
    }
    let conditions = match statement.get("Condition") {
        None => Vec::new(),
        Some(condition) => parse_conditions(condition)?,
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        actions,
        resources,
        conditions,
    })
}

fn parse_principal_clause(
    statement: &Json,
    kind: PolicyKind,
) -> Result<Option<PrincipalClause>, PolicyError> {
    let principal = statement.get("Principal");
    let not_principal = statement.get("NotPrincipal");
    let parse =
        |value| PrincipalSet::parse(value).ok_or_else(|| kind.refuse(Problem::InvalidPrincipal));
    match (kind, principal, not_principal) {
        (PolicyKind::Identity, None, None) => Ok(None),
        (PolicyKind::Identity, _, _) => Err(PolicyError::malformed(
            "Policy document should not specify a principal.",
        )),
        (_, Some(_), Some(_)) => Err(PolicyError::malformed(
            "Policy contains a statement with both Principal and NotPrincipal.",
        )),
        (_, None, None) => Err(kind.refuse(Problem::NoPrincipal)),
        (_, Some(p), None) => Ok(Some(PrincipalClause::Principal(parse(p)?))),
        (_, None, Some(p)) => Ok(Some(PrincipalClause::NotPrincipal(parse(p)?))),
    }
}

/// Reads an element that has a positive and a negated form, exactly one of which a
/// statement must have.
fn parse_pattern_list(
    statement: &Json,
    kind: PolicyKind,
    field: &str,
    not_field: &str,
) -> Result<PatternList, PolicyError> {
    let (value, name, negated) = match (statement.get(field), statement.get(not_field)) {
        (Some(_), Some(_)) => {
            return Err(PolicyError::malformed(format!(
                "Policy contains a statement with both {field} and {not_field}."
            )));
        }
        (None, None) => return Err(kind.refuse(Problem::NoElement { field, not_field })),
        (Some(value), None) => (value, field, false),
        (None, Some(value)) => (value, not_field, true),
    };
    let bad_type = || kind.refuse(Problem::BadElementType { name });
    let patterns: Vec<String> = match value {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(bad_type))
            .collect::<Result<_, _>>()?,
        _ => return Err(bad_type()),
    };
    Ok(PatternList { patterns, negated })
}

/// An action is `*` or `<service>:<name>`; a bare `Decrypt` is refused because it
/// would never match anything and is certainly a mistake. A bucket policy may name
/// S3 actions only, and only ones that exist (S3 refuses `s3:GetObjekt`).
fn validate_action(action: &str, kind: PolicyKind) -> Result<(), PolicyError> {
    let valid = match kind {
        PolicyKind::Bucket => is_s3_action_pattern(action),
        PolicyKind::Key | PolicyKind::Identity => {
            action == "*"
                || action.split_once(':').is_some_and(|(service, name)| {
                    !service.is_empty()
                        && service
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*' || c == '?')
                        && !name.is_empty()
                        && !name.chars().any(char::is_whitespace)
                })
        }
    };
    if valid {
        Ok(())
    } else {
        Err(kind.refuse(Problem::InvalidAction(action)))
    }
}

fn first_duplicate_key(tree: &Json) -> Option<&str> {
    match tree {
        Json::Object(fields) => fields
            .iter()
            .enumerate()
            .find(|(i, (key, _))| fields[..*i].iter().any(|(k, _)| k == key))
            .map(|(_, (key, _))| key.as_str())
            .or_else(|| fields.iter().find_map(|(_, v)| first_duplicate_key(v))),
        Json::Array(items) => items.iter().find_map(first_duplicate_key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_STATEMENT: &str = r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "kms:*", "Resource": "*"}"#;

    fn key_policy_with(statement: &str) -> String {
        format!(r#"{{"Version": "2012-10-17", "Statement": [{statement}]}}"#)
    }

    fn malformed_key_policy(json: &str) -> String {
        match PolicyDocument::parse_key_policy(json) {
            Err(PolicyError::Malformed(message)) => message,
            other => panic!("{json} parsed as {other:?}"),
        }
    }

    fn malformed_identity_policy(json: &str) -> String {
        match PolicyDocument::parse_identity_policy(json) {
            Err(PolicyError::Malformed(message)) => message,
            other => panic!("{json} parsed as {other:?}"),
        }
    }

    /// Replaces a field of [`KEY_STATEMENT`] (or adds it, or with `None` removes it).
    fn statement_with(field: &str, value: Option<&str>) -> String {
        let Json::Object(mut fields) = Json::parse(KEY_STATEMENT).unwrap() else {
            unreachable!()
        };
        fields.retain(|(k, _)| k != field);
        if let Some(value) = value {
            fields.push((field.to_owned(), Json::parse(value).unwrap()));
        }
        serde_json::to_string(&Json::Object(fields)).unwrap()
    }

    #[test]
    fn parses_a_key_policy() {
        let policy = PolicyDocument::parse_key_policy(&format!(
            r#"{{"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{}]}}"#,
            statement_with("Sid", Some(r#""Enable IAM User Permissions""#))
        ))
        .unwrap();
        assert_eq!(policy.version(), Some("2012-10-17"));
        assert_eq!(policy.id(), Some("key-default-1"));
        assert_eq!(policy.statements().len(), 1);
        assert_eq!(
            policy.statements()[0].sid(),
            Some("Enable IAM User Permissions")
        );
        assert_eq!(policy.statements()[0].effect(), Effect::Allow);
    }

    #[test]
    fn statement_may_be_a_single_object_and_version_id_optional() {
        let policy =
            PolicyDocument::parse_key_policy(&format!(r#"{{"Statement": {KEY_STATEMENT}}}"#))
                .unwrap();
        assert_eq!(policy.version(), None);
        assert_eq!(policy.id(), None);
        assert_eq!(policy.statements().len(), 1);
        let old = format!(r#"{{"Version": "2008-10-17", "Statement": {KEY_STATEMENT}}}"#);
        assert!(PolicyDocument::parse_key_policy(&old).is_ok());
    }

    #[test]
    fn parses_an_identity_policy() {
        let policy = PolicyDocument::parse_identity_policy(
            r#"{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "arn:aws:kms:*:000000000000:key/*"},
                {"Effect": "Deny", "NotAction": "kms:Describe*", "NotResource": "*"}]}"#,
        )
        .unwrap();
        assert_eq!(policy.statements().len(), 2);
        assert_eq!(policy.statements()[1].effect(), Effect::Deny);
    }

    #[test]
    fn not_json() {
        let message = malformed_key_policy("{\"Statement\": ");
        assert!(
            message.starts_with("The new key policy is not valid JSON: "),
            "{message}"
        );
        assert!(message.contains("line 1 column"), "{message}");
        assert_eq!(
            malformed_key_policy("<policy/>"),
            "The new key policy is not valid JSON: expected value at line 1 column 1."
        );
        assert!(
            malformed_identity_policy("").starts_with("The identity policy is not valid JSON: ")
        );
        assert!(malformed_key_policy("{} {}").contains("trailing characters"));
    }

    #[test]
    fn document_shape() {
        assert_eq!(malformed_key_policy("[]"), "Policy must be a JSON object.");
        assert_eq!(
            malformed_key_policy(r#"{"Version": "2012-10-17"}"#),
            "Policy has no Statement."
        );
        let bad_list = "Policy Statement must be a statement object or a non-empty array of statement objects.";
        assert_eq!(malformed_key_policy(r#"{"Statement": []}"#), bad_list);
        assert_eq!(malformed_key_policy(r#"{"Statement": "x"}"#), bad_list);
        assert_eq!(
            malformed_key_policy(&format!(r#"{{"Statement": [{KEY_STATEMENT}, 1]}}"#)),
            bad_list
        );
        let bad_version =
            "Policy has an invalid Version: it must be \"2012-10-17\" or \"2008-10-17\".";
        assert_eq!(
            malformed_key_policy(&format!(
                r#"{{"Version": "2012-10-18", "Statement": {KEY_STATEMENT}}}"#
            )),
            bad_version
        );
        assert_eq!(
            malformed_key_policy(&format!(
                r#"{{"Version": 2012, "Statement": {KEY_STATEMENT}}}"#
            )),
            bad_version
        );
        assert_eq!(
            malformed_key_policy(&format!(r#"{{"Id": 1, "Statement": {KEY_STATEMENT}}}"#)),
            "Policy Id must be a string."
        );
        assert_eq!(
            malformed_key_policy(&format!(
                r#"{{"Statement": {KEY_STATEMENT}, "Condition": {{}}}}"#
            )),
            "Policy contains an unknown field \"Condition\"."
        );
        assert_eq!(
            malformed_key_policy(&format!(
                r#"{{"Id": "a", "Id": "b", "Statement": {KEY_STATEMENT}}}"#
            )),
            "Policy contains a duplicate JSON key \"Id\"."
        );
        assert_eq!(
            malformed_key_policy(&key_policy_with(
                r#"{"Effect": "Allow", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}"#
            )),
            "Policy contains a duplicate JSON key \"Effect\"."
        );
    }

    #[test]
    fn statement_fields() {
        let check = |field: &str, value: Option<&str>, expected: &str| {
            assert_eq!(
                malformed_key_policy(&key_policy_with(&statement_with(field, value))),
                expected,
                "{field} = {value:?}"
            );
        };
        check(
            "Effect",
            Some(r#""Permit""#),
            "Policy contains a statement with an invalid Effect \"Permit\": it must be \"Allow\" or \"Deny\".",
        );
        check(
            "Effect",
            Some(r#""allow""#),
            "Policy contains a statement with an invalid Effect \"allow\": it must be \"Allow\" or \"Deny\".",
        );
        check(
            "Effect",
            Some("true"),
            "Policy contains a statement with an invalid Effect \"true\": it must be \"Allow\" or \"Deny\".",
        );
        check(
            "Effect",
            None,
            "Policy contains a statement with no Effect.",
        );
        check(
            "Sid",
            Some("7"),
            "Policy contains a statement whose Sid is not a string.",
        );
        check(
            "Actions",
            Some(r#""kms:*""#),
            "Policy contains a statement with an unknown field \"Actions\".",
        );
        check(
            "NotAction",
            Some(r#""kms:Decrypt""#),
            "Policy contains a statement with both Action and NotAction.",
        );
        check(
            "Action",
            None,
            "Policy contains a statement with no Action or NotAction.",
        );
        check(
            "Action",
            Some("[]"),
            "Policy contains a statement whose Action is not a string or a non-empty array of strings.",
        );
        check(
            "Action",
            Some(r#"["kms:Decrypt", 3]"#),
            "Policy contains a statement whose Action is not a string or a non-empty array of strings.",
        );
        check(
            "Action",
            Some(r#""Decrypt""#),
            "Policy contains a statement with an invalid action \"Decrypt\": an action is \"*\" or \"<service>:<name>\", such as \"kms:Decrypt\".",
        );
        check(
            "Action",
            Some(r#""kms:""#),
            "Policy contains a statement with an invalid action \"kms:\": an action is \"*\" or \"<service>:<name>\", such as \"kms:Decrypt\".",
        );
        check(
            "NotResource",
            Some(r#""*""#),
            "Policy contains a statement with both Resource and NotResource.",
        );
        check(
            "Resource",
            None,
            "Policy contains a statement with no Resource or NotResource.",
        );
        check(
            "Resource",
            Some("{}"),
            "Policy contains a statement whose Resource is not a string or a non-empty array of strings.",
        );
        check(
            "Resource",
            Some(r#""""#),
            "Policy contains a statement with an empty resource.",
        );
        check(
            "NotPrincipal",
            Some(r#"{"AWS": "*"}"#),
            "Policy contains a statement with both Principal and NotPrincipal.",
        );
        check(
            "Principal",
            None,
            "Policy contains a statement with no Principal.",
        );
        check(
            "Principal",
            Some(r#"{"AWS": "arn:aws:iam::000000000000:user/"}"#),
            "Policy contains a statement with one or more invalid principals.",
        );
        check(
            "Principal",
            Some(r#"{"AWS": "AWSLabsUser-0001"}"#),
            "Policy contains a statement with one or more invalid principals.",
        );
        check(
            "Condition",
            Some(r#"{"StringEqualsAny": {"kms:ViaService": "x"}}"#),
            "Policy contains a statement with an unknown condition operator \"StringEqualsAny\".",
        );
    }

    #[test]
    fn negated_forms_are_accepted() {
        let statement = r#"{"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::000000000000:root"},
            "NotAction": ["kms:Describe*", "kms:Get*"], "NotResource": "arn:aws:kms:*:*:key/x"}"#;
        assert!(PolicyDocument::parse_key_policy(&key_policy_with(statement)).is_ok());
    }

    #[test]
    fn identity_policies_have_no_principal() {
        let with_principal = key_policy_with(KEY_STATEMENT);
        assert_eq!(
            malformed_identity_policy(&with_principal),
            "Policy document should not specify a principal."
        );
        let with_not_principal = key_policy_with(
            r#"{"Effect": "Allow", "NotPrincipal": "*", "Action": "kms:*", "Resource": "*"}"#,
        );
        assert_eq!(
            malformed_identity_policy(&with_not_principal),
            "Policy document should not specify a principal."
        );
        let without = key_policy_with(r#"{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}"#);
        assert_eq!(
            malformed_key_policy(&without),
            "Policy contains a statement with no Principal."
        );
        assert!(PolicyDocument::parse_identity_policy(&without).is_ok());
        assert_eq!(
            malformed_identity_policy(&key_policy_with(
                r#"{"Effect": "Allow", "Action": "kms:*"}"#
            )),
            "Policy contains a statement with no Resource or NotResource."
        );
    }

    /// A valid key policy padded with spaces to exactly `len` bytes.
    fn policy_of_len(len: usize) -> String {
        let mut policy = key_policy_with(KEY_STATEMENT);
        let padding = len - policy.len();
        policy.insert_str(1, &" ".repeat(padding));
        assert_eq!(policy.len(), len);
        policy
    }

    #[test]
    fn size_limit() {
        assert!(PolicyDocument::parse_key_policy(&policy_of_len(MAX_POLICY_BYTES)).is_ok());
        assert_eq!(
            PolicyDocument::parse_key_policy(&policy_of_len(MAX_POLICY_BYTES + 1)),
            Err(PolicyError::TooLarge)
        );
        assert_eq!(
            PolicyDocument::parse_identity_policy(&"x".repeat(MAX_POLICY_BYTES + 1)),
            Err(PolicyError::TooLarge),
            "the size is checked before the JSON"
        );
        assert_eq!(
            PolicyError::TooLarge.to_string(),
            "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 32768"
        );
    }

    #[test]
    fn size_counts_utf8_bytes() {
        // 'é' is two bytes: 16385 of them are 32770 bytes but 16385 characters.
        let description = "é".repeat(16_385);
        let policy = format!(r#"{{"Id": "{description}", "Statement": {KEY_STATEMENT}}}"#);
        assert!(policy.chars().count() < MAX_POLICY_BYTES);
        assert_eq!(
            PolicyDocument::parse_key_policy(&policy),
            Err(PolicyError::TooLarge)
        );
    }
}
