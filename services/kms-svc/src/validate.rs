//! Input rules with the messages AWS gives for them ("1 validation error detected:
//! ..."), so SDK users see the errors they already know.

use crate::error::{KmsError, KmsResult};

pub const MAX_PLAINTEXT: usize = 4096;
pub const MAX_ALIAS_LEN: usize = 256;
pub const MAX_DESCRIPTION: usize = 8192;
pub const DEFAULT_PENDING_WINDOW_DAYS: i32 = 30;
/// KeyId, SourceKeyId, DestinationKeyId, TargetKeyId: key id, key ARN, alias name or
/// alias ARN, at most 2048 characters in AWS's model.
pub const MAX_KEY_ID: usize = 2048;
pub const MAX_MARKER: usize = 1024;
pub const MAX_POLICY_NAME: usize = 128;
/// The console edits and CreateKey's key administrators / key users name a principal
/// by name or ARN; an IAM ARN is at most 2048 characters.
pub const MAX_PRINCIPAL: usize = 2048;
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_KEY: usize = 128;
pub const MAX_TAG_VALUE: usize = 256;
/// A value longer than this is not repeated in an error message (AWS leaves the value
/// out of a validation error for some members too): a request cannot make its error,
/// or the audit record that carries it, as large as itself.
pub const MAX_ECHO: usize = 2048;

fn violation(value: Option<&str>, field: &str, constraint: &str) -> KmsError {
    let value = value
        .filter(|v| v.len() <= MAX_ECHO)
        .map(|v| format!(" '{v}'"))
        .unwrap_or_default();
    KmsError::Validation(format!(
        "1 validation error detected: Value{value} at '{field}' failed to satisfy constraint: Member must {constraint}"
    ))
}

/// A value AWS would let through its model but that KMS rejects itself.
pub fn alias_name(name: &str) -> KmsResult<()> {
    if name.len() > MAX_ALIAS_LEN {
        return Err(violation(
            Some(name),
            "aliasName",
            "have length less than or equal to 256",
        ));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    {
        return Err(violation(
            Some(name),
            "aliasName",
            "satisfy regular expression pattern: ^[a-zA-Z0-9/_-]+$",
        ));
    }
    if !name.starts_with("alias/") || name.len() == "alias/".len() {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias must start with the prefix \"alias/\" and name something: '{name}'."
        )));
    }
    if name.starts_with("alias/aws/") {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias '{name}' is reserved: the prefix alias/aws/ is for AWS managed keys."
        )));
    }
    Ok(())
}

pub fn plaintext(bytes: &[u8]) -> KmsResult<()> {
    if bytes.is_empty() {
        return Err(violation(
            None,
            "plaintext",
            "have length greater than or equal to 1",
        ));
    }
    if bytes.len() > MAX_PLAINTEXT {
        return Err(violation(
            None,
            "plaintext",
            "have length less than or equal to 4096",
        ));
    }
    Ok(())
}

pub fn ciphertext_blob(bytes: &[u8]) -> KmsResult<()> {
    if bytes.is_empty() {
        return Err(violation(
            None,
            "ciphertextBlob",
            "have length greater than or equal to 1",
        ));
    }
    if bytes.len() > 6144 {
        return Err(violation(
            None,
            "ciphertextBlob",
            "have length less than or equal to 6144",
        ));
    }
    Ok(())
}

pub fn number_of_bytes(n: i32) -> KmsResult<usize> {
    let text = n.to_string();
    if n < 1 {
        return Err(violation(
            Some(&text),
            "numberOfBytes",
            "have value greater than or equal to 1",
        ));
    }
    if n > 1024 {
        return Err(violation(
            Some(&text),
            "numberOfBytes",
            "have value less than or equal to 1024",
        ));
    }
    Ok(n as usize)
}

/// The size of a data key: a KeySpec or a NumberOfBytes, exactly one of them.
pub fn data_key_size(key_spec: &str, number_of_bytes: i32) -> KmsResult<usize> {
    if key_spec.is_empty() == (number_of_bytes == 0) {
        return Err(KmsError::Validation(
            "Please specify either number of bytes or key spec.".into(),
        ));
    }
    match key_spec {
        "" => self::number_of_bytes(number_of_bytes),
        "AES_256" => Ok(32),
        "AES_128" => Ok(16),
        other => Err(violation(
            Some(other),
            "keySpec",
            "satisfy enum value set: [AES_256, AES_128]",
        )),
    }
}

