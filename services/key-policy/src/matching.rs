//! IAM's wildcard matching: `*` is any run of characters (including none), `?` is
//! exactly one character, everything else matches itself.
//!
//! Policy variables (`${aws:username}`) are not expanded: keyhold's policies never
//! need them, and matching them literally can only make a statement apply less.

/// Case-sensitive match, as IAM compares resource ARNs and `StringLike` values.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    matches(pattern, text, false)
}

/// Case-insensitive match, as IAM compares actions (`kms:decrypt` is `kms:Decrypt`).
pub(crate) fn wildcard_match_ignore_case(pattern: &str, text: &str) -> bool {
    matches(pattern, text, true)
}

/// Whether `pattern` matches at least one text that starts with `prefix`
/// (case-sensitive), e.g. whether a bucket policy's resource can name some object of
/// the bucket. The pattern runs as a set of live positions over the prefix, so the
/// cost is the prefix's length times the pattern's, whatever the pattern holds.
pub(crate) fn wildcard_matches_some_extension(pattern: &str, prefix: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let mut live = vec![false; pattern.len() + 1];
    live[0] = true;
    skip_empty_stars(&pattern, &mut live);
    for c in prefix.chars() {
        let mut next = vec![false; pattern.len() + 1];
        for (position, &p) in pattern.iter().enumerate() {
            if !live[position] {
                continue;
            }
            match p {
                '*' => next[position] = true,
                '?' => next[position + 1] = true,
                literal if literal == c => next[position + 1] = true,
                _ => {}
            }
        }
        skip_empty_stars(&pattern, &mut next);
        live = next;
    }
    // Whatever is left of the pattern from a live position matches some suffix.
    live.contains(&true)
}

/// A `*` may match nothing, so a position before one is also a position after it.
fn skip_empty_stars(pattern: &[char], live: &mut [bool]) {
    for position in 0..pattern.len() {
        if live[position] && pattern[position] == '*' {
            live[position + 1] = true;
        }
    }
}

/// Every call evaluates dozens of these (the console policy lists 15 administrator
/// actions), so the common cases allocate nothing: `*`, patterns without
/// wildcards, and ASCII text (actions and ARNs) matched byte by byte.
fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    if pattern == "*" {
        return true;
    }
    if !pattern.contains(['*', '?']) {
        return match ignore_case {
            false => pattern == text,
            true if pattern.is_ascii() && text.is_ascii() => pattern.eq_ignore_ascii_case(text),
            true => pattern.to_lowercase() == text.to_lowercase(),
        };
    }
    if pattern.is_ascii() && text.is_ascii() {
        let fold = |b: u8| {
            if ignore_case {
                b.to_ascii_lowercase()
            } else {
                b
            }
        };
        return glob(pattern.as_bytes(), text.as_bytes(), b'*', b'?', |p, t| {
            fold(p) == fold(t)
        });
    }
    let (pattern, text) = if ignore_case {
        (pattern.to_lowercase(), text.to_lowercase())
    } else {
        (pattern.to_owned(), text.to_owned())
    };
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    glob(&pattern, &text, '*', '?', |p, t| p == t)
}

/// Greedy matching that backtracks only to the most recent `*`, which is enough
/// because a later `*` can absorb anything an earlier one could: linear in practice
/// and never exponential, whatever a policy author writes.
fn glob<C: Copy + PartialEq>(
    pattern: &[C],
    text: &[C],
    star: C,
    any: C,
    same: impl Fn(C, C) -> bool,
) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(&c) if c == star => {
                last_star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == any || same(c, text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match last_star {
                Some((star_p, star_t)) => {
                    last_star = Some((star_p, star_t + 1));
                    p = star_p + 1;
                    t = star_t + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == star)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("kms:Decrypt", "kms:Decrypt"));
        assert!(!wildcard_match("kms:Decrypt", "kms:Decrypt2"));
        assert!(!wildcard_match("kms:Decrypt", "kms:Decryp"));
        assert!(wildcard_match("kms:Generate*", "kms:GenerateDataKey"));
        assert!(wildcard_match("kms:Generate*", "kms:Generate"));
        assert!(!wildcard_match("kms:Generate*", "kms:Encrypt"));
        assert!(wildcard_match(
            "kms:*Key*",
            "kms:GenerateDataKeyWithoutPlaintext"
        ));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("*a*b*c", "xxaxxbxxbc"));
        assert!(!wildcard_match("*a*b*c", "xxaxxcxxb"));
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "a"));
        assert!(wildcard_match("**", "a"));
    }

    #[test]
    fn text_beyond_ascii_matches_by_character() {
        assert!(wildcard_match("ü?er*", "übersee"));
        assert!(!wildcard_match("Ü*", "über"));
        assert!(wildcard_match_ignore_case("Ü*", "über"));
        assert!(wildcard_match_ignore_case("ÜBER", "über"));
    }

    #[test]
    fn case_rules() {
        assert!(!wildcard_match("kms:decrypt", "kms:Decrypt"));
        assert!(wildcard_match_ignore_case("KMS:decrypt", "kms:Decrypt"));
        assert!(wildcard_match_ignore_case(
            "kms:reencrypt*",
            "kms:ReEncryptFrom"
        ));
    }

    #[test]
    fn arn_wildcards() {
        let arn = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert!(wildcard_match("arn:aws:kms:*:000000000000:key/*", arn));
        assert!(!wildcard_match("arn:aws:kms:*:111111111111:key/*", arn));
        assert!(wildcard_match(
            "arn:aws:kms:us-east-1:000000000000:key/1234abcd-????-*",
            arn
        ));
    }

    #[test]
    fn matching_some_extension_of_a_prefix() {
        let prefix = "arn:aws:s3:::logs/";
        for pattern in [
            "arn:aws:s3:::logs/*",
            "arn:aws:s3:::logs/AWSLogs/000000000000/*",
            "arn:aws:s3:::log?/x",
            "arn:aws:s3:::*",
            "arn:aws:s3:::l*s/a",
            "*",
            "arn:aws:s3:::logs/",
        ] {
            assert!(
                wildcard_matches_some_extension(pattern, prefix),
                "{pattern}"
            );
        }
        for pattern in [
            "arn:aws:s3:::logs",
            "arn:aws:s3:::logs2/*",
            "arn:aws:s3:::other/*",
            "arn:aws:s3:::Logs/*",
            "",
        ] {
            assert!(
                !wildcard_matches_some_extension(pattern, prefix),
                "{pattern}"
            );
        }
        assert!(wildcard_matches_some_extension("", ""));
        // Stars can absorb the prefix and the a's come after it.
        let long = "*a".repeat(10_000);
        assert!(wildcard_matches_some_extension(
            &long,
            "bbbbbbbbbbbbbbbbbbbb/"
        ));
        let literal = "b".repeat(10_000);
        assert!(!wildcard_matches_some_extension(&literal, &"b/".repeat(50)));
    }

    #[test]
    fn many_stars_stay_fast() {
        let pattern = "*a".repeat(50) + "b";
        let text = "a".repeat(5000);
        assert!(!wildcard_match(&pattern, &text));
    }
}
