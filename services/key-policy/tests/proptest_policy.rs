//! Property tests of the key policy parser, which reads a client's JSON (CreateKey and
//! PutKeyPolicy) and the principals file's identity policies: any text parses or is
//! refused with PolicyError (no panic, no unbounded recursion, the 32 KiB limit holds
//! first); what parses evaluates without panicking, and an explicit Deny always wins;
//! the console's edits give back policies that parse and say what was asked.
//! A longer run: `PROPTEST_CASES=200000 cargo test -p keyhold-key-policy --release
//! proptest_`.

use keyhold_key_policy::{
    AccessRequest, Caller, ConditionContext, MAX_POLICY_BYTES, PolicyDocument, PolicyError,
    add_key_user, authorize, console_key_policy, remove_key_user,
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

proptest! {
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
