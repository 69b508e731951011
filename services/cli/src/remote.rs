//! What every command that talks to a running keyhold shares: where the services
//! are, whose credentials to present, how a response is printed and how an error is
//! reported (as the AWS CLI does: `An error occurred (<Code>) when calling the
//! <Operation> operation: <message>` on stderr, exit status 254).

use std::{fmt, process::ExitCode};

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

    /// The access key id to present (the lab user's with `keyhold up`'s dev secrets).
    #[arg(
        long,
        global = true,
        env = "AWS_ACCESS_KEY_ID",
        default_value = "AKIAKEYHOLDDEVUSER01"
    )]
    pub access_key_id: String,

    /// Its secret.
    #[arg(
        long,
        global = true,
        env = "AWS_SECRET_ACCESS_KEY",
        hide_env_values = true,
        default_value = "dev-only-user-0001-secret-not-for-production"
    )]
    pub secret_access_key: String,

    /// How responses are printed: `json` (the AWS CLI's shapes and names, stable for
    /// scripts) or `text` (tab-separated values, one line per item).
    #[arg(long, global = true, value_enum, default_value_t = Output::Json)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Json,
    Text,
}

impl RemoteArgs {
    pub fn credentials(&self) -> ClientCredentials {
        ClientCredentials::new(&self.access_key_id, &self.secret_access_key)
    }

    /// A channel to `endpoint`, connected when first used.
    pub fn channel(endpoint: &str) -> anyhow::Result<Channel> {
        Ok(Endpoint::from_shared(endpoint.to_owned())
            .map_err(|e| anyhow::anyhow!("{endpoint} is not an endpoint URL: {e}"))?
            .connect_lazy())
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
    output: Output,
) -> anyhow::Result<()> {
    let response = reply(operation, result)?;
    print(&format!("{package}.{operation}Response"), &response, output);
    Ok(())
}

/// Prints `response` (a message of keyhold's protos, by full name) as `output` says:
/// JSON in the AWS CLI's shape, or its values as text.
pub fn print<M: prost::Message>(message_name: &str, response: &M, output: Output) {
    let value = aws_json(message_name, response);
    match output {
        Output::Json => {
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            println!("{text}");
        }
        Output::Text => print_text(&value),
    }
}

/// Prints one item of a stream: compact JSON on one line, or its text line(s).
pub fn print_line<M: prost::Message>(message_name: &str, item: &M, output: Output) {
    let value = aws_json(message_name, item);
    match output {
        Output::Json => println!("{value}"),
        Output::Text => print_text(&value),
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
            None => {
                eprintln!("keyhold: {}", crate::console::one_line(&error));
                ExitCode::FAILURE
            }
        },
    }
}
