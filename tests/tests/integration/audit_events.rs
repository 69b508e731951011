//! Each kms-svc RPC produces the expected CloudTrail record: its name, readOnly,
//! the key it touched, parameters without secrets; refusals carry their error code.

use keyhold_proto::kms::v1::*;
use keyhold_tests::{
    KmsHarness, Who,
    kms::{USER3_ARN, lab_user_key},
    rpcs::{Rpc, call, fixture},
};

fn read_only(rpc: Rpc) -> bool {
    matches!(
        rpc,
        Rpc::DescribeKey
            | Rpc::ListKeys
            | Rpc::ListAliases
            | Rpc::GetKeyPolicy
            | Rpc::ListKeyPolicies
            | Rpc::Encrypt
            | Rpc::Decrypt
            | Rpc::ReEncrypt
            | Rpc::GenerateDataKey
            | Rpc::GenerateDataKeyWithoutPlaintext
            | Rpc::GenerateRandom
    )
}

#[tokio::test]
async fn every_rpc_is_recorded_as_aws_records_it() {
    let kms = KmsHarness::start().await;
    let mut root = kms.client(Who::Root);
    for (case, rpc) in Rpc::ALL.into_iter().enumerate() {
        let f = fixture(&mut root, rpc, case).await;
        let named = |events: &[keyhold_platform::CloudTrailEvent]| {
            events
                .iter()
                .filter(|e| e.event_name == rpc.name())
                .cloned()
                .collect::<Vec<_>>()
        };
        let before = named(&kms.sink.events()).len();
        let total = kms.sink.events().len();
        call(&mut kms.client(Who::Root), rpc, &f, &mut root)
            .await
            .unwrap_or_else(|e| panic!("{rpc:?}: {e:?}"));
        let events = kms.events_at_least(total + 1).await;
        let mine = named(&events);
        assert_eq!(mine.len(), before + 1, "{rpc:?} recorded once");
        let event = serde_json::to_value(mine.last().unwrap()).unwrap();

        assert_eq!(event["eventSource"], "kms.amazonaws.com", "{rpc:?}");
        assert_eq!(event["readOnly"], read_only(rpc), "{rpc:?} readOnly");
        assert_eq!(event["userIdentity"]["type"], "Root", "{rpc:?}");
        assert!(event.get("errorCode").is_none(), "{rpc:?} succeeded");
        if !rpc.targets_no_key() || rpc == Rpc::CreateKey {
            let arns: Vec<&str> = event["resources"]
                .as_array()
                .map(|r| r.iter().filter_map(|r| r["ARN"].as_str()).collect())
                .unwrap_or_default();
            let expected_arn = if rpc == Rpc::CreateKey {
                event["responseElements"]["keyMetadata"]["arn"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            } else {
                f.key_arn.clone()
            };
            assert!(
                arns.contains(&expected_arn.as_str()),
                "{rpc:?} resources {arns:?}"
            );
        }
        let parameters = event["requestParameters"].to_string();
        for secret_field in ["plaintext", "ciphertextBlob"] {
            assert!(
                !parameters.contains(secret_field),
                "{rpc:?} parameters show {secret_field}: {parameters}"
            );
        }
        if read_only(rpc) {
            assert_eq!(
                event["responseElements"],
                serde_json::Value::Null,
                "{rpc:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_refused_decrypt_is_recorded_with_access_denied() {
    let kms = KmsHarness::start().await;
    let mut root = kms.client(Who::Root);
    let key = lab_user_key(&mut root).await;
    let blob = root
        .encrypt(EncryptRequest {
            key_id: key.key_id.clone(),
            plaintext: b"x".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ciphertext_blob;
    let total = kms.sink.events().len();
    kms.client(Who::User3)
        .decrypt(DecryptRequest {
            ciphertext_blob: blob,
            ..Default::default()
        })
        .await
        .expect_err("AWSLabsUser-0003 is in no statement");
    let events = kms.events_at_least(total + 1).await;
    let refused = events.last().unwrap();
    assert_eq!(refused.event_name, "Decrypt");
    assert_eq!(refused.error_code.as_deref(), Some("AccessDenied"));
    assert_eq!(
        refused.error_message.as_deref(),
        Some(format!("User: {USER3_ARN} is not authorized to perform: kms:Decrypt on resource: {} because no resource-based policy allows the kms:Decrypt action", key.arn).as_str())
    );
    assert_eq!(refused.resources[0].arn, key.arn);
    assert_eq!(
        refused.user_identity.user_name.as_deref(),
        Some("AWSLabsUser-0003")
    );
}

#[tokio::test]
async fn the_request_id_is_keyholds_and_the_clients_is_kept_aside() {
    let kms = KmsHarness::start().await;
    let mut root = kms.client(Who::Root);
    let call = || {
        let mut request = tonic::Request::new(GenerateRandomRequest { number_of_bytes: 8 });
        request
            .metadata_mut()
            .insert("x-request-id", "my-id-1".parse().unwrap());
        request
    };
    let mut answered = Vec::new();
    for _ in 0..2 {
        let response = root.generate_random(call()).await.unwrap();
        answered.push(
            response
                .metadata()
                .get("x-amzn-requestid")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    // An id a record cannot keep: too long.
    let mut long = tonic::Request::new(GenerateRandomRequest { number_of_bytes: 8 });
    long.metadata_mut()
        .insert("x-request-id", "x".repeat(129).parse().unwrap());
    root.generate_random(long).await.unwrap();

    let events = kms.events_at_least(3).await;
    let ids: Vec<&str> = events.iter().map(|e| e.request_id.as_str()).collect();
    assert_ne!(
        ids[0], ids[1],
        "one requestID per call, whatever the client sends"
    );
    assert_eq!(ids[..2], answered, "the id the response names");
    for event in &events[..2] {
        assert!(uuid::Uuid::parse_str(&event.request_id).is_ok());
        assert_eq!(
            event.additional_event_data,
            Some(serde_json::json!({"clientRequestId": "my-id-1"}))
        );
    }
    assert_eq!(events[2].additional_event_data, None);
}
