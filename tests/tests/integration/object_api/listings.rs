//! ListObjectsV2

use super::*;

const LIST_KEYS: [&str; 17] = [
    "Z-upper", "a.txt", "b/1", "b/2", "b/c/3", "c/1", "d", "e/", "e/x", "f-1", "f/1", "g/a/b", "h",
    "i/1", "i/2", "~tilde", "é",
];

async fn listing_bucket() -> (ObjectHarness, ObjectClient) {
    let (harness, mut user) = start().await;
    for (i, key) in LIST_KEYS.iter().enumerate() {
        put(
            &mut user,
            put_header(BUCKET, key),
            &seeded_bytes(i, i as u32),
        )
        .await
        .unwrap();
    }
    (harness, user)
}

fn list(prefix: &str, delimiter: &str) -> ListObjectsV2Request {
    ListObjectsV2Request {
        bucket: BUCKET.into(),
        prefix: prefix.into(),
        delimiter: delimiter.into(),
        ..Default::default()
    }
}

pub(super) fn keys_of(response: &ListObjectsV2Response) -> Vec<&str> {
    response.contents.iter().map(|o| o.key.as_str()).collect()
}

fn prefixes_of(response: &ListObjectsV2Response) -> Vec<&str> {
    response
        .common_prefixes
        .iter()
        .map(|p| p.prefix.as_str())
        .collect()
}

async fn list_ok(
    client: &mut ObjectClient,
    request: ListObjectsV2Request,
) -> ListObjectsV2Response {
    client
        .list_objects_v2(request.clone())
        .await
        .unwrap_or_else(|e| panic!("{request:?}: {e:?}"))
        .into_inner()
}

#[tokio::test]
async fn list_objects_prefixes_delimiters_and_start_after() {
    let (_harness, mut user) = listing_bucket().await;

    // Everything, in UTF-8 byte order.
    let all = list_ok(&mut user, list("", "")).await;
    assert_eq!(keys_of(&all), LIST_KEYS);
    assert_eq!(
        (
            all.name.as_str(),
            all.max_keys,
            all.key_count,
            all.is_truncated
        ),
        (BUCKET, 1000, LIST_KEYS.len() as i32, false)
    );
    assert_eq!(all.next_continuation_token, "");
    for (i, object) in all.contents.iter().enumerate() {
        assert_eq!(object.size, i as u64, "{}", object.key);
        assert_eq!(object.storage_class, "STANDARD");
        assert_eq!(object.owner, None, "no owner without fetch_owner");
        assert_etag_shape(&object.etag);
        assert!(object.last_modified.ends_with('Z'));
    }

    let by_prefix = list_ok(&mut user, list("b/", "")).await;
    assert_eq!(keys_of(&by_prefix), ["b/1", "b/2", "b/c/3"]);
    assert_eq!(by_prefix.prefix, "b/");
    assert!(prefixes_of(&by_prefix).is_empty());
    assert!(keys_of(&list_ok(&mut user, list("nothing", "")).await).is_empty());

    let top = list_ok(&mut user, list("", "/")).await;
    assert_eq!(
        keys_of(&top),
        ["Z-upper", "a.txt", "d", "f-1", "h", "~tilde", "é"]
    );
    assert_eq!(prefixes_of(&top), ["b/", "c/", "e/", "f/", "g/", "i/"]);
    assert_eq!((top.key_count, top.delimiter.as_str()), (13, "/"));

    let under_b = list_ok(&mut user, list("b/", "/")).await;
    assert_eq!(keys_of(&under_b), ["b/1", "b/2"]);
    assert_eq!(prefixes_of(&under_b), ["b/c/"]);
    let under_e = list_ok(&mut user, list("e/", "/")).await;
    assert_eq!(keys_of(&under_e), ["e/", "e/x"]);
    let under_g = list_ok(&mut user, list("g/", "/")).await;
    assert_eq!(prefixes_of(&under_g), ["g/a/"]);
    assert!(keys_of(&under_g).is_empty());
    // A delimiter other than "/".
    let by_dash = list_ok(&mut user, list("", "-")).await;
    assert_eq!(prefixes_of(&by_dash), ["Z-", "f-"]);
    assert!(!keys_of(&by_dash).contains(&"f-1"));

    let after = list_ok(
        &mut user,
        ListObjectsV2Request {
            start_after: "f-1".into(),
            ..list("", "")
        },
    )
    .await;
    assert_eq!(
        keys_of(&after),
        ["f/1", "g/a/b", "h", "i/1", "i/2", "~tilde", "é"]
    );
    assert_eq!(after.start_after, "f-1");
    let after_missing = list_ok(
        &mut user,
        ListObjectsV2Request {
            start_after: "b/1a".into(),
            ..list("b/", "")
        },
    )
    .await;
    assert_eq!(keys_of(&after_missing), ["b/2", "b/c/3"]);
    let after_prefix = list_ok(
        &mut user,
        ListObjectsV2Request {
            start_after: "c/".into(),
            ..list("", "/")
        },
    )
    .await;
    assert_eq!(keys_of(&after_prefix), ["d", "f-1", "h", "~tilde", "é"]);
    // A start_after that is a common prefix skips that whole prefix, as a V1 marker
    // does (NextMarker is the last common prefix).
    assert_eq!(prefixes_of(&after_prefix), ["e/", "f/", "g/", "i/"]);
    let after_all = list_ok(
        &mut user,
        ListObjectsV2Request {
            start_after: "é".into(),
            ..list("", "")
        },
    )
    .await;
    assert!(keys_of(&after_all).is_empty());

    // fetch_owner, max_keys 0, and more than 1000.
    let owned = list_ok(
        &mut user,
        ListObjectsV2Request {
            fetch_owner: true,
            ..list("b/", "")
        },
    )
    .await;
    assert!(
        owned
            .contents
            .iter()
            .all(|o| o.owner.as_ref().map(|owner| owner.id.as_str()) == Some(ACCOUNT))
    );
    let none = list_ok(
        &mut user,
        ListObjectsV2Request {
            max_keys: Some(0),
            ..list("", "")
        },
    )
    .await;
    assert_eq!(
        (
            none.contents.len(),
            none.common_prefixes.len(),
            none.key_count,
            none.max_keys,
            none.is_truncated,
            none.next_continuation_token.as_str()
        ),
        (0, 0, 0, 0, false, "")
    );
    let capped = list_ok(
        &mut user,
        ListObjectsV2Request {
            max_keys: Some(5000),
            ..list("", "")
        },
    )
    .await;
    assert_eq!(
        (capped.max_keys, capped.key_count),
        (1000, LIST_KEYS.len() as i32)
    );
}

