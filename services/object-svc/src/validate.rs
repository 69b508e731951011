//! S3's rules for names and the canned ACLs: pure functions, no I/O.

use crate::model::{ALL_USERS_URI, AUTHENTICATED_USERS_URI, Acl, Grant, Grantee, Permission};

/// The most bytes of a client's value an error repeats (S3's error fields such as
/// BucketName, ArgumentValue, UploadId): the longest key.
pub const MAX_ECHO: usize = MAX_KEY_BYTES;
/// S3's limit on user metadata: keys and values, bytes of UTF-8.
pub const MAX_METADATA: usize = 2 * 1024;
/// S3's limit on a request's headers and query string. gRPC requests are held to it
/// for the fields S3 carries there (user metadata and the encryption context have
/// limits of their own).
pub const MAX_HEADER_SECTION: usize = 8 * 1024;
/// S3 allows up to 100 grants in one ACL.
pub const MAX_GRANTS: usize = 100;
/// A grantee's id, URI or e-mail: canonical ids are 64 characters, group URIs under 60.
pub const MAX_GRANTEE_TEXT: usize = 1024;

/// The length rule of bucket names, the one checked on every operation (the others
/// only when a bucket is created; a name that breaks them names no bucket).
pub fn bucket_name_length(name: &str) -> bool {
    (3..=63).contains(&name.len())
}

