//! CloudTrail's limits on LookupEvents and TailEvents fields: an oversized field is
//! refused with CloudTrail's exception, and no error repeats more than a bounded part
//! of what the caller sent (a 3 MB value in an error message used to cost the caller
//! its HTTP/2 connection).

use crate::common;

use common::{AuditHarness, Who, attribute, lookup};
use keyhold_proto::audit::v1 as pb;
use keyhold_tests::assert_error;
use tonic::Code;

const HUGE: usize = 3_000_000;

fn clipped(repeated: char) -> String {
    format!("{}... ({HUGE} bytes)", repeated.to_string().repeat(256))
}

#[tokio::test]
async fn oversized_lookup_fields_are_refused_with_bounded_messages() {
    let audit = AuditHarness::start().await;
    let mut client = audit.client(Who::User1);

    let fits = client
        .lookup_events(lookup(Some(attribute("EventName", &"n".repeat(2000)))))
        .await
        .expect("2000 characters is CloudTrail's limit, not over it")
        .into_inner();
    assert!(fits.events.is_empty());
    let value_too_long = "1 validation error detected: Value at 'lookupAttributes.1.member.attributeValue' failed to satisfy constraint: Member must have length less than or equal to 2000";
    for value in ["n".repeat(2001), "é".repeat(2001), "n".repeat(HUGE)] {
        assert_error(
            client
                .lookup_events(lookup(Some(attribute("EventName", &value))))
                .await,
            Code::InvalidArgument,
            "ValidationException",
            value_too_long,
        );
    }
    assert_error(
        client
            .lookup_events(lookup(Some(attribute(&"K".repeat(HUGE), "v"))))
            .await,
        Code::InvalidArgument,
        "InvalidLookupAttributesException",
        &format!(
            "{} is not a lookup attribute key; valid keys: EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId.",
            clipped('K')
        ),
    );
    let mut time = lookup(None);
    time.start_time = "t".repeat(HUGE);
    assert_error(
        client.lookup_events(time).await,
        Code::InvalidArgument,
        "InvalidTimeRangeException",
        &format!(
            "StartTime {} is not an RFC 3339 timestamp, e.g. 2025-01-31T12:00:00Z.",
            clipped('t')
        ),
    );
    let mut category = lookup(None);
    category.event_category = "c".repeat(HUGE);
    assert_error(
        client.lookup_events(category).await,
        Code::InvalidArgument,
        "InvalidEventCategoryException",
        &format!(
            "Event category {} is not valid; the only valid value is insight.",
            clipped('c')
        ),
    );
    let mut token = lookup(None);
    token.next_token = "A".repeat(HUGE);
    assert_error(
        client.lookup_events(token).await,
        Code::InvalidArgument,
        "InvalidNextTokenException",
        "The NextToken is not valid: it was altered, or it belongs to a request with different lookup attributes, time range or event category.",
    );

    assert_error(
        client
            .tail_events(pb::TailEventsRequest {
                lookup_attribute: Some(attribute("EventName", &"n".repeat(HUGE))),
                event_category: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "ValidationException",
        "1 validation error detected: Value at 'lookupAttribute.attributeValue' failed to satisfy constraint: Member must have length less than or equal to 2000",
    );
    assert_error(
        client
            .tail_events(pb::TailEventsRequest {
                lookup_attribute: None,
                event_category: "c".repeat(HUGE),
            })
            .await,
        Code::InvalidArgument,
        "InvalidEventCategoryException",
        &format!(
            "Event category {} is not valid; use management, data or insight.",
            clipped('c')
        ),
    );
    // Past the shared stack's 4 MiB, a request is refused before it is all read.
    let huge = client
        .lookup_events(lookup(Some(attribute("EventName", &"n".repeat(5 << 20)))))
        .await
        .expect_err("5 MiB is over the limit");
    assert_eq!(
        (huge.code(), huge.message()),
        (
            Code::OutOfRange,
            "the request message is larger than 4194309 bytes"
        )
    );
    audit.stop().await;
}
