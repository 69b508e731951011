//! `keyhold kms`: kms-svc over gRPC, with the AWS CLI's command names, flags and
//! output (`keyhold kms describe-key` prints what `aws kms describe-key` prints),
//! plus the console's key user and administrator edits.

use std::{
    collections::HashMap,
    io::{Read, Write},
    path::PathBuf,
};

use anyhow::Context;
use clap::{Args, Subcommand};
use keyhold_proto::kms::v1::{self as pb, kms_service_client::KmsServiceClient};

use crate::remote::{RemoteArgs, reply, show};

/// The proto package of kms-svc's messages.
const PACKAGE: &str = "keyhold.kms.v1";

#[derive(Debug, Args)]
pub struct KmsArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(subcommand)]
    pub command: KmsCommand,
}

#[derive(Debug, Subcommand)]
pub enum KmsCommand {
    /// A symmetric key, with the console's policy for --key-admin/--key-user or a
    /// policy document.
    ///
    /// Example: keyhold kms create-key --description "KMS Key for S3 data"
    ///   --key-admin AWSLabsUser-0001 --key-user AWSLabsUser-0001
    CreateKey {
        #[arg(long, default_value = "")]
        description: String,
        /// A key administrator (user name or ARN); repeat for more.
        #[arg(long = "key-admin")]
        key_admins: Vec<String>,
        /// A key user (user name or ARN); repeat for more.
        #[arg(long = "key-user")]
        key_users: Vec<String>,
        /// A whole key policy document, from this file.
        #[arg(long, conflicts_with_all = ["key_admins", "key_users"])]
        policy: Option<PathBuf>,
    },
    /// Example: keyhold kms describe-key --key-id alias/myFirstKey
    DescribeKey {
        #[arg(long)]
        key_id: String,
    },
    /// Example: keyhold kms list-keys
    ListKeys {
        #[arg(long, default_value_t = 0)]
        limit: i32,
        #[arg(long, default_value = "")]
        marker: String,
    },
    /// Example: keyhold kms list-aliases --key-id <key id>
    ListAliases {
        #[arg(long, default_value = "")]
        key_id: String,
        #[arg(long, default_value_t = 0)]
        limit: i32,
        #[arg(long, default_value = "")]
        marker: String,
    },
    /// Example: keyhold kms create-alias --alias-name alias/myFirstKey --target-key-id <key id>
    CreateAlias {
        #[arg(long)]
        alias_name: String,
        #[arg(long)]
        target_key_id: String,
    },
    /// Example: keyhold kms update-alias --alias-name alias/myFirstKey --target-key-id <key id>
    UpdateAlias {
        #[arg(long)]
        alias_name: String,
        #[arg(long)]
        target_key_id: String,
    },
    /// Example: keyhold kms delete-alias --alias-name alias/myFirstKey
    DeleteAlias {
        #[arg(long)]
        alias_name: String,
    },
    /// Example: keyhold kms enable-key --key-id <key id>
    EnableKey {
        #[arg(long)]
        key_id: String,
    },
    /// Example: keyhold kms disable-key --key-id <key id>
    DisableKey {
        #[arg(long)]
        key_id: String,
    },
    /// Example: keyhold kms schedule-key-deletion --key-id <key id> --pending-window-in-days 7
    ScheduleKeyDeletion {
        #[arg(long)]
        key_id: String,
        #[arg(long, default_value_t = 0)]
        pending_window_in_days: i32,
    },
    /// Example: keyhold kms cancel-key-deletion --key-id <key id>
    CancelKeyDeletion {
        #[arg(long)]
        key_id: String,
    },
    /// Example: keyhold kms get-key-policy --key-id <key id>
    GetKeyPolicy {
        #[arg(long)]
        key_id: String,
        #[arg(long, default_value = "default")]
        policy_name: String,
    },
    /// Example: keyhold kms put-key-policy --key-id <key id> --policy policy.json
    PutKeyPolicy {
        #[arg(long)]
        key_id: String,
        #[arg(long, default_value = "default")]
        policy_name: String,
        #[arg(long)]
        policy: PathBuf,
    },
    /// The console's "Key users: Add": rewrites the key policy.
    ///
    /// Example: keyhold kms add-key-user --key-id <key id> --principal AWSLabsUser-0001
    AddKeyUser(PrincipalEdit),
    /// Example: keyhold kms remove-key-user --key-id <key id> --principal AWSLabsUser-0001
    RemoveKeyUser(PrincipalEdit),
    /// Example: keyhold kms add-key-admin --key-id <key id> --principal AWSLabsUser-0001
    AddKeyAdmin(PrincipalEdit),
    /// Example: keyhold kms remove-key-admin --key-id <key id> --principal AWSLabsUser-0001
    RemoveKeyAdmin(PrincipalEdit),
    /// Encrypts a file (`-`: standard input) into a ciphertext blob file (`-`:
    /// standard output, raw bytes).
    ///
    /// Example: keyhold kms encrypt --key-id alias/myFirstKey --plaintext secret.txt
    ///   --ciphertext secret.blob --encryption-context purpose=lab
    Encrypt {
        #[arg(long)]
        key_id: String,
        #[arg(long)]
        plaintext: PathBuf,
        #[arg(long)]
        ciphertext: PathBuf,
        #[command(flatten)]
        context: EncryptionContext,
    },
    /// Decrypts a ciphertext blob file (`-`: standard input) into a file (`-`:
    /// standard output).
    ///
    /// Example: keyhold kms decrypt --ciphertext secret.blob --plaintext - --encryption-context purpose=lab
    Decrypt {
        #[arg(long)]
        ciphertext: PathBuf,
        #[arg(long)]
        plaintext: PathBuf,
        #[command(flatten)]
        context: EncryptionContext,
    },
    /// Example: keyhold kms generate-data-key --key-id alias/myFirstKey --key-spec AES_256
    GenerateDataKey {
        #[arg(long)]
        key_id: String,
        #[arg(long, default_value = "AES_256")]
        key_spec: String,
        #[command(flatten)]
        context: EncryptionContext,
    },
}

