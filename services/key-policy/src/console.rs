//! The key policies the AWS console writes, and the console's edits of the key
//! administrator and key user lists.
//!
//! The edits find the console's statements by their Sid, exactly as the console
//! does, so they work on any policy that uses those Sids and leave every other
//! statement alone.

use crate::document::{PolicyKind, parse_tree};
use crate::error::PolicyError;
use crate::json::Json;
use crate::principal::{INVALID_PRINCIPALS, parse_aws_principal};

const ROOT_SID: &str = "Enable IAM User Permissions";
const ADMINISTRATORS_SID: &str = "Allow access for Key Administrators";
const USE_SID: &str = "Allow use of the key";
const ATTACHMENT_SID: &str = "Allow attachment of persistent resources";

/// The order in which the console writes its statements; statements the edits
/// create are put back in this order.
const CONSOLE_ORDER: [&str; 4] = [ROOT_SID, ADMINISTRATORS_SID, USE_SID, ATTACHMENT_SID];

const ADMINISTRATOR_ACTIONS: [&str; 15] = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
];

const USE_ACTIONS: [&str; 5] = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
];

const ATTACHMENT_ACTIONS: [&str; 3] = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"];

const USER_SIDS: [&str; 2] = [USE_SID, ATTACHMENT_SID];
const ADMINISTRATOR_SIDS: [&str; 1] = [ADMINISTRATORS_SID];

/// The policy a key gets when its creator gives none: the account decides through
/// IAM, as AWS's `key-default-1`.
pub fn default_key_policy(account_id: &str) -> String {
    Json::object([
        ("Version", Json::str("2012-10-17")),
        ("Id", Json::str("key-default-1")),
        ("Statement", Json::Array(vec![root_statement(account_id)])),
    ])
    .to_pretty()
}

/// The console's `key-consolepolicy-3` for the chosen key administrators and users.
/// A statement whose principal list would be empty is left out, and a single
/// principal is still written as a one-element array, as the console does.
pub fn console_key_policy(account_id: &str, administrators: &[String], users: &[String]) -> String {
    let administrators = distinct(administrators);
    let users = distinct(users);
    let mut statements = vec![root_statement(account_id)];
    if !administrators.is_empty() {
        statements.push(console_statement(ADMINISTRATORS_SID, &administrators));
    }
    if !users.is_empty() {
        statements.push(console_statement(USE_SID, &users));
        statements.push(console_statement(ATTACHMENT_SID, &users));
    }
    Json::object([
        ("Version", Json::str("2012-10-17")),
        ("Id", Json::str("key-consolepolicy-3")),
        ("Statement", Json::Array(statements)),
    ])
    .to_pretty()
}

/// Adds a key user to "Allow use of the key" and "Allow attachment of persistent
/// resources", creating them when missing.
pub fn add_key_user(policy_json: &str, principal_arn: &str) -> Result<String, PolicyError> {
    edit(policy_json, principal_arn, &USER_SIDS, Edit::Add)
}

/// Removes a key user from both user statements, dropping a statement it leaves
/// without principals.
pub fn remove_key_user(policy_json: &str, principal_arn: &str) -> Result<String, PolicyError> {
    edit(policy_json, principal_arn, &USER_SIDS, Edit::Remove)
}

/// Adds a key administrator to "Allow access for Key Administrators", creating it
/// when missing.
pub fn add_key_administrator(
    policy_json: &str,
    principal_arn: &str,
) -> Result<String, PolicyError> {
    edit(policy_json, principal_arn, &ADMINISTRATOR_SIDS, Edit::Add)
}

