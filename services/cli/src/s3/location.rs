//! Where a `keyhold s3` argument points: an `s3://bucket/key` URL, or a local path
//! (`-`: standard input or output), as the AWS CLI reads its arguments.

use std::{fmt, path::PathBuf};

/// `s3://bucket[/key]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// Empty for the bucket itself (`s3://bucket` or `s3://bucket/`).
    pub key: String,
}

impl S3Url {
    pub fn parse(text: &str) -> Result<S3Url, String> {
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{text:?} is not an s3:// URL (s3://bucket/key)"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{text:?} names no bucket (s3://bucket/key)"));
        }
        Ok(S3Url {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// The URL of a bucket only: a key is refused.
    pub fn bucket(text: &str) -> Result<String, String> {
        let url = S3Url::parse(text)?;
        if url.key.is_empty() {
            Ok(url.bucket)
        } else {
            Err(format!("{text:?} names an object; expected s3://bucket"))
        }
    }

    /// The URL of an object: a key is required.
    pub fn object(text: &str) -> Result<S3Url, String> {
        let url = S3Url::parse(text)?;
        if url.key.is_empty() {
            Err(format!(
                "{text:?} names no object; expected s3://bucket/key"
            ))
        } else {
            Ok(url)
        }
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// One side of `keyhold s3 cp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    S3(S3Url),
    /// Standard input or output.
    Stdio,
    Local(PathBuf),
}

impl Location {
    pub fn parse(text: &str) -> Result<Location, String> {
        if text.starts_with("s3://") {
            S3Url::parse(text).map(Location::S3)
        } else if text == "-" {
            Ok(Location::Stdio)
        } else {
            Ok(Location::Local(PathBuf::from(text)))
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::S3(url) => url.fmt(f),
            Location::Stdio => f.write_str("-"),
            Location::Local(path) => path.display().fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_at_the_first_slash_after_the_bucket() {
        assert_eq!(
            S3Url::parse("s3://b/images/lab.png"),
            Ok(S3Url {
                bucket: "b".into(),
                key: "images/lab.png".into()
            })
        );
        assert_eq!(S3Url::bucket("s3://b/"), Ok("b".into()));
        assert_eq!(S3Url::bucket("s3://b"), Ok("b".into()));
        assert!(S3Url::bucket("s3://b/k").is_err());
        assert!(S3Url::object("s3://b/").is_err());
        assert!(S3Url::parse("s3:///k").is_err());
        assert!(S3Url::parse("b/k").is_err());
    }

    #[test]
    fn a_dash_is_standard_io_and_anything_else_a_path() {
        assert_eq!(Location::parse("-"), Ok(Location::Stdio));
        assert_eq!(
            Location::parse("./a.png"),
            Ok(Location::Local("./a.png".into()))
        );
        assert!(matches!(Location::parse("s3://b/k"), Ok(Location::S3(_))));
    }
}
