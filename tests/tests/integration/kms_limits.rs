//! AWS's limits on every KMS request field, checked before any work is done with it:
//! an oversized field gets AWS's exception and message, never a success, a 500, or
//! an error (and audit record) as large as the request.

use std::collections::HashMap;

use keyhold_proto::kms::v1::*;
use keyhold_tests::{KmsHarness, Who, assert_error, kms::lab_user_key};
use tonic::Code;

fn too_long(field: &str, max: usize) -> String {
    format!(
        "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
    )
}

fn context_of(value: String) -> HashMap<String, String> {
    HashMap::from([("purpose".to_owned(), value)])
}

#[track_caller]
fn validation<T: std::fmt::Debug>(result: Result<T, tonic::Status>, message: &str) {
    assert_error(
        result,
        Code::InvalidArgument,
        "ValidationException",
        message,
    );
}

/// Issue 12's repro: a 3 MB encryption-context value was encrypted into a blob and
/// recorded whole. Every operation that takes a context refuses more than 8 KiB.
#[tokio::test]
async fn an_encryption_context_over_8_kib_is_a_validation_error() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let key = lab_user_key(&mut user).await;
    let huge = context_of("\u{1}".repeat(3_000_000));
    // "purpose" is 7 bytes: 8185 more make exactly 8192.
    let at_limit = context_of("v".repeat(8192 - 7));
    let over = context_of("v".repeat(8192 - 7 + 1));
    let message = too_long("encryptionContext", 8192);

    let encrypt = |encryption_context: HashMap<String, String>| EncryptRequest {
        key_id: key.key_id.clone(),
        plaintext: b"secret".to_vec(),
        encryption_context,
        ..Default::default()
    };
    validation(user.encrypt(encrypt(huge.clone())).await, &message);
    validation(user.encrypt(encrypt(over.clone())).await, &message);
    let blob = user
        .encrypt(encrypt(at_limit.clone()))
        .await
        .expect("8 KiB of context is the limit, not over it")
        .into_inner()
        .ciphertext_blob;

    let decrypt = |encryption_context: HashMap<String, String>| DecryptRequest {
        ciphertext_blob: blob.clone(),
        encryption_context,
        ..Default::default()
    };
    validation(user.decrypt(decrypt(huge.clone())).await, &message);
    validation(user.decrypt(decrypt(over.clone())).await, &message);
    user.decrypt(decrypt(at_limit.clone()))
        .await
        .expect("decrypts with its 8 KiB context");

    for (huge_source, field) in [
        (true, "sourceEncryptionContext"),
        (false, "destinationEncryptionContext"),
    ] {
        let (source, destination) = if huge_source {
            (huge.clone(), HashMap::new())
        } else {
            (at_limit.clone(), huge.clone())
        };
        validation(
            user.re_encrypt(ReEncryptRequest {
                ciphertext_blob: blob.clone(),
                source_encryption_context: source,
                destination_key_id: key.key_id.clone(),
                destination_encryption_context: destination,
                ..Default::default()
            })
            .await,
            &too_long(field, 8192),
        );
    }
    validation(
        user.generate_data_key(GenerateDataKeyRequest {
            key_id: key.key_id.clone(),
            encryption_context: huge.clone(),
            key_spec: "AES_256".into(),
            ..Default::default()
        })
        .await,
        &message,
    );
    validation(
        user.generate_data_key_without_plaintext(GenerateDataKeyWithoutPlaintextRequest {
            key_id: key.key_id.clone(),
            encryption_context: over,
            key_spec: "AES_256".into(),
            ..Default::default()
        })
        .await,
        &message,
    );
    // Many small pairs count together.
    let many: HashMap<String, String> = (0..1000)
        .map(|i| (format!("k{i:04}"), "vvvv".to_owned()))
        .collect();
    validation(user.encrypt(encrypt(many)).await, &message);
}

