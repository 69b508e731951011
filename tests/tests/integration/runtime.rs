//! What a user sees of the running service: health, reflection, audit records.

use keyhold_proto::kms::v1::*;
use keyhold_tests::{KmsHarness, Who, kms::lab_user_key};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

#[tokio::test]
async fn health_and_reflection_answer_without_credentials() {
    let kms = KmsHarness::start().await;
    let mut health = HealthClient::new(kms.channel());
    for service in ["", "keyhold.kms.v1.KmsService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, 1, "SERVING for {service:?}");
    }

    let mut reflection = ServerReflectionClient::new(kms.channel());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.message().await.unwrap().unwrap().message_response
    else {
        panic!("a list of services");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "keyhold.kms.v1.KmsService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
}

#[tokio::test]
async fn audit_records_show_parameters_but_never_secrets() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let key = lab_user_key(&mut user).await;
    let secret = b"the plaintext nobody may log".to_vec();
    let encrypted = user
        .encrypt(EncryptRequest {
            key_id: key.key_id.clone(),
            plaintext: secret.clone(),
            encryption_context: [("purpose".to_owned(), "audit".to_owned())].into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let data_key = user
        .generate_data_key(GenerateDataKeyRequest {
            key_id: key.key_id.clone(),
            key_spec: "AES_256".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let events = kms.events_at_least(3).await;
    let names: Vec<&str> = events.iter().map(|e| e.event_name.as_str()).collect();
    assert_eq!(names, ["CreateKey", "Encrypt", "GenerateDataKey"]);

    let create = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(create["eventVersion"], "1.11");
    assert_eq!(create["eventSource"], "kms.amazonaws.com");
    assert_eq!(create["readOnly"], false);
    assert_eq!(create["managementEvent"], true);
    assert_eq!(create["eventCategory"], "Management");
    assert_eq!(create["userIdentity"]["type"], "IAMUser");
    assert_eq!(create["userIdentity"]["userName"], "AWSLabsUser-0001");
    assert_eq!(
        create["userIdentity"]["accessKeyId"],
        "AKIAKEYHOLDDEVUSER01"
    );
    assert_eq!(
        create["requestParameters"]["description"],
        "KMS Key for S3 data"
    );
    assert_eq!(
        create["responseElements"]["keyMetadata"]["keyId"],
        key.key_id
    );
    assert_eq!(create["resources"][0]["ARN"], key.arn);
    assert_eq!(create["resources"][0]["type"], "AWS::KMS::Key");
    assert_eq!(create["sourceIPAddress"], "127.0.0.1");

    let encrypt = serde_json::to_value(&events[1]).unwrap();
    assert_eq!(encrypt["readOnly"], true);
    assert_eq!(encrypt["responseElements"], serde_json::Value::Null);
    assert_eq!(
        encrypt["requestParameters"],
        serde_json::json!({"keyId": key.key_id, "encryptionContext": {"purpose": "audit"}})
    );

    // No form of a secret appears anywhere in any record.
    use base64::Engine;
    let all = serde_json::to_string(&events).unwrap();
    for secret_bytes in [
        &secret,
        &encrypted.ciphertext_blob,
        &data_key.plaintext,
        &data_key.ciphertext_blob,
    ] {
        let encoded = base64::engine::general_purpose::STANDARD.encode(secret_bytes);
        assert!(
            !all.contains(&encoded),
            "a secret leaked into the audit records"
        );
    }
    assert!(!all.contains("the plaintext nobody may log"));
}

#[tokio::test]
async fn calls_past_a_principals_quota_are_throttled() {
    let database = keyhold_tests::TestDatabase::create().await;
    let url = database.url.clone();
    let kms = KmsHarness::start_with_flags(database, url, &["--requests-per-second", "3"]).await;
    let mut user = kms.client(Who::User1);
    for _ in 0..3 {
        user.list_keys(ListKeysRequest::default())
            .await
            .expect("within the quota");
    }
    keyhold_tests::assert_error(
        user.list_keys(ListKeysRequest::default()).await,
        tonic::Code::ResourceExhausted,
        "ThrottlingException",
        "Rate exceeded",
    );
    kms.client(Who::User2)
        .list_keys(ListKeysRequest::default())
        .await
        .expect("another principal has its own quota");
    let throttled = kms
        .events_at_least(5)
        .await
        .into_iter()
        .filter(|e| e.error_code.as_deref() == Some("ThrottlingException"))
        .count();
    assert_eq!(throttled, 1, "the throttled call is recorded");
}
