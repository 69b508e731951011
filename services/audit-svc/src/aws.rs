//! audit-svc's AWS JSON 1.1 protocol (`aws cloudtrail`, the SDKs' CloudTrail
//! clients): LookupEvents and the trail operations under their AWS names
//! (platform's aws_json).

use keyhold_platform::aws_json::AwsProtocol;

pub const DEFAULT_AWS_LISTEN: &str = "127.0.0.1:9002";

pub static PROTOCOL: AwsProtocol = AwsProtocol {
    target_prefixes: &[
        "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.",
        "CloudTrail_20131101.",
    ],
    signing_name: "cloudtrail",
    grpc_services: &crate::GRPC_SERVICES,
    // The HTTP statuses of AWS CloudTrail's model; every other exception is a 400.
    statuses: &[
        ("TrailNotFoundException", 404),
        ("S3BucketDoesNotExistException", 404),
        ("AccessDeniedException", 403),
        ("InsufficientS3BucketPolicyException", 403),
        ("ThrottlingException", 429),
    ],
};
