//! Key lifecycle: create, describe, list, describe edits, enable/disable, deletion.

use chrono::{Duration, Utc};
use keyhold_crypto::{SecretKey, material_aad};
use keyhold_key_policy::{PolicyDocument, PolicyError, console_key_policy, default_key_policy};
use uuid::Uuid;

use super::{Call, Kms, Page, decode_marker, require_not_pending_deletion};
use crate::{
    authz::{self, check_without_key, condition_context},
    error::{KmsError, KmsResult},
    model::{Key, KeyState},
    validate,
};

#[derive(Debug, Default, Clone)]
pub struct CreateKeyInput {
    pub description: String,
    pub key_usage: String,
    pub key_spec: String,
    pub policy: String,
    pub bypass_policy_lockout_safety_check: bool,
    pub tags: Vec<(String, String)>,
    pub key_administrators: Vec<String>,
    pub key_users: Vec<String>,
}

pub const LOCKOUT_MESSAGE: &str =
    "The new key policy will not allow you to update the key policy in the future.";

pub fn policy_error(error: PolicyError) -> KmsError {
    match error {
        PolicyError::TooLarge => KmsError::Validation(error.to_string()),
        PolicyError::Malformed(message) => KmsError::MalformedPolicy(message),
    }
}

impl Kms {
    pub async fn create_key(&self, call: Call<'_>, input: CreateKeyInput) -> KmsResult<Key> {
        validate::description(&input.description)?;
        validate::key_spec_and_usage(&input.key_spec, &input.key_usage)?;
        let console_choices = !input.key_administrators.is_empty() || !input.key_users.is_empty();
        if !input.policy.is_empty() && console_choices {
            return Err(KmsError::Validation(
                "Specify either a key policy or key administrators and key users, not both.".into(),
            ));
        }
        let context = condition_context(call.caller, &self.partition.region, None);
        check_without_key(call.caller, "kms:CreateKey", &context)?;

        let key_id = Uuid::new_v4();
        let arn = self.partition.key_arn(key_id);
        let policy = if !input.policy.is_empty() {
            let document = PolicyDocument::parse_key_policy(&input.policy).map_err(policy_error)?;
            if !input.bypass_policy_lockout_safety_check
                && !authz::allows(&document, call.caller, &arn, "kms:PutKeyPolicy", &context)
            {
                return Err(KmsError::MalformedPolicy(LOCKOUT_MESSAGE.into()));
            }
            input.policy
        } else if !console_choices {
            default_key_policy(&self.partition.account_id)
        } else {
            let administrators = self.principal_arns(&input.key_administrators)?;
            let users = self.principal_arns(&input.key_users)?;
            console_key_policy(&self.partition.account_id, &administrators, &users)
        };

        let (key, wrapped) = self.new_key(key_id, input.description, "CUSTOMER", policy);
        self.store.insert_key(&key, &wrapped, &input.tags).await?;
        self.note(call, &key);
        Ok(key)
    }

    /// A new Enabled symmetric key with fresh material, and that material wrapped by
    /// the master key (bound to the key's ARN and material version 1).
    pub(super) fn new_key(
        &self,
        key_id: Uuid,
        description: String,
        key_manager: &str,
        policy: String,
    ) -> (Key, Vec<u8>) {
        let arn = self.partition.key_arn(key_id);
        let material = SecretKey::generate();
        let wrapped = self
            .master_key
            .wrap(material.expose(), &material_aad(&arn, 1));
        let key = Key {
            key_id,
            arn,
            description,
            key_usage: "ENCRYPT_DECRYPT".into(),
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_manager: key_manager.into(),
            state: KeyState::Enabled,
            policy: policy.into(),
            // Postgres keeps microseconds: round so the returned date equals the stored one.
            creation_date: Utc::now().trunc_subsecs_micros(),
            deletion_date: None,
            pending_window_days: None,
            current_material_version: 1,
        };
        (key, wrapped)
    }

    /// Principal ARNs from the console's choices: names or ARNs of the account's principals.
    pub(super) fn principal_arns(&self, chosen: &[String]) -> KmsResult<Vec<String>> {
        chosen
            .iter()
            .map(|name| {
                self.principals.find(name).map(|p| p.arn.clone()).ok_or_else(|| {
                    KmsError::MalformedPolicy(format!(
                        "Policy contains a statement with one or more invalid principals: {name} is not a principal of this account."
                    ))
                })
            })
            .collect()
    }

