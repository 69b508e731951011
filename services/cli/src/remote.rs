//! What every command that talks to a running keyhold shares: where the services
//! are, whose credentials to present, how a response is printed and how an error is
//! reported (as the AWS CLI does: `An error occurred (<Code>) when calling the
//! <Operation> operation: <message>` on stderr, exit status 254).

use std::{fmt, io::IsTerminal as _, process::ExitCode};

use anyhow::Context as _;

use crate::profiles;
use keyhold_platform::{auth::ClientCredentials, aws_json::translate, error::exception_of};
use prost_reflect::DynamicMessage;
use tonic::{
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

/// The AWS CLI's exit status for an error the service returned.
pub const SERVICE_ERROR_EXIT: u8 = 254;

/// Flags every remote command takes; each has the environment variable `keyhold up`
/// and the AWS CLI use.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Endpoints, credentials and output")]
pub struct RemoteArgs {
    /// kms-svc's gRPC endpoint.
    #[arg(
        long,
        global = true,
        env = "KEYHOLD_KMS_ENDPOINT",
        default_value = "http://127.0.0.1:50051"
    )]
    pub kms_endpoint: String,

    /// audit-svc's gRPC endpoint.
    #[arg(
        long,
        global = true,
        env = "KEYHOLD_AUDIT_ENDPOINT",
        default_value = "http://127.0.0.1:50053"
    )]
    pub audit_endpoint: String,

    /// object-svc's gRPC endpoint.
    #[arg(
        long,
        global = true,
        env = "KEYHOLD_OBJECT_ENDPOINT",
        default_value = "http://127.0.0.1:50052"
    )]
    pub object_endpoint: String,

    /// The S3 endpoint, for the URLs of `keyhold s3 presign` and `keyhold lab`.
    #[arg(
        long,
        global = true,
        env = "AWS_ENDPOINT_URL_S3",
        default_value = "http://127.0.0.1:9000"
    )]
    pub s3_endpoint: String,

    /// The region presigned URLs are signed for.
    #[arg(
        long,
        global = true,
        env = "AWS_DEFAULT_REGION",
        default_value = "us-east-1"
    )]
    pub region: String,

    /// The CA bundle (PEM) that verifies https:// endpoints (`keyhold up --tls`:
    /// .keyhold/tls/ca.pem).
    #[arg(long, global = true, env = "AWS_CA_BUNDLE")]
    pub ca_bundle: Option<std::path::PathBuf>,

    /// A profile of ~/.aws/credentials (or ~/.aws/config) whose keys to present;
    /// AWS_PROFILE names one too, after AWS_ACCESS_KEY_ID.
    #[arg(long, global = true)]
    pub profile: Option<String>,

    /// The access key id to present; without one (and without a profile), the lab
    /// user's of `keyhold up`'s dev secrets.
    #[arg(long, global = true, env = "AWS_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,

    /// Its secret.
    #[arg(
        long,
        global = true,
        env = "AWS_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub secret_access_key: Option<String>,

    /// How responses are printed: `json` (the AWS CLI's shapes and names, stable for
    /// scripts), `table` (readable), or `text` (tab-separated values, one line per
    /// item). Default: table on a terminal, else json.
    #[arg(long, global = true, value_enum)]
    pub output: Option<Output>,

    /// A JMESPath expression applied to the response before it is printed, as the
    /// AWS CLI's (`--query KeyMetadata.KeyId --output text` prints the key id).
    #[arg(long, global = true, value_parser = parse_query)]
    pub query: Option<Query>,
}

