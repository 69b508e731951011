//! Condition operators: their names and how one request value compares with one
//! policy value.
//!
//! keyhold evaluates the whole IAM operator family, not only the string operators
//! its own console writes, so that a policy copied from AWS is never refused for an
//! operator AWS accepts.

use std::net::IpAddr;

use crate::matching::wildcard_match;

/// How a single request value is compared with a single policy value. Negated
/// operators (`StringNotEquals`, `NotIpAddress`, ...) reuse the comparison of their
/// positive twin, see [`Operator::negated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    /// Compares presence, not values; handled before any value comparison.
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Operator {
    pub(crate) comparison: Comparison,
    /// True when the operator holds exactly where its positive twin does not.
    pub(crate) negated: bool,
}

impl Operator {
    /// The operator named without its `ForAllValues:` / `ForAnyValue:` prefix and
    /// `IfExists` suffix. Names are case-sensitive, as in AWS.
    pub(crate) fn from_name(name: &str) -> Option<Operator> {
        use Comparison::*;
        let (comparison, negated) = match name {
            "StringEquals" => (StringEquals, false),
            "StringNotEquals" => (StringEquals, true),
            "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
            "StringLike" => (StringLike, false),
            "StringNotLike" => (StringLike, true),
            "NumericEquals" => (NumericEquals, false),
            "NumericNotEquals" => (NumericEquals, true),
            "NumericLessThan" => (NumericLessThan, false),
            "NumericLessThanEquals" => (NumericLessThanEquals, false),
            "NumericGreaterThan" => (NumericGreaterThan, false),
            "NumericGreaterThanEquals" => (NumericGreaterThanEquals, false),
            "DateEquals" => (DateEquals, false),
            "DateNotEquals" => (DateEquals, true),
            "DateLessThan" => (DateLessThan, false),
            "DateLessThanEquals" => (DateLessThanEquals, false),
            "DateGreaterThan" => (DateGreaterThan, false),
            "DateGreaterThanEquals" => (DateGreaterThanEquals, false),
            "Bool" => (Bool, false),
            "BinaryEquals" => (BinaryEquals, false),
            "IpAddress" => (IpAddress, false),
            "NotIpAddress" => (IpAddress, true),
            // IAM documents ArnEquals and ArnLike as the same comparison.
            "ArnEquals" | "ArnLike" => (ArnLike, false),
            "ArnNotEquals" | "ArnNotLike" => (ArnLike, true),
            "Null" => (Null, false),
            _ => return None,
        };
        Some(Operator {
            comparison,
            negated,
        })
    }
}

impl Comparison {
    /// Whether a policy value can ever be compared, so that a typo such as a date in
    /// a numeric condition is refused when the policy is written, not silently
    /// never matched later.
    pub(crate) fn accepts_policy_value(self, value: &str) -> bool {
        use Comparison::*;
        match self {
            NumericEquals
            | NumericLessThan
            | NumericLessThanEquals
            | NumericGreaterThan
            | NumericGreaterThanEquals => parse_number(value).is_some(),
            DateEquals
            | DateLessThan
            | DateLessThanEquals
            | DateGreaterThan
            | DateGreaterThanEquals => parse_date_millis(value).is_some(),
            Bool | Null => {
                value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false")
            }
            IpAddress => parse_cidr(value).is_some(),
            StringEquals | StringEqualsIgnoreCase | StringLike | BinaryEquals | ArnLike => true,
        }
    }

    /// The positive comparison of one request value with one policy value. A request
    /// value of the wrong type (a non-number for a numeric operator) never matches.
    pub(crate) fn matches(self, request: &str, policy: &str) -> bool {
        use Comparison::*;
        match self {
            StringEquals | BinaryEquals => request == policy,
            StringEqualsIgnoreCase => request.to_lowercase() == policy.to_lowercase(),
            StringLike => wildcard_match(policy, request),
            NumericEquals => compare(parse_number, request, policy, |r, p| r == p),
            NumericLessThan => compare(parse_number, request, policy, |r, p| r < p),
            NumericLessThanEquals => compare(parse_number, request, policy, |r, p| r <= p),
            NumericGreaterThan => compare(parse_number, request, policy, |r, p| r > p),
            NumericGreaterThanEquals => compare(parse_number, request, policy, |r, p| r >= p),
            DateEquals => compare(parse_date_millis, request, policy, |r, p| r == p),
            DateLessThan => compare(parse_date_millis, request, policy, |r, p| r < p),
            DateLessThanEquals => compare(parse_date_millis, request, policy, |r, p| r <= p),
            DateGreaterThan => compare(parse_date_millis, request, policy, |r, p| r > p),
            DateGreaterThanEquals => compare(parse_date_millis, request, policy, |r, p| r >= p),
            Bool => request.eq_ignore_ascii_case(policy),
            IpAddress => match (request.parse::<IpAddr>(), parse_cidr(policy)) {
                (Ok(ip), Some((network, prefix))) => in_network(ip, network, prefix),
                _ => false,
            },
            ArnLike => arn_like(request, policy),
            Null => false,
        }
    }
}