    /// S3's first DescribeKey of `alias/aws/s3` creates that AWS managed key.
    pub async fn describe_key(&self, call: Call<'_>, key_id: &str) -> KmsResult<Key> {
        let key = self.load_key_or_first_use(call, key_id).await?;
        self.authorize(call, &key, "kms:DescribeKey")?;
        Ok(key)
    }

    /// Every key of the account, as AWS lists them: not filtered by permission.
    pub async fn list_keys(
        &self,
        call: Call<'_>,
        limit: i32,
        marker: &str,
    ) -> KmsResult<Page<Uuid>> {
        let limit = validate::limit(limit)?;
        let after = match decode_marker(marker)? {
            Some(text) => Some(
                Uuid::try_parse(&text)
                    .map_err(|_| KmsError::InvalidMarker(format!("Invalid marker: {marker}")))?,
            ),
            None => None,
        };
        let context = condition_context(call.caller, &self.partition.region, None);
        check_without_key(call.caller, "kms:ListKeys", &context)?;
        let rows = self.store.list_key_ids(after, limit).await?;
        Ok(Page::from_rows(rows, limit, Uuid::to_string))
    }

    pub async fn update_key_description(
        &self,
        call: Call<'_>,
        key_id: &str,
        description: &str,
    ) -> KmsResult<()> {
        validate::description(description)?;
        let key = self.load_key(call, key_id).await?;
        self.authorize(call, &key, "kms:UpdateKeyDescription")?;
        require_not_pending_deletion(&key)?;
        self.store.set_description(key.key_id, description).await
    }

    pub async fn enable_key(&self, call: Call<'_>, key_id: &str) -> KmsResult<()> {
        let key = self.load_key(call, key_id).await?;
        self.authorize(call, &key, "kms:EnableKey")?;
        require_not_pending_deletion(&key)?;
        self.store
            .set_state(key.key_id, KeyState::Enabled, None)
            .await
    }

    pub async fn disable_key(&self, call: Call<'_>, key_id: &str) -> KmsResult<()> {
        let key = self.load_key(call, key_id).await?;
        self.authorize(call, &key, "kms:DisableKey")?;
        require_not_pending_deletion(&key)?;
        self.store
            .set_state(key.key_id, KeyState::Disabled, None)
            .await
    }

    pub async fn schedule_key_deletion(
        &self,
        call: Call<'_>,
        key_id: &str,
        days: i32,
    ) -> KmsResult<Key> {
        let days = validate::pending_window_days(days)?;
        let mut key = self.load_key(call, key_id).await?;
        self.authorize(call, &key, "kms:ScheduleKeyDeletion")?;
        require_not_pending_deletion(&key)?;
        let deletion_date = Utc::now().trunc_subsecs_micros() + Duration::days(i64::from(days));
        self.store
            .set_state(
                key.key_id,
                KeyState::PendingDeletion,
                Some((deletion_date, days)),
            )
            .await?;
        key.state = KeyState::PendingDeletion;
        key.deletion_date = Some(deletion_date);
        key.pending_window_days = Some(days);
        Ok(key)
    }

    /// A cancelled deletion leaves the key Disabled, as in AWS.
    pub async fn cancel_key_deletion(&self, call: Call<'_>, key_id: &str) -> KmsResult<Key> {
        let mut key = self.load_key(call, key_id).await?;
        self.authorize(call, &key, "kms:CancelKeyDeletion")?;
        if key.state != KeyState::PendingDeletion {
            return Err(KmsError::InvalidState(format!(
                "{} is not pending deletion.",
                key.arn
            )));
        }
        self.store
            .set_state(key.key_id, KeyState::Disabled, None)
            .await?;
        key.state = KeyState::Disabled;
        key.deletion_date = None;
        key.pending_window_days = None;
        Ok(key)
    }

    /// Deletes keys whose waiting period is over, destroying their material.
    pub async fn delete_expired_keys(&self) -> KmsResult<Vec<Uuid>> {
        self.store.delete_expired_keys(Utc::now()).await
    }

    pub(super) fn authorize(&self, call: Call<'_>, key: &Key, action: &str) -> KmsResult<()> {
        let context = condition_context(call.caller, &self.partition.region, None);
        self.policies.check(call.caller, key, action, &context)
    }
}

trait TruncMicros {
    fn trunc_subsecs_micros(self) -> Self;
}

impl TruncMicros for chrono::DateTime<Utc> {
    fn trunc_subsecs_micros(self) -> Self {
        use chrono::DurationRound;
        self.duration_trunc(Duration::microseconds(1))
            .unwrap_or(self)
    }
}
