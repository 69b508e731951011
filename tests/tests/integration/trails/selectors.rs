//! What each kind of selector delivers: management events only (a new trail's
//! default), the data events of one bucket prefix, and advanced selectors. Each trail
//! delivers into a bucket of its own.

use keyhold_proto::{audit::v1 as pb, kms::v1::ListKeysRequest};
use keyhold_tests::{
    Who,
    kms::console_key,
    object::{get, put, put_header},
    setup::create_bucket,
    trails::TrailStack,
};

use super::{
    assert_no_duplicates, create_with_bucket, delivered_when, object_events, start_logging,
};

const DATA: &str = "databucket1";

fn field(name: &str, equals: &[&str]) -> pb::AdvancedFieldSelector {
    pb::AdvancedFieldSelector {
        field: name.into(),
        equals: equals.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn each_trail_delivers_what_its_selectors_pick() {
    let stack = TrailStack::start(&[]).await;
    let mut trails = stack.trails(Who::User1);
    create_with_bucket(&mut trails, "managementOnly", "mgmtbucket1").await;
    create_with_bucket(&mut trails, "logsPrefix", "prefixbucket1").await;
    create_with_bucket(&mut trails, "advanced", "advancedbucket1").await;
    trails
        .put_event_selectors(pb::PutEventSelectorsRequest {
            trail_name: "logsPrefix".into(),
            event_selectors: vec![pb::EventSelector {
                read_write_type: "All".into(),
                include_management_events: Some(false),
                data_resources: vec![pb::DataResource {
                    r#type: "AWS::S3::Object".into(),
                    values: vec![format!("arn:aws:s3:::{DATA}/logs/")],
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    // Writes under the bucket but not under tmp/, and CreateKey among management events.
    let selectors = trails
        .put_event_selectors(pb::PutEventSelectorsRequest {
            trail_name: "advanced".into(),
            advanced_event_selectors: vec![
                pb::AdvancedEventSelector {
                    name: "object writes but tmp/".into(),
                    field_selectors: vec![
                        field("eventCategory", &["Data"]),
                        field("resources.type", &["AWS::S3::Object"]),
                        field("readOnly", &["false"]),
                        pb::AdvancedFieldSelector {
                            field: "resources.ARN".into(),
                            starts_with: vec![format!("arn:aws:s3:::{DATA}/")],
                            not_starts_with: vec![format!("arn:aws:s3:::{DATA}/tmp/")],
                            ..Default::default()
                        },
                    ],
                },
                pb::AdvancedEventSelector {
                    name: "CreateKey".into(),
                    field_selectors: vec![
                        field("eventCategory", &["Management"]),
                        field("eventName", &["CreateKey"]),
                    ],
                },
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(selectors.advanced_event_selectors.len(), 2);
    let read_back = trails
        .get_event_selectors(pb::GetEventSelectorsRequest {
            trail_name: "advanced".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        read_back.advanced_event_selectors,
        selectors.advanced_event_selectors
    );
    assert!(read_back.event_selectors.is_empty());
    for name in ["managementOnly", "logsPrefix", "advanced"] {
        start_logging(&mut trails, name).await;
    }

    let mut objects = stack.objects(Who::User1);
    create_bucket(&mut objects, DATA).await;
    for key in ["logs/a.txt", "other/b.txt", "tmp/c.txt"] {
        put(&mut objects, put_header(DATA, key), b"x")
            .await
            .unwrap();
        get(&mut objects, DATA, key).await.unwrap();
    }
    let mut kms = stack.object.kms.client(Who::User1);
    let key = console_key(&mut kms, &["AWSLabsUser-0001"], &["AWSLabsUser-0001"]).await;
    kms.list_keys(ListKeysRequest::default()).await.unwrap();
    let object = |key: &str| format!("arn:aws:s3:::{DATA}/{key}");
    let created_key = |r: &serde_json::Value| {
        r["eventName"] == "CreateKey"
            && r["responseElements"]["keyMetadata"]["keyId"] == key.key_id.as_str()
    };

    let management = delivered_when(&stack, "mgmtbucket1", |records| {
        records.iter().any(created_key) && records.iter().any(|r| r["eventName"] == "ListKeys")
    })
    .await;
    assert_no_duplicates(&management);
    assert!(
        management
            .iter()
            .all(|r| r["eventCategory"] == "Management"),
        "a new trail delivers management events only"
    );

    let prefixed = delivered_when(&stack, "prefixbucket1", |records| {
        object_events(records, "GetObject", &object("logs/a.txt")).len() == 1
    })
    .await;
    assert_no_duplicates(&prefixed);
    assert_eq!(
        object_events(&prefixed, "PutObject", &object("logs/a.txt")).len(),
        1
    );
    for record in &prefixed {
        assert_eq!(record["eventCategory"], "Data", "{record}");
        let arns = record["resources"].to_string();
        assert!(arns.contains(&object("logs/")), "outside logs/: {record}");
    }

    let advanced = delivered_when(&stack, "advancedbucket1", |records| {
        records.iter().any(created_key)
            && object_events(records, "PutObject", &object("other/b.txt")).len() == 1
    })
    .await;
    assert_no_duplicates(&advanced);
    assert_eq!(
        object_events(&advanced, "PutObject", &object("logs/a.txt")).len(),
        1
    );
    for record in &advanced {
        let name = record["eventName"].as_str().unwrap();
        assert!(
            name == "CreateKey" || name == "PutObject",
            "only writes and CreateKey: {record}"
        );
        assert!(
            !record["resources"].to_string().contains("/tmp/"),
            "{record}"
        );
    }
}
