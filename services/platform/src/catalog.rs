//! What the audit hook knows of each RPC, read once from the descriptor pool: its
//! message types, whether it is read-only or a data event, and which fields are
//! secrets. The proto options (`keyhold.options.v1`) are the single declaration.

use std::collections::{HashMap, HashSet};

use prost_reflect::{
    DescriptorPool, DynamicMessage, MapKey, MessageDescriptor, ReflectMessage, Value as PValue,
};

use crate::audit::{MAX_FIELD_BYTES, truncate_text};

#[derive(Debug, Clone)]
pub struct MethodInfo {
    pub service: String,
    pub name: String,
    pub input: MessageDescriptor,
    pub output: MessageDescriptor,
    pub read_only: bool,
    pub data_event: bool,
    /// Service-to-service plumbing: only service principals, and never recorded.
    pub internal: bool,
    /// keyhold's own operation (gRPC only): the AWS protocols do not know it.
    pub keyhold_method: bool,
    pub client_streaming: bool,
    pub server_streaming: bool,
}

#[derive(Debug)]
pub struct MethodCatalog {
    by_path: HashMap<String, MethodInfo>,
    sensitive_fields: HashSet<String>,
}

impl MethodCatalog {
    pub fn new(pool: &DescriptorPool) -> Self {
        let flag = |options: &DynamicMessage, name: &str| {
            pool.get_extension_by_name(name)
                .map(|ext| matches!(options.get_extension(&ext).as_ref(), PValue::Bool(true)))
                .unwrap_or(false)
        };
        let mut by_path = HashMap::new();
        for service in pool.services() {
            for method in service.methods() {
                let options = method.options();
                by_path.insert(
                    format!("/{}/{}", service.full_name(), method.name()),
                    MethodInfo {
                        service: service.full_name().to_owned(),
                        name: method.name().to_owned(),
                        input: method.input(),
                        output: method.output(),
                        read_only: flag(&options, "keyhold.options.v1.read_only"),
                        data_event: flag(&options, "keyhold.options.v1.data_event"),
                        internal: flag(&options, "keyhold.options.v1.internal"),
                        keyhold_method: flag(&options, "keyhold.options.v1.keyhold_method"),
                        client_streaming: method.is_client_streaming(),
                        server_streaming: method.is_server_streaming(),
                    },
                );
            }
        }
        let sensitive_fields = pool
            .all_messages()
            .flat_map(|message| message.fields().collect::<Vec<_>>())
            .filter(|field| flag(&field.options(), "keyhold.options.v1.sensitive"))
            .map(|field| field.full_name().to_owned())
            .collect();
        MethodCatalog {
            by_path,
            sensitive_fields,
        }
    }

    pub fn method(&self, path: &str) -> Option<&MethodInfo> {
        self.by_path.get(path)
    }

    /// Every method of every service, in no particular order.
    pub fn methods(&self) -> impl Iterator<Item = &MethodInfo> {
        self.by_path.values()
    }

    /// Decodes one gRPC message and renders it as CloudTrail shows parameters: AWS
    /// JSON names, defaults omitted, secrets removed, every string cut at
    /// [`MAX_FIELD_BYTES`] before it is copied into JSON. `None` when it cannot decode.
    pub fn render(
        &self,
        descriptor: &MessageDescriptor,
        bytes: &[u8],
    ) -> Option<serde_json::Value> {
        let mut message = DynamicMessage::decode(descriptor.clone(), bytes).ok()?;
        self.prepare(&mut message);
        let value = serde_json::to_value(&message).ok()?;
        match &value {
            serde_json::Value::Object(map) if map.is_empty() => None,
            _ => Some(value),
        }
    }

    /// Removes secrets and cuts long strings, at every depth.
    fn prepare(&self, message: &mut DynamicMessage) {
        let fields: Vec<_> = message.descriptor().fields().collect();
        for field in fields {
            if self.sensitive_fields.contains(field.full_name()) {
                message.clear_field(&field);
                continue;
            }
            if !message.has_field(&field) {
                continue;
            }
            self.prepare_value(message.get_field_mut(&field));
        }
    }

