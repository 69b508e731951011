//! What a `KeyId` argument may be: a key id, a key ARN, an alias name or an alias ARN.

use uuid::Uuid;

use crate::error::{KmsError, KmsResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Id(Uuid),
    Alias(String),
}

/// The account and region every ARN of this installation carries.
#[derive(Debug, Clone)]
pub struct Partition {
    pub account_id: String,
    pub region: String,
}

impl Partition {
    pub fn key_arn(&self, key_id: Uuid) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{key_id}",
            self.region, self.account_id
        )
    }

    pub fn alias_arn(&self, alias_name: &str) -> String {
        format!(
            "arn:aws:kms:{}:{}:{alias_name}",
            self.region, self.account_id
        )
    }

    pub fn root_arn(&self) -> String {
        format!("arn:aws:iam::{}:root", self.account_id)
    }

    /// Parses a `KeyId` argument. Malformed values and ARNs of another account or
    /// region are NotFound, as AWS answers them.
    pub fn parse_key_ref(&self, value: &str) -> KmsResult<KeyRef> {
        if value.is_empty() {
            return Err(KmsError::Validation(
                "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null".into(),
            ));
        }
        let local = match value.strip_prefix("arn:aws:kms:") {
            Some(rest) => {
                let prefix = format!("{}:{}:", self.region, self.account_id);
                rest.strip_prefix(&prefix)
                    .filter(|local| local.starts_with("key/") || local.starts_with("alias/"))
                    .ok_or_else(|| KmsError::NotFound(format!("Invalid arn {value}")))?
            }
            None => value,
        };
        if local.starts_with("alias/") {
            // No alias holds a NUL (the alias pattern refuses it, Postgres text cannot).
            if local.contains('\0') {
                return Err(KmsError::NotFound(format!(
                    "Alias '{}' is not found.",
                    self.alias_arn(local)
                )));
            }
            return Ok(KeyRef::Alias(local.to_owned()));
        }
        let id = local.strip_prefix("key/").unwrap_or(local);
        Uuid::try_parse(id)
            .map(KeyRef::Id)
            .map_err(|_| KmsError::NotFound(format!("Invalid keyId '{value}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition() -> Partition {
        Partition {
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn every_form_of_key_id_resolves() {
        let p = partition();
        let id = Uuid::new_v4();
        assert_eq!(p.parse_key_ref(&id.to_string()).unwrap(), KeyRef::Id(id));
        assert_eq!(p.parse_key_ref(&p.key_arn(id)).unwrap(), KeyRef::Id(id));
        assert_eq!(
            p.parse_key_ref("alias/a").unwrap(),
            KeyRef::Alias("alias/a".into())
        );
        assert_eq!(
            p.parse_key_ref(&p.alias_arn("alias/a")).unwrap(),
            KeyRef::Alias("alias/a".into())
        );
    }

    #[test]
    fn malformed_or_foreign_ids_are_not_found() {
        let p = partition();
        assert_eq!(
            p.parse_key_ref("nope").unwrap_err(),
            KmsError::NotFound("Invalid keyId 'nope'".into())
        );
        let foreign = "arn:aws:kms:eu-west-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert!(matches!(
            p.parse_key_ref(foreign),
            Err(KmsError::NotFound(_))
        ));
    }
}
