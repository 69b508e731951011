//! The `Principal` / `NotPrincipal` element: which requesters a policy statement is
//! about.

use crate::evaluate::Caller;
use crate::json::Json;

/// AWS's own wording, which users search for when a policy is refused.
pub(crate) const INVALID_PRINCIPALS: &str =
    "Policy contains a statement with one or more invalid principals.";

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AwsPrincipal {
    /// `"*"`, or `{"AWS": "*"}`.
    Anyone,
    /// `arn:aws:iam::<account>:root` or the bare account id: the account itself, which
    /// lets the account's IAM policies decide for its users.
    Account(String),
    /// A user or role ARN, matched exactly.
    Arn(String),
}

/// The `AWS` and `Service` principals of a statement. `Federated` principals are
/// valid but dropped: no keyhold requester is ever a federated identity.
/// `CanonicalUser` is refused, because keyhold's callers carry no canonical user id:
/// such a statement could never be evaluated as its author meant (a Deny naming the
/// owner's canonical id would silently deny nothing).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct PrincipalSet {
    aws: Vec<AwsPrincipal>,
    /// e.g. `cloudtrail.amazonaws.com`.
    services: Vec<String>,
}

/// Whoever makes a request: an IAM identity, an AWS service acting on its own
/// behalf (S3 lets CloudTrail write logs through a bucket policy), or nobody signed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Requester<'a> {
    Identity(&'a Caller<'a>),
    Service(&'a str),
    Anonymous,
}

/// How a statement's principal list relates to a caller. Ordered so that the
/// strongest match among several listed principals can be taken with `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PrincipalMatch {
    No,
    /// The caller's account is listed: the statement applies only as far as the
    /// caller's identity policy allows the same request.
    ViaAccount,
    Direct,
}

impl PrincipalSet {
    /// `None` when the element is not a valid principal; each policy kind says so in
    /// its own words.
    pub(crate) fn parse(value: &Json) -> Option<PrincipalSet> {
        let fields = match value {
            Json::String(s) if s == "*" => {
                return Some(PrincipalSet {
                    aws: vec![AwsPrincipal::Anyone],
                    services: Vec::new(),
                });
            }
            Json::Object(fields) if !fields.is_empty() => fields,
            _ => return None,
        };
        let mut set = PrincipalSet::default();
        for (kind, names) in fields {
            let names = string_list(names)?;
            match kind.as_str() {
                "AWS" => {
                    for name in names {
                        set.aws.push(parse_aws_principal(name)?);
                    }
                }
                "Service" | "Federated" => {
                    if names.iter().any(|name| name.trim().is_empty()) {
                        return None;
                    }
                    if kind == "Service" {
                        set.services
                            .extend(names.iter().map(|name| name.to_string()));
                    }
                }
                _ => return None,
            }
        }
        Some(set)
    }

    /// Whether `"*"` (or `{"AWS": "*"}`) is listed: the statement is about everyone,
    /// anonymous requesters included.
    pub(crate) fn includes_anyone(&self) -> bool {
        self.aws.contains(&AwsPrincipal::Anyone)
    }

    /// For `Principal`: a listed account reaches its non-root callers only through
    /// their identity policies.
    pub(crate) fn match_caller(&self, caller: &Caller) -> PrincipalMatch {
        self.aws
            .iter()
            .map(|principal| match principal {
                AwsPrincipal::Anyone => PrincipalMatch::Direct,
                AwsPrincipal::Arn(arn) if arn == caller.arn => PrincipalMatch::Direct,
                AwsPrincipal::Account(account) if account == caller.account_id => {
                    if caller.is_account_root {
                        PrincipalMatch::Direct
                    } else {
                        PrincipalMatch::ViaAccount
                    }
                }
                _ => PrincipalMatch::No,
            })
            .max()
            .unwrap_or(PrincipalMatch::No)
    }

    /// For `Principal`, whoever the requester is: services and anonymous requesters
    /// have no account, so only `*` or (for a service) its own name reaches them.
    pub(crate) fn match_requester(&self, requester: &Requester) -> PrincipalMatch {
        match requester {
            Requester::Identity(caller) => self.match_caller(caller),
            Requester::Service(_) | Requester::Anonymous if self.names_requester(requester) => {
                PrincipalMatch::Direct
            }
            Requester::Service(_) | Requester::Anonymous => PrincipalMatch::No,
        }
    }

