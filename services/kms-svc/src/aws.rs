//! kms-svc's AWS JSON 1.1 protocol (`aws kms`, the SDKs' KMS clients): the operations
//! are KmsService's methods under their AWS names (platform's aws_json).

use keyhold_platform::aws_json::AwsProtocol;

pub const DEFAULT_AWS_LISTEN: &str = "127.0.0.1:9001";

pub static PROTOCOL: AwsProtocol = AwsProtocol {
    target_prefixes: &["TrentService."],
    signing_name: "kms",
    grpc_services: &[crate::GRPC_SERVICE],
    // The HTTP statuses of AWS KMS's model; every other exception is a 400.
    statuses: &[
        ("AlreadyExistsException", 409),
        ("DisabledException", 409),
        ("KMSInvalidStateException", 409),
        ("NotFoundException", 404),
        ("KMSInternalException", 500),
        ("DependencyTimeoutException", 503),
    ],
};
