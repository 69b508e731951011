//! `keyhold` against services that serve TLS: https:// endpoints are verified with
//! the CA bundle of --ca-bundle or AWS_CA_BUNDLE, and refused without one.

use keyhold_tests::{
    Who,
    tls::{Pki, start_kms},
};

#[tokio::test]
async fn https_endpoints_are_verified_with_the_ca_bundle() {
    let pki = Pki::create();
    let kms = start_kms(&pki, &[]).await;
    let endpoint = [(
        "KEYHOLD_KMS_ENDPOINT",
        format!("https://localhost:{}", kms.address.port()),
    )];
    let ca = pki.dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let listed = super::keyhold(
        Who::User1,
        &endpoint,
        &["kms", "list-keys", "--ca-bundle", ca],
    )
    .await;
    assert!(super::json_of(&["list-keys"], &listed)["Keys"].is_array());

    let without = super::keyhold(Who::User1, &endpoint, &["kms", "list-keys"]).await;
    assert_eq!(without.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&without.stderr).contains("is an https:// endpoint: name the CA that signed its certificate with --ca-bundle or AWS_CA_BUNDLE"),
        "{}",
        String::from_utf8_lossy(&without.stderr)
    );

    // Another CA's bundle: the server's certificate is not trusted, nothing is sent.
    let other = Pki::create();
    let other_ca = other.dir.join("ca.pem");
    let untrusted = super::keyhold(
        Who::User1,
        &endpoint,
        &[
            "kms",
            "list-keys",
            "--ca-bundle",
            other_ca.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(untrusted.status.code(), Some(254));
    assert!(
        String::from_utf8_lossy(&untrusted.stderr)
            .contains("(EndpointConnectionError) when calling the ListKeys operation"),
        "{}",
        String::from_utf8_lossy(&untrusted.stderr)
    );
}
