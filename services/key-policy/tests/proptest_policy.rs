//! Property tests of the key policy parser, which reads a client's JSON (CreateKey and
//! PutKeyPolicy) and the principals file's identity policies: any text parses or is
//! refused with PolicyError (no panic, no unbounded recursion, the 32 KiB limit holds
//! first); what parses evaluates without panicking, and an explicit Deny always wins;
//! the console's edits give back policies that parse and say what was asked. The same
//! holds for bucket policies (PutBucketPolicy also reads a client's JSON), whose
//! refusals are always S3's MalformedPolicy.
//! A longer run: `PROPTEST_CASES=200000 cargo test -p keyhold-key-policy --release
//! proptest_`.

use keyhold_key_policy::{
    AccessRequest, BUCKET_POLICY_TOO_LARGE, BucketPolicy, Caller, ConditionContext,
    MAX_BUCKET_POLICY_BYTES, MAX_POLICY_BYTES, PolicyDocument, PolicyError, S3Access, S3Caller,
    add_key_user, authorize, authorize_s3, console_key_policy, remove_key_user,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const ACCOUNT: &str = "000000000000";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

/// Any text, weighted towards JSON's punctuation.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(vec!['{', '}', '[', ']', '"', ':', ',', '\\', '*', ' ']),
            2 => prop::char::range('a', 'z'),
            1 => any::<char>(),
        ],
        0..max,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn principal() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(json!("*")),
        2 => Just(json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:root")})),
        4 => Just(json!({"AWS": [user_arn("AWSLabsUser-0001"), user_arn("AWSLabsUser-0002")]})),
        1 => Just(json!({"AWS": ACCOUNT})),
        1 => Just(json!({"Service": "s3.amazonaws.com"})),
        1 => text(30).prop_map(|t| json!({"AWS": t})),
        1 => text(30).prop_map(Value::String),
    ]
}

fn action() -> impl Strategy<Value = Value> {
    let one = prop_oneof![
        2 => Just("kms:*".to_owned()),
        2 => Just("kms:Decrypt".to_owned()),
        2 => Just("kms:Encrypt*".to_owned()),
        1 => Just("*".to_owned()),
        1 => text(20),
    ];
    prop_oneof![
        one.clone().prop_map(Value::String),
        prop::collection::vec(one, 0..4).prop_map(|a| json!(a)),
    ]
}

fn condition() -> impl Strategy<Value = Value> {
    let operator = prop::sample::select(vec![
        "StringEquals",
        "StringLike",
        "StringNotEquals",
        "ForAnyValue:StringEquals",
        "ForAllValues:StringLike",
        "Bool",
        "Null",
        "NumericEquals",
        "Bogus",
    ]);
    let key = prop::sample::select(vec![
        "kms:EncryptionContext:purpose",
        "kms:EncryptionContextKeys",
        "kms:ViaService",
        "kms:CallerAccount",
        "kms:GrantIsForAWSResource",
        "aws:PrincipalArn",
    ]);
    let value = prop_oneof![
        text(12).prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop::collection::vec(text(8), 0..3).prop_map(|v| json!(v)),
        Just(Value::Null),
    ];
    (operator, key, value).prop_map(|(operator, key, value)| json!({ operator: { key: value } }))
}

/// A statement: mostly of parts AWS accepts, sometimes with wrong ones among them.
fn statement() -> impl Strategy<Value = Value> {
    let effect = prop_oneof![8 => Just("Allow"), 4 => Just("Deny"), 1 => Just("Permit")];
    let principal = prop_oneof![6 => valid_principal(), 1 => principal()];
    let action = prop_oneof![6 => valid_action(), 1 => action()];
    let condition = prop_oneof![6 => valid_condition(), 1 => condition()];
    (
        effect,
        principal,
        action,
        prop::option::of(condition),
        prop::option::of(text(10)),
    )
        .prop_map(|(effect, principal, action, condition, sid)| {
            let mut statement = json!({
                "Effect": effect,
                "Principal": principal,
                "Action": action,
                "Resource": "*",
            });
            if let Some(condition) = condition {
                statement["Condition"] = condition;
            }
            if let Some(sid) = sid {
                statement["Sid"] = json!(sid);
            }
            statement
        })
}

