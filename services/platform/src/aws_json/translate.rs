//! AWS JSON 1.1 bodies to and from keyhold's protobuf messages, by descriptor.
//!
//! The proto messages already have AWS's shapes; what differs on the wire is declared
//! on the fields (`keyhold.options.v1`): member names are PascalCase of the field name
//! unless `aws_name` says otherwise, `aws_timestamp` strings are epoch seconds on the
//! wire, `keyhold_only` fields are never read or written here, and `aws_omit_zero`
//! zeros are left out. Blobs are standard base64 in both (proto3 JSON and AWS agree).

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};

use chrono::{DateTime, SecondsFormat, Utc};
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage,
    SerializeOptions, Value as PValue,
};
use serde_json::{Map, Value};

const OPTION: &str = "keyhold.options.v1.";

/// Why a request body could not become the operation's input message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranslateError {
    /// A member keyhold does not implement, with a value that would change what the
    /// call does: refused rather than ignored.
    Unsupported { member: String },
    /// The body, or one member of it, is not of the type the operation expects.
    Serialization { message: String },
}

/// Members AWS SDKs may send with the value that changes nothing: accepted and
/// dropped, whatever the operation.
const HARMLESS: &[(&str, &str)] = &[("Origin", "AWS_KMS"), ("MultiRegion", "false")];

/// The input message of an operation, from its AWS JSON body.
pub fn request_from_json(
    descriptor: &MessageDescriptor,
    body: &[u8],
) -> Result<DynamicMessage, TranslateError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        // SDKs send `{}` for an empty input; some tools send nothing at all.
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|error| TranslateError::Serialization {
            message: format!(
                "The request body is not valid JSON (line {}, column {}).",
                error.line(),
                error.column()
            ),
        })?
    };
    let Value::Object(_) = value else {
        return Err(TranslateError::Serialization {
            message: "The request body must be a JSON object.".to_owned(),
        });
    };
    let proto_json = to_proto_json(descriptor, value, "")?;
    decode(descriptor, proto_json)
}

/// The AWS JSON body of an operation's output message.
pub fn response_to_json(message: &DynamicMessage) -> Value {
    let options = SerializeOptions::new()
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    let value = message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .unwrap_or(Value::Object(Map::new()));
    from_proto_json(&message.descriptor(), value)
}

/// The AWS members of a message, by name: for a structure (or a list of them) its
/// message, for anything else (scalars, blobs, maps) none. `keyhold_only` fields are
/// not members.
pub fn aws_members(descriptor: &MessageDescriptor) -> Vec<(String, Option<MessageDescriptor>)> {
    shape_of(descriptor)
        .fields
        .iter()
        .filter(|field| !field.keyhold_only)
        .map(|field| {
            let nested = field.message.clone().filter(|_| !field.descriptor.is_map());
            (field.aws_name.clone(), nested)
        })
        .collect()
}

fn decode(descriptor: &MessageDescriptor, value: Value) -> Result<DynamicMessage, TranslateError> {
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    match DynamicMessage::deserialize_with_options(descriptor.clone(), &value, &options) {
        Ok(message) => Ok(message),
        Err(_) => Err(TranslateError::Serialization {
            message: describe_bad_member(descriptor, &value, ""),
        }),
    }
}

/// Names the first member that does not decode on its own. The decoder's own error
/// would quote the value, which may be a plaintext.
fn describe_bad_member(descriptor: &MessageDescriptor, value: &Value, path: &str) -> String {
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    if let Value::Object(members) = value {
        for (json_name, member) in members {
            let alone = Value::Object(Map::from_iter([(json_name.clone(), member.clone())]));
            if DynamicMessage::deserialize_with_options(descriptor.clone(), &alone, &options)
                .is_err()
            {
                let name = shape_of(descriptor)
                    .fields
                    .iter()
                    .find(|field| field.descriptor.json_name() == json_name)
                    .map(|field| field.aws_name.clone())
                    .unwrap_or_else(|| json_name.clone());
                return format!("The value of member '{path}{name}' is not of the expected type.");
            }
        }
    }
    "The request body does not have the shape the operation expects.".to_owned()
}

/// AWS member names to proto3 JSON names, timestamps to RFC 3339, at every depth.
fn to_proto_json(
    descriptor: &MessageDescriptor,
    value: Value,
    path: &str,
) -> Result<Value, TranslateError> {
    let Value::Object(members) = value else {
        // A wrong type is the decoder's to report, with the member it belongs to.
        return Ok(value);
    };
    let shape = shape_of(descriptor);
    let mut out = Map::new();
    for (name, member) in members {
        let Some(field) = shape.by_aws_name.get(&name).map(|&i| &shape.fields[i]) else {
            if is_empty(&member) || is_harmless(&name, &member) {
                continue;
            }
            return Err(TranslateError::Unsupported {
                member: format!("{path}{name}"),
            });
        };
        if member.is_null() {
            continue;
        }
        let member_path = format!("{path}{name}.");
        let member = if field.timestamp {
            timestamp_in(member)
        } else {
            match (&field.message, member) {
                (Some(inner), Value::Array(items)) if field.descriptor.is_list() => Value::Array(
                    items
                        .into_iter()
                        .map(|item| to_proto_json(inner, item, &member_path))
                        .collect::<Result<_, _>>()?,
                ),
                (Some(inner), member) if !field.descriptor.is_map() => {
                    to_proto_json(inner, member, &member_path)?
                }
                (_, member) => member,
            }
        };
        out.insert(field.descriptor.json_name().to_owned(), member);
    }
    Ok(Value::Object(out))
}

