//! The multipart tables against a real Postgres, a fresh database per test (as in
//! tests.rs): uploads, parts, completion, and that every part blob nothing
//! references any more ends up collectable.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};

use super::multipart::{
    CompleteOutcome, ObjectCiphertext, ObjectPart, PartRecord, PutPartOutcome, UploadListing,
    UploadRecord,
};
use super::tests::{ACCOUNT, Fixture, now};
use super::*;

/// A store on a fresh database, with bucket "b".
async fn fixture() -> Fixture {
    let fixture = super::tests::fixture().await;
    fixture
        .store
        .insert_bucket(&Bucket::new("b", ACCOUNT, now()))
        .await
        .unwrap();
    fixture
}

fn upload(id: &str, key: &str) -> UploadRecord {
    UploadRecord {
        upload_id: id.to_owned(),
        bucket: "b".to_owned(),
        key: key.to_owned(),
        initiated: now(),
        initiator: format!("arn:aws:iam::{ACCOUNT}:user/u"),
        content: ContentHeaders {
            content_type: Some("video/mp4".to_owned()),
            cache_control: None,
            content_disposition: None,
            content_encoding: Some("identity".to_owned()),
            content_language: None,
        },
        user_metadata: BTreeMap::from([("color".to_owned(), "red".to_owned())]),
        encryption: ObjectEncryption {
            algorithm: SseAlgorithm::AwsKms,
            kms_key_arn: Some("arn:aws:kms:us-east-1:111122223333:key/k".to_owned()),
            bucket_key_enabled: false,
            wrapped_key: vec![4, 5, 6],
            encryption_context: BTreeMap::from([(
                "aws:s3:arn".to_owned(),
                format!("arn:aws:s3:::b/{key}"),
            )]),
            nonce_prefix: Vec::new(),
            segment_size: 65536,
        },
        acl: Acl::private(ACCOUNT),
    }
}

fn part(upload_id: &str, number: i32, blob: &str, size: u64) -> PartRecord {
    PartRecord {
        upload_id: upload_id.to_owned(),
        part_number: number,
        blob_path: blob.to_owned(),
        nonce_prefix: vec![u8::try_from(number % 256).unwrap(); 7],
        size,
        etag: vec![u8::try_from(number % 256).unwrap(); 16],
        last_modified: now(),
    }
}

/// Registers the part's blob (as the domain does before writing it), then stores it.
async fn put_part(store: &MetadataStore, part: &PartRecord) -> PutPartOutcome {
    store.register_upload(&part.blob_path).await.unwrap();
    store.put_part(part).await.unwrap()
}

fn object_part(part: &PartRecord) -> ObjectPart {
    ObjectPart {
        part_number: part.part_number,
        blob_path: part.blob_path.clone(),
        nonce_prefix: part.nonce_prefix.clone(),
        size: part.size,
    }
}

/// The object row a completion of `parts` writes (the domain computes the ETag).
fn multipart_object(upload: &UploadRecord, parts: &[&PartRecord]) -> ObjectRecord {
    ObjectRecord {
        bucket: upload.bucket.clone(),
        key: upload.key.clone(),
        blob_path: parts[0].blob_path.clone(),
        size: parts.iter().map(|p| p.size).sum(),
        etag: format!("\"0123456789abcdef0123456789abcdef-{}\"", parts.len()),
        // Fixed, so that records built twice compare equal.
        last_modified: DateTime::from_timestamp(1_790_000_000, 123_456_000).unwrap(),
        content: upload.content.clone(),
        user_metadata: upload.user_metadata.clone(),
        encryption: ObjectEncryption {
            nonce_prefix: parts[0].nonce_prefix.clone(),
            ..upload.encryption.clone()
        },
        acl: upload.acl.clone(),
    }
}

