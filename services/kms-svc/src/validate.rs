//! Input rules with the messages AWS gives for them ("1 validation error detected:
//! ..."), so SDK users see the errors they already know.

use crate::error::{KmsError, KmsResult};

pub const MAX_PLAINTEXT: usize = 4096;
pub const MAX_ALIAS_LEN: usize = 256;
pub const MAX_DESCRIPTION: usize = 8192;
pub const DEFAULT_PENDING_WINDOW_DAYS: i32 = 30;

fn violation(value: Option<&str>, field: &str, constraint: &str) -> KmsError {
    let value = value.map(|v| format!(" '{v}'")).unwrap_or_default();
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
            "KeySpec {key_spec} is not supported: keyhold makes SYMMETRIC_DEFAULT keys."
        )));
    }
    if !matches!(key_usage, "" | "ENCRYPT_DECRYPT") {
        return Err(KmsError::Validation(format!(
            "KeyUsage {key_usage} is not supported for a SYMMETRIC_DEFAULT key."
        )));
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
