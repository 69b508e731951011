//! What object-svc keeps at rest, and what it does when that is damaged: only
//! ciphertext in the blob store and no plaintext in its database; tampered, truncated
//! or reordered blobs never served (not even the damaged segment's bytes before the
//! error); SSE-S3 keys bound to their object; a PUT cut off mid-stream leaves no
//! object and no untracked bytes, and the sweeper removes what it left; overwritten
//! and deleted objects leave no blob behind; objects survive a restart; a 20 MiB
//! object round-trips through a multipart blob upload.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    time::Duration,
};

use bytes::Bytes;
use futures::StreamExt;
use keyhold_platform::error::INTERNAL_MESSAGE;
use keyhold_proto::object::v1::*;
use keyhold_tests::{
    ObjectClient, ObjectHarness, Who, exception,
    object::{get, put, put_header, put_object, sse_kms},
    setup,
};
use sqlx::PgPool;
use tonic::{Code, Status};

const BUCKET: &str = "keyhold-at-rest";
/// Plaintext bytes per segment, and the ciphertext of a full segment (plus its tag).
const SEGMENT: usize = 64 * 1024;
const STRIDE: usize = SEGMENT + 16;
const MARKER: &[u8] = b"KEYHOLD-PLAINTEXT-MARKER";
/// Flags that make the sweeper run every second and take any unfinished upload as
/// abandoned.
const SWEEP_NOW: &[&str] = &[
    "--abandoned-upload-seconds",
    "0",
    "--blob-sweep-seconds",
    "1",
];

fn marked(len: usize) -> Vec<u8> {
    MARKER.iter().copied().cycle().take(len).collect()
}

/// Bytes that differ from segment to segment, so misplaced bytes would show.
fn patterned(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn sse_s3(bucket: &str, key: &str) -> PutObjectHeader {
    PutObjectHeader {
        server_side_encryption: "AES256".into(),
        ..put_header(bucket, key)
    }
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

async fn database(harness: &ObjectHarness) -> PgPool {
    PgPool::connect(&harness.database.url)
        .await
        .expect("connect to object-svc's database")
}

async fn blob_path(pool: &PgPool, bucket: &str, key: &str) -> String {
    sqlx::query_scalar("SELECT blob_path FROM objects WHERE bucket = $1 AND key = $2")
        .bind(bucket)
        .bind(key)
        .fetch_one(pool)
        .await
        .expect("the object's row")
}

/// The local file of blob `path` (the store keeps `blobs/<xx>/<uuid>` under blob_dir).
fn blob_file(harness: &ObjectHarness, path: &str) -> PathBuf {
    path.split('/')
        .fold(harness.blob_dir(), |file, part| file.join(part))
}

async fn pending_blobs(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT blob_path FROM pending_blobs ORDER BY blob_path")
        .fetch_all(pool)
        .await
        .expect("read pending_blobs")
}

async fn object_rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM objects")
        .fetch_one(pool)
        .await
        .expect("count objects")
}

/// The blob path a file under blob_dir holds, without a staging suffix (`#<n>`).
fn blob_path_of_file(harness: &ObjectHarness, file: &Path) -> String {
    let relative = file
        .strip_prefix(harness.blob_dir())
        .expect("a file under blob_dir");
    let text = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    match text.split_once('#') {
        Some((path, _)) => path.to_owned(),
        None => text,
    }
}

async fn wait_for<F, Fut>(what: &str, seconds: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {seconds}s waiting for {what}");
}

/// What a GetObject delivered before it ended, and how it ended.
struct Partial {
    head: Option<ObjectHead>,
    body: Vec<u8>,
    error: Option<Status>,
}

async fn read_partial(client: &mut ObjectClient, bucket: &str, key: &str, range: &str) -> Partial {
    let request = GetObjectRequest {
        bucket: bucket.into(),
        key: key.into(),
        range: range.into(),
        ..Default::default()
    };
    let mut partial = Partial {
        head: None,
        body: Vec::new(),
        error: None,
    };
    let mut stream = match client.get_object(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            partial.error = Some(status);
            return partial;
        }
    };
    loop {
        match stream.message().await {
            Ok(Some(GetObjectResponse { part })) => match part {
                Some(get_object_response::Part::Head(head)) => partial.head = Some(head),
                Some(get_object_response::Part::Chunk(chunk)) => {
                    partial.body.extend_from_slice(&chunk)
                }
                None => {}
            },
            Ok(None) => return partial,
            Err(status) => {
                partial.error = Some(status);
                return partial;
            }
        }
    }
}

#[track_caller]
fn assert_internal_error(status: Option<&Status>, case: &str) {
    let status = status.unwrap_or_else(|| panic!("{case}: the GET should fail"));
    assert_eq!(
        (status.code(), exception(status).as_str(), status.message()),
        (Code::Internal, "InternalError", INTERNAL_MESSAGE),
        "{case}: {status:?}"
    );
}