#[tokio::test]
async fn list_objects_pagination_visits_everything_once() {
    let (_harness, mut user) = listing_bucket().await;
    for delimiter in ["", "/"] {
        let whole = list_ok(&mut user, list("", delimiter)).await;
        let expected: Vec<String> = whole
            .contents
            .iter()
            .map(|o| o.key.clone())
            .chain(whole.common_prefixes.iter().map(|p| p.prefix.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for max_keys in [1, 2, 3, 5] {
            let mut seen: Vec<String> = Vec::new();
            let mut token = String::new();
            let mut pages = 0;
            loop {
                pages += 1;
                assert!(pages <= 30, "pagination does not end");
                let page = list_ok(
                    &mut user,
                    ListObjectsV2Request {
                        max_keys: Some(max_keys),
                        continuation_token: token.clone(),
                        ..list("", delimiter)
                    },
                )
                .await;
                let items = page.contents.len() + page.common_prefixes.len();
                assert_eq!(page.key_count, items as i32);
                assert_eq!(page.max_keys, max_keys);
                assert_eq!(page.continuation_token, token);
                seen.extend(page.contents.iter().map(|o| o.key.clone()));
                seen.extend(page.common_prefixes.iter().map(|p| p.prefix.clone()));
                if page.is_truncated {
                    assert_eq!(items, max_keys as usize, "a truncated page is full");
                    assert!(!page.next_continuation_token.is_empty());
                    token = page.next_continuation_token;
                } else {
                    assert_eq!(page.next_continuation_token, "");
                    break;
                }
            }
            let unique: BTreeSet<&String> = seen.iter().collect();
            assert_eq!(
                unique.len(),
                seen.len(),
                "delimiter {delimiter:?} max {max_keys}: something came twice: {seen:?}"
            );
            let mut sorted = seen.clone();
            sorted.sort();
            assert_eq!(sorted, expected, "delimiter {delimiter:?} max {max_keys}");
            let full_pages = expected.len().div_ceil(max_keys as usize);
            assert_eq!(pages, full_pages, "delimiter {delimiter:?} max {max_keys}");
        }
    }
    // Pagination with a prefix and start_after (ignored once a token is given).
    let first = list_ok(
        &mut user,
        ListObjectsV2Request {
            max_keys: Some(2),
            start_after: "b/1".into(),
            ..list("b/", "")
        },
    )
    .await;
    assert_eq!(keys_of(&first), ["b/2", "b/c/3"]);
    assert!(!first.is_truncated);
    let first = list_ok(
        &mut user,
        ListObjectsV2Request {
            max_keys: Some(1),
            ..list("i/", "")
        },
    )
    .await;
    assert_eq!(keys_of(&first), ["i/1"]);
    assert!(first.is_truncated);
    let second = list_ok(
        &mut user,
        ListObjectsV2Request {
            max_keys: Some(1),
            continuation_token: first.next_continuation_token.clone(),
            start_after: "zzz".into(),
            ..list("i/", "")
        },
    )
    .await;
    assert_eq!(keys_of(&second), ["i/2"]);
    assert!(!second.is_truncated);
}
