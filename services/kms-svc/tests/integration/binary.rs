//! The kms-svc binary as a Kubernetes operator meets it: one line and a non-zero
//! exit when it cannot start (64 when the configuration is at fault), a clean drain
//! and exit 0 on SIGTERM.

use std::process::{Command, Stdio};

use keyhold_tests::{
    TestDatabase,
    binary::{free_address, one_line_failure, wait_serving, workdir},
};

fn kms_svc(dir: &std::path::Path, database_url: &str, listen: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kms-svc"));
    command
        .env_clear()
        .env("KEYHOLD_LISTEN", listen)
        .env("KEYHOLD_AWS_LISTEN", "127.0.0.1:0")
        .env("KEYHOLD_DATABASE_URL", database_url)
        .env("KEYHOLD_PRINCIPALS_FILE", dir.join("principals.json"))
        .env("KEYHOLD_MASTER_KEY_FILE", dir.join("master.key"))
        .env("KEYHOLD_SHUTDOWN_GRACE_SECONDS", "5");
    command
}

#[test]
fn an_unreachable_database_stops_the_binary_with_one_line() {
    let dir = workdir(&[]);
    let unreachable = "postgres://postgres@127.0.0.1:1/keyhold_kms";
    let (code, stderr) = one_line_failure(&mut kms_svc(&dir, unreachable, "127.0.0.1:0"));
    assert!(
        stderr
            .starts_with("kms-svc: cannot reach the database postgres://127.0.0.1:1/keyhold_kms: "),
        "{stderr}"
    );
    assert_eq!(code, Some(1), "a database may come back: not a usage error");

    let (code, stderr) = one_line_failure(
        kms_svc(&dir, unreachable, "127.0.0.1:0").env_remove("KEYHOLD_MASTER_KEY_FILE"),
    );
    assert_eq!(
        stderr,
        "kms-svc: no master key: set KEYHOLD_MASTER_KEY_FILE (or KEYHOLD_MASTER_KEY)\n"
    );
    assert_eq!(code, Some(64), "bad configuration is EX_USAGE");
}

#[test]
fn bad_flags_and_files_are_one_line_and_ex_usage() {
    let dir = workdir(&[("bad.key", "not a key")]);
    let unreachable = "postgres://postgres@127.0.0.1:1/keyhold_kms";
    let (code, stderr) =
        one_line_failure(kms_svc(&dir, unreachable, "127.0.0.1:0").arg("--no-such-flag"));
    assert_eq!(
        (code, stderr.as_str()),
        (
            Some(64),
            "kms-svc: unexpected argument '--no-such-flag' found\n"
        )
    );
    let (code, stderr) = one_line_failure(
        kms_svc(&dir, unreachable, "127.0.0.1:0").env_remove("KEYHOLD_PRINCIPALS_FILE"),
    );
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.starts_with(
            "kms-svc: the following required arguments were not provided: --principals-file"
        ),
        "{stderr}"
    );
    let (code, stderr) = one_line_failure(
        kms_svc(&dir, unreachable, "127.0.0.1:0")
            .env("KEYHOLD_PRINCIPALS_FILE", dir.join("missing.json")),
    );
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.starts_with("kms-svc: cannot read the principals file "),
        "{stderr}"
    );
    let (code, stderr) = one_line_failure(
        kms_svc(&dir, unreachable, "127.0.0.1:0")
            .env("KEYHOLD_MASTER_KEY_FILE", dir.join("bad.key")),
    );
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.starts_with("kms-svc: master key: "), "{stderr}");
}

#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let database = TestDatabase::create().await;
    let dir = workdir(&[]);
    let address = free_address();
    let mut child = kms_svc(&dir, &database.url, &address)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_serving(&address, "kms-svc").await;

    let (status, logs) = keyhold_tests::terminate(&mut child, "kms-svc").await;
    assert!(status.success(), "exit status {status}");
    assert!(logs.contains("shutdown signal received"), "{logs}");
    assert!(logs.contains("stopped"), "{logs}");
}

/// Two kms-svc processes on one database, as two replicas behind one Service: a key
/// policy change made through one applies to the very next request the other serves.
#[tokio::test]
async fn a_revocation_through_one_replica_applies_to_the_next_call_on_the_other() {
    use keyhold_proto::kms::v1::{AddKeyUserRequest, DecryptRequest, RemoveKeyUserRequest};
    use keyhold_tests::{
        Who,
        kms::{ciphertext_of, client_at, lab_user_key},
    };

    const ROUNDS: usize = 1000;
    let database = TestDatabase::create().await;
    let dir = workdir(&[]);
    let (a, b) = (free_address(), free_address());
    let mut replicas = Vec::new();
    for address in [&a, &b] {
        replicas.push(
            kms_svc(&dir, &database.url, address)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_serving(address, "kms-svc").await;
    }
    let mut root_a = client_at(&a, Who::Root);
    let mut user_b = client_at(&b, Who::User1);
    let key = lab_user_key(&mut root_a).await;
    let blob = ciphertext_of(&mut root_a, &key.key_id, b"x").await;
    let decrypt = || DecryptRequest {
        ciphertext_blob: blob.clone(),
        ..Default::default()
    };
    let (mut stale_allows, mut stale_denials) = (0, 0);
    for _ in 0..ROUNDS {
        // B has the key cached, allowed.
        if user_b.decrypt(decrypt()).await.is_err() {
            stale_denials += 1;
        }
        root_a
            .remove_key_user(RemoveKeyUserRequest {
                key_id: key.key_id.clone(),
                principal: "AWSLabsUser-0001".into(),
            })
            .await
            .unwrap();
        match user_b.decrypt(decrypt()).await {
            Ok(_) => stale_allows += 1,
            Err(status) => assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}"),
        }
        root_a
            .add_key_user(AddKeyUserRequest {
                key_id: key.key_id.clone(),
                principal: "AWSLabsUser-0001".into(),
            })
            .await
            .unwrap();
    }
    for mut replica in replicas {
        let _ = replica.kill();
        let _ = replica.wait();
    }
    assert_eq!(
        (stale_allows, stale_denials),
        (0, 0),
        "of {ROUNDS} rounds, replica B allowed after the revocation or refused after the grant"
    );
}