    /// For `NotPrincipal`: as in AWS, an account listed there exempts only the
    /// account root, not every user of the account.
    pub(crate) fn names_caller(&self, caller: &Caller) -> bool {
        self.aws.iter().any(|principal| match principal {
            AwsPrincipal::Anyone => true,
            AwsPrincipal::Arn(arn) => arn == caller.arn,
            AwsPrincipal::Account(account) => {
                caller.is_account_root && account == caller.account_id
            }
        })
    }

    /// For `NotPrincipal`, whoever the requester is. Service names compare without
    /// case, as IAM compares them.
    pub(crate) fn names_requester(&self, requester: &Requester) -> bool {
        match requester {
            Requester::Identity(caller) => self.names_caller(caller),
            Requester::Service(name) => {
                self.includes_anyone()
                    || self
                        .services
                        .iter()
                        .any(|service| service.eq_ignore_ascii_case(name))
            }
            Requester::Anonymous => self.includes_anyone(),
        }
    }
}

/// A string, or a non-empty array of strings.
fn string_list(value: &Json) -> Option<Vec<&str>> {
    match value {
        Json::String(s) => Some(vec![s.as_str()]),
        Json::Array(items) if !items.is_empty() => items.iter().map(Json::as_str).collect(),
        _ => None,
    }
}

