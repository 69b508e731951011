//! docs/lab.md steps 3-6 through the S3 REST endpoint, with the official AWS SDK for Rust
//! as the signed user and a plain HTTP client as the browser: the SSE-KMS upload,
//! the object URL refused anonymously (403, then the SigV4 400 once public), the
//! presigned URL that opens it, a public SSE-S3 object readable by URL, and key-user
//! revocation stopping the next GET and PUT.

use std::time::Duration;

use aws_sdk_s3::{
    presigning::PresigningConfig,
    primitives::ByteStream,
    types::{
        ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
        ServerSideEncryption,
    },
};
use keyhold_proto::kms::v1 as kms;
use keyhold_tests::{
    ObjectHarness, Who,
    kms::USER1_ARN,
    lab::{self, BUCKET, IMAGE, SIGV4, image},
    s3::{http, sdk_error, xml_field},
    s3_sdk::get_object_output,
};

#[tokio::test]
async fn the_lab_over_the_s3_endpoint() {
    let (harness, mut kms_user, key) = lab::start().await;
    let s3 = harness.s3(Who::User1);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    // Step 3: upload with SSE-KMS; the response names the key by ARN.
    let image = image();
    let put = s3
        .put_object()
        .bucket(BUCKET)
        .key(IMAGE)
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/myFirstKey")
        .body(ByteStream::from(image.clone()))
        .send()
        .await
        .expect("PUT with SSE-KMS");
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(put.ssekms_key_id(), Some(key.arn.as_str()));

    // Step 4: the user opens it; the object URL, opened anonymously, is refused.
    let got = get_object_output(&s3, BUCKET, IMAGE).await;
    assert_eq!(got.ssekms_key_id(), Some(key.arn.as_str()));
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        image.as_slice()
    );
    let url = harness.object_url(BUCKET, IMAGE);
    let refused = http().get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let request_id = refused.headers()["x-amz-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let xml = refused.text().await.unwrap();
    assert_eq!(xml_field(&xml, "Code").as_deref(), Some("AccessDenied"));
    assert_eq!(xml_field(&xml, "Message").as_deref(), Some("Access Denied"));
    assert_eq!(xml_field(&xml, "RequestId"), Some(request_id));

    // Step 5: BPA off, ACLs on, public-read: the URL now says SigV4 is required.
    s3.delete_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    s3.put_bucket_ownership_controls()
        .bucket(BUCKET)
        .ownership_controls(
            OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::BucketOwnerPreferred)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    s3.put_object_acl()
        .bucket(BUCKET)
        .key(IMAGE)
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let refused = http().get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let xml = refused.text().await.unwrap();
    assert_eq!(xml_field(&xml, "Code").as_deref(), Some("InvalidArgument"));
    assert_eq!(xml_field(&xml, "Message").as_deref(), Some(SIGV4));
    assert_eq!(
        xml_field(&xml, "ArgumentName").as_deref(),
        Some("Authorization")
    );
    assert_eq!(xml_field(&xml, "ArgumentValue").as_deref(), Some("null"));

    // The console's Open button: a presigned URL opens it.
    let presigned = s3
        .get_object()
        .bucket(BUCKET)
        .key(IMAGE)
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let opened = http().get(presigned.uri()).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    assert_eq!(
        opened.headers()["x-amz-server-side-encryption-aws-kms-key-id"],
        key.arn.as_str()
    );
    assert_eq!(opened.bytes().await.unwrap().as_ref(), image.as_slice());

    // A public object without SSE-KMS is readable by its URL.
    let public = b"public SSE-S3 bytes".to_vec();
    let put = s3
        .put_object()
        .bucket(BUCKET)
        .key("public.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from(public.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let opened = http()
        .get(harness.object_url(BUCKET, "public.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);
    assert_eq!(opened.headers()["x-amz-server-side-encryption"], "AES256");
    assert_eq!(opened.bytes().await.unwrap().as_ref(), public.as_slice());

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
    let error = s3
        .get_object()
        .bucket(BUCKET)
        .key(IMAGE)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        sdk_error(&error),
        ("AccessDenied".to_owned(), denied_decrypt.clone())
    );
    let error = s3
        .put_object()
        .bucket(BUCKET)
        .key("again.png")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/myFirstKey")
        .body(ByteStream::from(image.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        sdk_error(&error),
        (
            "AccessDenied".to_owned(),
            denied_decrypt.replace("kms:Decrypt", "kms:GenerateDataKey")
        )
    );
    let opened = http().get(presigned.uri()).send().await.unwrap();
    assert_eq!(opened.status(), 403, "a presigned URL stops working too");
}

#[tokio::test]
async fn data_events_show_how_each_request_was_authenticated() {
    let harness = ObjectHarness::start().await;
    let s3 = harness.s3(Who::User1);
    s3.create_bucket().bucket("audited").send().await.unwrap();
    s3.put_object()
        .bucket("audited")
        .key("a.txt")
        .body(ByteStream::from_static(b"twelve bytes"))
        .send()
        .await
        .unwrap();
    let presigned = s3
        .get_object()
        .bucket("audited")
        .key("a.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    assert_eq!(
        http().get(presigned.uri()).send().await.unwrap().status(),
        200
    );
    let anonymous = http()
        .get(harness.object_url("audited", "a.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403);
    drop(anonymous);

    let events = harness.events_at_least(4).await;
    let put = events.iter().find(|e| e.event_name == "PutObject").unwrap();
    assert_eq!(put.event_source, "s3.amazonaws.com");
    assert_eq!(put.event_category, "Data");
    assert!(!put.management_event);
    assert_eq!(put.user_identity.arn.as_deref(), Some(USER1_ARN));
    let data = put.additional_event_data.as_ref().unwrap();
    assert_eq!(data["SignatureVersion"], "SigV4");
    assert_eq!(data["AuthenticationMethod"], "AuthHeader");
    assert_eq!(data["bytesTransferredIn"], 12);
    assert_eq!(put.request_parameters["bucketName"], "audited");
    assert_eq!(put.request_parameters["key"], "a.txt");
    assert_eq!(
        put.response_elements["x-amz-server-side-encryption"],
        "AES256"
    );
    let arns: Vec<&str> = put.resources.iter().map(|r| r.arn.as_str()).collect();
    assert_eq!(arns, ["arn:aws:s3:::audited/a.txt", "arn:aws:s3:::audited"]);

    let gets: Vec<_> = events
        .iter()
        .filter(|e| e.event_name == "GetObject")
        .collect();
    assert_eq!(gets.len(), 2);
    let presigned_get = gets.iter().find(|e| e.error_code.is_none()).unwrap();
    let data = presigned_get.additional_event_data.as_ref().unwrap();
    assert_eq!(data["AuthenticationMethod"], "QueryString");
    assert_eq!(data["bytesTransferredOut"], 12);
    assert!(presigned_get.read_only);
    let anonymous_get = gets.iter().find(|e| e.error_code.is_some()).unwrap();
    assert_eq!(anonymous_get.error_code.as_deref(), Some("AccessDenied"));
    assert_eq!(anonymous_get.user_identity.kind, "Unknown");
    assert_eq!(anonymous_get.user_identity.account_id, "anonymous");
    let data = anonymous_get.additional_event_data.as_ref().unwrap();
    assert!(data.get("SignatureVersion").is_none());
}
