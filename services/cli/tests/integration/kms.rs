//! `keyhold kms`: the lab's KMS step from the terminal, the AWS CLI's JSON and error
//! format, and exit statuses.

use std::process::Output;

use keyhold_tests::{
    KmsHarness, Who,
    kms::USER1_ARN,
    texts::{FOX, decrypt_denied},
};
use serde_json::Value;

/// `keyhold kms <args>` as `who` against `kms`.
async fn keyhold(kms: &KmsHarness, who: Who, args: &[&str]) -> Output {
    let endpoint = [("KEYHOLD_KMS_ENDPOINT", format!("http://{}", kms.address))];
    super::keyhold(who, &endpoint, &[&["kms"], args].concat()).await
}

async fn json(kms: &KmsHarness, who: Who, args: &[&str]) -> Value {
    super::json_of(args, &keyhold(kms, who, args).await)
}

#[tokio::test]
async fn the_lab_key_step_from_the_terminal() {
    let kms = KmsHarness::start().await;
    let user = Who::User1;
    let created = json(
        &kms,
        user,
        &[
            "create-key",
            "--description",
            "KMS Key for S3 data",
            "--key-admin",
            "AWSLabsUser-0001",
            "--key-user",
            "AWSLabsUser-0001",
        ],
    )
    .await;
    // The AWS CLI's shape: PascalCase members, epoch dates.
    let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let arn = created["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
    assert_eq!(created["KeyMetadata"]["Description"], "KMS Key for S3 data");
    assert!(created["KeyMetadata"]["CreationDate"].is_number());
    json(
        &kms,
        user,
        &[
            "create-alias",
            "--alias-name",
            "alias/myFirstKey",
            "--target-key-id",
            &key_id,
        ],
    )
    .await;
    let described = json(
        &kms,
        user,
        &["describe-key", "--key-id", "alias/myFirstKey"],
    )
    .await;
    assert_eq!(described["KeyMetadata"]["Arn"], arn.as_str());

    // Files through encrypt and decrypt, with an encryption context.
    let dir = kms.workdir.join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let (plain, blob) = (dir.join("fox.txt"), dir.join("fox.blob"));
    std::fs::write(&plain, FOX).unwrap();
    let context = ["--encryption-context", "purpose=lab"];
    let encrypt = keyhold(
        &kms,
        user,
        &[
            &["encrypt", "--key-id", "alias/myFirstKey", "--plaintext"][..],
            &[
                plain.to_str().unwrap(),
                "--ciphertext",
                blob.to_str().unwrap(),
            ],
            &context,
        ]
        .concat(),
    )
    .await;
    assert!(
        encrypt.status.success(),
        "{}",
        String::from_utf8_lossy(&encrypt.stderr)
    );
    let decrypt_args = [
        &[
            "decrypt",
            "--ciphertext",
            blob.to_str().unwrap(),
            "--plaintext",
            "-",
        ][..],
        &context,
    ]
    .concat();
    let decrypted = keyhold(&kms, user, &decrypt_args).await;
    assert_eq!(decrypted.stdout, FOX);

    // Step 6 from the terminal: the user leaves the key users; the next decrypt fails
    // as the AWS CLI reports it, exit status 254.
    json(
        &kms,
        user,
        &[
            "remove-key-user",
            "--key-id",
            &key_id,
            "--principal",
            "AWSLabsUser-0001",
        ],
    )
    .await;
    let refused = keyhold(&kms, user, &decrypt_args).await;
    assert_eq!(refused.status.code(), Some(254));
    assert!(refused.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim(),
        format!(
            "An error occurred (AccessDeniedException) when calling the Decrypt operation: {}",
            decrypt_denied(USER1_ARN, &arn)
        )
    );
    json(
        &kms,
        user,
        &[
            "add-key-user",
            "--key-id",
            &key_id,
            "--principal",
            "AWSLabsUser-0001",
        ],
    )
    .await;
    assert_eq!(keyhold(&kms, user, &decrypt_args).await.stdout, FOX);

    let listed = keyhold(
        &kms,
        user,
        &["list-aliases", "--key-id", &key_id, "--output", "text"],
    )
    .await;
    let text = String::from_utf8(listed.stdout).unwrap();
    assert!(text.contains("alias/myFirstKey\t"), "{text}");
}

#[tokio::test]
async fn errors_name_the_code_and_operation_and_exit_non_zero() {
    let kms = KmsHarness::start().await;
    let missing = keyhold(
        &kms,
        Who::User1,
        &["describe-key", "--key-id", "alias/nope"],
    )
    .await;
    assert_eq!(missing.status.code(), Some(254));
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "An error occurred (NotFoundException) when calling the DescribeKey operation: Alias 'arn:aws:kms:us-east-1:000000000000:alias/nope' is not found."
    );
    let wrong = keyhold(&kms, Who::WrongSecret, &["list-keys"]).await;
    assert_eq!(wrong.status.code(), Some(254));
    assert!(
        String::from_utf8_lossy(&wrong.stderr)
            .contains("(UnrecognizedClientException) when calling the ListKeys operation"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    // A usage mistake is clap's: status 2, no call made.
    let usage = keyhold(&kms, Who::User1, &["describe-key"]).await;
    assert_eq!(usage.status.code(), Some(2));
}
