//! docs/lab.md steps 3-6 over gRPC, with kms-svc and object-svc running: upload with an
//! SSE-KMS override, read back as the user, anonymous reads refused (then the SigV4
//! InvalidArgument once the object is public), a public SSE-S3 object readable
//! anonymously, and key-user revocation stopping the very next GET and PUT.

use keyhold_proto::{kms::v1 as kms, object::v1::*};
use keyhold_tests::texts::ACCESS_DENIED;
use keyhold_tests::{
    Who, assert_error,
    kms::USER1_ARN,
    lab::{self, BUCKET, IMAGE, SIGV4, image},
    object::{get, put, put_header, sse_kms},
};
use tonic::Code;

#[tokio::test]
async fn the_lab_over_grpc() {
    let (harness, mut kms_user, key) = lab::start().await;

    let mut user = harness.client(Who::User1);
    let mut anonymous = harness.client(Who::Anonymous);
    user.create_bucket(CreateBucketRequest {
        bucket: BUCKET.into(),
        ..Default::default()
    })
    .await
    .unwrap();

    // Step 3: upload, overriding the bucket default (SSE-S3) with SSE-KMS.
    let image = image();
    let put_response = put(
        &mut user,
        sse_kms(BUCKET, IMAGE, "alias/myFirstKey"),
        &image,
    )
    .await
    .expect("PUT with SSE-KMS");
    assert_eq!(put_response.server_side_encryption, "aws:kms");
    assert_eq!(put_response.ssekms_key_id, key.arn);
    assert_eq!(put_response.size, image.len() as u64);

    // Step 4: the user opens it; anonymous gets AccessDenied (BPA is on).
    let (head, bytes) = get(&mut user, BUCKET, IMAGE)
        .await
        .expect("GET as the user");
    assert_eq!(bytes, image);
    assert_eq!(head.ssekms_key_id, key.arn);
    assert_eq!(head.server_side_encryption, "aws:kms");
    assert_error(
        get(&mut anonymous, BUCKET, IMAGE).await,
        Code::PermissionDenied,
        "AccessDenied",
        ACCESS_DENIED,
    );

    // Step 5: BPA off, ACLs on, public-read: now the SigV4 InvalidArgument.
    user.delete_public_access_block(DeletePublicAccessBlockRequest {
        bucket: BUCKET.into(),
    })
    .await
    .unwrap();
    user.put_bucket_ownership_controls(PutBucketOwnershipControlsRequest {
        bucket: BUCKET.into(),
        ownership_controls: Some(OwnershipControls {
            rules: vec![OwnershipControlsRule {
                object_ownership: "BucketOwnerPreferred".into(),
            }],
        }),
    })
    .await
    .unwrap();
    user.put_object_acl(PutObjectAclRequest {
        bucket: BUCKET.into(),
        key: IMAGE.into(),
        acl: "public-read".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let status = get(&mut anonymous, BUCKET, IMAGE).await.unwrap_err();
    assert_eq!(
        (
            status.code(),
            keyhold_tests::exception(&status).as_str(),
            status.message()
        ),
        (Code::InvalidArgument, "InvalidArgument", SIGV4)
    );
    let info = tonic_types::StatusExt::get_error_details(&status)
        .error_info()
        .cloned()
        .unwrap();
    assert_eq!(
        info.metadata.get("ArgumentName").map(String::as_str),
        Some("Authorization")
    );
    assert_eq!(
        info.metadata.get("ArgumentValue").map(String::as_str),
        Some("null")
    );

    // The same, without SSE-KMS, is readable anonymously.
    let public = b"public SSE-S3 bytes".to_vec();
    let sse_s3 = put(
        &mut user,
        PutObjectHeader {
            acl: "public-read".into(),
            ..put_header(BUCKET, "public.txt")
        },
        &public,
    )
    .await
    .unwrap();
    assert_eq!(sse_s3.server_side_encryption, "AES256");
    assert_eq!(sse_s3.ssekms_key_id, "");
    let (_, bytes) = get(&mut anonymous, BUCKET, "public.txt").await.unwrap();
    assert_eq!(bytes, public);

    // Step 6: remove the user from the key users: the very next GET and PUT fail.
    kms_user
        .remove_key_user(kms::RemoveKeyUserRequest {
            key_id: key.key_id.clone(),
            principal: "AWSLabsUser-0001".into(),
        })
        .await
        .unwrap();
    let denied_decrypt = format!(
        "User: {USER1_ARN} is not authorized to perform: kms:Decrypt on resource: {} because no resource-based policy allows the kms:Decrypt action",
        key.arn
    );
    assert_error(
        get(&mut user, BUCKET, IMAGE).await,
        Code::PermissionDenied,
        "AccessDenied",
        &denied_decrypt,
    );
    let denied_generate = denied_decrypt.replace("kms:Decrypt", "kms:GenerateDataKey");
    assert_error(
        put(
            &mut user,
            sse_kms(BUCKET, "again.png", "alias/myFirstKey"),
            &image,
        )
        .await,
        Code::PermissionDenied,
        "AccessDenied",
        &denied_generate,
    );

    // Add the user back: access is restored at once.
    kms_user
        .add_key_user(kms::AddKeyUserRequest {
            key_id: key.key_id.clone(),
            principal: "AWSLabsUser-0001".into(),
        })
        .await
        .unwrap();
    let (_, bytes) = get(&mut user, BUCKET, IMAGE).await.unwrap();
    assert_eq!(bytes, image);

    // Disable the key: KMS.DisabledException; enable: works again.
    kms_user
        .disable_key(kms::DisableKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
    assert_error(
        get(&mut user, BUCKET, IMAGE).await,
        Code::FailedPrecondition,
        "KMS.DisabledException",
        &format!("{} is disabled.", key.arn),
    );
    assert_error(
        put(&mut user, sse_kms(BUCKET, "again.png", &key.key_id), &image).await,
        Code::FailedPrecondition,
        "KMS.DisabledException",
        &format!("{} is disabled.", key.arn),
    );
    kms_user
        .enable_key(kms::EnableKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
    let (_, bytes) = get(&mut user, BUCKET, IMAGE).await.unwrap();
    assert_eq!(bytes, image);
}
