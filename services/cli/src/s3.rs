//! `keyhold s3`: object-svc over gRPC with the AWS CLI's `aws s3` commands (mb, rb,
//! ls, cp, rm, presign; their one-line reports) and the `aws s3api` calls of the lab
//! (head-object, Block Public Access, Object Ownership, ACLs, default encryption;
//! printed like every other response).

mod location;
mod presign;
mod transfer;

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use clap::{Args, Subcommand};
use keyhold_proto::object::v1::{self as pb, object_service_client::ObjectServiceClient};

pub use location::{Location, S3Url};
pub use presign::{Signer, object_url, presign};
pub use transfer::{TransferError, progress, upload};

use crate::remote::{Authenticated, CallError, RemoteArgs, reply, show};

/// The proto package of object-svc's messages.
const PACKAGE: &str = "keyhold.object.v1";

pub type ObjectClient = ObjectServiceClient<Authenticated>;

#[derive(Debug, Args)]
pub struct S3Args {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(subcommand)]
    pub command: S3Command,
}

#[derive(Debug, Subcommand)]
pub enum S3Command {
    /// Makes a bucket: Block Public Access on, ACLs disabled, SSE-S3 by default, as
    /// S3 makes them.
    ///
    /// Example: keyhold s3 mb s3://mycloudtrailbucket1234
    Mb {
        #[arg(value_name = "S3_URL", value_parser = S3Url::bucket)]
        bucket: String,
    },
    /// Removes an empty bucket.
    ///
    /// Example: keyhold s3 rb s3://mycloudtrailbucket1234
    Rb {
        #[arg(value_name = "S3_URL", value_parser = S3Url::bucket)]
        bucket: String,
    },
    /// Lists your buckets, or the objects and folders (PRE) under s3://bucket/prefix.
    ///
    /// Example: keyhold s3 ls s3://mycloudtrailbucket1234/images/
    Ls {
        #[arg(value_name = "S3_URL", value_parser = S3Url::parse)]
        path: Option<S3Url>,
        /// Every object under the prefix, not only the first level.
        #[arg(long)]
        recursive: bool,
    },
    /// Copies a file (or `-`, standard input) to s3://bucket/key, or an object to a
    /// file (or `-`, standard output). Shows a progress bar for a few MB and more.
    ///
    /// Example: keyhold s3 cp lab-image.png s3://mycloudtrailbucket1234/images/lab-image.png
    ///   --sse aws:kms --sse-kms-key-id alias/myFirstKey
    Cp {
        /// A file, `-` (standard input) or s3://bucket/key.
        #[arg(value_parser = Location::parse)]
        source: Location,
        /// s3://bucket/key (or s3://bucket/prefix/ to keep the file's name), a file,
        /// a directory, or `-` (standard output).
        #[arg(value_parser = Location::parse)]
        destination: Location,
        /// Server-side encryption of the new object: AES256 (SSE-S3) or aws:kms
        /// (SSE-KMS); without it, the bucket's default encryption applies.
        #[arg(long, value_parser = ["AES256", "aws:kms"])]
        sse: Option<String>,
        /// The KMS key of aws:kms: key id, key ARN, alias name or alias ARN.
        #[arg(long)]
        sse_kms_key_id: Option<String>,
        /// The object's Content-Type.
        #[arg(long)]
        content_type: Option<String>,
        /// A canned ACL for the new object (buckets with ACLs enabled only).
        #[arg(long)]
        acl: Option<String>,
    },
    /// Deletes an object.
    ///
    /// Example: keyhold s3 rm s3://mycloudtrailbucket1234/images/lab-image.png
    Rm {
        #[arg(value_name = "S3_URL", value_parser = S3Url::object)]
        object: S3Url,
    },
    /// Prints a URL that opens the object as you, until it expires (the console's
    /// Open button): a GET signed with SigV4 in its query string.
    ///
    /// Example: keyhold s3 presign s3://mycloudtrailbucket1234/images/lab-image.png --expires-in 300
    Presign {
        #[arg(value_name = "S3_URL", value_parser = S3Url::object)]
        object: S3Url,
        /// Seconds the URL stays valid (at most 604800, seven days).
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=presign::MAX_EXPIRES_IN))]
        expires_in: u64,
    },
    /// The object's metadata: size, Last-Modified, encryption and its KMS key.
    ///
    /// Example: keyhold s3 head-object --bucket mycloudtrailbucket1234 --key images/lab-image.png
    #[command(alias = "head")]
    HeadObject {
        #[arg(long)]
        bucket: String,
        #[arg(long)]
        key: String,
    },
    /// Sets the bucket's four Block Public Access settings (the AWS CLI's shorthand).
    ///
    /// Example: keyhold s3 put-public-access-block --bucket mycloudtrailbucket1234
    ///   --public-access-block-configuration BlockPublicAcls=false,IgnorePublicAcls=false,BlockPublicPolicy=false,RestrictPublicBuckets=false
    PutPublicAccessBlock {
        #[arg(long)]
        bucket: String,
        #[arg(long, value_parser = public_access_block)]
        public_access_block_configuration: pb::PublicAccessBlockConfiguration,
    },
    /// Example: keyhold s3 get-public-access-block --bucket mycloudtrailbucket1234
    GetPublicAccessBlock {
        #[arg(long)]
        bucket: String,
    },
    /// Turns every Block Public Access setting of the bucket off.
    ///
    /// Example: keyhold s3 delete-public-access-block --bucket mycloudtrailbucket1234
    DeletePublicAccessBlock {
        #[arg(long)]
        bucket: String,
    },
    /// Object Ownership: BucketOwnerEnforced (ACLs disabled), BucketOwnerPreferred or
    /// ObjectWriter (ACLs enabled).
    ///
    /// Example: keyhold s3 put-bucket-ownership-controls --bucket mycloudtrailbucket1234
    ///   --object-ownership BucketOwnerPreferred
    #[command(alias = "put-bucket-ownership")]
    PutBucketOwnershipControls {
        #[arg(long)]
        bucket: String,
        #[arg(long, value_parser = ["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"])]
        object_ownership: String,
    },
    /// Example: keyhold s3 get-bucket-ownership-controls --bucket mycloudtrailbucket1234
    GetBucketOwnershipControls {
        #[arg(long)]
        bucket: String,
    },
    /// A canned ACL on an object (public-read makes it readable by anyone).
    ///
    /// Example: keyhold s3 put-object-acl --bucket mycloudtrailbucket1234
    ///   --key images/lab-image.png --acl public-read
    PutObjectAcl {
        #[arg(long)]
        bucket: String,
        #[arg(long)]
        key: String,
        #[arg(long)]
        acl: String,
    },
    /// Example: keyhold s3 get-object-acl --bucket mycloudtrailbucket1234 --key images/lab-image.png
    GetObjectAcl {
        #[arg(long)]
        bucket: String,
        #[arg(long)]
        key: String,
    },
    /// The bucket's default encryption for new objects.
    ///
    /// Example: keyhold s3 put-bucket-encryption --bucket mycloudtrailbucket1234
    ///   --sse-algorithm aws:kms --kms-master-key-id alias/myFirstKey
    PutBucketEncryption {
        #[arg(long)]
        bucket: String,
        #[arg(long, value_parser = ["AES256", "aws:kms"])]
        sse_algorithm: String,
        #[arg(long, default_value = "")]
        kms_master_key_id: String,
        #[arg(long)]
        bucket_key_enabled: bool,
    },
    /// Example: keyhold s3 get-bucket-encryption --bucket mycloudtrailbucket1234
    GetBucketEncryption {
        #[arg(long)]
        bucket: String,
    },
}

