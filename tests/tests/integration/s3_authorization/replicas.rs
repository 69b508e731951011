//! A bucket policy change applies to the very next request, on whichever replica
//! serves it: each request reads the policy with its bucket from the shared database.

use keyhold_tests::{Who, object::get};

use super::{BUCKET, OBJECT, denying_policy, set_policy, start};

#[tokio::test]
async fn a_policy_change_applies_to_the_next_request_on_another_replica() {
    let (harness, mut root_a) = start().await;
    let b = harness.replica().await;
    let mut user_b = b.client(Who::User1);
    let (_, bytes) = get(&mut user_b, BUCKET, OBJECT)
        .await
        .expect("allowed on b");
    assert_eq!(bytes, b"the document");

    // A denies; the very next request on B is refused, without any wait.
    set_policy(&mut root_a, Some(&denying_policy())).await;
    let refused = get(&mut user_b, BUCKET, OBJECT)
        .await
        .expect_err("B must not serve a stale allow");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");

    // And back: the next request on B is served again.
    set_policy(&mut root_a, None).await;
    let (_, bytes) = get(&mut user_b, BUCKET, OBJECT)
        .await
        .expect("B serves once the deny is gone");
    assert_eq!(bytes, b"the document");
}
