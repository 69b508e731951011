//! Multipart upload through the S3 endpoint, as `aws s3 cp` and the SDKs' transfer
//! managers do it: a 20 MiB SSE-KMS object in parts (one retried), read back whole
//! and across part boundaries; S3's refusals of bad completions; aborts; listings.

use aws_sdk_s3::{
    Client,
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart, MultipartUpload, ServerSideEncryption},
};
use keyhold_proto::kms::v1 as kms;
use keyhold_tests::{Who, kms::lab_user_key, s3::sdk_error, s3_sdk, seeded_bytes};

const MIB: usize = 1024 * 1024;

async fn upload_part(
    s3: &Client,
    key: &str,
    upload_id: &str,
    number: i32,
    bytes: &[u8],
) -> CompletedPart {
    let part = s3
        .upload_part()
        .bucket("parts")
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .body(ByteStream::from(bytes.to_vec()))
        .send()
        .await
        .unwrap();
    CompletedPart::builder()
        .part_number(number)
        .e_tag(part.e_tag().unwrap())
        .build()
}

async fn complete(
    s3: &Client,
    key: &str,
    upload_id: &str,
    parts: Vec<CompletedPart>,
) -> Result<String, (String, String)> {
    s3.complete_multipart_upload()
        .bucket("parts")
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map(|out| out.e_tag().unwrap_or_default().to_owned())
        .map_err(|e| sdk_error(&e))
}

async fn create_upload(s3: &Client, key: &str) -> String {
    s3.create_multipart_upload()
        .bucket("parts")
        .key(key)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned()
}

/// The S3 code of an UploadPart that fails.
async fn refused_part(
    s3: &Client,
    key: &str,
    upload_id: &str,
    number: i32,
    bytes: &'static [u8],
) -> String {
    let refused = s3
        .upload_part()
        .bucket("parts")
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .body(ByteStream::from_static(bytes))
        .send()
        .await
        .unwrap_err();
    sdk_error(&refused).0
}

async fn uploads_in_progress(s3: &Client) -> Vec<MultipartUpload> {
    let listed = s3
        .list_multipart_uploads()
        .bucket("parts")
        .send()
        .await
        .unwrap();
    listed.uploads().to_vec()
}

async fn read(s3: &Client, key: &str, range: Option<&str>) -> Vec<u8> {
    let got = s3
        .get_object()
        .bucket("parts")
        .key(key)
        .set_range(range.map(str::to_owned))
        .send()
        .await
        .unwrap();
    got.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn a_20_mib_sse_kms_object_in_parts_reads_back_byte_exact() {
    let (harness, s3) = s3_sdk::start("parts").await;
    let mut kms_user = harness.kms.client(Who::User1);
    let key = lab_user_key(&mut kms_user).await;

    let object = seeded_bytes(20 * MIB + 12_345, 7);
    let created = s3
        .create_multipart_upload()
        .bucket("parts")
        .key("big.bin")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key.key_id)
        .content_type("application/x-test")
        .send()
        .await
        .unwrap();
    assert_eq!(created.ssekms_key_id(), Some(key.arn.as_str()));
    let upload_id = created.upload_id().unwrap().to_owned();

    // Parts in any order, part 2 sent twice (the retry wins).
    let chunks: Vec<&[u8]> = object.chunks(5 * MIB).collect();
    assert_eq!(chunks.len(), 5);
    let mut parts = Vec::new();
    for (index, chunk) in chunks.iter().enumerate().rev() {
        parts.push(upload_part(&s3, "big.bin", &upload_id, index as i32 + 1, chunk).await);
    }
    let garbage = seeded_bytes(5 * MIB, 99);
    upload_part(&s3, "big.bin", &upload_id, 2, &garbage).await;
    let retried = upload_part(&s3, "big.bin", &upload_id, 2, chunks[1]).await;
    parts.retain(|p| p.part_number() != Some(2));
    parts.push(retried);
    parts.sort_by_key(|p| p.part_number());

    let listed = s3
        .list_parts()
        .bucket("parts")
        .key("big.bin")
        .upload_id(&upload_id)
        .send()
        .await
        .unwrap();
    let sizes: Vec<i64> = listed.parts().iter().map(|p| p.size().unwrap()).collect();
    assert_eq!(
        sizes,
        [
            5 * MIB as i64,
            5 * MIB as i64,
            5 * MIB as i64,
            5 * MIB as i64,
            12_345
        ]
    );
    let uploads = uploads_in_progress(&s3).await;
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].upload_id(), Some(upload_id.as_str()));

    let etag = complete(&s3, "big.bin", &upload_id, parts).await.unwrap();
    assert!(etag.trim_matches('"').ends_with("-5"), "{etag}");

    let head = s3_sdk::head_object_output(&s3, "parts", "big.bin").await;
    assert_eq!(head.content_length(), Some(object.len() as i64));
    assert_eq!(head.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(head.content_type(), Some("application/x-test"));
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert!(read(&s3, "big.bin", None).await == object);
    let boundary = 5 * MIB;
    let spanning = read(
        &s3,
        "big.bin",
        Some(&format!("bytes={}-{}", boundary - 10, 3 * boundary + 10)),
    )
    .await;
    assert!(spanning == object[boundary - 10..=3 * boundary + 10]);
    assert!(read(&s3, "big.bin", Some("bytes=-100")).await == object[object.len() - 100..]);
    let after = uploads_in_progress(&s3).await;
    assert!(after.is_empty());

    // A revoked key user can no longer add parts to an upload.
    let created = s3
        .create_multipart_upload()
        .bucket("parts")
        .key("second.bin")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key.key_id)
        .send()
        .await
        .unwrap();
    kms_user
        .remove_key_user(kms::RemoveKeyUserRequest {
            key_id: key.key_id.clone(),
            principal: "AWSLabsUser-0001".into(),
        })
        .await
        .unwrap();
    let upload_id = created.upload_id().unwrap();
    assert_eq!(
        refused_part(&s3, "second.bin", upload_id, 1, b"no").await,
        "AccessDenied"
    );
}

