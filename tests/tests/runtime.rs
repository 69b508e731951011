//! What a user and a Kubernetes operator see of the running service: health,
//! reflection, audit records, and the binary's start-up failures and shutdown.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use keyhold_proto::kms::v1::*;
use keyhold_tests::{KmsHarness, TestDatabase, Who, kms::test_principals};
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
        let status = health.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner().status;
        assert_eq!(status, 1, "SERVING for {service:?}");
    }

    let mut reflection = ServerReflectionClient::new(kms.channel());
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(MessageRequest::ListServices(String::new())) };
    let mut responses = reflection.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = responses.message().await.unwrap().unwrap().message_response else {
        panic!("a list of services");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in ["keyhold.kms.v1.KmsService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"] {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
}

#[tokio::test]
async fn audit_records_show_parameters_but_never_secrets() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let key = user
        .create_key(CreateKeyRequest {
            description: "KMS Key for S3 data".into(),
            key_users: vec!["AWSLabsUser-0001".into()],
            key_administrators: vec!["AWSLabsUser-0001".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .key_metadata
        .unwrap();
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
        .generate_data_key(GenerateDataKeyRequest { key_id: key.key_id.clone(), key_spec: "AES_256".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();

    let events = kms.sink.events();
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
    assert_eq!(create["userIdentity"]["accessKeyId"], "AKIAKEYHOLDDEVUSER01");
    assert_eq!(create["requestParameters"]["description"], "KMS Key for S3 data");
    assert_eq!(create["responseElements"]["keyMetadata"]["keyId"], key.key_id);
    assert_eq!(create["resources"][0]["ARN"], key.arn);
    assert_eq!(create["resources"][0]["type"], "AWS::KMS::Key");
    assert_eq!(create["sourceIPAddress"], "127.0.0.1");

    let encrypt = serde_json::to_value(&events[1]).unwrap();
    assert_eq!(encrypt["readOnly"], true);
    assert_eq!(encrypt["responseElements"], serde_json::Value::Null);
    assert_eq!(encrypt["requestParameters"], serde_json::json!({"keyId": key.key_id, "encryptionContext": {"purpose": "audit"}}));

    // No form of a secret appears anywhere in any record.
    use base64::Engine;
    let all = serde_json::to_string(&events).unwrap();
    for secret_bytes in [&secret, &encrypted.ciphertext_blob, &data_key.plaintext, &data_key.ciphertext_blob] {
        let encoded = base64::engine::general_purpose::STANDARD.encode(secret_bytes);
        assert!(!all.contains(&encoded), "a secret leaked into the audit records");
    }
    assert!(!all.contains("the plaintext nobody may log"));
}

/// The kms-svc binary built beside this test.
fn kms_svc_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let binary = exe.parent().unwrap().parent().unwrap().join("kms-svc");
    assert!(binary.exists(), "{} is missing: run `cargo build --bins` (cargo test --workspace does)", binary.display());
    binary
}

fn workdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("keyhold-bin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("principals.json"), test_principals()).unwrap();
    std::fs::write(dir.join("master.key"), keyhold_crypto::MasterKey::generate().to_base64()).unwrap();
    dir
}

fn kms_svc(dir: &std::path::Path, database_url: &str, listen: &str) -> Command {
    let mut command = Command::new(kms_svc_binary());
    command
        .env_clear()
        .env("KEYHOLD_LISTEN", listen)
        .env("KEYHOLD_DATABASE_URL", database_url)
        .env("KEYHOLD_PRINCIPALS_FILE", dir.join("principals.json"))
        .env("KEYHOLD_MASTER_KEY_FILE", dir.join("master.key"))
        .env("KEYHOLD_SHUTDOWN_GRACE_SECONDS", "5");
    command
}

#[test]
fn an_unreachable_database_stops_the_binary_with_one_line() {
    let dir = workdir();
    let output = kms_svc(&dir, "postgres://postgres@127.0.0.1:1/keyhold_kms", "127.0.0.1:0").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("kms-svc: cannot reach the database postgres://127.0.0.1:1/keyhold_kms: "),
        "{stderr}"
    );

    let output = kms_svc(&dir, "postgres://postgres@127.0.0.1:1/keyhold_kms", "127.0.0.1:0")
        .env_remove("KEYHOLD_MASTER_KEY_FILE")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "kms-svc: no master key: set KEYHOLD_MASTER_KEY_FILE (or KEYHOLD_MASTER_KEY)\n"
    );
}

#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let database = TestDatabase::create().await;
    let dir = workdir();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let address = format!("127.0.0.1:{port}");
    let mut child = kms_svc(&dir, &database.url, &address).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}")).unwrap().connect_lazy();
    let mut health = HealthClient::new(channel);
    let started = Instant::now();
    loop {
        let check = health.check(HealthCheckRequest { service: String::new() }).await;
        if check.is_ok_and(|r| r.into_inner().status == 1) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "kms-svc did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(stopped.elapsed() < Duration::from_secs(10), "kms-svc did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    let mut logs = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut logs).unwrap();
    assert!(logs.contains("shutdown signal received"), "{logs}");
    assert!(logs.contains("stopped"), "{logs}");
}
