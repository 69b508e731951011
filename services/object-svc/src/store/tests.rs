//! The store against a real Postgres: a fresh database per test (keyhold-tests'
//! `TestDatabase`, `KEYHOLD_TEST_DATABASE_URL` or the local default).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use chrono::{Duration, SubsecRound, Utc};
use keyhold_tests::TestDatabase;
use sqlx::PgPool;

use super::multipart::ObjectCiphertext;
use super::*;
use crate::model::{ALL_USERS_URI, Grant, Grantee, Permission};

pub(super) const ACCOUNT: &str = "111122223333";

pub(super) struct Fixture {
    pub(super) store: MetadataStore,
    // Dropped last: drops the database.
    _database: TestDatabase,
}

/// A store on a fresh, migrated database.
pub(super) async fn fixture() -> Fixture {
    let database = TestDatabase::create().await;
    let pool = PgPool::connect(&database.url).await.expect("connect");
    MIGRATOR.run(&pool).await.expect("migrate");
    Fixture {
        store: MetadataStore::new(pool),
        _database: database,
    }
}

pub(super) fn now() -> DateTime<Utc> {
    // Postgres keeps microseconds.
    Utc::now().trunc_subsecs(6)
}

fn bucket(name: &str) -> Bucket {
    Bucket::new(name, ACCOUNT, now())
}

fn record(bucket: &str, key: &str, blob_path: &str) -> ObjectRecord {
    ObjectRecord {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        blob_path: blob_path.to_owned(),
        size: 5_000_000_000,
        etag: "\"0123456789abcdef0123456789abcdef\"".to_owned(),
        // Fixed, so that records built twice compare equal; Postgres keeps microseconds.
        last_modified: DateTime::from_timestamp(1_790_000_000, 123_456_000).unwrap(),
        content: ContentHeaders {
            content_type: Some("text/plain".to_owned()),
            cache_control: None,
            content_disposition: Some("attachment".to_owned()),
            content_encoding: None,
            content_language: Some("en".to_owned()),
        },
        user_metadata: BTreeMap::from([("color".to_owned(), "blue".to_owned())]),
        encryption: ObjectEncryption {
            algorithm: SseAlgorithm::AwsKms,
            kms_key_arn: Some("arn:aws:kms:us-east-1:111122223333:key/k".to_owned()),
            bucket_key_enabled: true,
            wrapped_key: vec![1, 2, 3, 0, 255],
            encryption_context: BTreeMap::from([(
                "aws:s3:arn".to_owned(),
                format!("arn:aws:s3:::{bucket}/{key}"),
            )]),
            nonce_prefix: vec![9; 7],
            segment_size: 65536,
        },
        acl: Acl::private(ACCOUNT),
    }
}

async fn put(store: &MetadataStore, record: &ObjectRecord) -> Option<String> {
    store.register_upload(&record.blob_path).await.unwrap();
    match store.put_object(record).await.unwrap() {
        PutObjectOutcome::Stored { replaced_blob } => replaced_blob,
        other => panic!("{} not stored: {other:?}", record.key),
    }
}

async fn put_keys(store: &MetadataStore, bucket: &str, keys: &[&str]) {
    for (i, key) in keys.iter().enumerate() {
        put(store, &record(bucket, key, &format!("blob-{i}"))).await;
    }
}

