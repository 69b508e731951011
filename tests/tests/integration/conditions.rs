//! Key policy conditions evaluated on real calls: kms:ViaService for a service
//! acting for a user, and the encryption context.

use keyhold_proto::kms::v1::*;
use keyhold_tests::{KmsHarness, Who, assert_error, kms::USER1_ARN, kms::lab_user_key};
use tonic::Code;

/// Root administers; AWSLabsUser-0001 may use the key only through the object
/// service, and only for objects of bucket `lab`.
fn policy() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "ThroughS3Only", "Effect": "Allow", "Principal": {"AWS": USER1_ARN},
             "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*",
             "Condition": {
                 "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
                 "StringLike": {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::lab/*"}
             }}
        ]
    })
    .to_string()
}

#[tokio::test]
async fn via_service_and_encryption_context_conditions_decide() {
    let kms = KmsHarness::start().await;
    let key = kms
        .client(Who::Root)
        .create_key(CreateKeyRequest {
            policy: policy(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .key_metadata
        .unwrap();
    let request = |bucket: &str| GenerateDataKeyRequest {
        key_id: key.key_id.clone(),
        key_spec: "AES_256".into(),
        encryption_context: [(
            "aws:s3:arn".to_owned(),
            format!("arn:aws:s3:::{bucket}/photo.png"),
        )]
        .into(),
        ..Default::default()
    };
    let denied = format!(
        "User: {USER1_ARN} is not authorized to perform: kms:GenerateDataKey on resource: {} because no resource-based policy allows the kms:GenerateDataKey action",
        key.arn
    );

    kms.client(Who::ObjectSvcForUser1)
        .generate_data_key(request("lab"))
        .await
        .expect("through the object service");
    assert_error(
        kms.client(Who::User1)
            .generate_data_key(request("lab"))
            .await,
        Code::PermissionDenied,
        "AccessDeniedException",
        &denied,
    );
    assert_error(
        kms.client(Who::ObjectSvcForUser1)
            .generate_data_key(request("other"))
            .await,
        Code::PermissionDenied,
        "AccessDeniedException",
        &denied,
    );
}

#[tokio::test]
async fn an_explicit_deny_wins_and_says_so() {
    let kms = KmsHarness::start().await;
    let mut root = kms.client(Who::Root);
    let key = lab_user_key(&mut root).await;
    let mut policy: serde_json::Value = serde_json::from_str(
        &root
            .get_key_policy(GetKeyPolicyRequest {
                key_id: key.key_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .policy,
    )
    .unwrap();
    policy["Statement"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "Sid": "NoEncryptForTheUser", "Effect": "Deny", "Principal": {"AWS": USER1_ARN},
            "Action": "kms:Encrypt", "Resource": "*"
        }));
    root.put_key_policy(PutKeyPolicyRequest {
        key_id: key.key_id.clone(),
        policy: policy.to_string(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_error(
        kms.client(Who::User1)
            .encrypt(EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: b"x".to_vec(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "AccessDeniedException",
        &format!(
            "User: {USER1_ARN} is not authorized to perform: kms:Encrypt on resource: {} with an explicit deny in a resource-based policy",
            key.arn
        ),
    );
}