/// A `--query` that compiles. Its text is leaked, so that [`Format`] stays `Copy`:
/// one small string for the life of a short process.
#[derive(Debug, Clone, Copy)]
pub struct Query(&'static str);

fn parse_query(text: &str) -> Result<Query, String> {
    jmespath::compile(text).map_err(|e| format!("not a JMESPath expression: {e}"))?;
    Ok(Query(Box::leak(text.to_owned().into_boxed_str())))
}

impl Query {
    fn apply(&self, value: &serde_json::Value) -> serde_json::Value {
        let found = jmespath::compile(self.0).and_then(|expression| {
            let data = jmespath::Variable::from_serializable(value)?;
            expression.search(data)
        });
        found
            .ok()
            .and_then(|found| serde_json::to_value(&*found).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

/// --output and --query together.
#[derive(Debug, Clone, Copy)]
pub struct Format {
    pub output: Output,
    pub query: Option<Query>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Json,
    Table,
    Text,
}

impl RemoteArgs {
    /// The keys to present, first found of: --profile, AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the lab user's dev keys (the AWS CLI's
    /// order, with keyhold's dev user where it would find nothing).
    pub fn keys(&self) -> anyhow::Result<Keys> {
        if let Some(profile) = &self.profile {
            return profiles::keys(profile);
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => return Keys::new(id, secret),
            (Some(_), None) => {
                anyhow::bail!("AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY")
            }
            (None, Some(_)) => {
                anyhow::bail!("AWS_SECRET_ACCESS_KEY is set without AWS_ACCESS_KEY_ID")
            }
            (None, None) => {}
        }
        if let Some(profile) = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()) {
            return profiles::keys(&profile);
        }
        let lab_user = crate::dev_secrets::dev_credentials()
            .into_iter()
            .find(|c| c.name == crate::up::LAB_USER)
            .context("the dev principals name the lab user")?;
        Keys::new(&lab_user.access_key_id, &lab_user.secret_access_key)
    }

    /// How to print: --output (else a table for a person at a terminal, JSON for a
    /// program) and --query.
    pub fn output(&self) -> Format {
        let output = self.output.unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                Output::Table
            } else {
                Output::Json
            }
        });
        Format {
            output,
            query: self.query,
        }
    }

    /// The gRPC credentials of [`Self::keys`].
    pub fn credentials(&self) -> anyhow::Result<ClientCredentials> {
        let keys = self.keys()?;
        Ok(ClientCredentials::new(
            &keys.access_key_id,
            &keys.secret_access_key,
        ))
    }

    /// A channel to `endpoint`, connected when first used: over TLS, verified with
    /// --ca-bundle, when it is an https:// URL.
    pub fn channel(&self, endpoint: &str) -> anyhow::Result<Channel> {
        let parsed = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|e| anyhow::anyhow!("{endpoint} is not an endpoint URL: {e}"))?;
        if parsed.uri().scheme_str() != Some("https") {
            return Ok(parsed.connect_lazy());
        }
        let Some(bundle) = &self.ca_bundle else {
            anyhow::bail!(
                "{endpoint} is an https:// endpoint: name the CA that signed its certificate with --ca-bundle or AWS_CA_BUNDLE (keyhold up --tls: .keyhold/tls/ca.pem)"
            );
        };
        let pem = std::fs::read(bundle)
            .with_context(|| format!("cannot read the CA bundle {}", bundle.display()))?;
        let config = keyhold_platform::tls::client_config_trusting(&pem)
            .with_context(|| format!("the CA bundle {}", bundle.display()))?;
        Ok(keyhold_platform::tls::connect_lazy_tls(parsed, move || {
            config.clone()
        }))
    }
}

/// An access key pair.
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: zeroize::Zeroizing<String>,
}

impl Keys {
    pub fn new(access_key_id: &str, secret_access_key: &str) -> anyhow::Result<Keys> {
        // Header values: anything else could not be sent (and the services hold none).
        let printable = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic());
        anyhow::ensure!(
            printable(access_key_id) && printable(secret_access_key),
            "access keys are printable ASCII without spaces"
        );
        Ok(Keys {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned().into(),
        })
    }
}

/// A gRPC client with the caller's credentials.
pub type Authenticated = InterceptedService<Channel, ClientCredentials>;

/// A failed call, as the AWS CLI reports it.
#[derive(Debug)]
pub struct CallError {
    pub operation: &'static str,
    pub code: String,
    pub message: String,
}

impl CallError {
    pub fn from_status(operation: &'static str, status: &tonic::Status) -> Self {
        let code = exception_of(status).unwrap_or_else(|| match status.code() {
            tonic::Code::Unavailable => "EndpointConnectionError".to_owned(),
            other => format!("{other:?}"),
        });
        CallError {
            operation,
            code,
            message: status.message().to_owned(),
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "An error occurred ({}) when calling the {} operation: {}",
            self.code, self.operation, self.message
        )
    }
}

impl std::error::Error for CallError {}

/// A call's response, or the error the AWS CLI would report for `operation`.
pub fn reply<T>(
    operation: &'static str,
    result: Result<tonic::Response<T>, tonic::Status>,
) -> Result<T, CallError> {
    result
        .map(tonic::Response::into_inner)
        .map_err(|status| CallError::from_status(operation, &status))
}