/// `BlockPublicAcls=false,IgnorePublicAcls=false,...`: every setting named, as the
/// AWS CLI's shorthand takes it.
fn public_access_block(text: &str) -> Result<pb::PublicAccessBlockConfiguration, String> {
    let mut config = pb::PublicAccessBlockConfiguration::default();
    for pair in text.split(',') {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("expected Name=true|false, not {pair:?}"))?;
        let value: bool = value
            .trim()
            .parse()
            .map_err(|_| format!("{name} takes true or false, not {value:?}"))?;
        let name = name.trim();
        let field = match name {
            "BlockPublicAcls" => &mut config.block_public_acls,
            "IgnorePublicAcls" => &mut config.ignore_public_acls,
            "BlockPublicPolicy" => &mut config.block_public_policy,
            "RestrictPublicBuckets" => &mut config.restrict_public_buckets,
            other => {
                return Err(format!(
                    "unknown setting {other:?} (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets)"
                ));
            }
        };
        *field = value;
    }
    Ok(config)
}

/// A high-level command's failure, as `aws s3` reports it (`upload failed: <what>
/// <error>`, exit status 1).
#[derive(Debug)]
pub struct Failed {
    pub what: String,
    pub error: String,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.what, self.error)
    }
}

impl std::error::Error for Failed {}

