//! The AWS SDK for Rust (aws-sdk-kms, aws-sdk-cloudtrail) against keyhold's AWS JSON
//! ports: the lab's KMS steps, and every bad input of kms-svc's catalogue
//! (keyhold_tests::kms_bad_inputs) raising the SDK's modelled exception (or, where
//! KMS's model has none, the code) with AWS's message.

use aws_sdk_kms::{
    Client,
    config::{BehaviorVersion, Credentials, Region},
    error::{ProvideErrorMetadata, SdkError},
    operation::{
        create_alias::CreateAliasError, decrypt::DecryptError, describe_key::DescribeKeyError,
        encrypt::EncryptError,
    },
    primitives::Blob,
    types::DataKeySpec,
};
use keyhold_tests::{
    KmsHarness, Who,
    kms::{USER1_ARN, console_policy},
    kms_bad_inputs::{BadInput, Fixture, PHASES},
    texts::{FOX, KMS_ARN_PREFIX, decrypt_denied},
    trails::TrailStack,
};

fn credentials(who: Who) -> Credentials {
    let (access_key, secret) = who.credentials().expect("keys");
    Credentials::new(access_key, secret, None, None, "keyhold-tests")
}

fn kms_client(kms: &KmsHarness, who: Who) -> Client {
    let config = aws_sdk_kms::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(kms.aws_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials(who))
        .build();
    Client::from_conf(config)
}

/// The code and message of any SDK error, modelled or not.
fn code_and_message<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> (String, String) {
    let service = error.as_service_error().expect("a service error");
    (
        service.code().unwrap_or_default().to_owned(),
        service.message().unwrap_or_default().to_owned(),
    )
}

async fn lab_key(client: &Client) -> (String, String) {
    let created = client
        .create_key()
        .description("KMS Key for S3 data")
        .policy(console_policy(&[USER1_ARN], &[USER1_ARN]))
        .send()
        .await
        .expect("CreateKey");
    let metadata = created.key_metadata().expect("KeyMetadata");
    (
        metadata.key_id().to_owned(),
        metadata.arn().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn the_lab_kms_steps_work_with_the_rust_sdk() {
    let kms = KmsHarness::start().await;
    let client = kms_client(&kms, Who::User1);
    let (key_id, arn) = lab_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/myFirstKey")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");
    let described = client
        .describe_key()
        .key_id("alias/myFirstKey")
        .send()
        .await
        .expect("DescribeKey");
    let metadata = described.key_metadata().unwrap();
    assert_eq!(metadata.arn(), Some(arn.as_str()));
    assert_eq!(metadata.aws_account_id(), Some("000000000000"));
    assert!(metadata.creation_date().is_some());
    assert!(metadata.enabled());

    let data_key = client
        .generate_data_key()
        .key_id("alias/myFirstKey")
        .key_spec(DataKeySpec::Aes256)
        .encryption_context("purpose", "lab")
        .send()
        .await
        .expect("GenerateDataKey");
    assert_eq!(data_key.plaintext().unwrap().as_ref().len(), 32);
    let decrypted = client
        .decrypt()
        .ciphertext_blob(data_key.ciphertext_blob().unwrap().clone())
        .encryption_context("purpose", "lab")
        .send()
        .await
        .expect("Decrypt the data key");
    assert_eq!(decrypted.plaintext(), data_key.plaintext());

    let encrypted = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(FOX))
        .send()
        .await
        .expect("Encrypt");
    let ciphertext = encrypted.ciphertext_blob().unwrap().clone();
    let decrypt = || client.decrypt().ciphertext_blob(ciphertext.clone()).send();
    assert_eq!(decrypt().await.unwrap().plaintext().unwrap().as_ref(), FOX);

    // The user leaves the key users: refused at once, with KMS's text (Decrypt's
    // model has no AccessDeniedException: the SDK reports it by its code).
    client
        .put_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .policy(console_policy(&[USER1_ARN], &[]))
        .send()
        .await
        .expect("PutKeyPolicy");
    let refused = decrypt().await.unwrap_err();
    assert_eq!(
        code_and_message(&refused),
        (
            "AccessDeniedException".to_owned(),
            decrypt_denied(USER1_ARN, &arn)
        )
    );
}

