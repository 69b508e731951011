//! The encryption context is authenticated, never encrypted: it has to produce the same
//! AAD bytes however the caller ordered its pairs, and no two different contexts may
//! produce the same bytes.

use std::collections::BTreeMap;

/// Key/value pairs bound to a ciphertext. A `BTreeMap` so that iteration is already in
/// the canonical order: by key, comparing UTF-8 bytes.
pub type EncryptionContext = BTreeMap<String, String>;

/// The most bytes (UTF-8) the keys and values of one context may add up to. AWS KMS
/// refuses a larger context; kms-svc and object-svc check it before any work is done
/// with a request, so the AAD and the audit record of a call stay small.
pub const MAX_CONTEXT_BYTES: usize = 8192;

/// The bytes of a context's keys and values, what [`MAX_CONTEXT_BYTES`] caps.
pub fn context_size(ctx: &EncryptionContext) -> usize {
    ctx.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// `u32 BE pair count`, then for each pair in key order `u32 BE key length || key ||
/// u32 BE value length || value`. Length prefixes rather than separators, so that no
/// choice of characters in keys or values can make two contexts encode alike.
///
/// # Panics
/// If the context has 2^32 or more pairs, or a key or value of 4 GiB or more; callers
/// refuse a context over [`MAX_CONTEXT_BYTES`] first, so they never get here.
pub fn canonical_context(ctx: &EncryptionContext) -> Vec<u8> {
    let mut out = vec![0u8; encoded_len(ctx)];
    encode_into(ctx, &mut out);
    out
}

pub(crate) fn encoded_len(ctx: &EncryptionContext) -> usize {
    4 + ctx
        .iter()
        .map(|(k, v)| 8 + k.len() + v.len())
        .sum::<usize>()
}

/// Writes the canonical encoding into `out`, which must be exactly
/// [`encoded_len`] bytes; lets the blob code build its AAD without a heap allocation.
pub(crate) fn encode_into(ctx: &EncryptionContext, out: &mut [u8]) {
    debug_assert_eq!(out.len(), encoded_len(ctx));
    let mut rest = put_len(out, ctx.len());
    for (key, value) in ctx {
        rest = put_bytes(rest, key.as_bytes());
        rest = put_bytes(rest, value.as_bytes());
    }
    debug_assert!(rest.is_empty());
}

fn put_len(out: &mut [u8], len: usize) -> &mut [u8] {
    let len = u32::try_from(len).expect("encryption context field shorter than 4 GiB");
    let (head, rest) = out.split_at_mut(4);
    head.copy_from_slice(&len.to_be_bytes());
    rest
}

fn put_bytes<'a>(out: &'a mut [u8], bytes: &[u8]) -> &'a mut [u8] {
    let (head, rest) = put_len(out, bytes.len()).split_at_mut(bytes.len());
    head.copy_from_slice(bytes);
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_context_is_a_zero_count() {
        assert_eq!(canonical_context(&EncryptionContext::new()), [0, 0, 0, 0]);
    }

    #[test]
    fn documented_layout() {
        let encoded = canonical_context(&ctx(&[("b", "22"), ("a", "1")]));
        let want = [
            &[0, 0, 0, 2][..],
            &[0, 0, 0, 1],
            b"a",
            &[0, 0, 0, 1],
            b"1",
            &[0, 0, 0, 1],
            b"b",
            &[0, 0, 0, 2],
            b"22",
        ]
        .concat();
        assert_eq!(encoded, want);
    }

    #[test]
    fn insertion_order_does_not_matter() {
        let mut forward = EncryptionContext::new();
        let mut backward = EncryptionContext::new();
        let pairs = [
            ("tenant", "acme"),
            ("bucket", "logs"),
            ("Zeta", ""),
            ("é", "ü"),
        ];
        for (k, v) in pairs {
            forward.insert(k.into(), v.into());
        }
        for (k, v) in pairs.iter().rev() {
            backward.insert(k.to_string(), v.to_string());
        }
        assert_eq!(canonical_context(&forward), canonical_context(&backward));
    }

    #[test]
    fn shifting_bytes_between_fields_changes_the_encoding() {
        let variants = [
            ctx(&[]),
            ctx(&[("", "")]),
            ctx(&[("ab", "c")]),
            ctx(&[("a", "bc")]),
            ctx(&[("abc", "")]),
            ctx(&[("", "abc")]),
            ctx(&[("a", "b"), ("c", "")]),
            ctx(&[("a", ""), ("bc", "")]),
            ctx(&[("a=b", "c")]),
            ctx(&[("a", "b=c")]),
        ];
        let encodings: std::collections::HashSet<_> =
            variants.iter().map(canonical_context).collect();
        assert_eq!(encodings.len(), variants.len());
    }
}
