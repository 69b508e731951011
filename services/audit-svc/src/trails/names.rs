//! CloudTrail's rules for trail names, trail ARNs, bucket names and key prefixes,
//! with its exception names.

use super::{
    TrailScope,
    error::{TrailError, TrailResult},
};

const MAX_PREFIX: usize = 200;

/// A trail name as CreateTrail accepts it: 3 to 128 ASCII letters, digits, `.`, `_`
/// and `-`, starting and ending with a letter or digit, with no two of `.`, `_`, `-`
/// side by side, and not shaped like an IP address.
pub fn check_trail_name(name: &str) -> TrailResult<()> {
    let invalid = |m: String| Err(TrailError::InvalidTrailName(m));
    if name.len() < 3 {
        return invalid(format!(
            "Trail name too short. Minimum allowed length: 3 characters. Specified name length: {} characters.",
            name.len()
        ));
    }
    if name.len() > 128 {
        return invalid(format!(
            "Trail name too long. Maximum allowed length: 128 characters. Specified name length: {} characters.",
            name.len()
        ));
    }
    let punctuation = |c: char| matches!(c, '.' | '_' | '-');
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || punctuation(c))
    {
        return invalid(
            "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_)."
                .into(),
        );
    }
    let first = name.chars().next().unwrap_or('.');
    let last = name.chars().last().unwrap_or('.');
    if !first.is_ascii_alphanumeric() {
        return invalid("Trail name must starts with a letter or number.".into());
    }
    if !last.is_ascii_alphanumeric() {
        return invalid("Trail name must ends with a letter or number.".into());
    }
    if name
        .as_bytes()
        .windows(2)
        .any(|w| punctuation(w[0] as char) && punctuation(w[1] as char))
    {
        return invalid(
            "Trail name cannot contain consecutive special characters (periods, underscores, or hyphens)."
                .into(),
        );
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return invalid("Trail name cannot be formatted as an IP address.".into());
    }
    Ok(())
}

/// The trail name a request gives as a name or an ARN of the caller's account and
/// region. An ARN of another account or region names no trail of the caller's.
pub fn trail_name_of(scope: &TrailScope, name_or_arn: &str) -> TrailResult<String> {
    let Some(rest) = name_or_arn.strip_prefix("arn:") else {
        check_trail_name(name_or_arn)?;
        return Ok(name_or_arn.to_owned());
    };
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [partition, service, region, account, resource] = parts[..] else {
        return Err(TrailError::InvalidTrailName(format!(
            "Trail ARN {name_or_arn} is not valid."
        )));
    };
    let Some(name) = resource.strip_prefix("trail/") else {
        return Err(TrailError::InvalidTrailName(format!(
            "Trail ARN {name_or_arn} is not valid."
        )));
    };
    if partition != "aws" || service != "cloudtrail" {
        return Err(TrailError::InvalidTrailName(format!(
            "Trail ARN {name_or_arn} is not valid."
        )));
    }
    check_trail_name(name)?;
    if region != scope.region || account != scope.account_id {
        return Err(TrailError::TrailNotFound {
            arn: name_or_arn.to_owned(),
            account: scope.account_id.clone(),
        });
    }
    Ok(name.to_owned())
}

/// S3's bucket naming rules (the ones a name can break on its own).
pub fn check_bucket_name(bucket: &str) -> TrailResult<()> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !bucket.contains("..");
    if ok {
        Ok(())
    } else {
        Err(TrailError::InvalidS3BucketName(format!(
            "Bucket name {bucket} is not valid: 3 to 63 lowercase letters, numbers, periods and hyphens, starting and ending with a letter or number."
        )))
    }
}

pub fn check_prefix(prefix: &str) -> TrailResult<()> {
    if prefix.len() > MAX_PREFIX {
        return Err(TrailError::InvalidS3Prefix(format!(
            "S3 prefix {}... is longer than {MAX_PREFIX} characters.",
            keyhold_platform::error::clipped(prefix, 32)
        )));
    }
    if prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//") {
        return Err(TrailError::InvalidS3Prefix(format!(
            "S3 prefix {prefix} is not valid: it may not start or end with '/' nor hold '//'."
        )));
    }
    if prefix.chars().any(char::is_control) {
        return Err(TrailError::InvalidS3Prefix(
            "S3 prefix may not hold control characters.".into(),
        ));
    }
    Ok(())
}

/// The shapes of KMS key ids CreateTrail accepts: key id, key ARN, alias name or
/// alias ARN. The key itself is resolved by object-svc at delivery.
pub fn check_kms_key_id(key: &str) -> TrailResult<()> {
    let shaped = key.starts_with("alias/")
        || key.starts_with("arn:aws:kms:")
        || (key.len() == 36 && key.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    if shaped && key.len() <= 2048 {
        Ok(())
    } else {
        Err(TrailError::InvalidKmsKeyId(format!(
            "Invalid KmsKeyId {}",
            keyhold_platform::error::clipped(key, 64)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> TrailScope {
        TrailScope {
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn trail_names_follow_aws_rules() {
        for good in ["myTrail", "a.b", "my-trail_1", "1ab", "10.0.0"] {
            assert_eq!(check_trail_name(good), Ok(()), "{good}");
        }
        let message = |name: &str| match check_trail_name(name) {
            Err(TrailError::InvalidTrailName(m)) => m,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(
            message("ab"),
            "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 2 characters."
        );
        assert!(message("-abc").contains("starts with"));
        assert!(message("abc-").contains("ends with"));
        assert!(message("a--b").contains("consecutive"));
        assert!(message("a_.b").contains("consecutive"));
        assert!(message("my trail").contains("can only contain"));
        assert!(message("10.0.0.1").contains("IP address"));
        assert!(message(&"a".repeat(129)).contains("too long"));
    }

    #[test]
    fn a_trail_is_named_by_name_or_by_arn_of_its_account() {
        let scope = scope();
        assert_eq!(trail_name_of(&scope, "myTrail").unwrap(), "myTrail");
        assert_eq!(
            trail_name_of(
                &scope,
                "arn:aws:cloudtrail:us-east-1:000000000000:trail/myTrail"
            )
            .unwrap(),
            "myTrail"
        );
        assert!(matches!(
            trail_name_of(
                &scope,
                "arn:aws:cloudtrail:us-east-1:111111111111:trail/myTrail"
            ),
            Err(TrailError::TrailNotFound { .. })
        ));
        assert!(matches!(
            trail_name_of(&scope, "arn:aws:s3:::bucket"),
            Err(TrailError::InvalidTrailName(_))
        ));
    }

    #[test]
    fn prefixes_and_buckets() {
        assert!(check_prefix("logs/team-a").is_ok());
        assert!(check_prefix("/logs").is_err());
        assert!(check_prefix(&"p".repeat(201)).is_err());
        assert!(check_bucket_name("mycloudtrailbucket1").is_ok());
        assert!(check_bucket_name("My_Bucket").is_err());
    }
}
