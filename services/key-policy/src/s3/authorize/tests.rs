use super::*;
use crate::context::ConditionContext;
use crate::document::PolicyDocument;

const OWNER: &str = "111111111111";
const STRANGER: &str = "222222222222";
const OBJECT: &str = "arn:aws:s3:::logs/AWSLogs/report.csv";
const BUCKET_ARN: &str = "arn:aws:s3:::logs";
const OWNER_USER: &str = "arn:aws:iam::111111111111:user/AWSLabsUser-0001";
const OWNER_ROOT: &str = "arn:aws:iam::111111111111:root";
const STRANGER_USER: &str = "arn:aws:iam::222222222222:user/Partner";
const STRANGER_ROOT: &str = "arn:aws:iam::222222222222:root";
const CLOUDTRAIL: &str = "cloudtrail.amazonaws.com";
const EVERYONE: &str = r#""*""#;

use S3Decision::{
    Allow, ExplicitDenyInIdentityPolicy as IdentityDeny,
    ExplicitDenyInResourcePolicy as BucketDeny, ImplicitDeny,
};

// Policies.

fn bucket_policy(statements: &[String]) -> BucketPolicy {
    let json = format!(r#"{{"Statement": [{}]}}"#, statements.join(", "));
    BucketPolicy::parse(&json, "logs").unwrap_or_else(|e| panic!("{json}: {e}"))
}

/// A statement on the bucket and its objects; `extra` is more fields (a Condition).
fn statement(effect: &str, principal: &str, action: &str, extra: &str) -> String {
    format!(
        r#"{{"Effect": "{effect}", "Principal": {principal}, "Action": "{action}", "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"]{extra}}}"#
    )
}

fn allow(principal: &str, action: &str) -> String {
    statement("Allow", principal, action, "")
}

fn deny(principal: &str, action: &str) -> String {
    statement("Deny", principal, action, "")
}

fn with_condition(effect: &str, principal: &str, action: &str, condition: &str) -> String {
    statement(
        effect,
        principal,
        action,
        &format!(r#", "Condition": {condition}"#),
    )
}

/// `{"AWS": "<name>"}`
fn aws(name: &str) -> String {
    format!(r#"{{"AWS": "{name}"}}"#)
}

fn identity(statements: &str) -> PolicyDocument {
    PolicyDocument::parse_identity_policy(&format!(r#"{{"Statement": [{statements}]}}"#)).unwrap()
}

fn allow_get_object() -> PolicyDocument {
    identity(r#"{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"}"#)
}

fn allow_everything() -> PolicyDocument {
    identity(r#"{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}"#)
}

// Requesters and buckets.

/// An IAM identity of the account in its ARN; `:root` ARNs are account roots.
fn user<'a>(arn: &'a str, identity_policy: Option<&'a PolicyDocument>) -> S3Caller<'a> {
    let account_start = "arn:aws:iam::".len();
    S3Caller::Principal(Caller {
        arn,
        account_id: &arn[account_start..account_start + 12],
        is_account_root: arn.ends_with(":root"),
        identity_policy,
    })
}

fn access(policy: Option<&BucketPolicy>) -> S3Access<'_> {
    S3Access {
        bucket_account: OWNER,
        bucket_policy: policy,
        restrict_public_buckets: false,
        acl_allows: false,
    }
}

fn with_acl(access: S3Access) -> S3Access {
    S3Access {
        acl_allows: true,
        ..access
    }
}

fn restricted(access: S3Access) -> S3Access {
    S3Access {
        restrict_public_buckets: true,
        ..access
    }
}

// Decisions.

fn context(pairs: &[(&str, &str)]) -> ConditionContext {
    let mut context = ConditionContext::new();
    for (key, value) in pairs {
        context.insert(key, vec![value.to_string()]);
    }
    context
}

/// `s3:ListBucket` is on the bucket, everything else on [`OBJECT`].
fn decide_with(
    access: &S3Access,
    caller: &S3Caller,
    action: &str,
    pairs: &[(&str, &str)],
) -> S3Decision {
    let resource = if action == "s3:ListBucket" {
        BUCKET_ARN
    } else {
        OBJECT
    };
    let context = context(pairs);
    authorize_s3(
        access,
        caller,
        &AccessRequest {
            action,
            resource,
            context: &context,
        },
    )
}

fn decide(access: &S3Access, caller: &S3Caller, action: &str) -> S3Decision {
    decide_with(access, caller, action, &[])
}

/// Whether an Allow of `s3:*` to everyone under `condition` lets `caller` do `action`.
fn allowed_under(condition: &str, caller: &S3Caller, action: &str, pairs: &[(&str, &str)]) -> bool {
    let policy = bucket_policy(&[with_condition("Allow", EVERYONE, "s3:*", condition)]);
    decide_with(&access(Some(&policy)), caller, action, pairs).is_allowed()
}

// Who may do what.

#[test]
fn same_account_callers_need_one_allow() {
    let reader = allow_get_object();
    let nothing = access(None);
    assert_eq!(
        decide(&nothing, &user(OWNER_USER, Some(&reader)), "s3:GetObject"),
        Allow
    );
    assert_eq!(
        decide(&nothing, &user(OWNER_USER, Some(&reader)), "s3:PutObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(&nothing, &user(OWNER_USER, None), "s3:GetObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(&nothing, &user(OWNER_ROOT, None), "s3:PutObject"),
        Allow,
        "IAM allows the root"
    );
    assert_eq!(
        decide(&with_acl(nothing), &user(OWNER_USER, None), "s3:GetObject"),
        Allow
    );

    let policy = bucket_policy(&[allow(&aws(OWNER_USER), "s3:PutObject")]);
    let named = access(Some(&policy));
    assert_eq!(
        decide(&named, &user(OWNER_USER, None), "s3:PutObject"),
        Allow
    );
    assert_eq!(
        decide(&named, &user(OWNER_USER, None), "s3:GetObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(&named, &user(OWNER_USER, Some(&reader)), "s3:GetObject"),
        Allow
    );
}

#[test]
fn a_statement_naming_the_account_delegates_to_iam() {
    let reader = allow_get_object();
    for account in [aws(OWNER_ROOT), aws(OWNER)] {
        let policy = bucket_policy(&[allow(&account, "s3:*")]);
        let access = access(Some(&policy));
        assert_eq!(
            decide(&access, &user(OWNER_USER, None), "s3:GetObject"),
            ImplicitDeny,
            "{account}"
        );
        assert_eq!(
            decide(&access, &user(OWNER_USER, Some(&reader)), "s3:GetObject"),
            Allow,
            "{account}"
        );
        assert_eq!(
            decide(&access, &user(OWNER_ROOT, None), "s3:GetObject"),
            Allow,
            "{account}"
        );
    }
}

#[test]
fn other_accounts_need_both_allows() {
    let reader = allow_get_object();
    let partner = user(STRANGER_USER, Some(&reader));
    let partner_without_iam = user(STRANGER_USER, None);
    let partner_root = user(STRANGER_ROOT, None);
    for principal in [
        aws(STRANGER_USER),
        aws(STRANGER_ROOT),
        aws(STRANGER),
        EVERYONE.to_owned(),
    ] {
        let policy = bucket_policy(&[allow(&principal, "s3:GetObject")]);
        let access = access(Some(&policy));
        assert_eq!(
            decide(&access, &partner, "s3:GetObject"),
            Allow,
            "{principal}"
        );
        assert_eq!(
            decide(&access, &partner_without_iam, "s3:GetObject"),
            ImplicitDeny,
            "{principal}"
        );
        assert_eq!(
            decide(&access, &partner, "s3:PutObject"),
            ImplicitDeny,
            "{principal}"
        );
    }
    let account = bucket_policy(&[allow(&aws(STRANGER), "s3:GetObject")]);
    assert_eq!(
        decide(&access(Some(&account)), &partner_root, "s3:GetObject"),
        Allow,
        "IAM allows the root"
    );
    let user_only = bucket_policy(&[allow(&aws(STRANGER_USER), "s3:GetObject")]);
    assert_eq!(
        decide(&access(Some(&user_only)), &partner_root, "s3:GetObject"),
        ImplicitDeny
    );

    let nothing = access(None);
    assert_eq!(
        decide(&nothing, &partner, "s3:GetObject"),
        ImplicitDeny,
        "no bucket grant"
    );
    assert_eq!(
        decide(&nothing, &partner_root, "s3:GetObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(&with_acl(nothing), &partner, "s3:GetObject"),
        Allow,
        "an ACL grant is the owner's allow"
    );
    assert_eq!(
        decide(&with_acl(nothing), &partner_without_iam, "s3:GetObject"),
        ImplicitDeny
    );
}

#[test]
fn anonymous_requests() {
    let anonymous = S3Caller::Anonymous;
    for everyone in [EVERYONE, r#"{"AWS": "*"}"#] {
        let policy = bucket_policy(&[allow(everyone, "s3:GetObject")]);
        assert_eq!(
            decide(&access(Some(&policy)), &anonymous, "s3:GetObject"),
            Allow,
            "{everyone}"
        );
        assert_eq!(
            decide(&access(Some(&policy)), &anonymous, "s3:PutObject"),
            ImplicitDeny,
            "{everyone}"
        );
    }
    let account = bucket_policy(&[allow(&aws(OWNER), "s3:GetObject")]);
    assert_eq!(
        decide(&access(Some(&account)), &anonymous, "s3:GetObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(&access(None), &anonymous, "s3:GetObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(&with_acl(access(None)), &anonymous, "s3:GetObject"),
        Allow
    );
}

#[test]
fn service_principals() {
    let cloudtrail = S3Caller::Service(CLOUDTRAIL);
    let config = S3Caller::Service("config.amazonaws.com");
    let policy = bucket_policy(&[allow(
        r#"{"Service": "cloudtrail.amazonaws.com"}"#,
        "s3:PutObject",
    )]);
    let named = access(Some(&policy));
    assert_eq!(decide(&named, &cloudtrail, "s3:PutObject"), Allow);
    assert_eq!(decide(&named, &cloudtrail, "s3:GetObject"), ImplicitDeny);
    assert_eq!(decide(&named, &config, "s3:PutObject"), ImplicitDeny);
    assert_eq!(
        decide(&named, &S3Caller::Anonymous, "s3:PutObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(&named, &user(OWNER_ROOT, None), "s3:PutObject"),
        Allow,
        "the root, by IAM"
    );
    assert_eq!(
        decide(&named, &user(STRANGER_ROOT, None), "s3:PutObject"),
        ImplicitDeny
    );

    let everyone = bucket_policy(&[allow(EVERYONE, "s3:PutObject")]);
    assert_eq!(
        decide(&access(Some(&everyone)), &cloudtrail, "s3:PutObject"),
        Allow
    );
    let account = bucket_policy(&[allow(&aws(OWNER), "s3:PutObject")]);
    assert_eq!(
        decide(&access(Some(&account)), &cloudtrail, "s3:PutObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(&access(None), &cloudtrail, "s3:PutObject"),
        ImplicitDeny
    );
}

#[test]
fn restrict_public_buckets() {
    let reader = allow_get_object();
    let public = bucket_policy(&[allow(EVERYONE, "s3:GetObject")]);
    assert!(public.is_public());
    let blocked = restricted(access(Some(&public)));
    assert_eq!(
        decide(&blocked, &S3Caller::Anonymous, "s3:GetObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(
            &blocked,
            &user(STRANGER_USER, Some(&reader)),
            "s3:GetObject"
        ),
        ImplicitDeny
    );
    assert_eq!(
        decide(&blocked, &user(STRANGER_ROOT, None), "s3:GetObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(&blocked, &user(OWNER_USER, None), "s3:GetObject"),
        Allow,
        "own account"
    );
    assert_eq!(
        decide(&blocked, &S3Caller::Service(CLOUDTRAIL), "s3:GetObject"),
        Allow
    );
    assert_eq!(
        decide(&with_acl(blocked), &S3Caller::Anonymous, "s3:GetObject"),
        Allow,
        "IgnorePublicAcls, not RestrictPublicBuckets, is about ACLs"
    );

    let office = r#"{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#;
    let not_public = bucket_policy(&[
        allow(&aws(STRANGER), "s3:GetObject"),
        with_condition("Allow", EVERYONE, "s3:GetObject", office),
    ]);
    assert!(!not_public.is_public());
    let partner = user(STRANGER_USER, Some(&reader));
    assert_eq!(
        decide(
            &restricted(access(Some(&not_public))),
            &partner,
            "s3:GetObject"
        ),
        Allow
    );

    let with_deny = bucket_policy(&[
        allow(EVERYONE, "s3:GetObject"),
        deny(&aws(OWNER_USER), "s3:GetObject"),
    ]);
    let blocked = restricted(access(Some(&with_deny)));
    assert_eq!(
        decide(&blocked, &user(OWNER_USER, Some(&reader)), "s3:GetObject"),
        BucketDeny,
        "denies still apply"
    );
}

#[test]
fn bucket_policy_denies() {
    let reader = allow_get_object();
    let cases = [
        (
            "user named",
            aws(OWNER_USER),
            user(OWNER_USER, Some(&reader)),
            BucketDeny,
        ),
        (
            "account named, user",
            aws(OWNER),
            user(OWNER_USER, Some(&reader)),
            BucketDeny,
        ),
        (
            "account named, root",
            aws(OWNER_ROOT),
            user(OWNER_ROOT, None),
            BucketDeny,
        ),
        (
            "other account named",
            aws(STRANGER),
            user(OWNER_USER, Some(&reader)),
            Allow,
        ),
        (
            "everyone, anonymous",
            EVERYONE.to_owned(),
            S3Caller::Anonymous,
            BucketDeny,
        ),
        (
            "everyone, service",
            EVERYONE.to_owned(),
            S3Caller::Service(CLOUDTRAIL),
            BucketDeny,
        ),
        (
            "other service",
            r#"{"Service": "config.amazonaws.com"}"#.to_owned(),
            S3Caller::Service(CLOUDTRAIL),
            Allow,
        ),
    ];
    for (name, denied, caller, expected) in cases {
        let policy = bucket_policy(&[
            allow(EVERYONE, "s3:GetObject"),
            deny(&denied, "s3:GetObject"),
        ]);
        let everything_allows = with_acl(access(Some(&policy)));
        assert_eq!(
            decide(&everything_allows, &caller, "s3:GetObject"),
            expected,
            "{name}"
        );
    }
}

#[test]
fn identity_policy_denies() {
    let deny_get = identity(
        r#"{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
           {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"}"#,
    );
    let grant = bucket_policy(&[allow(&aws(OWNER_USER), "s3:*")]);
    let everything_allows = with_acl(access(Some(&grant)));
    let owner_user = user(OWNER_USER, Some(&deny_get));
    assert_eq!(
        decide(&everything_allows, &owner_user, "s3:GetObject"),
        IdentityDeny
    );
    assert_eq!(
        decide(&everything_allows, &owner_user, "s3:PutObject"),
        Allow
    );
    assert_eq!(
        decide(
            &access(None),
            &user(STRANGER_USER, Some(&deny_get)),
            "s3:GetObject"
        ),
        IdentityDeny
    );

    let both = bucket_policy(&[deny(EVERYONE, "s3:GetObject")]);
    assert_eq!(
        decide(&access(Some(&both)), &owner_user, "s3:GetObject"),
        BucketDeny,
        "the bucket policy's deny is reported first"
    );
}

#[test]
fn the_owner_root_always_manages_the_bucket_policy() {
    let lockout = bucket_policy(&[deny(EVERYONE, "s3:*")]);
    let access = access(Some(&lockout));
    let admin = allow_everything();
    let root = user(OWNER_ROOT, None);
    for action in [
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "S3:putbucketpolicy",
    ] {
        assert_eq!(decide(&access, &root, action), Allow, "{action}");
        assert_eq!(
            decide(&access, &user(STRANGER_ROOT, None), action),
            BucketDeny,
            "{action}"
        );
        assert_eq!(
            decide(&access, &user(OWNER_USER, Some(&admin)), action),
            BucketDeny,
            "{action}"
        );
    }
    assert_eq!(decide(&access, &root, "s3:DeleteBucket"), BucketDeny);
    assert_eq!(decide(&access, &root, "s3:ListBucket"), BucketDeny);
}

#[test]
fn not_principal_not_action_not_resource() {
    let policy = bucket_policy(&[
        format!(
            r#"{{"Effect": "Deny", "NotPrincipal": {{"AWS": ["{OWNER_USER}", "{OWNER_ROOT}"]}}, "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::logs/*"}}"#
        ),
        r#"{"Effect": "Allow", "Principal": "*", "NotAction": ["s3:Delete*", "s3:Put*"], "Resource": "arn:aws:s3:::logs/*"}"#.to_owned(),
        format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "{STRANGER}"}}, "Action": "s3:*", "NotResource": "arn:aws:s3:::logs/AWSLogs/*"}}"#
        ),
    ]);
    let access = access(Some(&policy));
    let everything = allow_everything();
    let anonymous = S3Caller::Anonymous;
    assert_eq!(decide(&access, &anonymous, "s3:GetObject"), Allow);
    assert_eq!(decide(&access, &anonymous, "s3:PutObject"), ImplicitDeny);
    assert_eq!(decide(&access, &anonymous, "s3:DeleteObject"), BucketDeny);
    assert_eq!(
        decide(
            &access,
            &user(OWNER_USER, Some(&everything)),
            "s3:DeleteObject"
        ),
        Allow
    );
    let partner = user(STRANGER_USER, Some(&everything));
    assert_eq!(decide(&access, &partner, "s3:DeleteObject"), BucketDeny);
    // OBJECT is under AWSLogs/, which the NotResource statement excludes.
    assert_eq!(decide(&access, &partner, "s3:PutObject"), ImplicitDeny);
    assert_eq!(decide(&access, &partner, "s3:ListBucket"), Allow);
}

// Condition keys.

#[test]
fn secure_transport() {
    let anonymous = S3Caller::Anonymous;
    let tls = r#"{"Bool": {"aws:SecureTransport": "true"}}"#;
    assert!(allowed_under(
        tls,
        &anonymous,
        "s3:GetObject",
        &[("aws:SecureTransport", "true")]
    ));
    assert!(!allowed_under(
        tls,
        &anonymous,
        "s3:GetObject",
        &[("aws:SecureTransport", "false")]
    ));
    assert!(!allowed_under(tls, &anonymous, "s3:GetObject", &[]));

    let plain_http = r#"{"Bool": {"aws:SecureTransport": false}}"#;
    let policy = bucket_policy(&[
        allow(EVERYONE, "s3:GetObject"),
        with_condition("Deny", EVERYONE, "s3:*", plain_http),
    ]);
    let access = access(Some(&policy));
    let decide = |pairs| decide_with(&access, &anonymous, "s3:GetObject", pairs);
    assert_eq!(decide(&[("aws:SecureTransport", "false")]), BucketDeny);
    assert_eq!(
        decide(&[("AWS:SECURETRANSPORT", "true")]),
        Allow,
        "keys ignore case"
    );
}

#[test]
fn source_ip() {
    let anonymous = S3Caller::Anonymous;
    let office = r#"{"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}}"#;
    assert!(allowed_under(
        office,
        &anonymous,
        "s3:GetObject",
        &[("aws:SourceIp", "192.0.2.77")]
    ));
    assert!(allowed_under(
        office,
        &anonymous,
        "s3:GetObject",
        &[("aws:SourceIp", "2001:db8::5")]
    ));
    assert!(!allowed_under(
        office,
        &anonymous,
        "s3:GetObject",
        &[("aws:SourceIp", "198.51.100.1")]
    ));
    assert!(!allowed_under(office, &anonymous, "s3:GetObject", &[]));
    let outside = r#"{"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#;
    assert!(allowed_under(
        outside,
        &anonymous,
        "s3:GetObject",
        &[("aws:SourceIp", "198.51.100.1")]
    ));
    assert!(!allowed_under(
        outside,
        &anonymous,
        "s3:GetObject",
        &[("aws:SourceIp", "192.0.2.1")]
    ));
}

#[test]
fn list_bucket_keys() {
    let anonymous = S3Caller::Anonymous;
    let listing = r#"{"NumericLessThanEquals": {"s3:max-keys": "100"}, "StringLike": {"s3:prefix": "public/*"}, "StringEquals": {"s3:delimiter": "/"}}"#;
    let request = |max, prefix| {
        [
            ("s3:max-keys", max),
            ("s3:prefix", prefix),
            ("s3:delimiter", "/"),
        ]
    };
    assert!(allowed_under(
        listing,
        &anonymous,
        "s3:ListBucket",
        &request("100", "public/img/")
    ));
    assert!(!allowed_under(
        listing,
        &anonymous,
        "s3:ListBucket",
        &request("1000", "public/")
    ));
    assert!(!allowed_under(
        listing,
        &anonymous,
        "s3:ListBucket",
        &request("10", "private/")
    ));
    let if_exists = r#"{"NumericLessThanEqualsIfExists": {"s3:max-keys": 100}}"#;
    assert!(allowed_under(if_exists, &anonymous, "s3:ListBucket", &[]));
    assert!(!allowed_under(
        if_exists,
        &anonymous,
        "s3:ListBucket",
        &[("s3:max-keys", "101")]
    ));
}

#[test]
fn source_keys_of_a_service() {
    let cloudtrail = S3Caller::Service(CLOUDTRAIL);
    let from_my_trails = r#"{"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceAccount": "111111111111"},
                             "ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:111111111111:trail/*"}}"#;
    let policy = bucket_policy(&[with_condition(
        "Allow",
        r#"{"Service": "cloudtrail.amazonaws.com"}"#,
        "s3:PutObject",
        from_my_trails,
    )]);
    let access = access(Some(&policy));
    let put = |acl, account, trail| {
        let pairs = [
            ("s3:x-amz-acl", acl),
            ("aws:SourceAccount", account),
            ("aws:SourceArn", trail),
        ];
        decide_with(&access, &cloudtrail, "s3:PutObject", &pairs)
    };
    let trail = "arn:aws:cloudtrail:us-east-1:111111111111:trail/management";
    let other_trail = "arn:aws:cloudtrail:us-east-1:222222222222:trail/management";
    let full = "bucket-owner-full-control";
    assert_eq!(put(full, OWNER, trail), Allow);
    assert_eq!(put("private", OWNER, trail), ImplicitDeny);
    assert_eq!(put(full, STRANGER, trail), ImplicitDeny);
    assert_eq!(put(full, OWNER, other_trail), ImplicitDeny);

    let by_name = r#"{"StringEquals": {"aws:PrincipalServiceName": "cloudtrail.amazonaws.com"}}"#;
    assert!(allowed_under(by_name, &cloudtrail, "s3:PutObject", &[]));
    assert!(!allowed_under(
        by_name,
        &S3Caller::Anonymous,
        "s3:PutObject",
        &[]
    ));
}

#[test]
fn encryption_keys() {
    let caller = S3Caller::Anonymous;
    let kms_key = r#"{"StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                      "StringEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:111111111111:key/k"}}"#;
    let sse = "s3:x-amz-server-side-encryption";
    let key_id = "s3:x-amz-server-side-encryption-aws-kms-key-id";
    let my_key = "arn:aws:kms:us-east-1:111111111111:key/k";
    let other_key = "arn:aws:kms:us-east-1:111111111111:key/other";
    assert!(allowed_under(
        kms_key,
        &caller,
        "s3:PutObject",
        &[(sse, "aws:kms")]
    ));
    assert!(allowed_under(
        kms_key,
        &caller,
        "s3:PutObject",
        &[(sse, "aws:kms"), (key_id, my_key)]
    ));
    assert!(!allowed_under(
        kms_key,
        &caller,
        "s3:PutObject",
        &[(sse, "aws:kms"), (key_id, other_key)]
    ));
    assert!(!allowed_under(
        kms_key,
        &caller,
        "s3:PutObject",
        &[(sse, "AES256")]
    ));
    let unencrypted = r#"{"Null": {"s3:x-amz-server-side-encryption": "true"}}"#;
    assert!(allowed_under(unencrypted, &caller, "s3:PutObject", &[]));
    assert!(!allowed_under(
        unencrypted,
        &caller,
        "s3:PutObject",
        &[(sse, "AES256")]
    ));
}

#[test]
fn principal_keys_come_from_the_caller() {
    let reader = allow_get_object();
    let partner = user(STRANGER_USER, Some(&reader));
    let by_arn = r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::222222222222:user/*"}}"#;
    assert!(allowed_under(by_arn, &partner, "s3:GetObject", &[]));
    assert!(!allowed_under(
        by_arn,
        &S3Caller::Anonymous,
        "s3:GetObject",
        &[]
    ));
    let by_account = r#"{"StringEquals": {"aws:PrincipalAccount": "222222222222"}}"#;
    assert!(allowed_under(by_account, &partner, "s3:GetObject", &[]));
    assert!(!allowed_under(
        by_account,
        &user(OWNER_USER, None),
        "s3:GetObject",
        &[]
    ));

    // "Deny everyone outside my account": anonymous requesters have no account, so
    // the negated operator holds for them and they are denied too.
    let outsiders = r#"{"StringNotEquals": {"aws:PrincipalAccount": "111111111111"}}"#;
    let policy = bucket_policy(&[
        allow(EVERYONE, "s3:GetObject"),
        with_condition("Deny", EVERYONE, "s3:*", outsiders),
    ]);
    let access = access(Some(&policy));
    assert_eq!(
        decide(&access, &S3Caller::Anonymous, "s3:GetObject"),
        BucketDeny
    );
    assert_eq!(decide(&access, &partner, "s3:GetObject"), BucketDeny);
    assert_eq!(
        decide(&access, &user(OWNER_USER, None), "s3:GetObject"),
        Allow
    );
}

// Messages.

#[test]
fn denied_messages() {
    let owner_bucket = access(None);
    let message = |decision: S3Decision, caller: &S3Caller| {
        decision.denied_message(caller, &owner_bucket, "s3:GetObject", OBJECT)
    };
    let owner_user = user(OWNER_USER, None);
    let explained = |who: &str, reason: &str| {
        Some(format!(
            "User: {who} is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::logs/AWSLogs/report.csv\" {reason}"
        ))
    };
    assert_eq!(message(Allow, &owner_user), None);
    assert_eq!(
        message(ImplicitDeny, &owner_user),
        explained(
            OWNER_USER,
            "because no identity-based policy allows the s3:GetObject action"
        )
    );
    assert_eq!(
        message(BucketDeny, &owner_user),
        explained(
            OWNER_USER,
            "with an explicit deny in a resource-based policy"
        )
    );
    assert_eq!(
        message(IdentityDeny, &owner_user),
        explained(
            OWNER_USER,
            "with an explicit deny in an identity-based policy"
        )
    );
    assert_eq!(
        message(ImplicitDeny, &user(OWNER_ROOT, None)),
        explained(
            OWNER_ROOT,
            "because no identity-based policy allows the s3:GetObject action"
        )
    );
    // Spelled out once, as a user reads it.
    assert_eq!(
        message(ImplicitDeny, &owner_user).unwrap(),
        "User: arn:aws:iam::111111111111:user/AWSLabsUser-0001 is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::logs/AWSLogs/report.csv\" because no identity-based policy allows the s3:GetObject action"
    );
    let strangers = [
        S3Caller::Anonymous,
        S3Caller::Service(CLOUDTRAIL),
        user(STRANGER_USER, None),
        user(STRANGER_ROOT, None),
    ];
    for caller in strangers {
        for decision in [ImplicitDeny, BucketDeny, IdentityDeny] {
            assert_eq!(
                message(decision, &caller).as_deref(),
                Some("Access Denied"),
                "{caller:?}"
            );
        }
        assert_eq!(message(Allow, &caller), None);
    }
}
