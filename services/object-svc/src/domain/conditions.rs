//! HTTP range and conditional-request rules of GetObject / HeadObject (RFC 9110 as
//! S3 applies them).

use chrono::{DateTime, Utc};

use crate::error::{ObjectError, ObjectResult};

/// A satisfiable range of an object: `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// `Content-Range: bytes first-last/size`.
    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{}", self.first, self.last, size)
    }
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against an object of `size` bytes.
/// None: no range (or one S3 ignores: syntactically invalid, several ranges); the
/// whole object is served. A valid range that cannot be satisfied is InvalidRange.
/// The time of an If-Modified-Since / If-Unmodified-Since condition: an HTTP date
/// (what S3 clients send) or RFC 3339 (what gRPC callers write); None for anything
/// else, which S3 ignores.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if text.is_empty() {
        return None;
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            httpdate::parse_http_date(text)
                .ok()
                .map(DateTime::<Utc>::from)
        })
}

pub fn parse_range(header: &str, size: u64) -> ObjectResult<Option<ByteRange>> {
    let header = header.trim();
    let unsatisfiable = || ObjectError::InvalidRange {
        requested: header.to_owned(),
        size,
    };
    if header.is_empty() {
        return Ok(None);
    }
    let Some(spec) = header.strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let parse = |text: &str| text.trim().parse::<u64>().ok();
    let range = match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, true) => return Ok(None),
        (true, false) => {
            let Some(suffix) = parse(end) else {
                return Ok(None);
            };
            if suffix == 0 || size == 0 {
                return Err(unsatisfiable());
            }
            ByteRange {
                first: size.saturating_sub(suffix),
                last: size - 1,
            }
        }
        (false, open_end) => {
            let Some(first) = parse(start) else {
                return Ok(None);
            };
            let last = if open_end {
                u64::MAX
            } else {
                match parse(end) {
                    Some(last) if last >= first => last,
                    _ => return Ok(None),
                }
            };
            if first >= size {
                return Err(unsatisfiable());
            }
            ByteRange {
                first,
                last: last.min(size - 1),
            }
        }
    };
    Ok(Some(range))
}

/// The conditional headers of a read.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<DateTime<Utc>>,
    pub if_unmodified_since: Option<DateTime<Utc>>,
}

impl Conditions {
    /// S3's order: If-Match, then If-Unmodified-Since (both 412); If-None-Match, then
    /// If-Modified-Since (both 304). A passing If-Match overrides If-Unmodified-Since,
    /// a failing If-None-Match overrides If-Modified-Since.
    pub fn check(&self, etag: &str, modified_at: DateTime<Utc>) -> ObjectResult<()> {
        // HTTP dates have whole seconds.
        let last_modified = modified_at.timestamp();
        let not_modified = || ObjectError::NotModified {
            etag: etag.to_owned(),
            last_modified: modified_at,
        };
        match &self.if_match {
            Some(wanted) if !etag_matches(wanted, etag) => {
                return Err(ObjectError::PreconditionFailed {
                    condition: "If-Match",
                });
            }
            Some(_) => {}
            None => {
                if let Some(since) = self.if_unmodified_since
                    && last_modified > since.timestamp()
                {
                    return Err(ObjectError::PreconditionFailed {
                        condition: "If-Unmodified-Since",
                    });
                }
            }
        }
        match &self.if_none_match {
            Some(wanted) if etag_matches(wanted, etag) => return Err(not_modified()),
            Some(_) => {}
            None => {
                if let Some(since) = self.if_modified_since
                    && last_modified <= since.timestamp()
                {
                    return Err(not_modified());
                }
            }
        }
        Ok(())
    }
}

/// A conditional write (PutObject's `If-None-Match: *` or `If-Match`), checked in
/// the transaction that stores the object, so two writers cannot both pass it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    #[default]
    Always,
    /// `If-None-Match: *`: only if no object has the key.
    IfAbsent,
    /// `If-Match`: only over an object with this ETag (or `*`: any object).
    IfMatch(String),
}

impl WriteCondition {
    /// From the headers' values; S3 takes only `*` in If-None-Match on a write.
    pub fn from_headers(if_none_match: Option<&str>, if_match: Option<&str>) -> ObjectResult<Self> {
        match (if_none_match.map(str::trim), if_match) {
            (Some("*"), None) => Ok(WriteCondition::IfAbsent),
            (Some(_), _) => Err(ObjectError::NotImplemented(
                "If-None-Match on a write takes only * (and not with If-Match)".to_owned(),
            )),
            (None, Some(etag)) => Ok(WriteCondition::IfMatch(etag.to_owned())),
            (None, None) => Ok(WriteCondition::Always),
        }
    }

