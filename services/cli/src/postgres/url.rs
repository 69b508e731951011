//! Postgres connection URLs: one server, one database per service.
//!
//! Rewritten by hand rather than with a URL crate because only the path
//! changes, and a hand rewrite keeps every other byte of what the user typed
//! (query parameters such as `sslmode` or `host=/socket/dir` included).

use anyhow::{Result, bail};

/// `url` with its path replaced by `/<database>`, query and fragment kept.
pub fn with_database(url: &str, database: &str) -> Result<String> {
    let (scheme, rest) = split_scheme(url)?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    // Whatever followed the old path (query, fragment) survives unchanged.
    let tail = match after.strip_prefix('/') {
        Some(path_and_tail) => {
            &path_and_tail[path_and_tail
                .find(['?', '#'])
                .unwrap_or(path_and_tail.len())..]
        }
        None => after,
    };
    Ok(format!("{scheme}://{authority}/{database}{tail}"))
}

/// `url` fit for printing: a password in the user-info part becomes `***`.
pub fn redacted(url: &str) -> String {
    let Ok((scheme, rest)) = split_scheme(url) else {
        return "<not a postgres:// URL>".to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let (user_info, host) = authority.split_at(at);
    match user_info.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{host}{after}"),
        None => url.to_owned(),
    }
}

fn split_scheme(url: &str) -> Result<(&str, &str)> {
    match url.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("postgres")
                || scheme.eq_ignore_ascii_case("postgresql") =>
        {
            Ok((scheme, rest))
        }
        _ => bail!(
            "DATABASE_URL must look like postgres://USER[:PASSWORD]@HOST[:PORT]/DB (got {:?})",
            redact_unknown(url)
        ),
    }
}

// Something that is not even a postgres URL may still carry a password
// (mysql://u:p@h); show only its scheme.
fn redact_unknown(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://..."),
        None => url.chars().take(20).collect::<String>() + "...",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_path_and_keeps_everything_else() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/keyhold_kms",
            ),
            (
                "postgres://u:p%2Fw@db.example:5432/x?sslmode=require",
                "postgres://u:p%2Fw@db.example:5432/keyhold_kms?sslmode=require",
            ),
            (
                "postgresql://localhost",
                "postgresql://localhost/keyhold_kms",
            ),
            (
                "postgres://localhost?sslmode=disable",
                "postgres://localhost/keyhold_kms?sslmode=disable",
            ),
            (
                "postgres:///app?host=/var/run/postgresql",
                "postgres:///keyhold_kms?host=/var/run/postgresql",
            ),
            ("postgres://h/a/b#frag", "postgres://h/keyhold_kms#frag"),
        ];
        for (input, want) in cases {
            assert_eq!(
                with_database(input, "keyhold_kms").unwrap(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn refuses_other_schemes() {
        let err = with_database("mysql://root:hunter2@h/db", "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("postgres://"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(with_database("127.0.0.1:5432", "x").is_err());
    }

    #[test]
    fn hides_passwords() {
        assert_eq!(
            redacted("postgres://u:secret@h:5432/db?x=1"),
            "postgres://u:***@h:5432/db?x=1"
        );
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redacted("postgres://h/db"), "postgres://h/db");
    }
}
