//! The `Condition` element: parsing it and deciding whether it holds for a request.
//!
//! IAM's rules, which this module follows:
//! - every (operator, key) pair must hold; the policy values listed for one key are
//!   alternatives (any one may match);
//! - a plain operator on an absent key does not hold, except a negated operator
//!   (`StringNotEquals` ...) or an `...IfExists` operator, which do;
//! - `ForAllValues:` holds when every request value matches, so also when the key is
//!   absent; `ForAnyValue:` needs at least one request value that matches;
//! - `Null` holds for `"true"` when the key is absent and for `"false"` when present.

use crate::context::{RequestValues, normalize_key};
use crate::error::PolicyError;
use crate::json::Json;
use crate::operator::{Comparison, Operator, parse_cidr};

/// How a condition treats a key with several request values (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    Single,
    ForAllValues,
    ForAnyValue,
}

/// One condition key under one operator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    operator: Operator,
    qualifier: SetQualifier,
    if_exists: bool,
    /// Normalized with [`normalize_key`] so that lookups need no case folding.
    key: String,
    /// Booleans and numbers are kept in their JSON text form, as IAM compares them.
    values: Vec<String>,
}

/// Parses a statement's `Condition` object into its (operator, key) conditions.
pub(crate) fn parse_conditions(value: &Json) -> Result<Vec<Condition>, PolicyError> {
    let Json::Object(blocks) = value else {
        return Err(PolicyError::malformed(
            "Policy contains a statement whose Condition is not a JSON object.",
        ));
    };
    let mut conditions = Vec::new();
    for (operator_name, block) in blocks {
        let (operator, qualifier, if_exists) =
            parse_operator_name(operator_name).ok_or_else(|| {
                PolicyError::malformed(format!(
                    "Policy contains a statement with an unknown condition operator \"{operator_name}\"."
                ))
            })?;
        let Json::Object(keys) = block else {
            return Err(PolicyError::malformed(format!(
                "Condition operator \"{operator_name}\" must map condition keys to values, not {}.",
                block.kind()
            )));
        };
        for (key, values) in keys {
            if key.trim().is_empty() {
                return Err(PolicyError::malformed(format!(
                    "Condition operator \"{operator_name}\" has an empty condition key."
                )));
            }
            let values = condition_values(values).ok_or_else(|| {
                PolicyError::malformed(format!(
                    "Condition key \"{key}\" of operator \"{operator_name}\" must have a string, boolean or number value, or a non-empty array of them."
                ))
            })?;
            if let Some(bad) = values
                .iter()
                .find(|v| !operator.comparison.accepts_policy_value(v))
            {
                return Err(PolicyError::malformed(format!(
                    "Condition key \"{key}\" of operator \"{operator_name}\" has an invalid value \"{bad}\"."
                )));
            }
            conditions.push(Condition {
                operator,
                qualifier,
                if_exists,
                key: normalize_key(key),
                values,
            });
        }
    }
    Ok(conditions)
}