#[tokio::test]
async fn bad_inputs_raise_the_sdk_exception_with_the_aws_message() {
    let kms = KmsHarness::start().await;
    let client = kms_client(&kms, Who::User1);
    let (key_id, arn) = lab_key(&client).await;
    let missing = "1234abcd-12ab-34cd-56ef-1234567890ab";

    let error = client
        .describe_key()
        .key_id(missing)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        error.as_service_error(),
        Some(DescribeKeyError::NotFoundException(_))
    ));
    assert_eq!(
        code_and_message(&error).1,
        format!("Key '{KMS_ARN_PREFIX}:key/{missing}' does not exist")
    );

    let error = client
        .decrypt()
        .ciphertext_blob(Blob::new(b"not a ciphertext of this service".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        error.as_service_error(),
        Some(DecryptError::InvalidCiphertextException(_))
    ));
    assert_eq!(
        code_and_message(&error).1,
        "The ciphertext is invalid, was not made by this service, or the encryption context differs from the one used to encrypt it."
    );

    let take_alias = || {
        client
            .create_alias()
            .alias_name("alias/taken")
            .target_key_id(&key_id)
            .send()
    };
    take_alias().await.unwrap();
    let error = take_alias().await.unwrap_err();
    assert!(matches!(
        error.as_service_error(),
        Some(CreateAliasError::AlreadyExistsException(_))
    ));
    assert_eq!(
        code_and_message(&error).1,
        format!("An alias with the name {KMS_ARN_PREFIX}:alias/taken already exists")
    );

    let error = client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_message(&error),
        (
            "ValidationException".to_owned(),
            "Please specify either number of bytes or key spec.".to_owned()
        )
    );

    let encrypt = || {
        client
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(FOX))
            .send()
    };
    client.disable_key().key_id(&key_id).send().await.unwrap();
    let error = encrypt().await.unwrap_err();
    assert!(matches!(
        error.as_service_error(),
        Some(EncryptError::DisabledException(_))
    ));
    assert_eq!(code_and_message(&error).1, format!("{arn} is disabled."));

    let error = client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(6)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_message(&error),
        (
            "ValidationException".to_owned(),
            "1 validation error detected: Value '6' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 7".to_owned()
        )
    );
    client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let error = encrypt().await.unwrap_err();
    assert!(matches!(
        error.as_service_error(),
        Some(EncryptError::KmsInvalidStateException(_))
    ));
}

#[tokio::test]
async fn lookup_events_pages_with_the_rust_sdk() {
    let stack = TrailStack::start(&[]).await;
    let kms = kms_client(&stack.object.kms, Who::User1);
    let (key_id, _) = lab_key(&kms).await;
    for _ in 0..3 {
        kms.describe_key().key_id(&key_id).send().await.unwrap();
    }
    let config = aws_sdk_cloudtrail::config::Builder::new()
        .behavior_version(aws_sdk_cloudtrail::config::BehaviorVersion::latest())
        .endpoint_url(stack.cloudtrail_endpoint())
        .region(aws_sdk_cloudtrail::config::Region::new("us-east-1"))
        .credentials_provider(credentials(Who::User1))
        .build();
    let trail = aws_sdk_cloudtrail::Client::from_conf(config);
    let attribute = aws_sdk_cloudtrail::types::LookupAttribute::builder()
        .attribute_key(aws_sdk_cloudtrail::types::LookupAttributeKey::ResourceName)
        .attribute_value(&key_id)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let events = loop {
        // Pages of 2, followed by the SDK's paginator through NextToken.
        let pages: Vec<_> = trail
            .lookup_events()
            .lookup_attributes(attribute.clone())
            .max_results(2)
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .expect("LookupEvents");
        let events: Vec<_> = pages
            .iter()
            .flat_map(|page| page.events().to_vec())
            .collect();
        if events.len() >= 4 || started.elapsed() > std::time::Duration::from_secs(30) {
            break events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(events.len(), 4, "{events:?}");
    let mut names: Vec<_> = events.iter().filter_map(|e| e.event_name()).collect();
    names.sort();
    assert_eq!(
        names,
        ["CreateKey", "DescribeKey", "DescribeKey", "DescribeKey"]
    );
    assert!(events.iter().all(|e| e.event_time().is_some()));

    let error = trail
        .get_trail_status()
        .name("nope")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        error.as_service_error(),
        Some(aws_sdk_cloudtrail::operation::get_trail_status::GetTrailStatusError::TrailNotFoundException(_))
    ));
}

