//! kms-svc's catalogue of bad inputs (tests/tests/integration/bad_input.rs checks each
//! over gRPC) as data in the AWS JSON shape, for the clients that speak it: the AWS
//! SDK for Rust and boto3 must raise each one's exception with its message. Inputs
//! only gRPC can carry (a 5 MiB message) or that use keyhold's own members (key users
//! beside a policy) are left to bad_input.rs.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Serialize;
use serde_json::{Value, json};

use crate::texts::KMS_ARN_PREFIX;

/// One bad input: the operation, its request as AWS JSON (blobs in base64), and
/// what KMS answers.
#[derive(Debug, Clone, Serialize)]
pub struct BadInput {
    pub operation: &'static str,
    pub request: Value,
    pub exception: &'static str,
    pub message: String,
}

fn bad(
    operation: &'static str,
    request: Value,
    exception: &'static str,
    message: &str,
) -> BadInput {
    BadInput {
        operation,
        request,
        exception,
        message: message.to_owned(),
    }
}

/// What the catalogue refers to: the lab user's key (by id and ARN), a second key of
/// theirs, and a blob of the first made with the context {purpose: lab, bucket: b1}.
pub struct Fixture {
    pub key_id: String,
    pub arn: String,
    pub other_key_id: String,
    pub blob: Vec<u8>,
}

impl Fixture {
    /// Two keys of the lab user and the blob, made over gRPC.
    pub async fn make(user: &mut crate::KmsClient) -> Fixture {
        let key = crate::kms::lab_user_key(user).await;
        let other = crate::kms::lab_user_key(user).await;
        let context = [("purpose", "lab"), ("bucket", "b1")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let blob = user
            .encrypt(keyhold_proto::kms::v1::EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: b"secret".to_vec(),
                encryption_context: context,
                ..Default::default()
            })
            .await
            .expect("Encrypt")
            .into_inner()
            .ciphertext_blob;
        Fixture {
            key_id: key.key_id,
            arn: key.arn,
            other_key_id: other.key_id,
            blob,
        }
    }

    /// Moves the key on: enabled, then disabled, then (enabled again and)
    /// pending deletion, and gives the catalogue of each state.
    pub async fn phases(&self, user: &mut crate::KmsClient, phase: Phase) -> Vec<BadInput> {
        use keyhold_proto::kms::v1::{
            DisableKeyRequest, EnableKeyRequest, ScheduleKeyDeletionRequest,
        };
        let key_id = self.key_id.clone();
        match phase {
            Phase::Enabled => while_enabled(self),
            Phase::Disabled => {
                user.disable_key(DisableKeyRequest { key_id })
                    .await
                    .expect("DisableKey");
                while_disabled(self)
            }
            Phase::PendingDeletion => {
                user.enable_key(EnableKeyRequest {
                    key_id: key_id.clone(),
                })
                .await
                .expect("EnableKey");
                user.schedule_key_deletion(ScheduleKeyDeletionRequest {
                    key_id,
                    pending_window_in_days: 7,
                })
                .await
                .expect("ScheduleKeyDeletion");
                while_pending_deletion(self)
            }
        }
    }
}

/// The key states the catalogue visits, in order.
#[derive(Debug, Clone, Copy)]
pub enum Phase {
    Enabled,
    Disabled,
    PendingDeletion,
}

pub const PHASES: [Phase; 3] = [Phase::Enabled, Phase::Disabled, Phase::PendingDeletion];

/// The encryption context of [`Fixture::blob`].
pub fn blob_context() -> Value {
    json!({"purpose": "lab", "bucket": "b1"})
}

const INVALID_CIPHERTEXT: &str = "The ciphertext is invalid, was not made by this service, or the encryption context differs from the one used to encrypt it.";