pub fn pending_window_days(days: i32) -> KmsResult<i32> {
    if days == 0 {
        return Ok(DEFAULT_PENDING_WINDOW_DAYS);
    }
    let text = days.to_string();
    if days < 7 {
        return Err(violation(
            Some(&text),
            "pendingWindowInDays",
            "have value greater than or equal to 7",
        ));
    }
    if days > 30 {
        return Err(violation(
            Some(&text),
            "pendingWindowInDays",
            "have value less than or equal to 30",
        ));
    }
    Ok(days)
}

pub fn description(text: &str) -> KmsResult<()> {
    if text.len() > MAX_DESCRIPTION {
        return Err(violation(
            None,
            "description",
            "have length less than or equal to 8192",
        ));
    }
    // Postgres text cannot hold one, and no description needs one.
    if text.contains('\0') {
        return Err(violation(
            None,
            "description",
            "not contain the NUL character",
        ));
    }
    Ok(())
}

/// List limits: 1..1000, unset (0) meaning 100 as in AWS.
pub fn limit(limit: i32) -> KmsResult<i64> {
    match limit {
        0 => Ok(100),
        1..=1000 => Ok(i64::from(limit)),
        n if n < 0 => Err(violation(
            Some(&n.to_string()),
            "limit",
            "have value greater than or equal to 1",
        )),
        n => Err(violation(
            Some(&n.to_string()),
            "limit",
            "have value less than or equal to 1000",
        )),
    }
}

/// Only SYMMETRIC_DEFAULT keys for ENCRYPT_DECRYPT exist in keyhold.
pub fn key_spec_and_usage(key_spec: &str, key_usage: &str) -> KmsResult<()> {
    if !matches!(key_spec, "" | "SYMMETRIC_DEFAULT") {
        return Err(KmsError::Validation(format!(
            "KeySpec {} is not supported: keyhold makes SYMMETRIC_DEFAULT keys.",
            shown(key_spec)
        )));
    }
    if !matches!(key_usage, "" | "ENCRYPT_DECRYPT") {
        return Err(KmsError::Validation(format!(
            "KeyUsage {} is not supported for a SYMMETRIC_DEFAULT key.",
            shown(key_usage)
        )));
    }
    Ok(())
}

/// A client's value as keyhold's own messages quote it.
fn shown(value: &str) -> std::borrow::Cow<'_, str> {
    keyhold_platform::error::clipped(value, MAX_ECHO)
}

