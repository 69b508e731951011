//! The metrics an operator scrapes from kms-svc and object-svc (`--metrics-listen`):
//! calls per gRPC method and per S3 operation, by error code, with their durations;
//! the key cache's hits and misses; the database pool.

use keyhold_proto::kms::v1::{DecryptRequest, GenerateRandomRequest};
use keyhold_tests::{
    KmsHarness, ObjectHarness, TestDatabase, Who, free_address, kms::lab_user_key, labelled_metric,
    metric, s3::http, s3_sdk::create_bucket, s3_sdk::put_kms, scrape,
};

const GENERATE_RANDOM: &str = "keyhold.kms.v1.KmsService/GenerateRandom";
const DECRYPT: &str = "keyhold.kms.v1.KmsService/Decrypt";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_cache_and_pool_show_in_the_metrics() {
    let (kms_metrics, object_metrics) = (free_address(), free_address());
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    let kms_flag = kms_metrics.to_string();
    let kms = KmsHarness::start_with_flags(database, url, &["--metrics-listen", &kms_flag]).await;
    let object_flag = object_metrics.to_string();
    let harness = ObjectHarness::start_beside(kms, &["--metrics-listen", &object_flag]).await;

    let mut root = harness.kms.client(Who::Root);
    for _ in 0..3 {
        root.generate_random(GenerateRandomRequest { number_of_bytes: 8 })
            .await
            .unwrap();
    }
    let refused = root
        .decrypt(DecryptRequest {
            ciphertext_blob: b"not a ciphertext".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let key = lab_user_key(&mut harness.kms.client(Who::User1)).await;
    let s3 = harness.s3(Who::User1);
    create_bucket(&s3, "metered").await;
    put_kms(&s3, "metered", "a.txt", &key.key_id, b"metered").await;
    put_kms(&s3, "metered", "b.txt", &key.key_id, b"metered").await;
    let anonymous = http()
        .get(harness.object_url("metered", "a.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403);

    let kms_text = scrape(kms_metrics).await;
    let calls = |text: &str, operation: &str, error_code: &str| {
        labelled_metric(
            text,
            "keyhold_grpc_server_requests_total",
            &[("operation", operation), ("error_code", error_code)],
        )
    };
    assert_eq!(
        calls(&kms_text, GENERATE_RANDOM, ""),
        Some(3.0),
        "{kms_text}"
    );
    let decrypt_error = keyhold_platform::error::exception_of(&refused).unwrap();
    assert_eq!(
        calls(&kms_text, DECRYPT, &decrypt_error),
        Some(1.0),
        "{kms_text}"
    );
    assert_eq!(
        labelled_metric(
            &kms_text,
            "keyhold_grpc_server_request_duration_seconds_count",
            &[("operation", GENERATE_RANDOM)],
        ),
        Some(3.0),
        "{kms_text}"
    );
    // Two PUTs under one key: the first reads it from the database, the second (no
    // change since) from memory.
    let hits = metric(&kms_text, "keyhold_key_cache_hits_total").unwrap();
    let misses = metric(&kms_text, "keyhold_key_cache_misses_total").unwrap();
    assert!(hits >= 1.0 && misses >= 1.0, "{kms_text}");
    assert_eq!(
        metric(&kms_text, "keyhold_db_pool_connections_max"),
        Some(16.0)
    );
    assert!(metric(&kms_text, "keyhold_db_pool_connections_idle").unwrap() >= 1.0);

    let object_text = scrape(object_metrics).await;
    let s3_calls = |operation: &str, error_code: &str| {
        labelled_metric(
            &object_text,
            "keyhold_s3_requests_total",
            &[("operation", operation), ("error_code", error_code)],
        )
    };
    assert_eq!(s3_calls("PutObject", ""), Some(2.0), "{object_text}");
    assert_eq!(s3_calls("CreateBucket", ""), Some(1.0), "{object_text}");
    assert_eq!(
        s3_calls("GetObject", "AccessDenied"),
        Some(1.0),
        "{object_text}"
    );
    assert_eq!(
        labelled_metric(
            &object_text,
            "keyhold_s3_request_duration_seconds_count",
            &[("operation", "PutObject")],
        ),
        Some(2.0),
        "{object_text}"
    );
    assert!(
        metric(&object_text, "keyhold_db_pool_connections_max").is_some(),
        "{object_text}"
    );
}
