//! The 64-bit keys audit-svc's lookup indexes are built on.
//!
//! Each lookup index is a btree over (key, event_time, event_id), where the key stands
//! for (event category, lookup attribute, value). Comparing fixed-width keys instead of
//! text columns made each index insertion markedly cheaper (BENCHMARKS.md, audit
//! pipeline). The key is the first 8 bytes of SHA-256("<category>|<attribute>|<value>")
//! as a signed big-endian integer; the `lookup_key` SQL function of migration 0002
//! computes the same (it filled in the keys of rows stored before), and a test holds the
//! two together. Queries compare the text as well, so a shared key is never a wrong hit.

use sha2::{Digest, Sha256};

use crate::record::{Attribute, AuditEvent, Category};

/// The lookup attribute names a key is made of, as LookupEvents spells them.
pub const EVENT_NAME: &str = "EventName";
pub const EVENT_SOURCE: &str = "EventSource";
pub const READ_ONLY: &str = "ReadOnly";
pub const USERNAME: &str = "Username";
pub const ACCESS_KEY_ID: &str = "AccessKeyId";
pub const RESOURCE_TYPE: &str = "ResourceType";
pub const RESOURCE_NAME: &str = "ResourceName";

pub fn lookup_key(category: Category, attribute: &str, value: &str) -> i64 {
    let digest = Sha256::new()
        .chain_update(category.as_str())
        .chain_update("|")
        .chain_update(attribute)
        .chain_update("|")
        .chain_update(value)
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The keys of one event's own columns (its resources have keys of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKeys {
    pub name: i64,
    pub source: i64,
    pub read_only: i64,
    pub username: Option<i64>,
    pub access_key_id: Option<i64>,
}

impl EventKeys {
    pub fn of(event: &AuditEvent) -> EventKeys {
        let key = |attribute, value: &str| lookup_key(event.category, attribute, value);
        EventKeys {
            name: key(EVENT_NAME, &event.event_name),
            source: key(EVENT_SOURCE, &event.event_source),
            read_only: key(READ_ONLY, bool_text(event.read_only)),
            username: event.username.as_deref().map(|v| key(USERNAME, v)),
            access_key_id: event
                .access_key_id
                .as_deref()
                .map(|v| key(ACCESS_KEY_ID, v)),
        }
    }
}

/// The attribute an `event_resources` row of this kind is looked up by.
pub fn resource_attribute(kind: &str) -> &'static str {
    if kind == "type" {
        RESOURCE_TYPE
    } else {
        RESOURCE_NAME
    }
}

/// The key a lookup by `attribute` seeks; None for EventId, which has an index of its own.
pub fn of_attribute(category: Category, attribute: &Attribute) -> Option<i64> {
    let (name, value) = match attribute {
        Attribute::EventId(_) => return None,
        Attribute::EventName(v) => (EVENT_NAME, v.as_str()),
        Attribute::EventSource(v) => (EVENT_SOURCE, v.as_str()),
        Attribute::ReadOnly(v) => (READ_ONLY, bool_text(*v)),
        Attribute::Username(v) => (USERNAME, v.as_str()),
        Attribute::AccessKeyId(v) => (ACCESS_KEY_ID, v.as_str()),
        Attribute::ResourceType(v) => (RESOURCE_TYPE, v.as_str()),
        Attribute::ResourceName(v) => (RESOURCE_NAME, v.as_str()),
    };
    Some(lookup_key(category, name, value))
}

/// As Postgres writes a boolean as text (`read_only::text` in migration 0002).
fn bool_text(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}