/// A failed read delivered only whole, authenticated segments from the start of the
/// range, none at or after segment `bad` (`data` is the range's plaintext,
/// `range_start` its offset in the object).
#[track_caller]
fn assert_nothing_from(partial: &Partial, data: &[u8], range_start: usize, bad: usize, case: &str) {
    assert_internal_error(partial.error.as_ref(), case);
    let got = &partial.body;
    assert!(
        data.starts_with(got),
        "{case}: delivered {} bytes that are not the range's first bytes",
        got.len()
    );
    if got.is_empty() {
        return;
    }
    let end = range_start + got.len();
    assert!(
        end <= bad * SEGMENT,
        "{case}: delivered up to byte {end}, reaching into the damaged segment {bad}"
    );
    assert!(
        end.is_multiple_of(SEGMENT),
        "{case}: delivered up to byte {end}, not a segment boundary"
    );
}

/// Fails when any 16-byte window of the repeated marker occurs in `bytes`, or in
/// `bytes` read as text holding hex (as Postgres renders bytea).
#[track_caller]
fn assert_no_marker(bytes: &[u8], what: &str) {
    let cycle = marked(MARKER.len() + 16);
    let windows: HashSet<&[u8]> = (0..MARKER.len()).map(|i| &cycle[i..i + 16]).collect();
    assert!(
        !bytes.windows(16).any(|w| windows.contains(w)),
        "{what} holds plaintext"
    );
    let text = String::from_utf8_lossy(bytes).to_lowercase();
    for window in &windows {
        let hex: String = window.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!text.contains(&hex), "{what} holds plaintext as hex");
    }
}

/// Every row of every table of a database, as JSON text.
async fn dump_database(url: &str) -> Vec<(String, String)> {
    let pool = PgPool::connect(url).await.expect("connect");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&pool)
    .await
    .expect("list tables");
    let mut rows = Vec::new();
    for table in tables {
        let sql = format!("SELECT row_to_json(t)::text FROM \"{table}\" t");
        let texts: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .expect("dump a table");
        rows.extend(texts.into_iter().map(|text| (table.clone(), text)));
    }
    pool.close().await;
    rows
}

