use prost::Message;
use serde_json::json;

use super::*;

fn message(name: &str) -> MessageDescriptor {
    keyhold_proto::descriptor_pool()
        .get_message_by_name(name)
        .unwrap()
}

fn request(name: &str, body: Value) -> Result<DynamicMessage, TranslateError> {
    request_from_json(&message(name), body.to_string().as_bytes())
}

fn response(name: &str, encoded: Vec<u8>) -> Value {
    response_to_json(&DynamicMessage::decode(message(name), encoded.as_slice()).unwrap())
}

#[test]
fn members_are_pascal_case_blobs_base64_and_contexts_maps() {
    let decoded = request(
        "keyhold.kms.v1.EncryptRequest",
        json!({
            "KeyId": "alias/myFirstKey",
            "Plaintext": "aGVsbG8=",
            "EncryptionContext": {"purpose": "lab"},
            "GrantTokens": [],
        }),
    )
    .unwrap();
    let typed =
        keyhold_proto::kms::v1::EncryptRequest::decode(decoded.encode_to_vec().as_slice()).unwrap();
    assert_eq!(typed.key_id, "alias/myFirstKey");
    assert_eq!(typed.plaintext, b"hello");
    assert_eq!(typed.encryption_context["purpose"], "lab");
}

#[test]
fn unknown_members_with_a_value_are_refused_and_empty_or_default_ones_dropped() {
    let unsupported = |body: Value| request("keyhold.kms.v1.CreateKeyRequest", body).unwrap_err();
    assert_eq!(
        unsupported(json!({"Origin": "EXTERNAL"})),
        TranslateError::Unsupported {
            member: "Origin".into()
        }
    );
    // keyhold's own fields are not part of the AWS shape.
    assert_eq!(
        unsupported(json!({"KeyUsers": ["bob"]})),
        TranslateError::Unsupported {
            member: "KeyUsers".into()
        }
    );
    assert_eq!(
        unsupported(json!({"Tags": [{"TagKey": "a", "Colour": "red"}]})),
        TranslateError::Unsupported {
            member: "Tags.Colour".into()
        }
    );
    request(
        "keyhold.kms.v1.CreateKeyRequest",
        json!({"Origin": "AWS_KMS", "MultiRegion": false, "Tags": [], "Description": null}),
    )
    .unwrap();
}

#[test]
fn wrong_types_name_the_member_without_quoting_the_value() {
    let encrypt = message("keyhold.kms.v1.EncryptRequest");
    let body = json!({"KeyId": "k", "Plaintext": "not base64 secret!"}).to_string();
    assert_eq!(
        request_from_json(&encrypt, body.as_bytes()).unwrap_err(),
        TranslateError::Serialization {
            message: "The value of member 'Plaintext' is not of the expected type.".into()
        }
    );
    for body in [&b"{\"KeyId\": "[..], b"[1, 2]"] {
        let error = request_from_json(&encrypt, body).unwrap_err();
        assert!(matches!(error, TranslateError::Serialization { .. }));
    }
    // An empty body is an empty input.
    request_from_json(&encrypt, b"").unwrap();
}

#[test]
fn timestamps_are_epoch_seconds_on_the_wire() {
    let decoded = request(
        "keyhold.audit.v1.LookupEventsRequest",
        json!({"StartTime": 1_700_000_000, "EndTime": 1_700_000_000.5,
               "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Decrypt"}]}),
    )
    .unwrap();
    let typed =
        keyhold_proto::audit::v1::LookupEventsRequest::decode(decoded.encode_to_vec().as_slice())
            .unwrap();
    assert_eq!(typed.start_time, "2023-11-14T22:13:20Z");
    assert_eq!(typed.end_time, "2023-11-14T22:13:20.500Z");
    assert_eq!(typed.lookup_attributes[0].attribute_value, "Decrypt");

    let metadata = keyhold_proto::kms::v1::KeyMetadata {
        aws_account_id: "000000000000".into(),
        key_id: "k".into(),
        creation_date: "2023-11-14T22:13:20.250Z".into(),
        enabled: false,
        key_state: "Disabled".into(),
        encryption_algorithms: vec!["SYMMETRIC_DEFAULT".into()],
        ..Default::default()
    };
    let described = keyhold_proto::kms::v1::DescribeKeyResponse {
        key_metadata: Some(metadata),
    };
    assert_eq!(
        response(
            "keyhold.kms.v1.DescribeKeyResponse",
            described.encode_to_vec()
        ),
        json!({"KeyMetadata": {
            "AWSAccountId": "000000000000",
            "KeyId": "k",
            "CreationDate": 1_700_000_000.25,
            "Enabled": false,
            "KeyState": "Disabled",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": false,
        }})
    );
}

#[test]
fn outputs_keep_false_and_empty_lists_and_drop_empty_strings() {
    let listed = keyhold_proto::kms::v1::ListKeysResponse::default();
    assert_eq!(
        response("keyhold.kms.v1.ListKeysResponse", listed.encode_to_vec()),
        json!({"Keys": [], "Truncated": false})
    );
}

#[test]
fn declared_names_win_over_pascal_case() {
    let decoded = request(
        "keyhold.audit.v1.DescribeTrailsRequest",
        json!({"trailNameList": ["lab"], "includeShadowTrails": true}),
    )
    .unwrap();
    let typed =
        keyhold_proto::audit::v1::DescribeTrailsRequest::decode(decoded.encode_to_vec().as_slice())
            .unwrap();
    assert_eq!(typed.trail_name_list, ["lab"]);
    assert_eq!(typed.include_shadow_trails, Some(true));
    let described = keyhold_proto::audit::v1::DescribeTrailsResponse {
        trail_list: vec![keyhold_proto::audit::v1::Trail {
            name: "lab".into(),
            trail_arn: "arn:aws:cloudtrail:us-east-1:000000000000:trail/lab".into(),
            ..Default::default()
        }],
    };
    let json = response(
        "keyhold.audit.v1.DescribeTrailsResponse",
        described.encode_to_vec(),
    );
    assert_eq!(json["trailList"][0]["Name"], "lab");
    assert_eq!(
        json["trailList"][0]["TrailARN"],
        "arn:aws:cloudtrail:us-east-1:000000000000:trail/lab"
    );
}
