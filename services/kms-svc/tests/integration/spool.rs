//! A pod deleted while audit-svc is unreachable loses no acknowledged call's record:
//! the records wait in the spool (a StatefulSet pod's volume, so it survives the
//! pod), and the pod that comes back with the same volume replays them once
//! audit-svc answers. Processes as Kubernetes runs them: SIGTERM, same environment.

use std::time::{Duration, Instant};

use keyhold_proto::kms::v1::GenerateRandomRequest;
use keyhold_tests::{
    TestDatabase, Who,
    binary::{ServiceProcess, bin_dir, stored_request_ids, workdir},
    kms::client_at,
};

const CALLS: usize = 50;

/// Bytes in the files of `dir` (the spool), 0 if there is none.
fn bytes_in(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(|entry| entry.ok()?.metadata().ok())
            .map(|metadata| metadata.len())
            .sum()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_spooled_when_the_pod_is_deleted_reach_audit_svc_from_its_successor() {
    let bins = bin_dir(env!("CARGO_BIN_EXE_kms-svc"));
    let dir = workdir(&[]);
    let spool = dir.join("spool");
    let audit_db = TestDatabase::create().await;
    let kms_db = TestDatabase::create().await;
    // audit-svc's address is known, but nothing answers there yet.
    let mut audit = ServiceProcess::new(&bins, "audit-svc", &dir, &audit_db.url, &[]);
    let env = ServiceProcess::audit_env(&audit.address, Who::KmsSvc, &spool);
    let mut kms = ServiceProcess::new(&bins, "kms-svc", &dir, &kms_db.url, &env);
    kms.start().await;

    let mut client = client_at(&kms.address, Who::Root);
    let mut acknowledged = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let response = client
            .generate_random(GenerateRandomRequest { number_of_bytes: 8 })
            .await
            .expect("served while audit-svc is away");
        let id = response.metadata().get("x-amzn-requestid").unwrap();
        acknowledged.push(id.to_str().unwrap().to_owned());
    }
    // The pod is deleted: SIGTERM, a clean exit within the grace period.
    kms.stop().await;
    assert!(bytes_in(&spool) > 0, "the records wait in the spool");

    // audit-svc comes back, then the pod's successor on the same volume.
    audit.start().await;
    kms.start().await;
    let started = Instant::now();
    loop {
        let stored = stored_request_ids(&audit_db.url).await;
        let missing: Vec<&String> = acknowledged
            .iter()
            .filter(|id| !stored.contains_key(*id))
            .collect();
        if missing.is_empty() {
            for id in &acknowledged {
                assert_eq!(stored[id], 1, "{id} stored once");
            }
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} of {CALLS} acknowledged calls have no record: {missing:?}",
            missing.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    kms.stop().await;
    audit.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
