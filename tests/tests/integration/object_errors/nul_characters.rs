//! NUL characters in names object-svc reads with

use super::*;

#[tokio::test]
async fn a_key_with_nul_on_read_paths_is_refused() {
    let (_harness, mut user) = start().await;
    set_ownership(&mut user, BUCKET, "BucketOwnerPreferred").await;
    let nul_key = |result: Result<_, Status>| {
        assert_s3_error(
            result,
            Code::InvalidArgument,
            "InvalidArgument",
            NUL_KEY,
            &[],
        )
    };
    nul_key(get(&mut user, BUCKET, "a\0b").await.map(|_| ()));
    nul_key(
        user.head_object(head_request(BUCKET, "a\0b"))
            .await
            .map(|_| ()),
    );
    nul_key(
        user.get_object_acl(GetObjectAclRequest {
            bucket: BUCKET.into(),
            key: "a\0b".into(),
        })
        .await
        .map(|_| ()),
    );
    nul_key(
        user.put_object_acl(PutObjectAclRequest {
            bucket: BUCKET.into(),
            key: "a\0b".into(),
            acl: "private".into(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
}

#[tokio::test]
async fn a_bucket_name_with_nul_does_not_exist() {
    let (_harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "a.txt"), b"a")
        .await
        .unwrap();
    let name = "errors\0bucket";
    assert_no_such_bucket(
        user.head_bucket(HeadBucketRequest {
            bucket: name.into(),
        })
        .await,
        name,
    );
    assert_no_such_bucket(get(&mut user, name, "a.txt").await, name);
    assert_no_such_bucket(user.list_objects_v2(list_request(name)).await, name);
    assert_no_such_bucket(put(&mut user, put_header(name, "a.txt"), b"a").await, name);
    assert_no_such_bucket(
        user.copy_object(copy_request("b.txt", "errors%00bucket/a.txt"))
            .await,
        name,
    );
}

#[tokio::test]
async fn list_parameters_with_nul() {
    let (_harness, mut user) = start().await;
    put(&mut user, put_header(BUCKET, "x/1"), b"1")
        .await
        .unwrap();
    let keys = |response: ListObjectsV2Response| -> Vec<String> {
        response.contents.into_iter().map(|o| o.key).collect()
    };
    let by_prefix = user
        .list_objects_v2(ListObjectsV2Request {
            prefix: "x\0".into(),
            ..list_request(BUCKET)
        })
        .await
        .expect("a prefix with NUL lists nothing")
        .into_inner();
    assert!(keys(by_prefix).is_empty());
    let after = user
        .list_objects_v2(ListObjectsV2Request {
            start_after: "x\0".into(),
            ..list_request(BUCKET)
        })
        .await
        .expect("start_after with NUL")
        .into_inner();
    assert_eq!(keys(after), ["x/1"]);
    let grouped = user
        .list_objects_v2(ListObjectsV2Request {
            delimiter: "\0".into(),
            ..list_request(BUCKET)
        })
        .await
        .expect("a NUL delimiter groups nothing")
        .into_inner();
    assert!(grouped.common_prefixes.is_empty());
    assert_eq!(keys(grouped), ["x/1"]);
    assert_s3_error(
        user.list_objects_v2(ListObjectsV2Request {
            continuation_token: "AA".into(),
            ..list_request(BUCKET)
        })
        .await,
        Code::InvalidArgument,
        "InvalidArgument",
        "The continuation token provided is incorrect",
        &[
            ("ArgumentName", "continuation-token"),
            ("ArgumentValue", "AA"),
        ],
    );
}
