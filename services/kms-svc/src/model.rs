//! The things kms-svc keeps, as the domain sees them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }

    pub fn parse(text: &str) -> Option<KeyState> {
        match text {
            "Enabled" => Some(KeyState::Enabled),
            "Disabled" => Some(KeyState::Disabled),
            "PendingDeletion" => Some(KeyState::PendingDeletion),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Key {
    pub key_id: Uuid,
    pub arn: String,
    pub description: String,
    pub key_usage: String,
    pub key_spec: String,
    pub key_manager: String,
    pub state: KeyState,
    /// Shared, not copied: every cryptographic call clones its key from the cache.
    pub policy: Arc<str>,
    pub creation_date: DateTime<Utc>,
    pub deletion_date: Option<DateTime<Utc>>,
    pub pending_window_days: Option<i32>,
    pub current_material_version: i32,
}

/// A key with one version of its material, still wrapped by the master key.
#[derive(Debug, Clone)]
pub struct KeyWithMaterial {
    pub key: Key,
    pub material_version: i32,
    pub wrapped_material: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Alias {
    pub alias_name: String,
    pub key_id: Uuid,
    pub creation_date: DateTime<Utc>,
    pub last_updated_date: DateTime<Utc>,
}

pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
