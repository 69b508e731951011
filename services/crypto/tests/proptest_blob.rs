//! Property tests of the two byte formats a client hands to kms-svc: the ciphertext
//! blob (Decrypt, ReEncrypt) and the encryption context bound into it. They are the
//! stable-toolchain counterpart of the cargo-fuzz target in `fuzz/` and run with
//! `cargo test`; a longer run: `PROPTEST_CASES=200000 cargo test -p keyhold-crypto
//! --release proptest_`.

use keyhold_crypto::{
    BLOB_FORMAT_VERSION, BLOB_HEADER_LEN, BLOB_OVERHEAD, BlobHeader, CryptoError,
    EncryptionContext, SecretKey, canonical_context, context_size, open_blob, read_blob_header,
    seal_blob,
};
use proptest::prelude::*;

/// Characters that matter to an encoding: ASCII, separators, NUL, and multi-byte UTF-8.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            'a', 'Z', '0', ' ', '=', ':', ',', '\0', 'é', '鍵', '🔑',
        ]),
        0..=max,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn context() -> impl Strategy<Value = EncryptionContext> {
    prop::collection::btree_map(text(12), text(40), 0..6)
}

fn key() -> impl Strategy<Value = SecretKey> {
    any::<[u8; 32]>().prop_map(|bytes| SecretKey::from_bytes(&bytes).expect("32 bytes"))
}

fn header() -> impl Strategy<Value = BlobHeader> {
    (any::<[u8; 16]>(), any::<u32>()).prop_map(|(id, material_version)| BlobHeader {
        key_id: uuid::Uuid::from_bytes(id),
        material_version,
    })
}

/// Bytes shaped like a blob often enough to reach the authentication step: the right
/// version byte and at least the overhead, as well as anything at all.
fn blob_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        prop::collection::vec(any::<u8>(), BLOB_OVERHEAD..BLOB_OVERHEAD + 200).prop_map(
            |mut bytes| {
                bytes[0] = BLOB_FORMAT_VERSION;
                bytes
            }
        ),
    ]
}

/// Reads the canonical encoding back: the inverse the format promises exists (its
/// length prefixes make it injective). None for bytes that are not an encoding.
fn decode_context(mut bytes: &[u8]) -> Option<EncryptionContext> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if bytes.len() < n {
            return None;
        }
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        Some(head)
    }
    fn length(bytes: &mut &[u8]) -> Option<usize> {
        let raw: [u8; 4] = take(bytes, 4)?.try_into().ok()?;
        usize::try_from(u32::from_be_bytes(raw)).ok()
    }
    fn string(bytes: &mut &[u8]) -> Option<String> {
        let n = length(bytes)?;
        String::from_utf8(take(bytes, n)?.to_vec()).ok()
    }
    let pairs = length(&mut bytes)?;
    let mut context = EncryptionContext::new();
    for _ in 0..pairs {
        let key = string(&mut bytes)?;
        let value = string(&mut bytes)?;
        if context.keys().next_back().is_some_and(|last| *last >= key) {
            return None; // Not in canonical order, or a repeated key.
        }
        context.insert(key, value);
    }
    bytes.is_empty().then_some(context)
}

proptest! {
    /// Whatever bytes a client sends as a blob: no panic, and never a plaintext. The
    /// header reader refuses exactly what is too short or of another version.
    #[test]
    fn proptest_foreign_bytes_never_open(
        material in key(),
        blob in blob_like(),
        ctx in context(),
    ) {
        let header = read_blob_header(&blob);
        let readable = blob.len() >= BLOB_OVERHEAD && blob[0] == BLOB_FORMAT_VERSION;
        prop_assert_eq!(header.is_ok(), readable);
        prop_assert_eq!(open_blob(&material, &blob, &ctx), Err(CryptoError::InvalidCiphertext));
    }

    /// Seal then read: the header and plaintext come back, the blob has the
    /// documented size.
    #[test]
    fn proptest_sealed_blob_round_trips(
        material in key(),
        sealed in header(),
        ctx in context(),
        plaintext in prop::collection::vec(any::<u8>(), 0..=4096),
    ) {
        let blob = seal_blob(&material, sealed, &ctx, &plaintext);
        prop_assert_eq!(blob.len(), BLOB_OVERHEAD + plaintext.len());
        prop_assert_eq!(read_blob_header(&blob), Ok(sealed));
        let opened = open_blob(&material, &blob, &ctx).expect("a genuine blob opens");
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }

    /// Any change to a genuine blob (a byte XORed anywhere, a cut, an extension) or to
    /// its context is refused: never a wrong success.
    #[test]
    fn proptest_changed_blob_or_context_never_opens(
        material in key(),
        sealed in header(),
        ctx in context(),
        plaintext in prop::collection::vec(any::<u8>(), 0..300),
        at in any::<prop::sample::Index>(),
        xor in 1..=255u8,
        cut in any::<prop::sample::Index>(),
        extra in prop::collection::vec(any::<u8>(), 1..8),
        other_ctx in context(),
    ) {
        let blob = seal_blob(&material, sealed, &ctx, &plaintext);
        let refused = || Err(CryptoError::InvalidCiphertext);

        let mut flipped = blob.clone();
        flipped[at.index(blob.len())] ^= xor;
        prop_assert_eq!(open_blob(&material, &flipped, &ctx), refused());

        prop_assert_eq!(open_blob(&material, &blob[..cut.index(blob.len())], &ctx), refused());

        let mut longer = blob.clone();
        longer.extend_from_slice(&extra);
        prop_assert_eq!(open_blob(&material, &longer, &ctx), refused());

        if other_ctx != ctx {
            prop_assert_eq!(open_blob(&material, &blob, &other_ctx), refused());
        }
    }

    /// The canonical encoding reads back to the same context (so no two contexts share
    /// an AAD), has the size its formula says, and the size AWS's cap counts is the
    /// bytes of keys and values.
    #[test]
    fn proptest_canonical_context_round_trips(ctx in context()) {
        let encoded = canonical_context(&ctx);
        prop_assert_eq!(encoded.len(), 4 + 8 * ctx.len() + context_size(&ctx));
        prop_assert_eq!(decode_context(&encoded), Some(ctx.clone()));
        let counted: usize = ctx.iter().map(|(k, v)| k.len() + v.len()).sum();
        prop_assert_eq!(context_size(&ctx), counted);
    }

    /// Two contexts encode alike only when they are the same context.
    #[test]
    fn proptest_distinct_contexts_encode_differently(a in context(), b in context()) {
        prop_assert_eq!(canonical_context(&a) == canonical_context(&b), a == b);
    }

    /// The header is the first bytes of the blob, as documented; every other byte is
    /// nonce, ciphertext or tag.
    #[test]
    fn proptest_header_layout(material in key(), sealed in header(), ctx in context()) {
        let blob = seal_blob(&material, sealed, &ctx, b"x");
        prop_assert_eq!(blob[0], BLOB_FORMAT_VERSION);
        prop_assert_eq!(&blob[1..17], sealed.key_id.as_bytes().as_slice());
        let version = sealed.material_version.to_be_bytes();
        prop_assert_eq!(&blob[17..BLOB_HEADER_LEN], version.as_slice());
    }
}
