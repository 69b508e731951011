//! object-svc with its blobs in an S3-compatible store (`KEYHOLD_BLOB_STORE=s3://...`),
//! here a moto server: objects still go in as ciphertext and come back whole,
//! multipart uploads included. moto comes from the machine's Python or, without it,
//! from the private environment `keyhold_tests::tools` installs.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use keyhold_proto::object::v1::object_service_client::ObjectServiceClient;
use keyhold_proto::object::v1::{CreateBucketRequest, DeleteObjectRequest};
use keyhold_tests::{
    KmsHarness, TestDatabase, Who,
    kms::{console_key, credentials, test_principals},
    object::{ObjectClient, get, put, put_header, sse_kms},
};
use tonic::Code;

/// A moto S3 server with bucket `blobs`, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        const SCRIPT: &str = r#"
import sys, boto3
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
server.start()
host, port = server.get_host_and_port()
endpoint = f"http://{host}:{port}"
boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
             aws_access_key_id="moto", aws_secret_access_key="moto").create_bucket(Bucket="blobs")
print("ENDPOINT", endpoint, flush=True)
sys.stdin.read()
server.stop()
"#;
        let mut child = Command::new(keyhold_tests::tools::python_with_moto())
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        let endpoint = loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                panic!("moto did not start: {seen}");
            }
            if let Some(endpoint) = line.strip_prefix("ENDPOINT ") {
                break endpoint.trim().to_owned();
            }
            seen.push_str(&line);
        };
        Moto { child, endpoint }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct ObjectSvcProcess(Child);

impl Drop for ObjectSvcProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_object_svc(
    moto: &Moto,
    kms: &KmsHarness,
    database: &TestDatabase,
) -> (ObjectSvcProcess, ObjectClient) {
    let dir = std::env::temp_dir().join(format!("keyhold-s3-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("principals.json"), test_principals()).unwrap();
    std::fs::write(
        dir.join("master.key"),
        keyhold_crypto::MasterKey::generate().to_base64(),
    )
    .unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let (akid, secret) = Who::ObjectSvcForUser1.credentials().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_object-svc"))
        .env_clear()
        .env("KEYHOLD_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEYHOLD_S3_LISTEN", "127.0.0.1:0")
        .env("KEYHOLD_DATABASE_URL", &database.url)
        .env("KEYHOLD_PRINCIPALS_FILE", dir.join("principals.json"))
        .env("KEYHOLD_MASTER_KEY_FILE", dir.join("master.key"))
        .env("KEYHOLD_BLOB_STORE", "s3://blobs/keyhold/objects")
        // A deleted object's blob goes with the next sweep, every second.
        .env("KEYHOLD_REPLACED_BLOB_GRACE_SECONDS", "0")
        .env("KEYHOLD_BLOB_SWEEP_SECONDS", "1")
        .env("AWS_ENDPOINT", &moto.endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "moto")
        .env("AWS_SECRET_ACCESS_KEY", "moto")
        .env("KEYHOLD_KMS_ENDPOINT", format!("http://{}", kms.address))
        .env("KEYHOLD_KMS_ACCESS_KEY_ID", akid)
        .env("KEYHOLD_KMS_SECRET_ACCESS_KEY", secret)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let process = ObjectSvcProcess(child);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    keyhold_tests::wait_until_serving(channel.clone(), "object-svc", || false).await;
    let client = ObjectServiceClient::with_interceptor(channel, credentials(Who::User1))
        .max_decoding_message_size(64 * 1024 * 1024);
    (process, client)
}

/// Every object moto holds under the prefix, with its bytes.
fn stored_objects(moto: &Moto) -> Vec<(String, Vec<u8>)> {
    let script = format!(
        r#"
import boto3, sys, base64
s3 = boto3.client("s3", endpoint_url="{}", region_name="us-east-1",
                  aws_access_key_id="moto", aws_secret_access_key="moto")
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="blobs"):
    for item in page.get("Contents", []):
        body = s3.get_object(Bucket="blobs", Key=item["Key"])["Body"].read()
        print(item["Key"], base64.b64encode(body).decode())
"#,
        moto.endpoint
    );
    let output = Command::new(keyhold_tests::tools::python_with_moto())
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (key, body) = line.split_once(' ').unwrap();
            use base64::Engine;
            (
                key.to_owned(),
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn objects_live_in_an_s3_compatible_store_as_ciphertext() {
    let moto = Moto::start();
    let kms = KmsHarness::start().await;
    let database = TestDatabase::create().await;
    let (_process, mut user) = start_object_svc(&moto, &kms, &database).await;
    let mut kms_user = kms.client(Who::User1);
    let key = console_key(&mut kms_user, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await;
    user.create_bucket(CreateBucketRequest {
        bucket: "lab-bucket".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    // 20 MiB goes up as a multipart upload (8 MiB parts); 100 KB in one PUT; 1 KiB
    // stays out of the blob store (a small object's ciphertext is kept in its row).
    let marker = b"KEYHOLD-S3-BACKEND-PLAINTEXT-MARKER.";
    let big: Vec<u8> = marker
        .iter()
        .copied()
        .cycle()
        .take(20 * 1024 * 1024 + 7)
        .collect();
    let small: Vec<u8> = marker.iter().copied().cycle().take(100_000).collect();
    let tiny: Vec<u8> = marker.iter().copied().cycle().take(1024).collect();
    put(
        &mut user,
        sse_kms("lab-bucket", "big.bin", &key.key_id),
        &big,
    )
    .await
    .expect("a 20 MiB SSE-KMS PUT into the S3 store");
    put(&mut user, put_header("lab-bucket", "small.txt"), &small)
        .await
        .expect("an SSE-S3 PUT into the S3 store");
    put(&mut user, put_header("lab-bucket", "tiny.txt"), &tiny)
        .await
        .expect("a small SSE-S3 PUT");

    let (_, bytes) = get(&mut user, "lab-bucket", "big.bin").await.unwrap();
    assert!(bytes == big, "the 20 MiB object reads back whole");
    let (_, bytes) = get(&mut user, "lab-bucket", "small.txt").await.unwrap();
    assert_eq!(bytes, small);
    let (_, bytes) = get(&mut user, "lab-bucket", "tiny.txt").await.unwrap();
    assert_eq!(bytes, tiny);

    let stored = stored_objects(&moto);
    assert_eq!(
        stored.len(),
        2,
        "{:?}",
        stored.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    for (name, body) in &stored {
        assert!(name.starts_with("keyhold/objects/blobs/"), "{name}");
        assert!(
            !body.windows(16).any(|w| marker.windows(16).any(|m| m == w)),
            "{name} holds plaintext"
        );
    }
    let sizes: Vec<usize> = stored.iter().map(|s| s.1.len()).collect();
    assert!(sizes.contains(&(big.len() + 321 * 16)), "{sizes:?}");

    user.delete_object(DeleteObjectRequest {
        bucket: "lab-bucket".into(),
        key: "big.bin".into(),
    })
    .await
    .unwrap();
    let mut left = stored_objects(&moto).len();
    for _ in 0..20 {
        if left == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        left = stored_objects(&moto).len();
    }
    assert_eq!(
        left, 1,
        "the deleted object's blob is still in the S3 store"
    );
    assert_eq!(
        get(&mut user, "lab-bucket", "big.bin")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
}