/// Keys and common prefixes of a page, in order.
fn items(listing: &ObjectListing) -> Vec<String> {
    let mut items: Vec<String> = listing
        .objects
        .iter()
        .map(|o| o.key.clone())
        .chain(listing.common_prefixes.iter().cloned())
        .collect();
    items.sort();
    items
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

async fn list(
    store: &MetadataStore,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max_keys: usize,
) -> ObjectListing {
    store
        .list_objects("b", prefix, delimiter, after, max_keys)
        .await
        .unwrap()
}

#[tokio::test]
async fn buckets_insert_once_and_list_by_name() {
    let f = fixture().await;
    let first = bucket("beta");
    assert!(f.store.insert_bucket(&first).await.unwrap());
    let mut again = bucket("beta");
    again.account_id = "444455556666".to_owned();
    assert!(!f.store.insert_bucket(&again).await.unwrap());
    assert_eq!(f.store.bucket("beta").await.unwrap(), Some(first.clone()));
    assert_eq!(f.store.bucket("gamma").await.unwrap(), None);

    assert!(f.store.insert_bucket(&bucket("alpha")).await.unwrap());
    let mut other = bucket("aaa");
    other.account_id = "444455556666".to_owned();
    other.acl = Acl::private("444455556666");
    assert!(f.store.insert_bucket(&other).await.unwrap());
    let names: Vec<String> = f
        .store
        .list_buckets(ACCOUNT)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert_eq!(f.store.list_buckets("444455556666").await.unwrap(), [other]);
    assert!(f.store.list_buckets("999").await.unwrap().is_empty());
}

#[tokio::test]
async fn bucket_update_round_trip() {
    let f = fixture().await;
    let mut b = bucket("settings");
    assert!(f.store.insert_bucket(&b).await.unwrap());
    assert_eq!(
        f.store
            .bucket("settings")
            .await
            .unwrap()
            .unwrap()
            .public_access_block,
        Some(PublicAccessBlock::ALL_ON)
    );

    b.encryption = DefaultEncryption {
        algorithm: SseAlgorithm::AwsKms,
        kms_master_key_id: Some("alias/my-key".to_owned()),
        bucket_key_enabled: true,
    };
    b.public_access_block = None;
    b.ownership = ObjectOwnership::ObjectWriter;
    b.acl.grants.push(Grant {
        grantee: Grantee::Group {
            uri: ALL_USERS_URI.to_owned(),
        },
        permission: Permission::Read,
    });
    assert!(f.store.update_bucket(&b).await.unwrap());
    assert_eq!(f.store.bucket("settings").await.unwrap(), Some(b.clone()));

    b.public_access_block = Some(PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: false,
        block_public_policy: true,
        restrict_public_buckets: false,
    });
    b.ownership = ObjectOwnership::BucketOwnerPreferred;
    b.encryption = DefaultEncryption::default();
    assert!(f.store.update_bucket(&b).await.unwrap());
    assert_eq!(f.store.bucket("settings").await.unwrap(), Some(b.clone()));

    assert!(!f.store.update_bucket(&bucket("gone")).await.unwrap());
}

#[tokio::test]
async fn bucket_deleted_only_when_empty() {
    let f = fixture().await;
    assert_eq!(
        f.store.delete_bucket_if_empty("nope").await.unwrap(),
        DeleteBucketOutcome::NotFound
    );
    f.store.insert_bucket(&bucket("b")).await.unwrap();
    put(&f.store, &record("b", "k", "blob-1")).await;
    assert_eq!(
        f.store.delete_bucket_if_empty("b").await.unwrap(),
        DeleteBucketOutcome::NotEmpty
    );
    assert!(f.store.bucket("b").await.unwrap().is_some());
    assert_eq!(
        f.store.delete_object("b", "k").await.unwrap().as_deref(),
        Some("blob-1")
    );
    assert_eq!(
        f.store.delete_bucket_if_empty("b").await.unwrap(),
        DeleteBucketOutcome::Deleted
    );
    assert_eq!(f.store.bucket("b").await.unwrap(), None);
    assert_eq!(
        f.store.delete_bucket_if_empty("b").await.unwrap(),
        DeleteBucketOutcome::NotFound
    );
}

#[tokio::test]
async fn bucket_delete_and_puts_do_not_race() {
    let f = fixture().await;
    for round in 0..10 {
        let name = format!("race-{round}");
        f.store.insert_bucket(&bucket(&name)).await.unwrap();
        let puts: Vec<_> = (0..4)
            .map(|i| {
                let store = f.store.clone();
                let record = record(&name, &format!("k{i}"), &format!("{name}-blob-{i}"));
                tokio::spawn(async move {
                    store.register_upload(&record.blob_path).await.unwrap();
                    store.put_object(&record).await.unwrap()
                })
            })
            .collect();
        let delete = {
            let store = f.store.clone();
            let name = name.clone();
            tokio::spawn(async move { store.delete_bucket_if_empty(&name).await.unwrap() })
        };
        let mut stored = 0;
        for outcome in puts {
            if matches!(outcome.await.unwrap(), PutObjectOutcome::Stored { .. }) {
                stored += 1;
            }
        }
        let deleted = delete.await.unwrap();
        let listing = f
            .store
            .list_objects(&name, "", None, None, 100)
            .await
            .unwrap();
        assert_eq!(listing.objects.len(), stored, "round {round}");
        match deleted {
            DeleteBucketOutcome::Deleted => assert_eq!(stored, 0, "round {round}"),
            DeleteBucketOutcome::NotEmpty => assert!(stored > 0, "round {round}"),
            DeleteBucketOutcome::NotFound => panic!("round {round}: bucket not found"),
        }
    }
}