#[tokio::test]
async fn only_ciphertext_is_at_rest() {
    let (harness, mut user) = setup::start(BUCKET).await;
    let key = setup::user_key(&harness).await;

    let kms_body = marked(300_000);
    let s3_body = marked(300_007);
    put(
        &mut user,
        sse_kms(BUCKET, "kms.bin", &key.key_id),
        &kms_body,
    )
    .await
    .expect("SSE-KMS PUT");
    put(&mut user, sse_s3(BUCKET, "s3.bin"), &s3_body)
        .await
        .expect("SSE-S3 PUT");
    assert!(get(&mut user, BUCKET, "kms.bin").await.unwrap().1 == kms_body);
    assert!(get(&mut user, BUCKET, "s3.bin").await.unwrap().1 == s3_body);
    // Small objects (up to one 64 KiB segment) keep their ciphertext in their row; one
    // byte more and it is a blob.
    let small_kms = marked(4096);
    let small_s3 = marked(SEGMENT);
    let edge = marked(SEGMENT + 1);
    put(
        &mut user,
        sse_kms(BUCKET, "small-kms.bin", &key.key_id),
        &small_kms,
    )
    .await
    .expect("small SSE-KMS PUT");
    put(&mut user, sse_s3(BUCKET, "small-s3.bin"), &small_s3)
        .await
        .expect("small SSE-S3 PUT");
    put(&mut user, sse_s3(BUCKET, "edge.bin"), &edge)
        .await
        .expect("SSE-S3 PUT of one segment and a byte");
    for (name, body) in [
        ("small-kms.bin", &small_kms),
        ("small-s3.bin", &small_s3),
        ("edge.bin", &edge),
    ] {
        assert!(
            get(&mut user, BUCKET, name).await.unwrap().1 == *body,
            "{name}"
        );
    }

    let files = files_under(&harness.blob_dir());
    assert_eq!(
        files.len(),
        3,
        "one blob per object of more than a segment: {files:?}"
    );
    for file in &files {
        let bytes = std::fs::read(file).expect("read a blob");
        assert_no_marker(&bytes, &format!("blob {}", file.display()));
        // Blob names are random, never the bucket or key.
        let name = file.display().to_string();
        assert!(!name.contains(BUCKET) && !name.contains(".bin"), "{name}");
    }

    let rows = dump_database(&harness.database.url).await;
    assert!(
        rows.iter().filter(|(table, _)| table == "objects").count() == 5,
        "every object has a row"
    );
    for (table, row) in &rows {
        assert_no_marker(row.as_bytes(), &format!("object-svc table {table}"));
    }
    for (table, row) in dump_database(&harness.kms.database.url).await {
        assert_no_marker(row.as_bytes(), &format!("kms-svc table {table}"));
    }

    // The dump shows bytea as hex: the inline ciphertext is checked as bytes, and
    // is the object's one sealed segment.
    let pool = database(&harness).await;
    let inline: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT key, inline_ciphertext FROM objects \
         WHERE inline_ciphertext IS NOT NULL ORDER BY key",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let inline_sizes: Vec<(&str, usize)> =
        inline.iter().map(|(k, c)| (k.as_str(), c.len())).collect();
    assert_eq!(
        inline_sizes,
        [("small-kms.bin", 4096 + 16), ("small-s3.bin", SEGMENT + 16)]
    );
    for (object, ciphertext) in &inline {
        assert_no_marker(ciphertext, &format!("inline ciphertext of {object}"));
    }

    // The stored data keys are wrapped (a raw AES-256 key would be 32 bytes), and
    // an SSE-KMS one is what kms-svc returned, under the key used.
    let keys: Vec<(String, i32, Option<String>)> = sqlx::query_as(
        "SELECT key, octet_length(wrapped_key), kms_key_arn FROM objects ORDER BY key",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(keys.len(), 5);
    for (object, wrapped_len, arn) in &keys {
        assert!(
            *wrapped_len > 32,
            "{object}: wrapped key of {wrapped_len} bytes"
        );
        let sse_kms = object.contains("kms");
        assert_eq!(
            arn.as_deref(),
            sse_kms.then_some(key.arn.as_str()),
            "{object}"
        );
    }
}

#[tokio::test]
async fn tampered_blobs_are_never_served() {
    let (harness, mut user) = setup::start(BUCKET).await;
    // Five segments, the last one short.
    let data = patterned(300_000);
    put(&mut user, sse_s3(BUCKET, "victim"), &data)
        .await
        .unwrap();
    let pool = database(&harness).await;
    let file = blob_file(&harness, &blob_path(&pool, BUCKET, "victim").await);
    let original = std::fs::read(&file).expect("the blob file");
    assert_eq!(original.len(), 300_000 + 5 * 16);
    assert_eq!(files_under(&harness.blob_dir()), vec![file.clone()]);

    // (a) One flipped byte: the GET fails and serves nothing of that segment.
    for (at, bad) in [
        (2 * STRIDE + STRIDE / 2, 2),
        (0, 0),
        (2 * STRIDE - 1, 1), // the tag of segment 1
        (4 * STRIDE + 10, 4),
        (original.len() - 1, 4),
    ] {
        let mut tampered = original.clone();
        tampered[at] ^= 0x01;
        std::fs::write(&file, &tampered).unwrap();
        let whole = read_partial(&mut user, BUCKET, "victim", "").await;
        assert_nothing_from(&whole, &data, 0, bad, &format!("byte {at} flipped"));
        assert_eq!(
            whole.head.map(|h| h.size),
            Some(data.len() as u64),
            "the head goes first"
        );
    }

    // Deep into a 6 MiB object: the authenticated segments before the damaged one
    // stream out, then the error; nothing of the damaged segment or after it.
    let big = patterned(6 << 20);
    put(&mut user, sse_s3(BUCKET, "big-victim"), &big)
        .await
        .unwrap();
    let big_file = blob_file(&harness, &blob_path(&pool, BUCKET, "big-victim").await);
    let big_original = std::fs::read(&big_file).unwrap();
    for bad in [90, 95] {
        let mut tampered = big_original.clone();
        tampered[bad * STRIDE + 5] ^= 0x20;
        std::fs::write(&big_file, &tampered).unwrap();
        let whole = read_partial(&mut user, BUCKET, "big-victim", "").await;
        let case = format!("6 MiB object, segment {bad} damaged");
        assert_nothing_from(&whole, &big, 0, bad, &case);
        assert!(
            !whole.body.is_empty(),
            "{case}: a streaming read serves the segments before the damaged one"
        );
    }
    std::fs::write(&big_file, &big_original).unwrap();
    assert!(get(&mut user, BUCKET, "big-victim").await.unwrap().1 == big);

    // (d) With segment 2 damaged, ranges within other segments are still served
    // (only the segments a range touches are read); ranges touching it fail.
    let mut tampered = original.clone();
    tampered[2 * STRIDE + 1234] ^= 0x80;
    std::fs::write(&file, &tampered).unwrap();
    for (range, first, last) in [
        ("bytes=0-131071", 0, 131_071),
        ("bytes=100-200", 100, 200),
        ("bytes=196608-", 196_608, 299_999),
        ("bytes=250000-260000", 250_000, 260_000),
        ("bytes=-1000", 299_000, 299_999),
    ] {
        let partial = read_partial(&mut user, BUCKET, "victim", range).await;
        assert!(partial.error.is_none(), "{range}: {:?}", partial.error);
        assert!(partial.body == data[first..=last], "{range}");
    }
    for (range, first, last) in [
        ("bytes=131072-131072", 131_072, 131_072),
        ("bytes=100000-140000", 100_000, 140_000),
        ("bytes=0-", 0, 299_999),
        ("bytes=131072-196607", 131_072, 196_607),
        ("bytes=150000-299999", 150_000, 299_999),
    ] {
        let partial = read_partial(&mut user, BUCKET, "victim", range).await;
        assert_nothing_from(&partial, &data[first..=last], first, 2, range);
    }

    // (b) Truncated by a whole segment's ciphertext, by the final segment (what
    // remains ends with a segment not sealed as last), by one byte, to nothing;
    // and one byte longer. Even a range in the intact start fails: the size is off.
    for (case, damaged) in [
        (
            "one segment shorter",
            original[..original.len() - STRIDE].to_vec(),
        ),
        ("final segment dropped", original[..4 * STRIDE].to_vec()),
        ("one byte shorter", original[..original.len() - 1].to_vec()),
        ("empty", Vec::new()),
        ("one byte longer", [original.as_slice(), &[0]].concat()),
    ] {
        std::fs::write(&file, &damaged).unwrap();
        let whole = read_partial(&mut user, BUCKET, "victim", "").await;
        assert_nothing_from(&whole, &data, 0, 0, case);
        let start = read_partial(&mut user, BUCKET, "victim", "bytes=0-99").await;
        assert_nothing_from(&start, &data[..100], 0, 0, &format!("{case}, bytes=0-99"));
    }

    // (c) Two segments swapped (same size, both correctly sealed, wrong place).
    for (i, j) in [(1, 2), (0, 3)] {
        let mut swapped = original.clone();
        let (low, high) = swapped.split_at_mut(j * STRIDE);
        low[i * STRIDE..(i + 1) * STRIDE].swap_with_slice(&mut high[..STRIDE]);
        std::fs::write(&file, &swapped).unwrap();
        let whole = read_partial(&mut user, BUCKET, "victim", "").await;
        assert_nothing_from(
            &whole,
            &data,
            0,
            i,
            &format!("segments {i} and {j} swapped"),
        );
        let moved = format!("bytes={}-{}", j * SEGMENT, j * SEGMENT + 9);
        let partial = read_partial(&mut user, BUCKET, "victim", &moved).await;
        assert_nothing_from(
            &partial,
            &data[j * SEGMENT..j * SEGMENT + 10],
            j * SEGMENT,
            j,
            &moved,
        );
    }

    // A segment spliced in from another object (same position, same size, sealed
    // under that object's key).
    let donor = patterned(300_000)
        .iter()
        .map(|b| b ^ 0x5a)
        .collect::<Vec<u8>>();
    put(&mut user, sse_s3(BUCKET, "donor"), &donor)
        .await
        .unwrap();
    let donor_blob = std::fs::read(blob_file(
        &harness,
        &blob_path(&pool, BUCKET, "donor").await,
    ))
    .unwrap();
    let mut spliced = original.clone();
    spliced[STRIDE..2 * STRIDE].copy_from_slice(&donor_blob[STRIDE..2 * STRIDE]);
    std::fs::write(&file, &spliced).unwrap();
    let whole = read_partial(&mut user, BUCKET, "victim", "").await;
    assert_nothing_from(&whole, &data, 0, 1, "segment 1 spliced from another object");

    // A missing blob is an internal error too, not an empty object.
    std::fs::remove_file(&file).unwrap();
    let missing = read_partial(&mut user, BUCKET, "victim", "").await;
    assert_nothing_from(&missing, &data, 0, 0, "blob missing");

    // Restored: served again.
    std::fs::write(&file, &original).unwrap();
    let (_, body) = get(&mut user, BUCKET, "victim").await.unwrap();
    assert!(body == data);
    let _ = std::fs::remove_dir_all(harness.blob_dir());
}

/// Runs `sql` with `$1` BUCKET and `$2` `key`, for tampering with a stored row.
async fn tamper_row(pool: &PgPool, sql: &'static str, key: &str) {
    let done = sqlx::query(sql)
        .bind(BUCKET)
        .bind(key)
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
}

#[tokio::test]
async fn tampered_inline_ciphertext_is_never_served() {
    let (harness, mut user) = setup::start(BUCKET).await;
    let pool = database(&harness).await;
    let data = patterned(4096);
    put(&mut user, sse_s3(BUCKET, "victim"), &data)
        .await
        .unwrap();
    let original: Vec<u8> =
        sqlx::query_scalar("SELECT inline_ciphertext FROM objects WHERE bucket = $1 AND key = $2")
            .bind(BUCKET)
            .bind("victim")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(original.len(), 4096 + 16, "stored with its row");
    let restore = || async {
        sqlx::query(
            "UPDATE objects SET inline_ciphertext = $2 WHERE bucket = $1 AND key = 'victim'",
        )
        .bind(BUCKET)
        .bind(&original)
        .execute(&pool)
        .await
        .unwrap();
    };
    for (case, sql) in [
        (
            "a byte flipped",
            "UPDATE objects SET inline_ciphertext = \
             set_byte(inline_ciphertext, 100, get_byte(inline_ciphertext, 100) # 1) \
             WHERE bucket = $1 AND key = $2",
        ),
        (
            "the tag flipped",
            "UPDATE objects SET inline_ciphertext = \
             set_byte(inline_ciphertext, 4100, get_byte(inline_ciphertext, 4100) # 128) \
             WHERE bucket = $1 AND key = $2",
        ),
        (
            "one byte shorter",
            "UPDATE objects SET inline_ciphertext = \
             substring(inline_ciphertext FROM 1 FOR 4111) WHERE bucket = $1 AND key = $2",
        ),
        (
            "one byte longer",
            "UPDATE objects SET inline_ciphertext = inline_ciphertext || '\\x00'::bytea \
             WHERE bucket = $1 AND key = $2",
        ),
        (
            "empty",
            "UPDATE objects SET inline_ciphertext = ''::bytea WHERE bucket = $1 AND key = $2",
        ),
    ] {
        tamper_row(&pool, sql, "victim").await;
        for range in ["", "bytes=0-99"] {
            let partial = read_partial(&mut user, BUCKET, "victim", range).await;
            assert_internal_error(partial.error.as_ref(), &format!("{case} {range}"));
            assert!(partial.body.is_empty(), "{case} {range}: served bytes");
        }
        restore().await;
    }

    // Another small object's ciphertext (sealed under its own key) in the row.
    let donor = marked(4096);
    put(&mut user, sse_s3(BUCKET, "donor"), &donor)
        .await
        .unwrap();
    tamper_row(
        &pool,
        "UPDATE objects v SET inline_ciphertext = d.inline_ciphertext FROM objects d \
         WHERE d.bucket = $1 AND d.key = 'donor' AND v.bucket = $1 AND v.key = $2",
        "victim",
    )
    .await;
    let partial = read_partial(&mut user, BUCKET, "victim", "").await;
    assert_internal_error(partial.error.as_ref(), "another object's ciphertext");
    assert!(partial.body.is_empty());
    // And all of the donor (key, nonce prefix, bytes): only the binding of the data
    // key to bucket and key stops the victim's name from serving the donor's bytes.
    tamper_row(
        &pool,
        "UPDATE objects v SET wrapped_key = d.wrapped_key, nonce_prefix = d.nonce_prefix, \
         etag = d.etag FROM objects d \
         WHERE d.bucket = $1 AND d.key = 'donor' AND v.bucket = $1 AND v.key = $2",
        "victim",
    )
    .await;
    let partial = read_partial(&mut user, BUCKET, "victim", "").await;
    assert_internal_error(partial.error.as_ref(), "all of the donor on the victim");
    assert!(partial.body.is_empty(), "served the donor's bytes");

    // The donor itself is untouched.
    assert!(get(&mut user, BUCKET, "donor").await.unwrap().1 == donor);
}

/// Puts A's wrapped key and nonce prefix on B's row (BUCKET/a and BUCKET/b).
async fn give_b_the_key_of_a(pool: &PgPool) {
    sqlx::query(
        "UPDATE objects b SET wrapped_key = a.wrapped_key, nonce_prefix = a.nonce_prefix \
         FROM objects a WHERE a.bucket = $1 AND a.key = 'a' AND b.bucket = $1 AND b.key = 'b'",
    )
    .bind(BUCKET)
    .execute(pool)
    .await
    .unwrap();
}

/// Copies BUCKET/a's blob to a new blob path, which it returns.
async fn copy_blob_of_a(harness: &ObjectHarness, pool: &PgPool) -> String {
    let a_path = blob_path(pool, BUCKET, "a").await;
    let copy_path = format!("blobs/zz/{}", uuid::Uuid::new_v4());
    let copy_file = blob_file(harness, &copy_path);
    std::fs::create_dir_all(copy_file.parent().unwrap()).unwrap();
    std::fs::copy(blob_file(harness, &a_path), &copy_file).unwrap();
    copy_path
}

#[tokio::test]
async fn an_sse_s3_key_opens_only_its_own_object() {
    let (harness, mut user) = setup::start(BUCKET).await;
    let a = patterned(100_000);
    let b = marked(100_000);
    put(&mut user, sse_s3(BUCKET, "a"), &a).await.unwrap();
    put(&mut user, sse_s3(BUCKET, "b"), &b).await.unwrap();
    let pool = database(&harness).await;

    // A's wrapped key and nonce prefix on B's row: B does not open.
    give_b_the_key_of_a(&pool).await;
    let partial = read_partial(&mut user, BUCKET, "b", "").await;
    assert_internal_error(partial.error.as_ref(), "A's key on B");
    assert!(partial.body.is_empty());

    // All of A on B (key, nonce prefix, a copy of A's blob, its size and ETag):
    // with A's key and bytes consistent, only the binding of the key to bucket and
    // key stops B from serving A's plaintext.
    let copy_path = copy_blob_of_a(&harness, &pool).await;
    sqlx::query(
        "UPDATE objects b SET wrapped_key = a.wrapped_key, nonce_prefix = a.nonce_prefix, \
         size = a.size, etag = a.etag, blob_path = $2 \
         FROM objects a WHERE a.bucket = $1 AND a.key = 'a' AND b.bucket = $1 AND b.key = 'b'",
    )
    .bind(BUCKET)
    .bind(&copy_path)
    .execute(&pool)
    .await
    .unwrap();
    let partial = read_partial(&mut user, BUCKET, "b", "").await;
    assert_internal_error(partial.error.as_ref(), "all of A on B");
    assert!(partial.body.is_empty(), "B served A's bytes");
    // Nor under a renamed row: A moved to key "c".
    sqlx::query("UPDATE objects SET key = 'c' WHERE bucket = $1 AND key = 'a'")
        .bind(BUCKET)
        .execute(&pool)
        .await
        .unwrap();
    let partial = read_partial(&mut user, BUCKET, "c", "").await;
    assert_internal_error(partial.error.as_ref(), "A renamed to c");
    assert!(partial.body.is_empty());
    sqlx::query("UPDATE objects SET key = 'a' WHERE bucket = $1 AND key = 'c'")
        .bind(BUCKET)
        .execute(&pool)
        .await
        .unwrap();
    // A itself is untouched.
    assert!(get(&mut user, BUCKET, "a").await.unwrap().1 == a);
}

#[tokio::test]
async fn an_sse_kms_key_opens_only_its_own_object() {
    let (harness, mut user) = setup::start(BUCKET).await;
    let key = setup::user_key(&harness).await;
    let a = patterned(100_000);
    put(&mut user, sse_kms(BUCKET, "a", &key.key_id), &a)
        .await
        .unwrap();
    put(&mut user, sse_kms(BUCKET, "b", &key.key_id), &marked(10))
        .await
        .unwrap();
    let pool = database(&harness).await;

    // Only A's wrapped key: kms-svc refuses it under B's context.
    give_b_the_key_of_a(&pool).await;
    let partial = read_partial(&mut user, BUCKET, "b", "").await;
    assert!(partial.error.is_some(), "A's key on B must not open");
    assert!(partial.body.is_empty());

    // All of A's row (with its encryption context naming A) on B, with a copy of A's
    // blob (B, small, kept its ciphertext in its row; now it points at the blob): the
    // context names another object, so B must not serve it.
    let copy_path = copy_blob_of_a(&harness, &pool).await;
    sqlx::query(
        "UPDATE objects b SET wrapped_key = a.wrapped_key, nonce_prefix = a.nonce_prefix, \
         encryption_context = a.encryption_context, size = a.size, etag = a.etag, \
         blob_path = $2, inline_ciphertext = a.inline_ciphertext \
         FROM objects a WHERE a.bucket = $1 AND a.key = 'a' AND b.bucket = $1 AND b.key = 'b'",
    )
    .bind(BUCKET)
    .bind(&copy_path)
    .execute(&pool)
    .await
    .unwrap();
    let partial = read_partial(&mut user, BUCKET, "b", "").await;
    assert!(
        partial.body.is_empty() && partial.error.is_some(),
        "B served {} bytes of A's plaintext",
        partial.body.len()
    );
}

/// Starts a PutObject of `key` that sends its header and 9 MiB (more than one 8 MiB
/// multipart part of ciphertext, so the blob store has begun writing) and then
/// nothing; once `ready` holds, the client drops the call, as a crashing client would.
async fn put_then_vanish<F, Fut>(client: &ObjectClient, key: &str, ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut messages = vec![PutObjectRequest {
        part: Some(put_object_request::Part::Header(sse_s3(BUCKET, key))),
    }];
    for i in 0..9 {
        messages.push(PutObjectRequest {
            part: Some(put_object_request::Part::Chunk(Bytes::from(vec![
                i as u8;
                1 << 20
            ]))),
        });
    }
    let body = futures::stream::iter(messages).chain(futures::stream::pending());
    let mut client = client.clone();
    let call = tokio::spawn(async move { client.put_object(body).await });
    wait_for("the upload to be under way", 20, ready).await;
    assert!(
        !call.is_finished(),
        "the PUT must still be waiting for bytes"
    );
    call.abort();
    let _ = call.await;
}

/// After a PUT was cut off: no object, no listing entry, no row.
async fn assert_no_object(harness: &ObjectHarness, user: &mut ObjectClient, key: &str) {
    let head = user
        .head_object(HeadObjectRequest {
            bucket: BUCKET.into(),
            key: key.into(),
            ..Default::default()
        })
        .await
        .expect_err("no object");
    assert_eq!(
        (head.code(), exception(&head).as_str()),
        (Code::NotFound, "NoSuchKey")
    );
    let got = get(user, BUCKET, key).await.expect_err("no object");
    assert_eq!(
        (got.code(), exception(&got).as_str()),
        (Code::NotFound, "NoSuchKey")
    );
    let listing = user
        .list_objects_v2(ListObjectsV2Request {
            bucket: BUCKET.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listing.key_count, 0);
    assert!(listing.contents.is_empty());
    assert_eq!(object_rows(&database(harness).await).await, 0);
}

#[tokio::test]
async fn a_put_cut_off_midway_leaves_no_object_and_no_untracked_bytes() {
    let (harness, mut user) = setup::start(BUCKET).await;
    let pool = database(&harness).await;

    let blob_dir = harness.blob_dir();
    put_then_vanish(&user, "cut-off.bin", || {
        let pool = pool.clone();
        let blob_dir = blob_dir.clone();
        async move { !pending_blobs(&pool).await.is_empty() && !files_under(&blob_dir).is_empty() }
    })
    .await;

    assert_no_object(&harness, &mut user, "cut-off.bin").await;
    // Whatever bytes the upload left are those of an upload object-svc tracks.
    for _ in 0..10 {
        let pending = pending_blobs(&pool).await;
        for file in files_under(&harness.blob_dir()) {
            let path = blob_path_of_file(&harness, &file);
            assert!(
                pending.contains(&path),
                "{} is neither an object's blob nor a tracked upload (pending: {pending:?})",
                file.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A later PUT of the key works; it is small (kept in its row), so once the
    // cut-off upload's bytes are gone no blob is left.
    put(&mut user, sse_s3(BUCKET, "cut-off.bin"), b"whole")
        .await
        .unwrap();
    assert_eq!(
        get(&mut user, BUCKET, "cut-off.bin").await.unwrap().1,
        b"whole"
    );
    wait_for("the cut-off upload's bytes to go", 10, || {
        let blob_dir = blob_dir.clone();
        async move { files_under(&blob_dir).is_empty() }
    })
    .await;
}

#[tokio::test]
async fn the_sweeper_removes_what_a_cut_off_put_left() {
    let harness = ObjectHarness::start_with_flags(SWEEP_NOW).await;
    let mut user = harness.client(Who::User1);
    setup::create_bucket(&mut user, BUCKET).await;
    let pool = database(&harness).await;
    let blob_dir = harness.blob_dir();

    put_then_vanish(&user, "cut-off.bin", || {
        let blob_dir = blob_dir.clone();
        async move { !files_under(&blob_dir).is_empty() }
    })
    .await;
    assert_no_object(&harness, &mut user, "cut-off.bin").await;
    wait_for("the sweeper to remove the abandoned upload", 10, || {
        let pool = pool.clone();
        let blob_dir = blob_dir.clone();
        async move { pending_blobs(&pool).await.is_empty() && files_under(&blob_dir).is_empty() }
    })
    .await;
}

#[tokio::test]
async fn the_sweeper_removes_the_staging_file_of_a_crashed_upload() {
    // The state a process killed during a large (multipart) local upload leaves: the
    // upload's pending row and its staging file with the ciphertext written so far.
    // (Dropping the upload in-process cleans the staging file up; a crash cannot.)
    let harness = ObjectHarness::start_with_flags(SWEEP_NOW).await;
    let pool = database(&harness).await;
    let path = format!("blobs/ab/{}", uuid::Uuid::new_v4());
    let staging = blob_file(&harness, &format!("{path}#1"));
    std::fs::create_dir_all(staging.parent().unwrap()).unwrap();
    std::fs::write(&staging, patterned(9 << 20)).unwrap();
    sqlx::query(
        "INSERT INTO pending_blobs (blob_path, since, garbage) \
         VALUES ($1, now() - interval '1 hour', false)",
    )
    .bind(&path)
    .execute(&pool)
    .await
    .unwrap();

    wait_for("the sweeper to take the abandoned upload", 10, || {
        let pool = pool.clone();
        async move { pending_blobs(&pool).await.is_empty() }
    })
    .await;
    // The upload is forgotten; its bytes must be gone as well.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        files_under(&harness.blob_dir()),
        Vec::<PathBuf>::new(),
        "an abandoned upload's bytes outlive its pending row"
    );
}

/// There are `objects` object rows, exactly the blobs of those not kept in their rows
/// are on disk, and nothing is pending.
async fn only_object_blobs(harness: &ObjectHarness, pool: &PgPool, objects: usize) {
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM objects")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(rows, objects as i64);
    let paths: Vec<String> = sqlx::query_scalar(
        "SELECT blob_path FROM objects WHERE inline_ciphertext IS NULL ORDER BY blob_path",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut on_disk: Vec<String> = files_under(&harness.blob_dir())
        .iter()
        .map(|f| blob_path_of_file(harness, f))
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, paths, "exactly the objects' blobs are on disk");
    assert_eq!(pending_blobs(pool).await, Vec::<String>::new());
}

#[tokio::test]
async fn overwritten_and_deleted_objects_leave_no_blob_after_the_grace_period() {
    let flags: Vec<&str> = SWEEP_NOW
        .iter()
        .copied()
        .chain(["--replaced-blob-grace-seconds", "5"])
        .collect();
    let harness = ObjectHarness::start_with_flags(&flags).await;
    let mut user = harness.client(Who::User1);
    setup::create_bucket(&mut user, BUCKET).await;
    let key = setup::user_key(&harness).await;
    let pool = database(&harness).await;
    let blob_dir = harness.blob_dir();

    // Small objects ("first", "third") keep their ciphertext in their rows.
    put(&mut user, sse_s3(BUCKET, "k"), b"first").await.unwrap();
    only_object_blobs(&harness, &pool, 1).await;
    put(
        &mut user,
        sse_kms(BUCKET, "k", &key.key_id),
        &patterned(200_000),
    )
    .await
    .unwrap();
    only_object_blobs(&harness, &pool, 1).await;
    let replaced_path = blob_path(&pool, BUCKET, "k").await;
    put(&mut user, sse_s3(BUCKET, "k"), b"third").await.unwrap();
    assert_eq!(get(&mut user, BUCKET, "k").await.unwrap().1, b"third");
    // The replaced blob outlives its row for the grace period: a GET that read the
    // old row may still be reading it.
    assert!(blob_file(&harness, &replaced_path).exists());

    put(&mut user, sse_s3(BUCKET, "other"), &patterned(100_000))
        .await
        .unwrap();
    let deleted_path = blob_path(&pool, BUCKET, "other").await;
    for key in ["k", "other"] {
        user.delete_object(DeleteObjectRequest {
            bucket: BUCKET.into(),
            key: key.into(),
        })
        .await
        .unwrap();
    }
    assert!(blob_file(&harness, &deleted_path).exists());

    wait_for("the sweeper to remove replaced and deleted blobs", 20, || {
        let pool = pool.clone();
        let blob_dir = blob_dir.clone();
        async move { pending_blobs(&pool).await.is_empty() && files_under(&blob_dir).is_empty() }
    })
    .await;
    only_object_blobs(&harness, &pool, 0).await;
}

#[tokio::test]
async fn a_get_under_way_reads_the_old_bytes_to_the_end_through_an_overwrite_and_a_delete() {
    let (harness, mut user) = setup::start(BUCKET).await;
    let old = patterned(4 << 20);
    put(&mut user, sse_s3(BUCKET, "big"), &old).await.unwrap();

    let mut stream = user
        .get_object(GetObjectRequest {
            bucket: BUCKET.into(),
            key: "big".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // The head and the first bytes: the rest is still to be read from the blob (HTTP/2
    // flow control keeps the server from sending far ahead).
    let mut body = Vec::new();
    while body.is_empty() {
        let message = stream.next().await.expect("a message").unwrap();
        if let Some(get_object_response::Part::Chunk(bytes)) = message.part {
            body.extend_from_slice(&bytes);
        }
    }
    assert!(body.len() < old.len());

    let mut writer = harness.client(Who::User1);
    put(&mut writer, sse_s3(BUCKET, "big"), &marked(4 << 20))
        .await
        .unwrap();
    writer
        .delete_object(DeleteObjectRequest {
            bucket: BUCKET.into(),
            key: "big".into(),
        })
        .await
        .unwrap();

    while let Some(message) = stream.next().await {
        if let Some(get_object_response::Part::Chunk(bytes)) = message.unwrap().part {
            body.extend_from_slice(&bytes);
        }
    }
    assert!(body == old, "the GET did not return the old object whole");
}

#[tokio::test]
async fn objects_survive_a_restart() {
    let (harness, mut user) = setup::start(BUCKET).await;
    let key = setup::user_key(&harness).await;
    let objects = [
        ("s3.bin", sse_s3(BUCKET, "s3.bin"), patterned(200_001)),
        (
            "kms.bin",
            sse_kms(BUCKET, "kms.bin", &key.key_id),
            marked(150_000),
        ),
        ("empty", sse_s3(BUCKET, "empty"), Vec::new()),
        // Small ones (and the empty ones) are kept in their rows.
        (
            "small.bin",
            sse_kms(BUCKET, "small.bin", &key.key_id),
            marked(4096),
        ),
        (
            "kms-empty",
            sse_kms(BUCKET, "kms-empty", &key.key_id),
            Vec::new(),
        ),
    ];
    let mut heads = Vec::new();
    for (name, header, body) in &objects {
        put(&mut user, header.clone(), body).await.unwrap();
        heads.push(get(&mut user, BUCKET, name).await.unwrap().0);
    }

    let harness = harness.restart().await;
    let mut user = harness.client(Who::User1);
    for ((name, _, body), before) in objects.iter().zip(&heads) {
        let (head, bytes) = get(&mut user, BUCKET, name).await.unwrap();
        assert!(bytes == *body, "{name} reads back identical");
        assert_eq!(&head, before, "{name}");
    }
    let (_, middle) = get_range(&mut user, "kms.bin", "bytes=70000-70099").await;
    assert!(middle == objects[1].2[70_000..70_100]);
}

async fn get_range(client: &mut ObjectClient, key: &str, range: &str) -> (ObjectHead, Vec<u8>) {
    keyhold_tests::object::get_object(
        client,
        GetObjectRequest {
            bucket: BUCKET.into(),
            key: key.into(),
            range: range.into(),
            ..Default::default()
        },
    )
    .await
    .expect("range GET")
}

#[tokio::test]
async fn a_20_mib_sse_kms_object_round_trips() {
    let (harness, mut user) = setup::start(BUCKET).await;
    let key = setup::user_key(&harness).await;
    let data = patterned(20 << 20);
    let stored = put_object(
        &mut user,
        sse_kms(BUCKET, "big.bin", &key.key_id),
        &data,
        1 << 20,
    )
    .await
    .expect("20 MiB PUT");
    assert_eq!(stored.size, data.len() as u64);
    assert_eq!(stored.server_side_encryption, "aws:kms");

    let pool = database(&harness).await;
    let file = blob_file(&harness, &blob_path(&pool, BUCKET, "big.bin").await);
    let on_disk = std::fs::metadata(&file).unwrap().len();
    assert_eq!(on_disk, (20 << 20) + 320 * 16, "320 sealed segments");
    assert_eq!(files_under(&harness.blob_dir()), vec![file]);

    let (head, body) = get(&mut user, BUCKET, "big.bin").await.unwrap();
    assert_eq!(head.size, data.len() as u64);
    assert!(body == data, "20 MiB read back identical");
    // Across the 8 MiB multipart part boundary of the ciphertext.
    let part = 8 << 20;
    let range = format!("bytes={}-{}", part - 100_000, part + 100_000);
    let (head, body) = get_range(&mut user, "big.bin", &range).await;
    assert_eq!(head.content_length, 200_001);
    assert!(body == data[part - 100_000..=part + 100_000]);
    let _ = std::fs::remove_dir_all(harness.blob_dir());
}
