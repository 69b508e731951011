//! Key policies: read, replace, and the console's key administrator / key user edits.
//! Every write passes the lockout safety check unless the caller bypasses it.

use keyhold_key_policy::{
    PolicyDocument, add_key_administrator, add_key_user, remove_key_administrator, remove_key_user,
};

use super::{
    Call, Kms, Page,
    keys::{LOCKOUT_MESSAGE, policy_error},
};
use crate::{
    authz::{self, condition_context},
    error::{KmsError, KmsResult},
    model::Key,
    validate,
};

const DEFAULT_POLICY_NAME: &str = "default";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyEdit {
    AddAdministrator,
    RemoveAdministrator,
    AddUser,
    RemoveUser,
}

fn check_policy_name(name: &str) -> KmsResult<()> {
    if name.is_empty() || name == DEFAULT_POLICY_NAME {
        Ok(())
    } else {
        Err(KmsError::NotFound(format!(
            "No such policy exists: {name}. The only key policy is named default."
        )))
    }
}

impl Kms {
    /// Works in every key state, as in AWS.
    pub async fn get_key_policy(
        &self,
        call: Call<'_>,
        key_id: &str,
        policy_name: &str,
    ) -> KmsResult<String> {
        check_policy_name(policy_name)?;
        let key = self.load_key(call, key_id).await?;
        self.authorize(call, &key, "kms:GetKeyPolicy")?;
        Ok(key.policy.to_string())
    }

    pub async fn list_key_policies(
        &self,
        call: Call<'_>,
        key_id: &str,
        limit: i32,
    ) -> KmsResult<Page<String>> {
        validate::limit(limit)?;
        let key = self.load_key(call, key_id).await?;
        self.authorize(call, &key, "kms:ListKeyPolicies")?;
        Ok(Page {
            items: vec![DEFAULT_POLICY_NAME.to_owned()],
            next_marker: None,
        })
    }

    pub async fn put_key_policy(
        &self,
        call: Call<'_>,
        key_id: &str,
        policy_name: &str,
        policy: &str,
        bypass_lockout_check: bool,
    ) -> KmsResult<()> {
        check_policy_name(policy_name)?;
        let document = PolicyDocument::parse_key_policy(policy).map_err(policy_error)?;
        let key = self.load_key(call, key_id).await?;
        self.authorize(call, &key, "kms:PutKeyPolicy")?;
        if !bypass_lockout_check {
            self.lockout_check(call, &key, &document)?;
        }
        self.store.set_policy(key.key_id, policy).await
    }

    /// The console's edits rewrite the stored policy; they are PutKeyPolicy calls in
    /// effect, so they need kms:PutKeyPolicy and pass the lockout check.
    pub async fn edit_key_policy(
        &self,
        call: Call<'_>,
        key_id: &str,
        principal: &str,
        edit: PolicyEdit,
    ) -> KmsResult<String> {
        let key = self.load_key(call, key_id).await?;
        self.authorize(call, &key, "kms:PutKeyPolicy")?;
        let principal_arn = self
            .principal_arns(&[principal.to_owned()])?
            .pop()
            .unwrap_or_default();
        let rewrite = match edit {
            PolicyEdit::AddAdministrator => add_key_administrator,
            PolicyEdit::RemoveAdministrator => remove_key_administrator,
            PolicyEdit::AddUser => add_key_user,
            PolicyEdit::RemoveUser => remove_key_user,
        };
        let policy = rewrite(&key.policy, &principal_arn).map_err(policy_error)?;
        let document = PolicyDocument::parse_key_policy(&policy).map_err(policy_error)?;
        self.lockout_check(call, &key, &document)?;
        self.store.set_policy(key.key_id, &policy).await?;
        Ok(policy)
    }

    fn lockout_check(&self, call: Call<'_>, key: &Key, document: &PolicyDocument) -> KmsResult<()> {
        let context = condition_context(call.caller, &self.partition.region, None);
        if authz::allows(
            document,
            call.caller,
            &key.arn,
            "kms:PutKeyPolicy",
            &context,
        ) {
            Ok(())
        } else {
            Err(KmsError::MalformedPolicy(LOCKOUT_MESSAGE.into()))
        }
    }
}
