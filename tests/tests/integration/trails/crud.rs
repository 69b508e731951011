//! TrailService's calls, each error by its AWS name and message, and the audit
//! records of trail calls.

use keyhold_proto::{
    audit::v1::{self as pb, audit_service_client::AuditServiceClient},
    object::v1::PutBucketPolicyRequest,
};
use keyhold_tests::{
    Who, assert_error,
    kms::{READER_ARN, credentials},
    setup::create_bucket,
    trails::TrailStack,
};
use tonic::Code;

use super::{ACCOUNT, arn, create_with_bucket, start_logging};

#[tokio::test]
async fn a_trail_is_created_read_listed_updated_and_deleted() {
    let stack = TrailStack::start(&[]).await;
    let mut trails = stack.trails(Who::User1);
    let created = create_with_bucket(&mut trails, "myTrail", "mycloudtrailbucket1").await;
    assert_eq!(
        created,
        pb::CreateTrailResponse {
            name: "myTrail".into(),
            s3_bucket_name: "mycloudtrailbucket1".into(),
            include_global_service_events: true,
            trail_arn: arn("myTrail"),
            ..Default::default()
        }
    );
    // The new bucket carries CloudTrail's policy for this trail, and SSE-S3.
    let mut objects = stack.objects(Who::User1);
    let policy = objects
        .get_bucket_policy(keyhold_proto::object::v1::GetBucketPolicyRequest {
            bucket: "mycloudtrailbucket1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy;
    let policy: serde_json::Value = serde_json::from_str(&policy).unwrap();
    let sids: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids, ["AWSCloudTrailAclCheck", "AWSCloudTrailWrite"]);
    assert_eq!(
        policy["Statement"][1]["Resource"],
        format!("arn:aws:s3:::mycloudtrailbucket1/AWSLogs/{ACCOUNT}/*")
    );
    assert_eq!(
        policy["Statement"][1]["Condition"]["StringEquals"]["aws:SourceArn"],
        arn("myTrail")
    );
    let encryption = objects
        .get_bucket_encryption(keyhold_proto::object::v1::GetBucketEncryptionRequest {
            bucket: "mycloudtrailbucket1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let rule = &encryption
        .server_side_encryption_configuration
        .unwrap()
        .rules[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default
            .as_ref()
            .unwrap()
            .sse_algorithm,
        "AES256"
    );

    // By name and by ARN.
    for name in ["myTrail".to_owned(), arn("myTrail")] {
        let trail = trails
            .get_trail(pb::GetTrailRequest { name })
            .await
            .unwrap()
            .into_inner()
            .trail
            .unwrap();
        assert_eq!(trail.trail_arn, arn("myTrail"));
        assert_eq!(trail.home_region, "us-east-1");
        assert!(!trail.has_custom_event_selectors);
    }
    let listed = trails
        .list_trails(pb::ListTrailsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.trails,
        [pb::TrailInfo {
            trail_arn: arn("myTrail"),
            name: "myTrail".into(),
            home_region: "us-east-1".into()
        }]
    );
    let described = trails
        .describe_trails(pb::DescribeTrailsRequest {
            trail_name_list: vec!["myTrail".into(), "nope".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(described.trail_list.len(), 1, "unknown names are left out");

    let updated = trails
        .update_trail(pb::UpdateTrailRequest {
            name: "myTrail".into(),
            enable_log_file_validation: Some(true),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(updated.log_file_validation_enabled);
    assert_eq!(updated.s3_bucket_name, "mycloudtrailbucket1");

    // Logging on and off, with its times.
    let status = |trails: &mut keyhold_tests::trails::TrailClient| {
        let mut trails = trails.clone();
        async move {
            trails
                .get_trail_status(pb::GetTrailStatusRequest {
                    name: "myTrail".into(),
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let before = status(&mut trails).await;
    assert!(!before.is_logging);
    assert_eq!(before.start_logging_time, "");
    start_logging(&mut trails, "myTrail").await;
    let logging = status(&mut trails).await;
    assert!(logging.is_logging);
    assert!(logging.start_logging_time.ends_with('Z'));
    trails
        .stop_logging(pb::StopLoggingRequest {
            name: "myTrail".into(),
        })
        .await
        .unwrap();
    let stopped = status(&mut trails).await;
    assert!(!stopped.is_logging);
    assert!(stopped.stop_logging_time.ends_with('Z'));

    trails
        .delete_trail(pb::DeleteTrailRequest {
            name: "myTrail".into(),
        })
        .await
        .unwrap();
    assert_error(
        trails
            .get_trail(pb::GetTrailRequest {
                name: "myTrail".into(),
            })
            .await,
        Code::NotFound,
        "TrailNotFoundException",
        &format!("Unknown trail: {} for the user: {ACCOUNT}", arn("myTrail")),
    );

    // Every call was recorded as a management event of CloudTrail.
    let mut audit =
        AuditServiceClient::with_interceptor(stack.audit_channel(), credentials(Who::User1));
    let started = std::time::Instant::now();
    let create = loop {
        let page = audit
            .lookup_events(pb::LookupEventsRequest {
                lookup_attributes: vec![pb::LookupAttribute {
                    attribute_key: "EventName".into(),
                    attribute_value: "CreateTrail".into(),
                }],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if let Some(event) = page.events.first() {
            break event.clone();
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let record: serde_json::Value = serde_json::from_str(&create.cloud_trail_event).unwrap();
    assert_eq!(record["eventSource"], "cloudtrail.amazonaws.com");
    assert_eq!(record["eventCategory"], "Management");
    assert_eq!(record["readOnly"], false);
    assert_eq!(record["requestParameters"]["name"], "myTrail");
    assert_eq!(
        record["requestParameters"]["s3BucketName"],
        "mycloudtrailbucket1"
    );
    assert_eq!(record["resources"][0]["ARN"], arn("myTrail"));
}

#[tokio::test]
async fn each_error_has_cloudtrails_name_and_message() {
    let stack = TrailStack::start(&[]).await;
    let mut trails = stack.trails(Who::User1);
    create_with_bucket(&mut trails, "myTrail", "mycloudtrailbucket1").await;
    let create = |name: &str, bucket: &str| pb::CreateTrailRequest {
        name: name.into(),
        s3_bucket_name: bucket.into(),
        ..Default::default()
    };

    assert_error(
        trails
            .create_trail(create("myTrail", "mycloudtrailbucket1"))
            .await,
        Code::AlreadyExists,
        "TrailAlreadyExistsException",
        "Trail myTrail already exists for customer: 000000000000",
    );
    assert_error(
        trails.create_trail(create("other", "nosuchbucket")).await,
        Code::NotFound,
        "S3BucketDoesNotExistException",
        "S3 bucket nosuchbucket does not exist.",
    );
    // A bucket without CloudTrail's policy; then one whose policy names another trail.
    create_bucket(&mut stack.objects(Who::User1), "plainbucket").await;
    assert_error(
        trails.create_trail(create("other", "plainbucket")).await,
        Code::FailedPrecondition,
        "InsufficientS3BucketPolicyException",
        "Incorrect S3 bucket policy is detected for bucket: plainbucket",
    );
    let for_my_trail = audit_svc::trails::object_client::cloudtrail_bucket_policy(
        "plainbucket",
        "",
        ACCOUNT,
        &arn("myTrail"),
    );
    stack
        .objects(Who::User1)
        .put_bucket_policy(PutBucketPolicyRequest {
            bucket: "plainbucket".into(),
            policy: for_my_trail,
        })
        .await
        .unwrap();
    assert_error(
        trails.create_trail(create("other", "plainbucket")).await,
        Code::FailedPrecondition,
        "InsufficientS3BucketPolicyException",
        "Incorrect S3 bucket policy is detected for bucket: plainbucket",
    );
    // The same bucket check on UpdateTrail; myTrail is allowed there.
    trails
        .update_trail(pb::UpdateTrailRequest {
            name: "myTrail".into(),
            s3_bucket_name: Some("plainbucket".into()),
            ..Default::default()
        })
        .await
        .expect("the policy names myTrail");
    assert_error(
        trails
            .update_trail(pb::UpdateTrailRequest {
                name: "myTrail".into(),
                s3_bucket_name: Some("nosuchbucket".into()),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "S3BucketDoesNotExistException",
        "S3 bucket nosuchbucket does not exist.",
    );

    for (name, message) in [
        (
            "ab",
            "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 2 characters.",
        ),
        ("-trail", "Trail name must starts with a letter or number."),
        (
            "my--trail",
            "Trail name cannot contain consecutive special characters (periods, underscores, or hyphens).",
        ),
        (
            "my trail",
            "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).",
        ),
        (
            "192.168.5.4",
            "Trail name cannot be formatted as an IP address.",
        ),
    ] {
        assert_error(
            trails
                .create_trail(create(name, "mycloudtrailbucket1"))
                .await,
            Code::InvalidArgument,
            "InvalidTrailNameException",
            message,
        );
    }
    assert_error(
        trails
            .create_trail(pb::CreateTrailRequest {
                s3_key_prefix: "/logs".into(),
                ..create("other", "mycloudtrailbucket1")
            })
            .await,
        Code::InvalidArgument,
        "InvalidS3PrefixException",
        "S3 prefix /logs is not valid: it may not start or end with '/' nor hold '//'.",
    );
    assert_error(
        trails.create_trail(create("other", "Bad_Bucket")).await,
        Code::InvalidArgument,
        "InvalidS3BucketNameException",
        "Bucket name Bad_Bucket is not valid: 3 to 63 lowercase letters, numbers, periods and hyphens, starting and ending with a letter or number.",
    );
    assert_error(
        trails
            .create_trail(pb::CreateTrailRequest {
                kms_key_id: "not-a-key".into(),
                ..create("other", "mycloudtrailbucket1")
            })
            .await,
        Code::InvalidArgument,
        "InvalidKmsKeyIdException",
        "Invalid KmsKeyId not-a-key",
    );
    assert_error(
        trails
            .get_trail_status(pb::GetTrailStatusRequest {
                name: "nope".into(),
            })
            .await,
        Code::NotFound,
        "TrailNotFoundException",
        &format!("Unknown trail: {} for the user: {ACCOUNT}", arn("nope")),
    );
    // Another account's trail ARN names no trail of this account.
    assert_error(
        trails
            .start_logging(pb::StartLoggingRequest {
                name: "arn:aws:cloudtrail:us-east-1:111111111111:trail/myTrail".into(),
            })
            .await,
        Code::NotFound,
        "TrailNotFoundException",
        "Unknown trail: arn:aws:cloudtrail:us-east-1:111111111111:trail/myTrail for the user: 000000000000",
    );

    // Selectors.
    assert_error(
        trails
            .get_insight_selectors(pb::GetInsightSelectorsRequest {
                trail_name: "myTrail".into(),
            })
            .await,
        Code::FailedPrecondition,
        "InsightNotEnabledException",
        &format!(
            "Trail {} does not have Insights enabled. Enable Insights on the trail, and try again.",
            arn("myTrail")
        ),
    );
    assert_error(
        trails
            .put_insight_selectors(pb::PutInsightSelectorsRequest {
                trail_name: "myTrail".into(),
                insight_selectors: vec![pb::InsightSelector {
                    insight_type: "ApiSlownessInsight".into(),
                }],
            })
            .await,
        Code::InvalidArgument,
        "InvalidInsightSelectorsException",
        "Invalid InsightType ApiSlownessInsight. Valid values: ApiCallRateInsight, ApiErrorRateInsight.",
    );
    let both = vec![
        pb::InsightSelector {
            insight_type: "ApiCallRateInsight".into(),
        },
        pb::InsightSelector {
            insight_type: "ApiErrorRateInsight".into(),
        },
    ];
    trails
        .put_insight_selectors(pb::PutInsightSelectorsRequest {
            trail_name: "myTrail".into(),
            insight_selectors: both.clone(),
        })
        .await
        .unwrap();
    let insights = trails
        .get_insight_selectors(pb::GetInsightSelectorsRequest {
            trail_name: "myTrail".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(insights.insight_selectors, both);
    let basic = pb::EventSelector {
        read_write_type: "Sometimes".into(),
        ..Default::default()
    };
    assert_error(
        trails
            .put_event_selectors(pb::PutEventSelectorsRequest {
                trail_name: "myTrail".into(),
                event_selectors: vec![basic.clone()],
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "InvalidEventSelectorsException",
        "Value Sometimes for ReadWriteType is invalid. Valid values: ReadOnly, WriteOnly, All.",
    );
    assert_error(
        trails
            .put_event_selectors(pb::PutEventSelectorsRequest {
                trail_name: "myTrail".into(),
                event_selectors: vec![basic],
                advanced_event_selectors: vec![pb::AdvancedEventSelector::default()],
            })
            .await,
        Code::InvalidArgument,
        "InvalidParameterCombinationException",
        "Only one of EventSelectors and AdvancedEventSelectors can be specified.",
    );

    // Permissions come from the caller's identity policy.
    let mut reader = stack.trails(Who::Reader);
    assert_error(
        reader
            .get_trail(pb::GetTrailRequest {
                name: "myTrail".into(),
            })
            .await,
        Code::PermissionDenied,
        "AccessDeniedException",
        &format!(
            "User: {READER_ARN} is not authorized to perform: cloudtrail:GetTrail on resource: {} because no identity-based policy allows the cloudtrail:GetTrail action",
            arn("myTrail")
        ),
    );

    assert_error(
        trails
            .list_public_keys(pb::ListPublicKeysRequest {
                next_token: "nope".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "InvalidNextTokenException",
        "Invalid NextToken: keyhold returns every public key in one page.",
    );
}
