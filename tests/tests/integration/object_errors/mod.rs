//! Every S3 error row of docs/aws-behaviour.md that applies to the gRPC API, and the other ways
//! an object-svc call fails: the exact gRPC code, S3 code (ErrorInfo reason), message
//! and extra fields (ErrorInfo metadata).

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use keyhold_proto::{kms::v1 as kms, object::v1::*};
use keyhold_tests::{
    ObjectClient, ObjectHarness, Who, assert_error,
    kms::{USER2_ARN, lab_user_key},
    object::{assert_s3_error, get, get_object, put, put_header, put_object, sse_kms},
    setup::{
        bucket_encryption, create_bucket, delete_block, encryption_rule, ownership_rules,
        public_access_block, set_ownership,
    },
    texts::{
        ACCESS_DENIED, ACLS_NOT_SUPPORTED, KMS_ARN_PREFIX, KMS_NEEDS_HEADER, NO_SUCH_BUCKET,
        NO_SUCH_KEY, NOT_SUPPORTED,
    },
};
use tonic::{Code, Status};

const BUCKET: &str = "errors-bucket";
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

/// A harness, User1's gRPC client and BUCKET (all defaults).
async fn start() -> (ObjectHarness, ObjectClient) {
    keyhold_tests::setup::start(BUCKET).await
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

/// CopyObject into BUCKET/`key` from `copy_source` ("bucket/key"), nothing else set.
fn copy_request(key: &str, copy_source: &str) -> CopyObjectRequest {
    CopyObjectRequest {
        bucket: BUCKET.into(),
        key: key.into(),
        copy_source: copy_source.into(),
        ..Default::default()
    }
}

fn kms_rule(key_id: &str) -> ServerSideEncryptionConfiguration {
    encryption_rule("aws:kms", key_id, false)
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

mod acls;
mod anonymous;
mod buckets;
mod credentials;
mod list_and_copy;
mod malformed_settings;
mod nul_characters;
mod object_keys;
mod put_streams;
mod reads;
mod sse_kms;
