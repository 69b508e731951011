//! Object keys

use super::*;

#[tokio::test]
async fn key_lengths_and_characters() {
    let (_harness, mut user) = start().await;
    let longest = "k".repeat(1024);
    put(&mut user, put_header(BUCKET, &longest), b"longest")
        .await
        .unwrap();
    let (head, bytes) = get(&mut user, BUCKET, &longest).await.unwrap();
    assert_eq!((head.size, bytes.as_slice()), (7, b"longest".as_slice()));
    // 512 two-byte characters are 1024 bytes: fine; the limit is in bytes.
    let wide = "é".repeat(512);
    put(&mut user, put_header(BUCKET, &wide), b"wide")
        .await
        .unwrap();

    let too_long = "k".repeat(1025);
    let key_too_long = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "KeyTooLongError",
            "Your key is too long",
            &[],
        )
    };
    for key in [too_long.clone(), "é".repeat(513)] {
        key_too_long(
            put(&mut user, put_header(BUCKET, &key), b"x")
                .await
                .map(|_| ()),
        );
    }
    key_too_long(
        user.copy_object(copy_request(&too_long, &format!("{BUCKET}/{longest}")))
            .await
            .map(|_| ()),
    );

    let invalid = |result: Result<_, Status>, message: &str| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "InvalidArgument",
            message,
            &[],
        )
    };
    for (key, message) in [("", EMPTY_KEY), ("a\0b", NUL_KEY)] {
        invalid(
            put(&mut user, put_header(BUCKET, key), b"x")
                .await
                .map(|_| ()),
            message,
        );
        let delete = DeleteObjectRequest {
            bucket: BUCKET.into(),
            key: key.into(),
        };
        invalid(user.delete_object(delete).await.map(|_| ()), message);
    }
    // A URL-encoded NUL in the copy source is the same NUL.
    for (key, source) in [
        ("a\0b", format!("{BUCKET}/{longest}")),
        ("copy.txt", format!("{BUCKET}/a%00b")),
    ] {
        invalid(
            user.copy_object(copy_request(key, &source))
                .await
                .map(|_| ()),
            NUL_KEY,
        );
    }

    let listed: Vec<String> = user
        .list_objects_v2(list_request(BUCKET))
        .await
        .unwrap()
        .into_inner()
        .contents
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(listed, [longest, wide]);
}

#[tokio::test]
async fn path_like_keys_are_ordinary_keys() {
    let (harness, mut user) = start().await;
    let keys = [
        "../../etc/passwd",
        "/abs/path",
        "a/../../b",
        "./dot",
        "..",
        "a//b",
        "\\windows\\system32",
    ];
    let outside = [
        harness.workdir.join("etc/passwd"),
        harness.workdir.join("../etc/passwd"),
        harness.blob_dir().join("../../etc/passwd"),
        harness.workdir.join("b"),
        PathBuf::from("/abs/path"),
    ];
    let existed: Vec<bool> = outside.iter().map(|p| p.exists()).collect();
    // Past one segment, so that every object has a blob (small ones keep their
    // ciphertext in their rows) whose path could be at fault.
    let body_of = |i: usize| format!("bytes of key {i} ").repeat(5_000);
    for (i, key) in keys.iter().enumerate() {
        put(&mut user, put_header(BUCKET, key), body_of(i).as_bytes())
            .await
            .unwrap_or_else(|e| panic!("put {key:?}: {e:?}"));
    }
    for (i, key) in keys.iter().enumerate() {
        let (head, bytes) = get(&mut user, BUCKET, key).await.unwrap();
        assert!(bytes == body_of(i).as_bytes(), "{key:?}");
        assert_eq!(head.size, bytes.len() as u64);
    }
    let mut sorted = keys.map(str::to_owned).to_vec();
    sorted.sort();
    let listed: Vec<String> = user
        .list_objects_v2(list_request(BUCKET))
        .await
        .unwrap()
        .into_inner()
        .contents
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(listed, sorted);

    // Nothing was written outside the blob store, and no blob path is derived from
    // a key.
    for (path, existed) in outside.iter().zip(existed) {
        assert_eq!(path.exists(), existed, "{}", path.display());
    }
    let blob_dir = harness.blob_dir().canonicalize().unwrap();
    let files = files_under(&blob_dir);
    assert_eq!(files.len(), keys.len(), "one blob per object: {files:?}");
    for file in &files {
        let canonical = file.canonicalize().unwrap();
        assert!(canonical.starts_with(&blob_dir), "{}", file.display());
        let relative = file.strip_prefix(&blob_dir).unwrap();
        for component in relative.components() {
            assert!(
                matches!(component, Component::Normal(_)),
                "{}",
                file.display()
            );
            let name = component.as_os_str().to_string_lossy();
            assert!(
                !["passwd", "etc", "abs", "path", "b", "dot", "windows"].contains(&name.as_ref()),
                "{}",
                file.display()
            );
        }
    }
    // Nothing named after a key appeared beside the blob store either.
    for entry in std::fs::read_dir(&harness.workdir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !["etc", "abs", "b", "dot", "a", "passwd"].contains(&name.as_str()),
            "{name} in the workdir"
        );
    }
}
