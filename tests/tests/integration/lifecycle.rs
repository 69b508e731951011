//! Keys across restarts, the deletion sweep, pagination, and a lost database.

use std::time::Duration;

use keyhold_proto::kms::v1::*;
use keyhold_tests::{
    KmsHarness, TestDatabase, Who, assert_error,
    kms::{ciphertext_of, lab_user_key},
    proxy::CuttableProxy,
};
use sqlx::Connection;
use tonic::Code;

#[tokio::test]
async fn blobs_made_before_a_restart_decrypt_after_it() {
    let kms = KmsHarness::start().await;
    let mut user = kms.client(Who::User1);
    let key = lab_user_key(&mut user).await;
    user.create_alias(CreateAliasRequest {
        alias_name: "alias/myFirstKey".into(),
        target_key_id: key.key_id.clone(),
    })
    .await
    .unwrap();
    let context: std::collections::HashMap<_, _> =
        [("aws:s3:arn".to_owned(), "arn:aws:s3:::b/k".to_owned())].into();
    let data_key = user
        .generate_data_key(GenerateDataKeyRequest {
            key_id: "alias/myFirstKey".into(),
            encryption_context: context.clone(),
            key_spec: "AES_256".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let kms = kms.restart().await;
    let mut user = kms.client(Who::User1);
    let decrypted = user
        .decrypt(DecryptRequest {
            ciphertext_blob: data_key.ciphertext_blob,
            encryption_context: context,
            ..Default::default()
        })
        .await
        .expect("decrypts after the restart")
        .into_inner();
    assert_eq!(decrypted.plaintext, data_key.plaintext);
    let described = user
        .describe_key(DescribeKeyRequest {
            key_id: "alias/myFirstKey".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        described.key_metadata.unwrap().description,
        "KMS Key for S3 data"
    );
}

#[tokio::test]
async fn keys_past_their_deletion_date_are_deleted_with_their_material() {
    let kms = KmsHarness::start().await;
    let mut root = kms.client(Who::Root);
    let key = lab_user_key(&mut root).await;
    let keep = lab_user_key(&mut root).await;
    root.schedule_key_deletion(ScheduleKeyDeletionRequest {
        key_id: key.key_id.clone(),
        pending_window_in_days: 7,
    })
    .await
    .unwrap();

    // Seven days pass.
    let mut db = sqlx::PgConnection::connect(&kms.database_url)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE keys SET deletion_date = now() - interval '1 second' WHERE key_id = $1::uuid",
    )
    .bind(&key.key_id)
    .execute(&mut db)
    .await
    .unwrap();

    let missing = format!("Key '{}' does not exist", key.arn);
    let mut deleted = false;
    for _ in 0..100 {
        match root
            .describe_key(DescribeKeyRequest {
                key_id: key.key_id.clone(),
            })
            .await
        {
            Err(status) if status.code() == Code::NotFound => {
                assert_eq!(status.message(), missing);
                deleted = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(deleted, "the sweep deleted the key");
    let material: i64 =
        sqlx::query_scalar("SELECT count(*) FROM key_material WHERE key_id = $1::uuid")
            .bind(&key.key_id)
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(material, 0, "key material destroyed");
    root.describe_key(DescribeKeyRequest {
        key_id: keep.key_id,
    })
    .await
    .expect("other keys stay");
}

#[tokio::test]
async fn lists_page_with_markers() {
    let kms = KmsHarness::start().await;
    let mut root = kms.client(Who::Root);
    let mut created = Vec::new();
    for n in 0..5 {
        let key = root
            .create_key(CreateKeyRequest::default())
            .await
            .unwrap()
            .into_inner()
            .key_metadata
            .unwrap();
        root.create_alias(CreateAliasRequest {
            alias_name: format!("alias/page-{n}"),
            target_key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
        created.push(key.key_id);
    }
    let mut seen = Vec::new();
    let mut marker = String::new();
    let mut pages = Vec::new();
    loop {
        let page = root
            .list_keys(ListKeysRequest {
                limit: 2,
                marker: marker.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        pages.push((page.keys.len(), page.truncated));
        seen.extend(page.keys.into_iter().map(|k| k.key_id));
        if !page.truncated {
            break;
        }
        marker = page.next_marker;
    }
    assert_eq!(pages, [(2, true), (2, true), (1, false)]);
    created.sort();
    assert_eq!(seen, created);

    let first = root
        .list_aliases(ListAliasesRequest {
            limit: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first
            .aliases
            .iter()
            .map(|a| a.alias_name.as_str())
            .collect::<Vec<_>>(),
        ["alias/page-0", "alias/page-1", "alias/page-2"]
    );
    assert!(first.truncated);
    let rest = root
        .list_aliases(ListAliasesRequest {
            limit: 3,
            marker: first.next_marker,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        rest.aliases
            .iter()
            .map(|a| a.alias_name.as_str())
            .collect::<Vec<_>>(),
        ["alias/page-3", "alias/page-4"]
    );
    assert!(!rest.truncated);
    let of_key = root
        .list_aliases(ListAliasesRequest {
            key_id: created_key_of(&first.aliases, "alias/page-1"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(of_key.aliases.len(), 1);

    assert_error(
        root.list_keys(ListKeysRequest {
            limit: 2,
            marker: "%%%".into(),
        })
        .await,
        Code::InvalidArgument,
        "InvalidMarkerException",
        "Invalid marker: %%%",
    );
    assert_error(
        root.list_keys(ListKeysRequest {
            limit: 1001,
            marker: String::new(),
        })
        .await,
        Code::InvalidArgument,
        "ValidationException",
        "1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000",
    );
}

fn created_key_of(aliases: &[AliasListEntry], name: &str) -> String {
    aliases
        .iter()
        .find(|a| a.alias_name == name)
        .unwrap()
        .target_key_id
        .clone()
}

#[tokio::test]
async fn a_lost_database_answers_unavailable_and_recovers_by_itself() {
    let database = TestDatabase::create().await;
    let proxy = CuttableProxy::start(database.server_address()).await;
    let url = database.url_via(proxy.address);
    let kms = KmsHarness::start_on(database, url, None).await;
    let mut root = kms.client(Who::Root);
    root.list_keys(ListKeysRequest::default())
        .await
        .expect("works with the database");

    proxy.cut();
    assert_error(
        root.list_keys(ListKeysRequest::default()).await,
        Code::Unavailable,
        "ServiceUnavailableException",
        "The service is temporarily unavailable. Try again.",
    );

    proxy.restore();
    let mut recovered = false;
    for _ in 0..50 {
        if root.list_keys(ListKeysRequest::default()).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "kms-svc recovers once the database is back");
}

#[tokio::test]
async fn a_policy_change_reaches_another_replica() {
    let a = KmsHarness::start().await;
    // A second kms-svc on the same database and master key, as during a rolling update.
    let unused = TestDatabase::create().await;
    let b = KmsHarness::start_on(unused, a.database_url.clone(), Some(a.workdir.clone())).await;

    let mut root_a = a.client(Who::Root);
    let key = lab_user_key(&mut root_a).await;
    let blob = ciphertext_of(&mut root_a, &key.key_id, b"x").await;
    let decrypt = || DecryptRequest {
        ciphertext_blob: blob.clone(),
        ..Default::default()
    };
    let mut user_b = b.client(Who::User1);
    user_b
        .decrypt(decrypt())
        .await
        .expect("replica b has the key cached now");

    root_a
        .remove_key_user(RemoveKeyUserRequest {
            key_id: key.key_id.clone(),
            principal: "AWSLabsUser-0001".into(),
        })
        .await
        .unwrap();
    // Replica b checks the database's change counter on every cached read: the very
    // next call is refused.
    let refused = user_b
        .decrypt(decrypt())
        .await
        .expect_err("replica b served a stale allow");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
}
