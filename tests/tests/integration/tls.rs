//! The TLS contract (docs/kubernetes.md): the gRPC ports over TLS, service identity
//! from client certificates, the services calling each other over mTLS without
//! service keys, the plaintext health port, and certificate renewal.

use std::{sync::Arc, time::Duration};

use clap::Parser;
use keyhold_cli::tls::DevCa;
use keyhold_platform::{MemorySink, auth::ClientCredentials, config::BadConfig};
use keyhold_proto::{
    audit::v1::{self as audit_pb, audit_service_client::AuditServiceClient},
    kms::v1::{ListKeysRequest, kms_service_client::KmsServiceClient},
    object::v1::object_service_client::ObjectServiceClient,
};
use keyhold_tests::{
    TestDatabase,
    kms::{USER1_ARN, Who, credentials, kms_config, lab_user_key},
    object::{get, put, sse_kms},
    tls::{Pki, health, plain_channel, served_certificate, start_kms, tls_channel, wait_serving},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Code, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

type Kmsc<T> = KmsServiceClient<T>;

async fn list_keys(channel: Channel, who: ClientCredentials) -> Result<(), tonic::Status> {
    Kmsc::with_interceptor(channel, who)
        .list_keys(ListKeysRequest::default())
        .await
        .map(|_| ())
}

fn code(result: Result<(), tonic::Status>) -> Code {
    match result {
        Ok(()) => Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test]
async fn the_grpc_port_serves_tls_and_certificates_name_services() {
    let pki = Pki::create();
    let kms = start_kms(&pki, &[]).await;
    let ca = pki.ca.pem();
    let as_service =
        |name: &str| tls_channel(kms.address, ca, Some(&pki.ca.issue(Some(name)).unwrap()));

    // Plaintext is refused; a user without a certificate authenticates as before.
    assert!(health(plain_channel(kms.address), "").await.is_err());
    let anonymous_tls = tls_channel(kms.address, ca, None);
    assert_eq!(
        code(list_keys(anonymous_tls.clone(), credentials(Who::User1)).await),
        Code::Ok
    );

    // object-svc's certificate, no bearer: object-svc, also acting for a user.
    let object_svc = as_service("object-svc");
    let mut kms_client = Kmsc::with_interceptor(
        object_svc.clone(),
        ClientCredentials::anonymous().on_behalf_of(USER1_ARN),
    );
    kms_client
        .list_keys(ListKeysRequest::default())
        .await
        .unwrap();
    // As itself it is authenticated (what it may do is the policies' business).
    assert_ne!(
        code(list_keys(object_svc.clone(), ClientCredentials::anonymous()).await),
        Code::Unauthenticated
    );
    // Its certificate and its own keys agree; a user's bearer does not.
    let (akid, secret) = Who::ObjectSvcForUser1.credentials().unwrap();
    assert_eq!(
        code(
            list_keys(
                object_svc.clone(),
                ClientCredentials::new(akid, secret).on_behalf_of(USER1_ARN)
            )
            .await
        ),
        Code::Ok
    );
    assert_eq!(
        code(list_keys(object_svc.clone(), credentials(Who::User2)).await),
        Code::Unauthenticated
    );

    // Over TLS, a user's bearer cannot act for another, and a service's keys
    // without its certificate authenticate nobody.
    assert_eq!(
        code(
            list_keys(
                anonymous_tls.clone(),
                credentials(Who::User2).on_behalf_of(USER1_ARN)
            )
            .await
        ),
        Code::PermissionDenied
    );
    assert_eq!(
        code(
            list_keys(
                anonymous_tls.clone(),
                ClientCredentials::new(akid, secret).on_behalf_of(USER1_ARN)
            )
            .await
        ),
        Code::Unauthenticated
    );

    // A certificate naming a user or nobody known is UNAUTHENTICATED.
    for name in ["AWSLabsUser-0001", "nobody"] {
        assert_eq!(
            code(list_keys(as_service(name), ClientCredentials::anonymous()).await),
            Code::Unauthenticated,
            "{name}"
        );
    }

    // A certificate of another CA fails the handshake.
    let stranger = DevCa::new("another CA")
        .unwrap()
        .issue(Some("object-svc"))
        .unwrap();
    let refused = list_keys(
        tls_channel(kms.address, ca, Some(&stranger)),
        credentials(Who::User1),
    )
    .await;
    // TLS 1.3: the client's handshake is done before the server judges its
    // certificate, so the call fails on the alert that closes the connection.
    let refused = refused.expect_err("the server refuses a stranger's certificate");
    assert!(
        matches!(refused.code(), Code::Unavailable | Code::Unknown),
        "a transport failure, not an answer: {refused:?}"
    );

    kms.shutdown.cancel();
    kms.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn bad_tls_files_are_configuration_errors() {
    let pki = Pki::create();
    let database = TestDatabase::create().await;
    std::fs::write(pki.dir.join("kms-svc-key.pem"), "not a key").unwrap();
    let missing = pki.dir.join("absent.pem").display().to_string();
    let cases: Vec<Vec<String>> = vec![
        pki.flags("kms-svc"),
        vec![
            "--tls-cert-file".into(),
            pki.dir.join("kms-svc.pem").display().to_string(),
        ],
        {
            let mut flags = pki.flags("object-svc");
            flags[3] = missing;
            flags
        },
        {
            // object-svc's key does not fit kms-svc's certificate.
            let mut flags = pki.flags("kms-svc");
            flags[3] = pki.dir.join("object-svc-key.pem").display().to_string();
            flags
        },
    ];
    for flags in cases {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let config = kms_config(&database.url, &pki.dir, &flags);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let error = kms_svc::run_with_sink(
            config,
            listener,
            CancellationToken::new(),
            Arc::new(MemorySink::default()),
        )
        .await
        .expect_err("bad TLS files stop the service");
        assert!(
            error.chain().any(|cause| cause.is::<BadConfig>()),
            "exit 64: {error:#}"
        );
        assert!(!format!("{error:#}").contains('\n'), "one line: {error:#}");
    }
}

#[tokio::test]
async fn the_health_port_mirrors_the_grpc_port_in_plaintext() {
    let pki = Pki::create();
    let health_address = keyhold_tests::free_address();
    let kms = start_kms(&pki, &["--health-listen", &health_address.to_string()]).await;
    let port = plain_channel(health_address);
    assert_eq!(
        health(port.clone(), "keyhold.kms.v1.KmsService")
            .await
            .unwrap(),
        1
    );
    let mut watch = HealthClient::new(port)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status, 1);
    kms.shutdown.cancel();
    // SIGTERM turns it NOT_SERVING (2) while the gRPC port drains.
    let next = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("a status change");
    assert_eq!(next.unwrap().unwrap().status, 2);
    kms.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_renewed_certificate_serves_new_connections() {
    let pki = Pki::create();
    let kms = start_kms(&pki, &["--tls-reload-seconds", "1"]).await;
    let before = served_certificate(kms.address, pki.ca.pem()).await;
    pki.write_cert("kms-svc", &pki.ca.issue(Some("kms-svc")).unwrap());
    let started = std::time::Instant::now();
    loop {
        if served_certificate(kms.address, pki.ca.pem()).await != before {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still the old certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A broken renewal keeps the certificate in use.
    let current = served_certificate(kms.address, pki.ca.pem()).await;
    std::fs::write(pki.dir.join("kms-svc-key.pem"), "broken").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(served_certificate(kms.address, pki.ca.pem()).await, current);
    kms.shutdown.cancel();
    kms.task.await.unwrap().unwrap();
}

/// The lab's SSE-KMS PUT and GET through object-svc, with every service over mTLS
/// and no service key anywhere: object-svc calls kms-svc, kms-svc and object-svc
/// stream their records to audit-svc, all as their certificates.
#[tokio::test]
async fn the_lab_path_runs_over_mtls_without_service_keys() {
    let pki = Pki::create();
    pki.drop_service_keys();
    let databases = [
        TestDatabase::create().await,
        TestDatabase::create().await,
        TestDatabase::create().await,
    ];
    let listeners = [
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    ];
    let [kms_at, object_at, audit_at] = [0, 1, 2].map(|i| listeners[i].local_addr().unwrap());
    let [kms_listener, object_listener, audit_listener] = listeners;
    let s3 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let dir = |name: &str| pki.dir.join(name).display().to_string();
    let common = |service: &str, database: &TestDatabase| {
        let mut args = vec![
            service.to_owned(),
            "--principals-file".into(),
            dir("principals.json"),
            "--database-url".into(),
            database.url.clone(),
            "--shutdown-grace-seconds".into(),
            "5".into(),
        ];
        args.extend(pki.flags(service));
        args
    };
    let audit_endpoint = format!("https://localhost:{}", audit_at.port());
    let spool = |service: &str| {
        vec![
            "--audit-endpoint".to_owned(),
            audit_endpoint.clone(),
            "--audit-spool-dir".into(),
            dir(&format!("spool-{service}")),
            "--master-key-file".into(),
            dir("master.key"),
        ]
    };

    let mut audit_args = common("audit-svc", &databases[2]);
    audit_args.extend([
        "--object-endpoint".into(),
        format!("https://localhost:{}", object_at.port()),
    ]);
    let audit = audit_svc::Config::try_parse_from(audit_args).unwrap();
    let mut kms_args = common("kms-svc", &databases[0]);
    kms_args.extend(spool("kms-svc"));
    let kms = kms_svc::Config::try_parse_from(kms_args).unwrap();
    let mut object_args = common("object-svc", &databases[1]);
    object_args.extend(spool("object-svc"));
    object_args.extend([
        "--blob-store".into(),
        dir("blobs"),
        "--kms-endpoint".into(),
        format!("https://localhost:{}", kms_at.port()),
    ]);
    let object = object_svc::Config::try_parse_from(object_args).unwrap();

    let tasks = [
        tokio::spawn(audit_svc::run(audit, audit_listener, shutdown.clone())),
        tokio::spawn(kms_svc::run(kms, kms_listener, shutdown.clone())),
        tokio::spawn(object_svc::run(
            object,
            object_svc::Listeners {
                grpc: object_listener,
                s3,
            },
            shutdown.clone(),
        )),
    ];
    let ca = pki.ca.pem();
    for address in [audit_at, kms_at, object_at] {
        wait_serving(tls_channel(address, ca, None)).await;
    }

    // The user over TLS, with the bearer as always.
    let mut user_kms =
        Kmsc::with_interceptor(tls_channel(kms_at, ca, None), credentials(Who::User1));
    let key = lab_user_key(&mut user_kms).await;
    let mut objects = ObjectServiceClient::with_interceptor(
        tls_channel(object_at, ca, None),
        credentials(Who::User1),
    );
    keyhold_tests::setup::create_bucket(&mut objects, "tls-bucket").await;
    let body = b"sealed over mTLS".to_vec();
    put(&mut objects, sse_kms("tls-bucket", "k", &key.arn), &body)
        .await
        .expect("SSE-KMS PUT: object-svc -> kms-svc over mTLS");
    let (_, read) = get(&mut objects, "tls-bucket", "k")
        .await
        .expect("SSE-KMS GET");
    assert_eq!(read, body);

    // kms-svc's record of object-svc's GenerateDataKey reached audit-svc over mTLS.
    let mut lookup = AuditServiceClient::with_interceptor(
        tls_channel(audit_at, ca, None),
        credentials(Who::User1),
    );
    let started = std::time::Instant::now();
    let record = loop {
        let page = lookup
            .lookup_events(audit_pb::LookupEventsRequest {
                lookup_attributes: vec![audit_pb::LookupAttribute {
                    attribute_key: "EventName".into(),
                    attribute_value: "GenerateDataKey".into(),
                }],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if let Some(event) = page.events.first() {
            break serde_json::from_str::<serde_json::Value>(&event.cloud_trail_event).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no GenerateDataKey record"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(record["userIdentity"]["arn"], USER1_ARN);
    assert_eq!(record["userIdentity"]["invokedBy"], "s3.amazonaws.com");

    shutdown.cancel();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
}
