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

#[tokio::test]
async fn keys_come_from_a_named_profile_like_the_aws_clis() {
    let kms = KmsHarness::start().await;
    let key = keyhold_tests::kms::lab_user_key(&mut kms.client(Who::User1)).await;
    let (user1, secret1) = Who::User1.credentials().unwrap();
    let (user2, secret2) = Who::User2.credentials().unwrap();
    let dir = kms.workdir.join("aws");
    std::fs::create_dir_all(&dir).unwrap();
    let credentials = dir.join("credentials");
    std::fs::write(
        &credentials,
        format!(
            "[lab]\naws_access_key_id = {user1}\naws_secret_access_key = {secret1}\n\n\
             [other]\naws_access_key_id = {user2}\naws_secret_access_key = {secret2}\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str], profile_env: Option<&str>| {
        let endpoint = [("KEYHOLD_KMS_ENDPOINT", format!("http://{}", kms.address))];
        let mut command = super::command(Who::User1, &endpoint, &[&["kms"], args].concat());
        command
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_CONFIG_FILE", dir.join("config"));
        if let Some(profile) = profile_env {
            command.env("AWS_PROFILE", profile);
        }
        command.output()
    };
    let describe = ["describe-key", "--key-id", key.key_id.as_str()];
    let as_lab = run(&[&describe[..], &["--profile", "lab"]].concat(), None)
        .await
        .unwrap();
    assert_eq!(
        super::json_of(&describe, &as_lab)["KeyMetadata"]["KeyId"],
        key.key_id.as_str()
    );
    // AWS_PROFILE names one too; User2 is no key user of User1's key.
    let as_other = run(&describe, Some("other")).await.unwrap();
    assert_eq!(as_other.status.code(), Some(254));
    assert!(
        String::from_utf8_lossy(&as_other.stderr).contains("(AccessDeniedException) when calling the DescribeKey operation: User: arn:aws:iam::000000000000:user/AWSLabsUser-0002"),
        "{}",
        String::from_utf8_lossy(&as_other.stderr)
    );
    let missing = run(&[&describe[..], &["--profile", "nope"]].concat(), None)
        .await
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "keyhold: The config profile (nope) could not be found"
    );
}

/// A key the lab user administers and uses, made with `keyhold kms create-key`.
async fn console_key(kms: &KmsHarness) -> String {
    let args = [
        "create-key",
        "--key-admin",
        "AWSLabsUser-0001",
        "--key-user",
        "AWSLabsUser-0001",
    ];
    let created = json(kms, Who::User1, &args).await;
    created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
}

/// The key's policy document, as `get-key-policy --query Policy` prints it.
async fn policy_of(kms: &KmsHarness, key: &str) -> String {
    let args = ["get-key-policy", "--key-id", key, "--query", "Policy"];
    let policy = json(kms, Who::User1, &args).await;
    policy.as_str().expect("the policy text").to_owned()
}

