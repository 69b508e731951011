//! Every operation x {the bucket account's root, a user of that account with S3 full
//! access, with S3 read-only access, with no S3 access, a user of another account,
//! no credentials} x {no bucket policy, a policy granting some actions to some
//! callers, a policy denying some actions to everyone}, over gRPC and over the S3
//! endpoint. Each cell's expectation is written out below from AWS's rules, apart
//! from the code under test, and every cell is asserted.

use aws_sdk_s3::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    types::{
        CompletedMultipartUpload, Delete, ObjectCannedAcl, ObjectIdentifier, ObjectOwnership,
        OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration,
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    },
};
use keyhold_proto::object::v1 as pb;
use keyhold_tests::{
    ObjectClient, Who,
    object::{get, put, put_header},
};
use tonic::Status;

use super::{BUCKET, DENIED, GRANTED, OBJECT, denying_policy, granting_policy, set_policy, start};

const CALLERS: [Who; 6] = [
    Who::Root,
    Who::User1,
    Who::Reader,
    Who::NoS3,
    Who::Partner,
    Who::Anonymous,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    NoPolicy,
    Granting,
    Denying,
}

impl Scenario {
    fn policy(self) -> Option<String> {
        match self {
            Scenario::NoPolicy => None,
            Scenario::Granting => Some(granting_policy()),
            Scenario::Denying => Some(denying_policy()),
        }
    }
}

/// What a caller sees: allowed (the call did its work, or failed for a reason that
/// comes after authorization, such as BucketNotEmpty), AccessDenied, or 405.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Denied,
    MethodNotAllowed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    ListBuckets,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    ListObjectsV2,
    GetBucketEncryption,
    PutBucketEncryption,
    DeleteBucketEncryption,
    GetPublicAccessBlock,
    PutPublicAccessBlock,
    DeletePublicAccessBlock,
    GetBucketOwnershipControls,
    PutBucketOwnershipControls,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    GetBucketPolicyStatus,
    PutObject,
    GetObject,
    HeadObject,
    CopyObject,
    DeleteObject,
    DeleteObjects,
    GetObjectAcl,
    PutObjectAcl,
    CreateMultipartUpload,
    UploadPart,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    ListMultipartUploads,
}

const ALL_OPS: [Op; 33] = [
    Op::ListBuckets,
    Op::CreateBucket,
    Op::DeleteBucket,
    Op::HeadBucket,
    Op::ListObjectsV2,
    Op::GetBucketEncryption,
    Op::PutBucketEncryption,
    Op::DeleteBucketEncryption,
    Op::GetPublicAccessBlock,
    Op::PutPublicAccessBlock,
    Op::DeletePublicAccessBlock,
    Op::GetBucketOwnershipControls,
    Op::PutBucketOwnershipControls,
    Op::GetBucketAcl,
    Op::PutBucketAcl,
    Op::GetBucketPolicy,
    Op::PutBucketPolicy,
    Op::DeleteBucketPolicy,
    Op::GetBucketPolicyStatus,
    Op::PutObject,
    Op::GetObject,
    Op::HeadObject,
    Op::CopyObject,
    Op::DeleteObject,
    Op::DeleteObjects,
    Op::GetObjectAcl,
    Op::PutObjectAcl,
    Op::CreateMultipartUpload,
    Op::UploadPart,
    Op::CompleteMultipartUpload,
    Op::AbortMultipartUpload,
    Op::ListParts,
    Op::ListMultipartUploads,
];