/// Removes a key administrator, dropping the statement if it is left without
/// principals.
pub fn remove_key_administrator(
    policy_json: &str,
    principal_arn: &str,
) -> Result<String, PolicyError> {
    edit(
        policy_json,
        principal_arn,
        &ADMINISTRATOR_SIDS,
        Edit::Remove,
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    Add,
    Remove,
}

/// Validates the policy, applies the edit, and returns the input untouched when the
/// edit changes nothing, so that a no-op never reformats a user's policy.
fn edit(
    policy_json: &str,
    principal_arn: &str,
    sids: &[&str],
    edit: Edit,
) -> Result<String, PolicyError> {
    let (mut tree, _) = parse_tree(policy_json, PolicyKind::Key)?;
    if edit == Edit::Add && parse_aws_principal(principal_arn).is_none() {
        return Err(PolicyError::malformed(INVALID_PRINCIPALS));
    }
    let statements = statement_list(&mut tree);
    let changed = match edit {
        Edit::Add => add_principal_to_statements(statements, principal_arn, sids),
        Edit::Remove => remove_principal_from_statements(statements, principal_arn, sids),
    };
    if !changed {
        return Ok(policy_json.to_owned());
    }
    if statements.is_empty() {
        return Err(PolicyError::malformed(format!(
            "Removing {principal_arn} would leave the key policy with no statements."
        )));
    }
    let edited = tree.to_pretty();
    // The edit can push the policy over the size limit.
    parse_tree(&edited, PolicyKind::Key)?;
    Ok(edited)
}

/// The document's statements as an array, turning a lone statement object into a
/// one-element array so that statements can be added beside it.
fn statement_list(tree: &mut Json) -> &mut Vec<Json> {
    let statement = tree
        .get_mut("Statement")
        .expect("a validated policy has a Statement");
    if let Json::Object(_) = statement {
        let single = std::mem::replace(statement, Json::Null);
        *statement = Json::Array(vec![single]);
    }
    match statement {
        Json::Array(items) => items,
        _ => unreachable!("a validated Statement is an object or an array"),
    }
}

fn sid_of(statement: &Json) -> Option<&str> {
    statement.get("Sid").and_then(Json::as_str)
}

fn add_principal_to_statements(statements: &mut Vec<Json>, arn: &str, sids: &[&str]) -> bool {
    let mut changed = false;
    for &sid in sids {
        let mut found = false;
        for statement in statements.iter_mut().filter(|s| sid_of(s) == Some(sid)) {
            found = true;
            changed |= add_principal(statement, arn);
        }
        if !found {
            insert_in_console_order(statements, sid, console_statement(sid, &[arn]));
            changed = true;
        }
    }
    changed
}

/// Adds `arn` to the statement's `Principal.AWS`. A principal of `"*"` already
/// includes everyone, and a `NotPrincipal` statement is not one the console manages,
/// so neither is changed.
fn add_principal(statement: &mut Json, arn: &str) -> bool {
    let Some(Json::Object(kinds)) = statement.get_mut("Principal") else {
        return false;
    };
    let Some((_, aws)) = kinds.iter_mut().find(|(kind, _)| kind == "AWS") else {
        kinds.push(("AWS".to_owned(), Json::strings(&[arn])));
        return true;
    };
    match aws {
        Json::String(existing) if existing == arn || existing == "*" => false,
        Json::String(existing) => {
            let existing = std::mem::take(existing);
            *aws = Json::strings(&[existing.as_str(), arn]);
            true
        }
        Json::Array(items) => {
            if items
                .iter()
                .any(|item| matches!(item.as_str(), Some(p) if p == arn || p == "*"))
            {
                false
            } else {
                items.push(Json::str(arn));
                true
            }
        }
        _ => false,
    }
}

fn remove_principal_from_statements(statements: &mut Vec<Json>, arn: &str, sids: &[&str]) -> bool {
    let mut changed = false;
    statements.retain_mut(|statement| {
        if !sid_of(statement).is_some_and(|sid| sids.contains(&sid)) {
            return true;
        }
        match remove_principal(statement, arn) {
            Removal::Absent => true,
            Removal::Removed => {
                changed = true;
                true
            }
            Removal::RemovedLast => {
                changed = true;
                false
            }
        }
    });
    changed
}

enum Removal {
    Absent,
    Removed,
    /// The statement has no principal left and must go.
    RemovedLast,
}

fn remove_principal(statement: &mut Json, arn: &str) -> Removal {
    let Some(Json::Object(kinds)) = statement.get_mut("Principal") else {
        return Removal::Absent;
    };
    let Some(index) = kinds.iter().position(|(kind, _)| kind == "AWS") else {
        return Removal::Absent;
    };
    let aws_left_empty = match &mut kinds[index].1 {
        Json::String(existing) if existing == arn => true,
        Json::Array(items) if items.iter().any(|item| item.as_str() == Some(arn)) => {
            items.retain(|item| item.as_str() != Some(arn));
            items.is_empty()
        }
        _ => return Removal::Absent,
    };
    if aws_left_empty {
        kinds.remove(index);
    }
    if kinds.is_empty() {
        Removal::RemovedLast
    } else {
        Removal::Removed
    }
}

fn insert_in_console_order(statements: &mut Vec<Json>, sid: &str, statement: Json) {
    let rank = |sid: &str| CONSOLE_ORDER.iter().position(|s| *s == sid);
    let own_rank = rank(sid);
    let at = statements
        .iter()
        .position(|s| sid_of(s).and_then(rank) > own_rank)
        .unwrap_or(statements.len());
    statements.insert(at, statement);
}

fn root_statement(account_id: &str) -> Json {
    Json::object([
        ("Sid", Json::str(ROOT_SID)),
        ("Effect", Json::str("Allow")),
        (
            "Principal",
            Json::object([(
                "AWS",
                Json::String(format!("arn:aws:iam::{account_id}:root")),
            )]),
        ),
        ("Action", Json::str("kms:*")),
        ("Resource", Json::str("*")),
    ])
}

/// One of the console's principal-list statements, identified by its Sid.
fn console_statement<S: AsRef<str>>(sid: &str, principals: &[S]) -> Json {
    let actions: &[&str] = match sid {
        ADMINISTRATORS_SID => &ADMINISTRATOR_ACTIONS,
        USE_SID => &USE_ACTIONS,
        ATTACHMENT_SID => &ATTACHMENT_ACTIONS,
        _ => unreachable!("only the console's principal-list Sids are created"),
    };
    let mut statement = Json::object([
        ("Sid", Json::str(sid)),
        ("Effect", Json::str("Allow")),
        (
            "Principal",
            Json::object([("AWS", Json::strings(principals))]),
        ),
        ("Action", Json::strings(actions)),
        ("Resource", Json::str("*")),
    ]);
    if sid == ATTACHMENT_SID {
        let Json::Object(fields) = &mut statement else {
            unreachable!()
        };
        fields.push((
            "Condition".to_owned(),
            Json::object([(
                "Bool",
                Json::object([("kms:GrantIsForAWSResource", Json::str("true"))]),
            )]),
        ));
    }
    statement
}

fn distinct(names: &[String]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::with_capacity(names.len());
    for name in names {
        if !seen.contains(&name.as_str()) {
            seen.push(name);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{MAX_POLICY_BYTES, PolicyDocument};
    use serde_json::{Value, json};

    const ACCOUNT: &str = "000000000000";
    const USER1: &str = "arn:aws:iam::000000000000:user/AWSLabsUser-0001";
    const USER2: &str = "arn:aws:iam::000000000000:user/AWSLabsUser-0002";
    const ADMIN: &str = "arn:aws:iam::000000000000:role/KeyAdmin";

    fn value(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// The console policy of docs/aws-behaviour.md, written out by hand.
    fn reference_policy(administrators: &[&str], users: &[&str]) -> Value {
        json!({ "Version": "2012-10-17", "Id": "key-consolepolicy-3", "Statement": [
          { "Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "kms:*", "Resource": "*" },
          { "Sid": "Allow access for Key Administrators", "Effect": "Allow",
            "Principal": {"AWS": administrators},
            "Action": ["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*",
                       "kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource",
                       "kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion",
                       "kms:RotateKeyOnDemand"], "Resource": "*" },
          { "Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": users},
            "Action": ["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],
            "Resource": "*" },
          { "Sid": "Allow attachment of persistent resources", "Effect": "Allow", "Principal": {"AWS": users},
            "Action": ["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"], "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}} } ] })
    }

    fn statement_sids(policy: &str) -> Vec<String> {
        value(policy)["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    #[test]
    fn console_policy_is_the_reference_policy() {
        let policy = console_key_policy(ACCOUNT, &strings(&[USER1]), &strings(&[USER1]));
        assert_eq!(value(&policy), reference_policy(&[USER1], &[USER1]));
        assert!(PolicyDocument::parse_key_policy(&policy).is_ok());

        let policy = console_key_policy(
            ACCOUNT,
            &strings(&[ADMIN, USER2]),
            &strings(&[USER1, USER2]),
        );
        assert_eq!(
            value(&policy),
            reference_policy(&[ADMIN, USER2], &[USER1, USER2])
        );
    }

    #[test]
    fn console_policy_text_is_pretty_and_in_console_order() {
        let policy = console_key_policy(ACCOUNT, &strings(&[USER1]), &strings(&[USER1]));
        assert!(policy.starts_with(
            "{\n    \"Version\": \"2012-10-17\",\n    \"Id\": \"key-consolepolicy-3\",\n    \"Statement\": [\n        {\n            \"Sid\": \"Enable IAM User Permissions\",\n            \"Effect\": \"Allow\",\n            \"Principal\": {\n                \"AWS\": \"arn:aws:iam::000000000000:root\"\n            },\n            \"Action\": \"kms:*\",\n            \"Resource\": \"*\"\n        },"
        ), "{policy}");
        assert!(policy.contains(
            "\"Principal\": {\n                \"AWS\": [\n                    \"arn:aws:iam::000000000000:user/AWSLabsUser-0001\"\n                ]\n            },"
        ));
    }

    #[test]
    fn console_policy_leaves_out_empty_principal_lists() {
        let no_users = console_key_policy(ACCOUNT, &strings(&[ADMIN]), &[]);
        assert_eq!(
            statement_sids(&no_users),
            [
                "Enable IAM User Permissions",
                "Allow access for Key Administrators"
            ]
        );
        let no_admins = console_key_policy(ACCOUNT, &[], &strings(&[USER1]));
        assert_eq!(
            statement_sids(&no_admins),
            [ROOT_SID, USE_SID, ATTACHMENT_SID]
        );
        let nobody = console_key_policy(ACCOUNT, &[], &[]);
        assert_eq!(statement_sids(&nobody), [ROOT_SID]);
        assert!(PolicyDocument::parse_key_policy(&nobody).is_ok());
    }

    #[test]
    fn console_policy_lists_each_principal_once() {
        let policy = console_key_policy(
            ACCOUNT,
            &strings(&[ADMIN, ADMIN]),
            &strings(&[USER1, USER2, USER1]),
        );
        assert_eq!(value(&policy), reference_policy(&[ADMIN], &[USER1, USER2]));
    }

    #[test]
    fn default_policy() {
        let policy = default_key_policy("123456789012");
        assert_eq!(
            value(&policy),
            json!({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [
                {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                 "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                 "Action": "kms:*", "Resource": "*"}]})
        );
        assert!(PolicyDocument::parse_key_policy(&policy).is_ok());
    }

    #[test]
    fn remove_key_user_takes_the_user_out_of_both_user_statements() {
        let policy = console_key_policy(ACCOUNT, &strings(&[ADMIN]), &strings(&[USER1, USER2]));
        let edited = remove_key_user(&policy, USER1).unwrap();
        assert_eq!(value(&edited), reference_policy(&[ADMIN], &[USER2]));
    }

    #[test]
    fn remove_last_key_user_drops_the_user_statements() {
        let policy = console_key_policy(ACCOUNT, &strings(&[USER1]), &strings(&[USER1]));
        let edited = remove_key_user(&policy, USER1).unwrap();
        assert_eq!(statement_sids(&edited), [ROOT_SID, ADMINISTRATORS_SID]);
        assert_eq!(
            value(&edited)["Statement"][1]["Principal"],
            json!({"AWS": [USER1]}),
            "the administrator statement is not touched"
        );
    }

    #[test]
    fn add_key_user_restores_the_console_policy() {
        let policy = console_key_policy(ACCOUNT, &strings(&[USER1]), &strings(&[USER1]));
        let removed = remove_key_user(&policy, USER1).unwrap();
        let restored = add_key_user(&removed, USER1).unwrap();
        assert_eq!(restored, policy, "same text, not only the same JSON");
    }

    #[test]
    fn add_key_user_appends_to_existing_lists() {
        let policy = console_key_policy(ACCOUNT, &strings(&[ADMIN]), &strings(&[USER1]));
        let edited = add_key_user(&policy, USER2).unwrap();
        assert_eq!(value(&edited), reference_policy(&[ADMIN], &[USER1, USER2]));
    }

    #[test]
    fn administrators() {
        let policy = console_key_policy(ACCOUNT, &[], &strings(&[USER1]));
        let added = add_key_administrator(&policy, ADMIN).unwrap();
        assert_eq!(
            statement_sids(&added),
            [ROOT_SID, ADMINISTRATORS_SID, USE_SID, ATTACHMENT_SID],
            "a created statement goes where the console would put it"
        );
        assert_eq!(value(&added), reference_policy(&[ADMIN], &[USER1]));
        let second = add_key_administrator(&added, USER2).unwrap();
        assert_eq!(value(&second), reference_policy(&[ADMIN, USER2], &[USER1]));
        let removed = remove_key_administrator(&second, ADMIN).unwrap();
        assert_eq!(value(&removed), reference_policy(&[USER2], &[USER1]));
        let gone = remove_key_administrator(&removed, USER2).unwrap();
        assert_eq!(value(&gone), value(&policy));
    }

    #[test]
    fn no_op_edits_return_the_input_unchanged() {
        let policy = console_key_policy(ACCOUNT, &strings(&[ADMIN]), &strings(&[USER1]));
        let compact = serde_json::to_string(&value(&policy)).unwrap();
        for text in [&policy, &compact] {
            assert_eq!(&add_key_user(text, USER1).unwrap(), text);
            assert_eq!(&remove_key_user(text, USER2).unwrap(), text);
            assert_eq!(&add_key_administrator(text, ADMIN).unwrap(), text);
            assert_eq!(&remove_key_administrator(text, USER1).unwrap(), text);
        }
    }

    #[test]
    fn edits_keep_other_statements_and_fields() {
        let policy = r#"{"Id": "custom", "Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "kms:ScheduleKeyDeletion", "Resource": "*",
             "Sid": "NoDeletes", "Condition": {"StringNotEquals": {"aws:PrincipalArn": ["arn:aws:iam::000000000000:root"]}}},
            {"Sid": "Allow use of the key", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::000000000000:user/AWSLabsUser-0001", "Service": "s3.amazonaws.com"},
             "Action": "kms:Decrypt", "Resource": "*"}]}"#;
        let added = add_key_user(policy, USER2).unwrap();
        let expected = json!({"Id": "custom", "Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "kms:ScheduleKeyDeletion", "Resource": "*",
             "Sid": "NoDeletes", "Condition": {"StringNotEquals": {"aws:PrincipalArn": ["arn:aws:iam::000000000000:root"]}}},
            {"Sid": "Allow use of the key", "Effect": "Allow",
             "Principal": {"AWS": [USER1, USER2], "Service": "s3.amazonaws.com"},
             "Action": "kms:Decrypt", "Resource": "*"},
            {"Sid": "Allow attachment of persistent resources", "Effect": "Allow", "Principal": {"AWS": [USER2]},
             "Action": ["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"], "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}]});
        assert_eq!(value(&added), expected);
        assert!(
            added.find("\"Id\"") < added.find("\"Version\""),
            "field order is kept: {added}"
        );
        assert!(added.find("\"Effect\": \"Deny\"") < added.find("\"Sid\": \"NoDeletes\""));

        // Removing USER1 keeps the statement: the service principal is still there.
        let removed = remove_key_user(&added, USER1).unwrap();
        assert_eq!(
            value(&removed)["Statement"][1]["Principal"],
            json!({"AWS": [USER2], "Service": "s3.amazonaws.com"})
        );
        let removed = remove_key_user(&removed, USER2).unwrap();
        assert_eq!(
            value(&removed)["Statement"][1]["Principal"],
            json!({"Service": "s3.amazonaws.com"})
        );
        assert_eq!(value(&removed)["Statement"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn edits_of_a_single_statement_object() {
        let policy = format!(
            r#"{{"Statement": {{"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {{"AWS": "{USER1}"}}, "Action": "kms:*", "Resource": "*"}}}}"#
        );
        let added = add_key_administrator(&policy, ADMIN).unwrap();
        assert_eq!(statement_sids(&added), [ADMINISTRATORS_SID, USE_SID]);
        assert_eq!(
            remove_key_user(&policy, USER1),
            Err(PolicyError::malformed(
                "Removing arn:aws:iam::000000000000:user/AWSLabsUser-0001 would leave the key policy with no statements."
            ))
        );
    }

    #[test]
    fn a_wildcard_principal_already_includes_everyone() {
        let policy = r#"{"Statement": [
            {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
            {"Sid": "Allow attachment of persistent resources", "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "kms:*", "Resource": "*"}]}"#;
        assert_eq!(add_key_user(policy, USER1).unwrap(), policy);
        assert_eq!(remove_key_user(policy, USER1).unwrap(), policy);
    }

    #[test]
    fn edits_refuse_bad_input() {
        let policy = console_key_policy(ACCOUNT, &[], &[]);
        assert_eq!(
            add_key_user(&policy, "AWSLabsUser-0001"),
            Err(PolicyError::malformed(INVALID_PRINCIPALS))
        );
        assert_eq!(
            remove_key_user(&policy, "AWSLabsUser-0001").unwrap(),
            policy,
            "removing what cannot be present is a no-op"
        );
        assert!(matches!(
            add_key_user("{", USER1),
            Err(PolicyError::Malformed(_))
        ));
        let identity_like =
            r#"{"Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}"#;
        assert_eq!(
            remove_key_user(identity_like, USER1),
            Err(PolicyError::malformed(
                "Policy contains a statement with no Principal."
            ))
        );
        assert_eq!(
            add_key_user(&" ".repeat(MAX_POLICY_BYTES + 1), USER1),
            Err(PolicyError::TooLarge)
        );
    }

    #[test]
    fn an_edit_that_outgrows_the_limit_is_refused() {
        let policy = console_key_policy(ACCOUNT, &[], &strings(&[USER1]));
        let padding = MAX_POLICY_BYTES - policy.len();
        let padded = format!("{}{}", " ".repeat(padding), policy);
        assert_eq!(padded.len(), MAX_POLICY_BYTES);
        assert_eq!(add_key_user(&padded, USER1).unwrap(), padded);

        let users: Vec<String> = (0..200)
            .map(|i| format!("arn:aws:iam::000000000000:user/User-{i:04}"))
            .collect();
        let big = console_key_policy(ACCOUNT, &[], &users);
        assert!(big.len() <= MAX_POLICY_BYTES, "{}", big.len());
        let mut grown = big.clone();
        let mut count = 0;
        let error = loop {
            match add_key_user(
                &grown,
                &format!("arn:aws:iam::000000000000:user/Extra-{count:04}"),
            ) {
                Ok(next) => grown = next,
                Err(error) => break error,
            }
            count += 1;
            assert!(count < 1000);
        };
        assert_eq!(error, PolicyError::TooLarge);
    }
}
