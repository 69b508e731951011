//! The values of condition keys for one request.

use std::collections::BTreeMap;

use crate::evaluate::Caller;
use crate::principal::Requester;

const ENCRYPTION_CONTEXT_PREFIX: &str = "kms:encryptioncontext:";

/// Values of condition keys for one request: `kms:CallerAccount`, `kms:ViaService`,
/// `kms:EncryptionContext:<k>`, `kms:EncryptionContextKeys` (multi-valued),
/// `kms:GrantIsForAWSResource`, `aws:PrincipalArn`, and for S3 `aws:SourceIp`,
/// `aws:SecureTransport`, `s3:prefix`, `s3:max-keys`, `s3:x-amz-acl`, ...
///
/// A key that was never inserted is *absent*, which is not the same as present with
/// some value: `Null` and the `...IfExists` operators depend on the difference. A key
/// inserted with no values counts as absent, so that a request without an encryption
/// context needs no special case.
///
/// `kms:CallerAccount`, `aws:PrincipalArn`, `aws:PrincipalAccount` and
/// `aws:PrincipalServiceName` need not be inserted: evaluation takes them from the
/// requester when the context lacks them.
#[derive(Default, Clone, Debug)]
pub struct ConditionContext {
    values: BTreeMap<String, Vec<String>>,
}

impl ConditionContext {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces any earlier values of the key.
    pub fn insert(&mut self, key: &str, values: Vec<String>) {
        self.values.insert(normalize_key(key), values);
    }

    /// Builder form of [`insert`](Self::insert).
    pub fn with(mut self, key: &str, values: Vec<String>) -> Self {
        self.insert(key, values);
        self
    }

    /// Adds `kms:EncryptionContext:<k>` = v for each pair and
    /// `kms:EncryptionContextKeys` = all keys (added to any keys already there).
    pub fn with_encryption_context<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let mut keys = self
            .get("kms:EncryptionContextKeys")
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        for (key, value) in pairs {
            self.insert(
                &format!("kms:EncryptionContext:{key}"),
                vec![value.to_owned()],
            );
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_owned());
            }
        }
        self.insert("kms:EncryptionContextKeys", keys);
        self
    }

    /// The key's values, or `None` when it is absent (including present but empty).
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.get_normalized(&normalize_key(key))
    }

    fn get_normalized(&self, key: &str) -> Option<&[String]> {
        self.values
            .get(key)
            .map(Vec::as_slice)
            .filter(|values| !values.is_empty())
    }
}

/// The condition keys of one evaluation: the request's context, completed with the
/// keys every AWS request has because they describe the requester. Anonymous
/// requesters have none of them; a service principal has `aws:PrincipalServiceName`.
pub(crate) struct RequestValues<'a> {
    context: &'a ConditionContext,
    caller_account: Option<[String; 1]>,
    principal_arn: Option<[String; 1]>,
    service_name: Option<[String; 1]>,
}

impl<'a> RequestValues<'a> {
    pub(crate) fn new(context: &'a ConditionContext, caller: &Caller) -> RequestValues<'a> {
        RequestValues::for_requester(context, &Requester::Identity(caller))
    }

    pub(crate) fn for_requester(
        context: &'a ConditionContext,
        requester: &Requester,
    ) -> RequestValues<'a> {
        let one = |value: &str| Some([value.to_owned()]);
        let (caller_account, principal_arn, service_name) = match requester {
            Requester::Identity(caller) => (one(caller.account_id), one(caller.arn), None),
            Requester::Service(name) => (None, None, one(name)),
            Requester::Anonymous => (None, None, None),
        };
        RequestValues {
            context,
            caller_account,
            principal_arn,
            service_name,
        }
    }

    /// `key` must already be normalized, as policy documents store their keys.
    pub(crate) fn get(&self, key: &str) -> Option<&[String]> {
        self.context.get_normalized(key).or_else(|| {
            let from_requester = match key {
                "kms:calleraccount" | "aws:principalaccount" => &self.caller_account,
                "aws:principalarn" => &self.principal_arn,
                "aws:principalservicename" => &self.service_name,
                _ => return None,
            };
            from_requester.as_ref().map(|value| &value[..])
        })
    }
}