    fn prepare_value(&self, value: &mut PValue) {
        match value {
            PValue::String(text) => truncate_text(text, MAX_FIELD_BYTES),
            PValue::Message(inner) => self.prepare(inner),
            PValue::List(items) => items.iter_mut().for_each(|item| self.prepare_value(item)),
            PValue::Map(entries) => {
                let long_key =
                    |key: &MapKey| matches!(key, MapKey::String(k) if k.len() > MAX_FIELD_BYTES);
                if entries.keys().any(long_key) {
                    let old = std::mem::take(entries);
                    for (key, item) in old {
                        let key = match key {
                            MapKey::String(mut k) => {
                                truncate_text(&mut k, MAX_FIELD_BYTES);
                                MapKey::String(k)
                            }
                            other => other,
                        };
                        entries.insert(key, item);
                    }
                }
                entries
                    .values_mut()
                    .for_each(|item| self.prepare_value(item));
            }
            _ => {}
        }
    }
}

/// The payload of the first gRPC frame of a body: 1 flag byte, 4 length bytes, the
/// message. Compressed frames are not decoded (the record shows no parameters).
pub fn first_frame(body: &[u8]) -> Option<&[u8]> {
    let (&flag, rest) = body.split_first()?;
    if flag != 0 || rest.len() < 4 {
        return None;
    }
    let len = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
    rest.get(4..4 + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhold_proto::kms::v1::{EncryptRequest, GenerateDataKeyResponse};
    use prost::Message;

    fn catalog() -> MethodCatalog {
        MethodCatalog::new(keyhold_proto::descriptor_pool())
    }

    #[test]
    fn options_mark_read_only_methods() {
        let catalog = catalog();
        assert!(
            catalog
                .method("/keyhold.kms.v1.KmsService/Decrypt")
                .unwrap()
                .read_only
        );
        assert!(
            !catalog
                .method("/keyhold.kms.v1.KmsService/CreateKey")
                .unwrap()
                .read_only
        );
    }

    #[test]
    fn secrets_never_render_but_the_context_does() {
        let catalog = catalog();
        let method = catalog
            .method("/keyhold.kms.v1.KmsService/Encrypt")
            .unwrap();
        let request = EncryptRequest {
            key_id: "alias/myFirstKey".into(),
            plaintext: b"top secret".to_vec(),
            encryption_context: [("purpose".to_owned(), "test".to_owned())].into(),
            encryption_algorithm: String::new(),
        };
        let json = catalog
            .render(&method.input, &request.encode_to_vec())
            .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"keyId": "alias/myFirstKey", "encryptionContext": {"purpose": "test"}})
        );

        let output = catalog
            .method("/keyhold.kms.v1.KmsService/GenerateDataKey")
            .unwrap();
        let response = GenerateDataKeyResponse {
            ciphertext_blob: vec![1, 2, 3],
            plaintext: vec![9; 32],
            key_id: "arn:aws:kms:us-east-1:000000000000:key/k".into(),
        };
        let json = catalog
            .render(&output.output, &response.encode_to_vec())
            .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"keyId": "arn:aws:kms:us-east-1:000000000000:key/k"})
        );
    }

    #[test]
    fn long_strings_are_cut_before_they_become_json() {
        let catalog = catalog();
        let method = catalog
            .method("/keyhold.kms.v1.KmsService/Encrypt")
            .unwrap();
        let long = "k".repeat(MAX_FIELD_BYTES + 3);
        let cut = format!(
            "{}...[keyhold truncated 37 bytes]",
            &long[..MAX_FIELD_BYTES - 34]
        );
        let request = EncryptRequest {
            key_id: long.clone(),
            plaintext: b"secret".to_vec(),
            encryption_context: [(long.clone(), long.clone())].into(),
            encryption_algorithm: String::new(),
        };
        let json = catalog
            .render(&method.input, &request.encode_to_vec())
            .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"keyId": cut.clone(), "encryptionContext": {cut.clone(): cut}})
        );
    }

    #[test]
    fn frames_are_split_by_their_length_prefix() {
        let mut body = vec![0, 0, 0, 0, 3, 7, 8, 9, 0xff];
        assert_eq!(first_frame(&body), Some(&[7u8, 8, 9][..]));
        body[0] = 1;
        assert_eq!(first_frame(&body), None);
        assert_eq!(first_frame(&[0, 0, 0]), None);
    }
}
