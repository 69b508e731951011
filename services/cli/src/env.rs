//! `keyhold env`: `export` lines for the endpoints of `keyhold up`'s default ports and
//! the lab user's dev credentials, for `keyhold` itself (`KEYHOLD_*_ENDPOINT`) and for
//! the AWS CLI and SDKs (`AWS_ENDPOINT_URL_*`, `AWS_ACCESS_KEY_ID`...).

use crate::{dev_secrets, services::SERVICES, up::aws_cli_setup};

/// What `keyhold env` prints.
pub fn exports() -> String {
    let mut out = String::new();
    for service in SERVICES {
        if let Some(grpc) = service.endpoints.iter().find(|e| e.protocol == "grpc") {
            let name = service.name.trim_end_matches("-svc").to_ascii_uppercase();
            out += &format!("export KEYHOLD_{name}_ENDPOINT=http://{}\n", grpc.addr);
        }
    }
    let credentials = dev_secrets::dev_credentials();
    let aws = aws_cli_setup(SERVICES.iter().flat_map(|s| s.endpoints), &credentials);
    // Only the export lines: the profile snippet is for a file, not a shell.
    for line in aws
        .lines()
        .filter(|line| line.trim_start().starts_with("export "))
    {
        out += line.trim_start();
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_endpoint_and_the_lab_users_keys_are_exported() {
        assert_eq!(
            super::exports(),
            "export KEYHOLD_AUDIT_ENDPOINT=http://127.0.0.1:50053
export KEYHOLD_KMS_ENDPOINT=http://127.0.0.1:50051
export KEYHOLD_OBJECT_ENDPOINT=http://127.0.0.1:50052
export AWS_ENDPOINT_URL_CLOUDTRAIL=http://127.0.0.1:9002
export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:9001
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:9000
export AWS_ACCESS_KEY_ID=AKIAKEYHOLDDEVUSER01 AWS_SECRET_ACCESS_KEY=dev-only-user-0001-secret-not-for-production AWS_DEFAULT_REGION=us-east-1
"
        );
    }
}
