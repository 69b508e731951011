//! docs/lab.md steps 1 and 6 over real gRPC: the key user loses access at the very next
//! request when removed from the key users, and gets it back when added again.

use keyhold_proto::kms::v1::*;
use keyhold_tests::{KmsHarness, Who, assert_error, kms::USER1_ARN, kms::lab_user_key};
use tonic::Code;

fn s3_context(bucket: &str, key: &str) -> std::collections::HashMap<String, String> {
    [(
        "aws:s3:arn".to_owned(),
        format!("arn:aws:s3:::{bucket}/{key}"),
    )]
    .into()
}

#[tokio::test]
async fn the_lab_key_is_created_used_revoked_and_restored() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);

    // Step 1: the console's key, created by the lab user.
    let created = lab_user_key(&mut user).await;
    assert!(uuid::Uuid::try_parse(&created.key_id).is_ok());
    assert_eq!(
        created.arn,
        format!("arn:aws:kms:us-east-1:000000000000:key/{}", created.key_id)
    );
    assert_eq!(
        (
            created.key_state.as_str(),
            created.key_spec.as_str(),
            created.key_usage.as_str()
        ),
        ("Enabled", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    );
    assert_eq!(created.description, "KMS Key for S3 data");
    user.create_alias(CreateAliasRequest {
        alias_name: "alias/myFirstKey".into(),
        target_key_id: created.key_id.clone(),
    })
    .await
    .expect("alias");

    let policy: serde_json::Value = serde_json::from_str(
        &user
            .get_key_policy(GetKeyPolicyRequest {
                key_id: "alias/myFirstKey".into(),
                policy_name: "default".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .policy,
    )
    .unwrap();
    let sids: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        sids,
        [
            "Enable IAM User Permissions",
            "Allow access for Key Administrators",
            "Allow use of the key",
            "Allow attachment of persistent resources"
        ]
    );
    assert_eq!(
        policy["Statement"][2]["Principal"]["AWS"],
        serde_json::json!([USER1_ARN])
    );

    // The object service asks for a data key on the user's behalf, as on a PUT.
    let mut object_svc = kms.client(Who::ObjectSvcForUser1);
    let context = s3_context("mycloudtrailbucket1", "image.png");
    let data_key = object_svc
        .generate_data_key(GenerateDataKeyRequest {
            key_id: "alias/myFirstKey".into(),
            encryption_context: context.clone(),
            key_spec: "AES_256".into(),
            ..Default::default()
        })
        .await
        .expect("GenerateDataKey for the key user")
        .into_inner();
    assert_eq!(data_key.plaintext.len(), 32);
    assert_eq!(data_key.key_id, created.arn);
    let decrypt = || DecryptRequest {
        ciphertext_blob: data_key.ciphertext_blob.clone(),
        encryption_context: context.clone(),
        ..Default::default()
    };
    let plaintext = object_svc
        .decrypt(decrypt())
        .await
        .expect("Decrypt for the key user")
        .into_inner()
        .plaintext;
    assert_eq!(plaintext, data_key.plaintext);

    // Step 6: remove the user from the key users; the very next Decrypt is refused.
    let mut root = kms.client(Who::Root);
    root.remove_key_user(RemoveKeyUserRequest {
        key_id: created.key_id.clone(),
        principal: "AWSLabsUser-0001".into(),
    })
    .await
    .expect("root edits the key users");
    let denied = format!(
        "User: {USER1_ARN} is not authorized to perform: kms:Decrypt on resource: {} because no resource-based policy allows the kms:Decrypt action",
        created.arn
    );
    assert_error(
        object_svc.decrypt(decrypt()).await,
        Code::PermissionDenied,
        "AccessDeniedException",
        &denied,
    );
    assert_error(
        user.decrypt(decrypt()).await,
        Code::PermissionDenied,
        "AccessDeniedException",
        &denied,
    );
    let denied_gdk = format!(
        "User: {USER1_ARN} is not authorized to perform: kms:GenerateDataKey on resource: {} because no resource-based policy allows the kms:GenerateDataKey action",
        created.arn
    );
    assert_error(
        object_svc
            .generate_data_key(GenerateDataKeyRequest {
                key_id: "alias/myFirstKey".into(),
                encryption_context: context.clone(),
                key_spec: "AES_256".into(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "AccessDeniedException",
        &denied_gdk,
    );

    // Still an administrator: the user may add themself back, and access returns at once.
    user.add_key_user(AddKeyUserRequest {
        key_id: "alias/myFirstKey".into(),
        principal: USER1_ARN.into(),
    })
    .await
    .expect("the administrator adds the user back");
    let plaintext = object_svc
        .decrypt(decrypt())
        .await
        .expect("Decrypt works again")
        .into_inner()
        .plaintext;
    assert_eq!(plaintext, data_key.plaintext);

    // Every call, refused ones included, was recorded: eleven calls, eleven records.
    let events = kms.events_at_least(11).await;
    assert_eq!(events.len(), 11);
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.event_name == "Decrypt" && e.error_code.as_deref() == Some("AccessDenied"))
        .collect();
    assert_eq!(refused.len(), 2);
    let via_service = refused
        .iter()
        .find(|e| e.user_identity.invoked_by.is_some())
        .expect("the object service's call");
    assert_eq!(via_service.user_identity.arn.as_deref(), Some(USER1_ARN));
    assert_eq!(
        via_service.user_identity.invoked_by.as_deref(),
        Some("s3.amazonaws.com")
    );
    assert_eq!(via_service.source_ip_address, "s3.amazonaws.com");
    assert_eq!(
        via_service.request_parameters["encryptionContext"]["aws:s3:arn"],
        "arn:aws:s3:::mycloudtrailbucket1/image.png"
    );
    assert_eq!(via_service.resources[0].arn, created.arn);
}
