use rand::RngExt;

use super::*;
use crate::canonical_context;

const ERR: Result<Zeroizing<Vec<u8>>, CryptoError> = Err(CryptoError::InvalidCiphertext);

fn header() -> BlobHeader {
    BlobHeader {
        key_id: Uuid::parse_str("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap(),
        material_version: 7,
    }
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn roundtrip_various_lengths() {
    let key = SecretKey::generate();
    let context = ctx(&[("tenant", "acme"), ("bucket", "logs")]);
    for len in [0, 1, 15, 16, 17, 32, 64, 1000, 4096] {
        let plaintext = random_bytes(len);
        let blob = seal_blob(&key, header(), &context, &plaintext);
        assert_eq!(blob.len(), BLOB_OVERHEAD + len);
        assert_eq!(
            open_blob(&key, &blob, &context).unwrap().as_slice(),
            plaintext.as_slice()
        );
    }
}

fn random_bytes(n: usize) -> Zeroizing<Vec<u8>> {
    crate::random_bytes(n)
}

#[test]
fn layout_matches_documentation() {
    let key = SecretKey::generate();
    let blob = seal_blob(&key, header(), &ctx(&[]), b"abc");
    assert_eq!(blob[0], 1);
    assert_eq!(&blob[1..17], header().key_id.as_bytes());
    assert_eq!(&blob[17..21], &[0, 0, 0, 7]);
    assert_eq!(blob.len(), 21 + 12 + 3 + 16);
    assert_eq!(BLOB_OVERHEAD, 21 + 12 + 16);
}

#[test]
fn header_reads_back_as_sealed() {
    let key = SecretKey::generate();
    for material_version in [0, 1, 0x0102_0304, u32::MAX] {
        let sealed = BlobHeader {
            key_id: Uuid::new_v4(),
            material_version,
        };
        let blob = seal_blob(&key, sealed, &ctx(&[]), b"x");
        assert_eq!(read_blob_header(&blob), Ok(sealed));
    }
}

#[test]
fn nonces_are_fresh() {
    let key = SecretKey::generate();
    let a = seal_blob(&key, header(), &ctx(&[]), b"same");
    let b = seal_blob(&key, header(), &ctx(&[]), b"same");
    assert_ne!(a[21..33], b[21..33]);
    assert_ne!(a, b);
}

#[test]
fn context_must_match_exactly() {
    let key = SecretKey::generate();
    let sealed_with = ctx(&[("tenant", "acme"), ("bucket", "logs")]);
    let blob = seal_blob(&key, header(), &sealed_with, b"secret");

    let missing_pair = ctx(&[("tenant", "acme")]);
    let extra_pair = ctx(&[("tenant", "acme"), ("bucket", "logs"), ("x", "y")]);
    let different_value = ctx(&[("tenant", "acme"), ("bucket", "logz")]);
    let different_key = ctx(&[("tenant", "acme"), ("Bucket", "logs")]);
    let moved_bytes = ctx(&[("tenant", "acmeb"), ("ucket", "logs")]);
    for wrong in [
        ctx(&[]),
        missing_pair,
        extra_pair,
        different_value,
        different_key,
        moved_bytes,
    ] {
        assert_eq!(open_blob(&key, &blob, &wrong), ERR, "{wrong:?}");
    }

    let mut reordered = EncryptionContext::new();
    reordered.insert("bucket".into(), "logs".into());
    reordered.insert("tenant".into(), "acme".into());
    assert_eq!(
        open_blob(&key, &blob, &reordered).unwrap().as_slice(),
        b"secret"
    );

    // Sealed without a context: any context at all is wrong.
    let plain = seal_blob(&key, header(), &ctx(&[]), b"secret");
    assert_eq!(open_blob(&key, &plain, &ctx(&[("", "")])), ERR);
    assert!(open_blob(&key, &plain, &ctx(&[])).is_ok());
}

#[test]
fn large_context_takes_the_heap_path() {
    let key = SecretKey::generate();
    let big = "v".repeat(STACK_AAD_LEN * 2);
    let context = ctx(&[("k", &big)]);
    let blob = seal_blob(&key, header(), &context, b"p");
    assert_eq!(open_blob(&key, &blob, &context).unwrap().as_slice(), b"p");
    let mut changed = big.clone();
    changed.replace_range(600..601, "w");
    assert_eq!(open_blob(&key, &blob, &ctx(&[("k", &changed)])), ERR);
    // Exactly at and just past the stack buffer's edge.
    for total in [STACK_AAD_LEN, STACK_AAD_LEN + 1] {
        let value = "z".repeat(total - BLOB_HEADER_LEN - 4 - 8 - 1);
        let context = ctx(&[("k", &value)]);
        assert_eq!(BLOB_HEADER_LEN + canonical_context(&context).len(), total);
        let blob = seal_blob(&key, header(), &context, b"edge");
        assert_eq!(
            open_blob(&key, &blob, &context).unwrap().as_slice(),
            b"edge"
        );
    }
}

#[test]
fn wrong_material_fails() {
    let blob = seal_blob(&SecretKey::generate(), header(), &ctx(&[]), b"secret");
    assert_eq!(open_blob(&SecretKey::generate(), &blob, &ctx(&[])), ERR);
}

#[test]
fn every_single_bit_flip_fails() {
    let key = SecretKey::generate();
    let context = ctx(&[("k", "v")]);
    let blob = seal_blob(&key, header(), &context, b"8 bytes!");
    for bit in 0..blob.len() * 8 {
        let mut flipped = blob.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(open_blob(&key, &flipped, &context), ERR, "bit {bit}");
    }
}

#[test]
fn every_truncation_and_extension_fails() {
    let key = SecretKey::generate();
    let context = ctx(&[("k", "v")]);
    let blob = seal_blob(&key, header(), &context, b"some plaintext");
    for len in 0..blob.len() {
        assert_eq!(open_blob(&key, &blob[..len], &context), ERR, "length {len}");
        if len < BLOB_OVERHEAD {
            assert_eq!(
                read_blob_header(&blob[..len]),
                Err(CryptoError::InvalidCiphertext)
            );
        }
    }
    let mut longer = blob.clone();
    longer.push(0);
    assert_eq!(open_blob(&key, &longer, &context), ERR);
}

#[test]
fn empty_blob_fails() {
    let key = SecretKey::generate();
    assert_eq!(read_blob_header(&[]), Err(CryptoError::InvalidCiphertext));
    assert_eq!(open_blob(&key, &[], &ctx(&[])), ERR);
}

#[test]
fn unknown_versions_are_rejected_before_decryption() {
    let key = SecretKey::generate();
    let blob = seal_blob(&key, header(), &ctx(&[]), b"x");
    for version in [0u8, 2, 0x80, 0xff] {
        let mut other = blob.clone();
        other[0] = version;
        assert_eq!(
            read_blob_header(&other),
            Err(CryptoError::InvalidCiphertext)
        );
        assert_eq!(open_blob(&key, &other, &ctx(&[])), ERR);
    }
}

#[test]
fn blob_of_only_overhead_is_an_empty_plaintext() {
    let key = SecretKey::generate();
    let blob = seal_blob(&key, header(), &ctx(&[]), b"");
    assert_eq!(blob.len(), BLOB_OVERHEAD);
    assert!(open_blob(&key, &blob, &ctx(&[])).unwrap().is_empty());
    // Right length and version but never sealed: header reads, open fails.
    let mut forged = vec![0u8; BLOB_OVERHEAD];
    forged[0] = BLOB_FORMAT_VERSION;
    assert!(read_blob_header(&forged).is_ok());
    assert_eq!(open_blob(&key, &forged, &ctx(&[])), ERR);
}

fn random_string(rng: &mut impl rand::Rng, max_len: usize) -> String {
    const CHARS: &[char] = &['a', 'Z', '0', ' ', '=', ':', '\0', 'é', '鍵', '🔑'];
    let len = rng.random_range(0..=max_len);
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())])
        .collect()
}

