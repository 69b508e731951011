//! The `keyhold` binary against real services (keyhold_tests' harness): each command's
//! output and exit status, as a user sees them.

mod events;
mod kms;
mod trail;

use std::process::Output;

use keyhold_tests::Who;
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

/// The JSON a command that must succeed prints.
pub fn json_of(args: &[&str], output: &Output) -> Value {
    assert!(
        output.status.success(),
        "keyhold {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}