/// Accepts `*`, a 12-digit account id, and `arn:<partition>:iam::<account>:` followed
/// by `root`, `user/<path+name>` or `role/<path+name>`. Wildcards inside an ARN are
/// refused, as AWS refuses them.
pub(crate) fn parse_aws_principal(name: &str) -> Option<AwsPrincipal> {
    if name == "*" {
        return Some(AwsPrincipal::Anyone);
    }
    if is_account_id(name) {
        return Some(AwsPrincipal::Account(name.to_owned()));
    }
    let rest = ["arn:aws:iam::", "arn:aws-cn:iam::", "arn:aws-us-gov:iam::"]
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix))?;
    let (account, resource) = rest.split_once(':')?;
    if !is_account_id(account) {
        return None;
    }
    if resource == "root" {
        return Some(AwsPrincipal::Account(account.to_owned()));
    }
    let path = resource
        .strip_prefix("user/")
        .or_else(|| resource.strip_prefix("role/"))?;
    let valid_path = !path.is_empty()
        && !path.starts_with('/')
        && !path.ends_with('/')
        && !path.contains("//")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
    valid_path.then(|| AwsPrincipal::Arn(name.to_owned()))
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller<'a>(arn: &'a str, is_account_root: bool) -> Caller<'a> {
        Caller {
            arn,
            account_id: "000000000000",
            is_account_root,
            identity_policy: None,
        }
    }

    const USER: &str = "arn:aws:iam::000000000000:user/AWSLabsUser-0001";
    const ROOT: &str = "arn:aws:iam::000000000000:root";

    #[test]
    fn principal_forms() {
        assert_eq!(parse_aws_principal("*"), Some(AwsPrincipal::Anyone));
        assert_eq!(
            parse_aws_principal("000000000000"),
            Some(AwsPrincipal::Account("000000000000".into()))
        );
        assert_eq!(
            parse_aws_principal(ROOT),
            Some(AwsPrincipal::Account("000000000000".into()))
        );
        assert_eq!(
            parse_aws_principal(USER),
            Some(AwsPrincipal::Arn(USER.into()))
        );
        for valid in [
            "arn:aws:iam::123456789012:role/service-role/my.role@x",
            "arn:aws-cn:iam::123456789012:user/a",
        ] {
            assert!(parse_aws_principal(valid).is_some(), "{valid}");
        }
        for invalid in [
            "",
            "00000000000",
            "0000000000000",
            "arn:aws:iam::00000000000:root",
            "arn:aws:iam::000000000000:group/admins",
            "arn:aws:iam::000000000000:user/",
            "arn:aws:iam::000000000000:user/a*",
            "arn:aws:iam::000000000000:user//a",
            "arn:aws:s3:::bucket",
            "arn:aws:iam:us-east-1:000000000000:root",
            "AWSLabsUser-0001",
        ] {
            assert_eq!(parse_aws_principal(invalid), None, "{invalid}");
        }
    }

    #[test]
    fn principal_element_shapes() {
        let parse = |text: &str| PrincipalSet::parse(&Json::parse(text).unwrap());
        assert!(parse(r#""*""#).is_some());
        assert!(parse(r#"{"AWS": "*"}"#).is_some());
        assert!(parse(&format!(r#"{{"AWS": ["{USER}", "000000000000"]}}"#)).is_some());
        assert!(parse(r#"{"Service": "s3.amazonaws.com"}"#).is_some());
        assert!(parse(r#"{"Federated": ["cognito-identity.amazonaws.com"]}"#).is_some());
        let invalid = None;
        assert_eq!(parse(r#""arn:aws:iam::000000000000:root""#), invalid);
        assert_eq!(parse("{}"), invalid);
        assert_eq!(parse(r#"{"AWS": []}"#), invalid);
        assert_eq!(parse(r#"{"AWS": [1]}"#), invalid);
        assert_eq!(parse(r#"{"CanonicalUser": "abc"}"#), invalid);
        assert_eq!(parse(r#"{"Service": ""}"#), invalid);
        assert_eq!(parse("[]"), invalid);
    }

    fn parse(text: &str) -> PrincipalSet {
        PrincipalSet::parse(&Json::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn matching_callers() {
        let user = caller(USER, false);
        let root = caller(ROOT, true);
        let account = parse(r#"{"AWS": "000000000000"}"#);
        assert_eq!(account.match_caller(&user), PrincipalMatch::ViaAccount);
        assert_eq!(account.match_caller(&root), PrincipalMatch::Direct);
        assert!(!account.names_caller(&user));
        assert!(account.names_caller(&root));

        let both = parse(&format!(r#"{{"AWS": ["{ROOT}", "{USER}"]}}"#));
        assert_eq!(both.match_caller(&user), PrincipalMatch::Direct);

        let other_account = parse(r#"{"AWS": "111111111111"}"#);
        assert_eq!(other_account.match_caller(&user), PrincipalMatch::No);
        assert_eq!(other_account.match_caller(&root), PrincipalMatch::No);

        let anyone = parse(r#""*""#);
        assert_eq!(anyone.match_caller(&user), PrincipalMatch::Direct);
        assert!(anyone.names_caller(&user));

        let service = parse(r#"{"Service": "s3.amazonaws.com"}"#);
        assert_eq!(service.match_caller(&root), PrincipalMatch::No);

        let exact = parse(&format!(r#"{{"AWS": "{USER}"}}"#));
        let other = caller("arn:aws:iam::000000000000:user/awslabsuser-0001", false);
        assert_eq!(exact.match_caller(&other), PrincipalMatch::No);
    }

    #[test]
    fn matching_services_and_anonymous_requesters() {
        let cloudtrail = Requester::Service("cloudtrail.amazonaws.com");
        let anonymous = Requester::Anonymous;
        let user = caller(USER, false);
        let identity = Requester::Identity(&user);

        let service = parse(r#"{"Service": ["logs.amazonaws.com", "CloudTrail.amazonaws.com"]}"#);
        assert_eq!(service.match_requester(&cloudtrail), PrincipalMatch::Direct);
        assert_eq!(
            service.match_requester(&Requester::Service("s3.amazonaws.com")),
            PrincipalMatch::No
        );
        assert_eq!(service.match_requester(&anonymous), PrincipalMatch::No);
        assert_eq!(service.match_requester(&identity), PrincipalMatch::No);
        assert!(service.names_requester(&cloudtrail));
        assert!(!service.names_requester(&anonymous));

        let anyone = parse(r#"{"AWS": "*"}"#);
        for requester in [cloudtrail, anonymous, identity] {
            assert_eq!(anyone.match_requester(&requester), PrincipalMatch::Direct);
            assert!(anyone.names_requester(&requester));
        }

        let account = parse(r#"{"AWS": "000000000000"}"#);
        assert_eq!(account.match_requester(&anonymous), PrincipalMatch::No);
        assert_eq!(account.match_requester(&cloudtrail), PrincipalMatch::No);
        assert_eq!(
            account.match_requester(&identity),
            PrincipalMatch::ViaAccount
        );
    }
}