fn random_context(rng: &mut impl rand::Rng) -> EncryptionContext {
    let pairs = rng.random_range(0..=6);
    let max_value = if rng.random_bool(0.1) { 400 } else { 12 };
    (0..pairs)
        .map(|_| (random_string(rng, 8), random_string(rng, max_value)))
        .collect()
}

/// Property check over random keys, headers, contexts and plaintexts: sealing then
/// opening is the identity, and any single change to blob or context is caught.
#[test]
fn random_inputs_roundtrip_and_resist_tampering() {
    let mut rng = rand::rng();
    for _ in 0..300 {
        let key = SecretKey::generate();
        let sealed = BlobHeader {
            key_id: Uuid::new_v4(),
            material_version: rng.random(),
        };
        let context = random_context(&mut rng);
        let plaintext = random_bytes(rng.random_range(0..200));
        let blob = seal_blob(&key, sealed, &context, &plaintext);

        assert_eq!(blob.len(), BLOB_OVERHEAD + plaintext.len());
        assert_eq!(read_blob_header(&blob), Ok(sealed));
        assert_eq!(
            open_blob(&key, &blob, &context).unwrap().as_slice(),
            plaintext.as_slice()
        );

        let mut tampered = blob.clone();
        let at = rng.random_range(0..tampered.len());
        tampered[at] ^= rng.random_range(1..=255u8);
        assert_eq!(open_blob(&key, &tampered, &context), ERR, "byte {at}");

        let cut = rng.random_range(0..blob.len());
        assert_eq!(open_blob(&key, &blob[..cut], &context), ERR, "cut at {cut}");

        let mut other = context.clone();
        match (rng.random_bool(0.5), other.keys().next().cloned()) {
            (true, Some(first)) => {
                other.get_mut(&first).unwrap().push('x');
            }
            _ => {
                other.insert(random_string(&mut rng, 8) + "!", String::new());
            }
        }
        assert_eq!(
            open_blob(&key, &blob, &other),
            ERR,
            "{context:?} vs {other:?}"
        );
    }
}

/// Random garbage of every plausible length never opens and never panics.
#[test]
fn random_garbage_never_opens() {
    let mut rng = rand::rng();
    let key = SecretKey::generate();
    for _ in 0..2000 {
        let mut garbage = random_bytes(rng.random_range(0..120));
        if let Some(first) = garbage.first_mut() {
            *first = if rng.random_bool(0.8) {
                BLOB_FORMAT_VERSION
            } else {
                *first
            };
        }
        let _ = read_blob_header(&garbage);
        assert_eq!(open_blob(&key, &garbage, &ctx(&[])), ERR);
    }
}

mod worked_example;
