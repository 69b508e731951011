//! Each command's main error, as a user meets it: the AWS CLI's line on stderr
//! (`An error occurred (<Code>) when calling the <Operation> operation: ...`) and its
//! exit status (254; 1 for `aws s3`-style transfers and bucket commands).

use keyhold_tests::{Who, kms::lab_user_key, trails::TrailStack};

/// `keyhold <args>` must fail with `status`, naming `code` and `operation`.
struct Refusal<'a> {
    args: &'a [&'a str],
    status: i32,
    code: &'a str,
    operation: &'a str,
}

#[tokio::test]
async fn each_command_reports_its_main_error() {
    let stack = TrailStack::start(&[]).await;
    let key = lab_user_key(&mut stack.object.kms.client(Who::User1)).await;
    let endpoints = super::endpoints(&stack);
    let setup: &[&[&str]] = &[
        &["s3", "mb", "s3://cli-refusals"],
        &[
            "kms",
            "create-alias",
            "--alias-name",
            "alias/taken",
            "--target-key-id",
            &key.key_id,
        ],
        &[
            "trail",
            "create",
            "--name",
            "taken",
            "--s3-bucket-name",
            "cli-refusals-logs",
            "--new-bucket",
        ],
    ];
    for args in setup {
        let output = super::keyhold(Who::User1, &endpoints, args).await;
        super::stdout_of(args, &output);
    }
    let key_id = key.key_id.as_str();
    // An empty plaintext is encrypt's first refusal; an empty blob decrypt's.
    let refusals = [
        Refusal {
            args: &[
                "kms",
                "create-alias",
                "--alias-name",
                "alias/taken",
                "--target-key-id",
                key_id,
            ],
            status: 254,
            code: "AlreadyExistsException",
            operation: "CreateAlias",
        },
        Refusal {
            args: &[
                "kms",
                "update-alias",
                "--alias-name",
                "alias/none",
                "--target-key-id",
                key_id,
            ],
            status: 254,
            code: "NotFoundException",
            operation: "UpdateAlias",
        },
        Refusal {
            args: &["kms", "list-aliases", "--key-id", "alias/none"],
            status: 254,
            code: "NotFoundException",
            operation: "ListAliases",
        },
        Refusal {
            args: &["kms", "enable-key", "--key-id", "alias/none"],
            status: 254,
            code: "NotFoundException",
            operation: "EnableKey",
        },
        Refusal {
            args: &["kms", "disable-key", "--key-id", "alias/none"],
            status: 254,
            code: "NotFoundException",
            operation: "DisableKey",
        },
        Refusal {
            args: &["kms", "cancel-key-deletion", "--key-id", key_id],
            status: 254,
            code: "KMSInvalidStateException",
            operation: "CancelKeyDeletion",
        },
        Refusal {
            args: &[
                "kms",
                "get-key-policy",
                "--key-id",
                key_id,
                "--policy-name",
                "other",
            ],
            status: 254,
            code: "NotFoundException",
            operation: "GetKeyPolicy",
        },
        Refusal {
            args: &[
                "kms",
                "add-key-user",
                "--key-id",
                key_id,
                "--principal",
                "not a principal",
            ],
            status: 254,
            code: "MalformedPolicyDocumentException",
            operation: "AddKeyUser",
        },
        Refusal {
            args: &[
                "kms",
                "remove-key-user",
                "--key-id",
                "alias/none",
                "--principal",
                "AWSLabsUser-0001",
            ],
            status: 254,
            code: "NotFoundException",
            operation: "RemoveKeyUser",
        },
        Refusal {
            args: &[
                "kms",
                "add-key-admin",
                "--key-id",
                "alias/none",
                "--principal",
                "AWSLabsUser-0001",
            ],
            status: 254,
            code: "NotFoundException",
            operation: "AddKeyAdministrator",
        },
        Refusal {
            args: &[
                "kms",
                "encrypt",
                "--key-id",
                key_id,
                "--plaintext",
                "/dev/null",
                "--ciphertext",
                "-",
            ],
            status: 254,
            code: "ValidationException",
            operation: "Encrypt",
        },
        Refusal {
            args: &[
                "kms",
                "decrypt",
                "--ciphertext",
                "/dev/null",
                "--plaintext",
                "-",
            ],
            status: 254,
            code: "ValidationException",
            operation: "Decrypt",
        },
        Refusal {
            args: &["s3", "mb", "s3://cli-refusals"],
            status: 1,
            code: "BucketAlreadyOwnedByYou",
            operation: "CreateBucket",
        },
        Refusal {
            args: &["s3", "ls", "s3://cli-none/"],
            status: 254,
            code: "NoSuchBucket",
            operation: "ListObjectsV2",
        },
        Refusal {
            args: &["s3", "rm", "s3://cli-none/x"],
            status: 1,
            code: "NoSuchBucket",
            operation: "DeleteObject",
        },
        Refusal {
            args: &[
                "s3",
                "head-object",
                "--bucket",
                "cli-refusals",
                "--key",
                "none",
            ],
            status: 254,
            code: "NoSuchKey",
            operation: "HeadObject",
        },
        Refusal {
            args: &[
                "s3",
                "put-object-acl",
                "--bucket",
                "cli-refusals",
                "--key",
                "none",
                "--acl",
                "public-read",
            ],
            status: 254,
            code: "AccessControlListNotSupported",
            operation: "PutObjectAcl",
        },
        Refusal {
            args: &[
                "s3",
                "get-object-acl",
                "--bucket",
                "cli-refusals",
                "--key",
                "none",
            ],
            status: 254,
            code: "NoSuchKey",
            operation: "GetObjectAcl",
        },
        Refusal {
            args: &[
                "s3",
                "put-public-access-block",
                "--bucket",
                "cli-none",
                "--public-access-block-configuration",
                "BlockPublicAcls=false",
            ],
            status: 254,
            code: "NoSuchBucket",
            operation: "PutPublicAccessBlock",
        },
        Refusal {
            args: &["s3", "delete-public-access-block", "--bucket", "cli-none"],
            status: 254,
            code: "NoSuchBucket",
            operation: "DeletePublicAccessBlock",
        },
        Refusal {
            args: &[
                "s3",
                "put-bucket-ownership-controls",
                "--bucket",
                "cli-none",
                "--object-ownership",
                "ObjectWriter",
            ],
            status: 254,
            code: "NoSuchBucket",
            operation: "PutBucketOwnershipControls",
        },
        Refusal {
            args: &[
                "s3",
                "get-bucket-ownership-controls",
                "--bucket",
                "cli-none",
            ],
            status: 254,
            code: "NoSuchBucket",
            operation: "GetBucketOwnershipControls",
        },
        Refusal {
            args: &[
                "s3",
                "put-bucket-encryption",
                "--bucket",
                "cli-none",
                "--sse-algorithm",
                "AES256",
            ],
            status: 254,
            code: "NoSuchBucket",
            operation: "PutBucketEncryption",
        },
        Refusal {
            args: &[
                "trail",
                "create",
                "--name",
                "taken",
                "--s3-bucket-name",
                "cli-refusals-logs",
            ],
            status: 254,
            code: "TrailAlreadyExistsException",
            operation: "CreateTrail",
        },
        Refusal {
            args: &["trail", "start", "--name", "none"],
            status: 254,
            code: "TrailNotFoundException",
            operation: "StartLogging",
        },
        Refusal {
            args: &[
                "trail",
                "validate-logs",
                "--name",
                "none",
                "--start-time",
                "2026-01-01T00:00:00Z",
            ],
            status: 254,
            code: "TrailNotFoundException",
            operation: "ValidateLogs",
        },
        Refusal {
            args: &[
                "events",
                "lookup",
                "--event-name",
                "Decrypt",
                "--max-results",
                "51",
            ],
            status: 254,
            code: "InvalidMaxResultsException",
            operation: "LookupEvents",
        },
    ];
    let mut wrong = Vec::new();
    for refusal in &refusals {
        let output = super::keyhold(Who::User1, &endpoints, refusal.args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let expected = format!(
            "An error occurred ({}) when calling the {} operation: ",
            refusal.code, refusal.operation
        );
        if output.status.code() != Some(refusal.status) || !stderr.contains(&expected) {
            wrong.push(format!(
                "keyhold {}: exit {:?}, stderr {stderr:?}",
                refusal.args.join(" "),
                output.status.code()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // A caller whose secret is wrong is refused before anything streams.
    let unknown = super::keyhold(Who::WrongSecret, &endpoints, &["events", "tail"]).await;
    assert_eq!(unknown.status.code(), Some(254));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("(UnrecognizedClientException) when calling the TailEvents operation")
    );
}