/// Condition key names are case-insensitive, except the part of
/// `kms:EncryptionContext:<k>` after the prefix: encryption context keys are
/// case-sensitive in KMS, so `Dept` and `dept` are different keys.
pub(crate) fn normalize_key(key: &str) -> String {
    match key.get(..ENCRYPTION_CONTEXT_PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(ENCRYPTION_CONTEXT_PREFIX) => {
            format!(
                "{ENCRYPTION_CONTEXT_PREFIX}{}",
                &key[ENCRYPTION_CONTEXT_PREFIX.len()..]
            )
        }
        _ => key.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_but_encryption_context_keys_are_not() {
        let context = ConditionContext::new()
            .with("kms:ViaService", vec!["s3.us-east-1.amazonaws.com".into()])
            .with_encryption_context([("Dept", "IT")]);
        assert_eq!(
            context.get("KMS:VIASERVICE"),
            Some(&["s3.us-east-1.amazonaws.com".to_owned()][..])
        );
        assert_eq!(
            context.get("KMS:encryptionContext:Dept"),
            Some(&["IT".to_owned()][..])
        );
        assert_eq!(context.get("kms:EncryptionContext:dept"), None);
        assert_eq!(
            context.get("kms:encryptioncontextkeys"),
            Some(&["Dept".to_owned()][..])
        );
    }

    #[test]
    fn s3_and_global_keys_are_case_insensitive() {
        let context = ConditionContext::new()
            .with("S3:X-Amz-Acl", vec!["bucket-owner-full-control".into()])
            .with("s3:max-keys", vec!["100".into()])
            .with("aws:SourceIp", vec!["192.0.2.7".into()]);
        assert_eq!(
            context.get("s3:x-amz-acl").unwrap(),
            ["bucket-owner-full-control"]
        );
        assert_eq!(context.get("S3:MAX-KEYS").unwrap(), ["100"]);
        assert_eq!(context.get("AWS:SOURCEIP").unwrap(), ["192.0.2.7"]);
        assert_eq!(context.get("s3:prefix"), None);
    }

    #[test]
    fn requester_keys() {
        use crate::principal::Requester;
        let context = ConditionContext::new();
        let caller = Caller {
            arn: "arn:aws:iam::000000000000:user/AWSLabsUser-0001",
            account_id: "000000000000",
            is_account_root: false,
            identity_policy: None,
        };
        let identity = RequestValues::for_requester(&context, &Requester::Identity(&caller));
        assert_eq!(
            identity.get("aws:principalaccount").unwrap(),
            ["000000000000"]
        );
        assert_eq!(identity.get("aws:principalarn").unwrap(), [caller.arn]);
        assert_eq!(identity.get("aws:principalservicename"), None);

        let service =
            RequestValues::for_requester(&context, &Requester::Service("cloudtrail.amazonaws.com"));
        assert_eq!(
            service.get("aws:principalservicename").unwrap(),
            ["cloudtrail.amazonaws.com"]
        );
        assert_eq!(service.get("aws:principalaccount"), None);

        let anonymous = RequestValues::for_requester(&context, &Requester::Anonymous);
        for key in [
            "aws:principalaccount",
            "aws:principalarn",
            "kms:calleraccount",
            "aws:principalservicename",
        ] {
            assert_eq!(anonymous.get(key), None, "{key}");
        }

        let claimed =
            ConditionContext::new().with("aws:PrincipalAccount", vec!["111111111111".into()]);
        let from_context = RequestValues::for_requester(&claimed, &Requester::Identity(&caller));
        assert_eq!(
            from_context.get("aws:principalaccount").unwrap(),
            ["111111111111"],
            "the context, which the service fills, comes first"
        );
    }

    #[test]
    fn encryption_context_keys_accumulate() {
        let context = ConditionContext::new()
            .with_encryption_context([("a", "1"), ("b", "2")])
            .with_encryption_context([("b", "3"), ("c", "4")]);
        assert_eq!(
            context.get("kms:EncryptionContextKeys").unwrap(),
            ["a", "b", "c"]
        );
        assert_eq!(context.get("kms:EncryptionContext:b").unwrap(), ["3"]);
    }

    #[test]
    fn empty_values_are_absent() {
        let context = ConditionContext::new()
            .with("aws:SourceIp", vec![])
            .with_encryption_context([]);
        assert_eq!(context.get("aws:SourceIp"), None);
        assert_eq!(context.get("kms:EncryptionContextKeys"), None);
    }
}
