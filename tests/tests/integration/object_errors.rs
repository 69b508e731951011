//! Every S3 error row of docs/aws-behaviour.md that applies to the gRPC API, and the other ways
//! an object-svc call fails: the exact gRPC code, S3 code (ErrorInfo reason), message
//! and extra fields (ErrorInfo metadata).

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use keyhold_proto::{kms::v1 as kms, object::v1::*};
use keyhold_tests::{
    ObjectClient, ObjectHarness, Who, assert_error,
    kms::{USER2_ARN, console_key},
    object::{assert_s3_error, get, get_object, put, put_header, put_object, sse_kms},
};
use tonic::{Code, Status};

const BUCKET: &str = "errors-bucket";
const KMS_ARN_PREFIX: &str = "arn:aws:kms:us-east-1:000000000000";
const ACCESS_DENIED: &str = "Access Denied";
const ACLS_NOT_SUPPORTED: &str = "The bucket does not allow ACLs";
const NO_SUCH_BUCKET: &str = "The specified bucket does not exist";
const NO_SUCH_KEY: &str = "The specified key does not exist.";
const KMS_NEEDS_HEADER: &str = "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms";
const NOT_SUPPORTED: &str = "The encryption method specified is not supported";
const INCOMPLETE_BODY: &str =
    "You did not provide the number of bytes specified by the Content-Length HTTP header.";
const EMPTY_KEY: &str = "Object key must not be empty";
const NUL_KEY: &str = "Object key must not contain the NUL character";

#[track_caller]
fn assert_denied<T: std::fmt::Debug>(result: Result<T, Status>) {
    assert_s3_error(
        result,
        Code::PermissionDenied,
        "AccessDenied",
        ACCESS_DENIED,
        &[],
    );
}

#[track_caller]
fn assert_no_such_bucket<T: std::fmt::Debug>(result: Result<T, Status>, bucket: &str) {
    assert_s3_error(
        result,
        Code::NotFound,
        "NoSuchBucket",
        NO_SUCH_BUCKET,
        &[("BucketName", bucket)],
    );
}

#[track_caller]
fn assert_no_such_key<T: std::fmt::Debug>(result: Result<T, Status>, key: &str) {
    assert_s3_error(
        result,
        Code::NotFound,
        "NoSuchKey",
        NO_SUCH_KEY,
        &[("Key", key)],
    );
}

async fn create_bucket(client: &mut ObjectClient, name: &str) {
    client
        .create_bucket(CreateBucketRequest {
            bucket: name.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
}

/// A harness, User1's client and BUCKET (all defaults).
async fn start() -> (ObjectHarness, ObjectClient) {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    create_bucket(&mut user, BUCKET).await;
    (harness, user)
}

async fn set_ownership(client: &mut ObjectClient, bucket: &str, ownership: &str) {
    client
        .put_bucket_ownership_controls(PutBucketOwnershipControlsRequest {
            bucket: bucket.into(),
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: ownership.into(),
                }],
            }),
        })
        .await
        .unwrap();
}

async fn delete_block(client: &mut ObjectClient, bucket: &str) {
    client
        .delete_public_access_block(DeletePublicAccessBlockRequest {
            bucket: bucket.into(),
        })
        .await
        .unwrap();
}

fn head_request(bucket: &str, key: &str) -> HeadObjectRequest {
    HeadObjectRequest {
        bucket: bucket.into(),
        key: key.into(),
        ..Default::default()
    }
}

fn get_request(bucket: &str, key: &str) -> GetObjectRequest {
    GetObjectRequest {
        bucket: bucket.into(),
        key: key.into(),
        ..Default::default()
    }
}

fn list_request(bucket: &str) -> ListObjectsV2Request {
    ListObjectsV2Request {
        bucket: bucket.into(),
        ..Default::default()
    }
}

fn kms_rule(key_id: &str) -> ServerSideEncryptionConfiguration {
    ServerSideEncryptionConfiguration {
        rules: vec![ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                sse_algorithm: "aws:kms".into(),
                kms_master_key_id: key_id.into(),
            }),
            bucket_key_enabled: false,
        }],
    }
}