    /// Whether a write may replace the object whose ETag is `current` (None: absent).
    pub fn check(&self, key: &str, current: Option<&str>) -> ObjectResult<()> {
        match (self, current) {
            (WriteCondition::Always, _) => Ok(()),
            (WriteCondition::IfAbsent, None) => Ok(()),
            (WriteCondition::IfAbsent, Some(_)) => Err(ObjectError::PreconditionFailed {
                condition: "If-None-Match",
            }),
            (WriteCondition::IfMatch(_), None) => Err(ObjectError::NoSuchKey(key.to_owned())),
            (WriteCondition::IfMatch(wanted), Some(etag)) if etag_matches(wanted, etag) => Ok(()),
            (WriteCondition::IfMatch(_), Some(_)) => Err(ObjectError::PreconditionFailed {
                condition: "If-Match",
            }),
        }
    }
}

/// `*`, or a comma-separated list of ETags, quoted or not.
fn etag_matches(list: &str, etag: &str) -> bool {
    let bare = etag.trim_matches('"');
    list.split(',')
        .map(|item| item.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|item| item == "*" || item == bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(header: &str, size: u64) -> Option<(u64, u64)> {
        parse_range(header, size)
            .unwrap()
            .map(|r| (r.first, r.last))
    }

    #[test]
    fn ranges_as_s3_reads_them() {
        assert_eq!(range("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(range("bytes=990-2000", 1000), Some((990, 999)));
        assert_eq!(range("bytes=100-", 1000), Some((100, 999)));
        assert_eq!(range("bytes=-100", 1000), Some((900, 999)));
        assert_eq!(range("bytes=-5000", 1000), Some((0, 999)));
        assert_eq!(range("", 1000), None);
        assert_eq!(range("bytes=5-1", 1000), None);
        assert_eq!(range("bytes=0-1,5-6", 1000), None);
        assert_eq!(range("items=0-1", 1000), None);
        assert_eq!(
            parse_range("bytes=1000-", 1000),
            Err(ObjectError::InvalidRange {
                requested: "bytes=1000-".into(),
                size: 1000
            })
        );
        assert_eq!(
            parse_range("bytes=-0", 1000),
            Err(ObjectError::InvalidRange {
                requested: "bytes=-0".into(),
                size: 1000
            })
        );
        assert_eq!(
            parse_range("bytes=0-", 0),
            Err(ObjectError::InvalidRange {
                requested: "bytes=0-".into(),
                size: 0
            })
        );
    }

    #[test]
    fn conditions_in_s3_order() {
        let modified = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let before = modified - chrono::Duration::days(1);
        let after = modified + chrono::Duration::days(1);
        let etag = "\"abc\"";
        let check = |c: Conditions| c.check(etag, modified);

        assert_eq!(check(Conditions::default()), Ok(()));
        let if_match = |v: &str| Conditions {
            if_match: Some(v.into()),
            ..Default::default()
        };
        assert_eq!(check(if_match("\"abc\"")), Ok(()));
        assert_eq!(check(if_match("abc")), Ok(()));
        assert_eq!(check(if_match("*")), Ok(()));
        assert_eq!(
            check(if_match("\"x\"")),
            Err(ObjectError::PreconditionFailed {
                condition: "If-Match"
            })
        );
        assert_eq!(
            check(Conditions {
                if_none_match: Some("\"abc\"".into()),
                ..Default::default()
            }),
            Err(ObjectError::NotModified {
                etag: etag.to_owned(),
                last_modified: modified
            })
        );
        assert_eq!(
            check(Conditions {
                if_modified_since: Some(after),
                ..Default::default()
            }),
            Err(ObjectError::NotModified {
                etag: etag.to_owned(),
                last_modified: modified
            })
        );
        assert_eq!(
            check(Conditions {
                if_modified_since: Some(before),
                ..Default::default()
            }),
            Ok(())
        );
        assert_eq!(
            check(Conditions {
                if_unmodified_since: Some(before),
                ..Default::default()
            }),
            Err(ObjectError::PreconditionFailed {
                condition: "If-Unmodified-Since"
            })
        );
        // A matching If-Match wins over a failing If-Unmodified-Since.
        assert_eq!(
            check(Conditions {
                if_match: Some("abc".into()),
                if_unmodified_since: Some(before),
                ..Default::default()
            }),
            Ok(())
        );
        // A non-matching If-None-Match wins over a failing If-Modified-Since.
        assert_eq!(
            check(Conditions {
                if_none_match: Some("\"other\"".into()),
                if_modified_since: Some(after),
                ..Default::default()
            }),
            Ok(())
        );
    }
}
