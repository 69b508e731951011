//! Multipart uploads through the domain, end to end: a real kms-svc (keyhold-tests'
//! `KmsHarness`), a fresh Postgres database and a local blob directory per test.
//! Reads are compared byte for byte, and the blob directory and `pending_blobs` are
//! checked for leftovers.

use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use keyhold_crypto::MasterKey;
use keyhold_platform::{Caller, Principals};
use keyhold_proto::kms::v1::RemoveKeyUserRequest;
use keyhold_tests::{KmsHarness, TestDatabase, Who, kms::USER1_ARN};
use md5::{Digest, Md5};
use sqlx::PgPool;

use super::objects::hex;
use super::*;
use crate::{
    access::{Origin, Requester},
    blobs::{BlobError, BlobStore},
    error::{ObjectError, ObjectResult},
    model::SseAlgorithm,
    store::MIGRATOR,
};

const ACCOUNT: &str = "000000000000";
const BUCKET: &str = "multipart-bucket";
const MIB: usize = 1024 * 1024;

struct Fixture {
    objects: Objects,
    user: Requester,
    blob_dir: std::path::PathBuf,
    kms: KmsHarness,
    _database: TestDatabase,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.blob_dir);
    }
}

async fn fixture() -> Fixture {
    let kms = KmsHarness::start().await;
    let database = TestDatabase::create().await;
    let pool = PgPool::connect(&database.url).await.expect("connect");
    MIGRATOR.run(&pool).await.expect("migrate");
    let blob_dir = std::env::temp_dir().join(format!(
        "keyhold-multipart-test-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let blobs = BlobStore::local(&blob_dir).unwrap();
    let (akid, secret) = Who::ObjectSvcForUser1.credentials().unwrap();
    let kms_client = crate::kms_client::KmsClient::connect_lazy(
        &format!("http://{}", kms.address),
        Some((akid, secret)),
        None,
    )
    .unwrap();
    let objects = Objects::new(
        crate::store::MetadataStore::new(pool),
        blobs,
        kms_client,
        MasterKey::generate(),
        ACCOUNT.to_owned(),
        "us-east-1".to_owned(),
    );
    let principals = Principals::parse(&keyhold_tests::kms::test_principals()).unwrap();
    let user = Requester::new(
        Some(&Caller {
            principal: Arc::clone(principals.find(USER1_ARN).unwrap()),
            via: None,
        }),
        Origin::default(),
    );
    objects.create_bucket(&user, BUCKET, "", "").await.unwrap();
    Fixture {
        objects,
        user,
        blob_dir,
        kms,
        _database: database,
    }
}

/// Deterministic bytes that differ everywhere (so a misplaced range shows).
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn body(
    bytes: &[u8],
) -> impl futures::Stream<Item = Result<Bytes, BlobError>> + Send + Unpin + use<> {
    let chunks: Vec<Result<Bytes, BlobError>> = bytes
        .chunks(300_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(chunks)
}

fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

impl Fixture {
    /// A single-PUT object (SSE-S3) at `key`.
    async fn put_single(&self, key: &str, bytes: &[u8]) {
        let input = PutObjectInput {
            bucket: BUCKET.to_owned(),
            key: key.to_owned(),
            ..Default::default()
        };
        self.objects
            .put_object(&self.user, input, body(bytes))
            .await
            .unwrap();
    }

    async fn create(&self, key: &str, sse: SseRequest) -> MultipartUpload {
        self.objects
            .create_multipart_upload(
                &self.user,
                CreateMultipartUploadInput {
                    bucket: BUCKET.to_owned(),
                    key: key.to_owned(),
                    attributes: ObjectAttributes {
                        content: crate::model::ContentHeaders {
                            content_type: Some("application/x-tar".to_owned()),
                            ..Default::default()
                        },
                        metadata: [("origin".to_owned(), "multipart".to_owned())].into(),
                    },
                    acl: String::new(),
                    sse,
                },
            )
            .await
            .unwrap()
    }

    async fn part(
        &self,
        upload: &MultipartUpload,
        number: i32,
        bytes: &[u8],
    ) -> ObjectResult<UploadedPart> {
        self.objects
            .upload_part(
                &self.user,
                UploadPartInput {
                    bucket: upload.bucket.clone(),
                    key: upload.key.clone(),
                    upload_id: upload.upload_id.clone(),
                    part_number: number,
                    content_length: Some(bytes.len() as u64),
                },
                body(bytes),
            )
            .await
    }

    async fn complete(
        &self,
        upload: &MultipartUpload,
        parts: &[(i32, &str)],
    ) -> ObjectResult<StoredObject> {
        self.objects
            .complete_multipart_upload(
                &self.user,
                &upload.bucket,
                &upload.key,
                &upload.upload_id,
                parts.iter().map(|(n, e)| (*n, (*e).to_owned())).collect(),
            )
            .await
    }

    async fn get(&self, key: &str, range: &str) -> ObjectResult<Vec<u8>> {
        let read = self
            .objects
            .read_object(
                &self.user,
                GetObjectInput {
                    bucket: BUCKET.to_owned(),
                    key: key.to_owned(),
                    range: range.to_owned(),
                    ..Default::default()
                },
                true,
            )
            .await?;
        let pieces: Vec<Bytes> = read.body.unwrap().try_collect().await?;
        Ok(pieces.concat())
    }

    /// A sweep taking uploads abandoned over an hour ago and the blobs of objects
    /// replaced or deleted before `replaced_before`; how many blobs it removed.
    async fn sweep(&self, replaced_before: chrono::DateTime<Utc>) -> usize {
        self.objects
            .sweep_blobs(Utc::now() - chrono::Duration::hours(1), replaced_before)
            .await
            .unwrap()
    }

    /// A sweep whose grace period is over for every replaced blob.
    async fn sweep_all(&self) -> usize {
        self.sweep(Utc::now() + chrono::Duration::hours(1)).await
    }

    /// Every blob in the blob directory, sorted.
    async fn blob_files(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .objects
            .blobs
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|(path, _)| path)
            .collect();
        paths.sort();
        paths
    }

    /// Every blob recorded in `pending_blobs`, sorted.
    async fn pending(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT blob_path FROM pending_blobs ORDER BY blob_path")
            .fetch_all(self.objects.store.pool())
            .await
            .unwrap()
    }

    /// The blobs of the upload's parts, by part number.
    async fn part_blobs(&self, upload_id: &str) -> Vec<(i32, String, Vec<u8>)> {
        self.objects
            .store
            .upload_parts(upload_id, 0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.part_number, p.blob_path, p.nonce_prefix))
            .collect()
    }
}

fn strip_quotes(etag: &str) -> &str {
    etag.trim_matches('"')
}

#[tokio::test]
async fn sse_s3_upload_complete_and_read_back_byte_exact() {
    let f = fixture().await;
    let upload = f.create("backups/archive.tar", SseRequest::default()).await;
    assert_eq!(upload.encryption.algorithm, SseAlgorithm::Aes256);
    assert_eq!(upload.owner_id, ACCOUNT);
    assert_eq!(upload.initiator, USER1_ARN);
    assert!(upload.upload_id.len() >= 32);

    let part1 = data(5 * MIB + 123, 1);
    let part2 = data(5 * MIB, 2);
    let part3 = data(777, 3);
    // Parts arrive in any order; part 2 is retried with other bytes.
    let third = f.part(&upload, 3, &part3).await.unwrap();
    let first_try = f.part(&upload, 2, &data(5 * MIB, 99)).await.unwrap();
    let first = f.part(&upload, 1, &part1).await.unwrap();
    let before_retry = f.part_blobs(&upload.upload_id).await;
    let second = f.part(&upload, 2, &part2).await.unwrap();
    let after_retry = f.part_blobs(&upload.upload_id).await;

    assert_eq!(first.etag, format!("\"{}\"", md5_hex(&part1)));
    assert_eq!(second.etag, format!("\"{}\"", md5_hex(&part2)));
    assert_eq!(third.etag, format!("\"{}\"", md5_hex(&part3)));
    assert_ne!(first_try.etag, second.etag);
    assert_eq!(
        (first.size, second.size, third.size),
        (5 * MIB as u64 + 123, 5 * MIB as u64, 777)
    );
    // The retry is a new blob under a new nonce prefix; the first attempt is gone.
    assert_ne!(before_retry[1].1, after_retry[1].1);
    assert_ne!(before_retry[1].2, after_retry[1].2);
    let prefixes: std::collections::HashSet<&Vec<u8>> =
        after_retry.iter().map(|(_, _, prefix)| prefix).collect();
    assert_eq!(prefixes.len(), 3);
    let mut live: Vec<String> = after_retry
        .iter()
        .map(|(_, blob, _)| blob.clone())
        .collect();
    live.sort();
    assert_eq!(f.blob_files().await, live);
    assert_eq!(f.pending().await, Vec::<String>::new());

    // ListParts, in pages of two.
    let page = f
        .objects
        .list_parts(
            &f.user,
            BUCKET,
            &upload.key,
            &upload.upload_id,
            Some(2),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        page.parts
            .iter()
            .map(|p| (p.part_number, p.etag.as_str(), p.size))
            .collect::<Vec<_>>(),
        [
            (1, first.etag.as_str(), first.size),
            (2, second.etag.as_str(), second.size)
        ]
    );
    assert!(page.is_truncated);
    assert_eq!(page.next_part_number_marker, Some(2));
    assert_eq!(page.upload, upload);
    let rest = f
        .objects
        .list_parts(
            &f.user,
            BUCKET,
            &upload.key,
            &upload.upload_id,
            Some(2),
            Some(2),
        )
        .await
        .unwrap();
    assert_eq!(rest.parts.len(), 1);
    assert_eq!(rest.parts[0].part_number, 3);
    assert!(!rest.is_truncated);
    assert_eq!(rest.next_part_number_marker, None);

    let uploads = f
        .objects
        .list_multipart_uploads(&f.user, BUCKET, "", "", "", "", None)
        .await
        .unwrap();
    assert_eq!(uploads.uploads, vec![upload.clone()]);
    assert_eq!(uploads.max_uploads, 1000);

    // Complete, with ETags quoted or not.
    let stored = f
        .complete(
            &upload,
            &[
                (1, strip_quotes(&first.etag)),
                (2, second.etag.as_str()),
                (3, third.etag.as_str()),
            ],
        )
        .await
        .unwrap();
    let mut digests = Vec::new();
    for part in [&part1, &part2, &part3] {
        digests.extend_from_slice(&Md5::digest(part));
    }
    let expected_etag = format!("\"{}-3\"", md5_hex(&digests));
    assert_eq!(stored.record.etag, expected_etag);
    let whole: Vec<u8> = [part1.as_slice(), &part2, &part3].concat();
    assert_eq!(stored.record.size, whole.len() as u64);
    assert_eq!(
        stored.record.content.content_type.as_deref(),
        Some("application/x-tar")
    );
    assert_eq!(stored.record.user_metadata["origin"], "multipart");

    // The upload is gone.
    assert!(
        f.objects
            .list_multipart_uploads(&f.user, BUCKET, "", "", "", "", None)
            .await
            .unwrap()
            .uploads
            .is_empty()
    );
    assert!(matches!(
        f.objects
            .list_parts(&f.user, BUCKET, &upload.key, &upload.upload_id, None, None)
            .await,
        Err(ObjectError::NoSuchUpload(_))
    ));
    assert!(matches!(
        f.complete(&upload, &[(1, first.etag.as_str())]).await,
        Err(ObjectError::NoSuchUpload(_))
    ));

    // GET: whole and ranges within and across parts.
    assert!(f.get(&upload.key, "").await.unwrap() == whole);
    let b1 = part1.len();
    let b2 = b1 + part2.len();
    let n = whole.len();
    for (first, last) in [
        (0, 0),
        (b1 - 1, b1),
        (b1 - 70_000, b1 + 70_000),
        (b2 - 1, b2),
        (b2, n - 1),
        (b2 + 5, b2 + 5),
        (100, n - 2),
        (n - 1, n - 1),
        (b1, b2 - 1),
    ] {
        let got = f
            .get(&upload.key, &format!("bytes={first}-{last}"))
            .await
            .unwrap();
        assert!(got == whole[first..=last], "bytes={first}-{last}");
    }
    let suffix = f.get(&upload.key, "bytes=-1000").await.unwrap();
    assert!(suffix == whole[n - 1000..]);
    let open = f
        .get(&upload.key, &format!("bytes={}-", b1 - 3))
        .await
        .unwrap();
    assert!(open == whole[b1 - 3..]);

    // HEAD shows what the upload was given.
    let head = f
        .objects
        .read_object(
            &f.user,
            GetObjectInput {
                bucket: BUCKET.to_owned(),
                key: upload.key.clone(),
                ..Default::default()
            },
            false,
        )
        .await
        .unwrap();
    assert_eq!(head.record, stored.record);
    assert!(head.body.is_none());

    // CopyObject reads through the parts into a single blob.
    f.objects
        .copy_object(
            &f.user,
            CopyObjectInput {
                bucket: BUCKET.to_owned(),
                key: "copy".to_owned(),
                copy_source: format!("{BUCKET}/{}", upload.key),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(f.get("copy", "").await.unwrap() == whole);
    assert!(
        f.get("copy", &format!("bytes={}-{}", b1 - 2, b1 + 2))
            .await
            .unwrap()
            == whole[b1 - 2..=b1 + 2]
    );

    // Deleted: every part's blob stays for the grace period (a GET under way may be
    // reading it), then goes with a sweep.
    f.objects
        .delete_object(&f.user, BUCKET, &upload.key)
        .await
        .unwrap();
    assert_eq!(f.blob_files().await.len(), 4);
    assert_eq!(f.sweep(Utc::now() - chrono::Duration::hours(1)).await, 0);
    assert_eq!(f.sweep_all().await, 3);
    assert_eq!(f.blob_files().await.len(), 1, "only the copy is left");
    assert_eq!(f.pending().await, Vec::<String>::new());
}

#[tokio::test]
async fn completion_checks_order_etags_and_sizes() {
    let f = fixture().await;
    let upload = f.create("k", SseRequest::default()).await;
    let small1 = f.part(&upload, 1, b"first").await.unwrap();
    let small2 = f.part(&upload, 2, b"second").await.unwrap();
    let (e1, e2) = (small1.etag.as_str(), small2.etag.as_str());

    assert_eq!(
        f.complete(&upload, &[]).await.unwrap_err(),
        ObjectError::MalformedXml
    );
    for order in [[(2, e2), (1, e1)], [(1, e1), (1, e1)]] {
        let error = f.complete(&upload, &order).await.unwrap_err();
        assert_eq!(
            error,
            ObjectError::InvalidPartOrder {
                upload_id: upload.upload_id.clone()
            }
        );
        assert_eq!(error.answer().s3_code, "InvalidPartOrder");
        assert_eq!(
            error.to_string(),
            "The list of parts was not in ascending order. Parts must be ordered by part number."
        );
    }
    let error = f.complete(&upload, &[(1, e1), (3, e2)]).await.unwrap_err();
    assert_eq!(
        error,
        ObjectError::InvalidPart {
            upload_id: upload.upload_id.clone(),
            part_number: 3,
            etag: e2.to_owned()
        }
    );
    assert_eq!(
        (error.answer().s3_code, error.answer().http_status),
        ("InvalidPart", 400)
    );
    assert_eq!(
        error.to_string(),
        "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    );
    let wrong = "\"00000000000000000000000000000000\"";
    assert!(matches!(
        f.complete(&upload, &[(1, wrong)]).await,
        Err(ObjectError::InvalidPart { part_number: 1, .. })
    ));
    let error = f.complete(&upload, &[(1, e1), (2, e2)]).await.unwrap_err();
    assert_eq!(
        error,
        ObjectError::EntityTooSmall {
            part_number: 1,
            etag: e1.to_owned(),
            proposed_size: 5,
            min_size_allowed: MIN_PART_SIZE
        }
    );
    assert_eq!(
        error.to_string(),
        "Your proposed upload is smaller than the minimum allowed object size."
    );

    // Upload ids are per bucket and key.
    let elsewhere = MultipartUpload {
        key: "other-key".to_owned(),
        ..upload.clone()
    };
    let error = f.complete(&elsewhere, &[(1, e1)]).await.unwrap_err();
    assert_eq!(error, ObjectError::NoSuchUpload(upload.upload_id.clone()));
    assert_eq!(
        {
            let answer = error.answer();
            (answer.s3_code, answer.http_status, answer.grpc_code)
        },
        ("NoSuchUpload", 404, tonic::Code::NotFound)
    );
    assert_eq!(
        error.to_string(),
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    );
    assert_eq!(error.fields(), vec![("UploadId", upload.upload_id.clone())]);
    for bogus in ["", "nope", "bad\0id"] {
        let unknown = MultipartUpload {
            upload_id: bogus.to_owned(),
            ..upload.clone()
        };
        assert!(matches!(
            f.part(&unknown, 1, b"x").await,
            Err(ObjectError::NoSuchUpload(_))
        ));
    }

    // Part numbers outside 1..=10000.
    for number in [0, 10_001, -5] {
        let error = f.part(&upload, number, b"x").await.unwrap_err();
        assert_eq!(
            error.fields(),
            vec![
                ("ArgumentName", "partNumber".to_owned()),
                ("ArgumentValue", number.to_string())
            ]
        );
    }

    // A body of the wrong length or a failing body leaves nothing behind.
    let before = f.blob_files().await;
    let short = f
        .objects
        .upload_part(
            &f.user,
            UploadPartInput {
                bucket: BUCKET.to_owned(),
                key: "k".to_owned(),
                upload_id: upload.upload_id.clone(),
                part_number: 3,
                content_length: Some(100),
            },
            body(b"only this"),
        )
        .await;
    assert_eq!(short.unwrap_err(), ObjectError::IncompleteBody);
    let failing = body(&data(300_001, 7)).chain(futures::stream::iter([Err(BlobError::Body(
        "client went away".into(),
    ))]));
    let broken = f
        .objects
        .upload_part(
            &f.user,
            UploadPartInput {
                bucket: BUCKET.to_owned(),
                key: "k".to_owned(),
                upload_id: upload.upload_id.clone(),
                part_number: 2,
                content_length: None,
            },
            failing,
        )
        .await;
    assert!(matches!(broken, Err(ObjectError::InvalidRequest(_))));
    assert_eq!(f.blob_files().await, before);
    assert_eq!(f.pending().await, Vec::<String>::new());

    // Errors change nothing: one part, of any size, completes (the failed retry of
    // part 2 left the stored part 2 alone).
    let stored = f.complete(&upload, &[(2, e2)]).await.unwrap();
    assert_eq!(stored.record.size, 6);
    assert_eq!(f.get("k", "").await.unwrap(), b"second");
    // Part 1 was not listed: gone.
    assert_eq!(f.blob_files().await.len(), 1);
    assert_eq!(f.pending().await, Vec::<String>::new());
}

#[tokio::test]
async fn aborting_frees_the_parts_at_once() {
    let f = fixture().await;
    let upload = f.create("aborted", SseRequest::default()).await;
    f.part(&upload, 1, &data(1000, 1)).await.unwrap();
    f.part(&upload, 2, &data(2000, 2)).await.unwrap();
    assert_eq!(f.blob_files().await.len(), 2);
    let other_key = f
        .objects
        .abort_multipart_upload(&f.user, BUCKET, "other", &upload.upload_id)
        .await;
    assert!(matches!(other_key, Err(ObjectError::NoSuchUpload(_))));

    f.objects
        .abort_multipart_upload(&f.user, BUCKET, &upload.key, &upload.upload_id)
        .await
        .unwrap();
    assert_eq!(f.blob_files().await, Vec::<String>::new());
    assert_eq!(f.pending().await, Vec::<String>::new());
    assert!(matches!(
        f.objects
            .abort_multipart_upload(&f.user, BUCKET, &upload.key, &upload.upload_id)
            .await,
        Err(ObjectError::NoSuchUpload(_))
    ));
    assert!(matches!(
        f.part(&upload, 3, b"late").await,
        Err(ObjectError::NoSuchUpload(_))
    ));
    assert_eq!(f.blob_files().await, Vec::<String>::new());

    // Uploads idle past the limit are aborted by the sweep.
    let idle = f.create("idle", SseRequest::default()).await;
    f.part(&idle, 1, b"abandoned").await.unwrap();
    assert_eq!(f.sweep_all().await, 0);
    sqlx::query("UPDATE uploads SET initiated = initiated - interval '8 days'")
        .execute(f.objects.store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE upload_parts SET last_modified = last_modified - interval '8 days'")
        .execute(f.objects.store.pool())
        .await
        .unwrap();
    assert_eq!(f.sweep_all().await, 1);
    assert_eq!(f.blob_files().await, Vec::<String>::new());
    assert!(matches!(
        f.part(&idle, 2, b"too late").await,
        Err(ObjectError::NoSuchUpload(_))
    ));
}

#[tokio::test]
async fn listing_uploads_with_prefix_delimiter_and_markers() {
    let f = fixture().await;
    let a1 = f.create("a", SseRequest::default()).await;
    // Upload ids order by initiation time (in milliseconds).
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let a2 = f.create("a", SseRequest::default()).await;
    let x = f.create("dir/x", SseRequest::default()).await;
    let y = f.create("dir/y", SseRequest::default()).await;
    let list = |prefix: &'static str,
                delimiter: &'static str,
                key_marker: String,
                id_marker: String,
                max: Option<i32>| {
        let objects = &f.objects;
        let user = &f.user;
        async move {
            objects
                .list_multipart_uploads(
                    user,
                    BUCKET,
                    prefix,
                    delimiter,
                    &key_marker,
                    &id_marker,
                    max,
                )
                .await
                .unwrap()
        }
    };
    let ids = |listing: &UploadListing| -> Vec<String> {
        listing
            .uploads
            .iter()
            .map(|u| u.upload_id.clone())
            .collect()
    };
    // Same key: initiation order.
    let all = list("", "", String::new(), String::new(), None).await;
    assert_eq!(
        ids(&all),
        [
            a1.upload_id.as_str(),
            a2.upload_id.as_str(),
            x.upload_id.as_str(),
            y.upload_id.as_str()
        ]
    );
    let first = list("", "", String::new(), String::new(), Some(1)).await;
    assert!(first.is_truncated);
    assert_eq!(first.next_key_marker.as_deref(), Some("a"));
    assert_eq!(
        first.next_upload_id_marker.as_deref(),
        Some(a1.upload_id.as_str())
    );
    let second = list("", "", "a".into(), a1.upload_id.clone(), Some(2)).await;
    assert_eq!(ids(&second), [a2.upload_id.as_str(), x.upload_id.as_str()]);
    let rolled = list("", "/", String::new(), String::new(), None).await;
    assert_eq!(ids(&rolled), [a1.upload_id.as_str(), a2.upload_id.as_str()]);
    assert_eq!(rolled.common_prefixes, ["dir/"]);
    let under = list("dir/", "/", String::new(), String::new(), None).await;
    assert_eq!(ids(&under), [x.upload_id.as_str(), y.upload_id.as_str()]);
    // The upload-id marker means nothing without a key marker.
    let ignored = list("", "", String::new(), y.upload_id.clone(), None).await;
    assert_eq!(ids(&ignored).len(), 4);
    assert!(matches!(
        f.objects
            .list_multipart_uploads(&f.user, BUCKET, "", "", "", "", Some(-1))
            .await,
        Err(ObjectError::InvalidArgument { .. })
    ));
    assert!(matches!(
        f.objects
            .list_multipart_uploads(&Requester::anonymous(), BUCKET, "", "", "", "", None)
            .await,
        Err(ObjectError::AccessDenied(_))
    ));
}

#[tokio::test]
async fn replacing_objects_with_and_by_multipart_ones_frees_their_blobs() {
    let f = fixture().await;
    f.put_single("k", b"single").await;
    let upload = f.create("k", SseRequest::default()).await;
    let p1 = data(MIN_PART_SIZE as usize, 5);
    let e1 = f.part(&upload, 1, &p1).await.unwrap().etag;
    let e2 = f.part(&upload, 2, b"tail").await.unwrap().etag;
    // The single-PUT object is still there until completion.
    assert_eq!(f.get("k", "").await.unwrap(), b"single");
    f.complete(&upload, &[(1, &e1), (2, &e2)]).await.unwrap();
    assert!(f.get("k", "").await.unwrap() == [p1.as_slice(), b"tail"].concat());
    assert_eq!(f.blob_files().await.len(), 2);

    // Replaced by a small object, which keeps its ciphertext in its row: the part
    // blobs are all that was left, and the sweep removes them.
    f.put_single("k", b"single again").await;
    f.sweep_all().await;
    assert_eq!(f.blob_files().await.len(), 0);
    assert_eq!(f.get("k", "").await.unwrap(), b"single again");
    assert_eq!(f.pending().await, Vec::<String>::new());
}

#[tokio::test]
async fn swapped_part_blobs_are_never_served() {
    // Two parts of one upload share the data key but not the nonce prefix: a part
    // blob put in another's place fails authentication.
    let f = fixture().await;
    let upload = f.create("swap", SseRequest::default()).await;
    let p1 = data(MIN_PART_SIZE as usize, 1);
    let p2 = data(MIN_PART_SIZE as usize, 2);
    let e1 = f.part(&upload, 1, &p1).await.unwrap().etag;
    let e2 = f.part(&upload, 2, &p2).await.unwrap().etag;
    let blobs = f.part_blobs(&upload.upload_id).await;
    f.complete(&upload, &[(1, &e1), (2, &e2)]).await.unwrap();
    let path = |i: usize| f.objects.blobs.local_path(&blobs[i].1).unwrap();
    let (first, second) = (
        std::fs::read(path(0)).unwrap(),
        std::fs::read(path(1)).unwrap(),
    );
    std::fs::write(path(0), &second).unwrap();
    std::fs::write(path(1), &first).unwrap();
    assert!(matches!(
        f.get("swap", "").await,
        Err(ObjectError::Corrupt(_))
    ));
    assert!(matches!(
        f.get("swap", "bytes=10-20").await,
        Err(ObjectError::Corrupt(_))
    ));
    // A part cut short is caught too.
    std::fs::write(path(0), &first).unwrap();
    std::fs::write(path(1), &second[..second.len() - 1]).unwrap();
    assert!(matches!(
        f.get("swap", "").await,
        Err(ObjectError::Corrupt(_))
    ));
    std::fs::write(path(1), &second).unwrap();
    assert!(f.get("swap", "").await.unwrap() == [p1, p2].concat());
}

#[tokio::test]
async fn sse_kms_uploads_ask_kms_for_the_caller_on_every_part() {
    let f = fixture().await;
    let mut user_kms = f.kms.client(Who::User1);
    let key = keyhold_tests::kms::console_key(
        &mut user_kms,
        &["AWSLabsUser-0001"],
        &["AWSLabsUser-0001"],
    )
    .await;
    let kms_sse = SseRequest {
        server_side_encryption: "aws:kms".to_owned(),
        kms_key_id: key.key_id.clone(),
        ..Default::default()
    };
    let upload = f.create("secret.bin", kms_sse.clone()).await;
    assert_eq!(upload.encryption.algorithm, SseAlgorithm::AwsKms);
    assert_eq!(
        upload.encryption.kms_key_arn.as_deref(),
        Some(key.arn.as_str())
    );
    assert_eq!(
        upload.encryption.encryption_context["aws:s3:arn"],
        format!("arn:aws:s3:::{BUCKET}/secret.bin")
    );
    let p1 = data(MIN_PART_SIZE as usize + 1, 11);
    let p2 = data(4321, 12);
    let first = f.part(&upload, 1, &p1).await.unwrap();
    let second = f.part(&upload, 2, &p2).await.unwrap();
    // As for single PUTs, SSE-KMS ETags are not the MD5 of the plaintext.
    assert_ne!(first.etag, format!("\"{}\"", md5_hex(&p1)));
    assert_eq!(strip_quotes(&first.etag).len(), 32);
    assert_eq!(
        second.encryption.kms_key_arn.as_deref(),
        Some(key.arn.as_str())
    );
    let stored = f
        .complete(&upload, &[(1, &first.etag), (2, &second.etag)])
        .await
        .unwrap();
    assert!(stored.record.etag.ends_with("-2\""));
    assert_eq!(
        stored.record.encryption.kms_key_arn.as_deref(),
        Some(key.arn.as_str())
    );
    let whole = [p1.as_slice(), &p2].concat();
    assert!(f.get("secret.bin", "").await.unwrap() == whole);
    let b = p1.len();
    assert!(
        f.get("secret.bin", &format!("bytes={}-{}", b - 5, b + 5))
            .await
            .unwrap()
            == whole[b - 5..=b + 5]
    );

    // The AWS managed key when the request names none.
    let managed = f
        .create(
            "managed",
            SseRequest {
                server_side_encryption: "aws:kms".to_owned(),
                ..Default::default()
            },
        )
        .await;
    assert!(managed.encryption.kms_key_arn.is_some());
    let only = f.part(&managed, 1, b"managed").await.unwrap();
    f.complete(&managed, &[(1, &only.etag)]).await.unwrap();
    assert_eq!(f.get("managed", "").await.unwrap(), b"managed");

    // Removed from the key users, the user uploads no more parts (kms:Decrypt).
    let revoked = f.create("revoked", kms_sse).await;
    f.part(&revoked, 1, b"before").await.unwrap();
    f.kms
        .client(Who::Root)
        .remove_key_user(RemoveKeyUserRequest {
            key_id: key.key_id.clone(),
            principal: "AWSLabsUser-0001".into(),
        })
        .await
        .unwrap();
    let before = f.blob_files().await;
    let refused = f.part(&revoked, 2, b"after").await.unwrap_err();
    assert!(
        matches!(&refused, ObjectError::AccessDenied(message) if message.contains("kms:Decrypt")),
        "{refused:?}"
    );
    assert_eq!(f.blob_files().await, before);
    assert!(matches!(
        f.get("secret.bin", "").await,
        Err(ObjectError::AccessDenied(_))
    ));
}