/// User metadata's size as S3 counts it: the bytes of every key and value.
pub fn metadata_size<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> usize {
    pairs.into_iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// What an HTTP field value may hold (RFC 9110): no control characters but tab. The
/// S3 endpoint cannot receive anything else; gRPC callers could, and the value would
/// then be stored and break the header it is served in.
pub fn header_value(text: &str) -> bool {
    http::HeaderValue::from_str(text).is_ok()
}

/// S3's bucket naming rules (general purpose buckets). The reason in `Err` is for
/// logs; S3 answers every violation with "The specified bucket is not valid.".
pub fn bucket_name(name: &str) -> Result<(), &'static str> {
    const PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
    const SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if !bucket_name_length(name) {
        return Err("must be 3 to 63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err("may contain only lowercase letters, digits, dots and hyphens");
    }
    let alphanumeric =
        |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !alphanumeric(name.bytes().next()) || !alphanumeric(name.bytes().next_back()) {
        return Err("must begin and end with a letter or digit");
    }
    if name.contains("..") {
        return Err("must not contain two adjacent dots");
    }
    if looks_like_ip_address(name) {
        return Err("must not be formatted as an IP address");
    }
    if PREFIXES.iter().any(|prefix| name.starts_with(prefix)) {
        return Err("must not start with a reserved prefix");
    }
    if SUFFIXES.iter().any(|suffix| name.ends_with(suffix)) {
        return Err("must not end with a reserved suffix");
    }
    Ok(())
}

/// Four dot-separated groups of digits, like 192.168.5.4.
fn looks_like_ip_address(name: &str) -> bool {
    let groups: Vec<&str> = name.split('.').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|group| !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    #[error("the object key is empty")]
    Empty,
    #[error("the object key is longer than 1024 bytes")]
    TooLong,
    #[error("the object key contains a NUL character")]
    Nul,
}

/// The longest object key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// An object key: 1 to 1024 bytes of UTF-8 (a `&str` is UTF-8 already), no NUL
/// (Postgres text cannot hold one).
pub fn object_key(key: &str) -> Result<(), KeyProblem> {
    if key.is_empty() {
        Err(KeyProblem::Empty)
    } else if key.len() > MAX_KEY_BYTES {
        Err(KeyProblem::TooLong)
    } else if key.contains('\0') {
        Err(KeyProblem::Nul)
    } else {
        Ok(())
    }
}

/// The ACL a canned ACL name stands for, the owner's FULL_CONTROL grant first;
/// None for an unknown name. An installation has one account, so the
/// bucket-owner-* ACLs come down to the owner's FULL_CONTROL, as does aws-exec-read.
pub fn canned_acl(name: &str, owner_id: &str) -> Option<Acl> {
    let group = |uri: &str, permission| Grant {
        grantee: Grantee::Group {
            uri: uri.to_owned(),
        },
        permission,
    };
    let extra = match name {
        "private" | "bucket-owner-read" | "bucket-owner-full-control" | "aws-exec-read" => {
            vec![]
        }
        "public-read" => vec![group(ALL_USERS_URI, Permission::Read)],
        "public-read-write" => vec![
            group(ALL_USERS_URI, Permission::Read),
            group(ALL_USERS_URI, Permission::Write),
        ],
        "authenticated-read" => vec![group(AUTHENTICATED_USERS_URI, Permission::Read)],
        _ => return None,
    };
    let mut acl = Acl::private(owner_id);
    acl.grants.extend(extra);
    Some(acl)
}

/// A user metadata key (what follows `x-amz-meta-`): non-empty, HTTP token
/// characters only (RFC 9110 tchar).
pub fn metadata_key(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_bucket_names() {
        for name in [
            "abc",
            "a1b",
            "my-bucket",
            "my.bucket.name",
            "1bucket",
            "bucket1",
            "a-b.c-d",
            "192.168.5.4a",
            "1.2.3",
            "1.2.3.4.5",
            &"a".repeat(63),
        ] {
            assert_eq!(bucket_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn bad_bucket_names() {
        for name in [
            "",
            "ab",
            &"a".repeat(64),
            "Ab",
            "aB-c",
            "a_b",
            "a b",
            "abc/",
            "bücket",
            "-ab",
            "ab-",
            ".ab",
            "ab.",
            "a..b",
            "192.168.5.4",
            "10.0.0.1",
            "xn--abc",
            "sthree-abc",
            "sthree-configurator",
            "amzn-s3-demo-bucket",
            "abc-s3alias",
            "abc--ol-s3",
            "abc.mrap",
            "abc--x-s3",
            "abc--table-s3",
        ] {
            assert!(bucket_name(name).is_err(), "{name:?} should be refused");
        }
    }

    #[test]
    fn object_keys() {
        assert_eq!(object_key("a"), Ok(()));
        assert_eq!(object_key("photos/2024/é 😀 %_.jpg"), Ok(()));
        assert_eq!(object_key(&"k".repeat(1024)), Ok(()));
        assert_eq!(object_key(&"k".repeat(1025)), Err(KeyProblem::TooLong));
        // The limit is in bytes: 512 two-byte characters fit, 513 do not.
        assert_eq!(object_key(&"é".repeat(512)), Ok(()));
        assert_eq!(object_key(&"é".repeat(513)), Err(KeyProblem::TooLong));
        assert_eq!(object_key(""), Err(KeyProblem::Empty));
        assert_eq!(object_key("a\0b"), Err(KeyProblem::Nul));
    }

    #[test]
    fn canned_acls() {
        let owner = "111122223333";
        let owner_full = Grant {
            grantee: Grantee::CanonicalUser {
                id: owner.to_owned(),
            },
            permission: Permission::FullControl,
        };
        for name in [
            "private",
            "bucket-owner-read",
            "bucket-owner-full-control",
            "aws-exec-read",
        ] {
            assert_eq!(canned_acl(name, owner), Some(Acl::private(owner)), "{name}");
        }

        let public_read = canned_acl("public-read", owner).unwrap();
        assert_eq!(public_read.owner_id, owner);
        assert_eq!(public_read.grants.len(), 2);
        assert_eq!(public_read.grants[0], owner_full);
        assert!(public_read.grants_public(Permission::Read));
        assert!(!public_read.grants_public(Permission::Write));

        let public_read_write = canned_acl("public-read-write", owner).unwrap();
        assert_eq!(public_read_write.grants.len(), 3);
        assert_eq!(public_read_write.grants[0], owner_full);
        assert!(public_read_write.grants_public(Permission::Read));
        assert!(public_read_write.grants_public(Permission::Write));

        let authenticated = canned_acl("authenticated-read", owner).unwrap();
        assert_eq!(authenticated.grants[0], owner_full);
        assert_eq!(
            authenticated.grants[1],
            Grant {
                grantee: Grantee::Group {
                    uri: AUTHENTICATED_USERS_URI.to_owned()
                },
                permission: Permission::Read,
            }
        );
        assert!(authenticated.is_public());
        assert!(!authenticated.grants_public(Permission::Read));

        assert_eq!(canned_acl("public", owner), None);
        assert_eq!(canned_acl("Private", owner), None);
        assert_eq!(canned_acl("", owner), None);
    }

    #[test]
    fn metadata_keys() {
        for name in ["a", "color", "x-y_z.1", "Mixed-Case", "!#$%&'*+-.^_`|~"] {
            assert!(metadata_key(name), "{name}");
        }
        for name in ["", "a b", "a:b", "a/b", "é", "a\nb", "(x)", "a\"b", "a=b"] {
            assert!(!metadata_key(name), "{name:?}");
        }
    }
}
