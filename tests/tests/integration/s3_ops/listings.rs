//! Listings

use super::*;

const LIST_KEYS: [&str; 7] = ["a.txt", "b/1", "b/2", "b/c/3", "c/1", "d", "e"];

async fn listing_bucket() -> (ObjectHarness, Client) {
    let (harness, s3) = start().await;
    for (i, key) in LIST_KEYS.iter().enumerate() {
        put(&s3, BUCKET, key, &seeded_bytes(i, i as u32)).await;
    }
    (harness, s3)
}

fn prefixes_v2(
    output: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output,
) -> Vec<String> {
    output
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn list_objects_v2() {
    let (_harness, s3) = listing_bucket().await;
    let list = || s3.list_objects_v2().bucket(BUCKET);

    let all = list().send().await.unwrap();
    assert_eq!(keys_v2(&all), LIST_KEYS);
    assert_eq!(
        (
            all.name(),
            all.key_count(),
            all.max_keys(),
            all.is_truncated()
        ),
        (Some(BUCKET), Some(7), Some(1000), Some(false))
    );
    assert_eq!(all.next_continuation_token(), None);
    for (i, object) in all.contents().iter().enumerate() {
        assert_eq!(object.size(), Some(i as i64), "{object:?}");
        assert_etag_shape(object.e_tag());
        assert_eq!(object.storage_class().map(|c| c.as_str()), Some("STANDARD"));
        assert!(object.last_modified().is_some());
        assert!(object.owner().is_none(), "no owner without fetch-owner");
    }
    let owned = list().prefix("b/").fetch_owner(true).send().await.unwrap();
    assert!(
        owned
            .contents()
            .iter()
            .all(|o| o.owner().and_then(|owner| owner.id()) == Some(ACCOUNT))
    );

    // Prefix, delimiter, both.
    let by_prefix = list().prefix("b/").send().await.unwrap();
    assert_eq!(keys_v2(&by_prefix), ["b/1", "b/2", "b/c/3"]);
    assert_eq!(by_prefix.prefix(), Some("b/"));
    assert!(prefixes_v2(&by_prefix).is_empty());
    let top = list().delimiter("/").send().await.unwrap();
    assert_eq!(keys_v2(&top), ["a.txt", "d", "e"]);
    assert_eq!(prefixes_v2(&top), ["b/", "c/"]);
    assert_eq!((top.key_count(), top.delimiter()), (Some(5), Some("/")));
    let under_b = list().prefix("b/").delimiter("/").send().await.unwrap();
    assert_eq!(keys_v2(&under_b), ["b/1", "b/2"]);
    assert_eq!(prefixes_v2(&under_b), ["b/c/"]);
    assert!(keys_v2(&list().prefix("nothing").send().await.unwrap()).is_empty());

    // max-keys 3 over 7 keys: three pages, each token leading to the next.
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = list()
            .max_keys(3)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(page.max_keys(), Some(3));
        assert_eq!(page.continuation_token(), token.as_deref());
        assert_eq!(page.key_count(), Some(page.contents().len() as i32));
        pages.push(keys_v2(&page));
        assert!(pages.len() <= 3, "pagination does not end: {pages:?}");
        if page.is_truncated() == Some(true) {
            token = Some(
                page.next_continuation_token()
                    .expect("a truncated page has a token")
                    .to_owned(),
            );
        } else {
            assert_eq!(page.next_continuation_token(), None);
            break;
        }
    }
    assert_eq!(
        pages,
        [
            vec!["a.txt", "b/1", "b/2"],
            vec!["b/c/3", "c/1", "d"],
            vec!["e"],
        ]
    );
    // The SDK's paginator walks the same pages.
    let mut paginated = Vec::new();
    let mut paginator = list().max_keys(2).into_paginator().send();
    while let Some(page) = paginator.next().await {
        paginated.extend(keys_v2(&page.unwrap()));
    }
    assert_eq!(paginated, LIST_KEYS);

    // start-after: keys after it (it need not exist); with a delimiter, a common
    // prefix named by start-after is skipped whole.
    let after = list().start_after("b/2").send().await.unwrap();
    assert_eq!(keys_v2(&after), ["b/c/3", "c/1", "d", "e"]);
    assert_eq!(after.start_after(), Some("b/2"));
    let after = list().start_after("b/10").send().await.unwrap();
    assert_eq!(keys_v2(&after), ["b/2", "b/c/3", "c/1", "d", "e"]);
    let after = list()
        .start_after("b/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(keys_v2(&after), ["d", "e"]);
    assert_eq!(prefixes_v2(&after), ["c/"]);

    // max-keys 0 and -1, a bad token, a missing bucket.
    let none = list().max_keys(0).send().await.unwrap();
    assert_eq!(
        (none.key_count(), none.is_truncated(), none.contents().len()),
        (Some(0), Some(false), 0)
    );
    let failure = assert_failure(
        list().max_keys(-1).send().await,
        400,
        "InvalidArgument",
        "Argument maxKeys must be an integer between 0 and 2147483647",
    );
    assert_eq!(failure.field("ArgumentName").as_deref(), Some("maxKeys"));
    assert_eq!(failure.field("ArgumentValue").as_deref(), Some("-1"));
    let failure = assert_failure(
        list().continuation_token("AA").send().await,
        400,
        "InvalidArgument",
        "The continuation token provided is incorrect",
    );
    assert_eq!(
        failure.field("ArgumentName").as_deref(),
        Some("continuation-token")
    );
    assert_eq!(failure.field("ArgumentValue").as_deref(), Some("AA"));
    assert_no_such_bucket(
        s3.list_objects_v2().bucket("no-such-bucket").send().await,
        "no-such-bucket",
    );
}

#[tokio::test]
async fn list_objects_v1() {
    let (_harness, s3) = listing_bucket().await;
    let list = || s3.list_objects().bucket(BUCKET);
    let keys = |output: &aws_sdk_s3::operation::list_objects::ListObjectsOutput| -> Vec<String> {
        output
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    };
    let prefixes =
        |output: &aws_sdk_s3::operation::list_objects::ListObjectsOutput| -> Vec<String> {
            output
                .common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned))
                .collect()
        };

    let all = list().send().await.unwrap();
    assert_eq!(keys(&all), LIST_KEYS);
    assert_eq!(all.is_truncated(), Some(false));
    assert_eq!(all.next_marker(), None);
    // V1 always names the owner.
    assert!(
        all.contents()
            .iter()
            .all(|o| o.owner().and_then(|owner| owner.id()) == Some(ACCOUNT))
    );

    // A marker: the keys after it.
    let after = list().marker("b/2").send().await.unwrap();
    assert_eq!(keys(&after), ["b/c/3", "c/1", "d", "e"]);
    assert_eq!(after.marker(), Some("b/2"));

    // Without a delimiter a truncated page has no NextMarker: the last key is the marker.
    let first = list().max_keys(3).send().await.unwrap();
    assert_eq!(keys(&first), ["a.txt", "b/1", "b/2"]);
    assert_eq!(first.is_truncated(), Some(true));
    assert_eq!(first.next_marker(), None);
    let second = list().max_keys(3).marker("b/2").send().await.unwrap();
    assert_eq!(keys(&second), ["b/c/3", "c/1", "d"]);

    // With a delimiter, NextMarker (a key or a common prefix) leads on, visiting
    // every key and prefix once.
    let mut seen: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    for page_number in 0.. {
        assert!(page_number < 5, "pagination does not end: {seen:?}");
        let page = list()
            .delimiter("/")
            .max_keys(2)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        seen.extend(keys(&page));
        seen.extend(prefixes(&page));
        if page.is_truncated() != Some(true) {
            assert_eq!(page.next_marker(), None);
            break;
        }
        marker = Some(
            page.next_marker()
                .expect("a NextMarker with a delimiter")
                .to_owned(),
        );
    }
    seen.sort();
    assert_eq!(seen, ["a.txt", "b/", "c/", "d", "e"]);
    let page = list().delimiter("/").max_keys(2).send().await.unwrap();
    assert_eq!(
        (keys(&page), prefixes(&page), page.next_marker()),
        (vec!["a.txt".to_owned()], vec!["b/".to_owned()], Some("b/"))
    );
    assert_no_such_bucket(
        s3.list_objects().bucket("no-such-bucket").send().await,
        "no-such-bucket",
    );
}
