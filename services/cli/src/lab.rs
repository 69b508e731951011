//! `keyhold lab`: the six steps of the AWS lab "Introduction to AWS KMS" (docs/lab.md)
//! against a running keyhold, with names of its own, each step printed as it happens
//! and a checklist at the end: what the lab expects, what keyhold answered. Exits 1
//! when anything deviated. Cleans up after itself unless --keep.

mod checklist;
mod web;

use std::time::{Duration, Instant};

use clap::Args;
use keyhold_proto::{
    audit::v1::{
        self as audit, audit_service_client::AuditServiceClient,
        trail_service_client::TrailServiceClient,
    },
    kms::v1::{self as kms, kms_service_client::KmsServiceClient},
    object::v1::{self as object, object_service_client::ObjectServiceClient},
};
use serde_json::Value;

use checklist::Checklist;

use crate::{
    remote::{Authenticated, CallError, RemoteArgs, reply},
    s3::{S3Url, Signer, object_url, presign},
    trail::{self, Insights},
};

#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Stop after this step (1 to 6); the steps before it make what it needs.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(1..=6))]
    pub step: u8,
    /// Leave the key, the trail, the bucket and its objects for you to explore.
    #[arg(long)]
    pub keep: bool,
    /// The user the key's administrators and users name: the one whose keys you
    /// present.
    #[arg(long, default_value = crate::up::LAB_USER)]
    pub user: String,
}

/// The console's four statements of a key policy, in its order.
const CONSOLE_SIDS: [&str; 4] = [
    "Enable IAM User Permissions",
    "Allow access for Key Administrators",
    "Allow use of the key",
    "Allow attachment of persistent resources",
];

/// S3's refusal of an unsigned read of an SSE-KMS object.
const SIGV4_REQUIRED: &str = "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.";

/// Big enough for the upload's progress bar to show on a terminal.
const IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// How long an event may take to reach audit-svc's history.
const EVENT_WAIT: Duration = Duration::from_secs(15);

/// The clients and names of one run.
struct Lab {
    kms: KmsServiceClient<Authenticated>,
    s3: ObjectServiceClient<Authenticated>,
    trails: TrailServiceClient<Authenticated>,
    events: AuditServiceClient<Authenticated>,
    remote: RemoteArgs,
    user: String,
    alias: String,
    trail: String,
    image: S3Url,
    public_note: S3Url,
    bytes: Vec<u8>,
    /// Set by step 1.
    key: kms::KeyMetadata,
    checks: Checklist,
}

pub async fn run(args: LabArgs) -> anyhow::Result<()> {
    let remote = args.remote;
    let credentials = remote.credentials()?;
    let kms_channel = remote.channel(&remote.kms_endpoint)?;
    let object_channel = remote.channel(&remote.object_endpoint)?;
    let audit_channel = remote.channel(&remote.audit_endpoint)?;
    let suffix = format!("{:08x}", rand::random::<u32>());
    let bucket = format!("mycloudtrailbucket{}", u64::from(rand::random::<u32>()));
    let mut lab = Lab {
        kms: KmsServiceClient::with_interceptor(kms_channel, credentials.clone()),
        s3: ObjectServiceClient::with_interceptor(object_channel, credentials.clone()),
        trails: TrailServiceClient::with_interceptor(audit_channel.clone(), credentials.clone()),
        events: AuditServiceClient::with_interceptor(audit_channel, credentials),
        remote,
        user: args.user,
        alias: format!("alias/myFirstKey-{suffix}"),
        trail: format!("myTrail-{suffix}"),
        image: S3Url {
            bucket: bucket.clone(),
            key: "images/lab-image.png".to_owned(),
        },
        public_note: S3Url {
            bucket,
            key: "public/readme.txt".to_owned(),
        },
        bytes: image(),
        key: kms::KeyMetadata::default(),
        checks: Checklist::default(),
    };
    let walked = lab.walk(args.step).await;
    if let Err(error) = &walked {
        println!("\nThe lab stopped: {error:#}");
    }
    lab.report_events().await;
    println!("\nChecklist:\n{}", lab.checks.table());
    if args.keep {
        lab.print_kept();
    } else {
        lab.clean_up().await;
    }
    walked?;
    let failed = lab.checks.failed_steps();
    if !failed.is_empty() {
        let steps: Vec<String> = failed.iter().map(u8::to_string).collect();
        anyhow::bail!("the lab deviated at step {}", steps.join(", "));
    }
    println!("\nEvery step behaved as in the AWS lab.");
    Ok(())
}

