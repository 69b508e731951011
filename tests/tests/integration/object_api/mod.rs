//! object-svc's behaviour, round trip by round trip: bucket defaults and settings,
//! SSE-S3 / SSE-KMS writes and reads of every awkward size and chunking, ranges,
//! conditions, content headers and metadata, ListObjectsV2 pagination, CopyObject
//! re-encryption, overwrites and deletes, and ACLs.

use std::collections::{BTreeSet, HashMap};

use keyhold_proto::{kms::v1 as kms, object::v1::*};
use keyhold_tests::{
    ObjectClient, ObjectHarness, Who, assert_error,
    kms::ACCOUNT,
    object::{get, get_object, pairs, put, put_header, put_object, sse_kms},
    seeded_bytes,
    setup::{
        bucket_encryption, create_bucket, delete_block, encryption_rule, ownership_rules,
        public_access_block, set_ownership, user_key,
    },
    texts::{ALL_USERS, FOX, MD5_EMPTY, MD5_FOX},
};
use tonic::{Code, Status};

const BUCKET: &str = "api-bucket";
const SEGMENT: usize = 64 * 1024;

/// A harness, User1's gRPC client and BUCKET (all defaults).
async fn start() -> (ObjectHarness, ObjectClient) {
    keyhold_tests::setup::start(BUCKET).await
}

async fn head(client: &mut ObjectClient, bucket: &str, key: &str) -> ObjectHead {
    client
        .head_object(HeadObjectRequest {
            bucket: bucket.into(),
            key: key.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("head {bucket}/{key}: {e:?}"))
        .into_inner()
        .head
        .expect("a head")
}

async fn set_default(
    client: &mut ObjectClient,
    bucket: &str,
    configuration: ServerSideEncryptionConfiguration,
) {
    client
        .put_bucket_encryption(PutBucketEncryptionRequest {
            bucket: bucket.into(),
            server_side_encryption_configuration: Some(configuration),
        })
        .await
        .unwrap();
}

fn owner_grant(permission: &str) -> Grant {
    Grant {
        grantee: Some(Grantee {
            r#type: "CanonicalUser".into(),
            id: ACCOUNT.into(),
            display_name: ACCOUNT.into(),
            uri: String::new(),
        }),
        permission: permission.into(),
    }
}

fn all_users_grant(permission: &str) -> Grant {
    Grant {
        grantee: Some(Grantee {
            r#type: "Group".into(),
            uri: ALL_USERS.into(),
            ..Default::default()
        }),
        permission: permission.into(),
    }
}

fn range_request(bucket: &str, key: &str, range: &str) -> GetObjectRequest {
    GetObjectRequest {
        bucket: bucket.into(),
        key: key.into(),
        range: range.into(),
        ..Default::default()
    }
}

/// A quoted, lower-case hex MD5-sized ETag.
#[track_caller]
fn assert_etag_shape(etag: &str) {
    assert_eq!(etag.len(), 34, "{etag}");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(
        etag[1..33]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{etag}"
    );
}

mod acls;
mod buckets;
mod bytes;
mod content_headers;
mod copy_object;
mod listings;
mod overwrites_and_deletes;
mod ranges_and_conditions;