impl Op {
    /// The permissions S3's documentation says the operation needs.
    fn actions(self) -> &'static [&'static str] {
        match self {
            Op::ListBuckets => &["s3:ListAllMyBuckets"],
            Op::CreateBucket => &["s3:CreateBucket"],
            Op::DeleteBucket => &["s3:DeleteBucket"],
            Op::HeadBucket | Op::ListObjectsV2 => &["s3:ListBucket"],
            Op::GetBucketEncryption => &["s3:GetEncryptionConfiguration"],
            Op::PutBucketEncryption | Op::DeleteBucketEncryption => {
                &["s3:PutEncryptionConfiguration"]
            }
            Op::GetPublicAccessBlock => &["s3:GetBucketPublicAccessBlock"],
            Op::PutPublicAccessBlock | Op::DeletePublicAccessBlock => {
                &["s3:PutBucketPublicAccessBlock"]
            }
            Op::GetBucketOwnershipControls => &["s3:GetBucketOwnershipControls"],
            Op::PutBucketOwnershipControls => &["s3:PutBucketOwnershipControls"],
            Op::GetBucketAcl => &["s3:GetBucketAcl"],
            Op::PutBucketAcl => &["s3:PutBucketAcl"],
            Op::GetBucketPolicy => &["s3:GetBucketPolicy"],
            Op::PutBucketPolicy => &["s3:PutBucketPolicy"],
            Op::DeleteBucketPolicy => &["s3:DeleteBucketPolicy"],
            Op::GetBucketPolicyStatus => &["s3:GetBucketPolicyStatus"],
            Op::PutObject
            | Op::CreateMultipartUpload
            | Op::UploadPart
            | Op::CompleteMultipartUpload => &["s3:PutObject"],
            Op::GetObject | Op::HeadObject => &["s3:GetObject"],
            Op::CopyObject => &["s3:GetObject", "s3:PutObject"],
            Op::DeleteObject | Op::DeleteObjects => &["s3:DeleteObject"],
            Op::GetObjectAcl => &["s3:GetObjectAcl"],
            Op::PutObjectAcl => &["s3:PutObjectAcl"],
            Op::AbortMultipartUpload => &["s3:AbortMultipartUpload"],
            Op::ListParts => &["s3:ListMultipartUploadParts"],
            Op::ListMultipartUploads => &["s3:ListBucketMultipartUploads"],
        }
    }

    /// Decided by the caller's own account alone: no bucket (policy) takes part.
    fn account_level(self) -> bool {
        matches!(self, Op::ListBuckets | Op::CreateBucket)
    }

    /// The bucket owner's account only (405 for others), and its root always.
    fn policy_call(self) -> bool {
        matches!(
            self,
            Op::GetBucketPolicy | Op::PutBucketPolicy | Op::DeleteBucketPolicy
        )
    }

    /// Changes the scenario when allowed: the root sets it back afterwards.
    fn changes_the_scenario(self) -> bool {
        matches!(
            self,
            Op::PutBucketPolicy | Op::DeleteBucketPolicy | Op::DeletePublicAccessBlock
        )
    }
}

/// The cell's expectation, from AWS's rules: an explicit Deny wins; within the
/// bucket's account the identity policy or the bucket policy suffices; another
/// account needs both; no credentials need a public grant (there is none here).
fn expected(op: Op, who: Who, scenario: Scenario) -> Outcome {
    let same_account = matches!(who, Who::Root | Who::User1 | Who::Reader | Who::NoS3);
    if op.policy_call() && who == Who::Root {
        return Outcome::Allowed;
    }
    let allowed = op
        .actions()
        .iter()
        .all(|action| allowed(op, action, who, scenario));
    match (allowed, op.policy_call() && !same_account) {
        (false, _) => Outcome::Denied,
        (true, true) => Outcome::MethodNotAllowed,
        (true, false) => Outcome::Allowed,
    }
}

fn allowed(op: Op, action: &str, who: Who, scenario: Scenario) -> bool {
    let identity = match who {
        Who::Root | Who::User1 | Who::Partner => true,
        Who::Reader => action.starts_with("s3:Get") || action.starts_with("s3:List"),
        _ => false,
    };
    if op.account_level() {
        return identity;
    }
    let denied = scenario == Scenario::Denying && DENIED.contains(&action);
    let granted = scenario == Scenario::Granting
        && matches!(who, Who::Partner | Who::NoS3)
        && GRANTED.contains(&action);
    !denied
        && match who {
            Who::Partner => identity && granted,
            Who::Anonymous => false,
            _ => identity || granted,
        }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Grpc,
    S3,
}