async fn complete(
    store: &MetadataStore,
    upload: &UploadRecord,
    parts: &[&PartRecord],
) -> CompleteOutcome {
    let record = multipart_object(upload, parts);
    let listed: Vec<ObjectPart> = parts.iter().map(|p| object_part(p)).collect();
    store
        .complete_upload(&upload.upload_id, &record, &listed)
        .await
        .unwrap()
}

/// Every blob in pending, with its garbage flag, by path.
async fn pending(store: &MetadataStore) -> Vec<(String, bool)> {
    sqlx::query_as("SELECT blob_path, garbage FROM pending_blobs ORDER BY blob_path")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// The blobs that are garbage (of any age), sorted; forgets them, as the sweeper
/// does once it deleted them.
async fn garbage(store: &MetadataStore) -> Vec<String> {
    let mut paths = store
        .collectable_blobs(
            Utc::now() - Duration::days(1),
            Utc::now() + Duration::hours(1),
            1000,
        )
        .await
        .unwrap();
    for path in &paths {
        store.forget_blob(path).await.unwrap();
    }
    paths.sort();
    paths
}

async fn count(store: &MetadataStore, table: &'static str) -> i64 {
    let sql = match table {
        "uploads" => "SELECT count(*) FROM uploads",
        "upload_parts" => "SELECT count(*) FROM upload_parts",
        "object_parts" => "SELECT count(*) FROM object_parts",
        other => panic!("no table {other}"),
    };
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn uploads_round_trip_and_need_their_bucket() {
    let f = fixture().await;
    let first = upload("u1", "big/file");
    assert!(f.store.insert_upload(&first).await.unwrap());
    assert_eq!(f.store.upload("u1").await.unwrap(), Some(first.clone()));
    assert_eq!(f.store.upload("u2").await.unwrap(), None);

    let mut elsewhere = upload("u2", "k");
    elsewhere.bucket = "no-such-bucket".to_owned();
    assert!(!f.store.insert_upload(&elsewhere).await.unwrap());
    assert_eq!(f.store.upload("u2").await.unwrap(), None);

    // SSE-S3: no key ARN, no context.
    let mut sse_s3 = upload("u3", "k");
    sse_s3.encryption.algorithm = SseAlgorithm::Aes256;
    sse_s3.encryption.kms_key_arn = None;
    sse_s3.encryption.encryption_context.clear();
    sse_s3.user_metadata.clear();
    sse_s3.content = ContentHeaders::default();
    assert!(f.store.insert_upload(&sse_s3).await.unwrap());
    assert_eq!(f.store.upload("u3").await.unwrap(), Some(sse_s3));
}

#[tokio::test]
async fn a_retried_part_replaces_the_first_whose_blob_becomes_garbage() {
    let f = fixture().await;
    f.store.insert_upload(&upload("u", "k")).await.unwrap();

    let first = part("u", 1, "blob-1a", 10);
    assert_eq!(
        put_part(&f.store, &first).await,
        PutPartOutcome::Stored {
            replaced_blob: None
        }
    );
    // Out of pending: the part row references it now.
    assert_eq!(pending(&f.store).await, vec![]);

    let retry = PartRecord {
        size: 20,
        ..part("u", 1, "blob-1b", 0)
    };
    assert_eq!(
        put_part(&f.store, &retry).await,
        PutPartOutcome::Stored {
            replaced_blob: Some("blob-1a".to_owned())
        }
    );
    assert_eq!(pending(&f.store).await, vec![("blob-1a".to_owned(), true)]);
    assert_eq!(garbage(&f.store).await, ["blob-1a"]);

    for (number, blob) in [(3, "blob-3"), (2, "blob-2"), (10_000, "blob-last")] {
        put_part(&f.store, &part("u", number, blob, 1)).await;
    }
    let numbers =
        |parts: Vec<PartRecord>| -> Vec<i32> { parts.into_iter().map(|p| p.part_number).collect() };
    let all = f.store.upload_parts("u", 0, 100).await.unwrap();
    assert_eq!(all[0], retry);
    assert_eq!(numbers(all), [1, 2, 3, 10_000]);
    assert_eq!(
        numbers(f.store.upload_parts("u", 1, 2).await.unwrap()),
        [2, 3]
    );
    assert_eq!(
        numbers(f.store.upload_parts("u", 3, 2).await.unwrap()),
        [10_000]
    );
    assert!(
        f.store
            .upload_parts("other", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_part_without_its_upload_or_claimed_by_the_sweep_is_not_stored() {
    let f = fixture().await;
    assert_eq!(
        put_part(&f.store, &part("gone", 1, "blob-orphan", 5)).await,
        PutPartOutcome::NoSuchUpload
    );
    assert_eq!(
        pending(&f.store).await,
        vec![("blob-orphan".to_owned(), true)]
    );

    f.store.insert_upload(&upload("u", "k")).await.unwrap();
    let slow = part("u", 1, "blob-slow", 5);
    f.store.register_upload(&slow.blob_path).await.unwrap();
    let claimed = f
        .store
        .collectable_blobs(now() + Duration::hours(1), now() + Duration::hours(1), 10)
        .await
        .unwrap();
    assert!(claimed.contains(&"blob-slow".to_owned()));
    assert_eq!(
        f.store.put_part(&slow).await.unwrap(),
        PutPartOutcome::UploadExpired
    );
    assert!(f.store.upload_parts("u", 0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn completion_writes_the_object_and_its_parts_and_drops_the_rest() {
    let f = fixture().await;
    let up = upload("u", "movie");
    f.store.insert_upload(&up).await.unwrap();
    let p1 = part("u", 1, "blob-1", 5 << 20);
    let p2 = part("u", 2, "blob-2", 7);
    let p3 = part("u", 3, "blob-3", 5 << 20);
    let p5 = part("u", 5, "blob-5", 3);
    for p in [&p1, &p2, &p3, &p5] {
        put_part(&f.store, p).await;
    }

    // A part that is not (any more) the blob the caller read: nothing happens.
    let stale = PartRecord {
        blob_path: "blob-2-old".to_owned(),
        ..p2.clone()
    };
    assert_eq!(
        complete(&f.store, &up, &[&p1, &stale]).await,
        CompleteOutcome::PartsChanged
    );
    let missing = part("u", 4, "blob-4", 1);
    assert_eq!(
        complete(&f.store, &up, &[&p1, &missing]).await,
        CompleteOutcome::PartsChanged
    );
    assert_eq!(count(&f.store, "upload_parts").await, 4);

    // Parts 1, 3 and 5: part 2 is not listed, so it goes.
    let outcome = complete(&f.store, &up, &[&p1, &p3, &p5]).await;
    assert_eq!(
        outcome,
        CompleteOutcome::Stored {
            replaced_blob: None,
            unused_blobs: vec!["blob-2".to_owned()]
        }
    );
    let record = multipart_object(&up, &[&p1, &p3, &p5]);
    assert_eq!(
        f.store.object("b", "movie").await.unwrap(),
        Some(record.clone())
    );
    let (read, ciphertext) = f
        .store
        .object_with_ciphertext("b", "movie")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, record);
    assert_eq!(
        ciphertext,
        ObjectCiphertext::Parts(vec![object_part(&p1), object_part(&p3), object_part(&p5)])
    );
    assert_eq!(f.store.upload("u").await.unwrap(), None);
    assert_eq!(count(&f.store, "upload_parts").await, 0);
    assert_eq!(garbage(&f.store).await, ["blob-2"]);

    // The upload is gone: a second completion, a late part and an abort find nothing.
    assert_eq!(
        complete(&f.store, &up, &[&p1]).await,
        CompleteOutcome::NoSuchUpload
    );
    assert_eq!(
        put_part(&f.store, &part("u", 6, "blob-late", 1)).await,
        PutPartOutcome::NoSuchUpload
    );
    assert_eq!(f.store.abort_upload("u").await.unwrap(), None);

    // A single-PUT object has no part list.
    let single = ObjectRecord {
        key: "single".to_owned(),
        blob_path: "blob-single".to_owned(),
        ..record.clone()
    };
    f.store.register_upload(&single.blob_path).await.unwrap();
    f.store.put_object(&single).await.unwrap();
    assert_eq!(
        f.store.object_with_ciphertext("b", "single").await.unwrap(),
        Some((single, ObjectCiphertext::Blob))
    );
    assert_eq!(
        f.store.object_with_ciphertext("b", "nope").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn replacing_or_deleting_a_multipart_object_makes_all_its_parts_garbage() {
    let f = fixture().await;
    // A multipart object, replaced by a single PUT.
    let up = upload("u1", "k");
    f.store.insert_upload(&up).await.unwrap();
    let a1 = part("u1", 1, "a-1", 5 << 20);
    let a2 = part("u1", 2, "a-2", 1);
    put_part(&f.store, &a1).await;
    put_part(&f.store, &a2).await;
    complete(&f.store, &up, &[&a1, &a2]).await;
    assert_eq!(count(&f.store, "object_parts").await, 2);

    let single = ObjectRecord {
        blob_path: "single".to_owned(),
        etag: "\"00000000000000000000000000000000\"".to_owned(),
        ..multipart_object(&up, &[&a1])
    };
    f.store.register_upload("single").await.unwrap();
    assert_eq!(
        f.store.put_object(&single).await.unwrap(),
        PutObjectOutcome::Stored {
            replaced_blob: Some("a-1".to_owned())
        }
    );
    assert_eq!(count(&f.store, "object_parts").await, 0);
    assert_eq!(garbage(&f.store).await, ["a-1", "a-2"]);

    // A multipart object replacing the single one, then another replacing it.
    let up = upload("u2", "k");
    f.store.insert_upload(&up).await.unwrap();
    let b1 = part("u2", 1, "b-1", 1);
    put_part(&f.store, &b1).await;
    assert_eq!(
        complete(&f.store, &up, &[&b1]).await,
        CompleteOutcome::Stored {
            replaced_blob: Some("single".to_owned()),
            unused_blobs: vec![]
        }
    );
    let up = upload("u3", "k");
    f.store.insert_upload(&up).await.unwrap();
    let c1 = part("u3", 1, "c-1", 5 << 20);
    let c2 = part("u3", 2, "c-2", 5 << 20);
    let c3 = part("u3", 3, "c-3", 0);
    for p in [&c1, &c2, &c3] {
        put_part(&f.store, p).await;
    }
    assert_eq!(
        complete(&f.store, &up, &[&c1, &c2, &c3]).await,
        CompleteOutcome::Stored {
            replaced_blob: Some("b-1".to_owned()),
            unused_blobs: vec![]
        }
    );
    assert_eq!(garbage(&f.store).await, ["b-1", "single"]);
    assert_eq!(count(&f.store, "object_parts").await, 3);

    // Deleted: every part is garbage.
    assert_eq!(
        f.store.delete_object("b", "k").await.unwrap().as_deref(),
        Some("c-1")
    );
    assert_eq!(count(&f.store, "object_parts").await, 0);
    assert_eq!(garbage(&f.store).await, ["c-1", "c-2", "c-3"]);
}

#[tokio::test]
async fn an_object_row_cannot_go_without_its_parts() {
    // The part list references the object version until commit: a change that
    // forgets the parts (and so would leak their blobs) does not commit.
    let f = fixture().await;
    let up = upload("u", "k");
    f.store.insert_upload(&up).await.unwrap();
    let p1 = part("u", 1, "p-1", 1);
    put_part(&f.store, &p1).await;
    complete(&f.store, &up, &[&p1]).await;
    let forgetful = sqlx::query("DELETE FROM objects WHERE bucket = 'b' AND key = 'k'")
        .execute(f.store.pool())
        .await;
    assert!(forgetful.is_err(), "{forgetful:?}");
    assert!(f.store.object("b", "k").await.unwrap().is_some());
}

#[tokio::test]
async fn aborted_and_expired_uploads_leave_their_parts_as_garbage() {
    let f = fixture().await;
    f.store.insert_upload(&upload("u", "k")).await.unwrap();
    put_part(&f.store, &part("u", 1, "p-1", 1)).await;
    put_part(&f.store, &part("u", 2, "p-2", 1)).await;
    let mut freed = f.store.abort_upload("u").await.unwrap().unwrap();
    freed.sort();
    assert_eq!(freed, ["p-1", "p-2"]);
    assert_eq!(f.store.upload("u").await.unwrap(), None);
    assert_eq!(count(&f.store, "upload_parts").await, 0);
    assert_eq!(garbage(&f.store).await, ["p-1", "p-2"]);
    assert_eq!(f.store.abort_upload("u").await.unwrap(), None);

    // Expiry: idle since the cutoff means initiated before it and no part since.
    let cutoff = now() - Duration::days(7);
    let mut idle = upload("idle", "k");
    idle.initiated = cutoff - Duration::days(1);
    let mut busy = upload("busy", "k");
    busy.initiated = cutoff - Duration::days(1);
    let fresh = upload("fresh", "k");
    for u in [&idle, &busy, &fresh] {
        f.store.insert_upload(u).await.unwrap();
    }
    let mut old_part = part("idle", 1, "idle-1", 1);
    old_part.last_modified = cutoff - Duration::hours(1);
    put_part(&f.store, &old_part).await;
    put_part(&f.store, &part("busy", 1, "busy-1", 1)).await;
    assert_eq!(f.store.expire_uploads(cutoff, 10).await.unwrap(), 1);
    assert_eq!(f.store.expire_uploads(cutoff, 10).await.unwrap(), 0);
    assert_eq!(f.store.upload("idle").await.unwrap(), None);
    assert!(f.store.upload("busy").await.unwrap().is_some());
    assert!(f.store.upload("fresh").await.unwrap().is_some());
    assert_eq!(garbage(&f.store).await, ["idle-1"]);
}

#[tokio::test]
async fn deleting_a_bucket_drops_its_uploads_but_objects_keep_it() {
    let f = fixture().await;
    f.store.insert_upload(&upload("u", "k")).await.unwrap();
    put_part(&f.store, &part("u", 1, "p-1", 1)).await;

    // An object keeps the bucket, and its uploads stay.
    let single = ObjectRecord {
        blob_path: "single".to_owned(),
        ..multipart_object(&upload("x", "other"), &[&part("x", 1, "single", 1)])
    };
    f.store.register_upload("single").await.unwrap();
    f.store.put_object(&single).await.unwrap();
    assert_eq!(
        f.store.delete_bucket_if_empty("b").await.unwrap(),
        DeleteBucketOutcome::NotEmpty
    );
    assert!(f.store.upload("u").await.unwrap().is_some());

    f.store.delete_object("b", "other").await.unwrap();
    assert_eq!(
        f.store.delete_bucket_if_empty("b").await.unwrap(),
        DeleteBucketOutcome::Deleted
    );
    assert_eq!(f.store.upload("u").await.unwrap(), None);
    assert_eq!(count(&f.store, "upload_parts").await, 0);
    assert_eq!(garbage(&f.store).await, ["p-1", "single"]);
}

/// (key, upload id) of each upload, then the common prefixes.
fn page(listing: &UploadListing) -> (Vec<(String, String)>, Vec<String>) {
    (
        listing
            .uploads
            .iter()
            .map(|u| (u.key.clone(), u.upload_id.clone()))
            .collect(),
        listing.common_prefixes.clone(),
    )
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, u)| ((*k).to_owned(), (*u).to_owned()))
        .collect()
}

#[tokio::test]
async fn listing_uploads_by_key_then_id_with_markers_and_delimiter() {
    let f = fixture().await;
    for (id, key) in [
        ("2", "a"),
        ("1", "a"),
        ("3", "b/x"),
        ("4", "b/y"),
        ("5", "b/y"),
        ("6", "c"),
        ("7", "d/e/f"),
    ] {
        f.store.insert_upload(&upload(id, key)).await.unwrap();
    }
    let list = |prefix: &'static str,
                delimiter: Option<&'static str>,
                key_marker: Option<&'static str>,
                id_marker: Option<&'static str>,
                max: usize| {
        let store = f.store.clone();
        async move {
            store
                .list_uploads("b", prefix, delimiter, key_marker, id_marker, max)
                .await
                .unwrap()
        }
    };

    let all = list("", None, None, None, 1000).await;
    assert_eq!(
        page(&all),
        (
            pairs(&[
                ("a", "1"),
                ("a", "2"),
                ("b/x", "3"),
                ("b/y", "4"),
                ("b/y", "5"),
                ("c", "6"),
                ("d/e/f", "7")
            ]),
            vec![]
        )
    );
    assert!(!all.is_truncated);
    assert_eq!(all.next_key_marker, None);
    let mut expected = upload("1", "a");
    expected.initiated = all.uploads[0].initiated;
    assert_eq!(all.uploads[0], expected);

    // Pages of two, each continuing from the previous page's markers.
    let mut seen = Vec::new();
    let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let listing = f
            .store
            .list_uploads(
                "b",
                "",
                None,
                key_marker.as_deref(),
                id_marker.as_deref(),
                2,
            )
            .await
            .unwrap();
        assert!(listing.uploads.len() <= 2);
        seen.extend(page(&listing).0);
        if !listing.is_truncated {
            break;
        }
        key_marker = listing.next_key_marker;
        id_marker = listing.next_upload_id_marker;
        assert!(id_marker.is_some());
    }
    assert_eq!(seen, page(&all).0);

    // The key marker alone skips every upload of that key; with an id, only those
    // up to that id.
    assert_eq!(
        page(&list("", None, Some("a"), None, 2).await).0,
        pairs(&[("b/x", "3"), ("b/y", "4")])
    );
    assert_eq!(
        page(&list("", None, Some("a"), Some("1"), 2).await).0,
        pairs(&[("a", "2"), ("b/x", "3")])
    );

    // Prefix and delimiter: keys roll up into common prefixes, counted once.
    let rolled = list("", Some("/"), None, None, 1000).await;
    assert_eq!(
        page(&rolled),
        (
            pairs(&[("a", "1"), ("a", "2"), ("c", "6")]),
            vec!["b/".to_owned(), "d/".to_owned()]
        )
    );
    let first = list("", Some("/"), None, None, 3).await;
    assert_eq!(
        page(&first),
        (pairs(&[("a", "1"), ("a", "2")]), vec!["b/".to_owned()])
    );
    assert!(first.is_truncated);
    assert_eq!(first.next_key_marker.as_deref(), Some("b/"));
    assert_eq!(first.next_upload_id_marker, None);
    // A key marker that is a common prefix skips everything under it.
    let rest = list("", Some("/"), Some("b/"), None, 3).await;
    assert_eq!(page(&rest), (pairs(&[("c", "6")]), vec!["d/".to_owned()]));
    assert!(!rest.is_truncated);
    assert_eq!(
        page(&list("b/", Some("/"), None, None, 10).await),
        (pairs(&[("b/x", "3"), ("b/y", "4"), ("b/y", "5")]), vec![])
    );
    assert_eq!(
        page(&list("d/", Some("/"), None, None, 10).await),
        (vec![], vec!["d/e/".to_owned()])
    );
    assert_eq!(
        page(&list("zzz", None, None, None, 10).await),
        (vec![], vec![])
    );
    assert_eq!(
        list("", None, None, None, 0).await,
        UploadListing::default()
    );
}