fn max_length(value: &str, field: &str, max: usize) -> KmsResult<()> {
    if value.len() > max {
        return Err(violation(
            Some(value),
            field,
            &format!("have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// A KeyId-like argument (`field` as AWS names it: keyId, targetKeyId ...). Empty is
/// left to the operation, which says the argument is missing.
pub fn key_id(field: &str, value: &str) -> KmsResult<()> {
    max_length(value, field, MAX_KEY_ID)
}

pub fn marker(value: &str) -> KmsResult<()> {
    max_length(value, "marker", MAX_MARKER)
}

pub fn policy_name(value: &str) -> KmsResult<()> {
    max_length(value, "policyName", MAX_POLICY_NAME)
}

/// The same limit and message as the policy parser's, checked before anything else.
pub fn policy(text: &str) -> KmsResult<()> {
    if text.len() > keyhold_key_policy::MAX_POLICY_BYTES {
        return Err(crate::domain::policy_error(
            keyhold_key_policy::PolicyError::TooLarge,
        ));
    }
    Ok(())
}

pub fn principal(field: &str, value: &str) -> KmsResult<()> {
    max_length(value, field, MAX_PRINCIPAL)
}

/// At most 8 KiB of keys and values (bytes of UTF-8), as AWS KMS allows.
pub fn encryption_context<'a>(
    field: &str,
    pairs: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> KmsResult<()> {
    let size: usize = pairs.into_iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > keyhold_crypto::MAX_CONTEXT_BYTES {
        return Err(violation(
            None,
            field,
            &format!(
                "have length less than or equal to {}",
                keyhold_crypto::MAX_CONTEXT_BYTES
            ),
        ));
    }
    Ok(())
}

/// AWS's tag character class: letters, numbers, separators and `_.:/=+-@`.
fn tag_text(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_alphabetic()
            || c.is_numeric()
            || (c.is_whitespace() && !c.is_control())
            || "_.:/=+-@".contains(c)
    })
}

const TAG_PATTERN: &str = r"satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$";

/// CreateKey's tags: at most 50, keys of 1..128 and values of 0..256 characters of
/// AWS's tag alphabet, no key in the reserved `aws:` namespace.
pub fn tags<'a>(tags: impl ExactSizeIterator<Item = (&'a str, &'a str)>) -> KmsResult<()> {
    if tags.len() > MAX_TAGS {
        return Err(KmsError::Tag(format!(
            "A KMS key can have at most {MAX_TAGS} tags; the request has {}.",
            tags.len()
        )));
    }
    for (index, (key, value)) in tags.enumerate() {
        let at = |member: &str| format!("tags.{}.member.{member}", index + 1);
        if key.is_empty() {
            return Err(violation(
                Some(key),
                &at("tagKey"),
                "have length greater than or equal to 1",
            ));
        }
        max_length(key, &at("tagKey"), MAX_TAG_KEY)?;
        max_length(value, &at("tagValue"), MAX_TAG_VALUE)?;
        if !tag_text(key) {
            return Err(violation(Some(key), &at("tagKey"), TAG_PATTERN));
        }
        if !tag_text(value) {
            return Err(violation(Some(value), &at("tagValue"), TAG_PATTERN));
        }
        if key
            .get(..4)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:"))
        {
            return Err(KmsError::Tag(
                "Tags beginning with aws: are reserved".into(),
            ));
        }
    }
    Ok(())
}

pub fn encryption_algorithm(algorithm: &str) -> KmsResult<()> {
    if matches!(algorithm, "" | "SYMMETRIC_DEFAULT") {
        return Ok(());
    }
    Err(violation(
        Some(algorithm),
        "encryptionAlgorithm",
        "satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(err: KmsError) -> String {
        err.to_string()
    }

    #[test]
    fn alias_rules() {
        assert!(alias_name("alias/myFirstKey").is_ok());
        assert!(matches!(
            alias_name("myFirstKey"),
            Err(KmsError::InvalidAliasName(_))
        ));
        assert!(matches!(
            alias_name("alias/aws/s3"),
            Err(KmsError::InvalidAliasName(_))
        ));
        assert_eq!(
            message(alias_name("alias/bad name").unwrap_err()),
            "1 validation error detected: Value 'alias/bad name' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9/_-]+$"
        );
        let long = format!("alias/{}", "a".repeat(251));
        assert!(
            matches!(alias_name(&long), Err(KmsError::Validation(m)) if m.contains("less than or equal to 256"))
        );
        assert!(alias_name(&format!("alias/{}", "a".repeat(250))).is_ok());
    }

    #[test]
    fn data_key_sizes() {
        assert_eq!(data_key_size("AES_256", 0).unwrap(), 32);
        assert_eq!(data_key_size("AES_128", 0).unwrap(), 16);
        assert_eq!(data_key_size("", 64).unwrap(), 64);
        assert_eq!(
            message(data_key_size("AES_256", 32).unwrap_err()),
            "Please specify either number of bytes or key spec."
        );
        assert_eq!(
            message(data_key_size("", 0).unwrap_err()),
            "Please specify either number of bytes or key spec."
        );
        assert!(data_key_size("", 1025).is_err());
        assert!(data_key_size("AES_512", 0).is_err());
    }

    #[test]
    fn windows_and_limits() {
        assert_eq!(pending_window_days(0).unwrap(), 30);
        assert_eq!(pending_window_days(7).unwrap(), 7);
        assert!(pending_window_days(6).is_err());
        assert!(pending_window_days(31).is_err());
        assert_eq!(limit(0).unwrap(), 100);
        assert!(limit(1001).is_err());
    }
}