fn compare<T>(
    parse: fn(&str) -> Option<T>,
    request: &str,
    policy: &str,
    holds: fn(T, T) -> bool,
) -> bool {
    match (parse(request), parse(policy)) {
        (Some(r), Some(p)) => holds(r, p),
        _ => false,
    }
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// IAM compares each of an ARN's six colon-separated parts on its own, so a `*` in
/// the region part cannot swallow the account part.
fn arn_like(request: &str, policy: &str) -> bool {
    let request_parts: Vec<&str> = request.splitn(6, ':').collect();
    let policy_parts: Vec<&str> = policy.splitn(6, ':').collect();
    if policy_parts.len() != 6 {
        // Not an ARN pattern: only a lone wildcard can still match.
        return wildcard_match(policy, request);
    }
    request_parts.len() == 6
        && request_parts
            .iter()
            .zip(&policy_parts)
            .all(|(r, p)| wildcard_match(p, r))
}

/// A CIDR block, or a bare address meaning a block of one.
pub(crate) fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|&p| p <= max)?,
        None => max,
    };
    Some((address, prefix))
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Milliseconds since the Unix epoch, from what IAM accepts as a date: epoch seconds,
/// or ISO 8601 (`2024-05-01`, `2024-05-01T12:00:00Z`, with optional fraction and
/// `±hh:mm` offset; no zone means UTC).
pub(crate) fn parse_date_millis(text: &str) -> Option<i64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().ok()?.checked_mul(1000);
    }
    let (date, time) = match text.split_once(['T', 't']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = fixed_digits(date_parts.next()?, 4)?;
    let month: i64 = fixed_digits(date_parts.next()?, 2)?;
    let day: i64 = fixed_digits(date_parts.next()?, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut millis = days_from_civil(year, month, day) * 86_400_000;
    if let Some(time) = time {
        millis += parse_time_millis(time)?;
    }
    Some(millis)
}

/// `hh:mm[:ss[.fff]]` plus an optional zone, as an offset from midnight UTC.
fn parse_time_millis(time: &str) -> Option<i64> {
    let (clock, offset_millis) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let zone = zone[1..].replace(':', "");
        if zone.len() != 4 {
            return None;
        }
        let hours: i64 = fixed_digits(&zone[..2], 2)?;
        let minutes: i64 = fixed_digits(&zone[2..], 2)?;
        if hours > 23 || minutes > 59 {
            return None;
        }
        (clock, sign * (hours * 60 + minutes) * 60_000)
    } else {
        (time, 0)
    };
    let (clock, fraction) = match clock.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (clock, None),
    };
    let mut parts = clock.split(':');
    let hours: i64 = fixed_digits(parts.next()?, 2)?;
    let minutes: i64 = fixed_digits(parts.next()?, 2)?;
    let seconds: i64 = match parts.next() {
        Some(s) => fixed_digits(s, 2)?,
        None if fraction.is_none() => 0,
        None => return None,
    };
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    let fraction_millis = match fraction {
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{f:0<3}")[..3].parse::<i64>().ok()?
        }
        Some(_) => return None,
        None => 0,
    };
    Some(((hours * 60 + minutes) * 60 + seconds) * 1000 + fraction_millis - offset_millis)
}