/// proto3 JSON (every field present) to AWS's: AWS names, epoch timestamps, absent
/// members left out.
fn from_proto_json(descriptor: &MessageDescriptor, value: Value) -> Value {
    let Value::Object(mut members) = value else {
        return value;
    };
    let mut out = Map::new();
    for field in &shape_of(descriptor).fields {
        let Some(member) = members.remove(field.descriptor.json_name()) else {
            continue;
        };
        if field.keyhold_only || is_absent(field, &member) {
            continue;
        }
        let member = if field.timestamp {
            match timestamp_out(&member) {
                Some(seconds) => seconds,
                None => continue,
            }
        } else {
            match (&field.message, member) {
                (Some(inner), Value::Array(items)) if field.descriptor.is_list() => Value::Array(
                    items
                        .into_iter()
                        .map(|item| from_proto_json(inner, item))
                        .collect(),
                ),
                (Some(inner), member) if !field.descriptor.is_map() => {
                    from_proto_json(inner, member)
                }
                (_, member) => member,
            }
        };
        out.insert(field.aws_name.clone(), member);
    }
    Value::Object(out)
}

/// A message's fields as the AWS protocol sees them, read once from their options
/// (reading options decodes them: too slow for every call).
struct MessageShape {
    fields: Vec<FieldShape>,
    /// Index into `fields` by AWS member name; `keyhold_only` fields are not here.
    by_aws_name: HashMap<String, usize>,
}

struct FieldShape {
    descriptor: FieldDescriptor,
    aws_name: String,
    /// The message type of a message field (of its items, for a list).
    message: Option<MessageDescriptor>,
    timestamp: bool,
    keyhold_only: bool,
    omit_zero: bool,
}

impl MessageShape {
    fn of(descriptor: &MessageDescriptor) -> MessageShape {
        let fields: Vec<FieldShape> = descriptor
            .fields()
            .map(|field| FieldShape {
                aws_name: aws_name(&field),
                message: field_message(&field),
                timestamp: flag(&field, "aws_timestamp"),
                keyhold_only: flag(&field, "keyhold_only"),
                omit_zero: flag(&field, "aws_omit_zero"),
                descriptor: field,
            })
            .collect();
        let by_aws_name = fields
            .iter()
            .enumerate()
            .filter(|(_, field)| !field.keyhold_only)
            .map(|(index, field)| (field.aws_name.clone(), index))
            .collect();
        MessageShape {
            fields,
            by_aws_name,
        }
    }
}

/// The shape of `descriptor`: from the cache made of keyhold's pool on first use, or
/// made now for a message of another pool.
fn shape_of(descriptor: &MessageDescriptor) -> Arc<MessageShape> {
    static SHAPES: OnceLock<HashMap<String, Arc<MessageShape>>> = OnceLock::new();
    let shapes = SHAPES.get_or_init(|| {
        keyhold_proto::descriptor_pool()
            .all_messages()
            .map(|message| {
                let shape = Arc::new(MessageShape::of(&message));
                (message.full_name().to_owned(), shape)
            })
            .collect()
    });
    match shapes.get(descriptor.full_name()) {
        Some(shape) if descriptor.parent_pool() == keyhold_proto::descriptor_pool() => {
            shape.clone()
        }
        _ => Arc::new(MessageShape::of(descriptor)),
    }
}

/// The member's AWS name: its `aws_name` option, else PascalCase of the field name.
fn aws_name(field: &FieldDescriptor) -> String {
    if let Some(name) = string_option(field, "aws_name") {
        return name;
    }
    field
        .name()
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn field_message(field: &FieldDescriptor) -> Option<MessageDescriptor> {
    match field.kind() {
        Kind::Message(message) => Some(message),
        _ => None,
    }
}

fn flag(field: &FieldDescriptor, name: &str) -> bool {
    let pool = field.parent_pool();
    pool.get_extension_by_name(&format!("{OPTION}{name}"))
        .map(|ext| {
            matches!(
                field.options().get_extension(&ext).as_ref(),
                PValue::Bool(true)
            )
        })
        .unwrap_or(false)
}

fn string_option(field: &FieldDescriptor, name: &str) -> Option<String> {
    let pool = field.parent_pool();
    let ext = pool.get_extension_by_name(&format!("{OPTION}{name}"))?;
    match field.options().get_extension(&ext).as_ref() {
        PValue::String(text) if !text.is_empty() => Some(text.clone()),
        _ => None,
    }
}

/// What SDKs send for a member they were given no value for.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(members) => members.is_empty(),
        Value::Number(_) | Value::Bool(true) => false,
    }
}

fn is_harmless(name: &str, value: &Value) -> bool {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    HARMLESS
        .iter()
        .any(|(member, default)| *member == name && *default == text)
}

/// AWS leaves out members that have no value: empty strings (an unset marker, a
/// deletion date of a key not pending deletion), nulls, and declared zeros.
fn is_absent(field: &FieldShape, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Number(number) => field.omit_zero && number.as_f64() == Some(0.0),
        _ => false,
    }
}

/// Epoch seconds (what SDKs send) to RFC 3339; anything else is left for the
/// decoder, which takes strings as they are and refuses the rest.
fn timestamp_in(value: Value) -> Value {
    let Some(seconds) = value.as_f64() else {
        return value;
    };
    let millis = (seconds * 1000.0).round() as i64;
    match DateTime::<Utc>::from_timestamp_millis(millis) {
        Some(time) => Value::String(time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        None => value,
    }
}

/// RFC 3339 to epoch seconds with milliseconds, as AWS sends timestamps.
fn timestamp_out(value: &Value) -> Option<Value> {
    let text = value.as_str()?;
    let time = DateTime::parse_from_rfc3339(text).ok()?;
    let seconds = time.timestamp_millis() as f64 / 1000.0;
    serde_json::Number::from_f64(seconds).map(Value::Number)
}

#[cfg(test)]
mod tests;
