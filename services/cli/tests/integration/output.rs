//! What `keyhold` prints, as snapshots (insta; `cargo insta review`, or
//! INSTA_UPDATE=always, after an intended change): the AWS CLI's JSON, tables, text
//! and --query. Values that differ per run (key ids, dates) are masked; since their
//! lengths vary (a date's trailing zeros), table snapshots squeeze padding and rules,
//! keeping the layout: titles, rows, columns and their order.

use keyhold_proto::kms::v1::CreateAliasRequest;
use keyhold_tests::{KmsHarness, Who, kms::lab_user_key};

struct Run {
    kms: KmsHarness,
    key_id: String,
}

async fn start() -> Run {
    let kms = KmsHarness::start().await;
    let mut client = kms.client(Who::User1);
    let key = lab_user_key(&mut client).await;
    client
        .create_alias(CreateAliasRequest {
            alias_name: "alias/myFirstKey".into(),
            target_key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
    Run {
        kms,
        key_id: key.key_id,
    }
}

impl Run {
    async fn stdout(&self, args: &[&str]) -> String {
        let endpoint = [(
            "KEYHOLD_KMS_ENDPOINT",
            format!("http://{}", self.kms.address),
        )];
        let output = super::keyhold(Who::User1, &endpoint, &[&["kms"], args].concat()).await;
        super::stdout_of(args, &output)
    }

    async fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.stdout(args).await).expect("JSON")
    }

    /// `text` with this run's key id and every epoch date masked.
    fn masked(&self, text: &str) -> String {
        mask_dates(&text.replace(&self.key_id, "<key id>"))
    }
}

/// Epoch seconds with milliseconds (`1796655759.324`) as `<date>`.
fn mask_dates(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let digits = rest[start..].len()
            - rest[start..]
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                .len();
        let number = &rest[start..start + digits];
        out += &rest[..start];
        let is_date =
            number.len() > 11 && number.as_bytes()[10] == b'.' && !number[..10].contains('.');
        out += if is_date { "<date>" } else { number };
        rest = &rest[start + digits..];
    }
    out + rest
}

/// A table without its padding and with one-character rules: its layout, whatever
/// the widths of masked values.
fn squeezed(table: &str) -> String {
    let mut out = String::new();
    for line in table.lines() {
        let mut previous = None;
        for c in line.chars() {
            if (c == ' ' || c == '─' || c == '═') && previous == Some(c) {
                continue;
            }
            out.push(c);
            previous = Some(c);
        }
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn describe_key_in_json_table_and_text() {
    let run = start().await;
    let json = run
        .stdout(&[
            "describe-key",
            "--key-id",
            "alias/myFirstKey",
            "--output",
            "json",
        ])
        .await;
    insta::assert_snapshot!("describe_key_json", run.masked(&json));
    let table = run
        .stdout(&[
            "describe-key",
            "--key-id",
            "alias/myFirstKey",
            "--output",
            "table",
        ])
        .await;
    insta::assert_snapshot!("describe_key_table", squeezed(&run.masked(&table)));
    let text = run
        .stdout(&[
            "describe-key",
            "--key-id",
            "alias/myFirstKey",
            "--output",
            "text",
        ])
        .await;
    insta::assert_snapshot!("describe_key_text", run.masked(&text));
}

#[tokio::test]
async fn lists_as_tables_and_queries_as_text() {
    let run = start().await;
    let table = run
        .stdout(&["list-aliases", "--key-id", &run.key_id, "--output", "table"])
        .await;
    insta::assert_snapshot!("list_aliases_table", squeezed(&run.masked(&table)));
    let key_id = run
        .stdout(&[
            "describe-key",
            "--key-id",
            "alias/myFirstKey",
            "--query",
            "KeyMetadata.KeyId",
            "--output",
            "text",
        ])
        .await;
    assert_eq!(key_id, format!("{}\n", run.key_id));
    let pair = run
        .stdout(&[
            "describe-key",
            "--key-id",
            "alias/myFirstKey",
            "--query",
            "KeyMetadata.[KeyState, KeySpec]",
            "--output",
            "text",
        ])
        .await;
    assert_eq!(pair, "Enabled\tSYMMETRIC_DEFAULT\n");
    let sids = run
        .json(&[
            "get-key-policy",
            "--key-id",
            "alias/myFirstKey",
            "--query",
            "Policy",
        ])
        .await;
    let policy: serde_json::Value =
        serde_json::from_str(sids.as_str().expect("the policy text")).unwrap();
    insta::assert_json_snapshot!(
        "console_policy_sids",
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].clone())
            .collect::<Vec<_>>()
    );
    // Not JMESPath: a usage error before any call.
    let endpoint = [(
        "KEYHOLD_KMS_ENDPOINT",
        format!("http://{}", run.kms.address),
    )];
    let bad = super::keyhold(
        Who::User1,
        &endpoint,
        &["kms", "list-keys", "--query", "Keys[?"],
    )
    .await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a JMESPath expression"));
}