fn valid_principal() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!("*"),
        json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}),
        json!({"AWS": [user_arn("AWSLabsUser-0001"), user_arn("AWSLabsUser-0002")]}),
        json!({"AWS": user_arn("AWSLabsUser-0001")}),
    ])
}

fn valid_action() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!("kms:*"),
        json!("kms:Decrypt"),
        json!(["kms:Encrypt*", "kms:Decrypt"]),
        json!("*"),
    ])
}

fn valid_condition() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["StringEquals", "StringLike", "StringNotEquals"]),
        prop::sample::select(vec!["kms:EncryptionContext:purpose", "kms:ViaService"]),
        prop::collection::vec(
            prop::sample::select(vec!["lab", "l*", "s3.us-east-1.amazonaws.com"]),
            1..3,
        ),
    )
        .prop_map(|(operator, key, values)| json!({ operator: { key: values } }))
}

fn policy() -> impl Strategy<Value = Value> {
    prop::collection::vec(statement(), 1..4)
        .prop_map(|statements| json!({"Version": "2012-10-17", "Statement": statements}))
}

fn context() -> impl Strategy<Value = ConditionContext> {
    (text(12), any::<bool>()).prop_map(|(purpose, via_s3)| {
        let mut context = ConditionContext::new()
            .with("kms:EncryptionContext:purpose", vec![purpose])
            .with("kms:CallerAccount", vec![ACCOUNT.to_owned()]);
        if via_s3 {
            context.insert(
                "kms:ViaService",
                vec!["s3.us-east-1.amazonaws.com".to_owned()],
            );
        }
        context
    })
}

fn decide(policy: &PolicyDocument, caller: &str, action: &str, context: &ConditionContext) -> bool {
    let caller = Caller {
        arn: caller,
        account_id: ACCOUNT,
        is_account_root: false,
        identity_policy: None,
    };
    let request = AccessRequest {
        action,
        resource: KEY_ARN,
        context,
    };
    authorize(policy, &caller, &request).is_allowed()
}

/// A bucket policy statement for bucket `logs`: mostly of parts S3 accepts.
fn bucket_statement() -> impl Strategy<Value = Value> {
    let effect = prop::sample::select(vec!["Allow", "Deny"]);
    let principal = prop_oneof![
        6 => prop::sample::select(vec![
            json!("*"),
            json!({"AWS": ACCOUNT}),
            json!({"AWS": "111111111111"}),
            json!({"AWS": user_arn("AWSLabsUser-0001")}),
            json!({"Service": "cloudtrail.amazonaws.com"}),
        ]),
        1 => principal(),
    ];
    let action = prop_oneof![
        6 => prop::sample::select(vec![
            json!("s3:*"),
            json!("s3:GetObject"),
            json!(["s3:PutObject", "s3:Get*"]),
            json!("*"),
        ]),
        1 => action(),
    ];
    let condition = prop::sample::select(vec![
        json!({"Bool": {"aws:SecureTransport": "true"}}),
        json!({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "0.0.0.0/0"]}}),
        json!({"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}}),
        json!({"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:*:trail/*"}}),
        json!({"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}),
    ]);
    (effect, principal, action, prop::option::of(condition)).prop_map(
        |(effect, principal, action, condition)| {
            let mut statement = json!({
                "Effect": effect,
                "Principal": principal,
                "Action": action,
                "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"],
            });
            if let Some(condition) = condition {
                statement["Condition"] = condition;
            }
            statement
        },
    )
}

fn bucket_policy() -> impl Strategy<Value = Value> {
    prop::collection::vec(bucket_statement(), 1..4)
        .prop_map(|statements| json!({"Version": "2012-10-17", "Statement": statements}))
}