#[tokio::test]
async fn objects_round_trip_replace_and_delete() {
    let f = fixture().await;
    f.store.insert_bucket(&bucket("b")).await.unwrap();

    let first = record("b", "dir/key", "blob-1");
    assert_eq!(put(&f.store, &first).await, None);
    assert_eq!(f.store.object("b", "dir/key").await.unwrap(), Some(first));
    assert_eq!(f.store.object("b", "dir/other").await.unwrap(), None);
    assert_eq!(f.store.object("c", "dir/key").await.unwrap(), None);

    let mut second = record("b", "dir/key", "blob-2");
    second.size = 0;
    second.content = ContentHeaders::default();
    second.user_metadata.clear();
    second.encryption = ObjectEncryption {
        algorithm: SseAlgorithm::Aes256,
        kms_key_arn: None,
        bucket_key_enabled: false,
        wrapped_key: vec![7; 60],
        encryption_context: BTreeMap::new(),
        nonce_prefix: vec![],
        segment_size: u32::try_from(i32::MAX).unwrap(),
    };
    assert_eq!(put(&f.store, &second).await.as_deref(), Some("blob-1"));
    assert_eq!(
        f.store.object("b", "dir/key").await.unwrap(),
        Some(second.clone())
    );
    // The replaced blob is garbage (collectable at once); the stored one is not
    // pending any more.
    let long_ago = Utc::now() - Duration::days(1);
    assert_eq!(
        f.store
            .collectable_blobs(long_ago, any_garbage(), 100)
            .await
            .unwrap(),
        ["blob-1"]
    );
    assert_eq!(
        f.store
            .collectable_blobs(Utc::now() + Duration::hours(1), any_garbage(), 100)
            .await
            .unwrap(),
        ["blob-1"]
    );

    let public = canned_public_read();
    assert!(
        f.store
            .update_object_acl("b", "dir/key", &public)
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .update_object_acl("b", "missing", &public)
            .await
            .unwrap()
    );
    let mut expected = second.clone();
    expected.acl = public;
    assert_eq!(
        f.store.object("b", "dir/key").await.unwrap(),
        Some(expected)
    );

    // A blob the encoding cannot hold is refused before anything is written.
    let mut too_big = record("b", "big", "blob-big");
    too_big.size = u64::MAX;
    f.store.register_upload(&too_big.blob_path).await.unwrap();
    assert!(matches!(
        f.store.put_object(&too_big).await,
        Err(sqlx::Error::Encode(_))
    ));

    assert_eq!(
        f.store
            .delete_object("b", "dir/key")
            .await
            .unwrap()
            .as_deref(),
        Some("blob-2")
    );
    assert_eq!(f.store.delete_object("b", "dir/key").await.unwrap(), None);
    assert_eq!(f.store.object("b", "dir/key").await.unwrap(), None);
    let mut garbage = f
        .store
        .collectable_blobs(long_ago, any_garbage(), 100)
        .await
        .unwrap();
    garbage.sort();
    assert_eq!(garbage, ["blob-1", "blob-2"]);
}

fn canned_public_read() -> Acl {
    let mut acl = Acl::private(ACCOUNT);
    acl.grants.push(Grant {
        grantee: Grantee::Group {
            uri: ALL_USERS_URI.to_owned(),
        },
        permission: Permission::Read,
    });
    acl
}

#[tokio::test]
async fn put_without_bucket_leaves_garbage() {
    let f = fixture().await;
    let orphan = record("missing", "k", "blob-orphan");
    f.store.register_upload(&orphan.blob_path).await.unwrap();
    assert_eq!(
        f.store.put_object(&orphan).await.unwrap(),
        PutObjectOutcome::NoSuchBucket
    );
    assert_eq!(
        f.store
            .collectable_blobs(Utc::now() - Duration::days(1), any_garbage(), 10)
            .await
            .unwrap(),
        ["blob-orphan"]
    );
}

#[tokio::test]
async fn concurrent_puts_of_one_key_report_every_replaced_blob() {
    let f = fixture().await;
    f.store.insert_bucket(&bucket("b")).await.unwrap();
    let blobs: Vec<String> = (0..8).map(|i| format!("blob-{i}")).collect();
    let tasks: Vec<_> = blobs
        .iter()
        .map(|blob| {
            let store = f.store.clone();
            let record = record("b", "same", blob);
            tokio::spawn(async move {
                store.register_upload(&record.blob_path).await.unwrap();
                store.put_object(&record).await.unwrap()
            })
        })
        .collect();
    let mut replaced = BTreeSet::new();
    for task in tasks {
        match task.await.unwrap() {
            PutObjectOutcome::Stored {
                replaced_blob: Some(blob),
            } => assert!(replaced.insert(blob)),
            PutObjectOutcome::Stored {
                replaced_blob: None,
            } => {}
            other => panic!("not stored: {other:?}"),
        }
    }
    let current = f
        .store
        .object("b", "same")
        .await
        .unwrap()
        .unwrap()
        .blob_path;
    assert_eq!(replaced.len(), blobs.len() - 1);
    assert!(!replaced.contains(&current));
    replaced.insert(current);
    assert_eq!(replaced, blobs.iter().cloned().collect());
}

