//! Aliases: friendly names for keys. Changing one needs permission on the alias
//! (identity policy) and on every key involved (key policy), as in AWS.

use chrono::Utc;

use super::{Call, Kms, Page, decode_marker, require_not_pending_deletion};
use crate::{
    authz::{check_identity, condition_context},
    error::{KmsError, KmsResult},
    model::{Alias, Key},
    validate,
};

impl Kms {
    pub async fn create_alias(
        &self,
        call: Call<'_>,
        alias_name: &str,
        target_key_id: &str,
    ) -> KmsResult<()> {
        self.check_alias_change(call, "kms:CreateAlias", alias_name)?;
        let key = self
            .new_target(call, "kms:CreateAlias", target_key_id)
            .await?;
        if !self
            .store
            .insert_alias(alias_name, key.key_id, Utc::now())
            .await?
        {
            return Err(KmsError::AlreadyExists(format!(
                "An alias with the name {} already exists",
                self.partition.alias_arn(alias_name)
            )));
        }
        Ok(())
    }

    pub async fn update_alias(
        &self,
        call: Call<'_>,
        alias_name: &str,
        target_key_id: &str,
    ) -> KmsResult<()> {
        self.check_alias_change(call, "kms:UpdateAlias", alias_name)?;
        self.authorize_current_target(call, "kms:UpdateAlias", alias_name)
            .await?;
        let target = self
            .new_target(call, "kms:UpdateAlias", target_key_id)
            .await?;
        self.store
            .retarget_alias(alias_name, target.key_id, Utc::now())
            .await
    }

    /// Works in every key state, as in AWS.
    pub async fn delete_alias(&self, call: Call<'_>, alias_name: &str) -> KmsResult<()> {
        self.check_alias_change(call, "kms:DeleteAlias", alias_name)?;
        self.authorize_current_target(call, "kms:DeleteAlias", alias_name)
            .await?;
        self.store.delete_alias(alias_name).await
    }

    pub async fn list_aliases(
        &self,
        call: Call<'_>,
        key_id: &str,
        limit: i32,
        marker: &str,
    ) -> KmsResult<Page<Alias>> {
        let limit = validate::limit(limit)?;
        let after = decode_marker(marker)?;
        let context = condition_context(call.caller, &self.partition.region, None);
        check_identity(call.caller, "kms:ListAliases", "*", &context)?;
        let key_filter = if key_id.is_empty() {
            None
        } else {
            Some(self.load_key(call, key_id).await?.key_id)
        };
        let rows = self
            .store
            .list_aliases(key_filter, after.as_deref(), limit)
            .await?;
        Ok(Page::from_rows(rows, limit, |alias| {
            alias.alias_name.clone()
        }))
    }

    /// The key the alias names now, once its key policy allows `action`.
    async fn authorize_current_target(
        &self,
        call: Call<'_>,
        action: &str,
        alias_name: &str,
    ) -> KmsResult<()> {
        let alias = self.find_alias(alias_name).await?;
        let current = self.load_key(call, &alias.key_id.to_string()).await?;
        self.authorize(call, &current, action)
    }

    /// The key the alias is to name, once its key policy allows `action` and it is not
    /// pending deletion.
    async fn new_target(
        &self,
        call: Call<'_>,
        action: &str,
        target_key_id: &str,
    ) -> KmsResult<Key> {
        let target = self.load_key(call, target_key_id).await?;
        self.authorize(call, &target, action)?;
        require_not_pending_deletion(&target)?;
        Ok(target)
    }

    async fn find_alias(&self, alias_name: &str) -> KmsResult<Alias> {
        self.store.find_alias(alias_name).await?.ok_or_else(|| {
            KmsError::NotFound(format!(
                "Alias '{}' is not found.",
                self.partition.alias_arn(alias_name)
            ))
        })
    }

    /// A valid alias name the caller may change with `action` (identity policy).
    fn check_alias_change(&self, call: Call<'_>, action: &str, alias_name: &str) -> KmsResult<()> {
        validate::alias_name(alias_name)?;
        let context = condition_context(call.caller, &self.partition.region, None);
        check_identity(
            call.caller,
            action,
            &self.partition.alias_arn(alias_name),
            &context,
        )
    }
}