/// The stderr of a command that must fail as the AWS CLI reports a service error.
fn refused(output: &Output, code: &str, operation: &str) {
    assert_eq!(output.status.code(), Some(254), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "An error occurred ({code}) when calling the {operation} operation: "
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn every_other_kms_command_and_its_main_error() {
    let kms = KmsHarness::start().await;
    let user = Who::User1;
    let key_id = console_key(&kms).await;
    let key = key_id.as_str();
    let listed = json(&kms, user, &["list-keys"]).await;
    assert!(
        listed["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["KeyId"] == key),
        "{listed}"
    );

    // Aliases: update and delete; a missing one is NotFoundException.
    let second = console_key(&kms).await;
    json(
        &kms,
        user,
        &[
            "create-alias",
            "--alias-name",
            "alias/moving",
            "--target-key-id",
            key,
        ],
    )
    .await;
    json(
        &kms,
        user,
        &[
            "update-alias",
            "--alias-name",
            "alias/moving",
            "--target-key-id",
            &second,
        ],
    )
    .await;
    let moved = json(&kms, user, &["describe-key", "--key-id", "alias/moving"]).await;
    assert_eq!(moved["KeyMetadata"]["KeyId"], second.as_str());
    json(
        &kms,
        user,
        &["delete-alias", "--alias-name", "alias/moving"],
    )
    .await;
    refused(
        &keyhold(
            &kms,
            user,
            &["delete-alias", "--alias-name", "alias/moving"],
        )
        .await,
        "NotFoundException",
        "DeleteAlias",
    );

    // Disabled keys refuse to work until enabled again.
    json(&kms, user, &["disable-key", "--key-id", key]).await;
    refused(
        &keyhold(&kms, user, &["generate-data-key", "--key-id", key]).await,
        "DisabledException",
        "GenerateDataKey",
    );
    json(&kms, user, &["enable-key", "--key-id", key]).await;
    let data_key = json(
        &kms,
        user,
        &[
            "generate-data-key",
            "--key-id",
            key,
            "--key-spec",
            "AES_256",
        ],
    )
    .await;
    assert_eq!(
        data_key["Plaintext"].as_str().unwrap().len(),
        44,
        "32 bytes in base64"
    );
    assert!(data_key["CiphertextBlob"].is_string());
    refused(
        &keyhold(
            &kms,
            user,
            &[
                "generate-data-key",
                "--key-id",
                key,
                "--key-spec",
                "AES_512",
            ],
        )
        .await,
        "ValidationException",
        "GenerateDataKey",
    );

    // Deletion: scheduled (7 days at least), then cancelled.
    refused(
        &keyhold(
            &kms,
            user,
            &[
                "schedule-key-deletion",
                "--key-id",
                &second,
                "--pending-window-in-days",
                "6",
            ],
        )
        .await,
        "ValidationException",
        "ScheduleKeyDeletion",
    );
    let scheduled = json(
        &kms,
        user,
        &[
            "schedule-key-deletion",
            "--key-id",
            &second,
            "--pending-window-in-days",
            "7",
        ],
    )
    .await;
    assert_eq!(scheduled["KeyState"], "PendingDeletion");
    json(&kms, user, &["cancel-key-deletion", "--key-id", &second]).await;
    let described = json(&kms, user, &["describe-key", "--key-id", &second]).await;
    assert_eq!(
        described["KeyMetadata"]["KeyState"], "Disabled",
        "a cancelled deletion leaves the key disabled"
    );

    // Policies: the console's edits, and a whole document from a file.
    json(
        &kms,
        user,
        &[
            "add-key-admin",
            "--key-id",
            key,
            "--principal",
            "AWSLabsUser-0002",
        ],
    )
    .await;
    assert!(policy_of(&kms, key).await.contains("AWSLabsUser-0002"));
    json(
        &kms,
        user,
        &[
            "remove-key-admin",
            "--key-id",
            key,
            "--principal",
            "AWSLabsUser-0002",
        ],
    )
    .await;
    refused(
        &keyhold(
            &kms,
            user,
            &[
                "remove-key-admin",
                "--key-id",
                "alias/none",
                "--principal",
                "AWSLabsUser-0002",
            ],
        )
        .await,
        "NotFoundException",
        "RemoveKeyAdministrator",
    );
    let dir = kms.workdir.join("cli-policy");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("policy.json");
    std::fs::write(
        &file,
        keyhold_tests::kms::console_policy(
            &[USER1_ARN],
            &[USER1_ARN, keyhold_tests::kms::USER2_ARN],
        ),
    )
    .unwrap();
    json(
        &kms,
        user,
        &[
            "put-key-policy",
            "--key-id",
            key,
            "--policy",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(policy_of(&kms, key).await.contains("AWSLabsUser-0002"));
    std::fs::write(&file, "{not json").unwrap();
    refused(
        &keyhold(
            &kms,
            user,
            &[
                "put-key-policy",
                "--key-id",
                key,
                "--policy",
                file.to_str().unwrap(),
            ],
        )
        .await,
        "MalformedPolicyDocumentException",
        "PutKeyPolicy",
    );
}