/// Refused while the fixture's key is enabled, as [`Fixture::make`] leaves it.
pub fn while_enabled(f: &Fixture) -> Vec<BadInput> {
    let missing = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let foreign = format!("arn:aws:kms:eu-west-1:111111111111:key/{missing}");
    let long_alias = format!("alias/{}", "k".repeat(251));
    let blob = STANDARD.encode(&f.blob);
    let cut = |n: usize| STANDARD.encode(&f.blob[..n]);
    let mut flipped = f.blob.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    let mut flipped_body = f.blob.clone();
    flipped_body[40] ^= 0x80;
    let decrypt = |blob: String, context: Value| json!({"CiphertextBlob": blob, "EncryptionContext": context});
    let key = f.key_id.as_str();
    let mut all = vec![
        bad(
            "DescribeKey",
            json!({"KeyId": missing}),
            "NotFoundException",
            &format!("Key '{KMS_ARN_PREFIX}:key/{missing}' does not exist"),
        ),
        bad(
            "DescribeKey",
            json!({"KeyId": "alias/nope"}),
            "NotFoundException",
            &format!("Alias '{KMS_ARN_PREFIX}:alias/nope' is not found."),
        ),
        bad(
            "DescribeKey",
            json!({"KeyId": format!("{KMS_ARN_PREFIX}:alias/nope")}),
            "NotFoundException",
            &format!("Alias '{KMS_ARN_PREFIX}:alias/nope' is not found."),
        ),
        bad(
            "DescribeKey",
            json!({"KeyId": foreign}),
            "NotFoundException",
            &format!("Invalid arn {foreign}"),
        ),
        bad(
            "DescribeKey",
            json!({"KeyId": "not-a-key"}),
            "NotFoundException",
            "Invalid keyId 'not-a-key'",
        ),
        bad(
            "Encrypt",
            json!({"KeyId": missing, "Plaintext": STANDARD.encode("x")}),
            "NotFoundException",
            &format!("Key '{KMS_ARN_PREFIX}:key/{missing}' does not exist"),
        ),
        bad(
            "CreateAlias",
            json!({"AliasName": "myFirstKey", "TargetKeyId": key}),
            "InvalidAliasNameException",
            "Alias must start with the prefix \"alias/\" and name something: 'myFirstKey'.",
        ),
        bad(
            "CreateAlias",
            json!({"AliasName": "alias/aws/s3", "TargetKeyId": key}),
            "InvalidAliasNameException",
            "Alias 'alias/aws/s3' is reserved: the prefix alias/aws/ is for AWS managed keys.",
        ),
        bad(
            "CreateAlias",
            json!({"AliasName": long_alias, "TargetKeyId": key}),
            "ValidationException",
            &format!(
                "1 validation error detected: Value '{long_alias}' at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to 256"
            ),
        ),
        bad(
            "CreateAlias",
            json!({"AliasName": "alias/my key!", "TargetKeyId": key}),
            "ValidationException",
            "1 validation error detected: Value 'alias/my key!' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9/_-]+$",
        ),
        bad(
            "Encrypt",
            json!({"KeyId": key, "Plaintext": STANDARD.encode(vec![7u8; 4097])}),
            "ValidationException",
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
        ),
        bad(
            "GenerateRandom",
            json!({"NumberOfBytes": 1025}),
            "ValidationException",
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
        ),
        bad(
            "GenerateDataKey",
            json!({"KeyId": key, "NumberOfBytes": 1025}),
            "ValidationException",
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
        ),
        bad(
            "GenerateDataKey",
            json!({"KeyId": key, "KeySpec": "AES_256", "NumberOfBytes": 32}),
            "ValidationException",
            "Please specify either number of bytes or key spec.",
        ),
        bad(
            "Decrypt",
            decrypt(String::new(), blob_context()),
            "ValidationException",
            "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
        bad(
            "Decrypt",
            decrypt(STANDARD.encode(&flipped), blob_context()),
            "InvalidCiphertextException",
            INVALID_CIPHERTEXT,
        ),
        bad(
            "Decrypt",
            decrypt(STANDARD.encode(&flipped_body), blob_context()),
            "InvalidCiphertextException",
            INVALID_CIPHERTEXT,
        ),
        bad(
            "Decrypt",
            json!({"CiphertextBlob": blob, "EncryptionContext": blob_context(), "KeyId": f.other_key_id}),
            "IncorrectKeyException",
            "The key ID in the request does not identify a KMS key that can perform this operation.",
        ),
    ];
    for n in [1, 20, f.blob.len() - 1] {
        all.push(bad(
            "Decrypt",
            decrypt(cut(n), blob_context()),
            "InvalidCiphertextException",
            INVALID_CIPHERTEXT,
        ));
    }
    for wrong in [
        json!({"purpose": "lab", "bucket": "b2"}),
        json!({"purpose": "lab"}),
        json!({"purpose": "lab", "bucket": "b1", "extra": "x"}),
        json!({"Purpose": "lab", "bucket": "b1"}),
        json!({}),
    ] {
        all.push(bad(
            "Decrypt",
            decrypt(blob.clone(), wrong),
            "InvalidCiphertextException",
            INVALID_CIPHERTEXT,
        ));
    }
    all.extend(key_policies(key));
    for (days, bound) in [
        (6, "greater than or equal to 7"),
        (31, "less than or equal to 30"),
    ] {
        all.push(bad("ScheduleKeyDeletion", json!({"KeyId": key, "PendingWindowInDays": days}), "ValidationException", &format!("1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value {bound}")));
    }
    all.push(bad(
        "CancelKeyDeletion",
        json!({"KeyId": key}),
        "KMSInvalidStateException",
        &format!("{} is not pending deletion.", f.arn),
    ));
    all
}

fn key_policies(key: &str) -> Vec<BadInput> {
    let big = format!(
        r#"{{"Version":"2012-10-17","Id":"{}","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:root"}},"Action":"kms:*","Resource":"*"}}]}}"#,
        "x".repeat(32 * 1024)
    );
    let permit = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Permit","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let lockout = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/AWSLabsUser-0002"},"Action":"kms:*","Resource":"*"}]}"#;
    let lockout_message =
        "The new key policy will not allow you to update the key policy in the future.";
    let put = |policy: &str| json!({"KeyId": key, "PolicyName": "default", "Policy": policy});
    vec![
        bad(
            "PutKeyPolicy",
            put("{not json"),
            "MalformedPolicyDocumentException",
            "The new key policy is not valid JSON: key must be a string at line 1 column 2.",
        ),
        bad(
            "PutKeyPolicy",
            put(&big),
            "ValidationException",
            "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 32768",
        ),
        bad(
            "PutKeyPolicy",
            put(permit),
            "MalformedPolicyDocumentException",
            "Policy contains a statement with an invalid Effect \"Permit\": it must be \"Allow\" or \"Deny\".",
        ),
        bad(
            "PutKeyPolicy",
            put(lockout),
            "MalformedPolicyDocumentException",
            lockout_message,
        ),
        bad(
            "CreateKey",
            json!({"Policy": lockout}),
            "MalformedPolicyDocumentException",
            lockout_message,
        ),
    ]
}

/// Encrypt, Decrypt and GenerateDataKey of the key, refused in a state with `exception`.
fn crypto_refused(f: &Fixture, exception: &'static str, message: &str) -> Vec<BadInput> {
    vec![
        bad(
            "Encrypt",
            json!({"KeyId": f.key_id, "Plaintext": STANDARD.encode("x")}),
            exception,
            message,
        ),
        bad(
            "Decrypt",
            json!({"CiphertextBlob": STANDARD.encode(&f.blob), "EncryptionContext": blob_context()}),
            exception,
            message,
        ),
        bad(
            "GenerateDataKey",
            json!({"KeyId": f.key_id, "KeySpec": "AES_256"}),
            exception,
            message,
        ),
    ]
}

/// Refused once the key is disabled.
pub fn while_disabled(f: &Fixture) -> Vec<BadInput> {
    crypto_refused(f, "DisabledException", &format!("{} is disabled.", f.arn))
}

/// Refused once the key is pending deletion.
pub fn while_pending_deletion(f: &Fixture) -> Vec<BadInput> {
    let pending = format!("{} is pending deletion.", f.arn);
    let mut all = crypto_refused(f, "KMSInvalidStateException", &pending);
    all.push(bad(
        "EnableKey",
        json!({"KeyId": f.key_id}),
        "KMSInvalidStateException",
        &pending,
    ));
    all
}