/// A binary "image" (no service reads it): a PNG signature, then varied bytes.
fn image() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..IMAGE_BYTES as u32 - 8).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    bytes
}

/// `Code: message` of a refusal, or what came instead.
fn outcome<T>(result: &Result<T, CallError>) -> String {
    match result {
        Ok(_) => "succeeded".to_owned(),
        Err(error) => format!("{}: {}", error.code, error.message),
    }
}

impl Lab {
    async fn walk(&mut self, last: u8) -> anyhow::Result<()> {
        self.create_key().await?;
        if last >= 2 {
            self.create_trail().await?;
        }
        if last >= 3 {
            self.upload().await?;
        }
        if last >= 4 {
            self.open().await?;
        }
        if last >= 5 {
            self.make_public().await?;
        }
        if last >= 6 {
            self.revoke().await?;
        }
        Ok(())
    }

    fn key_arn(&self) -> &str {
        &self.key.arn
    }

    /// Step 1: a symmetric key with the console's policy for the lab user, and its alias.
    async fn create_key(&mut self) -> anyhow::Result<()> {
        const STEP: u8 = 1;
        self.checks.step(STEP, "create a customer managed key");
        let created = reply(
            "CreateKey",
            self.kms
                .create_key(kms::CreateKeyRequest {
                    description: "KMS Key for S3 data".into(),
                    key_administrators: vec![self.user.clone()],
                    key_users: vec![self.user.clone()],
                    ..Default::default()
                })
                .await,
        )?;
        self.key = created.key_metadata.unwrap_or_default();
        let key = &self.key;
        let checks = &mut self.checks;
        let kind = format!("{} {}", key.key_spec, key.key_usage);
        checks.equal(
            STEP,
            "a symmetric encryption key",
            &kind,
            "SYMMETRIC_DEFAULT ENCRYPT_DECRYPT",
        );
        let expected_arn = format!(
            "arn:aws:kms:{}:{}:key/{}",
            self.remote.region, key.aws_account_id, key.key_id
        );
        checks.check(
            STEP,
            "the key id is a UUID, in the key's ARN",
            key.arn.clone(),
            is_uuid(&key.key_id) && key.arn == expected_arn,
        );
        let aliased = reply(
            "CreateAlias",
            self.kms
                .create_alias(kms::CreateAliasRequest {
                    alias_name: self.alias.clone(),
                    target_key_id: key.key_id.clone(),
                })
                .await,
        );
        checks.check(
            STEP,
            &format!("alias {} names the key", self.alias),
            outcome(&aliased),
            aliased.is_ok(),
        );
        let policy = reply(
            "GetKeyPolicy",
            self.kms
                .get_key_policy(kms::GetKeyPolicyRequest {
                    key_id: self.key.key_id.clone(),
                    policy_name: "default".into(),
                })
                .await,
        )?;
        let sids = statement_ids(&policy.policy);
        self.checks.equal(
            STEP,
            "the console's key policy (four statements)",
            &sids.join(" / "),
            &CONSOLE_SIDS.join(" / "),
        );
        Ok(())
    }