fn s3_caller(choice: u8, identity: &PolicyDocument) -> (S3Caller<'_>, String) {
    let principal = |arn: &'static str, account_id: &'static str, root: bool| {
        S3Caller::Principal(Caller {
            arn,
            account_id,
            is_account_root: root,
            identity_policy: Some(identity),
        })
    };
    match choice % 6 {
        0 => (
            principal("arn:aws:iam::000000000000:root", ACCOUNT, true),
            "owner root".into(),
        ),
        1 => (
            principal(
                "arn:aws:iam::000000000000:user/AWSLabsUser-0001",
                ACCOUNT,
                false,
            ),
            "owner user".into(),
        ),
        2 => (
            principal("arn:aws:iam::111111111111:root", "111111111111", true),
            "other root".into(),
        ),
        3 => (
            principal(
                "arn:aws:iam::111111111111:user/Partner",
                "111111111111",
                false,
            ),
            "other user".into(),
        ),
        4 => (
            S3Caller::Service("cloudtrail.amazonaws.com"),
            "service".into(),
        ),
        _ => (S3Caller::Anonymous, "anonymous".into()),
    }
}

proptest! {
    /// Any text as a bucket policy: Ok or a MalformedPolicy message, never a panic;
    /// over 20 KiB it is S3's size message.
    #[test]
    fn proptest_any_text_is_a_bucket_policy_or_malformed(json in text(400), padding in 0usize..2) {
        let json = if padding == 1 { format!("{{{}", " ".repeat(MAX_BUCKET_POLICY_BYTES)) + &json } else { json };
        match BucketPolicy::parse(&json, "logs") {
            Ok(_) => prop_assert!(json.len() <= MAX_BUCKET_POLICY_BYTES),
            Err(PolicyError::Malformed(message)) => {
                if json.len() > MAX_BUCKET_POLICY_BYTES {
                    prop_assert_eq!(message, BUCKET_POLICY_TOO_LARGE);
                }
            }
            Err(other) => prop_assert!(false, "not a MalformedPolicy: {other:?}"),
        }
    }

    /// Generated bucket policies: parsed or refused; a parsed one decides every kind of
    /// requester, and a Deny of everything to everyone wins over any allow, except
    /// the owner root's right to manage the bucket policy.
    #[test]
    fn proptest_bucket_policies_decide_and_deny_wins(
        policy in bucket_policy(),
        choice in any::<u8>(),
        restrict in any::<bool>(),
        acl_allows in any::<bool>(),
        secure in any::<bool>(),
        action in prop::sample::select(vec!["s3:GetObject", "s3:PutObject", "s3:PutBucketPolicy"]),
    ) {
        let Ok(parsed) = BucketPolicy::parse(&policy.to_string(), "logs") else {
            return Ok(());
        };
        let identity = PolicyDocument::parse_identity_policy(
            r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#,
        ).expect("identity policy");
        let (caller, name) = s3_caller(choice, &identity);
        let context = ConditionContext::new()
            .with("aws:SecureTransport", vec![secure.to_string()])
            .with("aws:SourceIp", vec!["10.1.2.3".to_owned()]);
        let resource = if action == "s3:PutBucketPolicy" { "arn:aws:s3:::logs" } else { "arn:aws:s3:::logs/k" };
        let request = AccessRequest { action, resource, context: &context };
        let access = |policy| S3Access {
            bucket_account: ACCOUNT,
            bucket_policy: Some(policy),
            restrict_public_buckets: restrict,
            acl_allows,
        };
        let _ = authorize_s3(&access(&parsed), &caller, &request);

        let mut denied = policy.clone();
        denied["Statement"].as_array_mut().expect("statements").push(json!({
            "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"],
        }));
        let denied = BucketPolicy::parse(&denied.to_string(), "logs")
            .expect("adding a valid Deny keeps a valid policy valid");
        let decision = authorize_s3(&access(&denied), &caller, &request);
        let owner_root_manages_policy = name == "owner root" && action == "s3:PutBucketPolicy";
        prop_assert_eq!(decision.is_allowed(), owner_root_manages_policy, "{}", name);
    }

    /// Any text: Ok or PolicyError, never a panic; what is over 32 KiB is TooLarge.
    #[test]
    fn proptest_any_text_parses_or_is_refused(json in text(400)) {
        let parsed = PolicyDocument::parse_key_policy(&json);
        if json.len() > MAX_POLICY_BYTES {
            prop_assert_eq!(parsed.err(), Some(PolicyError::TooLarge));
        }
        let _ = PolicyDocument::parse_identity_policy(&json);
    }

    /// Policies shaped like AWS's, with wrong parts among the right ones: parsed or
    /// refused; a parsed one evaluates, and a Deny of everything to everyone wins.
    #[test]
    fn proptest_generated_policies_evaluate_and_deny_wins(
        policy in policy(),
        context in context(),
        action in prop::sample::select(vec!["kms:Decrypt", "kms:Encrypt", "kms:PutKeyPolicy"]),
    ) {
        let text = policy.to_string();
        let Ok(document) = PolicyDocument::parse_key_policy(&text) else {
            return Ok(());
        };
        let caller = user_arn("AWSLabsUser-0001");
        let _ = decide(&document, &caller, action, &context);
        let mut denied = policy.clone();
        denied["Statement"]
            .as_array_mut()
            .expect("statements")
            .push(json!({"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}));
        let denied = PolicyDocument::parse_key_policy(&denied.to_string())
            .expect("adding a valid Deny keeps a valid policy valid");
        prop_assert!(!decide(&denied, &caller, action, &context));
    }

    /// A valid policy with one character replaced: parsed or refused, never a panic.
    #[test]
    fn proptest_damaged_policies_parse_or_are_refused(
        policy in policy(),
        at in any::<prop::sample::Index>(),
        replacement in any::<char>(),
    ) {
        let mut chars: Vec<char> = policy.to_string().chars().collect();
        let at = at.index(chars.len());
        chars[at] = replacement;
        let damaged: String = chars.into_iter().collect();
        let _ = PolicyDocument::parse_key_policy(&damaged);
    }

    /// Nesting within the size limit is refused by the JSON reader's depth limit, not
    /// by the stack running out.
    #[test]
    fn proptest_deep_nesting_is_refused(depth in 1usize..16_000, objects in any::<bool>()) {
        let (open, close) = if objects { ("{\"a\":", "}") } else { ("[", "]") };
        let json = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        if json.len() <= MAX_POLICY_BYTES {
            prop_assert!(PolicyDocument::parse_key_policy(&json).is_err());
        }
    }

    /// The console's policy for any choice of users parses; adding a key user makes
    /// them one, removing them (when not an administrator) leaves no trace of them.
    #[test]
    fn proptest_console_edits_round_trip(
        administrators in prop::collection::vec(0u8..6, 0..4),
        users in prop::collection::vec(0u8..6, 0..4),
        chosen in 0u8..6,
    ) {
        let arns = |ids: &[u8]| ids.iter().map(|n| user_arn(&format!("u{n}"))).collect::<Vec<_>>();
        let administrators = arns(&administrators);
        let policy = console_key_policy(ACCOUNT, &administrators, &arns(&users));
        PolicyDocument::parse_key_policy(&policy).expect("the console's policy parses");
        let arn = user_arn(&format!("u{chosen}"));
        let context = ConditionContext::new();

        let added = add_key_user(&policy, &arn).expect("adds");
        let document = PolicyDocument::parse_key_policy(&added).expect("parses");
        prop_assert!(decide(&document, &arn, "kms:Decrypt", &context));

        let removed = remove_key_user(&added, &arn).expect("removes");
        let document = PolicyDocument::parse_key_policy(&removed).expect("parses");
        if !administrators.contains(&arn) {
            prop_assert!(!removed.contains(&arn));
            prop_assert!(!decide(&document, &arn, "kms:Decrypt", &context));
        }
    }
}
