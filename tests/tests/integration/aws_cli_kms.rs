//! The lab's KMS half with the AWS CLI (`aws kms`) pointed at kms-svc's AWS JSON
//! port by `AWS_ENDPOINT_URL_KMS`, as `keyhold up` prints it: the same key policies,
//! errors and records as over gRPC.

use keyhold_tests::{
    KmsHarness, Who,
    aws_cli::{AwsEndpoints, Cli, blob, text},
    kms::{ACCOUNT, USER1_ARN, console_policy},
    texts::{FOX, decrypt_denied},
};

fn kms_cli(kms: &KmsHarness) -> Cli {
    Cli::new(
        kms.workdir.join("aws-cli"),
        AwsEndpoints {
            kms: Some(kms.aws_endpoint()),
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn the_lab_kms_steps_work_with_the_aws_cli() {
    let kms = KmsHarness::start().await;
    let cli = kms_cli(&kms);
    let user = Who::User1;

    // Step 1: the key, with the console's policy for administrator and user.
    let with_user = cli.file(
        "with-user.json",
        console_policy(&[USER1_ARN], &[USER1_ARN]).as_bytes(),
        "file",
    );
    let created = cli
        .ok(
            user,
            &[
                "kms",
                "create-key",
                "--description",
                "KMS Key for S3 data",
                "--policy",
                &with_user,
            ],
        )
        .await;
    let key_id = text(&created, "/KeyMetadata/KeyId").to_owned();
    let arn = text(&created, "/KeyMetadata/Arn").to_owned();
    assert_eq!(uuid::Uuid::parse_str(&key_id).unwrap().to_string(), key_id);
    assert_eq!(created["KeyMetadata"]["AWSAccountId"], ACCOUNT);
    assert_eq!(created["KeyMetadata"]["KeyState"], "Enabled");
    assert!(created["KeyMetadata"]["CreationDate"].is_number());
    assert!(created["KeyMetadata"].get("DeletionDate").is_none());

    cli.ok(
        user,
        &[
            "kms",
            "create-alias",
            "--alias-name",
            "alias/myFirstKey",
            "--target-key-id",
            &key_id,
        ],
    )
    .await;
    let described = cli
        .ok(
            user,
            &["kms", "describe-key", "--key-id", "alias/myFirstKey"],
        )
        .await;
    assert_eq!(text(&described, "/KeyMetadata/Arn"), arn);

    let data_key = cli
        .ok(
            user,
            &[
                "kms",
                "generate-data-key",
                "--key-id",
                "alias/myFirstKey",
                "--key-spec",
                "AES_256",
                "--encryption-context",
                "purpose=lab",
            ],
        )
        .await;
    assert_eq!(blob(&data_key, "/Plaintext").len(), 32);
    assert_eq!(text(&data_key, "/KeyId"), arn);

    // Encrypt and decrypt files, with an encryption context.
    let plaintext = cli.file("fox.txt", FOX, "fileb");
    let encrypted = cli
        .ok(
            user,
            &[
                "kms",
                "encrypt",
                "--key-id",
                "alias/myFirstKey",
                "--plaintext",
                &plaintext,
                "--encryption-context",
                "purpose=lab",
            ],
        )
        .await;
    let ciphertext = cli.file("fox.blob", &blob(&encrypted, "/CiphertextBlob"), "fileb");
    let decrypt = [
        "kms",
        "decrypt",
        "--ciphertext-blob",
        &ciphertext,
        "--encryption-context",
        "purpose=lab",
    ];
    let decrypted = cli.ok(user, &decrypt).await;
    assert_eq!(blob(&decrypted, "/Plaintext"), FOX);
    assert_eq!(text(&decrypted, "/KeyId"), arn);
    assert_eq!(decrypted["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
    let (code, _) = cli
        .fails(
            user,
            &[
                "kms",
                "decrypt",
                "--ciphertext-blob",
                &ciphertext,
                "--encryption-context",
                "purpose=other",
            ],
        )
        .await;
    assert_eq!(code, "InvalidCiphertextException");

    // Step 6: the user leaves the key users; the next decrypt is refused, at once.
    let without_user = cli.file(
        "without-user.json",
        console_policy(&[USER1_ARN], &[]).as_bytes(),
        "file",
    );
    let put = |policy: &str| {
        [
            "kms",
            "put-key-policy",
            "--key-id",
            &key_id,
            "--policy-name",
            "default",
            "--policy",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([policy.to_owned()])
        .collect::<Vec<_>>()
    };
    let put_without: Vec<String> = put(&without_user);
    cli.ok(
        user,
        &put_without.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(
        cli.fails(user, &decrypt).await,
        (
            "AccessDeniedException".to_owned(),
            decrypt_denied(USER1_ARN, &arn)
        )
    );
    let put_with: Vec<String> = put(&with_user);
    cli.ok(
        user,
        &put_with.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(blob(&cli.ok(user, &decrypt).await, "/Plaintext"), FOX);

    cli.ok(user, &["kms", "disable-key", "--key-id", &key_id])
        .await;
    assert_eq!(
        cli.fails(
            user,
            &[
                "kms",
                "encrypt",
                "--key-id",
                &key_id,
                "--plaintext",
                &plaintext
            ]
        )
        .await,
        (
            "DisabledException".to_owned(),
            format!("{arn} is disabled.")
        )
    );
    assert_eq!(
        cli.fails(
            user,
            &["kms", "schedule-key-deletion", "--key-id", &key_id, "--pending-window-in-days", "6"]
        )
        .await,
        (
            "ValidationException".to_owned(),
            "1 validation error detected: Value '6' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 7".to_owned()
        )
    );
    let scheduled = cli
        .ok(
            user,
            &[
                "kms",
                "schedule-key-deletion",
                "--key-id",
                &key_id,
                "--pending-window-in-days",
                "7",
            ],
        )
        .await;
    assert_eq!(scheduled["KeyState"], "PendingDeletion");
    assert_eq!(scheduled["PendingWindowInDays"], 7);
    assert!(scheduled["DeletionDate"].is_number());
    assert_eq!(text(&scheduled, "/KeyId"), arn);

    // Every call is recorded as over gRPC, with the CLI's user agent.
    let events = kms.events_at_least(15).await;
    let decrypts: Vec<_> = events
        .iter()
        .filter(|e| e.event_name == "Decrypt")
        .collect();
    assert_eq!(decrypts.len(), 4, "{decrypts:?}");
    for event in &events {
        assert_eq!(event.event_source, "kms.amazonaws.com");
        assert!(
            event.user_agent.starts_with("aws-cli/"),
            "{}",
            event.user_agent
        );
    }
    let refused = decrypts[2];
    assert_eq!(refused.error_code.as_deref(), Some("AccessDenied"));
    assert_eq!(
        refused.request_parameters["encryptionContext"]["purpose"],
        "lab"
    );
}

#[tokio::test]
async fn listings_page_with_markers_through_the_cli() {
    let kms = KmsHarness::start().await;
    let cli = kms_cli(&kms);
    for _ in 0..3 {
        cli.ok(Who::User1, &["kms", "create-key"]).await;
    }
    // The CLI follows NextMarker itself; one page of 1 at a time.
    let all = cli
        .ok(Who::User1, &["kms", "list-keys", "--page-size", "1"])
        .await;
    assert_eq!(all["Keys"].as_array().unwrap().len(), 3, "{all}");
    let first = cli
        .ok(Who::User1, &["kms", "list-keys", "--max-items", "1"])
        .await;
    assert_eq!(first["Keys"].as_array().unwrap().len(), 1);
    assert!(first["NextToken"].is_string(), "{first}");
}

#[tokio::test]
async fn unknown_and_wrong_credentials_get_aws_errors_and_are_recorded() {
    let kms = KmsHarness::start().await;
    let cli = kms_cli(&kms);
    let (code, message) = cli.fails(Who::WrongSecret, &["kms", "list-keys"]).await;
    assert_eq!(code, "InvalidSignatureException");
    assert_eq!(message, keyhold_platform::sigv4::SIGNATURE_MISMATCH);
    let events = kms.events_at_least(1).await;
    assert_eq!(events[0].event_name, "ListKeys");
    assert_eq!(
        events[0].error_code.as_deref(),
        Some("InvalidSignatureException")
    );
    assert_eq!(
        events[0].user_identity.access_key_id.as_deref(),
        Who::User1.credentials().map(|(akid, _)| akid)
    );
}
