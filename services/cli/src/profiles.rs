//! Named profiles of the AWS CLI's shared files: `[name]` in ~/.aws/credentials and
//! `[profile name]` (or `[default]`) in ~/.aws/config, the credentials file first;
//! AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE move them, as for the AWS CLI.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::remote::Keys;

/// The keys of `profile`, or the AWS CLI's error when no file names it.
pub fn keys(profile: &str) -> anyhow::Result<Keys> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let credentials = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/credentials"));
    let config = std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/config"));
    let config_section = if profile == "default" {
        profile.to_owned()
    } else {
        format!("profile {profile}")
    };
    for (file, section) in [
        (&credentials, profile.to_owned()),
        (&config, config_section),
    ] {
        if let Some(keys) = keys_in(file, &section)? {
            return Ok(keys);
        }
    }
    anyhow::bail!("The config profile ({profile}) could not be found")
}

/// The keys of `section` in `file`; none when the file or the section is missing.
fn keys_in(file: &Path, section: &str) -> anyhow::Result<Option<Keys>> {
    let ini = match ini::Ini::load_from_file(file) {
        Ok(ini) => ini,
        Err(ini::Error::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", file.display())),
    };
    let Some(properties) = ini.section(Some(section)) else {
        return Ok(None);
    };
    let (Some(id), Some(secret)) = (
        properties.get("aws_access_key_id"),
        properties.get("aws_secret_access_key"),
    ) else {
        return Ok(None);
    };
    Keys::new(id.trim(), secret.trim())
        .map(Some)
        .with_context(|| format!("profile [{section}] of {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_gives_its_keys_and_a_missing_one_none() {
        let dir = crate::files::test_dir("profiles");
        let file = dir.join("credentials");
        std::fs::write(
            &file,
            "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s1\n\n\
             # the lab user\n[keyhold]\naws_access_key_id=AKIAKEYHOLD\naws_secret_access_key=s2\n\
             [no-secret]\naws_access_key_id=AKIA3\n",
        )
        .unwrap();
        let keys = keys_in(&file, "keyhold").unwrap().unwrap();
        assert_eq!(keys.access_key_id, "AKIAKEYHOLD");
        assert_eq!(keys.secret_access_key.as_str(), "s2");
        assert!(keys_in(&file, "other").unwrap().is_none());
        assert!(keys_in(&file, "no-secret").unwrap().is_none());
        assert!(keys_in(&dir.join("missing"), "keyhold").unwrap().is_none());
    }
}
