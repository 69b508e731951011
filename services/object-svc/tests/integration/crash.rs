//! A PUT is acknowledged only once it is durable: the small objects acknowledged
//! while the load ran are all there, whole, after kill -9 of object-svc and of
//! Postgres mid-load (small objects are stored with their rows, one commit for many).

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use keyhold_proto::object::v1::{CreateBucketRequest, object_service_client::ObjectServiceClient};
use keyhold_tests::{
    Who,
    binary::{free_address, wait_serving},
    db::OwnCluster,
    kms::credentials,
    object::{get, put, put_header},
};

use super::binary::{object_svc, object_workdir};

fn client(address: &str) -> keyhold_tests::object::ObjectClient {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy();
    ObjectServiceClient::with_interceptor(channel, credentials(Who::User1))
}

/// object-svc on `database`, serving; and its gRPC address.
async fn start(dir: &std::path::Path, database: &str) -> (std::process::Child, String) {
    let address = free_address();
    let service = object_svc(dir, database, &address)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_serving(&address, "object-svc").await;
    (service, address)
}

/// The body of object `n` of writer `w`: distinct, and from 0 bytes to past one
/// segment (the largest go to blobs, the rest stay in their rows).
fn body(w: usize, n: usize) -> Vec<u8> {
    let len = [0, 1, 4096, 65_536, 70_000][n % 5];
    format!("writer {w} object {n};")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(len)
        .collect()
}

#[tokio::test]
async fn acknowledged_puts_survive_kill_9_of_object_svc_and_postgres() {
    let cluster = OwnCluster::start().await;
    let database = cluster.database_url("keyhold_object").await;
    let dir = object_workdir();
    let (mut service, address) = start(&dir, &database).await;
    client(&address)
        .create_bucket(CreateBucketRequest {
            bucket: "crash".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    // Writers PUT until a call fails; every acknowledged PUT is recorded.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let acknowledged = Arc::clone(&acknowledged);
            let mut user = client(&address);
            tokio::spawn(async move {
                for n in 0.. {
                    let key = format!("w{w}/{n}");
                    let body = body(w, n);
                    if put(&mut user, put_header("crash", &key), &body)
                        .await
                        .is_err()
                    {
                        return;
                    }
                    acknowledged.lock().unwrap().push((key, body));
                }
            })
        })
        .collect();
    // Both killed while PUTs are in flight.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.kill();
    service.kill().unwrap();
    service.wait().unwrap();
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(30), writer)
            .await
            .expect("every writer sees its call fail")
            .unwrap();
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    assert!(
        acknowledged.len() >= 50,
        "only {} PUTs were acknowledged before the kill",
        acknowledged.len()
    );

    cluster.restart().await;
    let database = cluster.database_url("keyhold_object").await;
    let (mut service, address) = start(&dir, &database).await;
    let mut user = client(&address);
    for (key, body) in &acknowledged {
        let (head, bytes) = get(&mut user, "crash", key)
            .await
            .unwrap_or_else(|e| panic!("{key} was acknowledged, then lost: {e:?}"));
        assert!(bytes == *body, "{key} reads back other bytes");
        assert_eq!(head.size, body.len() as u64, "{key}");
    }
    service.kill().unwrap();
    service.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