/// Prints the response of `operation` (its message is `<package>.<operation>Response`),
/// or returns its error.
pub fn show<T: prost::Message>(
    package: &str,
    operation: &'static str,
    result: Result<tonic::Response<T>, tonic::Status>,
    output: Format,
) -> anyhow::Result<()> {
    let response = reply(operation, result)?;
    print(&format!("{package}.{operation}Response"), &response, output);
    Ok(())
}

/// Prints `response` (a message of keyhold's protos, by full name) as `output` says:
/// JSON in the AWS CLI's shape, or its values as text.
pub fn print<M: prost::Message>(message_name: &str, response: &M, format: Format) {
    let value = format.select(aws_json(message_name, response));
    // An empty response prints nothing, as in the AWS CLI (PutObjectAcl, DeleteAlias...).
    if value.as_object().is_some_and(serde_json::Map::is_empty) {
        return;
    }
    match format.output {
        Output::Json => {
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            println!("{text}");
        }
        Output::Table => {
            // keyhold.kms.v1.DescribeKeyResponse: DescribeKey.
            let operation = message_name.rsplit('.').next().unwrap_or(message_name);
            let title = operation.strip_suffix("Response").unwrap_or(operation);
            let no_color = std::env::var_os("NO_COLOR");
            let styled = crate::table::styled(std::io::stdout().is_terminal(), no_color.as_deref());
            print!("{}", crate::table::render(title, &value, styled));
        }
        Output::Text => print_text(&value),
    }
}

/// Prints one item of a stream: compact JSON on one line, or its text line(s).
pub fn print_line<M: prost::Message>(message_name: &str, item: &M, format: Format) {
    let value = format.select(aws_json(message_name, item));
    match format.output {
        // A table a line: the JSON line stays the readable form of one event.
        Output::Json | Output::Table => println!("{value}"),
        Output::Text => print_text(&value),
    }
}

impl Format {
    /// The part of `value` --query selects (all of it without one).
    fn select(&self, value: serde_json::Value) -> serde_json::Value {
        match &self.query {
            Some(query) => query.apply(&value),
            None => value,
        }
    }
}

fn print_text(value: &serde_json::Value) {
    let mut lines = Vec::new();
    text_lines(value, &mut lines);
    for line in lines {
        println!("{line}");
    }
}

/// The AWS JSON of a response: the member names and value shapes `aws` prints.
pub fn aws_json<M: prost::Message>(message_name: &str, response: &M) -> serde_json::Value {
    let descriptor = keyhold_proto::descriptor_pool()
        .get_message_by_name(message_name)
        .unwrap_or_else(|| panic!("{message_name} is not a keyhold message"));
    let dynamic = DynamicMessage::decode(descriptor, response.encode_to_vec().as_slice())
        .expect("a message decodes as its own type");
    translate::response_to_json(&dynamic)
}

/// The AWS CLI's text output: scalars of an object on one tab-separated line, each
/// list item on a line of its own.
fn text_lines(value: &serde_json::Value, lines: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::Object(members) => {
            let mut own = Vec::new();
            let mut nested = Vec::new();
            for member in members.values() {
                match member {
                    Value::Object(_) | Value::Array(_) => nested.push(member),
                    scalar => own.push(scalar_text(scalar)),
                }
            }
            if !own.is_empty() {
                lines.push(own.join("\t"));
            }
            for member in nested {
                text_lines(member, lines);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            if !items.is_empty() {
                lines.push(items.iter().map(scalar_text).collect::<Vec<_>>().join("\t"));
            }
        }
        Value::Array(items) => items.iter().for_each(|item| text_lines(item, lines)),
        scalar => lines.push(scalar_text(scalar)),
    }
}

fn scalar_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The exit status of a command's outcome; the error, if any, on stderr.
pub fn exit_status(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => match error.downcast_ref::<CallError>() {
            Some(call) => {
                eprintln!("\n{call}");
                ExitCode::from(SERVICE_ERROR_EXIT)
            }
            None if error.is::<crate::s3::Failed>() => {
                eprintln!("{error}");
                ExitCode::FAILURE
            }
            None => {
                eprintln!("keyhold: {}", crate::console::one_line(&error));
                ExitCode::FAILURE
            }
        },
    }
}
