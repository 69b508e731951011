//! Issue 12, section 5: no caller shapes an S3 request's CloudTrail record.
//! requestParameters come from what the operation parsed (the routed bucket and
//! key, the real Host, the parameters the operation takes), and requestID is
//! always keyhold's: a client's x-request-id is kept apart, as
//! additionalEventData.clientRequestId, as for gRPC.

use aws_sdk_s3::primitives::ByteStream;
use keyhold_tests::{
    ObjectHarness, Who,
    s3::{Payload, RawSigner, send_raw},
};

async fn harness_with_object() -> ObjectHarness {
    let harness = ObjectHarness::start().await;
    let s3 = harness.s3(Who::User1);
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    s3.put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"the object"))
        .send()
        .await
        .unwrap();
    harness
}

#[tokio::test]
async fn query_parameters_cannot_overwrite_recorded_fields() {
    let harness = harness_with_object().await;
    let host = harness.s3_address.to_string();
    let url = format!(
        "{}/bkt/k?bucketName=other&key=innocent.txt&Host=evil.example&prefix=p",
        harness.s3_endpoint()
    );
    let (headers, _) = RawSigner::new(Who::User1).sign("GET", &url, &[], Payload::Bytes(b""));
    let (status, body) = send_raw("GET", &url, &headers, Vec::new()).await;
    assert_eq!((status, body.as_str()), (200, "the object"));

    let events = harness.events_at_least(3).await;
    let get = events
        .iter()
        .find(|e| e.event_name == "GetObject")
        .expect("the GetObject record");
    assert_eq!(
        get.request_parameters,
        serde_json::json!({"bucketName": "bkt", "Host": host, "key": "k"}),
        "{:#}",
        get.request_parameters
    );
}

#[tokio::test]
async fn the_parameters_an_operation_takes_are_recorded() {
    let harness = harness_with_object().await;
    harness
        .s3(Who::User1)
        .list_objects_v2()
        .bucket("bkt")
        .prefix("k")
        .max_keys(5)
        .send()
        .await
        .unwrap();
    let events = harness.events_at_least(3).await;
    let list = events
        .iter()
        .find(|e| e.event_name == "ListObjectsV2")
        .expect("the ListObjectsV2 record");
    let parameters = &list.request_parameters;
    assert_eq!(parameters["bucketName"], "bkt", "{parameters:#}");
    assert_eq!(parameters["prefix"], "k", "{parameters:#}");
    assert_eq!(parameters["max-keys"], "5", "{parameters:#}");
    assert_eq!(parameters["list-type"], "2", "{parameters:#}");
    // The SDK's own markers are not parameters of the operation.
    assert_eq!(parameters.get("x-id"), None, "{parameters:#}");
}

#[tokio::test]
async fn request_ids_are_keyholds_and_a_clients_is_kept_apart() {
    let harness = harness_with_object().await;
    let url = harness.object_url("bkt", "k");
    let get = |client_id: &str| {
        let (mut headers, _) =
            RawSigner::new(Who::User1).sign("GET", &url, &[], Payload::Bytes(b""));
        headers.push(("x-request-id".to_owned(), client_id.to_owned()));
        let url = url.clone();
        async move { send_raw("GET", &url, &headers, Vec::new()).await }
    };
    // One id, used twice; one too long to keep.
    assert_eq!(get("my-id-1").await.0, 200);
    assert_eq!(get("my-id-1").await.0, 200);
    let long = "x".repeat(129);
    assert_eq!(get(&long).await.0, 200);

    let events = harness.events_at_least(5).await;
    let gets: Vec<_> = events
        .iter()
        .filter(|e| e.event_name == "GetObject")
        .collect();
    assert_eq!(gets.len(), 3);
    assert_ne!(gets[0].request_id, gets[1].request_id);
    for event in &gets {
        assert_ne!(event.request_id, "my-id-1");
        assert_eq!(event.request_id.len(), 16, "{}", event.request_id);
    }
    let client_id = |event: &keyhold_platform::CloudTrailEvent| {
        event.additional_event_data.as_ref().unwrap()["clientRequestId"].clone()
    };
    assert_eq!(client_id(gets[0]), "my-id-1");
    assert_eq!(client_id(gets[1]), "my-id-1");
    assert_eq!(client_id(gets[2]), serde_json::Value::Null);
}