fn fixed_digits(text: &str, len: usize) -> Option<i64> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's
/// algorithm), to avoid a date library for one comparison.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        let op = Operator::from_name("StringNotEquals").unwrap();
        assert_eq!(op.comparison, Comparison::StringEquals);
        assert!(op.negated);
        assert_eq!(
            Operator::from_name("ArnEquals"),
            Operator::from_name("ArnLike")
        );
        assert!(Operator::from_name("NotIpAddress").unwrap().negated);
        assert_eq!(Operator::from_name("stringequals"), None);
        assert_eq!(Operator::from_name("StringEqualz"), None);
    }

    #[test]
    fn string_comparisons() {
        use Comparison::*;
        assert!(StringEquals.matches("IT", "IT"));
        assert!(!StringEquals.matches("it", "IT"));
        assert!(StringEqualsIgnoreCase.matches("it", "IT"));
        assert!(StringLike.matches("s3.us-east-1.amazonaws.com", "s3.*.amazonaws.com"));
        assert!(!StringLike.matches("S3.us-east-1.amazonaws.com", "s3.*"));
        assert!(BinaryEquals.matches("QUJD", "QUJD"));
    }

    #[test]
    fn numeric_comparisons() {
        use Comparison::*;
        assert!(NumericEquals.matches("10", "10.0"));
        assert!(NumericLessThan.matches("9", "10"));
        assert!(!NumericLessThan.matches("10", "10"));
        assert!(NumericLessThanEquals.matches("10", "10"));
        assert!(NumericGreaterThan.matches("11", "10"));
        assert!(NumericGreaterThanEquals.matches("10", "10"));
        assert!(!NumericEquals.matches("ten", "10"));
        assert!(!NumericEquals.accepts_policy_value("ten"));
        assert!(!NumericEquals.accepts_policy_value("NaN"));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date_millis("1970-01-01"), Some(0));
        assert_eq!(parse_date_millis("1970-01-02T00:00:00Z"), Some(86_400_000));
        assert_eq!(parse_date_millis("86400"), Some(86_400_000));
        assert_eq!(
            parse_date_millis("2024-02-29T12:30:15.25Z"),
            Some(1_709_209_815_250)
        );
        assert_eq!(
            parse_date_millis("2024-02-29T14:30:15.25+02:00"),
            parse_date_millis("2024-02-29T12:30:15.25Z")
        );
        assert_eq!(
            parse_date_millis("2024-02-29T07:30:15.250-0500"),
            parse_date_millis("2024-02-29T12:30:15.25Z")
        );
        assert_eq!(parse_date_millis("2023-02-29"), None);
        assert_eq!(parse_date_millis("2024-13-01"), None);
        assert_eq!(parse_date_millis("2024-01-01T25:00:00Z"), None);
        assert_eq!(parse_date_millis("yesterday"), None);
        assert_eq!(parse_date_millis(""), None);
        use Comparison::*;
        assert!(DateLessThan.matches("2024-01-01T00:00:00Z", "2024-06-01"));
        assert!(DateGreaterThanEquals.matches("2024-06-01", "2024-06-01T00:00:00Z"));
        assert!(DateEquals.matches("1717200000", "2024-06-01"));
        assert!(!DateLessThanEquals.matches("2024-06-02", "2024-06-01"));
        assert!(DateGreaterThan.matches("2024-06-02", "2024-06-01"));
        assert!(DateLessThanEquals.matches("2024-06-01", "2024-06-01"));
    }

    #[test]
    fn ip_addresses() {
        use Comparison::IpAddress;
        assert!(IpAddress.matches("10.1.2.3", "10.0.0.0/8"));
        assert!(!IpAddress.matches("11.1.2.3", "10.0.0.0/8"));
        assert!(IpAddress.matches("192.0.2.7", "192.0.2.7"));
        assert!(IpAddress.matches("1.2.3.4", "0.0.0.0/0"));
        assert!(IpAddress.matches("2001:db8::1", "2001:db8::/32"));
        assert!(!IpAddress.matches("2001:db9::1", "2001:db8::/32"));
        assert!(!IpAddress.matches("10.0.0.1", "::/0"));
        assert!(!IpAddress.matches("not-an-ip", "0.0.0.0/0"));
        assert!(!IpAddress.accepts_policy_value("10.0.0.0/33"));
        assert!(!IpAddress.accepts_policy_value("10.0.0"));
    }

    #[test]
    fn arns_compare_part_by_part() {
        use Comparison::ArnLike;
        let key = "arn:aws:kms:us-east-1:000000000000:key/abc";
        assert!(ArnLike.matches(key, "arn:aws:kms:*:000000000000:key/*"));
        assert!(ArnLike.matches(key, key));
        assert!(!ArnLike.matches(key, "arn:aws:kms:*:111111111111:key/*"));
        assert!(!ArnLike.matches(key, "arn:aws:kms:*:key/abc:*:*"));
        assert!(ArnLike.matches(key, "*"));
        assert!(!ArnLike.matches("not-an-arn", "arn:aws:kms:*:*:*"));
    }

    #[test]
    fn bools_and_nulls() {
        use Comparison::*;
        assert!(Bool.matches("true", "true"));
        assert!(Bool.matches("TRUE", "true"));
        assert!(!Bool.matches("false", "true"));
        assert!(Bool.accepts_policy_value("False"));
        assert!(!Bool.accepts_policy_value("yes"));
        assert!(!Null.accepts_policy_value("1"));
    }
}