fn failed(what: String) -> impl FnOnce(TransferError) -> anyhow::Error {
    move |error| {
        let error = match error {
            TransferError::Call(call) => call.to_string(),
            TransferError::Local(local) => format!("{local:#}"),
        };
        Failed { what, error }.into()
    }
}

fn call_failed(what: String) -> impl FnOnce(CallError) -> anyhow::Error {
    move |error| failed(what)(TransferError::Call(error))
}

/// Runs one `keyhold s3` command.
pub async fn run(args: S3Args) -> anyhow::Result<()> {
    let remote = &args.remote;
    let channel = remote.channel(&remote.object_endpoint)?;
    let mut s3 = ObjectServiceClient::with_interceptor(channel, remote.credentials()?);
    let output = remote.output();
    match args.command {
        S3Command::Mb { bucket } => {
            let request = pb::CreateBucketRequest {
                bucket: bucket.clone(),
                ..Default::default()
            };
            reply("CreateBucket", s3.create_bucket(request).await)
                .map_err(call_failed(format!("make_bucket failed: s3://{bucket}")))?;
            println!("make_bucket: {bucket}");
            Ok(())
        }
        S3Command::Rb { bucket } => {
            let request = pb::DeleteBucketRequest {
                bucket: bucket.clone(),
            };
            reply("DeleteBucket", s3.delete_bucket(request).await)
                .map_err(call_failed(format!("remove_bucket failed: s3://{bucket}")))?;
            println!("remove_bucket: {bucket}");
            Ok(())
        }
        S3Command::Ls { path: None, .. } => {
            let listed = reply(
                "ListBuckets",
                s3.list_buckets(pb::ListBucketsRequest {}).await,
            )?;
            for bucket in listed.buckets {
                println!("{} {}", local_time(&bucket.creation_date), bucket.name);
            }
            Ok(())
        }
        S3Command::Ls {
            path: Some(url),
            recursive,
        } => list(&mut s3, url, recursive).await,
        S3Command::Cp {
            source,
            destination,
            sse,
            sse_kms_key_id,
            content_type,
            acl,
        } => {
            let header = pb::PutObjectHeader {
                server_side_encryption: sse.unwrap_or_default(),
                ssekms_key_id: sse_kms_key_id.unwrap_or_default(),
                content_type: content_type.unwrap_or_default(),
                acl: acl.unwrap_or_default(),
                ..Default::default()
            };
            copy(&mut s3, source, destination, header).await
        }
        S3Command::Rm { object } => {
            let request = pb::DeleteObjectRequest {
                bucket: object.bucket.clone(),
                key: object.key.clone(),
            };
            reply("DeleteObject", s3.delete_object(request).await)
                .map_err(call_failed(format!("delete failed: {object}")))?;
            println!("delete: {object}");
            Ok(())
        }
        S3Command::Presign { object, expires_in } => {
            let keys = remote.keys()?;
            let signer = Signer {
                access_key_id: &keys.access_key_id,
                secret_access_key: &keys.secret_access_key,
                region: &remote.region,
                time: std::time::SystemTime::now(),
            };
            let url = presign(
                &remote.s3_endpoint,
                &object,
                Duration::from_secs(expires_in),
                &signer,
            )?;
            println!("{url}");
            Ok(())
        }
        S3Command::HeadObject { bucket, key } => show(
            PACKAGE,
            "HeadObject",
            s3.head_object(pb::HeadObjectRequest {
                bucket,
                key,
                ..Default::default()
            })
            .await,
            output,
        ),
        S3Command::PutPublicAccessBlock {
            bucket,
            public_access_block_configuration,
        } => show(
            PACKAGE,
            "PutPublicAccessBlock",
            s3.put_public_access_block(pb::PutPublicAccessBlockRequest {
                bucket,
                public_access_block_configuration: Some(public_access_block_configuration),
            })
            .await,
            output,
        ),
        S3Command::GetPublicAccessBlock { bucket } => show(
            PACKAGE,
            "GetPublicAccessBlock",
            s3.get_public_access_block(pb::GetPublicAccessBlockRequest { bucket })
                .await,
            output,
        ),
        S3Command::DeletePublicAccessBlock { bucket } => show(
            PACKAGE,
            "DeletePublicAccessBlock",
            s3.delete_public_access_block(pb::DeletePublicAccessBlockRequest { bucket })
                .await,
            output,
        ),
        S3Command::PutBucketOwnershipControls {
            bucket,
            object_ownership,
        } => show(
            PACKAGE,
            "PutBucketOwnershipControls",
            s3.put_bucket_ownership_controls(pb::PutBucketOwnershipControlsRequest {
                bucket,
                ownership_controls: Some(pb::OwnershipControls {
                    rules: vec![pb::OwnershipControlsRule { object_ownership }],
                }),
            })
            .await,
            output,
        ),
        S3Command::GetBucketOwnershipControls { bucket } => show(
            PACKAGE,
            "GetBucketOwnershipControls",
            s3.get_bucket_ownership_controls(pb::GetBucketOwnershipControlsRequest { bucket })
                .await,
            output,
        ),
        S3Command::PutObjectAcl { bucket, key, acl } => show(
            PACKAGE,
            "PutObjectAcl",
            s3.put_object_acl(pb::PutObjectAclRequest {
                bucket,
                key,
                acl,
                access_control_policy: None,
            })
            .await,
            output,
        ),
        S3Command::GetObjectAcl { bucket, key } => show(
            PACKAGE,
            "GetObjectAcl",
            s3.get_object_acl(pb::GetObjectAclRequest { bucket, key })
                .await,
            output,
        ),
        S3Command::PutBucketEncryption {
            bucket,
            sse_algorithm,
            kms_master_key_id,
            bucket_key_enabled,
        } => show(
            PACKAGE,
            "PutBucketEncryption",
            s3.put_bucket_encryption(pb::PutBucketEncryptionRequest {
                bucket,
                server_side_encryption_configuration: Some(pb::ServerSideEncryptionConfiguration {
                    rules: vec![pb::ServerSideEncryptionRule {
                        apply_server_side_encryption_by_default: Some(
                            pb::ServerSideEncryptionByDefault {
                                sse_algorithm,
                                kms_master_key_id,
                            },
                        ),
                        bucket_key_enabled,
                    }],
                }),
            })
            .await,
            output,
        ),
        S3Command::GetBucketEncryption { bucket } => show(
            PACKAGE,
            "GetBucketEncryption",
            s3.get_bucket_encryption(pb::GetBucketEncryptionRequest { bucket })
                .await,
            output,
        ),
    }
}

