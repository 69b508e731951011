//! The `keyhold` binary against real services (keyhold_tests' harness): each command's
//! output and exit status, as a user sees them.

mod errors;
mod events;
mod kms;
mod lab;
mod output;
mod readme;
mod s3;
mod tls;
mod trail;

use std::process::Output;

use keyhold_tests::{Who, trails::TrailStack};
use serde_json::Value;

/// `keyhold <args>` as `who`, with only these settings: the keys, and `endpoints` as
/// `(variable, URL)` (KEYHOLD_KMS_ENDPOINT...).
pub async fn keyhold(who: Who, endpoints: &[(&str, String)], args: &[&str]) -> Output {
    command(who, endpoints, args)
        .output()
        .await
        .expect("run keyhold")
}

/// The command [`keyhold`] runs, for a test that drives the process itself.
pub fn command(who: Who, endpoints: &[(&str, String)], args: &[&str]) -> tokio::process::Command {
    let (access_key, secret) = who.credentials().expect("keys");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhold"));
    command
        .args(args)
        .env_clear()
        .envs(endpoints.iter().map(|(name, url)| (*name, url.as_str())))
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", secret);
    command
}

/// The JSON a command that must succeed prints (null for nothing).
pub fn json_of(args: &[&str], output: &Output) -> Value {
    assert!(
        output.status.success(),
        "keyhold {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // An empty response prints nothing, as the AWS CLI's.
    if output.stdout.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// Every endpoint of `stack`, as `keyhold env` names them.
pub fn endpoints(stack: &TrailStack) -> Vec<(&'static str, String)> {
    vec![
        (
            "KEYHOLD_KMS_ENDPOINT",
            format!("http://{}", stack.object.kms.address),
        ),
        (
            "KEYHOLD_OBJECT_ENDPOINT",
            format!("http://{}", stack.object.address),
        ),
        (
            "KEYHOLD_AUDIT_ENDPOINT",
            format!("http://{}", stack.audit_address),
        ),
        (
            "AWS_ENDPOINT_URL_S3",
            format!("http://{}", stack.object.s3_address),
        ),
    ]
}

/// Standard output of a command that must succeed.
pub fn stdout_of(args: &[&str], output: &Output) -> String {
    assert!(
        output.status.success(),
        "keyhold {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 on stdout")
}