    /// Step 2: trail to a new bucket, management and S3 data events, both Insights.
    async fn create_trail(&mut self) -> anyhow::Result<()> {
        const STEP: u8 = 2;
        self.checks
            .step(STEP, "a trail that stores logs in a new bucket");
        let create = trail::Create {
            name: self.trail.clone(),
            s3_bucket_name: self.image.bucket.clone(),
            new_bucket: true,
            log_file_validation: true,
            insights: Insights::Both,
            s3_data_events: true,
        };
        let created = trail::create(&mut self.trails, &create).await?;
        self.checks.check(
            STEP,
            &format!(
                "trail {} delivers to new bucket {}",
                self.trail, self.image.bucket
            ),
            created.trail_arn.clone(),
            created.s3_bucket_name == self.image.bucket,
        );
        let status = reply(
            "GetTrailStatus",
            self.trails
                .get_trail_status(audit::GetTrailStatusRequest {
                    name: self.trail.clone(),
                })
                .await,
        )?;
        self.checks.check(
            STEP,
            "the trail is logging",
            format!("IsLogging {}", status.is_logging),
            status.is_logging,
        );
        let encryption = reply(
            "GetBucketEncryption",
            self.s3
                .get_bucket_encryption(object::GetBucketEncryptionRequest {
                    bucket: self.image.bucket.clone(),
                })
                .await,
        )?;
        let algorithm = encryption
            .server_side_encryption_configuration
            .and_then(|c| c.rules.into_iter().next())
            .and_then(|r| r.apply_server_side_encryption_by_default)
            .map(|d| d.sse_algorithm)
            .unwrap_or_default();
        self.checks.equal(
            STEP,
            "log files are not SSE-KMS: the bucket default (SSE-S3)",
            &algorithm,
            "AES256",
        );
        let selectors = reply(
            "GetEventSelectors",
            self.trails
                .get_event_selectors(audit::GetEventSelectorsRequest {
                    trail_name: self.trail.clone(),
                })
                .await,
        )?;
        let selected = selectors.event_selectors.iter().any(|s| {
            s.include_management_events.unwrap_or(true)
                && s.data_resources
                    .iter()
                    .any(|d| d.r#type == "AWS::S3::Object")
        });
        self.checks.check(
            STEP,
            "management events and S3 data events",
            format!("{} selector(s)", selectors.event_selectors.len()),
            selected,
        );
        let insights = reply(
            "GetInsightSelectors",
            self.trails
                .get_insight_selectors(audit::GetInsightSelectorsRequest {
                    trail_name: self.trail.clone(),
                })
                .await,
        )?;
        let types: Vec<String> = insights
            .insight_selectors
            .into_iter()
            .map(|s| s.insight_type)
            .collect();
        self.checks.equal(
            STEP,
            "Insights: API call rate and API error rate",
            &types.join(", "),
            "ApiCallRateInsight, ApiErrorRateInsight",
        );
        Ok(())
    }

    /// Step 3: the image, SSE-KMS with the key, overriding the bucket's default.
    async fn upload(&mut self) -> anyhow::Result<()> {
        const STEP: u8 = 3;
        self.checks
            .step(STEP, "upload an image, encrypted with the key");
        let started = chrono::Utc::now();
        let put = self
            .put(&self.image.clone(), "aws:kms", &self.alias.clone(), "")
            .await;
        let put = match put {
            Ok(put) => put,
            Err(error) => {
                self.checks.check(
                    STEP,
                    "the image is stored SSE-KMS",
                    format!("{}: {}", error.code, error.message),
                    false,
                );
                anyhow::bail!("the image could not be uploaded");
            }
        };
        let encryption = format!("{} {}", put.server_side_encryption, put.ssekms_key_id);
        let expected = format!("aws:kms {}", self.key_arn());
        self.checks.equal(
            STEP,
            "the image is stored SSE-KMS under the key",
            &encryption,
            &expected,
        );
        let head = reply(
            "HeadObject",
            self.s3
                .head_object(object::HeadObjectRequest {
                    bucket: self.image.bucket.clone(),
                    key: self.image.key.clone(),
                    ..Default::default()
                })
                .await,
        )?
        .head
        .unwrap_or_default();
        self.checks.check(
            STEP,
            "HeadObject: size and Last-Modified",
            format!(
                "{} bytes, Last-Modified {}",
                head.content_length, head.last_modified
            ),
            head.content_length == self.bytes.len() as u64,
        );
        let arn = format!("arn:aws:s3:::{}/{}", self.image.bucket, self.image.key);
        let event = self
            .find_event(&self.key.key_id.clone(), started, |record| {
                record["eventName"] == "GenerateDataKey"
                    && record["requestParameters"]["encryptionContext"]["aws:s3:arn"]
                        == arn.as_str()
            })
            .await?;
        let observed = match &event {
            Some(record) => format!(
                "by {}, invoked by {}",
                record["userIdentity"]["userName"].as_str().unwrap_or("?"),
                record["userIdentity"]["invokedBy"]
                    .as_str()
                    .unwrap_or("nobody")
            ),
            None => format!("none within {}s", EVENT_WAIT.as_secs()),
        };
        let passed = event.is_some_and(|r| {
            r["userIdentity"]["userName"] == self.user.as_str()
                && r["userIdentity"]["invokedBy"].is_string()
        });
        self.checks.check(
            STEP,
            &format!("GenerateDataKey event with aws:s3:arn = {arn}"),
            observed,
            passed,
        );
        Ok(())
    }

    /// Step 4: the image opens for the user (gRPC, presigned URL), not anonymously.
    async fn open(&mut self) -> anyhow::Result<()> {
        const STEP: u8 = 4;
        self.checks.step(STEP, "open the encrypted image");
        self.check_image_opens(STEP, "GetObject as the user: the image's bytes")
            .await;
        let keys = self.remote.keys()?;
        let signer = Signer {
            access_key_id: &keys.access_key_id,
            secret_access_key: &keys.secret_access_key,
            region: &self.remote.region,
            time: std::time::SystemTime::now(),
        };
        let url = presign(
            &self.remote.s3_endpoint,
            &self.image,
            Duration::from_secs(300),
            &signer,
        )?;
        let answer = web::get(&url).await?;
        self.checks.check(
            STEP,
            "the presigned URL (the console's Open) opens it",
            answer.summary(),
            answer.status == 200 && answer.body == self.bytes,
        );
        let plain = object_url(&self.remote.s3_endpoint, &self.image);
        let answer = web::get(&plain).await?;
        self.checks.equal(
            STEP,
            &format!("{plain} anonymously"),
            &answer.summary(),
            "403 AccessDenied: Access Denied",
        );
        Ok(())
    }

    /// Step 5: Block Public Access off, ACLs on, public-read: still no anonymous read.
    async fn make_public(&mut self) -> anyhow::Result<()> {
        const STEP: u8 = 5;
        self.checks.step(
            STEP,
            "make the object public, and see why it still does not show",
        );
        let bucket = self.image.bucket.clone();
        let unblocked = reply(
            "DeletePublicAccessBlock",
            self.s3
                .delete_public_access_block(object::DeletePublicAccessBlockRequest {
                    bucket: bucket.clone(),
                })
                .await,
        );
        self.checks.check(
            STEP,
            "Block Public Access: all four off",
            outcome(&unblocked),
            unblocked.is_ok(),
        );
        let owned = reply(
            "PutBucketOwnershipControls",
            self.s3
                .put_bucket_ownership_controls(object::PutBucketOwnershipControlsRequest {
                    bucket: bucket.clone(),
                    ownership_controls: Some(object::OwnershipControls {
                        rules: vec![object::OwnershipControlsRule {
                            object_ownership: "BucketOwnerPreferred".into(),
                        }],
                    }),
                })
                .await,
        );
        self.checks.check(
            STEP,
            "Object Ownership: ACLs enabled (BucketOwnerPreferred)",
            outcome(&owned),
            owned.is_ok(),
        );
        let acl = reply(
            "PutObjectAcl",
            self.s3
                .put_object_acl(object::PutObjectAclRequest {
                    bucket: bucket.clone(),
                    key: self.image.key.clone(),
                    acl: "public-read".into(),
                    access_control_policy: None,
                })
                .await,
        );
        self.checks.check(
            STEP,
            "the image's ACL: public-read",
            outcome(&acl),
            acl.is_ok(),
        );
        let plain = object_url(&self.remote.s3_endpoint, &self.image);
        let answer = web::get(&plain).await?;
        self.checks.equal(
            STEP,
            "the image anonymously",
            &answer.summary(),
            &format!("400 InvalidArgument: {SIGV4_REQUIRED}"),
        );
        let note = self.public_note.clone();
        let put = self.put(&note, "AES256", "", "public-read").await;
        self.checks.check(
            STEP,
            "an SSE-S3 object made public-read",
            outcome(&put),
            put.is_ok(),
        );
        let answer = web::get(&object_url(&self.remote.s3_endpoint, &note)).await?;
        self.checks.check(
            STEP,
            "the SSE-S3 object anonymously: readable",
            answer.summary(),
            answer.status == 200 && answer.body == self.bytes[..note_len()],
        );
        Ok(())
    }

    /// Step 6: without the key user, the user can neither open nor upload, at once.
    async fn revoke(&mut self) -> anyhow::Result<()> {
        const STEP: u8 = 6;
        self.checks.step(STEP, "manage who may use the key");
        let started = chrono::Utc::now();
        let removed = reply(
            "RemoveKeyUser",
            self.kms
                .remove_key_user(kms::RemoveKeyUserRequest {
                    key_id: self.key.key_id.clone(),
                    principal: self.user.clone(),
                })
                .await,
        );
        self.checks.check(
            STEP,
            &format!("{} removed from the key users", self.user),
            outcome(&removed),
            removed.is_ok(),
        );
        let got = self.get(&self.image.clone()).await;
        let denied = refused(&got, "kms:Decrypt", &self.user, self.key_arn());
        self.checks.check(
            STEP,
            "at once, the image no longer opens (AccessDenied, kms:Decrypt)",
            outcome(&got),
            denied,
        );
        let put = self
            .put(&self.image.clone(), "aws:kms", &self.alias.clone(), "")
            .await;
        let denied = refused(&put, "kms:GenerateDataKey", &self.user, self.key_arn());
        self.checks.check(
            STEP,
            "nor does an upload with the key (AccessDenied, kms:GenerateDataKey)",
            outcome(&put),
            denied,
        );
        let event = self
            .find_event(&self.key.key_id.clone(), started, |record| {
                record["eventName"] == "Decrypt" && record["errorCode"] == "AccessDenied"
            })
            .await?;
        let recorded = event.is_some();
        self.checks.check(
            STEP,
            "the refusal is recorded with its error code",
            event
                .map(|r| {
                    format!(
                        "Decrypt, errorCode {}",
                        r["errorCode"].as_str().unwrap_or("?")
                    )
                })
                .unwrap_or_else(|| format!("no refused Decrypt within {}s", EVENT_WAIT.as_secs())),
            recorded,
        );
        let added = reply(
            "AddKeyUser",
            self.kms
                .add_key_user(kms::AddKeyUserRequest {
                    key_id: self.key.key_id.clone(),
                    principal: self.user.clone(),
                })
                .await,
        );
        self.checks.check(
            STEP,
            &format!("{} a key user again", self.user),
            outcome(&added),
            added.is_ok(),
        );
        self.check_image_opens(STEP, "at once, the image opens again")
            .await;
        Ok(())
    }

    /// GetObject of the image as the user: it must give back the uploaded bytes.
    async fn check_image_opens(&mut self, step: u8, expectation: &str) {
        let got = self.get(&self.image.clone()).await;
        let same = got.as_ref().is_ok_and(|b| *b == self.bytes);
        let observed = match &got {
            Ok(bytes) => format!("{} bytes", bytes.len()),
            Err(error) => format!("{}: {}", error.code, error.message),
        };
        self.checks.check(step, expectation, observed, same);
    }

    async fn put(
        &mut self,
        to: &S3Url,
        sse: &str,
        key_id: &str,
        acl: &str,
    ) -> Result<object::PutObjectResponse, CallError> {
        let body = if to == &self.image {
            &self.bytes[..]
        } else {
            &self.bytes[..note_len()]
        };
        let header = object::PutObjectHeader {
            bucket: to.bucket.clone(),
            key: to.key.clone(),
            content_type: if to == &self.image {
                "image/png"
            } else {
                "text/plain"
            }
            .into(),
            content_length: Some(body.len() as u64),
            server_side_encryption: sse.into(),
            ssekms_key_id: key_id.into(),
            acl: acl.into(),
            ..Default::default()
        };
        let bar = crate::s3::progress(Some(body.len() as u64));
        let sent = crate::s3::upload(&mut self.s3, header, body, &bar).await;
        bar.finish_and_clear();
        sent.map_err(|error| match error {
            crate::s3::TransferError::Call(call) => call,
            crate::s3::TransferError::Local(local) => CallError {
                operation: "PutObject",
                code: "LocalError".into(),
                message: format!("{local:#}"),
            },
        })
    }

    async fn get(&mut self, from: &S3Url) -> Result<Vec<u8>, CallError> {
        let request = object::GetObjectRequest {
            bucket: from.bucket.clone(),
            key: from.key.clone(),
            ..Default::default()
        };
        let mut stream = reply("GetObject", self.s3.get_object(request).await)?;
        let mut bytes = Vec::new();
        while let Some(message) = stream
            .message()
            .await
            .map_err(|s| CallError::from_status("GetObject", &s))?
        {
            if let Some(object::get_object_response::Part::Chunk(chunk)) = message.part {
                bytes.extend_from_slice(&chunk);
            }
        }
        Ok(bytes)
    }

    /// The newest event of `resource` since `since` that `wanted` accepts, waiting
    /// for it to reach the history.
    async fn find_event(
        &mut self,
        resource: &str,
        since: chrono::DateTime<chrono::Utc>,
        wanted: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Option<Value>> {
        let deadline = Instant::now() + EVENT_WAIT;
        loop {
            let page = reply(
                "LookupEvents",
                self.events
                    .lookup_events(audit::LookupEventsRequest {
                        lookup_attributes: vec![audit::LookupAttribute {
                            attribute_key: "ResourceName".into(),
                            attribute_value: resource.into(),
                        }],
                        start_time: (since - chrono::Duration::seconds(1)).to_rfc3339(),
                        max_results: 50,
                        ..Default::default()
                    })
                    .await,
            )?;
            let found = page
                .events
                .iter()
                .filter_map(|e| serde_json::from_str::<Value>(&e.cloud_trail_event).ok())
                .find(|record| wanted(record));
            if found.is_some() || Instant::now() > deadline {
                return Ok(found);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The key's events in the history, newest first: what the user looks up at the end.
    async fn report_events(&mut self) {
        if self.key.key_id.is_empty() {
            return;
        }
        let request = audit::LookupEventsRequest {
            lookup_attributes: vec![audit::LookupAttribute {
                attribute_key: "ResourceName".into(),
                attribute_value: self.key.key_id.clone(),
            }],
            max_results: 50,
            ..Default::default()
        };
        match reply("LookupEvents", self.events.lookup_events(request).await) {
            Ok(page) => {
                let names: Vec<String> = page
                    .events
                    .iter()
                    .map(|e| {
                        let record: Value =
                            serde_json::from_str(&e.cloud_trail_event).unwrap_or_default();
                        match record["errorCode"].as_str() {
                            Some(code) => format!("{} ({code})", e.event_name),
                            None => e.event_name.clone(),
                        }
                    })
                    .collect();
                println!(
                    "\nEvents of key {} (newest first; event times are to the second): {}",
                    self.key.key_id,
                    names.join(", ")
                );
            }
            Err(error) => println!("\nThe key's events could not be looked up: {error}"),
        }
    }

    fn print_kept(&self) {
        println!("\nKept for you to explore:");
        println!("  key     {} ({})", self.key.key_id, self.alias);
        println!("  trail   {}", self.trail);
        println!("  bucket  s3://{}/", self.image.bucket);
        println!("  image   {}", self.image);
        println!("Try:");
        println!(
            "  keyhold events lookup --resource-name {}",
            self.key.key_id
        );
        println!("  keyhold s3 presign {}", self.image);
        println!(
            "  keyhold s3 ls s3://{}/AWSLogs/ --recursive   (log files arrive every delivery interval)",
            self.image.bucket
        );
    }

    /// Deletes what the run made: trail, objects (log files too), bucket, alias; the
    /// key is scheduled for deletion (7 days, KMS's shortest wait).
    async fn clean_up(&mut self) {
        let mut left = Vec::new();
        let trail = reply(
            "DeleteTrail",
            self.trails
                .delete_trail(audit::DeleteTrailRequest {
                    name: self.trail.clone(),
                })
                .await,
        );
        if let Err(e) = trail
            && e.code != "TrailNotFoundException"
        {
            left.push(format!("trail {}: {e}", self.trail));
        }
        if let Err(e) = self.empty_bucket().await {
            left.push(format!("bucket s3://{}: {e}", self.image.bucket));
        }
        if !self.key.key_id.is_empty() {
            let _ = self
                .kms
                .delete_alias(kms::DeleteAliasRequest {
                    alias_name: self.alias.clone(),
                })
                .await;
            let scheduled = reply(
                "ScheduleKeyDeletion",
                self.kms
                    .schedule_key_deletion(kms::ScheduleKeyDeletionRequest {
                        key_id: self.key.key_id.clone(),
                        pending_window_in_days: 7,
                    })
                    .await,
            );
            if let Err(e) = scheduled {
                left.push(format!("key {}: {e}", self.key.key_id));
            }
        }
        if left.is_empty() {
            println!(
                "\nCleaned up (the key is pending deletion in 7 days; --keep keeps everything)."
            );
        } else {
            println!("\nCould not clean up:\n  {}", left.join("\n  "));
        }
    }

    async fn empty_bucket(&mut self) -> Result<(), CallError> {
        let bucket = self.image.bucket.clone();
        loop {
            let page = reply(
                "ListObjectsV2",
                self.s3
                    .list_objects_v2(object::ListObjectsV2Request {
                        bucket: bucket.clone(),
                        ..Default::default()
                    })
                    .await,
            );
            let page = match page {
                Err(e) if e.code == "NoSuchBucket" => return Ok(()),
                other => other?,
            };
            if page.contents.is_empty() {
                break;
            }
            for item in page.contents {
                reply(
                    "DeleteObject",
                    self.s3
                        .delete_object(object::DeleteObjectRequest {
                            bucket: bucket.clone(),
                            key: item.key,
                        })
                        .await,
                )?;
            }
        }
        reply(
            "DeleteBucket",
            self.s3
                .delete_bucket(object::DeleteBucketRequest { bucket })
                .await,
        )?;
        Ok(())
    }
}

/// The small public object's length (a prefix of the image's bytes).
const fn note_len() -> usize {
    1024
}

/// Whether `result` is S3's AccessDenied for `action` naming the user and the key.
fn refused<T>(result: &Result<T, CallError>, action: &str, user: &str, key_arn: &str) -> bool {
    matches!(result, Err(e) if e.code == "AccessDenied"
        && e.message.contains(action)
        && e.message.contains(user)
        && e.message.contains(key_arn))
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The Sids of a policy document's statements, in order.
fn statement_ids(policy: &str) -> Vec<String> {
    let document: Value = serde_json::from_str(policy).unwrap_or_default();
    document["Statement"]
        .as_array()
        .map(|statements| {
            statements
                .iter()
                .map(|s| s["Sid"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}