fn public_read_policy() -> AccessControlPolicy {
    AccessControlPolicy {
        owner: None,
        grants: vec![Grant {
            grantee: Some(Grantee {
                r#type: "Group".into(),
                uri: "http://acs.amazonaws.com/groups/global/AllUsers".into(),
                ..Default::default()
            }),
            permission: "READ".into(),
        }],
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

async fn raw_put(
    client: &mut ObjectClient,
    messages: Vec<PutObjectRequest>,
) -> Result<PutObjectResponse, Status> {
    client
        .put_object(futures::stream::iter(messages))
        .await
        .map(tonic::Response::into_inner)
}

fn header_message(header: PutObjectHeader) -> PutObjectRequest {
    PutObjectRequest {
        part: Some(put_object_request::Part::Header(header)),
    }
}

fn chunk_message(bytes: &[u8]) -> PutObjectRequest {
    PutObjectRequest {
        part: Some(put_object_request::Part::Chunk(Bytes::copy_from_slice(
            bytes,
        ))),
    }
}

// ---------------------------------------------------------------------------
// Anonymous callers
// ---------------------------------------------------------------------------

#[tokio::test]
async fn anonymous_callers_are_denied_everything_on_a_private_bucket() {
    let (harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "secret.txt"), b"secret")
        .await
        .unwrap();
    let mut anonymous = harness.client(Who::Anonymous);

    // Reads: a private object, a missing key (AccessDenied, not NoSuchKey), HEAD.
    assert_denied(get(&mut anonymous, BUCKET, "secret.txt").await);
    assert_denied(get(&mut anonymous, BUCKET, "no-such-key").await);
    assert_denied(
        anonymous
            .head_object(head_request(BUCKET, "secret.txt"))
            .await,
    );
    assert_denied(
        anonymous
            .head_object(head_request(BUCKET, "no-such-key"))
            .await,
    );
    assert_denied(anonymous.list_objects_v2(list_request(BUCKET)).await);
    assert_denied(
        anonymous
            .get_object_acl(GetObjectAclRequest {
                bucket: BUCKET.into(),
                key: "secret.txt".into(),
            })
            .await,
    );

    // Writes.
    assert_denied(
        put(
            &mut anonymous,
            put_header(BUCKET, "secret.txt"),
            b"overwritten",
        )
        .await,
    );
    assert_denied(put(&mut anonymous, put_header(BUCKET, "new.txt"), b"new").await);
    assert_denied(
        anonymous
            .delete_object(DeleteObjectRequest {
                bucket: BUCKET.into(),
                key: "secret.txt".into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .copy_object(CopyObjectRequest {
                bucket: BUCKET.into(),
                key: "copy.txt".into(),
                copy_source: format!("{BUCKET}/secret.txt"),
                ..Default::default()
            })
            .await,
    );
    assert_denied(
        anonymous
            .put_object_acl(PutObjectAclRequest {
                bucket: BUCKET.into(),
                key: "secret.txt".into(),
                acl: "public-read".into(),
                ..Default::default()
            })
            .await,
    );

    // Buckets and their settings.
    assert_denied(
        anonymous
            .create_bucket(CreateBucketRequest {
                bucket: "anonymous-bucket".into(),
                ..Default::default()
            })
            .await,
    );
    assert_denied(anonymous.list_buckets(ListBucketsRequest {}).await);
    assert_denied(
        anonymous
            .head_bucket(HeadBucketRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .delete_bucket(DeleteBucketRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .get_bucket_encryption(GetBucketEncryptionRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .put_bucket_encryption(PutBucketEncryptionRequest {
                bucket: BUCKET.into(),
                server_side_encryption_configuration: Some(kms_rule("alias/x")),
            })
            .await,
    );
    assert_denied(
        anonymous
            .delete_bucket_encryption(DeleteBucketEncryptionRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .get_public_access_block(GetPublicAccessBlockRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .put_public_access_block(PutPublicAccessBlockRequest {
                bucket: BUCKET.into(),
                public_access_block_configuration: Some(PublicAccessBlockConfiguration::default()),
            })
            .await,
    );
    assert_denied(
        anonymous
            .delete_public_access_block(DeletePublicAccessBlockRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .get_bucket_ownership_controls(GetBucketOwnershipControlsRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .put_bucket_ownership_controls(PutBucketOwnershipControlsRequest {
                bucket: BUCKET.into(),
                ownership_controls: Some(OwnershipControls {
                    rules: vec![OwnershipControlsRule {
                        object_ownership: "ObjectWriter".into(),
                    }],
                }),
            })
            .await,
    );
    assert_denied(
        anonymous
            .get_bucket_acl(GetBucketAclRequest {
                bucket: BUCKET.into(),
            })
            .await,
    );
    assert_denied(
        anonymous
            .put_bucket_acl(PutBucketAclRequest {
                bucket: BUCKET.into(),
                acl: "public-read".into(),
                ..Default::default()
            })
            .await,
    );

    // Nothing changed.
    let (_, bytes) = get(&mut user, BUCKET, "secret.txt").await.unwrap();
    assert_eq!(bytes, b"secret");
    assert_no_such_key(get(&mut user, BUCKET, "new.txt").await, "new.txt");
    assert_no_such_key(get(&mut user, BUCKET, "copy.txt").await, "copy.txt");
    let block = user
        .get_public_access_block(GetPublicAccessBlockRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .public_access_block_configuration
        .unwrap();
    assert!(block.block_public_acls && block.ignore_public_acls);
    let encryption = user
        .get_bucket_encryption(GetBucketEncryptionRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .server_side_encryption_configuration
        .unwrap();
    assert_eq!(
        encryption.rules[0]
            .apply_server_side_encryption_by_default
            .as_ref()
            .unwrap()
            .sse_algorithm,
        "AES256"
    );
    let buckets = user
        .list_buckets(ListBucketsRequest {})
        .await
        .unwrap()
        .into_inner()
        .buckets;
    assert_eq!(
        buckets.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        [BUCKET]
    );
}

#[tokio::test]
async fn ignore_public_acls_hides_a_public_object() {
    let (harness, mut user) = start().await;
    let mut anonymous = harness.client(Who::Anonymous);
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    delete_block(&mut user, BUCKET).await;
    put(
        &mut user,
        PutObjectHeader {
            acl: "public-read".into(),
            ..put_header(BUCKET, "public.txt")
        },
        b"public bytes",
    )
    .await
    .unwrap();
    let (_, bytes) = get(&mut anonymous, BUCKET, "public.txt").await.unwrap();
    assert_eq!(bytes, b"public bytes");

    // IgnorePublicAcls alone: the ACL is still public-read, but no longer counts.
    user.put_public_access_block(PutPublicAccessBlockRequest {
        bucket: BUCKET.into(),
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            ignore_public_acls: true,
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    assert_denied(get(&mut anonymous, BUCKET, "public.txt").await);
    assert_denied(
        anonymous
            .head_object(head_request(BUCKET, "public.txt"))
            .await,
    );
    // An SSE-KMS object public by ACL is refused as AccessDenied before the SigV4
    // rule applies (authorize first).
    let mut kms_user = harness.kms.client(Who::User1);
    let key = console_key(&mut kms_user, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await;
    put(
        &mut user,
        PutObjectHeader {
            acl: "public-read".into(),
            ..sse_kms(BUCKET, "public-kms.txt", &key.key_id)
        },
        b"kms bytes",
    )
    .await
    .unwrap();
    assert_denied(get(&mut anonymous, BUCKET, "public-kms.txt").await);

    // The owner still reads, and the ACL still shows the public grant.
    let (_, bytes) = get(&mut user, BUCKET, "public.txt").await.unwrap();
    assert_eq!(bytes, b"public bytes");
    let acl = user
        .get_object_acl(GetObjectAclRequest {
            bucket: BUCKET.into(),
            key: "public.txt".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acl.grants.len(), 2);

    // Lifting IgnorePublicAcls makes it readable again.
    user.put_public_access_block(PutPublicAccessBlockRequest {
        bucket: BUCKET.into(),
        public_access_block_configuration: Some(PublicAccessBlockConfiguration::default()),
    })
    .await
    .unwrap();
    let (_, bytes) = get(&mut anonymous, BUCKET, "public.txt").await.unwrap();
    assert_eq!(bytes, b"public bytes");
}

#[tokio::test]
async fn anonymous_sse_kms_read_of_a_public_object_needs_sigv4() {
    let (harness, mut user) = start().await;
    let mut anonymous = harness.client(Who::Anonymous);
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    delete_block(&mut user, BUCKET).await;
    let mut kms_user = harness.kms.client(Who::User1);
    let key = console_key(&mut kms_user, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await;
    put(
        &mut user,
        PutObjectHeader {
            acl: "public-read".into(),
            ..sse_kms(BUCKET, "kms.txt", &key.key_id)
        },
        b"kms bytes",
    )
    .await
    .unwrap();
    let sigv4 = "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.";
    let fields = [("ArgumentName", "Authorization"), ("ArgumentValue", "null")];
    assert_s3_error(
        get(&mut anonymous, BUCKET, "kms.txt").await,
        Code::InvalidArgument,
        "InvalidArgument",
        sigv4,
        &fields,
    );
    assert_s3_error(
        anonymous.head_object(head_request(BUCKET, "kms.txt")).await,
        Code::InvalidArgument,
        "InvalidArgument",
        sigv4,
        &fields,
    );
}

// ---------------------------------------------------------------------------
// ACLs: Block Public Access and Object Ownership
// ---------------------------------------------------------------------------

#[tokio::test]
async fn public_acls_are_refused_while_block_public_acls() {
    let (_harness, mut user) = start().await;
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    put(&mut user, put_header(BUCKET, "object.txt"), b"bytes")
        .await
        .unwrap();

    assert_denied(
        user.put_object_acl(PutObjectAclRequest {
            bucket: BUCKET.into(),
            key: "object.txt".into(),
            acl: "public-read".into(),
            ..Default::default()
        })
        .await,
    );
    assert_denied(
        user.put_object_acl(PutObjectAclRequest {
            bucket: BUCKET.into(),
            key: "object.txt".into(),
            access_control_policy: Some(public_read_policy()),
            ..Default::default()
        })
        .await,
    );
    assert_denied(
        put(
            &mut user,
            PutObjectHeader {
                acl: "public-read".into(),
                ..put_header(BUCKET, "public.txt")
            },
            b"public",
        )
        .await,
    );
    assert_no_such_key(get(&mut user, BUCKET, "public.txt").await, "public.txt");
    assert_denied(
        user.put_bucket_acl(PutBucketAclRequest {
            bucket: BUCKET.into(),
            acl: "public-read".into(),
            ..Default::default()
        })
        .await,
    );
    assert_denied(
        user.copy_object(CopyObjectRequest {
            bucket: BUCKET.into(),
            key: "copy.txt".into(),
            copy_source: format!("{BUCKET}/object.txt"),
            acl: "public-read".into(),
            ..Default::default()
        })
        .await,
    );

    // The ACL did not change; private ACLs are fine.
    let acl = user
        .get_object_acl(GetObjectAclRequest {
            bucket: BUCKET.into(),
            key: "object.txt".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acl.grants.len(), 1);
    assert_eq!(acl.grants[0].permission, "FULL_CONTROL");
    user.put_object_acl(PutObjectAclRequest {
        bucket: BUCKET.into(),
        key: "object.txt".into(),
        acl: "private".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    put(
        &mut user,
        PutObjectHeader {
            acl: "private".into(),
            ..put_header(BUCKET, "private.txt")
        },
        b"private",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn any_acl_is_refused_while_bucket_owner_enforced() {
    let (_harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "object.txt"), b"bytes")
        .await
        .unwrap();
    let not_supported = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "AccessControlListNotSupported",
            ACLS_NOT_SUPPORTED,
            &[],
        )
    };
    for acl in ["public-read", "private"] {
        not_supported(
            user.put_object_acl(PutObjectAclRequest {
                bucket: BUCKET.into(),
                key: "object.txt".into(),
                acl: acl.into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        );
        not_supported(
            user.put_bucket_acl(PutBucketAclRequest {
                bucket: BUCKET.into(),
                acl: acl.into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        );
    }
    not_supported(
        user.put_bucket_acl(PutBucketAclRequest {
            bucket: BUCKET.into(),
            access_control_policy: Some(public_read_policy()),
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    not_supported(
        put(
            &mut user,
            PutObjectHeader {
                acl: "public-read".into(),
                ..put_header(BUCKET, "public.txt")
            },
            b"public",
        )
        .await
        .map(|_| ()),
    );
    assert_no_such_key(get(&mut user, BUCKET, "public.txt").await, "public.txt");
    // docs/aws-behaviour.md: AccessControlListNotSupported for any ACL while enforced. (AWS
    // itself answers CreateBucket with InvalidBucketAclWithObjectOwnership here.)
    not_supported(
        user.create_bucket(CreateBucketRequest {
            bucket: "public-bucket".into(),
            acl: "public-read".into(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    assert_no_such_bucket(
        user.head_bucket(HeadBucketRequest {
            bucket: "public-bucket".into(),
        })
        .await,
        "public-bucket",
    );

    // bucket-owner-full-control is the one ACL a write may carry.
    let response = put(
        &mut user,
        PutObjectHeader {
            acl: "bucket-owner-full-control".into(),
            ..put_header(BUCKET, "owned.txt")
        },
        b"owned",
    )
    .await
    .unwrap();
    assert_eq!(response.size, 5);
    let (_, bytes) = get(&mut user, BUCKET, "owned.txt").await.unwrap();
    assert_eq!(bytes, b"owned");
}

#[tokio::test]
async fn create_bucket_with_a_private_acl_under_bucket_owner_enforced() {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    user.create_bucket(CreateBucketRequest {
        bucket: "private-acl-bucket".into(),
        acl: "private".into(),
        ..Default::default()
    })
    .await
    .expect("a private ACL is accepted while ACLs are disabled");
}

// ---------------------------------------------------------------------------
// SSE-KMS: key states, unknown keys, key policy refusals
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_disabled_key_refuses_put_and_get() {
    let (harness, mut user) = start().await;
    let mut kms_user = harness.kms.client(Who::User1);
    let key = console_key(&mut kms_user, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await;
    put(
        &mut user,
        sse_kms(BUCKET, "kms.txt", &key.key_id),
        b"kms bytes",
    )
    .await
    .unwrap();
    kms_user
        .disable_key(kms::DisableKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
    let disabled = format!("{} is disabled.", key.arn);
    assert_s3_error(
        get(&mut user, BUCKET, "kms.txt").await,
        Code::FailedPrecondition,
        "KMS.DisabledException",
        &disabled,
        &[],
    );
    assert_s3_error(
        put(&mut user, sse_kms(BUCKET, "new.txt", &key.arn), b"new").await,
        Code::FailedPrecondition,
        "KMS.DisabledException",
        &disabled,
        &[],
    );
    assert_no_such_key(get(&mut user, BUCKET, "new.txt").await, "new.txt");
    // An overwrite under the disabled key leaves the old object in place.
    assert_s3_error(
        put(&mut user, sse_kms(BUCKET, "kms.txt", &key.key_id), b"other").await,
        Code::FailedPrecondition,
        "KMS.DisabledException",
        &disabled,
        &[],
    );
    // A bucket default naming the key fails the same way.
    user.put_bucket_encryption(PutBucketEncryptionRequest {
        bucket: BUCKET.into(),
        server_side_encryption_configuration: Some(kms_rule(&key.key_id)),
    })
    .await
    .unwrap();
    assert_s3_error(
        put(&mut user, put_header(BUCKET, "default.txt"), b"default").await,
        Code::FailedPrecondition,
        "KMS.DisabledException",
        &disabled,
        &[],
    );
    // HeadObject does not need the key.
    let head = user
        .head_object(head_request(BUCKET, "kms.txt"))
        .await
        .unwrap()
        .into_inner()
        .head
        .unwrap();
    assert_eq!(head.ssekms_key_id, key.arn);
    assert_eq!(head.size, 9);

    kms_user
        .enable_key(kms::EnableKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
    let (_, bytes) = get(&mut user, BUCKET, "kms.txt").await.unwrap();
    assert_eq!(bytes, b"kms bytes");
}

#[tokio::test]
async fn a_key_pending_deletion_refuses_put_and_get() {
    let (harness, mut user) = start().await;
    let mut kms_user = harness.kms.client(Who::User1);
    let key = console_key(&mut kms_user, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await;
    put(
        &mut user,
        sse_kms(BUCKET, "kms.txt", &key.key_id),
        b"kms bytes",
    )
    .await
    .unwrap();
    kms_user
        .schedule_key_deletion(kms::ScheduleKeyDeletionRequest {
            key_id: key.key_id.clone(),
            pending_window_in_days: 7,
        })
        .await
        .unwrap();
    let pending = format!("{} is pending deletion.", key.arn);
    assert_s3_error(
        get(&mut user, BUCKET, "kms.txt").await,
        Code::FailedPrecondition,
        "KMS.KMSInvalidStateException",
        &pending,
        &[],
    );
    assert_s3_error(
        put(&mut user, sse_kms(BUCKET, "new.txt", &key.key_id), b"new").await,
        Code::FailedPrecondition,
        "KMS.KMSInvalidStateException",
        &pending,
        &[],
    );
    assert_no_such_key(get(&mut user, BUCKET, "new.txt").await, "new.txt");
    // CopyObject reads the source first: the same refusal.
    assert_s3_error(
        user.copy_object(CopyObjectRequest {
            bucket: BUCKET.into(),
            key: "copy.txt".into(),
            copy_source: format!("{BUCKET}/kms.txt"),
            ..Default::default()
        })
        .await,
        Code::FailedPrecondition,
        "KMS.KMSInvalidStateException",
        &pending,
        &[],
    );
}

#[tokio::test]
async fn unknown_keys_are_kms_not_found() {
    let (_harness, mut user) = start().await;
    let missing = uuid::Uuid::new_v4().to_string();
    let not_found = |result: Result<PutObjectResponse, Status>, message: &str| {
        assert_s3_error(
            result,
            Code::NotFound,
            "KMS.NotFoundException",
            message,
            &[],
        )
    };
    let does_not_exist = format!("Key '{KMS_ARN_PREFIX}:key/{missing}' does not exist");
    not_found(
        put(&mut user, sse_kms(BUCKET, "a.txt", &missing), b"a").await,
        &does_not_exist,
    );
    not_found(
        put(
            &mut user,
            sse_kms(BUCKET, "a.txt", &format!("{KMS_ARN_PREFIX}:key/{missing}")),
            b"a",
        )
        .await,
        &does_not_exist,
    );
    // A malformed key id: kms-svc's message, as docs/aws-behaviour.md has it.
    not_found(
        put(&mut user, sse_kms(BUCKET, "a.txt", "nope"), b"a").await,
        "Invalid keyId 'nope'",
    );
    // An unknown alias, by name and by ARN.
    let alias_not_found = format!("Alias '{KMS_ARN_PREFIX}:alias/nope' is not found.");
    not_found(
        put(&mut user, sse_kms(BUCKET, "a.txt", "alias/nope"), b"a").await,
        &alias_not_found,
    );
    not_found(
        put(
            &mut user,
            sse_kms(BUCKET, "a.txt", &format!("{KMS_ARN_PREFIX}:alias/nope")),
            b"a",
        )
        .await,
        &alias_not_found,
    );
    // A key ARN of another account and region.
    let foreign = format!("arn:aws:kms:eu-west-1:111111111111:key/{missing}");
    not_found(
        put(&mut user, sse_kms(BUCKET, "a.txt", &foreign), b"a").await,
        &format!("Invalid arn {foreign}"),
    );
    // The bucket default is not checked when it is set, only when it is used.
    user.put_bucket_encryption(PutBucketEncryptionRequest {
        bucket: BUCKET.into(),
        server_side_encryption_configuration: Some(kms_rule("alias/nope")),
    })
    .await
    .unwrap();
    not_found(
        put(&mut user, put_header(BUCKET, "a.txt"), b"a").await,
        &alias_not_found,
    );
    assert_no_such_key(get(&mut user, BUCKET, "a.txt").await, "a.txt");
}

#[tokio::test]
async fn a_caller_the_key_policy_does_not_allow_is_denied() {
    let (harness, mut user) = start().await;
    let mut kms_user = harness.kms.client(Who::User1);
    let key = console_key(&mut kms_user, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await;
    put(
        &mut user,
        sse_kms(BUCKET, "kms.txt", &key.key_id),
        b"kms bytes",
    )
    .await
    .unwrap();
    put(&mut user, put_header(BUCKET, "s3.txt"), b"s3 bytes")
        .await
        .unwrap();

    // User2 is of the bucket's account, but not a user of User1's key.
    let mut user2 = harness.client(Who::User2);
    let denied = |action: &str| {
        format!(
            "User: {USER2_ARN} is not authorized to perform: kms:{action} on resource: {} because no resource-based policy allows the kms:{action} action",
            key.arn
        )
    };
    assert_s3_error(
        put(&mut user2, sse_kms(BUCKET, "user2.txt", &key.arn), b"user2").await,
        Code::PermissionDenied,
        "AccessDenied",
        &denied("GenerateDataKey"),
        &[],
    );
    assert_no_such_key(get(&mut user, BUCKET, "user2.txt").await, "user2.txt");
    assert_s3_error(
        get(&mut user2, BUCKET, "kms.txt").await,
        Code::PermissionDenied,
        "AccessDenied",
        &denied("Decrypt"),
        &[],
    );
    // Copying it decrypts the source: the same refusal.
    assert_s3_error(
        user2
            .copy_object(CopyObjectRequest {
                bucket: BUCKET.into(),
                key: "copy.txt".into(),
                copy_source: format!("{BUCKET}/kms.txt"),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "AccessDenied",
        &denied("Decrypt"),
        &[],
    );
    // What needs no key works for User2: HEAD, and SSE-S3 objects.
    user2
        .head_object(head_request(BUCKET, "kms.txt"))
        .await
        .unwrap();
    let (_, bytes) = get(&mut user2, BUCKET, "s3.txt").await.unwrap();
    assert_eq!(bytes, b"s3 bytes");
}

#[tokio::test]
async fn server_side_encryption_arguments() {
    let (_harness, mut user) = start().await;
    assert_s3_error(
        put(
            &mut user,
            PutObjectHeader {
                server_side_encryption: "AES512".into(),
                ..put_header(BUCKET, "a.txt")
            },
            b"a",
        )
        .await,
        Code::InvalidArgument,
        "InvalidArgument",
        NOT_SUPPORTED,
        &[
            ("ArgumentName", "x-amz-server-side-encryption"),
            ("ArgumentValue", "AES512"),
        ],
    );
    assert_s3_error(
        put(
            &mut user,
            PutObjectHeader {
                ssekms_key_id: "alias/any".into(),
                ..put_header(BUCKET, "a.txt")
            },
            b"a",
        )
        .await,
        Code::InvalidArgument,
        "InvalidArgument",
        KMS_NEEDS_HEADER,
        &[
            (
                "ArgumentName",
                "x-amz-server-side-encryption-aws-kms-key-id",
            ),
            ("ArgumentValue", "null"),
        ],
    );
    assert_s3_error(
        put(
            &mut user,
            PutObjectHeader {
                server_side_encryption: "AES256".into(),
                ssekms_key_id: "alias/any".into(),
                ..put_header(BUCKET, "a.txt")
            },
            b"a",
        )
        .await,
        Code::InvalidArgument,
        "InvalidArgument",
        KMS_NEEDS_HEADER,
        &[
            ("ArgumentName", "x-amz-server-side-encryption"),
            ("ArgumentValue", "AES256"),
        ],
    );
    put(&mut user, put_header(BUCKET, "source.txt"), b"source")
        .await
        .unwrap();
    assert_s3_error(
        user.copy_object(CopyObjectRequest {
            bucket: BUCKET.into(),
            key: "copy.txt".into(),
            copy_source: format!("{BUCKET}/source.txt"),
            server_side_encryption: "AES512".into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "InvalidArgument",
        NOT_SUPPORTED,
        &[
            ("ArgumentName", "x-amz-server-side-encryption"),
            ("ArgumentValue", "AES512"),
        ],
    );
    assert_s3_error(
        user.put_bucket_encryption(PutBucketEncryptionRequest {
            bucket: BUCKET.into(),
            server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
                rules: vec![ServerSideEncryptionRule {
                    apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                        sse_algorithm: "AES512".into(),
                        kms_master_key_id: String::new(),
                    }),
                    bucket_key_enabled: false,
                }],
            }),
        })
        .await,
        Code::InvalidArgument,
        "InvalidArgument",
        NOT_SUPPORTED,
        &[],
    );
    assert_no_such_key(get(&mut user, BUCKET, "a.txt").await, "a.txt");
    assert_no_such_key(get(&mut user, BUCKET, "copy.txt").await, "copy.txt");
}

// ---------------------------------------------------------------------------
// Buckets
// ---------------------------------------------------------------------------

#[tokio::test]
async fn invalid_bucket_names() {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    let too_long = "a".repeat(64);
    for name in [
        "ab",
        "Upper",
        "192.168.5.4",
        "a..b",
        "-ab",
        "ab-",
        "a_b",
        too_long.as_str(),
        "",
    ] {
        assert_s3_error(
            user.create_bucket(CreateBucketRequest {
                bucket: name.into(),
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
            "InvalidBucketName",
            "The specified bucket is not valid.",
            &[("BucketName", name)],
        );
    }
    // The longest and shortest valid names.
    create_bucket(&mut user, &"a".repeat(63)).await;
    create_bucket(&mut user, "abc").await;
    let names: Vec<String> = user
        .list_buckets(ListBucketsRequest {})
        .await
        .unwrap()
        .into_inner()
        .buckets
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["a".repeat(63), "abc".to_owned()]);
}

#[tokio::test]
async fn bucket_conflicts_and_missing_buckets() {
    let (harness, mut user) = start().await;
    let already_owned = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::AlreadyExists,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
            &[("BucketName", BUCKET)],
        )
    };
    already_owned(
        user.create_bucket(CreateBucketRequest {
            bucket: BUCKET.into(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    // Another principal of the same account owns it too.
    let mut user2 = harness.client(Who::User2);
    already_owned(
        user2
            .create_bucket(CreateBucketRequest {
                bucket: BUCKET.into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
    );

    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    assert_s3_error(
        user.delete_bucket(DeleteBucketRequest {
            bucket: BUCKET.into(),
        })
        .await,
        Code::FailedPrecondition,
        "BucketNotEmpty",
        "The bucket you tried to delete is not empty",
        &[("BucketName", BUCKET)],
    );
    let (_, bytes) = get(&mut user, BUCKET, "a.txt").await.unwrap();
    assert_eq!(bytes, b"a");

    // GetPublicAccessBlock once there is none.
    delete_block(&mut user, BUCKET).await;
    assert_s3_error(
        user.get_public_access_block(GetPublicAccessBlockRequest {
            bucket: BUCKET.into(),
        })
        .await,
        Code::NotFound,
        "NoSuchPublicAccessBlockConfiguration",
        "The public access block configuration was not found",
        &[("BucketName", BUCKET)],
    );
}

#[tokio::test]
async fn every_operation_on_a_missing_bucket_is_no_such_bucket() {
    let (harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    let missing = "no-such-bucket";
    let b = || missing.to_owned();
    assert_no_such_bucket(
        user.head_bucket(HeadBucketRequest { bucket: b() }).await,
        missing,
    );
    assert_no_such_bucket(
        user.delete_bucket(DeleteBucketRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.get_bucket_encryption(GetBucketEncryptionRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.put_bucket_encryption(PutBucketEncryptionRequest {
            bucket: b(),
            server_side_encryption_configuration: Some(kms_rule("alias/x")),
        })
        .await,
        missing,
    );
    assert_no_such_bucket(
        user.delete_bucket_encryption(DeleteBucketEncryptionRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.get_public_access_block(GetPublicAccessBlockRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.put_public_access_block(PutPublicAccessBlockRequest {
            bucket: b(),
            public_access_block_configuration: Some(PublicAccessBlockConfiguration::default()),
        })
        .await,
        missing,
    );
    assert_no_such_bucket(
        user.delete_public_access_block(DeletePublicAccessBlockRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.get_bucket_ownership_controls(GetBucketOwnershipControlsRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.put_bucket_ownership_controls(PutBucketOwnershipControlsRequest {
            bucket: b(),
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: "ObjectWriter".into(),
                }],
            }),
        })
        .await,
        missing,
    );
    assert_no_such_bucket(
        user.get_bucket_acl(GetBucketAclRequest { bucket: b() })
            .await,
        missing,
    );
    assert_no_such_bucket(
        user.put_bucket_acl(PutBucketAclRequest {
            bucket: b(),
            acl: "private".into(),
            ..Default::default()
        })
        .await,
        missing,
    );
    assert_no_such_bucket(
        put(&mut user, put_header(missing, "a.txt"), b"a").await,
        missing,
    );
    assert_no_such_bucket(get(&mut user, missing, "a.txt").await, missing);
    assert_no_such_bucket(
        user.head_object(head_request(missing, "a.txt")).await,
        missing,
    );
    assert_no_such_bucket(
        user.delete_object(DeleteObjectRequest {
            bucket: b(),
            key: "a.txt".into(),
        })
        .await,
        missing,
    );
    assert_no_such_bucket(user.list_objects_v2(list_request(missing)).await, missing);
    assert_no_such_bucket(
        user.get_object_acl(GetObjectAclRequest {
            bucket: b(),
            key: "a.txt".into(),
        })
        .await,
        missing,
    );
    assert_no_such_bucket(
        user.put_object_acl(PutObjectAclRequest {
            bucket: b(),
            key: "a.txt".into(),
            acl: "private".into(),
            ..Default::default()
        })
        .await,
        missing,
    );
    // CopyObject: a missing destination, and a missing source bucket.
    assert_no_such_bucket(
        user.copy_object(CopyObjectRequest {
            bucket: b(),
            key: "a.txt".into(),
            copy_source: format!("{BUCKET}/a.txt"),
            ..Default::default()
        })
        .await,
        missing,
    );
    assert_no_such_bucket(
        user.copy_object(CopyObjectRequest {
            bucket: BUCKET.into(),
            key: "b.txt".into(),
            copy_source: format!("{missing}/a.txt"),
            ..Default::default()
        })
        .await,
        missing,
    );
    // Anonymous callers learn the same about a bucket that does not exist, as in S3.
    let mut anonymous = harness.client(Who::Anonymous);
    assert_no_such_bucket(get(&mut anonymous, missing, "a.txt").await, missing);
}

#[tokio::test]
async fn missing_keys_for_the_owner() {
    let (_harness, mut user) = start().await;
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    assert_no_such_key(get(&mut user, BUCKET, "missing.txt").await, "missing.txt");
    assert_no_such_key(
        user.head_object(head_request(BUCKET, "missing.txt")).await,
        "missing.txt",
    );
    assert_no_such_key(
        user.get_object_acl(GetObjectAclRequest {
            bucket: BUCKET.into(),
            key: "missing.txt".into(),
        })
        .await,
        "missing.txt",
    );
    assert_no_such_key(
        user.put_object_acl(PutObjectAclRequest {
            bucket: BUCKET.into(),
            key: "missing.txt".into(),
            acl: "private".into(),
            ..Default::default()
        })
        .await,
        "missing.txt",
    );
    assert_no_such_key(
        user.copy_object(CopyObjectRequest {
            bucket: BUCKET.into(),
            key: "copy.txt".into(),
            copy_source: format!("{BUCKET}/missing.txt"),
            ..Default::default()
        })
        .await,
        "missing.txt",
    );
}

// ---------------------------------------------------------------------------
// Object keys
// ---------------------------------------------------------------------------

#[tokio::test]
async fn key_lengths_and_characters() {
    let (_harness, mut user) = start().await;
    let longest = "k".repeat(1024);
    put(&mut user, put_header(BUCKET, &longest), b"longest")
        .await
        .unwrap();
    let (head, bytes) = get(&mut user, BUCKET, &longest).await.unwrap();
    assert_eq!((head.size, bytes.as_slice()), (7, b"longest".as_slice()));
    // 512 two-byte characters are 1024 bytes: fine; the limit is in bytes.
    let wide = "é".repeat(512);
    put(&mut user, put_header(BUCKET, &wide), b"wide")
        .await
        .unwrap();

    let too_long = "k".repeat(1025);
    let key_too_long = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "KeyTooLongError",
            "Your key is too long",
            &[],
        )
    };
    key_too_long(
        put(&mut user, put_header(BUCKET, &too_long), b"x")
            .await
            .map(|_| ()),
    );
    key_too_long(
        put(&mut user, put_header(BUCKET, &"é".repeat(513)), b"x")
            .await
            .map(|_| ()),
    );
    key_too_long(
        user.copy_object(CopyObjectRequest {
            bucket: BUCKET.into(),
            key: too_long.clone(),
            copy_source: format!("{BUCKET}/{longest}"),
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );

    let invalid = |result: Result<_, Status>, message: &str| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "InvalidArgument",
            message,
            &[],
        )
    };
    invalid(
        put(&mut user, put_header(BUCKET, ""), b"x")
            .await
            .map(|_| ()),
        EMPTY_KEY,
    );
    invalid(
        put(&mut user, put_header(BUCKET, "a\0b"), b"x")
            .await
            .map(|_| ()),
        NUL_KEY,
    );
    invalid(
        user.delete_object(DeleteObjectRequest {
            bucket: BUCKET.into(),
            key: String::new(),
        })
        .await
        .map(|_| ()),
        EMPTY_KEY,
    );
    invalid(
        user.delete_object(DeleteObjectRequest {
            bucket: BUCKET.into(),
            key: "a\0b".into(),
        })
        .await
        .map(|_| ()),
        NUL_KEY,
    );
    invalid(
        user.copy_object(CopyObjectRequest {
            bucket: BUCKET.into(),
            key: "a\0b".into(),
            copy_source: format!("{BUCKET}/{longest}"),
            ..Default::default()
        })
        .await
        .map(|_| ()),
        NUL_KEY,
    );
    // A URL-encoded NUL in the copy source is the same NUL.
    invalid(
        user.copy_object(CopyObjectRequest {
            bucket: BUCKET.into(),
            key: "copy.txt".into(),
            copy_source: format!("{BUCKET}/a%00b"),
            ..Default::default()
        })
        .await
        .map(|_| ()),
        NUL_KEY,
    );

    let listed: Vec<String> = user
        .list_objects_v2(list_request(BUCKET))
        .await
        .unwrap()
        .into_inner()
        .contents
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(listed, [longest, wide]);
}

#[tokio::test]
async fn path_like_keys_are_ordinary_keys() {
    let (harness, mut user) = start().await;
    let keys = [
        "../../etc/passwd",
        "/abs/path",
        "a/../../b",
        "./dot",
        "..",
        "a//b",
        "\\windows\\system32",
    ];
    let outside = [
        harness.workdir.join("etc/passwd"),
        harness.workdir.join("../etc/passwd"),
        harness.blob_dir().join("../../etc/passwd"),
        harness.workdir.join("b"),
        PathBuf::from("/abs/path"),
    ];
    let existed: Vec<bool> = outside.iter().map(|p| p.exists()).collect();
    for (i, key) in keys.iter().enumerate() {
        let body = format!("bytes of key {i}");
        put(&mut user, put_header(BUCKET, key), body.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("put {key:?}: {e:?}"));
    }
    for (i, key) in keys.iter().enumerate() {
        let (head, bytes) = get(&mut user, BUCKET, key).await.unwrap();
        assert_eq!(bytes, format!("bytes of key {i}").as_bytes(), "{key:?}");
        assert_eq!(head.size, bytes.len() as u64);
    }
    let mut sorted = keys.map(str::to_owned).to_vec();
    sorted.sort();
    let listed: Vec<String> = user
        .list_objects_v2(list_request(BUCKET))
        .await
        .unwrap()
        .into_inner()
        .contents
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(listed, sorted);

    // Nothing was written outside the blob store, and no blob path is derived from
    // a key.
    for (path, existed) in outside.iter().zip(existed) {
        assert_eq!(path.exists(), existed, "{}", path.display());
    }
    let blob_dir = harness.blob_dir().canonicalize().unwrap();
    let files = files_under(&blob_dir);
    assert_eq!(files.len(), keys.len(), "one blob per object: {files:?}");
    for file in &files {
        let canonical = file.canonicalize().unwrap();
        assert!(canonical.starts_with(&blob_dir), "{}", file.display());
        let relative = file.strip_prefix(&blob_dir).unwrap();
        for component in relative.components() {
            assert!(
                matches!(component, Component::Normal(_)),
                "{}",
                file.display()
            );
            let name = component.as_os_str().to_string_lossy();
            assert!(
                !["passwd", "etc", "abs", "path", "b", "dot", "windows"].contains(&name.as_ref()),
                "{}",
                file.display()
            );
        }
    }
    // Nothing named after a key appeared beside the blob store either.
    for entry in std::fs::read_dir(&harness.workdir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !["etc", "abs", "b", "dot", "a", "passwd"].contains(&name.as_str()),
            "{name} in the workdir"
        );
    }
}

// ---------------------------------------------------------------------------
// PutObject streams
// ---------------------------------------------------------------------------

#[tokio::test]
async fn put_object_streams_that_break_the_protocol() {
    let (harness, mut user) = start().await;
    let invalid_request = |result: Result<_, Status>, message: &str| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "InvalidRequest",
            message,
            &[],
        )
    };
    let header_first = "A PutObject stream starts with its header message";
    invalid_request(
        raw_put(&mut user, vec![chunk_message(b"no header")])
            .await
            .map(|_| ()),
        header_first,
    );
    invalid_request(
        raw_put(
            &mut user,
            vec![
                chunk_message(b"chunk"),
                header_message(put_header(BUCKET, "a.txt")),
            ],
        )
        .await
        .map(|_| ()),
        header_first,
    );
    invalid_request(raw_put(&mut user, vec![]).await.map(|_| ()), header_first);
    invalid_request(
        raw_put(
            &mut user,
            vec![
                header_message(put_header(BUCKET, "a.txt")),
                chunk_message(b"abc"),
                header_message(put_header(BUCKET, "b.txt")),
                chunk_message(b"def"),
            ],
        )
        .await
        .map(|_| ()),
        "A PutObject stream carries one header message, then chunks",
    );
    invalid_request(
        raw_put(
            &mut user,
            vec![
                header_message(put_header(BUCKET, "a.txt")),
                PutObjectRequest { part: None },
            ],
        )
        .await
        .map(|_| ()),
        "A PutObject stream carries one header message, then chunks",
    );
    assert_no_such_key(get(&mut user, BUCKET, "a.txt").await, "a.txt");
    assert_no_such_key(get(&mut user, BUCKET, "b.txt").await, "b.txt");
    assert!(
        files_under(&harness.blob_dir()).is_empty(),
        "no blob is left behind"
    );
}

#[tokio::test]
async fn a_body_of_another_length_than_declared_is_incomplete() {
    let (harness, mut user) = start().await;
    let declared = |key: &str, length: u64| PutObjectHeader {
        content_length: Some(length),
        ..put_header(BUCKET, key)
    };
    let incomplete = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "IncompleteBody",
            INCOMPLETE_BODY,
            &[],
        )
    };
    // A new key: short and long bodies, in one chunk and in many.
    incomplete(put(&mut user, declared("new.txt", 10), b"12345").await);
    incomplete(put(&mut user, declared("new.txt", 10), &[7u8; 20]).await);
    incomplete(put_object(&mut user, declared("new.txt", 10), &[7u8; 20], 3).await);
    incomplete(put(&mut user, declared("new.txt", 10), b"").await);
    incomplete(
        put_object(
            &mut user,
            declared("big.bin", 200_000),
            &[1u8; 150_000],
            7_000,
        )
        .await,
    );
    incomplete(
        put_object(
            &mut user,
            declared("big.bin", 100_000),
            &[1u8; 150_000],
            70_000,
        )
        .await,
    );
    assert_no_such_key(get(&mut user, BUCKET, "new.txt").await, "new.txt");
    assert_no_such_key(get(&mut user, BUCKET, "big.bin").await, "big.bin");

    // An existing key keeps its old bytes.
    let original = put(&mut user, put_header(BUCKET, "kept.txt"), b"original bytes")
        .await
        .unwrap();
    incomplete(put(&mut user, declared("kept.txt", 10), b"12345").await);
    incomplete(put(&mut user, declared("kept.txt", 10), &[9u8; 20]).await);
    let (head, bytes) = get(&mut user, BUCKET, "kept.txt").await.unwrap();
    assert_eq!(bytes, b"original bytes");
    assert_eq!(head.etag, original.etag);
    assert_eq!(head.size, 14);
    // The same under SSE-KMS.
    let mut kms_user = harness.kms.client(Who::User1);
    let key = console_key(&mut kms_user, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await;
    incomplete(
        put(
            &mut user,
            PutObjectHeader {
                content_length: Some(10),
                ..sse_kms(BUCKET, "kept.txt", &key.key_id)
            },
            b"12345",
        )
        .await,
    );
    let (head, bytes) = get(&mut user, BUCKET, "kept.txt").await.unwrap();
    assert_eq!(bytes, b"original bytes");
    assert_eq!(head.server_side_encryption, "AES256");

    // An exact length is fine, and only the stored objects' blobs remain.
    put(&mut user, declared("exact.txt", 5), b"12345")
        .await
        .unwrap();
    put(&mut user, declared("empty.txt", 0), b"").await.unwrap();
    assert_eq!(files_under(&harness.blob_dir()).len(), 3);
}

// ---------------------------------------------------------------------------
// Reads: ranges and conditions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn unsatisfiable_ranges_and_failed_conditions() {
    let (_harness, mut user) = start().await;
    let stored = put(&mut user, put_header(BUCKET, "ten.txt"), b"0123456789")
        .await
        .unwrap();
    put(&mut user, put_header(BUCKET, "empty.txt"), b"")
        .await
        .unwrap();
    // S3's InvalidRange names the range and the object's size.
    let invalid_range = |result: Result<_, Status>, range: &str, size: &str| {
        assert_s3_error(
            result,
            Code::OutOfRange,
            "InvalidRange",
            "The requested range is not satisfiable",
            &[("RangeRequested", range), ("ActualObjectSize", size)],
        )
    };
    for (key, range, size) in [
        ("ten.txt", "bytes=1000-", "10"),
        ("ten.txt", "bytes=10-20", "10"),
        ("ten.txt", "bytes=-0", "10"),
        ("empty.txt", "bytes=0-", "0"),
    ] {
        invalid_range(
            get_object(
                &mut user,
                GetObjectRequest {
                    range: range.into(),
                    ..get_request(BUCKET, key)
                },
            )
            .await
            .map(|_| ()),
            range,
            size,
        );
        invalid_range(
            user.head_object(HeadObjectRequest {
                range: range.into(),
                ..head_request(BUCKET, key)
            })
            .await
            .map(|_| ()),
            range,
            size,
        );
    }

    let precondition_failed = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::FailedPrecondition,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            &[("Condition", "If-Match")],
        )
    };
    let not_modified = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::FailedPrecondition,
            "NotModified",
            "Not Modified",
            &[],
        )
    };
    precondition_failed(
        get_object(
            &mut user,
            GetObjectRequest {
                if_match: "\"0123456789abcdef0123456789abcdef\"".into(),
                ..get_request(BUCKET, "ten.txt")
            },
        )
        .await
        .map(|_| ()),
    );
    precondition_failed(
        user.head_object(HeadObjectRequest {
            if_match: "\"0123456789abcdef0123456789abcdef\"".into(),
            ..head_request(BUCKET, "ten.txt")
        })
        .await
        .map(|_| ()),
    );
    not_modified(
        get_object(
            &mut user,
            GetObjectRequest {
                if_none_match: stored.etag.clone(),
                ..get_request(BUCKET, "ten.txt")
            },
        )
        .await
        .map(|_| ()),
    );
    not_modified(
        user.head_object(HeadObjectRequest {
            if_none_match: stored.etag.clone(),
            ..head_request(BUCKET, "ten.txt")
        })
        .await
        .map(|_| ()),
    );
    // Conditions come before the range.
    not_modified(
        get_object(
            &mut user,
            GetObjectRequest {
                if_none_match: "*".into(),
                range: "bytes=1000-".into(),
                ..get_request(BUCKET, "ten.txt")
            },
        )
        .await
        .map(|_| ()),
    );
}

// ---------------------------------------------------------------------------
// ListObjectsV2 and CopyObject arguments
// ---------------------------------------------------------------------------

#[tokio::test]
async fn list_objects_arguments() {
    let (_harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    for max_keys in [-1, i32::MIN] {
        let value = max_keys.to_string();
        assert_s3_error(
            user.list_objects_v2(ListObjectsV2Request {
                max_keys: Some(max_keys),
                ..list_request(BUCKET)
            })
            .await,
            Code::InvalidArgument,
            "InvalidArgument",
            "Argument maxKeys must be an integer between 0 and 2147483647",
            &[("ArgumentName", "maxKeys"), ("ArgumentValue", &value)],
        );
    }
    for token in ["not a token!", "%%%", "gA"] {
        assert_s3_error(
            user.list_objects_v2(ListObjectsV2Request {
                continuation_token: token.into(),
                ..list_request(BUCKET)
            })
            .await,
            Code::InvalidArgument,
            "InvalidArgument",
            "The continuation token provided is incorrect",
            &[
                ("ArgumentName", "continuation-token"),
                ("ArgumentValue", token),
            ],
        );
    }
}

#[tokio::test]
async fn copy_object_arguments() {
    let (_harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    let copy = |source: &str| CopyObjectRequest {
        bucket: BUCKET.into(),
        key: "a.txt".into(),
        copy_source: source.into(),
        ..Default::default()
    };
    let to_itself = "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.";
    for source in [format!("{BUCKET}/a.txt"), format!("/{BUCKET}/a.txt")] {
        assert_s3_error(
            user.copy_object(copy(&source)).await,
            Code::InvalidArgument,
            "InvalidRequest",
            to_itself,
            &[],
        );
        assert_s3_error(
            user.copy_object(CopyObjectRequest {
                metadata_directive: "COPY".into(),
                ..copy(&source)
            })
            .await,
            Code::InvalidArgument,
            "InvalidRequest",
            to_itself,
            &[],
        );
    }
    for source in ["nobucket", "/nobucket", "bucket/", "/key-only", ""] {
        let argument_value = source.strip_prefix('/').unwrap_or(source);
        assert_s3_error(
            user.copy_object(copy(source)).await,
            Code::InvalidArgument,
            "InvalidArgument",
            "Invalid copy source object key",
            &[
                ("ArgumentName", "x-amz-copy-source"),
                ("ArgumentValue", argument_value),
            ],
        );
    }
    assert_s3_error(
        user.copy_object(CopyObjectRequest {
            metadata_directive: "MERGE".into(),
            ..copy(&format!("{BUCKET}/a.txt"))
        })
        .await,
        Code::InvalidArgument,
        "InvalidArgument",
        "Unknown metadata directive: MERGE",
        &[
            ("ArgumentName", "x-amz-metadata-directive"),
            ("ArgumentValue", "MERGE"),
        ],
    );
    // Changing something makes a copy onto itself legal.
    user.copy_object(CopyObjectRequest {
        metadata_directive: "REPLACE".into(),
        metadata: keyhold_tests::object::pairs(&[("color", "blue")]),
        ..copy(&format!("{BUCKET}/a.txt"))
    })
    .await
    .unwrap();
    let (head, bytes) = get(&mut user, BUCKET, "a.txt").await.unwrap();
    assert_eq!(bytes, b"a");
    assert_eq!(head.metadata.get("color").map(String::as_str), Some("blue"));
}

#[tokio::test]
async fn invalid_user_metadata_keys() {
    let (_harness, mut user) = start().await;
    for name in ["a b", "a:b", "é", ""] {
        assert_s3_error(
            put(
                &mut user,
                PutObjectHeader {
                    metadata: keyhold_tests::object::pairs(&[(name, "v")]),
                    ..put_header(BUCKET, "meta.txt")
                },
                b"m",
            )
            .await,
            Code::InvalidArgument,
            "InvalidArgument",
            &format!("Invalid user metadata key: {name:?}"),
            &[],
        );
    }
    assert_no_such_key(get(&mut user, BUCKET, "meta.txt").await, "meta.txt");
}

// ---------------------------------------------------------------------------
// NUL characters in names object-svc reads with
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_key_with_nul_on_read_paths_is_refused() {
    let (_harness, mut user) = start().await;
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    let nul_key = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "InvalidArgument",
            NUL_KEY,
            &[],
        )
    };
    nul_key(get(&mut user, BUCKET, "a\0b").await.map(|_| ()));
    nul_key(
        user.head_object(head_request(BUCKET, "a\0b"))
            .await
            .map(|_| ()),
    );
    nul_key(
        user.get_object_acl(GetObjectAclRequest {
            bucket: BUCKET.into(),
            key: "a\0b".into(),
        })
        .await
        .map(|_| ()),
    );
    nul_key(
        user.put_object_acl(PutObjectAclRequest {
            bucket: BUCKET.into(),
            key: "a\0b".into(),
            acl: "private".into(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
}

#[tokio::test]
async fn a_bucket_name_with_nul_does_not_exist() {
    let (_harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    let name = "errors\0bucket";
    assert_no_such_bucket(
        user.head_bucket(HeadBucketRequest {
            bucket: name.into(),
        })
        .await,
        name,
    );
    assert_no_such_bucket(get(&mut user, name, "a.txt").await, name);
    assert_no_such_bucket(user.list_objects_v2(list_request(name)).await, name);
    assert_no_such_bucket(put(&mut user, put_header(name, "a.txt"), b"a").await, name);
    assert_no_such_bucket(
        user.copy_object(CopyObjectRequest {
            bucket: BUCKET.into(),
            key: "b.txt".into(),
            copy_source: "errors%00bucket/a.txt".into(),
            ..Default::default()
        })
        .await,
        name,
    );
}

#[tokio::test]
async fn list_parameters_with_nul() {
    let (_harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "x/1"), b"1")
        .await
        .unwrap();
    let keys = |response: ListObjectsV2Response| -> Vec<String> {
        response.contents.into_iter().map(|o| o.key).collect()
    };
    let by_prefix = user
        .list_objects_v2(ListObjectsV2Request {
            prefix: "x\0".into(),
            ..list_request(BUCKET)
        })
        .await
        .expect("a prefix with NUL lists nothing")
        .into_inner();
    assert!(keys(by_prefix).is_empty());
    let after = user
        .list_objects_v2(ListObjectsV2Request {
            start_after: "x\0".into(),
            ..list_request(BUCKET)
        })
        .await
        .expect("start_after with NUL")
        .into_inner();
    assert_eq!(keys(after), ["x/1"]);
    let grouped = user
        .list_objects_v2(ListObjectsV2Request {
            delimiter: "\0".into(),
            ..list_request(BUCKET)
        })
        .await
        .expect("a NUL delimiter groups nothing")
        .into_inner();
    assert!(grouped.common_prefixes.is_empty());
    assert_eq!(keys(grouped), ["x/1"]);
    assert_s3_error(
        user.list_objects_v2(ListObjectsV2Request {
            continuation_token: "AA".into(),
            ..list_request(BUCKET)
        })
        .await,
        Code::InvalidArgument,
        "InvalidArgument",
        "The continuation token provided is incorrect",
        &[
            ("ArgumentName", "continuation-token"),
            ("ArgumentValue", "AA"),
        ],
    );
}

// ---------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_wrong_secret_is_unauthenticated() {
    let (harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    let mut wrong = harness.client(Who::WrongSecret);
    let refused = |result: Result<_, Status>| {
        assert_error(
            result,
            Code::Unauthenticated,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    };
    refused(wrong.list_buckets(ListBucketsRequest {}).await.map(|_| ()));
    refused(
        wrong
            .create_bucket(CreateBucketRequest {
                bucket: "wrong-secret".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
    );
    refused(get(&mut wrong, BUCKET, "a.txt").await.map(|_| ()));
    refused(
        wrong
            .head_object(head_request(BUCKET, "a.txt"))
            .await
            .map(|_| ()),
    );
    refused(
        put(&mut wrong, put_header(BUCKET, "a.txt"), b"overwritten")
            .await
            .map(|_| ()),
    );
    refused(
        wrong
            .delete_object(DeleteObjectRequest {
                bucket: BUCKET.into(),
                key: "a.txt".into(),
            })
            .await
            .map(|_| ()),
    );
    refused(
        wrong
            .list_objects_v2(list_request(BUCKET))
            .await
            .map(|_| ()),
    );
    // A wrong secret is not anonymous: not even a public object is served.
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    delete_block(&mut user, BUCKET).await;
    user.put_object_acl(PutObjectAclRequest {
        bucket: BUCKET.into(),
        key: "a.txt".into(),
        acl: "public-read".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    refused(get(&mut wrong, BUCKET, "a.txt").await.map(|_| ()));
    let (_, bytes) = get(&mut user, BUCKET, "a.txt").await.unwrap();
    assert_eq!(bytes, b"a");
    let mut anonymous = harness.client(Who::Anonymous);
    let (_, bytes) = get(&mut anonymous, BUCKET, "a.txt").await.unwrap();
    assert_eq!(bytes, b"a");
}

// ---------------------------------------------------------------------------
// Malformed settings and ACL arguments
// ---------------------------------------------------------------------------

#[tokio::test]
async fn malformed_acl_arguments() {
    let (_harness, mut user) = start().await;
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    let malformed =
        "The XML you provided was not well-formed or did not validate against our published schema";
    let grant = |kind: &str, id: &str, uri: &str, permission: &str| Grant {
        grantee: Some(Grantee {
            r#type: kind.into(),
            id: id.into(),
            uri: uri.into(),
            ..Default::default()
        }),
        permission: permission.into(),
    };
    let all_users = "http://acs.amazonaws.com/groups/global/AllUsers";
    for policy in [
        None,
        Some(AccessControlPolicy {
            owner: None,
            grants: vec![grant("Group", "", all_users, "READS")],
        }),
        Some(AccessControlPolicy {
            owner: None,
            grants: vec![grant("CanonicalUser", "", "", "READ")],
        }),
        Some(AccessControlPolicy {
            owner: None,
            grants: vec![grant("Group", "", "", "READ")],
        }),
        Some(AccessControlPolicy {
            owner: None,
            grants: vec![grant("AmazonCustomerByEmail", "x", "", "READ")],
        }),
        Some(AccessControlPolicy {
            owner: None,
            grants: vec![Grant {
                grantee: None,
                permission: "READ".into(),
            }],
        }),
    ] {
        assert_s3_error(
            user.put_bucket_acl(PutBucketAclRequest {
                bucket: BUCKET.into(),
                access_control_policy: policy.clone(),
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
            "MalformedACLError",
            malformed,
            &[],
        );
        assert_s3_error(
            user.put_object_acl(PutObjectAclRequest {
                bucket: BUCKET.into(),
                key: "a.txt".into(),
                access_control_policy: policy,
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
            "MalformedACLError",
            malformed,
            &[],
        );
    }
    assert_s3_error(
        user.put_object_acl(PutObjectAclRequest {
            bucket: BUCKET.into(),
            key: "a.txt".into(),
            acl: "private".into(),
            access_control_policy: Some(AccessControlPolicy::default()),
        })
        .await,
        Code::InvalidArgument,
        "InvalidRequest",
        "Specifying both Canned ACLs and Header Grants is not allowed",
        &[],
    );
    let unknown_canned = |result: Result<_, Status>, name: &str| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "InvalidArgument",
            &format!("{name} is not a valid canned ACL"),
            &[("ArgumentName", "x-amz-acl"), ("ArgumentValue", name)],
        )
    };
    unknown_canned(
        user.put_bucket_acl(PutBucketAclRequest {
            bucket: BUCKET.into(),
            acl: "public".into(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
        "public",
    );
    unknown_canned(
        put(
            &mut user,
            PutObjectHeader {
                acl: "Private".into(),
                ..put_header(BUCKET, "b.txt")
            },
            b"b",
        )
        .await
        .map(|_| ()),
        "Private",
    );
    unknown_canned(
        user.create_bucket(CreateBucketRequest {
            bucket: "canned-bucket".into(),
            acl: "everyone".into(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
        "everyone",
    );
    // A public canned ACL on a new bucket that honours ACLs: Block Public Access is
    // on from the start, so it is refused like any public ACL.
    assert_denied(
        user.create_bucket(CreateBucketRequest {
            bucket: "writer-bucket".into(),
            object_ownership: "ObjectWriter".into(),
            acl: "public-read".into(),
        })
        .await,
    );
    assert_no_such_bucket(
        user.head_bucket(HeadBucketRequest {
            bucket: "writer-bucket".into(),
        })
        .await,
        "writer-bucket",
    );
}

#[tokio::test]
async fn malformed_bucket_settings() {
    let (_harness, mut user) = start().await;
    let invalid = |result: Result<_, Status>, message: &str| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "InvalidArgument",
            message,
            &[],
        )
    };
    invalid(
        user.create_bucket(CreateBucketRequest {
            bucket: "ownership-bucket".into(),
            object_ownership: "Foo".into(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
        "Invalid x-amz-object-ownership header: Foo",
    );
    let one_rule = "OwnershipControls needs exactly one rule: BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter";
    for rules in [
        vec![],
        vec!["Foo"],
        vec!["ObjectWriter", "BucketOwnerPreferred"],
    ] {
        invalid(
            user.put_bucket_ownership_controls(PutBucketOwnershipControlsRequest {
                bucket: BUCKET.into(),
                ownership_controls: Some(OwnershipControls {
                    rules: rules
                        .into_iter()
                        .map(|r| OwnershipControlsRule {
                            object_ownership: r.into(),
                        })
                        .collect(),
                }),
            })
            .await
            .map(|_| ()),
            one_rule,
        );
    }
    invalid(
        user.put_public_access_block(PutPublicAccessBlockRequest {
            bucket: BUCKET.into(),
            public_access_block_configuration: None,
        })
        .await
        .map(|_| ()),
        "PublicAccessBlockConfiguration is required",
    );
    let one_encryption_rule = "The server side encryption configuration needs exactly one rule with ApplyServerSideEncryptionByDefault";
    for configuration in [
        None,
        Some(ServerSideEncryptionConfiguration { rules: vec![] }),
        Some(ServerSideEncryptionConfiguration {
            rules: vec![ServerSideEncryptionRule {
                apply_server_side_encryption_by_default: None,
                bucket_key_enabled: true,
            }],
        }),
        Some(ServerSideEncryptionConfiguration {
            rules: vec![kms_rule("alias/a").rules[0].clone(); 2],
        }),
    ] {
        invalid(
            user.put_bucket_encryption(PutBucketEncryptionRequest {
                bucket: BUCKET.into(),
                server_side_encryption_configuration: configuration,
            })
            .await
            .map(|_| ()),
            one_encryption_rule,
        );
    }
    invalid(
        user.put_bucket_encryption(PutBucketEncryptionRequest {
            bucket: BUCKET.into(),
            server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
                rules: vec![ServerSideEncryptionRule {
                    apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                        sse_algorithm: "AES256".into(),
                        kms_master_key_id: "alias/a".into(),
                    }),
                    bucket_key_enabled: false,
                }],
            }),
        })
        .await
        .map(|_| ()),
        "a KMS key id is only valid with aws:kms",
    );
    // Nothing changed.
    assert_no_such_bucket(
        user.head_bucket(HeadBucketRequest {
            bucket: "ownership-bucket".into(),
        })
        .await,
        "ownership-bucket",
    );
    let rules = user
        .get_bucket_ownership_controls(GetBucketOwnershipControlsRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ownership_controls
        .unwrap()
        .rules;
    assert_eq!(rules[0].object_ownership, "BucketOwnerEnforced");
    let encryption = user
        .get_bucket_encryption(GetBucketEncryptionRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .server_side_encryption_configuration
        .unwrap();
    assert_eq!(
        encryption.rules[0]
            .apply_server_side_encryption_by_default
            .as_ref()
            .unwrap()
            .sse_algorithm,
        "AES256"
    );
}

#[tokio::test]
async fn a_put_chunk_over_four_mib_is_accepted() {
    let (_harness, mut user) = start().await;
    let body: Vec<u8> = (0..5 * 1024 * 1024 + 7).map(|i| (i % 253) as u8).collect();
    let stored = put_object(&mut user, put_header(BUCKET, "big.bin"), &body, body.len())
        .await
        .expect("one chunk of 5 MiB");
    assert_eq!(stored.size, body.len() as u64);
    let (_, bytes) = get(&mut user, BUCKET, "big.bin").await.unwrap();
    assert!(bytes == body);
}
