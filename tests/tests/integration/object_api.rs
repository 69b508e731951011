//! object-svc's behaviour, round trip by round trip: bucket defaults and settings,
//! SSE-S3 / SSE-KMS writes and reads of every awkward size and chunking, ranges,
//! conditions, content headers and metadata, ListObjectsV2 pagination, CopyObject
//! re-encryption, overwrites and deletes, and ACLs.

use std::collections::{BTreeSet, HashMap};

use keyhold_proto::{kms::v1 as kms, object::v1::*};
use keyhold_tests::{
    ObjectClient, ObjectHarness, Who, assert_error,
    kms::{ACCOUNT, console_key},
    object::{get, get_object, pairs, put, put_header, put_object, sse_kms},
    seeded_bytes,
};
use tonic::{Code, Status};

const BUCKET: &str = "api-bucket";
const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// MD5 of no bytes, and of "The quick brown fox jumps over the lazy dog".
const MD5_EMPTY: &str = "\"d41d8cd98f00b204e9800998ecf8427e\"";
const MD5_FOX: &str = "\"9e107d9d372bb6826bd81d3542a419d6\"";
const FOX: &[u8] = b"The quick brown fox jumps over the lazy dog";
const SEGMENT: usize = 64 * 1024;

async fn create_bucket(client: &mut ObjectClient, name: &str) {
    client
        .create_bucket(CreateBucketRequest {
            bucket: name.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
}

async fn start() -> (ObjectHarness, ObjectClient) {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    create_bucket(&mut user, BUCKET).await;
    (harness, user)
}

async fn user_key(harness: &ObjectHarness) -> kms::KeyMetadata {
    let mut kms_user = harness.kms.client(Who::User1);
    console_key(&mut kms_user, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await
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

async fn encryption(client: &mut ObjectClient, bucket: &str) -> ServerSideEncryptionConfiguration {
    client
        .get_bucket_encryption(GetBucketEncryptionRequest {
            bucket: bucket.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .server_side_encryption_configuration
        .expect("a configuration")
}

fn rule(algorithm: &str, key_id: &str, bucket_key: bool) -> ServerSideEncryptionConfiguration {
    ServerSideEncryptionConfiguration {
        rules: vec![ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                sse_algorithm: algorithm.into(),
                kms_master_key_id: key_id.into(),
            }),
            bucket_key_enabled: bucket_key,
        }],
    }
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

#[track_caller]
fn assert_s3_error<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    s3_code: &str,
    message: &str,
) {
    assert_error(result, code, s3_code, message);
}

// ---------------------------------------------------------------------------
// Buckets
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_new_bucket_has_the_s3_defaults() {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    let created = user
        .create_bucket(CreateBucketRequest {
            bucket: BUCKET.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.location, format!("/{BUCKET}"));

    assert_eq!(
        encryption(&mut user, BUCKET).await,
        rule("AES256", "", false)
    );
    let block = user
        .get_public_access_block(GetPublicAccessBlockRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .public_access_block_configuration;
    assert_eq!(
        block,
        Some(PublicAccessBlockConfiguration {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        })
    );
    let ownership = user
        .get_bucket_ownership_controls(GetBucketOwnershipControlsRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ownership_controls
        .unwrap();
    assert_eq!(
        ownership.rules,
        [OwnershipControlsRule {
            object_ownership: "BucketOwnerEnforced".into()
        }]
    );
    let acl = user
        .get_bucket_acl(GetBucketAclRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acl.owner.unwrap().id, ACCOUNT);
    assert_eq!(acl.grants, [owner_grant("FULL_CONTROL")]);
    let region = user
        .head_bucket(HeadBucketRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .bucket_region;
    assert_eq!(region, "us-east-1");

    // ListBuckets: by name, with the account as owner, for every principal of it.
    create_bucket(&mut user, "zz-last").await;
    create_bucket(&mut user, "0-first").await;
    create_bucket(&mut user, "api-bucket.b").await;
    for who in [Who::User1, Who::User2, Who::Root] {
        let listed = harness
            .client(who)
            .list_buckets(ListBucketsRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.owner.unwrap().id, ACCOUNT);
        let names: Vec<&str> = listed.buckets.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            names,
            ["0-first", BUCKET, "api-bucket.b", "zz-last"],
            "{who:?}"
        );
        for bucket in &listed.buckets {
            // RFC 3339 UTC with milliseconds: 2026-01-02T03:04:05.678Z
            assert_eq!(bucket.creation_date.len(), 24, "{}", bucket.creation_date);
            assert!(bucket.creation_date.ends_with('Z'));
        }
    }
}

#[tokio::test]
async fn bucket_settings_round_trip() {
    let (harness, mut user) = start().await;
    let key = user_key(&harness).await;

    for configuration in [
        rule("aws:kms", &key.key_id, true),
        rule("aws:kms", &key.arn, false),
        rule("aws:kms", "alias/some-alias", true),
        rule("aws:kms", "", false),
        rule("AES256", "", false),
    ] {
        set_default(&mut user, BUCKET, configuration.clone()).await;
        assert_eq!(encryption(&mut user, BUCKET).await, configuration);
    }
    set_default(&mut user, BUCKET, rule("aws:kms", &key.key_id, true)).await;
    user.delete_bucket_encryption(DeleteBucketEncryptionRequest {
        bucket: BUCKET.into(),
    })
    .await
    .unwrap();
    assert_eq!(
        encryption(&mut user, BUCKET).await,
        rule("AES256", "", false)
    );

    let custom = PublicAccessBlockConfiguration {
        block_public_acls: false,
        ignore_public_acls: true,
        block_public_policy: false,
        restrict_public_buckets: true,
    };
    user.put_public_access_block(PutPublicAccessBlockRequest {
        bucket: BUCKET.into(),
        public_access_block_configuration: Some(custom),
    })
    .await
    .unwrap();
    let block = user
        .get_public_access_block(GetPublicAccessBlockRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .public_access_block_configuration;
    assert_eq!(block, Some(custom));

    for ownership in [
        "ObjectWriter",
        "BucketOwnerPreferred",
        "BucketOwnerEnforced",
    ] {
        set_ownership(&mut user, BUCKET, ownership).await;
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
        assert_eq!(
            rules,
            [OwnershipControlsRule {
                object_ownership: ownership.into()
            }]
        );
    }
}

#[tokio::test]
async fn bucket_default_encryption_applies_to_writes() {
    let (harness, mut user) = start().await;
    let key = user_key(&harness).await;

    // aws:kms with a key and a bucket key: an object put with no SSE fields.
    set_default(&mut user, BUCKET, rule("aws:kms", &key.key_id, true)).await;
    let stored = put(&mut user, put_header(BUCKET, "default.txt"), b"default")
        .await
        .unwrap();
    assert_eq!(
        (
            stored.server_side_encryption.as_str(),
            stored.ssekms_key_id.as_str(),
            stored.bucket_key_enabled
        ),
        ("aws:kms", key.arn.as_str(), true)
    );
    let shown = head(&mut user, BUCKET, "default.txt").await;
    assert_eq!(
        (
            shown.server_side_encryption.as_str(),
            shown.ssekms_key_id.as_str(),
            shown.bucket_key_enabled
        ),
        ("aws:kms", key.arn.as_str(), true)
    );
    let (_, bytes) = get(&mut user, BUCKET, "default.txt").await.unwrap();
    assert_eq!(bytes, b"default");

    // The request overrides the default: the bucket key off, SSE-S3, another key.
    let no_bucket_key = put(
        &mut user,
        PutObjectHeader {
            bucket_key_enabled: Some(false),
            ..put_header(BUCKET, "no-bucket-key.txt")
        },
        b"x",
    )
    .await
    .unwrap();
    assert_eq!(no_bucket_key.ssekms_key_id, key.arn);
    assert!(!no_bucket_key.bucket_key_enabled);
    assert!(
        !head(&mut user, BUCKET, "no-bucket-key.txt")
            .await
            .bucket_key_enabled
    );
    let sse_s3 = put(
        &mut user,
        PutObjectHeader {
            server_side_encryption: "AES256".into(),
            ..put_header(BUCKET, "sse-s3.txt")
        },
        FOX,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            sse_s3.server_side_encryption.as_str(),
            sse_s3.ssekms_key_id.as_str(),
            sse_s3.bucket_key_enabled,
            sse_s3.etag.as_str()
        ),
        ("AES256", "", false, MD5_FOX)
    );
    let other = user_key(&harness).await;
    let by_alias_arn = {
        let mut kms_user = harness.kms.client(Who::User1);
        kms_user
            .create_alias(kms::CreateAliasRequest {
                alias_name: "alias/other".into(),
                target_key_id: other.key_id.clone(),
            })
            .await
            .unwrap();
        put(
            &mut user,
            sse_kms(
                BUCKET,
                "other.txt",
                "arn:aws:kms:us-east-1:000000000000:alias/other",
            ),
            b"other",
        )
        .await
        .unwrap()
    };
    assert_eq!(by_alias_arn.ssekms_key_id, other.arn);
    assert!(
        by_alias_arn.bucket_key_enabled,
        "the bucket's bucket key setting"
    );

    // SSE-KMS requested explicitly with no key id uses the bucket's key.
    let explicit = put(&mut user, sse_kms(BUCKET, "explicit.txt", ""), b"e")
        .await
        .unwrap();
    assert_eq!(explicit.ssekms_key_id, key.arn);

    // bucket_key_enabled on the request, in an SSE-S3-default bucket.
    user.delete_bucket_encryption(DeleteBucketEncryptionRequest {
        bucket: BUCKET.into(),
    })
    .await
    .unwrap();
    let with_bucket_key = put(
        &mut user,
        PutObjectHeader {
            bucket_key_enabled: Some(true),
            ..sse_kms(BUCKET, "bucket-key.txt", &key.key_id)
        },
        b"bk",
    )
    .await
    .unwrap();
    assert!(with_bucket_key.bucket_key_enabled);
    let shown = head(&mut user, BUCKET, "bucket-key.txt").await;
    assert!(shown.bucket_key_enabled);
    assert_eq!(shown.ssekms_key_id, key.arn);
    let (_, bytes) = get(&mut user, BUCKET, "bucket-key.txt").await.unwrap();
    assert_eq!(bytes, b"bk");
    let plain = put(&mut user, put_header(BUCKET, "plain.txt"), b"")
        .await
        .unwrap();
    assert_eq!(
        (
            plain.server_side_encryption.as_str(),
            plain.bucket_key_enabled,
            plain.etag.as_str()
        ),
        ("AES256", false, MD5_EMPTY)
    );
}

#[tokio::test]
async fn aws_kms_without_a_key_uses_the_aws_managed_key() {
    let (harness, mut user) = start().await;
    set_default(&mut user, BUCKET, rule("aws:kms", "", false)).await;
    let stored = put(&mut user, put_header(BUCKET, "managed.txt"), b"managed")
        .await
        .unwrap();
    assert_eq!(stored.server_side_encryption, "aws:kms");
    let mut root = harness.kms.client(Who::Root);
    let managed = root
        .describe_key(kms::DescribeKeyRequest {
            key_id: "alias/aws/s3".into(),
        })
        .await
        .expect("alias/aws/s3 exists after S3's first use")
        .into_inner()
        .key_metadata
        .unwrap();
    assert_eq!(managed.key_manager, "AWS");
    assert_eq!(managed.key_state, "Enabled");
    assert_eq!(stored.ssekms_key_id, managed.arn);
    assert_eq!(
        head(&mut user, BUCKET, "managed.txt").await.ssekms_key_id,
        managed.arn
    );
    let (_, bytes) = get(&mut user, BUCKET, "managed.txt").await.unwrap();
    assert_eq!(bytes, b"managed");

    // The same key again for an explicit aws:kms with no key id, also by User2.
    let explicit = put(&mut user, sse_kms(BUCKET, "explicit.txt", ""), b"x")
        .await
        .unwrap();
    assert_eq!(explicit.ssekms_key_id, managed.arn);
    let mut user2 = harness.client(Who::User2);
    let by_user2 = put(&mut user2, sse_kms(BUCKET, "user2.txt", ""), b"u2")
        .await
        .unwrap();
    assert_eq!(by_user2.ssekms_key_id, managed.arn);
    let (_, bytes) = get(&mut user2, BUCKET, "managed.txt").await.unwrap();
    assert_eq!(bytes, b"managed");
    let keys = root
        .list_aliases(kms::ListAliasesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .aliases;
    assert_eq!(
        keys.iter()
            .filter(|a| a.alias_name == "alias/aws/s3")
            .count(),
        1
    );
}

// ---------------------------------------------------------------------------
// Bytes: sizes, chunkings, ETags
// ---------------------------------------------------------------------------

#[tokio::test]
async fn every_size_and_chunking_round_trips() {
    let (harness, mut user) = start().await;
    let key = user_key(&harness).await;
    let sizes = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 1024 * 1024 + 3];
    for (i, size) in sizes.into_iter().enumerate() {
        let body = seeded_bytes(size, i as u32);
        for chunk in [1000, 70_000, SEGMENT] {
            for kms_key in ["", key.key_id.as_str()] {
                let name = format!("size-{size}-chunk-{chunk}-kms-{}", !kms_key.is_empty());
                let header = if kms_key.is_empty() {
                    put_header(BUCKET, &name)
                } else {
                    sse_kms(BUCKET, &name, kms_key)
                };
                let stored = put_object(&mut user, header, &body, chunk)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e:?}"));
                assert_eq!(stored.size, size as u64, "{name}");
                assert_etag_shape(&stored.etag);
                let (shown, bytes) = get(&mut user, BUCKET, &name).await.unwrap();
                assert!(bytes == body, "{name}: the bytes differ");
                assert_eq!(
                    (
                        shown.size,
                        shown.content_length,
                        shown.content_range.as_str()
                    ),
                    (size as u64, size as u64, ""),
                    "{name}"
                );
                assert_eq!(shown.etag, stored.etag, "{name}");
                let heard = head(&mut user, BUCKET, &name).await;
                assert_eq!(
                    (heard.size, heard.content_length),
                    (size as u64, size as u64)
                );
            }
        }
    }
}

#[tokio::test]
async fn etags_are_md5_for_sse_s3_and_random_for_sse_kms() {
    let (harness, mut user) = start().await;
    let key = user_key(&harness).await;
    let empty = put(&mut user, put_header(BUCKET, "empty"), b"")
        .await
        .unwrap();
    assert_eq!(empty.etag, MD5_EMPTY);
    // The digest does not depend on the chunking.
    let fox = put_object(&mut user, put_header(BUCKET, "fox"), FOX, 1)
        .await
        .unwrap();
    assert_eq!(fox.etag, MD5_FOX);
    assert_eq!(head(&mut user, BUCKET, "fox").await.etag, MD5_FOX);

    let body = seeded_bytes(300_000, 7);
    let first = put_object(&mut user, put_header(BUCKET, "one"), &body, 1000)
        .await
        .unwrap();
    let second = put_object(&mut user, put_header(BUCKET, "two"), &body, 70_000)
        .await
        .unwrap();
    assert_etag_shape(&first.etag);
    assert_eq!(first.etag, second.etag);
    let changed = put(
        &mut user,
        put_header(BUCKET, "three"),
        &seeded_bytes(300_000, 8),
    )
    .await
    .unwrap();
    assert_ne!(changed.etag, first.etag);

    let kms_one = put(&mut user, sse_kms(BUCKET, "kms-one", &key.key_id), &body)
        .await
        .unwrap();
    let kms_two = put(&mut user, sse_kms(BUCKET, "kms-two", &key.key_id), &body)
        .await
        .unwrap();
    assert_etag_shape(&kms_one.etag);
    assert_etag_shape(&kms_two.etag);
    assert_ne!(kms_one.etag, kms_two.etag);
    assert_ne!(kms_one.etag, first.etag);
    let kms_fox = put(&mut user, sse_kms(BUCKET, "kms-fox", &key.key_id), FOX)
        .await
        .unwrap();
    assert_ne!(kms_fox.etag, MD5_FOX);

    // ListObjectsV2 shows the same ETags and sizes.
    let listed = user
        .list_objects_v2(ListObjectsV2Request {
            bucket: BUCKET.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let etags: HashMap<String, (String, u64)> = listed
        .contents
        .into_iter()
        .map(|o| (o.key, (o.etag, o.size)))
        .collect();
    assert_eq!(etags["fox"], (MD5_FOX.to_owned(), FOX.len() as u64));
    assert_eq!(etags["kms-one"], (kms_one.etag, 300_000));
    assert_eq!(etags["empty"], (MD5_EMPTY.to_owned(), 0));
}

// ---------------------------------------------------------------------------
// Ranges and conditions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn range_reads() {
    let (harness, mut user) = start().await;
    let key = user_key(&harness).await;
    let size = 200_000usize;
    let body = seeded_bytes(size, 3);
    put(&mut user, put_header(BUCKET, "s3"), &body)
        .await
        .unwrap();
    put(&mut user, sse_kms(BUCKET, "kms", &key.key_id), &body)
        .await
        .unwrap();
    let cases: [(&str, usize, usize); 9] = [
        ("bytes=0-0", 0, 0),
        ("bytes=199999-199999", 199_999, 199_999),
        ("bytes=199999-", 199_999, 199_999),
        ("bytes=65530-65545", 65_530, 65_545),
        ("bytes=65535-65536", 65_535, 65_536),
        ("bytes=-10", 199_990, 199_999),
        ("bytes=100000-", 100_000, 199_999),
        ("bytes=1000-150000", 1000, 150_000),
        ("bytes=199990-300000", 199_990, 199_999),
    ];
    for object in ["s3", "kms"] {
        for (range, first, last) in cases {
            let (shown, bytes) = get_object(&mut user, range_request(BUCKET, object, range))
                .await
                .unwrap_or_else(|e| panic!("{object} {range}: {e:?}"));
            assert!(
                bytes == body[first..=last],
                "{object} {range}: the bytes differ"
            );
            assert_eq!(
                (
                    shown.content_range.as_str(),
                    shown.content_length,
                    shown.size
                ),
                (
                    format!("bytes {first}-{last}/{size}").as_str(),
                    (last - first + 1) as u64,
                    size as u64
                ),
                "{object} {range}"
            );
            let heard = user
                .head_object(HeadObjectRequest {
                    bucket: BUCKET.into(),
                    key: object.into(),
                    range: range.into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .head
                .unwrap();
            assert_eq!(heard.content_range, shown.content_range);
            assert_eq!(heard.content_length, shown.content_length);
        }
        // A suffix longer than the object is the whole object; ranges S3 ignores
        // (reversed, several, another unit) serve the whole object without a range.
        let (shown, bytes) = get_object(&mut user, range_request(BUCKET, object, "bytes=-500000"))
            .await
            .unwrap();
        assert!(bytes == body);
        assert_eq!(shown.content_range, format!("bytes 0-199999/{size}"));
        for ignored in ["bytes=5-1", "bytes=0-1,5-6", "items=0-1", "bytes=abc"] {
            let (shown, bytes) = get_object(&mut user, range_request(BUCKET, object, ignored))
                .await
                .unwrap();
            assert!(bytes == body, "{ignored}");
            assert_eq!(
                (shown.content_range.as_str(), shown.content_length),
                ("", size as u64),
                "{ignored}"
            );
        }
        assert_eq!(head(&mut user, BUCKET, object).await.accept_ranges, "bytes");
    }
}

#[tokio::test]
async fn conditional_reads() {
    let (_harness, mut user) = start().await;
    let stored = put(&mut user, put_header(BUCKET, "c.txt"), b"conditional")
        .await
        .unwrap();
    let modified = head(&mut user, BUCKET, "c.txt").await.last_modified;
    let past = "2000-01-01T00:00:00Z";
    let future = "2100-01-01T00:00:00Z";
    let request = || GetObjectRequest {
        bucket: BUCKET.into(),
        key: "c.txt".into(),
        ..Default::default()
    };
    let ok = |result: Result<(ObjectHead, Vec<u8>), Status>| {
        let (_, bytes) = result.expect("the conditions hold");
        assert_eq!(bytes, b"conditional");
    };
    let not_modified = |result: Result<(ObjectHead, Vec<u8>), Status>| {
        assert_s3_error(
            result,
            Code::FailedPrecondition,
            "NotModified",
            "Not Modified",
        )
    };
    let failed = |result: Result<(ObjectHead, Vec<u8>), Status>| {
        assert_s3_error(
            result,
            Code::FailedPrecondition,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
    };

    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_modified_since: past.into(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_modified_since: "Sat, 01 Jan 2000 00:00:00 GMT".into(),
            ..request()
        },
    )
    .await);
    not_modified(
        get_object(
            &mut user,
            GetObjectRequest {
                if_modified_since: future.into(),
                ..request()
            },
        )
        .await,
    );
    not_modified(
        get_object(
            &mut user,
            GetObjectRequest {
                if_modified_since: modified.clone(),
                ..request()
            },
        )
        .await,
    );
    failed(
        get_object(
            &mut user,
            GetObjectRequest {
                if_unmodified_since: past.into(),
                ..request()
            },
        )
        .await,
    );
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_unmodified_since: future.into(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_unmodified_since: modified.clone(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_match: stored.etag.clone(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_match: stored.etag.trim_matches('"').into(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_match: "*".into(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_match: format!("\"other\", {}", stored.etag),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_none_match: "\"other\"".into(),
            ..request()
        },
    )
    .await);
    not_modified(
        get_object(
            &mut user,
            GetObjectRequest {
                if_none_match: "*".into(),
                ..request()
            },
        )
        .await,
    );
    // S3's precedence: a matching If-Match wins over a failing If-Unmodified-Since, a
    // non-matching If-None-Match over a failing If-Modified-Since.
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_match: stored.etag.clone(),
            if_unmodified_since: past.into(),
            ..request()
        },
    )
    .await);
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_none_match: "\"other\"".into(),
            if_modified_since: future.into(),
            ..request()
        },
    )
    .await);
    // A date S3 cannot read is ignored.
    ok(get_object(
        &mut user,
        GetObjectRequest {
            if_modified_since: "yesterday".into(),
            ..request()
        },
    )
    .await);
    // HeadObject applies the same rules.
    let heard = user
        .head_object(HeadObjectRequest {
            bucket: BUCKET.into(),
            key: "c.txt".into(),
            if_modified_since: future.into(),
            ..Default::default()
        })
        .await;
    assert_s3_error(
        heard,
        Code::FailedPrecondition,
        "NotModified",
        "Not Modified",
    );
}

// ---------------------------------------------------------------------------
// Content headers and metadata
// ---------------------------------------------------------------------------

#[tokio::test]
async fn content_headers_and_user_metadata_round_trip() {
    let (_harness, mut user) = start().await;
    let metadata = pairs(&[("color", "blue"), ("x-y_z.1", "some value"), ("empty", "")]);
    put(
        &mut user,
        PutObjectHeader {
            content_type: "text/plain; charset=utf-8".into(),
            cache_control: "max-age=60".into(),
            content_disposition: "attachment; filename=\"a.txt\"".into(),
            content_encoding: "gzip".into(),
            content_language: "en-US".into(),
            metadata: metadata.clone(),
            ..put_header(BUCKET, "headers.txt")
        },
        b"with headers",
    )
    .await
    .unwrap();
    let (got, bytes) = get(&mut user, BUCKET, "headers.txt").await.unwrap();
    assert_eq!(bytes, b"with headers");
    let heard = head(&mut user, BUCKET, "headers.txt").await;
    for shown in [&got, &heard] {
        assert_eq!(shown.content_type, "text/plain; charset=utf-8");
        assert_eq!(shown.cache_control, "max-age=60");
        assert_eq!(shown.content_disposition, "attachment; filename=\"a.txt\"");
        assert_eq!(shown.content_encoding, "gzip");
        assert_eq!(shown.content_language, "en-US");
        assert_eq!(shown.metadata, metadata);
        assert_eq!(shown.accept_ranges, "bytes");
        assert_eq!(shown.server_side_encryption, "AES256");
        assert_eq!(shown.last_modified.len(), 24, "{}", shown.last_modified);
        assert!(shown.last_modified.ends_with('Z'));
    }
    assert_eq!(got, heard);

    put(&mut user, put_header(BUCKET, "bare.txt"), b"bare")
        .await
        .unwrap();
    let bare = head(&mut user, BUCKET, "bare.txt").await;
    assert_eq!(bare.content_type, "binary/octet-stream");
    assert_eq!(
        (
            bare.cache_control.as_str(),
            bare.content_disposition.as_str(),
            bare.content_encoding.as_str(),
            bare.content_language.as_str()
        ),
        ("", "", "", "")
    );
    assert!(bare.metadata.is_empty());

    // An overwrite replaces the headers and metadata too.
    put(&mut user, put_header(BUCKET, "headers.txt"), b"again")
        .await
        .unwrap();
    let replaced = head(&mut user, BUCKET, "headers.txt").await;
    assert_eq!(replaced.content_type, "binary/octet-stream");
    assert_eq!(replaced.cache_control, "");
    assert!(replaced.metadata.is_empty());
}

// ---------------------------------------------------------------------------
// ListObjectsV2
// ---------------------------------------------------------------------------

const LIST_KEYS: [&str; 17] = [
    "Z-upper", "a.txt", "b/1", "b/2", "b/c/3", "c/1", "d", "e/", "e/x", "f-1", "f/1", "g/a/b", "h",
    "i/1", "i/2", "~tilde", "é",
];

async fn listing_bucket() -> (ObjectHarness, ObjectClient) {
    let (harness, mut user) = start().await;
    for (i, key) in LIST_KEYS.iter().enumerate() {
        put(
            &mut user,
            put_header(BUCKET, key),
            &seeded_bytes(i, i as u32),
        )
        .await
        .unwrap();
    }
    (harness, user)
}

fn list(prefix: &str, delimiter: &str) -> ListObjectsV2Request {
    ListObjectsV2Request {
        bucket: BUCKET.into(),
        prefix: prefix.into(),
        delimiter: delimiter.into(),
        ..Default::default()
    }
}

fn keys_of(response: &ListObjectsV2Response) -> Vec<&str> {
    response.contents.iter().map(|o| o.key.as_str()).collect()
}

fn prefixes_of(response: &ListObjectsV2Response) -> Vec<&str> {
    response
        .common_prefixes
        .iter()
        .map(|p| p.prefix.as_str())
        .collect()
}

async fn list_ok(
    client: &mut ObjectClient,
    request: ListObjectsV2Request,
) -> ListObjectsV2Response {
    client
        .list_objects_v2(request.clone())
        .await
        .unwrap_or_else(|e| panic!("{request:?}: {e:?}"))
        .into_inner()
}

#[tokio::test]
async fn list_objects_prefixes_delimiters_and_start_after() {
    let (_harness, mut user) = listing_bucket().await;

    // Everything, in UTF-8 byte order.
    let all = list_ok(&mut user, list("", "")).await;
    assert_eq!(keys_of(&all), LIST_KEYS);
    assert_eq!(
        (
            all.name.as_str(),
            all.max_keys,
            all.key_count,
            all.is_truncated
        ),
        (BUCKET, 1000, LIST_KEYS.len() as i32, false)
    );
    assert_eq!(all.next_continuation_token, "");
    for (i, object) in all.contents.iter().enumerate() {
        assert_eq!(object.size, i as u64, "{}", object.key);
        assert_eq!(object.storage_class, "STANDARD");
        assert_eq!(object.owner, None, "no owner without fetch_owner");
        assert_etag_shape(&object.etag);
        assert!(object.last_modified.ends_with('Z'));
    }

    let by_prefix = list_ok(&mut user, list("b/", "")).await;
    assert_eq!(keys_of(&by_prefix), ["b/1", "b/2", "b/c/3"]);
    assert_eq!(by_prefix.prefix, "b/");
    assert!(prefixes_of(&by_prefix).is_empty());
    assert!(keys_of(&list_ok(&mut user, list("nothing", "")).await).is_empty());

    let top = list_ok(&mut user, list("", "/")).await;
    assert_eq!(
        keys_of(&top),
        ["Z-upper", "a.txt", "d", "f-1", "h", "~tilde", "é"]
    );
    assert_eq!(prefixes_of(&top), ["b/", "c/", "e/", "f/", "g/", "i/"]);
    assert_eq!((top.key_count, top.delimiter.as_str()), (13, "/"));

    let under_b = list_ok(&mut user, list("b/", "/")).await;
    assert_eq!(keys_of(&under_b), ["b/1", "b/2"]);
    assert_eq!(prefixes_of(&under_b), ["b/c/"]);
    let under_e = list_ok(&mut user, list("e/", "/")).await;
    assert_eq!(keys_of(&under_e), ["e/", "e/x"]);
    let under_g = list_ok(&mut user, list("g/", "/")).await;
    assert_eq!(prefixes_of(&under_g), ["g/a/"]);
    assert!(keys_of(&under_g).is_empty());
    // A delimiter other than "/".
    let by_dash = list_ok(&mut user, list("", "-")).await;
    assert_eq!(prefixes_of(&by_dash), ["Z-", "f-"]);
    assert!(!keys_of(&by_dash).contains(&"f-1"));

    let after = list_ok(
        &mut user,
        ListObjectsV2Request {
            start_after: "f-1".into(),
            ..list("", "")
        },
    )
    .await;
    assert_eq!(
        keys_of(&after),
        ["f/1", "g/a/b", "h", "i/1", "i/2", "~tilde", "é"]
    );
    assert_eq!(after.start_after, "f-1");
    let after_missing = list_ok(
        &mut user,
        ListObjectsV2Request {
            start_after: "b/1a".into(),
            ..list("b/", "")
        },
    )
    .await;
    assert_eq!(keys_of(&after_missing), ["b/2", "b/c/3"]);
    let after_prefix = list_ok(
        &mut user,
        ListObjectsV2Request {
            start_after: "c/".into(),
            ..list("", "/")
        },
    )
    .await;
    assert_eq!(keys_of(&after_prefix), ["d", "f-1", "h", "~tilde", "é"]);
    // A start_after that is a common prefix skips that whole prefix, as a V1 marker
    // does (NextMarker is the last common prefix).
    assert_eq!(prefixes_of(&after_prefix), ["e/", "f/", "g/", "i/"]);
    let after_all = list_ok(
        &mut user,
        ListObjectsV2Request {
            start_after: "é".into(),
            ..list("", "")
        },
    )
    .await;
    assert!(keys_of(&after_all).is_empty());

    // fetch_owner, max_keys 0, and more than 1000.
    let owned = list_ok(
        &mut user,
        ListObjectsV2Request {
            fetch_owner: true,
            ..list("b/", "")
        },
    )
    .await;
    assert!(
        owned
            .contents
            .iter()
            .all(|o| o.owner.as_ref().map(|owner| owner.id.as_str()) == Some(ACCOUNT))
    );
    let none = list_ok(
        &mut user,
        ListObjectsV2Request {
            max_keys: Some(0),
            ..list("", "")
        },
    )
    .await;
    assert_eq!(
        (
            none.contents.len(),
            none.common_prefixes.len(),
            none.key_count,
            none.max_keys,
            none.is_truncated,
            none.next_continuation_token.as_str()
        ),
        (0, 0, 0, 0, false, "")
    );
    let capped = list_ok(
        &mut user,
        ListObjectsV2Request {
            max_keys: Some(5000),
            ..list("", "")
        },
    )
    .await;
    assert_eq!(
        (capped.max_keys, capped.key_count),
        (1000, LIST_KEYS.len() as i32)
    );
}

#[tokio::test]
async fn list_objects_pagination_visits_everything_once() {
    let (_harness, mut user) = listing_bucket().await;
    for delimiter in ["", "/"] {
        let whole = list_ok(&mut user, list("", delimiter)).await;
        let expected: Vec<String> = whole
            .contents
            .iter()
            .map(|o| o.key.clone())
            .chain(whole.common_prefixes.iter().map(|p| p.prefix.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for max_keys in [1, 2, 3, 5] {
            let mut seen: Vec<String> = Vec::new();
            let mut token = String::new();
            let mut pages = 0;
            loop {
                pages += 1;
                assert!(pages <= 30, "pagination does not end");
                let page = list_ok(
                    &mut user,
                    ListObjectsV2Request {
                        max_keys: Some(max_keys),
                        continuation_token: token.clone(),
                        ..list("", delimiter)
                    },
                )
                .await;
                let items = page.contents.len() + page.common_prefixes.len();
                assert_eq!(page.key_count, items as i32);
                assert_eq!(page.max_keys, max_keys);
                assert_eq!(page.continuation_token, token);
                seen.extend(page.contents.iter().map(|o| o.key.clone()));
                seen.extend(page.common_prefixes.iter().map(|p| p.prefix.clone()));
                if page.is_truncated {
                    assert_eq!(items, max_keys as usize, "a truncated page is full");
                    assert!(!page.next_continuation_token.is_empty());
                    token = page.next_continuation_token;
                } else {
                    assert_eq!(page.next_continuation_token, "");
                    break;
                }
            }
            let unique: BTreeSet<&String> = seen.iter().collect();
            assert_eq!(
                unique.len(),
                seen.len(),
                "delimiter {delimiter:?} max {max_keys}: something came twice: {seen:?}"
            );
            let mut sorted = seen.clone();
            sorted.sort();
            assert_eq!(sorted, expected, "delimiter {delimiter:?} max {max_keys}");
            let full_pages = expected.len().div_ceil(max_keys as usize);
            assert_eq!(pages, full_pages, "delimiter {delimiter:?} max {max_keys}");
        }
    }
    // Pagination with a prefix and start_after (ignored once a token is given).
    let first = list_ok(
        &mut user,
        ListObjectsV2Request {
            max_keys: Some(2),
            start_after: "b/1".into(),
            ..list("b/", "")
        },
    )
    .await;
    assert_eq!(keys_of(&first), ["b/2", "b/c/3"]);
    assert!(!first.is_truncated);
    let first = list_ok(
        &mut user,
        ListObjectsV2Request {
            max_keys: Some(1),
            ..list("i/", "")
        },
    )
    .await;
    assert_eq!(keys_of(&first), ["i/1"]);
    assert!(first.is_truncated);
    let second = list_ok(
        &mut user,
        ListObjectsV2Request {
            max_keys: Some(1),
            continuation_token: first.next_continuation_token.clone(),
            start_after: "zzz".into(),
            ..list("i/", "")
        },
    )
    .await;
    assert_eq!(keys_of(&second), ["i/2"]);
    assert!(!second.is_truncated);
}

// ---------------------------------------------------------------------------
// CopyObject
// ---------------------------------------------------------------------------

fn copy(bucket: &str, key: &str, source: &str) -> CopyObjectRequest {
    CopyObjectRequest {
        bucket: bucket.into(),
        key: key.into(),
        copy_source: source.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn copy_object_re_encrypts() {
    let (harness, mut user) = start().await;
    let key_a = user_key(&harness).await;
    let key_b = user_key(&harness).await;
    let body = seeded_bytes(300_000, 11);
    let source = put(&mut user, put_header(BUCKET, "src/s3.bin"), &body)
        .await
        .unwrap();

    // SSE-S3 -> SSE-KMS under key B.
    let copied = user
        .copy_object(CopyObjectRequest {
            server_side_encryption: "aws:kms".into(),
            ssekms_key_id: key_b.key_id.clone(),
            ..copy(BUCKET, "dst/kms-b.bin", &format!("{BUCKET}/src/s3.bin"))
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            copied.server_side_encryption.as_str(),
            copied.ssekms_key_id.as_str(),
            copied.bucket_key_enabled
        ),
        ("aws:kms", key_b.arn.as_str(), false)
    );
    let result = copied.copy_object_result.unwrap();
    assert_etag_shape(&result.etag);
    assert_ne!(result.etag, source.etag);
    assert!(result.last_modified.ends_with('Z'));
    let (shown, bytes) = get(&mut user, BUCKET, "dst/kms-b.bin").await.unwrap();
    assert!(bytes == body);
    assert_eq!(
        (
            shown.server_side_encryption.as_str(),
            shown.ssekms_key_id.as_str(),
            shown.etag.as_str(),
            shown.size
        ),
        ("aws:kms", key_b.arn.as_str(), result.etag.as_str(), 300_000)
    );

    // KMS key A -> key B.
    put(
        &mut user,
        sse_kms(BUCKET, "src/kms-a.bin", &key_a.arn),
        &body,
    )
    .await
    .unwrap();
    let copied = user
        .copy_object(CopyObjectRequest {
            server_side_encryption: "aws:kms".into(),
            ssekms_key_id: key_b.arn.clone(),
            ..copy(
                BUCKET,
                "dst/a-to-b.bin",
                &format!("/{BUCKET}/src/kms-a.bin"),
            )
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(copied.ssekms_key_id, key_b.arn);
    let (shown, bytes) = get(&mut user, BUCKET, "dst/a-to-b.bin").await.unwrap();
    assert!(bytes == body);
    assert_eq!(shown.ssekms_key_id, key_b.arn);
    // Re-encrypting an object in place under another key is a legal copy onto itself.
    let in_place = user
        .copy_object(CopyObjectRequest {
            server_side_encryption: "aws:kms".into(),
            ssekms_key_id: key_b.key_id.clone(),
            ..copy(BUCKET, "src/kms-a.bin", &format!("{BUCKET}/src/kms-a.bin"))
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(in_place.ssekms_key_id, key_b.arn);
    let (shown, bytes) = get(&mut user, BUCKET, "src/kms-a.bin").await.unwrap();
    assert!(bytes == body);
    assert_eq!(shown.ssekms_key_id, key_b.arn);

    // SSE-KMS -> a copy with no SSE fields takes the destination bucket's default:
    // SSE-S3 here, with the MD5 ETag.
    put(&mut user, sse_kms(BUCKET, "src/fox", &key_a.key_id), FOX)
        .await
        .unwrap();
    let copied = user
        .copy_object(copy(BUCKET, "dst/fox", &format!("{BUCKET}/src/fox")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            copied.server_side_encryption.as_str(),
            copied.ssekms_key_id.as_str(),
            copied.copy_object_result.unwrap().etag.as_str()
        ),
        ("AES256", "", MD5_FOX)
    );

    // Into another bucket whose default is aws:kms with key A.
    create_bucket(&mut user, "kms-default").await;
    set_default(
        &mut user,
        "kms-default",
        rule("aws:kms", &key_a.key_id, true),
    )
    .await;
    let copied = user
        .copy_object(copy(
            "kms-default",
            "copy.bin",
            &format!("{BUCKET}/src/s3.bin"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            copied.server_side_encryption.as_str(),
            copied.ssekms_key_id.as_str(),
            copied.bucket_key_enabled
        ),
        ("aws:kms", key_a.arn.as_str(), true)
    );
    let (shown, bytes) = get(&mut user, "kms-default", "copy.bin").await.unwrap();
    assert!(bytes == body);
    assert_eq!(shown.ssekms_key_id, key_a.arn);
    assert!(shown.bucket_key_enabled);

    // A URL-encoded source key, as the AWS CLI sends it.
    put(&mut user, put_header(BUCKET, "dir/a b+c.txt"), b"spaced")
        .await
        .unwrap();
    user.copy_object(copy(
        BUCKET,
        "dir/copied.txt",
        &format!("{BUCKET}/dir/a%20b%2Bc.txt"),
    ))
    .await
    .unwrap();
    let (_, bytes) = get(&mut user, BUCKET, "dir/copied.txt").await.unwrap();
    assert_eq!(bytes, b"spaced");
}

#[tokio::test]
async fn copy_object_metadata_directives() {
    let (_harness, mut user) = start().await;
    let metadata = pairs(&[("color", "blue"), ("size", "large")]);
    put(
        &mut user,
        PutObjectHeader {
            content_type: "text/plain".into(),
            cache_control: "no-cache".into(),
            content_disposition: "inline".into(),
            content_encoding: "identity".into(),
            content_language: "fr".into(),
            metadata: metadata.clone(),
            ..put_header(BUCKET, "source.txt")
        },
        b"source bytes",
    )
    .await
    .unwrap();
    let source = head(&mut user, BUCKET, "source.txt").await;

    // COPY (the default, and explicit): everything kept; request metadata ignored.
    for directive in ["", "COPY"] {
        let target = format!("copy-{directive}.txt");
        user.copy_object(CopyObjectRequest {
            metadata_directive: directive.into(),
            metadata: pairs(&[("ignored", "yes")]),
            content_type: "application/ignored".into(),
            ..copy(BUCKET, &target, &format!("{BUCKET}/source.txt"))
        })
        .await
        .unwrap();
        let copied = head(&mut user, BUCKET, &target).await;
        assert_eq!(copied.metadata, metadata, "{directive:?}");
        assert_eq!(
            (
                copied.content_type.as_str(),
                copied.cache_control.as_str(),
                copied.content_disposition.as_str(),
                copied.content_encoding.as_str(),
                copied.content_language.as_str()
            ),
            ("text/plain", "no-cache", "inline", "identity", "fr"),
            "{directive:?}"
        );
        assert_eq!(copied.etag, source.etag, "SSE-S3: the same plaintext MD5");
    }

    // REPLACE: the request's metadata and content type, nothing of the source's.
    let replacement = pairs(&[("shape", "round")]);
    user.copy_object(CopyObjectRequest {
        metadata_directive: "REPLACE".into(),
        metadata: replacement.clone(),
        content_type: "application/json".into(),
        ..copy(BUCKET, "replaced.txt", &format!("{BUCKET}/source.txt"))
    })
    .await
    .unwrap();
    let replaced = head(&mut user, BUCKET, "replaced.txt").await;
    assert_eq!(replaced.metadata, replacement);
    assert_eq!(
        (
            replaced.content_type.as_str(),
            replaced.cache_control.as_str(),
            replaced.content_language.as_str()
        ),
        ("application/json", "", "")
    );
    user.copy_object(CopyObjectRequest {
        metadata_directive: "REPLACE".into(),
        ..copy(BUCKET, "bare.txt", &format!("{BUCKET}/source.txt"))
    })
    .await
    .unwrap();
    let bare = head(&mut user, BUCKET, "bare.txt").await;
    assert!(bare.metadata.is_empty());
    assert_eq!(bare.content_type, "binary/octet-stream");
    let (_, bytes) = get(&mut user, BUCKET, "bare.txt").await.unwrap();
    assert_eq!(bytes, b"source bytes");
}

// ---------------------------------------------------------------------------
// Overwrites and deletes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn overwrite_delete_and_bucket_lifecycle() {
    let (harness, mut user) = start().await;
    let key = user_key(&harness).await;
    let first = put(&mut user, put_header(BUCKET, "k"), b"first")
        .await
        .unwrap();
    let second = put(
        &mut user,
        sse_kms(BUCKET, "k", &key.key_id),
        b"second version",
    )
    .await
    .unwrap();
    assert_ne!(first.etag, second.etag);
    let (shown, bytes) = get(&mut user, BUCKET, "k").await.unwrap();
    assert_eq!(bytes, b"second version");
    assert_eq!(
        (shown.etag.as_str(), shown.size),
        (second.etag.as_str(), 14)
    );
    assert_eq!(shown.ssekms_key_id, key.arn);
    let third = put(&mut user, put_header(BUCKET, "k"), b"third")
        .await
        .unwrap();
    let (shown, bytes) = get(&mut user, BUCKET, "k").await.unwrap();
    assert_eq!(bytes, b"third");
    assert_eq!(
        (
            shown.etag.as_str(),
            shown.server_side_encryption.as_str(),
            shown.ssekms_key_id.as_str()
        ),
        (third.etag.as_str(), "AES256", "")
    );
    assert_ne!(third.etag, first.etag);

    user.delete_object(DeleteObjectRequest {
        bucket: BUCKET.into(),
        key: "k".into(),
    })
    .await
    .unwrap();
    assert_s3_error(
        get(&mut user, BUCKET, "k").await,
        Code::NotFound,
        "NoSuchKey",
        "The specified key does not exist.",
    );
    // Deleting what is not there succeeds, as in S3.
    for _ in 0..2 {
        user.delete_object(DeleteObjectRequest {
            bucket: BUCKET.into(),
            key: "never-existed".into(),
        })
        .await
        .unwrap();
    }
    // A deleted key can be written again.
    put(&mut user, put_header(BUCKET, "k"), b"back")
        .await
        .unwrap();
    let (_, bytes) = get(&mut user, BUCKET, "k").await.unwrap();
    assert_eq!(bytes, b"back");
    user.delete_object(DeleteObjectRequest {
        bucket: BUCKET.into(),
        key: "k".into(),
    })
    .await
    .unwrap();

    // An empty bucket deletes; afterwards it is gone and its name is free.
    user.delete_bucket(DeleteBucketRequest {
        bucket: BUCKET.into(),
    })
    .await
    .unwrap();
    assert_s3_error(
        user.head_bucket(HeadBucketRequest {
            bucket: BUCKET.into(),
        })
        .await,
        Code::NotFound,
        "NoSuchBucket",
        "The specified bucket does not exist",
    );
    assert_s3_error(
        user.delete_bucket(DeleteBucketRequest {
            bucket: BUCKET.into(),
        })
        .await,
        Code::NotFound,
        "NoSuchBucket",
        "The specified bucket does not exist",
    );
    let listed = user
        .list_buckets(ListBucketsRequest {})
        .await
        .unwrap()
        .into_inner()
        .buckets;
    assert!(listed.is_empty());
    create_bucket(&mut user, BUCKET).await;
    assert_eq!(
        encryption(&mut user, BUCKET).await,
        rule("AES256", "", false)
    );
    let listed = user
        .list_objects_v2(ListObjectsV2Request {
            bucket: BUCKET.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.contents.is_empty(),
        "a recreated bucket starts empty"
    );
}

// ---------------------------------------------------------------------------
// ACLs
// ---------------------------------------------------------------------------

#[tokio::test]
async fn object_and_bucket_acls() {
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
        b"public",
    )
    .await
    .unwrap();
    put(&mut user, put_header(BUCKET, "private.txt"), b"private")
        .await
        .unwrap();
    let acl = |bucket: &str, key: &str| GetObjectAclRequest {
        bucket: bucket.into(),
        key: key.into(),
    };
    let shown = user
        .get_object_acl(acl(BUCKET, "public.txt"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.owner.unwrap().id, ACCOUNT);
    assert_eq!(
        shown.grants,
        [owner_grant("FULL_CONTROL"), all_users_grant("READ")]
    );
    let shown = user
        .get_object_acl(acl(BUCKET, "private.txt"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.grants, [owner_grant("FULL_CONTROL")]);
    let (_, bytes) = get(&mut anonymous, BUCKET, "public.txt").await.unwrap();
    assert_eq!(bytes, b"public");
    assert_s3_error(
        get(&mut anonymous, BUCKET, "private.txt").await,
        Code::PermissionDenied,
        "AccessDenied",
        "Access Denied",
    );

    // PutObjectAcl with an explicit policy, then back to private.
    user.put_object_acl(PutObjectAclRequest {
        bucket: BUCKET.into(),
        key: "private.txt".into(),
        access_control_policy: Some(AccessControlPolicy {
            owner: None,
            grants: vec![owner_grant("FULL_CONTROL"), all_users_grant("READ")],
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, bytes) = get(&mut anonymous, BUCKET, "private.txt").await.unwrap();
    assert_eq!(bytes, b"private");
    user.put_object_acl(PutObjectAclRequest {
        bucket: BUCKET.into(),
        key: "private.txt".into(),
        acl: "private".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_s3_error(
        get(&mut anonymous, BUCKET, "private.txt").await,
        Code::PermissionDenied,
        "AccessDenied",
        "Access Denied",
    );

    // Anonymous listing: refused while the bucket ACL is private.
    let listing = || ListObjectsV2Request {
        bucket: BUCKET.into(),
        ..Default::default()
    };
    assert_s3_error(
        anonymous.list_objects_v2(listing()).await,
        Code::PermissionDenied,
        "AccessDenied",
        "Access Denied",
    );
    // PutBucketAcl with an explicit AccessControlPolicy granting AllUsers READ.
    user.put_bucket_acl(PutBucketAclRequest {
        bucket: BUCKET.into(),
        access_control_policy: Some(AccessControlPolicy {
            owner: Some(Owner {
                id: ACCOUNT.into(),
                display_name: String::new(),
            }),
            grants: vec![owner_grant("FULL_CONTROL"), all_users_grant("READ")],
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let bucket_acl = user
        .get_bucket_acl(GetBucketAclRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        bucket_acl.grants,
        [owner_grant("FULL_CONTROL"), all_users_grant("READ")]
    );
    let listed = anonymous
        .list_objects_v2(listing())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keys_of(&listed), ["private.txt", "public.txt"]);
    // A caller who may list learns that a key is missing: NoSuchKey, as in S3.
    assert_s3_error(
        get(&mut anonymous, BUCKET, "missing.txt").await,
        Code::NotFound,
        "NoSuchKey",
        "The specified key does not exist.",
    );
    // Bucket READ does not make the objects readable.
    assert_s3_error(
        get(&mut anonymous, BUCKET, "private.txt").await,
        Code::PermissionDenied,
        "AccessDenied",
        "Access Denied",
    );

    // IgnorePublicAcls, then ACLs disabled: the public-read bucket ACL stops counting.
    user.put_public_access_block(PutPublicAccessBlockRequest {
        bucket: BUCKET.into(),
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            ignore_public_acls: true,
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    assert_s3_error(
        anonymous.list_objects_v2(listing()).await,
        Code::PermissionDenied,
        "AccessDenied",
        "Access Denied",
    );
    delete_block(&mut user, BUCKET).await;
    anonymous.list_objects_v2(listing()).await.unwrap();
    set_ownership(&mut user, BUCKET, "BucketOwnerEnforced").await;
    assert_s3_error(
        anonymous.list_objects_v2(listing()).await,
        Code::PermissionDenied,
        "AccessDenied",
        "Access Denied",
    );
    assert_s3_error(
        get(&mut anonymous, BUCKET, "public.txt").await,
        Code::PermissionDenied,
        "AccessDenied",
        "Access Denied",
    );
    // With ACLs disabled, the ACLs read as the owner's full control only.
    let bucket_acl = user
        .get_bucket_acl(GetBucketAclRequest {
            bucket: BUCKET.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bucket_acl.grants, [owner_grant("FULL_CONTROL")]);
    let shown = user
        .get_object_acl(acl(BUCKET, "public.txt"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.grants, [owner_grant("FULL_CONTROL")]);
    // Enabled again, the stored ACLs are back.
    set_ownership(&mut user, BUCKET, "ObjectWriter").await;
    let (_, bytes) = get(&mut anonymous, BUCKET, "public.txt").await.unwrap();
    assert_eq!(bytes, b"public");
    anonymous.list_objects_v2(listing()).await.unwrap();
}

#[tokio::test]
async fn a_public_read_write_bucket_takes_anonymous_writes() {
    let (harness, mut user) = start().await;
    let mut anonymous = harness.client(Who::Anonymous);
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    delete_block(&mut user, BUCKET).await;
    user.put_bucket_acl(PutBucketAclRequest {
        bucket: BUCKET.into(),
        acl: "public-read-write".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let stored = put(
        &mut anonymous,
        put_header(BUCKET, "dropped.txt"),
        b"dropped",
    )
    .await
    .unwrap();
    assert_eq!(stored.server_side_encryption, "AES256");
    let (_, bytes) = get(&mut user, BUCKET, "dropped.txt").await.unwrap();
    assert_eq!(bytes, b"dropped");
    // The object itself is private: the bucket's WRITE is not the object's READ.
    assert_s3_error(
        get(&mut anonymous, BUCKET, "dropped.txt").await,
        Code::PermissionDenied,
        "AccessDenied",
        "Access Denied",
    );
    anonymous
        .delete_object(DeleteObjectRequest {
            bucket: BUCKET.into(),
            key: "dropped.txt".into(),
        })
        .await
        .unwrap();
    assert_s3_error(
        get(&mut user, BUCKET, "dropped.txt").await,
        Code::NotFound,
        "NoSuchKey",
        "The specified key does not exist.",
    );
    // An anonymous SSE-KMS write cannot reach KMS.
    let status = put(
        &mut anonymous,
        sse_kms(BUCKET, "kms.txt", "alias/any"),
        b"k",
    )
    .await
    .unwrap_err();
    assert_eq!(
        (
            status.code(),
            keyhold_tests::exception(&status).as_str(),
            status.message()
        ),
        (
            Code::InvalidArgument,
            "InvalidArgument",
            "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4."
        )
    );
}

#[tokio::test]
async fn a_get_in_flight_survives_delete_and_overwrite() {
    use futures::StreamExt;
    let (_harness, mut user) = start().await;
    let body = seeded_bytes(8 * 1024 * 1024 + 5, 21);
    for change in ["delete", "overwrite"] {
        put(&mut user, put_header(BUCKET, "big.bin"), &body)
            .await
            .unwrap();
        let mut stream = user
            .get_object(GetObjectRequest {
                bucket: BUCKET.into(),
                key: "big.bin".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut received = Vec::new();
        // The head and the first chunk, then the object changes under the reader.
        for _ in 0..2 {
            match stream.next().await.unwrap().unwrap().part {
                Some(get_object_response::Part::Chunk(chunk)) => received.extend_from_slice(&chunk),
                Some(get_object_response::Part::Head(head)) => {
                    assert_eq!(head.size, body.len() as u64)
                }
                None => {}
            }
        }
        if change == "delete" {
            user.delete_object(DeleteObjectRequest {
                bucket: BUCKET.into(),
                key: "big.bin".into(),
            })
            .await
            .unwrap();
        } else {
            put(&mut user, put_header(BUCKET, "big.bin"), b"replacement")
                .await
                .unwrap();
        }
        while let Some(message) = stream.next().await {
            if let Some(get_object_response::Part::Chunk(chunk)) = message
                .unwrap_or_else(|e| panic!("{change} during GET: {e:?}"))
                .part
            {
                received.extend_from_slice(&chunk);
            }
        }
        assert!(
            received == body,
            "{change}: the GET in flight served other bytes"
        );
    }
    let (_, bytes) = get(&mut user, BUCKET, "big.bin").await.unwrap();
    assert_eq!(bytes, b"replacement");
}

#[tokio::test]
async fn copy_sources_are_url_encoded() {
    let (_harness, mut user) = start().await;
    // Keys that look URL-encoded themselves: the source names them encoded again.
    put(&mut user, put_header(BUCKET, "a%41"), b"literal percent")
        .await
        .unwrap();
    put(&mut user, put_header(BUCKET, "aA"), b"decoded")
        .await
        .unwrap();
    put(&mut user, put_header(BUCKET, "é ü/x+y"), b"unicode")
        .await
        .unwrap();
    for (source, expected) in [
        (format!("{BUCKET}/a%2541"), b"literal percent".as_slice()),
        (format!("{BUCKET}/a%41"), b"decoded".as_slice()),
        (format!("{BUCKET}/aA"), b"decoded".as_slice()),
        (
            format!("/{BUCKET}/%C3%A9%20%C3%BC/x+y"),
            b"unicode".as_slice(),
        ),
        (
            format!("{BUCKET}/%C3%A9%20%C3%BC%2Fx%2By"),
            b"unicode".as_slice(),
        ),
    ] {
        user.copy_object(copy(BUCKET, "target", &source))
            .await
            .unwrap_or_else(|e| panic!("{source}: {e:?}"));
        let (_, bytes) = get(&mut user, BUCKET, "target").await.unwrap();
        assert_eq!(bytes, expected, "{source}");
    }
}

#[tokio::test]
async fn create_bucket_with_ownership_and_acl() {
    let harness = ObjectHarness::start().await;
    let mut user = harness.client(Who::User1);
    user.create_bucket(CreateBucketRequest {
        bucket: "writer-bucket".into(),
        object_ownership: "ObjectWriter".into(),
        acl: "private".into(),
    })
    .await
    .unwrap();
    let rules = user
        .get_bucket_ownership_controls(GetBucketOwnershipControlsRequest {
            bucket: "writer-bucket".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ownership_controls
        .unwrap()
        .rules;
    assert_eq!(
        rules,
        [OwnershipControlsRule {
            object_ownership: "ObjectWriter".into()
        }]
    );
    let acl = user
        .get_bucket_acl(GetBucketAclRequest {
            bucket: "writer-bucket".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acl.grants, [owner_grant("FULL_CONTROL")]);
    // Block Public Access is on for the new bucket all the same.
    let block = user
        .get_public_access_block(GetPublicAccessBlockRequest {
            bucket: "writer-bucket".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .public_access_block_configuration
        .unwrap();
    assert!(block.block_public_acls && block.ignore_public_acls);
}