/// A garbage cutoff that every blob marked garbage so far is older than.
fn any_garbage() -> DateTime<Utc> {
    Utc::now() + Duration::hours(1)
}

#[tokio::test]
async fn collectable_blobs_and_forget() {
    let f = fixture().await;
    let before = Utc::now();
    f.store.register_upload("upload-1").await.unwrap();
    f.store.register_upload("upload-1").await.unwrap();
    // A fresh upload is not collectable; one started before the cutoff is.
    assert!(
        f.store
            .collectable_blobs(before - Duration::minutes(5), any_garbage(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = Utc::now() + Duration::seconds(1);
    assert_eq!(
        f.store.collectable_blobs(later, later, 10).await.unwrap(),
        ["upload-1"]
    );

    f.store.insert_bucket(&bucket("b")).await.unwrap();
    put(&f.store, &record("b", "k", "blob-1")).await;
    f.store.delete_object("b", "k").await.unwrap();
    // Garbage younger than its cutoff stays, however late the upload cutoff: a GET
    // may still be reading it.
    for uploads_older_than in [before - Duration::minutes(5), later] {
        assert!(
            f.store
                .collectable_blobs(uploads_older_than, before, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
    // upload-1 stays claimed whatever the upload cutoff: its writer may not commit it now.
    assert_eq!(
        f.store
            .collectable_blobs(before - Duration::minutes(5), later, 10)
            .await
            .unwrap(),
        ["upload-1", "blob-1"]
    );
    assert_eq!(
        f.store.collectable_blobs(later, later, 10).await.unwrap(),
        ["upload-1", "blob-1"]
    );
    assert_eq!(
        f.store.collectable_blobs(later, later, 1).await.unwrap(),
        ["upload-1"]
    );

    f.store.forget_blob("upload-1").await.unwrap();
    f.store.forget_blob("never-there").await.unwrap();
    assert_eq!(
        f.store.collectable_blobs(later, later, 10).await.unwrap(),
        ["blob-1"]
    );
    f.store.forget_blob("blob-1").await.unwrap();
    assert!(
        f.store
            .collectable_blobs(later, later, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

const TREE: &[&str] = &[
    "a",
    "a/",
    "a/b",
    "a/c/d",
    "a/c/e",
    "a/c/f/g",
    "a/c/f/h",
    "a/d",
    "a//x",
    "ab",
    "b/c",
    "b/d",
    "c%d",
    "c%/e",
    "c_d",
    "cxd",
    "c\\d",
    "d/e/f",
    "e",
    "é/1",
    "é/2",
    "éa",
    "z",
    "z/z/z",
    "~",
    "\u{7f}",
    "\u{80}",
    "\u{D7FF}/q",
    "q\u{D7FF}r",
    "q\u{D7FF}s",
    "q\u{E000}",
    "q\u{E000}x",
    "\u{FFFF}",
    "😀",
    "😀/a",
    "\u{10FFFF}/a",
    "\u{10FFFF}/b",
    "\u{10FFFF}\u{10FFFF}",
];

/// The whole listing, the slow and obvious way.
fn expected_listing(prefix: &str, delimiter: Option<&str>) -> Vec<String> {
    let mut keys: Vec<&str> = TREE.to_vec();
    keys.sort(); // str order is byte order
    let mut items: Vec<String> = Vec::new();
    for key in keys.into_iter().filter(|key| key.starts_with(prefix)) {
        let item = delimiter
            .and_then(|d| common_prefix(key, prefix, d))
            .unwrap_or(key)
            .to_owned();
        if items.last() != Some(&item) {
            items.push(item);
        }
    }
    items
}

#[tokio::test]
async fn listing_pages_visit_every_key_and_prefix_once() {
    let f = fixture().await;
    f.store.insert_bucket(&bucket("b")).await.unwrap();
    put_keys(&f.store, "b", TREE).await;
    for prefix in [
        "",
        "a",
        "a/",
        "a/c/",
        "c%",
        "c_",
        "c\\",
        "é",
        "q",
        "z/",
        "😀",
        "\u{10FFFF}",
        "nothing",
    ] {
        for delimiter in [
            None,
            Some("/"),
            Some("c/"),
            Some("%"),
            Some("\u{D7FF}"),
            Some("\u{10FFFF}"),
        ] {
            let expected = expected_listing(prefix, delimiter);
            for max_keys in [1, 2, 3, 1000] {
                let mut seen = Vec::new();
                let mut after: Option<String> = None;
                loop {
                    let page = list(&f.store, prefix, delimiter, after.as_deref(), max_keys).await;
                    let page_items = items(&page);
                    let context = format!("{prefix:?} {delimiter:?} {max_keys} after {after:?}");
                    assert!(page_items.len() <= max_keys, "{context}");
                    seen.extend(page_items.iter().cloned());
                    if !page.is_truncated {
                        assert_eq!(page.next_marker, None, "{context}");
                        break;
                    }
                    assert_eq!(page_items.len(), max_keys, "{context}");
                    assert_eq!(page.next_marker.as_ref(), page_items.last(), "{context}");
                    after = page.next_marker;
                    assert!(seen.len() <= expected.len(), "{context}: runaway");
                }
                assert_eq!(seen, expected, "{prefix:?} {delimiter:?} {max_keys}");
            }
        }
    }
}

#[tokio::test]
async fn listing_semantics() {
    let f = fixture().await;
    f.store.insert_bucket(&bucket("b")).await.unwrap();
    put_keys(&f.store, "b", TREE).await;

    // The whole bucket in byte order of UTF-8.
    let all = list(&f.store, "", None, None, 1000).await;
    let mut sorted = strings(TREE);
    sorted.sort();
    assert_eq!(items(&all), sorted);
    assert!(!all.is_truncated);
    assert!(all.common_prefixes.is_empty());
    assert_eq!(all.objects[0], record("b", "a", "blob-0"));

    // Delimiter roll-up: one common prefix per group, counted once.
    let top = list(&f.store, "", Some("/"), None, 1000).await;
    assert_eq!(
        top.common_prefixes,
        strings(&[
            "a/",
            "b/",
            "c%/",
            "d/",
            "z/",
            "é/",
            "\u{D7FF}/",
            "😀/",
            "\u{10FFFF}/"
        ])
    );
    let page = list(&f.store, "", Some("/"), None, 3).await;
    assert_eq!(items(&page), strings(&["a", "a/", "ab"]));
    assert_eq!(page.common_prefixes, ["a/"]);
    assert!(page.is_truncated);
    assert_eq!(page.next_marker.as_deref(), Some("ab"));
    let page = list(&f.store, "", Some("/"), Some("ab"), 1).await;
    assert_eq!(page.common_prefixes, ["b/"]);
    assert_eq!(page.next_marker.as_deref(), Some("b/"));

    let dir = list(&f.store, "a/", Some("/"), None, 1000).await;
    let keys: Vec<&str> = dir.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a/", "a/b", "a/d"]);
    assert_eq!(dir.common_prefixes, ["a//", "a/c/"]);

    // `%` and `_` in a prefix are literal.
    assert_eq!(
        items(&list(&f.store, "c%", None, None, 1000).await),
        strings(&["c%/e", "c%d"])
    );
    assert_eq!(
        items(&list(&f.store, "c_", None, None, 1000).await),
        strings(&["c_d"])
    );
    assert_eq!(
        items(&list(&f.store, "c\\", None, None, 1000).await),
        strings(&["c\\d"])
    );

    // Start after: exclusive; before the prefix means from the prefix; a common
    // prefix skips every key under it; a key inside a group gives the group again.
    assert_eq!(
        items(&list(&f.store, "a/", None, Some("a/c/e"), 2).await),
        strings(&["a/c/f/g", "a/c/f/h"])
    );
    assert_eq!(
        items(&list(&f.store, "b/", None, Some("a"), 1000).await),
        strings(&["b/c", "b/d"])
    );
    assert_eq!(
        items(&list(&f.store, "a/", Some("/"), Some("a/c/"), 1000).await),
        strings(&["a/d"])
    );
    assert_eq!(
        items(&list(&f.store, "a/", Some("/"), Some("a/c/d"), 1000).await),
        strings(&["a/c/", "a/d"])
    );
    assert_eq!(
        items(&list(&f.store, "", Some("\u{10FFFF}"), Some("\u{10FFFF}"), 1000).await),
        Vec::<String>::new()
    );
    assert!(items(&list(&f.store, "", None, Some("\u{10FFFF}\u{10FFFF}"), 10).await).is_empty());

    // max-keys 0: nothing, not truncated.
    assert_eq!(
        list(&f.store, "", None, None, 0).await,
        ObjectListing::default()
    );
    // The last page exactly full is not truncated.
    let exact = list(&f.store, "b/", None, None, 2).await;
    assert_eq!(items(&exact), strings(&["b/c", "b/d"]));
    assert!(!exact.is_truncated);
    // An empty delimiter is none.
    assert_eq!(
        items(&list(&f.store, "b/", Some(""), None, 10).await),
        strings(&["b/c", "b/d"])
    );
    // Other buckets' keys never show.
    f.store.insert_bucket(&bucket("c")).await.unwrap();
    put(&f.store, &record("c", "b/e", "other-bucket-blob")).await;
    assert_eq!(
        items(&list(&f.store, "b/", None, None, 10).await),
        strings(&["b/c", "b/d"])
    );
    let empty = f
        .store
        .list_objects("nope", "", Some("/"), None, 10)
        .await
        .unwrap();
    assert_eq!(empty, ObjectListing::default());
}

#[tokio::test]
async fn prefix_successor_in_sql_matches_rust() {
    let f = fixture().await;
    for prefix in [
        "",
        "a",
        "a/",
        "az",
        "é",
        "a\u{7f}",
        "a\u{7ff}",
        "\u{D7FF}",
        "x\u{FFFF}",
        "😀",
        "a\u{10FFFF}",
        "\u{10FFFF}",
        "\u{10FFFF}\u{10FFFF}",
        "a\u{10FFFF}\u{10FFFF}",
    ] {
        let in_sql: Option<String> = sqlx::query_scalar("SELECT prefix_successor($1)")
            .bind(prefix)
            .fetch_one(f.store.pool())
            .await
            .unwrap();
        let in_rust = prefix_successor(prefix);
        assert_eq!(in_sql, in_rust, "{prefix:?}");
        if let Some(successor) = in_rust {
            assert!(successor.as_str() > prefix);
            assert!(!successor.starts_with(prefix));
        }
    }
    assert_eq!(prefix_successor("a/").as_deref(), Some("a0"));
    assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
    assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
    assert_eq!(prefix_successor("\u{10FFFF}"), None);
    assert_eq!(prefix_successor(""), None);
}

#[tokio::test]
async fn an_upload_the_sweep_claimed_does_not_become_an_object() {
    let f = fixture().await;
    f.store.insert_bucket(&bucket("b")).await.unwrap();
    let slow = record("b", "slow", "blob-slow");
    f.store.register_upload(&slow.blob_path).await.unwrap();
    // The sweep takes it as abandoned (the cutoff is in the future) ...
    let claimed = f
        .store
        .collectable_blobs(now() + chrono::Duration::hours(1), any_garbage(), 10)
        .await
        .unwrap();
    assert_eq!(claimed, ["blob-slow"]);
    // ... so the slow writer's commit is refused, and no row points at the blob.
    assert_eq!(
        f.store.put_object(&slow).await.unwrap(),
        PutObjectOutcome::UploadExpired
    );
    assert_eq!(f.store.object("b", "slow").await.unwrap(), None);
    // The claim stands: the blob is still listed for deletion.
    assert_eq!(
        f.store
            .collectable_blobs(now(), any_garbage(), 10)
            .await
            .unwrap(),
        ["blob-slow"]
    );

    // An upload that commits first is no longer pending: the sweep does not see it.
    let quick = record("b", "quick", "blob-quick");
    f.store.register_upload(&quick.blob_path).await.unwrap();
    assert!(matches!(
        f.store.put_object(&quick).await.unwrap(),
        PutObjectOutcome::Stored { .. }
    ));
    assert_eq!(
        f.store
            .collectable_blobs(now() + chrono::Duration::hours(1), any_garbage(), 10)
            .await
            .unwrap(),
        ["blob-slow"]
    );
}

async fn put_inline(
    store: &MetadataStore,
    record: &ObjectRecord,
    ciphertext: &[u8],
) -> Option<String> {
    let admit_all = |_: Option<&str>| Ok::<(), Infallible>(());
    match store
        .put_inline_object_if(record, &Bytes::copy_from_slice(ciphertext), admit_all)
        .await
        .unwrap()
    {
        PutObjectOutcome::Stored { replaced_blob } => replaced_blob,
        other => panic!("{} not stored: {other:?}", record.key),
    }
}

async fn pending_rows(store: &MetadataStore) -> Vec<(String, bool)> {
    sqlx::query_as("SELECT blob_path, garbage FROM pending_blobs ORDER BY blob_path")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

async fn stored_ciphertext(store: &MetadataStore, key: &str) -> (ObjectRecord, ObjectCiphertext) {
    store
        .object_with_ciphertext("b", key)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn inline_objects_keep_their_ciphertext_in_the_row_and_no_blob() {
    let f = fixture().await;
    f.store.insert_bucket(&bucket("b")).await.unwrap();
    let inline = |path: &str, bytes: &'static [u8]| {
        (
            record("b", "k", path),
            ObjectCiphertext::Inline(Bytes::from_static(bytes)),
        )
    };

    // A new key, then another inline version: nothing pending, nothing replaced.
    let first = inline("inline/1", b"first");
    assert_eq!(put_inline(&f.store, &first.0, b"first").await, None);
    assert_eq!(stored_ciphertext(&f.store, "k").await, first);
    let second = inline("inline/2", b"second");
    assert_eq!(put_inline(&f.store, &second.0, b"second").await, None);
    assert_eq!(stored_ciphertext(&f.store, "k").await, second);
    assert_eq!(pending_rows(&f.store).await, []);

    // A blob version replaces it (no blob to report), and an inline one replaces that
    // (its blob reported, and garbage).
    let third = record("b", "k", "blob-3");
    assert_eq!(put(&f.store, &third).await, None);
    assert_eq!(
        stored_ciphertext(&f.store, "k").await,
        (third, ObjectCiphertext::Blob)
    );
    let fourth = inline("inline/4", b"fourth");
    assert_eq!(
        put_inline(&f.store, &fourth.0, b"fourth").await.as_deref(),
        Some("blob-3")
    );
    assert_eq!(stored_ciphertext(&f.store, "k").await, fourth);
    assert_eq!(pending_rows(&f.store).await, [("blob-3".to_owned(), true)]);
    f.store.forget_blob("blob-3").await.unwrap();

    // Deleting it leaves no blob to discard either.
    assert_eq!(f.store.delete_object("b", "k").await.unwrap(), None);
    assert_eq!(f.store.object("b", "k").await.unwrap(), None);
    assert_eq!(pending_rows(&f.store).await, []);

    // More than one segment and its tag never goes in a row.
    let too_big = Bytes::from(vec![0u8; 65_553]);
    let refused = f
        .store
        .put_inline_object_if(&record("b", "big", "inline/5"), &too_big, |_| {
            Ok::<(), Infallible>(())
        })
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(f.store.object("b", "big").await.unwrap(), None);
}

#[tokio::test]
async fn an_inline_put_checks_the_bucket_and_the_condition() {
    let f = fixture().await;
    let orphan = record("missing", "k", "inline/orphan");
    assert_eq!(
        f.store
            .put_inline_object_if(
                &orphan,
                &Bytes::from_static(b"x"),
                |_| Ok::<(), Infallible>(())
            )
            .await
            .unwrap(),
        PutObjectOutcome::NoSuchBucket
    );
    assert_eq!(pending_rows(&f.store).await, []);

    f.store.insert_bucket(&bucket("b")).await.unwrap();
    let etag = record("b", "k", "x").etag;
    // If-Match with no object, and If-None-Match: * over one, are refused.
    let if_match = |current: Option<&str>| match current {
        Some(current) if current == etag => Ok(()),
        _ => Err("precondition"),
    };
    let if_none_match = |current: Option<&str>| match current {
        None => Ok(()),
        Some(_) => Err("exists"),
    };
    let first = record("b", "k", "inline/1");
    assert_eq!(
        f.store
            .put_inline_object_if(&first, &Bytes::from_static(b"1"), if_match)
            .await
            .unwrap(),
        PutObjectOutcome::Refused("precondition")
    );
    assert_eq!(f.store.object("b", "k").await.unwrap(), None);
    assert_eq!(
        f.store
            .put_inline_object_if(&first, &Bytes::from_static(b"1"), if_none_match)
            .await
            .unwrap(),
        PutObjectOutcome::Stored {
            replaced_blob: None
        }
    );
    let second = record("b", "k", "inline/2");
    assert_eq!(
        f.store
            .put_inline_object_if(&second, &Bytes::from_static(b"2"), if_none_match)
            .await
            .unwrap(),
        PutObjectOutcome::Refused("exists")
    );
    assert_eq!(
        f.store
            .put_inline_object_if(&second, &Bytes::from_static(b"2"), if_match)
            .await
            .unwrap(),
        PutObjectOutcome::Stored {
            replaced_blob: None
        }
    );
    assert_eq!(
        stored_ciphertext(&f.store, "k").await,
        (second, ObjectCiphertext::Inline(Bytes::from_static(b"2")))
    );
    assert_eq!(pending_rows(&f.store).await, []);
}

#[tokio::test]
async fn concurrent_inline_and_blob_puts_of_one_key_report_every_replaced_blob() {
    let f = fixture().await;
    f.store.insert_bucket(&bucket("b")).await.unwrap();
    for round in 0..5 {
        let key = format!("same-{round}");
        // Even writers store a blob, odd ones inline.
        let paths: Vec<String> = (0..8)
            .map(|i| match i % 2 {
                0 => format!("blob-{round}-{i}"),
                _ => format!("inline/{round}-{i}"),
            })
            .collect();
        let tasks: Vec<_> = paths
            .iter()
            .map(|path| {
                let store = f.store.clone();
                let record = record("b", &key, path);
                tokio::spawn(async move {
                    if record.blob_path.starts_with("inline/") {
                        put_inline(&store, &record, b"sealed").await
                    } else {
                        put(&store, &record).await
                    }
                })
            })
            .collect();
        let mut replaced = BTreeSet::new();
        for task in tasks {
            if let Some(blob) = task.await.unwrap() {
                assert!(!blob.starts_with("inline/"), "round {round}: {blob}");
                assert!(replaced.insert(blob), "round {round}: reported twice");
            }
        }
        let current = f.store.object("b", &key).await.unwrap().unwrap().blob_path;
        // Every blob but the current one was reported, and only those.
        let blobs: BTreeSet<String> = paths
            .iter()
            .filter(|p| !p.starts_with("inline/") && **p != current)
            .cloned()
            .collect();
        assert_eq!(replaced, blobs, "round {round}");
    }
}

#[tokio::test]
async fn calls_served_together_each_get_their_own_answer() {
    let f = fixture().await;
    for name in ["b", "c"] {
        f.store.insert_bucket(&bucket(name)).await.unwrap();
    }
    put_inline(&f.store, &record("b", "taken", "inline/old"), b"old").await;

    // Bucket reads of existing and missing buckets, all at once.
    let reads: Vec<_> = (0..60)
        .map(|i| {
            let store = f.store.clone();
            let name = ["b", "c", "missing"][i % 3];
            tokio::spawn(async move { (name, store.bucket(name).await.unwrap()) })
        })
        .collect();
    for read in reads {
        let (name, found) = read.await.unwrap();
        assert_eq!(
            found.map(|b| b.name),
            (name != "missing").then(|| name.to_owned())
        );
    }

    // New keys, keys of a missing bucket, and a taken key, all at once: the new keys
    // go in, the missing bucket is reported, the taken key is replaced.
    let puts: Vec<_> = (0..60)
        .map(|i| {
            let store = f.store.clone();
            let (bucket, key) = match i % 6 {
                0 => ("missing", format!("k{i}")),
                1 => ("b", "taken".to_owned()),
                2 => ("c", format!("k{i}")),
                _ => ("b", format!("k{i}")),
            };
            let record = record(bucket, &key, &format!("inline/{i}"));
            let ciphertext = Bytes::from(format!("sealed {i}"));
            tokio::spawn(async move {
                let admit_all = |_: Option<&str>| Ok::<(), Infallible>(());
                let outcome = store
                    .put_inline_object_if(&record, &ciphertext, admit_all)
                    .await
                    .unwrap();
                (i, outcome)
            })
        })
        .collect();
    for put in puts {
        let (i, outcome) = put.await.unwrap();
        let expected = match i % 6 {
            0 => PutObjectOutcome::NoSuchBucket,
            _ => PutObjectOutcome::Stored {
                replaced_blob: None,
            },
        };
        assert_eq!(outcome, expected, "put {i}");
    }
    for i in (0..60).filter(|i| ![0, 1].contains(&(i % 6))) {
        let bucket = if i % 6 == 2 { "c" } else { "b" };
        let (record, ciphertext) = f
            .store
            .object_with_ciphertext(bucket, &format!("k{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.blob_path, format!("inline/{i}"));
        assert_eq!(
            ciphertext,
            ObjectCiphertext::Inline(Bytes::from(format!("sealed {i}")))
        );
    }
    let taken = stored_ciphertext(&f.store, "taken").await.0.blob_path;
    assert!(
        taken.starts_with("inline/") && taken != "inline/old",
        "{taken}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM objects")
        .fetch_one(f.store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1 + 40, "the taken key and the 40 new ones");
    assert_eq!(pending_rows(&f.store).await, []);
}
