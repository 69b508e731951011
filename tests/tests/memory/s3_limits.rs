//! What a caller without credentials can make the S3 endpoint spend: memory per
//! request, time per connection, connections, and its share of the request quota.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use keyhold_tests::{
    ObjectHarness,
    s3::{resident_bytes, stream_request, xml_field},
};

const GIB: u64 = 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;
/// How far above idle object-svc's memory may go while large requests arrive.
const MEMORY_ALLOWANCE: u64 = 64 * MIB;

/// A request that streams a 1 GiB body, and the answer it must get before the
/// body is read.
struct Upload {
    head: String,
    prefix: &'static [u8],
    chunked: bool,
    status: u16,
    code: &'static str,
}

/// Runs `uploads` in parallel, each streaming a 1 GiB body generated on the fly,
/// while watching this process's resident memory (object-svc runs in it). Checks
/// that each got its answer before the client had sent much, and returns how far
/// memory rose above idle. Should memory pass twice the allowance, every client
/// stops sending, so that a regression fails the test instead of the machine.
async fn stream_in_parallel(harness: &ObjectHarness, uploads: Vec<Upload>) -> u64 {
    let _measuring = keyhold_tests::measuring_memory().await;
    let idle = resident_bytes();
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(idle));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (stop, peak, done) = (stop.clone(), peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let now = resident_bytes();
                peak.fetch_max(now, Ordering::SeqCst);
                if now > idle + 2 * MEMORY_ALLOWANCE {
                    stop.store(true, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let address = harness.s3_address;
    let requests = uploads.into_iter().map(|upload| {
        let stop = stop.clone();
        tokio::spawn(async move {
            let seen = stream_request(
                address,
                &upload.head,
                upload.prefix,
                GIB,
                upload.chunked,
                stop,
                Duration::from_secs(10),
            )
            .await;
            (upload, seen)
        })
    });
    let answers = futures::future::join_all(requests).await;
    done.store(true, Ordering::SeqCst);
    watcher.await.unwrap();
    for answer in answers {
        let (upload, seen) = answer.expect("a client task");
        assert_eq!(seen.status, upload.status, "{}: {seen:?}", upload.head);
        assert_eq!(
            xml_field(&seen.response, "Code").as_deref(),
            Some(upload.code),
            "{}",
            seen.response
        );
        // What the kernel's socket buffers took before the answer came, no more.
        assert!(
            seen.sent < 64 * MIB,
            "{}: sent {} bytes",
            upload.head,
            seen.sent
        );
    }
    peak.load(Ordering::SeqCst).saturating_sub(idle)
}

/// Section 2 of issue 12: a browser-form POST (multipart/form-data) to a bucket that
/// does not exist made s3s collect the whole file part in memory before anything
/// was checked. keyhold does not serve POST Object, so such a POST is refused from
/// its headers; an XML document that cannot be served (no length, over 4 MiB) is
/// refused before it is read, too. Eight 1 GiB bodies at once leave memory where
/// it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_that_cannot_be_served_are_refused_before_they_are_read() {
    let harness = ObjectHarness::start().await;
    let host = harness.s3_address.to_string();
    // A form whose file part is the 1 GiB that follows.
    let form: &[u8] = b"--x\r\ncontent-disposition: form-data; name=\"key\"\r\n\r\nbig.bin\r\n--x\r\ncontent-disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\ncontent-type: application/octet-stream\r\n\r\n";
    let form_post = |path: &str| Upload {
        head: format!(
            "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: multipart/form-data; boundary=x"
        ),
        prefix: form,
        chunked: true,
        status: 501,
        code: "NotImplemented",
    };
    let document = |chunked: bool| Upload {
        head: format!("PUT /nosuchbucket?acl HTTP/1.1\r\nhost: {host}"),
        prefix: b"<AccessControlPolicy>",
        chunked,
        status: if chunked { 411 } else { 400 },
        code: if chunked {
            "MissingContentLength"
        } else {
            "MaxMessageLengthExceeded"
        },
    };
    // The first request warms up what every connection shares.
    stream_in_parallel(&harness, vec![form_post("/nosuchbucket?x=1")]).await;

    let uploads = vec![
        form_post("/nosuchbucket?x=1"),
        form_post("/nosuchbucket?x=2"),
        form_post("/nosuchbucket?uploads"),
        form_post("/nosuchbucket"),
        document(true),
        document(true),
        document(false),
        document(false),
    ];
    let rise = stream_in_parallel(&harness, uploads).await;
    eprintln!("object-svc's memory rose {} KiB above idle", rise / 1024);
    assert!(
        rise < MEMORY_ALLOWANCE,
        "object-svc's memory rose {} MiB above idle",
        rise / MIB
    );
}

/// Issue 12, section 4: requests without credentials share one quota per source
/// address; adding `?X-Amz-Credential=x` made the edge take them for signed
/// requests (which are counted per verified principal), so none was ever counted.
#[tokio::test]
async fn the_anonymous_quota_cannot_be_skipped_with_a_credential_parameter() {
    let harness = ObjectHarness::start_with_flags(&["--requests-per-second", "2"]).await;
    let endpoint = harness.s3_endpoint();
    for query in [
        "",
        "?X-Amz-Credential=x",
        "?X-Amz-Credential=AKIAKEYHOLDDEVUSER01%2F20260101%2Fus-east-1%2Fs3%2Faws4_request",
    ] {
        // Let the address's bucket fill up again.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let url = format!("{endpoint}/some-bucket{query}");
        let requests = (0..20).map(|_| keyhold_tests::s3::send_raw("GET", &url, &[], Vec::new()));
        let answers = futures::future::join_all(requests).await;
        let throttled = answers
            .iter()
            .filter(|(status, xml)| {
                *status == 503 && xml_field(xml, "Code").as_deref() == Some("SlowDown")
            })
            .count();
        assert!(throttled >= 10, "{query:?}: {throttled} of 20 throttled");
    }
}

/// s3s holds each aws-chunked chunk whole before checking its signature, and a
/// chunk may declare up to 4 GiB: a signed upload whose first chunk declares 1 GiB
/// is refused as soon as that size is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signed_upload_cannot_declare_a_huge_chunk() {
    use keyhold_tests::{
        Who,
        s3::{Payload, RawSigner},
    };
    let harness = ObjectHarness::start().await;
    harness
        .s3(Who::User1)
        .create_bucket()
        .bucket("uploads")
        .send()
        .await
        .unwrap();
    let host = harness.s3_address.to_string();
    let upload = |key: &str| {
        let url = harness.object_url("uploads", key);
        let length = GIB.to_string();
        let (headers, _) = RawSigner::new(Who::User1).sign(
            "PUT",
            &url,
            &[
                ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", &length),
            ],
            Payload::StreamingSigned,
        );
        let mut head = format!("PUT /uploads/{key} HTTP/1.1\r\nhost: {host}");
        for (name, value) in headers {
            head.push_str(&format!("\r\n{name}: {value}"));
        }
        Upload {
            head,
            // One chunk of 1 GiB (0x40000000); its signature is never reached.
            prefix: b"40000000;chunk-signature=0000000000000000000000000000000000000000000000000000000000000000\r\n",
            chunked: false,
            status: 400,
            code: "InvalidRequest",
        }
    };
    let rise = stream_in_parallel(&harness, vec![upload("one"), upload("two")]).await;
    assert!(
        rise < MEMORY_ALLOWANCE,
        "object-svc's memory rose {} MiB above idle",
        rise / MIB
    );
    let listed = harness
        .s3(Who::User1)
        .list_objects_v2()
        .bucket("uploads")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing was stored");
}