#[derive(Debug, Args)]
pub struct PrincipalEdit {
    #[arg(long)]
    key_id: String,
    /// A user name or principal ARN.
    #[arg(long)]
    principal: String,
}

/// `--encryption-context k=v`, repeatable.
#[derive(Debug, Args)]
pub struct EncryptionContext {
    #[arg(long = "encryption-context", value_parser = key_value)]
    pairs: Vec<(String, String)>,
}

impl EncryptionContext {
    fn map(&self) -> HashMap<String, String> {
        self.pairs.iter().cloned().collect()
    }
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected key=value, not {text:?}"))
}

/// Runs one `keyhold kms` command.
pub async fn run(args: KmsArgs) -> anyhow::Result<()> {
    let channel = args.remote.channel(&args.remote.kms_endpoint)?;
    let mut kms = KmsServiceClient::with_interceptor(channel, args.remote.credentials()?);
    let output = args.remote.output();
    match args.command {
        KmsCommand::CreateKey {
            description,
            key_admins,
            key_users,
            policy,
        } => {
            let policy = match policy {
                Some(path) => read_text(&path)?,
                None => String::new(),
            };
            show(
                PACKAGE,
                "CreateKey",
                kms.create_key(pb::CreateKeyRequest {
                    description,
                    policy,
                    key_administrators: key_admins,
                    key_users,
                    ..Default::default()
                })
                .await,
                output,
            )
        }
        KmsCommand::DescribeKey { key_id } => show(
            PACKAGE,
            "DescribeKey",
            kms.describe_key(pb::DescribeKeyRequest { key_id }).await,
            output,
        ),
        KmsCommand::ListKeys { limit, marker } => show(
            PACKAGE,
            "ListKeys",
            kms.list_keys(pb::ListKeysRequest { limit, marker }).await,
            output,
        ),
        KmsCommand::ListAliases {
            key_id,
            limit,
            marker,
        } => show(
            PACKAGE,
            "ListAliases",
            kms.list_aliases(pb::ListAliasesRequest {
                key_id,
                limit,
                marker,
            })
            .await,
            output,
        ),
        KmsCommand::CreateAlias {
            alias_name,
            target_key_id,
        } => show(
            PACKAGE,
            "CreateAlias",
            kms.create_alias(pb::CreateAliasRequest {
                alias_name,
                target_key_id,
            })
            .await,
            output,
        ),
        KmsCommand::UpdateAlias {
            alias_name,
            target_key_id,
        } => show(
            PACKAGE,
            "UpdateAlias",
            kms.update_alias(pb::UpdateAliasRequest {
                alias_name,
                target_key_id,
            })
            .await,
            output,
        ),
        KmsCommand::DeleteAlias { alias_name } => show(
            PACKAGE,
            "DeleteAlias",
            kms.delete_alias(pb::DeleteAliasRequest { alias_name })
                .await,
            output,
        ),
        KmsCommand::EnableKey { key_id } => show(
            PACKAGE,
            "EnableKey",
            kms.enable_key(pb::EnableKeyRequest { key_id }).await,
            output,
        ),
        KmsCommand::DisableKey { key_id } => show(
            PACKAGE,
            "DisableKey",
            kms.disable_key(pb::DisableKeyRequest { key_id }).await,
            output,
        ),
        KmsCommand::ScheduleKeyDeletion {
            key_id,
            pending_window_in_days,
        } => show(
            PACKAGE,
            "ScheduleKeyDeletion",
            kms.schedule_key_deletion(pb::ScheduleKeyDeletionRequest {
                key_id,
                pending_window_in_days,
            })
            .await,
            output,
        ),
        KmsCommand::CancelKeyDeletion { key_id } => show(
            PACKAGE,
            "CancelKeyDeletion",
            kms.cancel_key_deletion(pb::CancelKeyDeletionRequest { key_id })
                .await,
            output,
        ),
        KmsCommand::GetKeyPolicy {
            key_id,
            policy_name,
        } => show(
            PACKAGE,
            "GetKeyPolicy",
            kms.get_key_policy(pb::GetKeyPolicyRequest {
                key_id,
                policy_name,
            })
            .await,
            output,
        ),
        KmsCommand::PutKeyPolicy {
            key_id,
            policy_name,
            policy,
        } => show(
            PACKAGE,
            "PutKeyPolicy",
            kms.put_key_policy(pb::PutKeyPolicyRequest {
                key_id,
                policy_name,
                policy: read_text(&policy)?,
                bypass_policy_lockout_safety_check: false,
            })
            .await,
            output,
        ),
        KmsCommand::AddKeyUser(edit) => show(
            PACKAGE,
            "AddKeyUser",
            kms.add_key_user(pb::AddKeyUserRequest {
                key_id: edit.key_id,
                principal: edit.principal,
            })
            .await,
            output,
        ),
        KmsCommand::RemoveKeyUser(edit) => show(
            PACKAGE,
            "RemoveKeyUser",
            kms.remove_key_user(pb::RemoveKeyUserRequest {
                key_id: edit.key_id,
                principal: edit.principal,
            })
            .await,
            output,
        ),
        KmsCommand::AddKeyAdmin(edit) => show(
            PACKAGE,
            "AddKeyAdministrator",
            kms.add_key_administrator(pb::AddKeyAdministratorRequest {
                key_id: edit.key_id,
                principal: edit.principal,
            })
            .await,
            output,
        ),
        KmsCommand::RemoveKeyAdmin(edit) => show(
            PACKAGE,
            "RemoveKeyAdministrator",
            kms.remove_key_administrator(pb::RemoveKeyAdministratorRequest {
                key_id: edit.key_id,
                principal: edit.principal,
            })
            .await,
            output,
        ),
        KmsCommand::Encrypt {
            key_id,
            plaintext,
            ciphertext,
            context,
        } => {
            let request = pb::EncryptRequest {
                key_id,
                plaintext: read_bytes(&plaintext)?,
                encryption_context: context.map(),
                encryption_algorithm: String::new(),
            };
            let response = reply("Encrypt", kms.encrypt(request).await)?;
            write_bytes(&ciphertext, &response.ciphertext_blob)
        }
        KmsCommand::Decrypt {
            ciphertext,
            plaintext,
            context,
        } => {
            let request = pb::DecryptRequest {
                ciphertext_blob: read_bytes(&ciphertext)?,
                encryption_context: context.map(),
                ..Default::default()
            };
            let response = reply("Decrypt", kms.decrypt(request).await)?;
            write_bytes(&plaintext, &zeroize::Zeroizing::new(response.plaintext))
        }
        KmsCommand::GenerateDataKey {
            key_id,
            key_spec,
            context,
        } => show(
            PACKAGE,
            "GenerateDataKey",
            kms.generate_data_key(pb::GenerateDataKeyRequest {
                key_id,
                key_spec,
                encryption_context: context.map(),
                number_of_bytes: 0,
            })
            .await,
            output,
        ),
    }
}

/// KMS's largest input is a 32 KiB policy; a plaintext at most 4 KiB. Reading more
/// than a MiB would only make the service refuse it.
const MAX_INPUT: u64 = 1024 * 1024;

fn read_bytes(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        )
    };
    reader.take(MAX_INPUT).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn read_text(path: &PathBuf) -> anyhow::Result<String> {
    String::from_utf8(read_bytes(path)?)
        .with_context(|| format!("{} is not UTF-8 text", path.display()))
}

fn write_bytes(path: &PathBuf, bytes: &[u8]) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        return Ok(out.flush()?);
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