/// One bad input through the SDK: the code and message of what it raised (the SDK
/// picks its modelled exception by that code), or `succeeded`.
async fn sdk_outcome(client: &Client, input: &BadInput) -> (String, String) {
    use base64::{Engine, engine::general_purpose::STANDARD};
    let request = &input.request;
    let text = |name: &str| request[name].as_str().map(str::to_owned);
    let number = |name: &str| request[name].as_i64().map(|n| n as i32);
    let blob = |name: &str| {
        request[name]
            .as_str()
            .map(|b| Blob::new(STANDARD.decode(b).expect("base64")))
    };
    let context = || {
        request["EncryptionContext"].as_object().map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect::<std::collections::HashMap<_, _>>()
        })
    };
    macro_rules! outcome {
        ($call:expr) => {
            match $call.send().await {
                Ok(_) => ("succeeded".to_owned(), String::new()),
                Err(error) => code_and_message(&error),
            }
        };
    }
    match input.operation {
        "DescribeKey" => outcome!(client.describe_key().set_key_id(text("KeyId"))),
        "Encrypt" => outcome!(
            client
                .encrypt()
                .set_key_id(text("KeyId"))
                .set_plaintext(blob("Plaintext"))
                .set_encryption_context(context())
        ),
        "Decrypt" => outcome!(
            client
                .decrypt()
                .set_ciphertext_blob(blob("CiphertextBlob"))
                .set_encryption_context(context())
                .set_key_id(text("KeyId"))
        ),
        "CreateAlias" => outcome!(
            client
                .create_alias()
                .set_alias_name(text("AliasName"))
                .set_target_key_id(text("TargetKeyId"))
        ),
        "GenerateRandom" => {
            outcome!(
                client
                    .generate_random()
                    .set_number_of_bytes(number("NumberOfBytes"))
            )
        }
        "GenerateDataKey" => outcome!(
            client
                .generate_data_key()
                .set_key_id(text("KeyId"))
                .set_key_spec(text("KeySpec").map(|s| DataKeySpec::from(s.as_str())))
                .set_number_of_bytes(number("NumberOfBytes"))
        ),
        "PutKeyPolicy" => outcome!(
            client
                .put_key_policy()
                .set_key_id(text("KeyId"))
                .set_policy_name(text("PolicyName"))
                .set_policy(text("Policy"))
        ),
        "CreateKey" => outcome!(client.create_key().set_policy(text("Policy"))),
        "ScheduleKeyDeletion" => outcome!(
            client
                .schedule_key_deletion()
                .set_key_id(text("KeyId"))
                .set_pending_window_in_days(number("PendingWindowInDays"))
        ),
        "CancelKeyDeletion" => outcome!(client.cancel_key_deletion().set_key_id(text("KeyId"))),
        "EnableKey" => outcome!(client.enable_key().set_key_id(text("KeyId"))),
        other => panic!("no SDK call for {other}"),
    }
}

/// A catalogue entry for a failure message: the operation and the start of the request.
fn named(input: &BadInput) -> String {
    let request = input.request.to_string();
    let shown: String = request.chars().take(160).collect();
    format!("{} {shown}", input.operation)
}

#[tokio::test]
async fn every_bad_input_of_the_catalogue_raises_its_exception_with_its_message() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let fixture = Fixture::make(&mut user).await;
    let client = kms_client(&kms, Who::User1);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for phase in PHASES {
        for input in fixture.phases(&mut user, phase).await {
            let seen = sdk_outcome(&client, &input).await;
            checked += 1;
            if seen != (input.exception.to_owned(), input.message.clone()) {
                wrong.push(format!(
                    "{phase:?} {}: {seen:?}, expected {} {:?}",
                    named(&input),
                    input.exception,
                    input.message
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 40, "{checked} bad inputs");
}