#[tokio::test]
async fn every_operation_over_grpc() {
    run_matrix(Api::Grpc).await;
}

#[tokio::test]
async fn every_operation_over_the_s3_endpoint() {
    run_matrix(Api::S3).await;
}

/// Runs every cell and asserts them all at once, so that a failure shows the whole
/// table of differences.
async fn run_matrix(api: Api) {
    let (harness, mut root) = start().await;
    let mut differences = Vec::new();
    let mut cells = 0;
    for scenario in [Scenario::NoPolicy, Scenario::Granting, Scenario::Denying] {
        let policy = scenario.policy();
        set_policy(&mut root, policy.as_deref()).await;
        for op in ALL_OPS {
            for who in CALLERS {
                cells += 1;
                let seen = match api {
                    Api::Grpc => grpc_call(&mut harness.client(who), op, cells).await,
                    Api::S3 => s3_call(&harness.s3(who), op, cells).await,
                };
                let Some((seen, detail)) = seen else {
                    continue;
                };
                let want = expected(op, who, scenario);
                if seen != want {
                    differences.push(format!(
                        "{scenario:?} {op:?} as {who:?}: expected {want:?}, got {seen:?} ({detail})"
                    ));
                }
                if op.changes_the_scenario() {
                    set_policy(&mut root, policy.as_deref()).await;
                    restore_public_access_block(&mut root).await;
                }
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{api:?}: {} of {cells} cells differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

async fn restore_public_access_block(root: &mut ObjectClient) {
    root.put_public_access_block(pb::PutPublicAccessBlockRequest {
        bucket: BUCKET.into(),
        public_access_block_configuration: Some(pb::PublicAccessBlockConfiguration {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        }),
    })
    .await
    .expect("the root blocks public access again");
}

/// A gRPC outcome: the S3 code travels in ErrorInfo's reason.
fn grpc_outcome<T>(result: Result<T, Status>) -> (Outcome, String) {
    let Err(status) = result else {
        return (Outcome::Allowed, "OK".to_owned());
    };
    let reason = tonic_types::StatusExt::get_error_details(&status)
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default();
    let outcome = match reason.as_str() {
        "AccessDenied" => Outcome::Denied,
        "MethodNotAllowed" => Outcome::MethodNotAllowed,
        _ => Outcome::Allowed,
    };
    (outcome, format!("{reason}: {}", status.message()))
}

/// The operations the gRPC API has (multipart uploads and DeleteObjects are the S3
/// endpoint's only): None for the others.
/// A gRPC call's result, with its answer dropped: only the outcome matters here.
macro_rules! sent {
    ($call:expr) => {
        $call.await.map(drop)
    };
}

async fn grpc_call(client: &mut ObjectClient, op: Op, cell: usize) -> Option<(Outcome, String)> {
    let bucket = || BUCKET.to_owned();
    let result = match op {
        Op::ListBuckets => sent!(client.list_buckets(pb::ListBucketsRequest::default())),
        Op::CreateBucket => sent!(client.create_bucket(pb::CreateBucketRequest {
            bucket: format!("authz-new-{cell}"),
            ..Default::default()
        })),
        Op::DeleteBucket => {
            sent!(client.delete_bucket(pb::DeleteBucketRequest { bucket: bucket() }))
        }
        Op::HeadBucket => sent!(client.head_bucket(pb::HeadBucketRequest { bucket: bucket() })),
        Op::ListObjectsV2 => sent!(client.list_objects_v2(pb::ListObjectsV2Request {
            bucket: bucket(),
            ..Default::default()
        })),
        Op::GetBucketEncryption => {
            sent!(client.get_bucket_encryption(pb::GetBucketEncryptionRequest { bucket: bucket() }))
        }
        Op::PutBucketEncryption => sent!(client.put_bucket_encryption(
            pb::PutBucketEncryptionRequest {
                bucket: bucket(),
                server_side_encryption_configuration: Some(pb::ServerSideEncryptionConfiguration {
                    rules: vec![pb::ServerSideEncryptionRule {
                        apply_server_side_encryption_by_default: Some(
                            pb::ServerSideEncryptionByDefault {
                                sse_algorithm: "AES256".into(),
                                ..Default::default()
                            },
                        ),
                        bucket_key_enabled: false,
                    }],
                }),
            }
        )),
        Op::DeleteBucketEncryption => sent!(
            client.delete_bucket_encryption(pb::DeleteBucketEncryptionRequest { bucket: bucket() })
        ),
        Op::GetPublicAccessBlock => sent!(
            client.get_public_access_block(pb::GetPublicAccessBlockRequest { bucket: bucket() })
        ),
        Op::PutPublicAccessBlock => sent!(client.put_public_access_block(
            pb::PutPublicAccessBlockRequest {
                bucket: bucket(),
                public_access_block_configuration: Some(pb::PublicAccessBlockConfiguration {
                    block_public_acls: true,
                    ignore_public_acls: true,
                    block_public_policy: true,
                    restrict_public_buckets: true,
                }),
            }
        )),
        Op::DeletePublicAccessBlock => sent!(
            client.delete_public_access_block(pb::DeletePublicAccessBlockRequest {
                bucket: bucket()
            })
        ),
        Op::GetBucketOwnershipControls => sent!(client.get_bucket_ownership_controls(
            pb::GetBucketOwnershipControlsRequest { bucket: bucket() }
        )),
        Op::PutBucketOwnershipControls => sent!(client.put_bucket_ownership_controls(
            pb::PutBucketOwnershipControlsRequest {
                bucket: bucket(),
                ownership_controls: Some(pb::OwnershipControls {
                    rules: vec![pb::OwnershipControlsRule {
                        object_ownership: "BucketOwnerEnforced".into(),
                    }],
                }),
            }
        )),
        Op::GetBucketAcl => {
            sent!(client.get_bucket_acl(pb::GetBucketAclRequest { bucket: bucket() }))
        }
        Op::PutBucketAcl => sent!(client.put_bucket_acl(pb::PutBucketAclRequest {
            bucket: bucket(),
            acl: "private".into(),
            access_control_policy: None,
        })),
        Op::GetBucketPolicy => {
            sent!(client.get_bucket_policy(pb::GetBucketPolicyRequest { bucket: bucket() }))
        }
        Op::PutBucketPolicy => sent!(client.put_bucket_policy(pb::PutBucketPolicyRequest {
            bucket: bucket(),
            policy: granting_policy(),
        })),
        Op::DeleteBucketPolicy => {
            sent!(client.delete_bucket_policy(pb::DeleteBucketPolicyRequest { bucket: bucket() }))
        }
        Op::GetBucketPolicyStatus => sent!(
            client.get_bucket_policy_status(pb::GetBucketPolicyStatusRequest { bucket: bucket() })
        ),
        Op::PutObject => put(client, put_header(BUCKET, &format!("put-{cell}")), b"x")
            .await
            .map(drop),
        Op::GetObject => get(client, BUCKET, OBJECT).await.map(drop),
        Op::HeadObject => sent!(client.head_object(pb::HeadObjectRequest {
            bucket: bucket(),
            key: OBJECT.into(),
            ..Default::default()
        })),
        Op::CopyObject => sent!(client.copy_object(pb::CopyObjectRequest {
            bucket: bucket(),
            key: format!("copy-{cell}"),
            copy_source: format!("{BUCKET}/{OBJECT}"),
            ..Default::default()
        })),
        Op::DeleteObject => sent!(client.delete_object(pb::DeleteObjectRequest {
            bucket: bucket(),
            key: "absent.txt".into(),
        })),
        Op::GetObjectAcl => sent!(client.get_object_acl(pb::GetObjectAclRequest {
            bucket: bucket(),
            key: OBJECT.into(),
        })),
        Op::PutObjectAcl => sent!(client.put_object_acl(pb::PutObjectAclRequest {
            bucket: bucket(),
            key: OBJECT.into(),
            acl: "private".into(),
            access_control_policy: None,
        })),
        Op::DeleteObjects
        | Op::CreateMultipartUpload
        | Op::UploadPart
        | Op::CompleteMultipartUpload
        | Op::AbortMultipartUpload
        | Op::ListParts
        | Op::ListMultipartUploads => return None,
    };
    Some(grpc_outcome(result))
}

/// An S3 outcome, read as a user reads it: the status and the error code (HEAD
/// answers carry no body, so a 403 is AccessDenied there).
fn s3_outcome<T, E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    result: Result<T, SdkError<E, R>>,
    status_of: impl Fn(&SdkError<E, R>) -> Option<u16>,
) -> (Outcome, String) {
    let Err(error) = result else {
        return (Outcome::Allowed, "OK".to_owned());
    };
    let status = status_of(&error);
    let code = error.code().unwrap_or_default().to_owned();
    let outcome = match (status, code.as_str()) {
        (Some(403), "AccessDenied" | "" | "Forbidden") => Outcome::Denied,
        (Some(405), _) => Outcome::MethodNotAllowed,
        (Some(_), _) => Outcome::Allowed,
        (None, _) => panic!("no response: {error:?}"),
    };
    (
        outcome,
        format!("{status:?} {code}: {}", error.message().unwrap_or_default()),
    )
}

macro_rules! outcome {
    ($call:expr) => {
        s3_outcome($call.send().await, |error| {
            error.raw_response().map(|raw| raw.status().as_u16())
        })
    };
}

async fn s3_call(s3: &Client, op: Op, cell: usize) -> Option<(Outcome, String)> {
    const UPLOAD: &str = "no-such-upload";
    Some(match op {
        Op::ListBuckets => outcome!(s3.list_buckets()),
        Op::CreateBucket => outcome!(s3.create_bucket().bucket(format!("authz-new-{cell}"))),
        Op::DeleteBucket => outcome!(s3.delete_bucket().bucket(BUCKET)),
        Op::HeadBucket => outcome!(s3.head_bucket().bucket(BUCKET)),
        Op::ListObjectsV2 => outcome!(s3.list_objects_v2().bucket(BUCKET)),
        Op::GetBucketEncryption => outcome!(s3.get_bucket_encryption().bucket(BUCKET)),
        Op::PutBucketEncryption => outcome!(
            s3.put_bucket_encryption()
                .bucket(BUCKET)
                .server_side_encryption_configuration(
                    ServerSideEncryptionConfiguration::builder()
                        .rules(
                            ServerSideEncryptionRule::builder()
                                .apply_server_side_encryption_by_default(
                                    ServerSideEncryptionByDefault::builder()
                                        .sse_algorithm(ServerSideEncryption::Aes256)
                                        .build()
                                        .unwrap(),
                                )
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
        ),
        Op::DeleteBucketEncryption => outcome!(s3.delete_bucket_encryption().bucket(BUCKET)),
        Op::GetPublicAccessBlock => outcome!(s3.get_public_access_block().bucket(BUCKET)),
        Op::PutPublicAccessBlock => outcome!(
            s3.put_public_access_block()
                .bucket(BUCKET)
                .public_access_block_configuration(
                    PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(true)
                        .block_public_policy(true)
                        .restrict_public_buckets(true)
                        .build(),
                )
        ),
        Op::DeletePublicAccessBlock => outcome!(s3.delete_public_access_block().bucket(BUCKET)),
        Op::GetBucketOwnershipControls => {
            outcome!(s3.get_bucket_ownership_controls().bucket(BUCKET))
        }
        Op::PutBucketOwnershipControls => outcome!(
            s3.put_bucket_ownership_controls()
                .bucket(BUCKET)
                .ownership_controls(
                    OwnershipControls::builder()
                        .rules(
                            OwnershipControlsRule::builder()
                                .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
        ),
        Op::GetBucketAcl => outcome!(s3.get_bucket_acl().bucket(BUCKET)),
        Op::PutBucketAcl => outcome!(
            s3.put_bucket_acl()
                .bucket(BUCKET)
                .acl(aws_sdk_s3::types::BucketCannedAcl::Private)
        ),
        Op::GetBucketPolicy => outcome!(s3.get_bucket_policy().bucket(BUCKET)),
        Op::PutBucketPolicy => outcome!(
            s3.put_bucket_policy()
                .bucket(BUCKET)
                .policy(granting_policy())
        ),
        Op::DeleteBucketPolicy => outcome!(s3.delete_bucket_policy().bucket(BUCKET)),
        Op::GetBucketPolicyStatus => outcome!(s3.get_bucket_policy_status().bucket(BUCKET)),
        Op::PutObject => outcome!(
            s3.put_object()
                .bucket(BUCKET)
                .key(format!("put-{cell}"))
                .body(b"x".to_vec().into())
        ),
        Op::GetObject => outcome!(s3.get_object().bucket(BUCKET).key(OBJECT)),
        Op::HeadObject => outcome!(s3.head_object().bucket(BUCKET).key(OBJECT)),
        Op::CopyObject => outcome!(
            s3.copy_object()
                .bucket(BUCKET)
                .key(format!("copy-{cell}"))
                .copy_source(format!("{BUCKET}/{OBJECT}"))
        ),
        Op::DeleteObject => outcome!(s3.delete_object().bucket(BUCKET).key("absent.txt")),
        Op::DeleteObjects => {
            let sent = s3
                .delete_objects()
                .bucket(BUCKET)
                .delete(
                    Delete::builder()
                        .objects(
                            ObjectIdentifier::builder()
                                .key("absent.txt")
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .send()
                .await;
            // Refusals of DeleteObjects come per key, in a 200 answer.
            match sent {
                Ok(output) => match output.errors().first() {
                    Some(error) if error.code() == Some("AccessDenied") => (
                        Outcome::Denied,
                        format!("per-key AccessDenied: {:?}", error.message()),
                    ),
                    Some(error) => (Outcome::Allowed, format!("per-key {:?}", error.code())),
                    None => (Outcome::Allowed, "OK".to_owned()),
                },
                Err(error) => s3_outcome(Err::<(), _>(error), |error| {
                    error.raw_response().map(|raw| raw.status().as_u16())
                }),
            }
        }
        Op::GetObjectAcl => outcome!(s3.get_object_acl().bucket(BUCKET).key(OBJECT)),
        Op::PutObjectAcl => outcome!(
            s3.put_object_acl()
                .bucket(BUCKET)
                .key(OBJECT)
                .acl(ObjectCannedAcl::Private)
        ),
        Op::CreateMultipartUpload => outcome!(
            s3.create_multipart_upload()
                .bucket(BUCKET)
                .key(format!("upload-{cell}"))
        ),
        Op::UploadPart => outcome!(
            s3.upload_part()
                .bucket(BUCKET)
                .key(OBJECT)
                .upload_id(UPLOAD)
                .part_number(1)
                .body(b"x".to_vec().into())
        ),
        Op::CompleteMultipartUpload => outcome!(
            s3.complete_multipart_upload()
                .bucket(BUCKET)
                .key(OBJECT)
                .upload_id(UPLOAD)
                .multipart_upload(CompletedMultipartUpload::builder().build())
        ),
        Op::AbortMultipartUpload => outcome!(
            s3.abort_multipart_upload()
                .bucket(BUCKET)
                .key(OBJECT)
                .upload_id(UPLOAD)
        ),
        Op::ListParts => outcome!(s3.list_parts().bucket(BUCKET).key(OBJECT).upload_id(UPLOAD)),
        Op::ListMultipartUploads => outcome!(s3.list_multipart_uploads().bucket(BUCKET)),
    })
}