/// `aws s3 ls s3://bucket/prefix`: folders as `PRE name/`, objects with their time,
/// size and name relative to the prefix, every page.
async fn list(s3: &mut ObjectClient, url: S3Url, recursive: bool) -> anyhow::Result<()> {
    let mut token = String::new();
    loop {
        let page = reply(
            "ListObjectsV2",
            s3.list_objects_v2(pb::ListObjectsV2Request {
                bucket: url.bucket.clone(),
                prefix: url.key.clone(),
                delimiter: if recursive { "" } else { "/" }.to_owned(),
                continuation_token: std::mem::take(&mut token),
                ..Default::default()
            })
            .await,
        )?;
        for prefix in &page.common_prefixes {
            let name = prefix
                .prefix
                .strip_prefix(&url.key)
                .unwrap_or(&prefix.prefix);
            println!("{:>30} {name}", "PRE");
        }
        for object in &page.contents {
            let name = if recursive {
                &object.key
            } else {
                object.key.strip_prefix(&url.key).unwrap_or(&object.key)
            };
            println!(
                "{} {:>10} {name}",
                local_time(&object.last_modified),
                object.size
            );
        }
        if !page.is_truncated {
            return Ok(());
        }
        token = page.next_continuation_token;
    }
}

/// `aws s3 cp` in either direction.
async fn copy(
    s3: &mut ObjectClient,
    source: Location,
    destination: Location,
    mut header: pb::PutObjectHeader,
) -> anyhow::Result<()> {
    match (source, destination) {
        (source @ (Location::Local(_) | Location::Stdio), Location::S3(mut url)) => {
            if url.key.is_empty() || url.key.ends_with('/') {
                let Location::Local(path) = &source else {
                    anyhow::bail!("copying standard input needs a key: s3://bucket/key");
                };
                url.key += &file_name(path)?;
            }
            header.bucket = url.bucket.clone();
            header.key = url.key.clone();
            let what = format!("upload failed: {source} to {url}");
            match &source {
                Location::Local(path) => {
                    let file = tokio::fs::File::open(path)
                        .await
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let len = file.metadata().await?.len();
                    header.content_length = Some(len);
                    let bar = progress(Some(len));
                    let sent = upload(s3, header, file, &bar).await;
                    bar.finish_and_clear();
                    sent
                }
                _ => {
                    let bar = progress(None);
                    upload(s3, header, tokio::io::stdin(), &bar).await
                }
            }
            .map_err(failed(what))?;
            println!("upload: {source} to {url}");
            Ok(())
        }
        (Location::S3(url), destination @ (Location::Local(_) | Location::Stdio)) => {
            anyhow::ensure!(
                !url.key.is_empty(),
                "{url} names no object; expected s3://bucket/key"
            );
            let request = pb::GetObjectRequest {
                bucket: url.bucket.clone(),
                key: url.key.clone(),
                ..Default::default()
            };
            let what = format!("download failed: {url} to {destination}");
            // A directory gets the object's own name; standard output has no path.
            let path = match destination {
                Location::Local(path) if path.is_dir() => {
                    Some(path.join(file_name(&PathBuf::from(&url.key))?))
                }
                Location::Local(path) => Some(path),
                _ => None,
            };
            transfer::download(s3, request, path.as_deref())
                .await
                .map_err(failed(what))?;
            if let Some(path) = path {
                println!("download: {url} to {}", path.display());
            }
            Ok(())
        }
        (Location::S3(_), Location::S3(_)) => {
            anyhow::bail!(
                "copying between two s3:// URLs is not supported yet; download and upload"
            )
        }
        _ => anyhow::bail!("one side of cp must be an s3:// URL"),
    }
}

fn file_name(path: &std::path::Path) -> anyhow::Result<String> {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .with_context(|| format!("{} names no file", path.display()))
}

/// An RFC 3339 time as `aws s3 ls` prints it: local time, to the second.
fn local_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|time| {
            time.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_owned())
}