/// Splits `ForAnyValue:StringLikeIfExists` into its parts. `Null` takes neither a
/// qualifier nor `IfExists`, since both would contradict what it tests.
fn parse_operator_name(name: &str) -> Option<(Operator, SetQualifier, bool)> {
    let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAllValues:") {
        (SetQualifier::ForAllValues, rest)
    } else if let Some(rest) = name.strip_prefix("ForAnyValue:") {
        (SetQualifier::ForAnyValue, rest)
    } else {
        (SetQualifier::Single, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let operator = Operator::from_name(base)?;
    let plain = qualifier == SetQualifier::Single && !if_exists;
    (operator.comparison != Comparison::Null || plain).then_some((operator, qualifier, if_exists))
}

fn condition_values(value: &Json) -> Option<Vec<String>> {
    fn scalar(value: &Json) -> Option<String> {
        match value {
            Json::String(s) => Some(s.clone()),
            Json::Bool(b) => Some(b.to_string()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    match value {
        Json::Array(items) if !items.is_empty() => items.iter().map(scalar).collect(),
        Json::Array(_) => None,
        other => scalar(other).map(|v| vec![v]),
    }
}

impl Condition {
    /// Normalized, see [`normalize_key`].
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Whether the condition holds only when the key is present with one of a fixed
    /// set of values, which is what Block Public Access asks of a condition that makes
    /// a statement for `*` non-public. Not so for negated operators, `...IfExists` and
    /// `ForAllValues:` (all of which hold when the key is absent), for wildcards in a
    /// `...Like` value, or for an `IpAddress` block of every address (`0.0.0.0/0`).
    pub(crate) fn fixes_values(&self) -> bool {
        use Comparison::*;
        if self.operator.negated || self.if_exists || self.qualifier == SetQualifier::ForAllValues {
            return false;
        }
        match self.operator.comparison {
            StringEquals | StringEqualsIgnoreCase | BinaryEquals => true,
            StringLike | ArnLike => self.values.iter().all(|v| !v.contains(['*', '?'])),
            IpAddress => self
                .values
                .iter()
                .all(|v| parse_cidr(v).is_some_and(|(_, prefix)| prefix > 0)),
            NumericEquals
            | NumericLessThan
            | NumericLessThanEquals
            | NumericGreaterThan
            | NumericGreaterThanEquals
            | DateEquals
            | DateLessThan
            | DateLessThanEquals
            | DateGreaterThan
            | DateGreaterThanEquals
            | Bool
            | Null => false,
        }
    }

    pub(crate) fn holds(&self, request: &RequestValues) -> bool {
        let present = request.get(&self.key);
        if self.operator.comparison == Comparison::Null {
            return self.values.iter().any(|v| {
                let wants_absent = v.eq_ignore_ascii_case("true");
                wants_absent == present.is_none()
            });
        }
        let Some(request_values) = present else {
            return match self.qualifier {
                SetQualifier::Single => self.if_exists || self.operator.negated,
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => self.if_exists,
            };
        };
        match self.qualifier {
            SetQualifier::Single => {
                let any_match = request_values.iter().any(|v| self.matches_positive(v));
                any_match != self.operator.negated
            }
            SetQualifier::ForAllValues => request_values.iter().all(|v| self.value_holds(v)),
            SetQualifier::ForAnyValue => request_values.iter().any(|v| self.value_holds(v)),
        }
    }

    /// Whether the operator, negation included, holds for one request value.
    fn value_holds(&self, request_value: &str) -> bool {
        self.matches_positive(request_value) != self.operator.negated
    }

    fn matches_positive(&self, request_value: &str) -> bool {
        self.values.iter().any(|policy_value| {
            self.operator
                .comparison
                .matches(request_value, policy_value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ConditionContext;
    use crate::evaluate::Caller;

    const CALLER: Caller<'static> = Caller {
        arn: "arn:aws:iam::000000000000:user/AWSLabsUser-0001",
        account_id: "000000000000",
        is_account_root: false,
        identity_policy: None,
    };

    fn parse(condition: &str) -> Result<Vec<Condition>, PolicyError> {
        parse_conditions(&Json::parse(condition).unwrap())
    }

    /// Whether every condition of `condition` holds for `context`.
    fn holds(condition: &str, context: &ConditionContext) -> bool {
        let request = RequestValues::new(context, &CALLER);
        parse(condition).unwrap().iter().all(|c| c.holds(&request))
    }

    fn ctx(pairs: &[(&str, &[&str])]) -> ConditionContext {
        let mut context = ConditionContext::new();
        for (key, values) in pairs {
            context.insert(key, values.iter().map(|v| v.to_string()).collect());
        }
        context
    }

    fn empty() -> ConditionContext {
        ConditionContext::new()
    }

    #[test]
    fn string_equals() {
        let c = r#"{"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}"#;
        assert!(holds(
            c,
            &ctx(&[("kms:ViaService", &["s3.us-east-1.amazonaws.com"])])
        ));
        assert!(!holds(
            c,
            &ctx(&[("kms:ViaService", &["ec2.us-east-1.amazonaws.com"])])
        ));
        assert!(!holds(
            c,
            &ctx(&[("kms:ViaService", &["S3.us-east-1.amazonaws.com"])])
        ));
        assert!(!holds(c, &empty()));
    }

    #[test]
    fn values_of_a_key_are_alternatives_and_keys_must_all_hold() {
        let c = r#"{"StringEquals": {
            "kms:ViaService": ["s3.us-east-1.amazonaws.com", "ec2.us-east-1.amazonaws.com"],
            "kms:CallerAccount": "000000000000"}}"#;
        assert!(holds(
            c,
            &ctx(&[("kms:ViaService", &["ec2.us-east-1.amazonaws.com"])])
        ));
        assert!(!holds(
            c,
            &ctx(&[("kms:ViaService", &["rds.us-east-1.amazonaws.com"])])
        ));
        let other_account = ctx(&[
            ("kms:ViaService", &["ec2.us-east-1.amazonaws.com"]),
            ("kms:CallerAccount", &["111111111111"]),
        ]);
        assert!(!holds(c, &other_account));
    }

    #[test]
    fn operators_within_a_condition_must_all_hold() {
        let c = r#"{"StringEquals": {"kms:EncryptionContext:Dept": "IT"},
                    "Bool": {"kms:GrantIsForAWSResource": true}}"#;
        let both = empty()
            .with_encryption_context([("Dept", "IT")])
            .with("kms:GrantIsForAWSResource", vec!["true".into()]);
        assert!(holds(c, &both));
        assert!(!holds(
            c,
            &empty().with_encryption_context([("Dept", "IT")])
        ));
    }

    #[test]
    fn string_not_equals() {
        let c = r#"{"StringNotEquals": {"kms:CallerAccount": ["111111111111", "222222222222"]}}"#;
        assert!(
            holds(c, &empty()),
            "kms:CallerAccount comes from the caller"
        );
        assert!(!holds(c, &ctx(&[("kms:CallerAccount", &["222222222222"])])));
        let absent = r#"{"StringNotEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}"#;
        assert!(
            holds(absent, &empty()),
            "negated operators hold on absent keys"
        );
    }

    #[test]
    fn ignore_case_operators() {
        let c = r#"{"StringEqualsIgnoreCase": {"kms:EncryptionContext:Dept": "it"}}"#;
        assert!(holds(c, &empty().with_encryption_context([("Dept", "IT")])));
        assert!(!holds(
            c,
            &empty().with_encryption_context([("Dept", "HR")])
        ));
        assert!(!holds(
            c,
            &empty().with_encryption_context([("dept", "IT")])
        ));
        let not = r#"{"StringNotEqualsIgnoreCase": {"kms:EncryptionContext:Dept": "it"}}"#;
        assert!(!holds(
            not,
            &empty().with_encryption_context([("Dept", "IT")])
        ));
        assert!(holds(
            not,
            &empty().with_encryption_context([("Dept", "HR")])
        ));
    }

    #[test]
    fn like_operators() {
        let c = r#"{"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}"#;
        assert!(holds(
            c,
            &ctx(&[("kms:ViaService", &["s3.eu-west-1.amazonaws.com"])])
        ));
        assert!(!holds(
            c,
            &ctx(&[("kms:ViaService", &["ec2.eu-west-1.amazonaws.com"])])
        ));
        assert!(!holds(c, &empty()));
        let not = r#"{"StringNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}"#;
        assert!(
            holds(not, &empty()),
            "aws:PrincipalArn comes from the caller"
        );
        let role = ctx(&[("aws:PrincipalArn", &["arn:aws:iam::000000000000:role/x"])]);
        assert!(!holds(not, &role));
    }

    #[test]
    fn condition_keys_are_case_insensitive_but_context_keys_are_not() {
        let c = r#"{"StringEquals": {"KMS:ENCRYPTIONCONTEXT:Dept": "IT", "Kms:ViaService": "x"}}"#;
        let context = empty()
            .with_encryption_context([("Dept", "IT")])
            .with("kms:viaservice", vec!["x".into()]);
        assert!(holds(c, &context));
        let lower = r#"{"StringEquals": {"kms:EncryptionContext:dept": "IT"}}"#;
        assert!(!holds(lower, &context));
    }

    #[test]
    fn bool_on_grant_is_for_aws_resource() {
        let c = r#"{"Bool": {"kms:GrantIsForAWSResource": "true"}}"#;
        let yes = ctx(&[("kms:GrantIsForAWSResource", &["true"])]);
        let no = ctx(&[("kms:GrantIsForAWSResource", &["false"])]);
        assert!(holds(c, &yes));
        assert!(!holds(c, &no));
        assert!(!holds(c, &empty()));
        let json_bool = r#"{"Bool": {"kms:GrantIsForAWSResource": true}}"#;
        assert!(holds(json_bool, &yes));
        let if_exists = r#"{"BoolIfExists": {"kms:GrantIsForAWSResource": "true"}}"#;
        assert!(holds(if_exists, &empty()));
        assert!(!holds(if_exists, &no));
    }

    #[test]
    fn null() {
        let absent = r#"{"Null": {"kms:EncryptionContextKeys": "true"}}"#;
        let present = r#"{"Null": {"kms:EncryptionContextKeys": false}}"#;
        let with_context = empty().with_encryption_context([("a", "b")]);
        assert!(holds(absent, &empty()));
        assert!(!holds(absent, &with_context));
        assert!(!holds(present, &empty()));
        assert!(holds(present, &with_context));
        assert!(holds(absent, &empty().with_encryption_context([])));
    }

    #[test]
    fn if_exists() {
        let c = r#"{"StringEqualsIfExists": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}"#;
        assert!(holds(c, &empty()));
        assert!(holds(
            c,
            &ctx(&[("kms:ViaService", &["s3.us-east-1.amazonaws.com"])])
        ));
        assert!(!holds(
            c,
            &ctx(&[("kms:ViaService", &["ec2.us-east-1.amazonaws.com"])])
        ));
        let like =
            r#"{"StringLikeIfExists": {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::b/*"}}"#;
        assert!(holds(like, &empty()));
        assert!(holds(
            like,
            &empty().with_encryption_context([("aws:s3:arn", "arn:aws:s3:::b/k")])
        ));
        assert!(!holds(
            like,
            &empty().with_encryption_context([("aws:s3:arn", "arn:aws:s3:::c/k")])
        ));
    }

    #[test]
    fn for_all_values() {
        let c =
            r#"{"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["Dept", "Project"]}}"#;
        assert!(holds(c, &empty().with_encryption_context([("Dept", "IT")])));
        assert!(holds(
            c,
            &empty().with_encryption_context([("Dept", "IT"), ("Project", "X")])
        ));
        assert!(!holds(
            c,
            &empty().with_encryption_context([("Dept", "IT"), ("Other", "X")])
        ));
        assert!(
            holds(c, &empty()),
            "ForAllValues holds when the key is absent"
        );
        let not = r#"{"ForAllValues:StringNotEquals": {"kms:EncryptionContextKeys": "Secret"}}"#;
        assert!(holds(
            not,
            &empty().with_encryption_context([("a", "1"), ("b", "2")])
        ));
        assert!(!holds(
            not,
            &empty().with_encryption_context([("a", "1"), ("Secret", "2")])
        ));
    }

    #[test]
    fn for_any_value() {
        let c =
            r#"{"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["Dept", "Project"]}}"#;
        assert!(holds(
            c,
            &empty().with_encryption_context([("Other", "1"), ("Project", "X")])
        ));
        assert!(!holds(
            c,
            &empty().with_encryption_context([("Other", "1")])
        ));
        assert!(
            !holds(c, &empty()),
            "ForAnyValue does not hold when the key is absent"
        );
        let if_exists =
            r#"{"ForAnyValue:StringEqualsIfExists": {"kms:EncryptionContextKeys": "Dept"}}"#;
        assert!(holds(if_exists, &empty()));
        let like = r#"{"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": "aws:*"}}"#;
        assert!(holds(
            like,
            &empty().with_encryption_context([("aws:s3:arn", "x"), ("b", "c")])
        ));
        let not = r#"{"ForAnyValue:StringNotEquals": {"kms:EncryptionContextKeys": "a"}}"#;
        assert!(holds(
            not,
            &empty().with_encryption_context([("a", "1"), ("b", "2")])
        ));
        assert!(!holds(not, &empty().with_encryption_context([("a", "1")])));
    }

    #[test]
    fn plain_operator_on_multi_valued_key_matches_any_value() {
        let c = r#"{"StringEquals": {"kms:EncryptionContextKeys": "Dept"}}"#;
        assert!(holds(
            c,
            &empty().with_encryption_context([("a", "1"), ("Dept", "2")])
        ));
        let not = r#"{"StringNotEquals": {"kms:EncryptionContextKeys": "Dept"}}"#;
        assert!(!holds(
            not,
            &empty().with_encryption_context([("a", "1"), ("Dept", "2")])
        ));
        assert!(holds(not, &empty().with_encryption_context([("a", "1")])));
    }

    #[test]
    fn numbers_and_bools_compare_as_text() {
        let c = r#"{"StringEquals": {"kms:EncryptionContext:n": 42, "kms:EncryptionContext:b": [false]}}"#;
        assert!(holds(
            c,
            &empty().with_encryption_context([("n", "42"), ("b", "false")])
        ));
        assert!(!holds(
            c,
            &empty().with_encryption_context([("n", "42.0"), ("b", "false")])
        ));
    }

    #[test]
    fn other_iam_operators() {
        let c = r#"{"NumericLessThanEquals": {"kms:RecipientAttestation:x": 10},
                    "DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"},
                    "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]},
                    "ArnLike": {"aws:SourceArn": "arn:aws:s3:::bucket-*"}}"#;
        let good = ctx(&[
            ("kms:RecipientAttestation:x", &["9"]),
            ("aws:CurrentTime", &["2024-06-01T00:00:00Z"]),
            ("aws:SourceIp", &["192.168.4.4"]),
            ("aws:SourceArn", &["arn:aws:s3:::bucket-1"]),
        ]);
        assert!(holds(c, &good));
        let bad_ip = ctx(&[
            ("kms:RecipientAttestation:x", &["9"]),
            ("aws:CurrentTime", &["2024-06-01T00:00:00Z"]),
            ("aws:SourceIp", &["172.16.0.1"]),
            ("aws:SourceArn", &["arn:aws:s3:::bucket-1"]),
        ]);
        assert!(!holds(c, &bad_ip));
        let not_ip = r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#;
        assert!(holds(not_ip, &ctx(&[("aws:SourceIp", &["11.0.0.1"])])));
        assert!(!holds(not_ip, &ctx(&[("aws:SourceIp", &["10.0.0.1"])])));
    }

    #[test]
    fn malformed_conditions() {
        let malformed = |c: &str| match parse(c) {
            Err(PolicyError::Malformed(message)) => message,
            other => panic!("{c} parsed as {other:?}"),
        };
        assert_eq!(
            malformed(r#"{"StringEqualz": {"kms:ViaService": "x"}}"#),
            "Policy contains a statement with an unknown condition operator \"StringEqualz\"."
        );
        assert_eq!(
            malformed(r#"{"ForEveryValue:StringEquals": {"a:b": "x"}}"#),
            "Policy contains a statement with an unknown condition operator \"ForEveryValue:StringEquals\"."
        );
        for unknown in [
            r#"{"stringequals": {"a:b": "x"}}"#,
            r#"{"NullIfExists": {"a:b": "true"}}"#,
            r#"{"ForAnyValue:Null": {"a:b": "true"}}"#,
        ] {
            assert!(
                malformed(unknown).contains("unknown condition operator"),
                "{unknown}"
            );
        }
        assert_eq!(
            malformed(r#"["StringEquals"]"#),
            "Policy contains a statement whose Condition is not a JSON object."
        );
        assert_eq!(
            malformed(r#"{"StringEquals": "x"}"#),
            "Condition operator \"StringEquals\" must map condition keys to values, not a string."
        );
        let bad_value = "Condition key \"a:b\" of operator \"StringEquals\" must have a string, boolean or number value, or a non-empty array of them.";
        assert_eq!(malformed(r#"{"StringEquals": {"a:b": null}}"#), bad_value);
        assert_eq!(malformed(r#"{"StringEquals": {"a:b": []}}"#), bad_value);
        assert_eq!(
            malformed(r#"{"StringEquals": {"a:b": [{"c": 1}]}}"#),
            bad_value
        );
        assert_eq!(
            malformed(r#"{"Bool": {"a:b": "yes"}}"#),
            "Condition key \"a:b\" of operator \"Bool\" has an invalid value \"yes\"."
        );
        assert!(malformed(r#"{"NumericEquals": {"a:b": "ten"}}"#).contains("invalid value"));
        assert!(malformed(r#"{"DateLessThan": {"a:b": "soon"}}"#).contains("invalid value"));
        assert!(malformed(r#"{"IpAddress": {"a:b": "10.0.0.0/99"}}"#).contains("invalid value"));
        assert!(malformed(r#"{"Null": {"a:b": "maybe"}}"#).contains("invalid value"));
        assert_eq!(
            malformed(r#"{"StringEquals": {" ": "x"}}"#),
            "Condition operator \"StringEquals\" has an empty condition key."
        );
    }

    #[test]
    fn empty_condition_blocks_hold() {
        assert!(holds("{}", &empty()));
        assert!(holds(r#"{"StringEquals": {}}"#, &empty()));
    }
}
