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

use S3Decision::{
    Allow, ExplicitDenyInIdentityPolicy as IdentityDeny,
    ExplicitDenyInResourcePolicy as BucketDeny, ImplicitDeny,
};

fn bucket_policy(statements: &str) -> BucketPolicy {
    BucketPolicy::parse(&format!(r#"{{"Statement": [{statements}]}}"#), "logs")
        .unwrap_or_else(|e| panic!("{statements}: {e}"))
}

/// One bucket policy statement.
fn grant(effect: &str, principal: &str, action: &str, extra: &str) -> String {
    format!(
        r#"{{"Effect": "{effect}", "Principal": {principal}, "Action": "{action}", "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"]{extra}}}"#
    )
}

fn identity(statements: &str) -> PolicyDocument {
    PolicyDocument::parse_identity_policy(&format!(r#"{{"Statement": [{statements}]}}"#)).unwrap()
}

fn allow_get_object() -> PolicyDocument {
    identity(r#"{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"}"#)
}

fn user<'a>(arn: &'a str, identity_policy: Option<&'a PolicyDocument>) -> S3Caller<'a> {
    let account_id = &arn["arn:aws:iam::".len().."arn:aws:iam::".len() + 12];
    S3Caller::Principal(Caller {
        arn,
        account_id,
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

fn decide_with(
    access: &S3Access,
    caller: &S3Caller,
    action: &str,
    context: &ConditionContext,
) -> S3Decision {
    let resource = if action == "s3:ListBucket" {
        BUCKET_ARN
    } else {
        OBJECT
    };
    authorize_s3(
        access,
        caller,
        &AccessRequest {
            action,
            resource,
            context,
        },
    )
}

fn decide(access: &S3Access, caller: &S3Caller, action: &str) -> S3Decision {
    decide_with(access, caller, action, &ConditionContext::new())
}

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

    let for_user = bucket_policy(&grant(
        "Allow",
        &format!(r#"{{"AWS": "{OWNER_USER}"}}"#),
        "s3:PutObject",
        "",
    ));
    let policy = access(Some(&for_user));
    assert_eq!(
        decide(&policy, &user(OWNER_USER, None), "s3:PutObject"),
        Allow
    );
    assert_eq!(
        decide(&policy, &user(OWNER_USER, None), "s3:GetObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(&policy, &user(OWNER_USER, Some(&reader)), "s3:GetObject"),
        Allow
    );

    let acl = S3Access {
        acl_allows: true,
        ..nothing
    };
    assert_eq!(decide(&acl, &user(OWNER_USER, None), "s3:GetObject"), Allow);
}

#[test]
fn a_statement_naming_the_account_delegates_to_iam() {
    for account in [
        format!(r#"{{"AWS": "{OWNER_ROOT}"}}"#),
        format!(r#"{{"AWS": "{OWNER}"}}"#),
    ] {
        let policy = bucket_policy(&grant("Allow", &account, "s3:*", ""));
        let access = access(Some(&policy));
        let reader = allow_get_object();
        assert_eq!(
            decide(&access, &user(OWNER_USER, None), "s3:GetObject"),
            ImplicitDeny,
            "{account}"
        );
        assert_eq!(
            decide(&access, &user(OWNER_USER, Some(&reader)), "s3:GetObject"),
            Allow
        );
        assert_eq!(
            decide(&access, &user(OWNER_ROOT, None), "s3:GetObject"),
            Allow
        );
    }
}

#[test]
fn other_accounts_need_both_allows() {
    let reader = allow_get_object();
    let partner = user(STRANGER_USER, Some(&reader));
    let partner_without_iam = user(STRANGER_USER, None);
    let partner_root = user(STRANGER_ROOT, None);
    let cases: [(&str, String); 4] = [
        ("the user", format!(r#"{{"AWS": "{STRANGER_USER}"}}"#)),
        (
            "the account root",
            format!(r#"{{"AWS": "{STRANGER_ROOT}"}}"#),
        ),
        ("the account id", format!(r#"{{"AWS": "{STRANGER}"}}"#)),
        ("everyone", r#""*""#.to_owned()),
    ];
    for (name, principal) in cases {
        let policy = bucket_policy(&grant("Allow", &principal, "s3:GetObject", ""));
        let access = access(Some(&policy));
        assert_eq!(decide(&access, &partner, "s3:GetObject"), Allow, "{name}");
        assert_eq!(
            decide(&access, &partner_without_iam, "s3:GetObject"),
            ImplicitDeny,
            "{name}"
        );
        assert_eq!(
            decide(&access, &partner, "s3:PutObject"),
            ImplicitDeny,
            "{name}"
        );
    }
    let account = bucket_policy(&grant(
        "Allow",
        &format!(r#"{{"AWS": "{STRANGER}"}}"#),
        "s3:GetObject",
        "",
    ));
    assert_eq!(
        decide(&access(Some(&account)), &partner_root, "s3:GetObject"),
        Allow,
        "IAM allows the root"
    );
    let user_only = bucket_policy(&grant(
        "Allow",
        &format!(r#"{{"AWS": "{STRANGER_USER}"}}"#),
        "s3:GetObject",
        "",
    ));
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
    let acl = S3Access {
        acl_allows: true,
        ..nothing
    };
    assert_eq!(
        decide(&acl, &partner, "s3:GetObject"),
        Allow,
        "an ACL grant is the owner's allow"
    );
    assert_eq!(
        decide(&acl, &partner_without_iam, "s3:GetObject"),
        ImplicitDeny
    );
}

#[test]
fn anonymous_requests() {
    for everyone in [r#""*""#, r#"{"AWS": "*"}"#] {
        let policy = bucket_policy(&grant("Allow", everyone, "s3:GetObject", ""));
        assert_eq!(
            decide(&access(Some(&policy)), &S3Caller::Anonymous, "s3:GetObject"),
            Allow
        );
        assert_eq!(
            decide(&access(Some(&policy)), &S3Caller::Anonymous, "s3:PutObject"),
            ImplicitDeny
        );
    }
    let account = bucket_policy(&grant(
        "Allow",
        &format!(r#"{{"AWS": "{OWNER}"}}"#),
        "s3:GetObject",
        "",
    ));
    assert_eq!(
        decide(
            &access(Some(&account)),
            &S3Caller::Anonymous,
            "s3:GetObject"
        ),
        ImplicitDeny
    );
    assert_eq!(
        decide(&access(None), &S3Caller::Anonymous, "s3:GetObject"),
        ImplicitDeny
    );
    let acl = S3Access {
        acl_allows: true,
        ..access(None)
    };
    assert_eq!(decide(&acl, &S3Caller::Anonymous, "s3:GetObject"), Allow);
}

#[test]
fn service_principals() {
    let cloudtrail = S3Caller::Service(CLOUDTRAIL);
    let config = S3Caller::Service("config.amazonaws.com");
    let policy = bucket_policy(&grant(
        "Allow",
        r#"{"Service": "cloudtrail.amazonaws.com"}"#,
        "s3:PutObject",
        "",
    ));
    let access_ = access(Some(&policy));
    assert_eq!(decide(&access_, &cloudtrail, "s3:PutObject"), Allow);
    assert_eq!(decide(&access_, &cloudtrail, "s3:GetObject"), ImplicitDeny);
    assert_eq!(decide(&access_, &config, "s3:PutObject"), ImplicitDeny);
    assert_eq!(
        decide(&access_, &S3Caller::Anonymous, "s3:PutObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(&access_, &user(OWNER_ROOT, None), "s3:PutObject"),
        Allow,
        "the root by IAM"
    );
    assert_eq!(
        decide(&access_, &user(STRANGER_ROOT, None), "s3:PutObject"),
        ImplicitDeny
    );

    let everyone = bucket_policy(&grant("Allow", r#""*""#, "s3:PutObject", ""));
    assert_eq!(
        decide(&access(Some(&everyone)), &cloudtrail, "s3:PutObject"),
        Allow
    );
    let account = bucket_policy(&grant(
        "Allow",
        &format!(r#"{{"AWS": "{OWNER}"}}"#),
        "s3:PutObject",
        "",
    ));
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
    let public = bucket_policy(&grant("Allow", r#""*""#, "s3:GetObject", ""));
    assert!(public.is_public());
    let restricted = S3Access {
        restrict_public_buckets: true,
        ..access(Some(&public))
    };
    let reader = allow_get_object();
    assert_eq!(
        decide(&restricted, &S3Caller::Anonymous, "s3:GetObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(
            &restricted,
            &user(STRANGER_USER, Some(&reader)),
            "s3:GetObject"
        ),
        ImplicitDeny
    );
    assert_eq!(
        decide(&restricted, &user(STRANGER_ROOT, None), "s3:GetObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(&restricted, &user(OWNER_USER, None), "s3:GetObject"),
        Allow,
        "own account"
    );
    assert_eq!(
        decide(&restricted, &S3Caller::Service(CLOUDTRAIL), "s3:GetObject"),
        Allow
    );
    let with_acl = S3Access {
        acl_allows: true,
        ..restricted
    };
    assert_eq!(
        decide(&with_acl, &S3Caller::Anonymous, "s3:GetObject"),
        Allow,
        "ACLs are not restricted here"
    );

    // A policy that is not public keeps serving other accounts.
    let narrowed = bucket_policy(&format!(
        "{}, {}",
        grant(
            "Allow",
            &format!(r#"{{"AWS": "{STRANGER}"}}"#),
            "s3:GetObject",
            ""
        ),
        grant(
            "Allow",
            r#""*""#,
            "s3:GetObject",
            r#", "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#
        ),
    ));
    assert!(!narrowed.is_public());
    let restricted = S3Access {
        restrict_public_buckets: true,
        ..access(Some(&narrowed))
    };
    assert_eq!(
        decide(
            &restricted,
            &user(STRANGER_USER, Some(&reader)),
            "s3:GetObject"
        ),
        Allow
    );

    // Denies still apply.
    let deny = bucket_policy(&format!(
        "{}, {}",
        grant("Allow", r#""*""#, "s3:GetObject", ""),
        grant(
            "Deny",
            &format!(r#"{{"AWS": "{OWNER_USER}"}}"#),
            "s3:GetObject",
            ""
        ),
    ));
    let restricted = S3Access {
        restrict_public_buckets: true,
        ..access(Some(&deny))
    };
    assert_eq!(
        decide(
            &restricted,
            &user(OWNER_USER, Some(&reader)),
            "s3:GetObject"
        ),
        BucketDeny
    );
}

#[test]
fn explicit_denies() {
    let reader = allow_get_object();
    let cases: [(&str, String, S3Caller, S3Decision); 7] = [
        (
            "user named",
            format!(r#"{{"AWS": "{OWNER_USER}"}}"#),
            user(OWNER_USER, Some(&reader)),
            BucketDeny,
        ),
        (
            "account named, user",
            format!(r#"{{"AWS": "{OWNER}"}}"#),
            user(OWNER_USER, Some(&reader)),
            BucketDeny,
        ),
        (
            "account named, root",
            format!(r#"{{"AWS": "{OWNER_ROOT}"}}"#),
            user(OWNER_ROOT, None),
            BucketDeny,
        ),
        (
            "other account named",
            format!(r#"{{"AWS": "{STRANGER}"}}"#),
            user(OWNER_USER, Some(&reader)),
            Allow,
        ),
        (
            "everyone, anonymous",
            r#""*""#.to_owned(),
            S3Caller::Anonymous,
            BucketDeny,
        ),
        (
            "everyone, service",
            r#""*""#.to_owned(),
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
    for (name, principal, caller, expected) in cases {
        let policy = bucket_policy(&format!(
            "{}, {}",
            grant("Allow", r#""*""#, "s3:GetObject", ""),
            grant("Deny", &principal, "s3:GetObject", ""),
        ));
        let with_acl = S3Access {
            acl_allows: true,
            ..access(Some(&policy))
        };
        assert_eq!(
            decide(&with_acl, &caller, "s3:GetObject"),
            expected,
            "{name}"
        );
    }

    let deny_get = identity(
        r#"{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
           {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"}"#,
    );
    let grant_user = bucket_policy(&grant(
        "Allow",
        &format!(r#"{{"AWS": "{OWNER_USER}"}}"#),
        "s3:*",
        "",
    ));
    let with_acl = S3Access {
        acl_allows: true,
        ..access(Some(&grant_user))
    };
    assert_eq!(
        decide(
            &with_acl,
            &user(OWNER_USER, Some(&deny_get)),
            "s3:GetObject"
        ),
        IdentityDeny
    );
    assert_eq!(
        decide(
            &with_acl,
            &user(OWNER_USER, Some(&deny_get)),
            "s3:PutObject"
        ),
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

    let both = bucket_policy(&grant("Deny", r#""*""#, "s3:GetObject", ""));
    assert_eq!(
        decide(
            &access(Some(&both)),
            &user(OWNER_USER, Some(&deny_get)),
            "s3:GetObject"
        ),
        BucketDeny,
        "the bucket policy's deny is reported first"
    );
}

#[test]
fn not_principal_not_action_not_resource() {
    let policy = bucket_policy(&format!(
        r#"{{"Effect": "Deny", "NotPrincipal": {{"AWS": ["{OWNER_USER}", "{OWNER_ROOT}"]}}, "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::logs/*"}},
           {{"Effect": "Allow", "Principal": "*", "NotAction": ["s3:Delete*", "s3:Put*"], "Resource": "arn:aws:s3:::logs/*"}},
           {{"Effect": "Allow", "Principal": {{"AWS": "{STRANGER}"}}, "Action": "s3:*", "NotResource": "arn:aws:s3:::logs/AWSLogs/*"}}"#
    ));
    let access = access(Some(&policy));
    let everything = identity(r#"{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}"#);
    assert_eq!(decide(&access, &S3Caller::Anonymous, "s3:GetObject"), Allow);
    assert_eq!(
        decide(&access, &S3Caller::Anonymous, "s3:PutObject"),
        ImplicitDeny
    );
    assert_eq!(
        decide(&access, &S3Caller::Anonymous, "s3:DeleteObject"),
        BucketDeny
    );
    assert_eq!(
        decide(
            &access,
            &user(OWNER_USER, Some(&everything)),
            "s3:DeleteObject"
        ),
        Allow
    );
    assert_eq!(
        decide(
            &access,
            &user(STRANGER_USER, Some(&everything)),
            "s3:DeleteObject"
        ),
        BucketDeny
    );
    // NotResource excludes AWSLogs/, where OBJECT lives: only the `*` statement applies.
    assert_eq!(
        decide(
            &access,
            &user(STRANGER_USER, Some(&everything)),
            "s3:PutObject"
        ),
        ImplicitDeny
    );
    assert_eq!(
        decide(
            &access,
            &user(STRANGER_USER, Some(&everything)),
            "s3:ListBucket"
        ),
        Allow
    );
}

fn context(pairs: &[(&str, &str)]) -> ConditionContext {
    let mut context = ConditionContext::new();
    for (key, value) in pairs {
        context.insert(key, vec![value.to_string()]);
    }
    context
}

/// Whether `condition` on an Allow for everyone lets `caller` do `action` in `context`.
fn allowed_under(condition: &str, caller: &S3Caller, action: &str, pairs: &[(&str, &str)]) -> bool {
    let policy = bucket_policy(&grant(
        "Allow",
        r#""*""#,
        "s3:*",
        &format!(r#", "Condition": {condition}"#),
    ));
    decide_with(&access(Some(&policy)), caller, action, &context(pairs)).is_allowed()
}

#[test]
fn secure_transport_and_source_ip() {
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

    let deny_plain_http = bucket_policy(&format!(
        "{}, {}",
        grant("Allow", r#""*""#, "s3:GetObject", ""),
        grant(
            "Deny",
            r#""*""#,
            "s3:*",
            r#", "Condition": {"Bool": {"aws:SecureTransport": false}}"#
        ),
    ));
    let access = access(Some(&deny_plain_http));
    let plain = context(&[("aws:SecureTransport", "false")]);
    assert_eq!(
        decide_with(&access, &anonymous, "s3:GetObject", &plain),
        BucketDeny
    );
    let secure = context(&[("AWS:SECURETRANSPORT", "true")]);
    assert_eq!(
        decide_with(&access, &anonymous, "s3:GetObject", &secure),
        Allow
    );

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
    let request = |max: &'static str, prefix: &'static str| {
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
fn service_source_keys() {
    let cloudtrail = S3Caller::Service(CLOUDTRAIL);
    let policy = bucket_policy(&grant(
        "Allow",
        r#"{"Service": "cloudtrail.amazonaws.com"}"#,
        "s3:PutObject",
        r#", "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceAccount": "111111111111"},
                           "ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:111111111111:trail/*"}}"#,
    ));
    let access = access(Some(&policy));
    let request = |acl: &'static str, account: &'static str, arn: &'static str| {
        context(&[
            ("s3:x-amz-acl", acl),
            ("aws:SourceAccount", account),
            ("aws:SourceArn", arn),
        ])
    };
    let trail = "arn:aws:cloudtrail:us-east-1:111111111111:trail/management";
    let full = "bucket-owner-full-control";
    assert_eq!(
        decide_with(
            &access,
            &cloudtrail,
            "s3:PutObject",
            &request(full, OWNER, trail)
        ),
        Allow
    );
    assert_eq!(
        decide_with(
            &access,
            &cloudtrail,
            "s3:PutObject",
            &request("private", OWNER, trail)
        ),
        ImplicitDeny
    );
    assert_eq!(
        decide_with(
            &access,
            &cloudtrail,
            "s3:PutObject",
            &request(full, STRANGER, trail)
        ),
        ImplicitDeny
    );
    let other_trail = "arn:aws:cloudtrail:us-east-1:222222222222:trail/management";
    assert_eq!(
        decide_with(
            &access,
            &cloudtrail,
            "s3:PutObject",
            &request(full, OWNER, other_trail)
        ),
        ImplicitDeny
    );

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
    let kms = r#"{"StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                  "StringEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:111111111111:key/k"}}"#;
    let sse = "s3:x-amz-server-side-encryption";
    let key = "s3:x-amz-server-side-encryption-aws-kms-key-id";
    assert!(allowed_under(
        kms,
        &caller,
        "s3:PutObject",
        &[(sse, "aws:kms")]
    ));
    assert!(allowed_under(
        kms,
        &caller,
        "s3:PutObject",
        &[
            (sse, "aws:kms"),
            (key, "arn:aws:kms:us-east-1:111111111111:key/k")
        ]
    ));
    assert!(!allowed_under(
        kms,
        &caller,
        "s3:PutObject",
        &[
            (sse, "aws:kms"),
            (key, "arn:aws:kms:us-east-1:111111111111:key/other")
        ]
    ));
    assert!(!allowed_under(
        kms,
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

    // "Deny everyone outside my account": anonymous requesters have no account, so a
    // negated operator holds for them and they are denied too.
    let outsiders = bucket_policy(&format!(
        "{}, {}",
        grant("Allow", r#""*""#, "s3:GetObject", ""),
        grant(
            "Deny",
            r#""*""#,
            "s3:*",
            r#", "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "111111111111"}}"#
        ),
    ));
    let access = access(Some(&outsiders));
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

#[test]
fn denied_messages() {
    let nothing = access(None);
    let owner_user = user(OWNER_USER, None);
    let message = |decision: S3Decision, caller: &S3Caller| {
        decision.denied_message(caller, &nothing, "s3:GetObject", OBJECT)
    };
    assert_eq!(message(Allow, &owner_user), None);
    assert_eq!(
        message(ImplicitDeny, &owner_user).unwrap(),
        "User: arn:aws:iam::111111111111:user/AWSLabsUser-0001 is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::logs/AWSLogs/report.csv\" because no identity-based policy allows the s3:GetObject action"
    );
    assert_eq!(
        message(BucketDeny, &owner_user).unwrap(),
        "User: arn:aws:iam::111111111111:user/AWSLabsUser-0001 is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::logs/AWSLogs/report.csv\" with an explicit deny in a resource-based policy"
    );
    assert_eq!(
        message(IdentityDeny, &owner_user).unwrap(),
        "User: arn:aws:iam::111111111111:user/AWSLabsUser-0001 is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::logs/AWSLogs/report.csv\" with an explicit deny in an identity-based policy"
    );
    assert_eq!(
        message(ImplicitDeny, &user(OWNER_ROOT, None)).unwrap(),
        "User: arn:aws:iam::111111111111:root is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::logs/AWSLogs/report.csv\" because no identity-based policy allows the s3:GetObject action"
    );
    for caller in [
        S3Caller::Anonymous,
        S3Caller::Service(CLOUDTRAIL),
        user(STRANGER_USER, None),
        user(STRANGER_ROOT, None),
    ] {
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

#[test]
fn the_owner_root_always_manages_the_bucket_policy() {
    let lockout = bucket_policy(&format!(
        r#"{{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "{BUCKET_ARN}"}}"#
    ));
    let access = access(Some(&lockout));
    let on_bucket = |caller: &S3Caller, action: &str| {
        let context = ConditionContext::new();
        authorize_s3(
            &access,
            caller,
            &AccessRequest {
                action,
                resource: BUCKET_ARN,
                context: &context,
            },
        )
    };
    let root = user(OWNER_ROOT, None);
    for action in [
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "S3:putbucketpolicy",
    ] {
        assert_eq!(on_bucket(&root, action), Allow, "{action}");
        assert_eq!(
            on_bucket(&user(STRANGER_ROOT, None), action),
            BucketDeny,
            "{action}"
        );
        let admin = identity(r#"{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}"#);
        assert_eq!(
            on_bucket(&user(OWNER_USER, Some(&admin)), action),
            BucketDeny,
            "{action}"
        );
    }
    assert_eq!(on_bucket(&root, "s3:DeleteBucket"), BucketDeny);
    assert_eq!(on_bucket(&root, "s3:ListBucket"), BucketDeny);
}