#[tokio::test]
async fn key_ids_markers_and_policy_names_have_aws_lengths() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let key = lab_user_key(&mut user).await;
    let huge_id = "k".repeat(3_000_000);
    let long_id = format!("alias/{}", "k".repeat(2049 - 6));
    for id in [&huge_id, &long_id] {
        validation(
            user.describe_key(DescribeKeyRequest { key_id: id.clone() })
                .await,
            &too_long("keyId", 2048),
        );
        validation(
            user.encrypt(EncryptRequest {
                key_id: id.clone(),
                plaintext: b"x".to_vec(),
                ..Default::default()
            })
            .await,
            &too_long("keyId", 2048),
        );
    }
    validation(
        user.create_alias(CreateAliasRequest {
            alias_name: "alias/limits".into(),
            target_key_id: long_id.clone(),
        })
        .await,
        &too_long("targetKeyId", 2048),
    );
    validation(
        user.re_encrypt(ReEncryptRequest {
            ciphertext_blob: vec![1; 60],
            destination_key_id: huge_id.clone(),
            ..Default::default()
        })
        .await,
        &too_long("destinationKeyId", 2048),
    );
    // 2048 characters is still a (missing) key, as AWS answers it.
    let longest = format!("alias/{}", "k".repeat(2048 - 6));
    assert_error(
        user.describe_key(DescribeKeyRequest {
            key_id: longest.clone(),
        })
        .await,
        Code::NotFound,
        "NotFoundException",
        &format!("Alias 'arn:aws:kms:us-east-1:000000000000:{longest}' is not found."),
    );

    // Values up to 2048 bytes are quoted in the message, as AWS quotes them.
    let marker = "m".repeat(1025);
    validation(
        user.list_keys(ListKeysRequest {
            marker: marker.clone(),
            ..Default::default()
        })
        .await,
        &format!(
            "1 validation error detected: Value '{marker}' at 'marker' failed to satisfy constraint: Member must have length less than or equal to 1024"
        ),
    );
    validation(
        user.list_aliases(ListAliasesRequest {
            marker: "m".repeat(3_000_000),
            ..Default::default()
        })
        .await,
        &too_long("marker", 1024),
    );
    let policy_name = "p".repeat(129);
    validation(
        user.get_key_policy(GetKeyPolicyRequest {
            key_id: key.key_id.clone(),
            policy_name: policy_name.clone(),
        })
        .await,
        &format!(
            "1 validation error detected: Value '{policy_name}' at 'policyName' failed to satisfy constraint: Member must have length less than or equal to 128"
        ),
    );
    validation(
        user.put_key_policy(PutKeyPolicyRequest {
            key_id: key.key_id.clone(),
            policy_name: "p".repeat(3_000_000),
            policy: "{}".into(),
            ..Default::default()
        })
        .await,
        &too_long("policyName", 128),
    );
    validation(
        user.add_key_user(AddKeyUserRequest {
            key_id: key.key_id.clone(),
            principal: "u".repeat(3_000_000),
        })
        .await,
        &too_long("principal", 2048),
    );
    validation(
        user.create_key(CreateKeyRequest {
            key_users: vec!["u".repeat(2049)],
            ..Default::default()
        })
        .await,
        &too_long("keyUsers", 2048),
    );
    // An enum value is quoted only while it is short.
    validation(
        user.encrypt(EncryptRequest {
            key_id: key.key_id.clone(),
            plaintext: b"x".to_vec(),
            encryption_algorithm: "A".repeat(3_000_000),
            ..Default::default()
        })
        .await,
        "1 validation error detected: Value at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]",
    );
    let key_spec = "S".repeat(3000);
    validation(
        user.create_key(CreateKeyRequest {
            key_spec: key_spec.clone(),
            ..Default::default()
        })
        .await,
        &format!(
            "KeySpec {}... (3000 bytes) is not supported: keyhold makes SYMMETRIC_DEFAULT keys.",
            &key_spec[..2048]
        ),
    );
}

#[tokio::test]
async fn create_key_tags_have_aws_limits() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let create = |tags: Vec<(String, String)>| CreateKeyRequest {
        tags: tags
            .into_iter()
            .map(|(tag_key, tag_value)| Tag { tag_key, tag_value })
            .collect(),
        ..Default::default()
    };
    let fifty: Vec<(String, String)> = (0..50)
        .map(|i| (format!("k{i}"), "v".repeat(256)))
        .collect();
    let longest_key = ("k".repeat(128), String::new());
    user.create_key(create(
        fifty
            .iter()
            .take(49)
            .cloned()
            .chain([longest_key])
            .collect(),
    ))
    .await
    .expect("50 tags, a 128-character key and 256-character values fit");

    let mut fifty_one = fifty.clone();
    fifty_one.push(("k50".into(), "v".into()));
    assert_error(
        user.create_key(create(fifty_one)).await,
        Code::InvalidArgument,
        "TagException",
        "A KMS key can have at most 50 tags; the request has 51.",
    );
    let long_key = "k".repeat(129);
    validation(
        user.create_key(create(vec![
            ("a".into(), "b".into()),
            (long_key.clone(), "v".into()),
        ]))
        .await,
        &format!(
            "1 validation error detected: Value '{long_key}' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128"
        ),
    );
    validation(
        user.create_key(create(vec![("k".into(), "v".repeat(3_000_000))]))
            .await,
        &too_long("tags.1.member.tagValue", 256),
    );
    validation(
        user.create_key(create(vec![(String::new(), "v".into())]))
            .await,
        "1 validation error detected: Value '' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    // A NUL could not be stored (Postgres text): refused as AWS's pattern refuses it.
    validation(
        user.create_key(create(vec![("a\0b".into(), "v".into())]))
            .await,
        "1 validation error detected: Value 'a\0b' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$",
    );
    validation(
        user.create_key(create(vec![("k".into(), "new\nline".into())]))
            .await,
        "1 validation error detected: Value 'new\nline' at 'tags.1.member.tagValue' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$",
    );
    assert_error(
        user.create_key(create(vec![("AWS:owner".into(), "me".into())]))
            .await,
        Code::InvalidArgument,
        "TagException",
        "Tags beginning with aws: are reserved",
    );
    user.create_key(create(vec![("Ünïcode tag".into(), "值 = 1 + x@y".into())]))
        .await
        .expect("letters, numbers, spaces and _.:/=+-@ of any script");
}

/// Postgres text cannot hold a NUL: these answered 500 InternalFailure before.
#[tokio::test]
async fn a_nul_character_is_a_client_error_not_an_internal_one() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let key = lab_user_key(&mut user).await;
    validation(
        user.create_key(CreateKeyRequest {
            description: "a\0b".into(),
            ..Default::default()
        })
        .await,
        "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must not contain the NUL character",
    );
    validation(
        user.update_key_description(UpdateKeyDescriptionRequest {
            key_id: key.key_id.clone(),
            description: "\0".into(),
        })
        .await,
        "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must not contain the NUL character",
    );
    assert_error(
        user.describe_key(DescribeKeyRequest {
            key_id: "alias/a\0b".into(),
        })
        .await,
        Code::NotFound,
        "NotFoundException",
        "Alias 'arn:aws:kms:us-east-1:000000000000:alias/a\0b' is not found.",
    );
    // "YQA" is base64 of "a\0": a marker no page of ours ever hands out.
    assert_error(
        user.list_aliases(ListAliasesRequest {
            marker: "YQA".into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "InvalidMarkerException",
        "Invalid marker: YQA",
    );
}
