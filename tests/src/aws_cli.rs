//! The AWS CLI as the tests' users: `aws` with only the test's settings, pointed at
//! keyhold's AWS endpoints by `AWS_ENDPOINT_URL_<SERVICE>` as `keyhold up` prints
//! them, its JSON output and its errors.

use std::path::{Path, PathBuf};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::Value;

use crate::{Who, tools::aws_cli};

/// Where an AWS CLI command is pointed, as `keyhold up` prints it: each service's
/// `AWS_ENDPOINT_URL_<SERVICE>`.
#[derive(Debug, Clone, Default)]
pub struct AwsEndpoints {
    pub kms: Option<String>,
    pub cloudtrail: Option<String>,
    pub s3: Option<String>,
}

/// `aws` as `who`, pointed at `endpoints`, with only these settings: none of the
/// machine's profiles or credentials. `home` holds the CLI's files. A tokio command:
/// the services under test run on the test's runtime.
pub fn aws_command(home: &Path, who: Who, endpoints: &AwsEndpoints) -> tokio::process::Command {
    let (access_key, secret) = who.credentials().expect("a principal with keys");
    let mut command = tokio::process::Command::new(aws_cli());
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (name, url) in [
        ("AWS_ENDPOINT_URL_KMS", &endpoints.kms),
        ("AWS_ENDPOINT_URL_CLOUDTRAIL", &endpoints.cloudtrail),
        ("AWS_ENDPOINT_URL_S3", &endpoints.s3),
    ] {
        if let Some(url) = url {
            command.env(name, url);
        }
    }
    command
}

/// The error code and message of a failed AWS CLI command, from its
/// `An error occurred (<Code>) when calling the <Operation> operation: <message>`.
pub fn aws_error(stderr: &str) -> Option<(String, String)> {
    let line = stderr
        .lines()
        .find(|line| line.contains("An error occurred ("))?;
    let rest = &line[line.find("An error occurred (")? + "An error occurred (".len()..];
    let (code, rest) = rest.split_once(')')?;
    let (_, message) = rest.split_once(" operation: ")?;
    Some((code.to_owned(), message.trim_end().to_owned()))
}

/// The AWS CLI as the test's users, with its files under `home`.
pub struct Cli {
    pub home: PathBuf,
    pub endpoints: AwsEndpoints,
}

impl Cli {
    pub fn new(home: PathBuf, endpoints: AwsEndpoints) -> Self {
        std::fs::create_dir_all(&home).expect("the CLI's home");
        Cli { home, endpoints }
    }

    /// A file under the CLI's home, written with `bytes`, as `file://` or `fileb://`.
    pub fn file(&self, name: &str, bytes: &[u8], scheme: &str) -> String {
        let path = self.home.join(name);
        std::fs::write(&path, bytes).expect("write a CLI input file");
        format!("{scheme}://{}", path.display())
    }

    pub async fn output(&self, who: Who, args: &[&str]) -> std::process::Output {
        let mut command = aws_command(&self.home, who, &self.endpoints);
        command.args(args).args(["--output", "json"]);
        command.output().await.expect("run the AWS CLI")
    }

    /// The JSON output of a command that must succeed (Null when it prints nothing).
    pub async fn ok(&self, who: Who, args: &[&str]) -> Value {
        let output = self.output(who, args).await;
        assert!(
            output.status.success(),
            "aws {args:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        if output.stdout.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        serde_json::from_slice(&output.stdout).expect("the CLI prints JSON")
    }

    /// The error code and message of a command that must fail with an AWS error.
    pub async fn fails(&self, who: Who, args: &[&str]) -> (String, String) {
        let output = self.output(who, args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "aws {args:?} succeeded");
        aws_error(&stderr).unwrap_or_else(|| panic!("no AWS error in: {stderr}"))
    }
}

/// The string at `pointer` in `value`.
pub fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {value}"))
}

/// The base64 blob at `pointer` in `value`, decoded.
pub fn blob(value: &Value, pointer: &str) -> Vec<u8> {
    STANDARD
        .decode(text(value, pointer))
        .expect("a base64 blob")
}