#[tokio::test]
async fn bad_completions_are_refused_and_leave_the_upload_intact() {
    let (_harness, s3) = s3_sdk::start("parts").await;
    let upload_id = create_upload(&s3, "k").await;
    let small = seeded_bytes(MIB, 1);
    let last = seeded_bytes(1000, 2);
    let one = upload_part(&s3, "k", &upload_id, 1, &small).await;
    let two = upload_part(&s3, "k", &upload_id, 2, &last).await;

    // A part under 5 MiB that is not the last.
    assert_eq!(
        complete(&s3, "k", &upload_id, vec![one.clone(), two.clone()])
            .await
            .unwrap_err(),
        (
            "EntityTooSmall".to_owned(),
            "Your proposed upload is smaller than the minimum allowed object size.".to_owned()
        )
    );
    // Out of order.
    assert_eq!(
        complete(&s3, "k", &upload_id, vec![two.clone(), one.clone()])
            .await
            .unwrap_err()
            .0,
        "InvalidPartOrder"
    );
    // A wrong ETag, and a part that was never uploaded.
    let wrong = CompletedPart::builder()
        .part_number(1)
        .e_tag("\"0123456789abcdef0123456789abcdef\"")
        .build();
    assert_eq!(
        complete(&s3, "k", &upload_id, vec![wrong])
            .await
            .unwrap_err()
            .0,
        "InvalidPart"
    );
    let missing = CompletedPart::builder()
        .part_number(3)
        .e_tag(two.e_tag().unwrap())
        .build();
    assert_eq!(
        complete(&s3, "k", &upload_id, vec![missing])
            .await
            .unwrap_err()
            .0,
        "InvalidPart"
    );
    // Part numbers outside 1..=10000.
    assert_eq!(
        refused_part(&s3, "k", &upload_id, 10_001, b"x").await,
        "InvalidArgument"
    );
    // Nothing was created by the failures; a single small part completes.
    assert!(
        s3.head_object()
            .bucket("parts")
            .key("k")
            .send()
            .await
            .is_err()
    );
    let etag = complete(&s3, "k", &upload_id, vec![two]).await.unwrap();
    assert!(etag.trim_matches('"').ends_with("-1"));
    assert!(read(&s3, "k", None).await == last);

    // Completing again, or aborting, a finished upload: NoSuchUpload.
    let again = s3
        .abort_multipart_upload()
        .bucket("parts")
        .key("k")
        .upload_id(&upload_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_error(&again).0, "NoSuchUpload");
}

#[tokio::test]
async fn an_aborted_upload_is_gone_with_its_parts() {
    let (harness, s3) = s3_sdk::start("parts").await;
    let upload_id = create_upload(&s3, "dropped").await;
    upload_part(&s3, "dropped", &upload_id, 1, &seeded_bytes(MIB, 3)).await;
    s3.abort_multipart_upload()
        .bucket("parts")
        .key("dropped")
        .upload_id(&upload_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused_part(&s3, "dropped", &upload_id, 2, b"late").await,
        "NoSuchUpload"
    );
    assert!(uploads_in_progress(&s3).await.is_empty());
    // The part's ciphertext is gone from the blob store too.
    let mut leftovers = Vec::new();
    let mut pending = vec![harness.blob_dir()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                leftovers.push(entry.path());
            }
        }
    }
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
