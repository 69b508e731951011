use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit};

use super::*;
use crate::random_bytes;

/// splitmix64: deterministic chunkings, so a failure reproduces.
struct Chunker(u64);

impl Chunker {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Splits `data` into random pieces of 0..=max bytes (empty pieces included, since
    /// streams do deliver them).
    fn split<'a>(&mut self, mut data: &'a [u8], max: usize) -> Vec<&'a [u8]> {
        let mut pieces = Vec::new();
        while !data.is_empty() {
            let n = (self.next() as usize % (max + 1)).min(data.len());
            pieces.push(&data[..n]);
            data = &data[n..];
        }
        pieces
    }
}

fn encrypt(
    key: &SecretKey,
    prefix: NoncePrefix,
    segment_size: u32,
    plaintext: &[u8],
    chunker: &mut Chunker,
    max_chunk: usize,
) -> Vec<Bytes> {
    let mut enc = SegmentEncryptor::with_segment_size(key, prefix, segment_size).unwrap();
    let mut segments = Vec::new();
    for piece in chunker.split(plaintext, max_chunk) {
        segments.extend(enc.push(piece).unwrap());
    }
    segments.push(enc.finish());
    segments
}

fn concat(segments: &[Bytes]) -> Vec<u8> {
    segments.iter().flat_map(|s| s.iter().copied()).collect()
}

/// Decrypts plaintext `range` of the object whose whole ciphertext is `stored`, feeding
/// the planned ciphertext bytes (as far as `stored` has them) in random chunks.
fn decrypt(
    key: &SecretKey,
    prefix: NoncePrefix,
    layout: SegmentLayout,
    range: Range<u64>,
    stored: &[u8],
    chunker: &mut Chunker,
    max_chunk: usize,
) -> Result<Vec<u8>, CryptoError> {
    let plan = layout.plan(range);
    let start = (plan.ciphertext_range.start as usize).min(stored.len());
    let end = (plan.ciphertext_range.end as usize).min(stored.len());
    let mut dec = SegmentDecryptor::new(key, prefix, layout, &plan);
    let mut out = Vec::new();
    for piece in chunker.split(&stored[start..end], max_chunk) {
        for p in dec.feed(piece)? {
            assert!(!p.is_empty());
            out.extend_from_slice(&p);
        }
    }
    dec.finish()?;
    assert_eq!(out.len() as u64, plan.len);
    Ok(out)
}

fn decrypt_all(
    key: &SecretKey,
    prefix: NoncePrefix,
    layout: SegmentLayout,
    stored: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let size = layout.plaintext_size();
    decrypt(key, prefix, layout, 0..size, stored, &mut Chunker(1), 50)
}

fn layout16(size: u64) -> SegmentLayout {
    SegmentLayout::with_segment_size(size, 16).unwrap()
}

#[test]
fn round_trip_default_segment_size_with_random_chunkings() {
    let key = SecretKey::generate();
    let s = SEGMENT_SIZE;
    let mut chunker = Chunker(42);
    for size in [0, 1, s - 1, s, s + 1, 3 * s + 5] {
        let plaintext = random_bytes(size);
        for max_chunk in [1000, s - 3, 2 * s + 7, 5 * s] {
            let prefix = NoncePrefix::generate();
            let segments = encrypt(&key, prefix, s as u32, &plaintext, &mut chunker, max_chunk);
            let layout = SegmentLayout::new(size as u64);
            assert_eq!(segments.len() as u64, layout.segment_count(), "size {size}");
            for (i, seg) in segments.iter().enumerate() {
                assert_eq!(
                    seg.len() as u64,
                    layout.segment_plaintext_len(i as u64) + TAG_SIZE as u64
                );
            }
            let stored = concat(&segments);
            assert_eq!(stored.len() as u64, layout.ciphertext_size());
            assert!(size < 16 || !stored.windows(16).any(|w| w == &plaintext[..16]));
            for read_chunk in [1, 4093, s + TAG_SIZE, 3 * s] {
                let out = decrypt(
                    &key,
                    prefix,
                    layout,
                    0..size as u64,
                    &stored,
                    &mut chunker,
                    read_chunk,
                )
                .unwrap();
                assert!(
                    out == *plaintext,
                    "size {size}, chunks {max_chunk}/{read_chunk}"
                );
            }
        }
    }
}

#[test]
fn encryptor_new_uses_the_default_segment_size() {
    let key = SecretKey::generate();
    let prefix = NoncePrefix::generate();
    let plaintext = random_bytes(2 * SEGMENT_SIZE + 1);
    let mut enc = SegmentEncryptor::new(&key, prefix);
    let mut segments = enc.push(&plaintext).unwrap();
    segments.push(enc.finish());
    assert_eq!(
        segments.iter().map(Bytes::len).collect::<Vec<_>>(),
        [SEGMENT_SIZE + 16, SEGMENT_SIZE + 16, 17]
    );
    let layout = SegmentLayout::new(plaintext.len() as u64);
    assert!(decrypt_all(&key, prefix, layout, &concat(&segments)).unwrap() == *plaintext);
}

#[test]
fn layout_arithmetic() {
    let l = SegmentLayout::new(0);
    assert_eq!((l.segment_count(), l.ciphertext_size()), (1, 16));
    assert!(l.is_last(0));
    let l = SegmentLayout::new(SEGMENT_SIZE as u64);
    assert_eq!(l.segment_count(), 1);
    assert_eq!(l.ciphertext_size(), SEGMENT_SIZE as u64 + 16);
    let l = SegmentLayout::new(SEGMENT_SIZE as u64 + 1);
    assert_eq!(l.segment_count(), 2);
    assert!(!l.is_last(0) && l.is_last(1));
    assert_eq!(l.segment_plaintext_len(1), 1);
    // The largest object the nonce's 32-bit index allows.
    let l = SegmentLayout::new((SEGMENT_SIZE as u64) << 32);
    assert_eq!(l.segment_count(), 1 << 32);

    for bad in [0, MAX_SEGMENT_SIZE + 1] {
        assert!(matches!(
            SegmentLayout::with_segment_size(10, bad),
            Err(CryptoError::InvalidParameters(_))
        ));
        assert!(
            SegmentEncryptor::with_segment_size(
                &SecretKey::generate(),
                NoncePrefix::generate(),
                bad
            )
            .is_err()
        );
    }
}

#[test]
fn every_range_of_small_objects_matches_slicing() {
    let key = SecretKey::generate();
    let mut chunker = Chunker(7);
    for size in 0..=70u64 {
        let prefix = NoncePrefix::generate();
        let plaintext = random_bytes(size as usize);
        let stored = concat(&encrypt(&key, prefix, 16, &plaintext, &mut chunker, 23));
        let layout = layout16(size);
        assert_eq!(stored.len() as u64, layout.ciphertext_size());
        for start in 0..size {
            for end in start + 1..=size {
                let plan = layout.plan(start..end);
                // The plan covers exactly the segments holding the range.
                assert_eq!(plan.first_segment, start / 16);
                assert_eq!(plan.last_segment, (end - 1) / 16);
                assert_eq!(plan.ciphertext_range.start, plan.first_segment * 32);
                assert_eq!(
                    plan.ciphertext_range.end,
                    plan.first_segment * 32
                        + (plan.first_segment..=plan.last_segment)
                            .map(|i| layout.segment_plaintext_len(i) + 16)
                            .sum::<u64>()
                );
                assert_eq!((plan.skip, plan.len), (start % 16, end - start));
                let out =
                    decrypt(&key, prefix, layout, start..end, &stored, &mut chunker, 37).unwrap();
                assert!(
                    out == plaintext[start as usize..end as usize],
                    "size {size}, range {start}..{end}"
                );
            }
        }
    }
}

#[test]
fn empty_ranges_read_the_final_segment_and_yield_nothing() {
    let key = SecretKey::generate();
    let prefix = NoncePrefix::generate();
    let stored = concat(&encrypt(&key, prefix, 16, b"", &mut Chunker(0), 1));
    assert_eq!(stored.len(), 16);
    let layout = layout16(0);
    let plan = layout.plan(0..0);
    assert_eq!(
        plan,
        RangePlan {
            first_segment: 0,
            last_segment: 0,
            ciphertext_range: 0..16,
            skip: 0,
            len: 0
        }
    );
    assert_eq!(decrypt_all(&key, prefix, layout, &stored), Ok(vec![]));
    // Truncated to nothing, or a forged tag: both noticed.
    assert_eq!(
        decrypt_all(&key, prefix, layout, &[]),
        Err(CryptoError::Truncated { segment: 0 })
    );
    assert_eq!(
        decrypt_all(&key, prefix, layout, &[0; 16]),
        Err(CryptoError::Tampered { segment: 0 })
    );

    // On a non-empty object an empty range reads the final segment; ranges past the end
    // are clamped.
    let layout = layout16(40);
    assert_eq!(layout.plan(5..5).first_segment, 2);
    assert_eq!(layout.plan(5..5).ciphertext_range, 64..88);
    assert_eq!(layout.plan(30..99), layout.plan(30..40));
}

#[test]
fn nonce_is_prefix_index_and_last_flag() {
    // Pins the format: each segment opens with plain AES-256-GCM under the documented
    // nonce and no AAD.
    let key = SecretKey::generate();
    let prefix = NoncePrefix::from_bytes([1, 2, 3, 4, 5, 6, 7]);
    let plaintext = random_bytes(40);
    let segments = encrypt(&key, prefix, 16, &plaintext, &mut Chunker(3), 64);
    assert_eq!(segments.len(), 3);
    let aes = Aes256Gcm::new(key.expose().into());
    for (i, seg) in segments.iter().enumerate() {
        let last = u8::from(i == 2);
        let nonce = [1, 2, 3, 4, 5, 6, 7, 0, 0, 0, i as u8, last];
        let opened = aes.decrypt((&nonce).into(), seg.as_ref()).unwrap();
        assert_eq!(opened, plaintext[i * 16..(i * 16 + 16).min(40)]);
    }
    assert_eq!(
        segment_nonce(&prefix, 0x0102_0304, true),
        [1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 1]
    );
}

#[test]
fn segments_sealed_by_another_aes_gcm_open() {
    // Objects stored before segments moved to aws-lc were sealed by RustCrypto's
    // aes-gcm: the same format, so they must still open.
    let key = SecretKey::generate();
    let prefix = NoncePrefix::from_bytes([9, 8, 7, 6, 5, 4, 3]);
    let plaintext = random_bytes(40);
    let aes = Aes256Gcm::new(key.expose().into());
    let mut stored = Vec::new();
    for (i, chunk) in plaintext.chunks(16).enumerate() {
        let nonce = segment_nonce(&prefix, i as u32, i == 2);
        stored.extend(aes.encrypt((&nonce).into(), chunk).unwrap());
    }
    let layout = layout16(plaintext.len() as u64);
    assert_eq!(
        decrypt_all(&key, prefix, layout, &stored).unwrap(),
        *plaintext
    );
}

#[test]
fn any_flipped_byte_is_detected() {
    let key = SecretKey::generate();
    let prefix = NoncePrefix::generate();
    let plaintext = random_bytes(3 * 16 + 5);
    let stored = concat(&encrypt(&key, prefix, 16, &plaintext, &mut Chunker(5), 9));
    let layout = layout16(plaintext.len() as u64);
    for i in 0..stored.len() {
        for bit in [0x01, 0x80] {
            let mut bad = stored.clone();
            bad[i] ^= bit;
            assert_eq!(
                decrypt_all(&key, prefix, layout, &bad),
                Err(CryptoError::Tampered {
                    segment: (i / 32) as u64
                }),
                "byte {i}"
            );
        }
    }

    // Same with the real segment size, at a sample of positions.
    let plaintext = random_bytes(2 * SEGMENT_SIZE + 100);
    let layout = SegmentLayout::new(plaintext.len() as u64);
    let stored = concat(&encrypt(
        &key,
        prefix,
        SEGMENT_SIZE as u32,
        &plaintext,
        &mut Chunker(6),
        100_000,
    ));
    for i in [0, 1, SEGMENT_SIZE, SEGMENT_SIZE + 16, stored.len() - 1] {
        let mut bad = stored.clone();
        bad[i] ^= 0x10;
        assert!(matches!(
            decrypt_all(&key, prefix, layout, &bad),
            Err(CryptoError::Tampered { .. })
        ));
    }
}

#[test]
fn wrong_key_or_prefix_fails() {
    let key = SecretKey::generate();
    let prefix = NoncePrefix::generate();
    let plaintext = random_bytes(50);
    let stored = concat(&encrypt(&key, prefix, 16, &plaintext, &mut Chunker(8), 50));
    let layout = layout16(50);
    let tampered = Err(CryptoError::Tampered { segment: 0 });
    assert_eq!(
        decrypt_all(&SecretKey::generate(), prefix, layout, &stored),
        tampered
    );
    assert_eq!(
        decrypt_all(&key, NoncePrefix::generate(), layout, &stored),
        tampered
    );
}

#[test]
fn truncation_is_detected() {
    let key = SecretKey::generate();
    let prefix = NoncePrefix::generate();
    let plaintext = random_bytes(3 * 16 + 5);
    let segments = encrypt(&key, prefix, 16, &plaintext, &mut Chunker(9), 100);
    let stored = concat(&segments);
    let layout = layout16(plaintext.len() as u64);

    // The last segment dropped.
    let short = &stored[..stored.len() - segments[3].len()];
    assert_eq!(
        decrypt_all(&key, prefix, layout, short),
        Err(CryptoError::Truncated { segment: 3 })
    );
    // The final byte dropped.
    assert_eq!(
        decrypt_all(&key, prefix, layout, &stored[..stored.len() - 1]),
        Err(CryptoError::Truncated { segment: 3 })
    );
    // Everything but the first segment dropped, and everything dropped.
    assert_eq!(
        decrypt_all(&key, prefix, layout, &stored[..32]),
        Err(CryptoError::Truncated { segment: 1 })
    );
    assert_eq!(
        decrypt_all(&key, prefix, layout, &[]),
        Err(CryptoError::Truncated { segment: 0 })
    );

    // Cut at a segment boundary *and* the recorded size shortened to match: the new
    // final segment was sealed as not-last, so it fails to authenticate.
    for keep in 1..=3 {
        let cut = &stored[..keep * 32];
        let forged = layout16(keep as u64 * 16);
        assert_eq!(
            decrypt_all(&key, prefix, forged, cut),
            Err(CryptoError::Tampered {
                segment: keep as u64 - 1
            })
        );
    }
    // An object that is an exact multiple of the segment size, cut to one segment fewer.
    let plaintext = random_bytes(32);
    let stored = concat(&encrypt(&key, prefix, 16, &plaintext, &mut Chunker(10), 7));
    assert_eq!(stored.len(), 64);
    assert_eq!(
        decrypt_all(&key, prefix, layout16(16), &stored[..32]),
        Err(CryptoError::Tampered { segment: 0 })
    );
}

#[test]
fn extra_ciphertext_is_refused() {
    let key = SecretKey::generate();
    let prefix = NoncePrefix::generate();
    let plaintext = random_bytes(20);
    let mut stored = concat(&encrypt(
        &key,
        prefix,
        16,
        &plaintext,
        &mut Chunker(11),
        100,
    ));
    let layout = layout16(20);
    let plan = layout.plan(0..20);
    stored.push(0);
    let mut dec = SegmentDecryptor::new(&key, prefix, layout, &plan);
    assert_eq!(dec.feed(&stored), Err(CryptoError::Tampered { segment: 2 }));
    // Errors are sticky.
    assert!(dec.feed(&[]).is_err());
    assert!(dec.finish().is_err());
}

#[test]
fn reordered_segments_are_detected() {
    let key = SecretKey::generate();
    let prefix = NoncePrefix::generate();
    let plaintext = random_bytes(3 * 16 + 5);
    let segments = encrypt(&key, prefix, 16, &plaintext, &mut Chunker(12), 100);
    let layout = layout16(plaintext.len() as u64);
    let mut swapped = segments.clone();
    swapped.swap(0, 1);
    assert_eq!(
        decrypt_all(&key, prefix, layout, &concat(&swapped)),
        Err(CryptoError::Tampered { segment: 0 })
    );
    let mut swapped = segments.clone();
    swapped.swap(1, 2);
    assert_eq!(
        decrypt_all(&key, prefix, layout, &concat(&swapped)),
        Err(CryptoError::Tampered { segment: 1 })
    );
    // A range read that starts at a moved segment fails too.
    assert!(
        decrypt(
            &key,
            prefix,
            layout,
            20..30,
            &concat(&swapped),
            &mut Chunker(1),
            8
        )
        .is_err()
    );
}

#[test]
fn segments_spliced_from_another_object_are_detected() {
    // Same key (as if a data key were reused), other prefix: still refused.
    let key = SecretKey::generate();
    let (pa, pb) = (NoncePrefix::generate(), NoncePrefix::generate());
    let a = random_bytes(3 * 16 + 5);
    let b = random_bytes(3 * 16 + 5);
    let sa = encrypt(&key, pa, 16, &a, &mut Chunker(13), 100);
    let sb = encrypt(&key, pb, 16, &b, &mut Chunker(14), 100);
    let layout = layout16(a.len() as u64);
    for i in 0..4 {
        let mut spliced = sa.clone();
        spliced[i] = sb[i].clone();
        assert_eq!(
            decrypt_all(&key, pa, layout, &concat(&spliced)),
            Err(CryptoError::Tampered { segment: i as u64 })
        );
    }
}

#[test]
fn range_reads_only_touch_their_segments() {
    let key = SecretKey::generate();
    let prefix = NoncePrefix::generate();
    let plaintext = random_bytes(3 * 16 + 5);
    let mut stored = concat(&encrypt(
        &key,
        prefix,
        16,
        &plaintext,
        &mut Chunker(15),
        100,
    ));
    let layout = layout16(plaintext.len() as u64);
    stored[0] ^= 1; // segment 0 damaged
    assert_eq!(
        decrypt(&key, prefix, layout, 33..50, &stored, &mut Chunker(2), 5).unwrap(),
        plaintext[33..50]
    );
    assert!(decrypt(&key, prefix, layout, 15..17, &stored, &mut Chunker(2), 5).is_err());
}

#[test]
fn segment_index_overflow_is_refused() {
    let key = SecretKey::generate();
    let mut enc = SegmentEncryptor::with_segment_size(&key, NoncePrefix::generate(), 4).unwrap();
    enc.index = u32::MAX;
    // Filling the last possible segment is fine, and it can be finished...
    assert!(enc.push(b"abcd").unwrap().is_empty());
    // ...but anything after it would need index 2^32.
    assert_eq!(enc.push(b"e"), Err(CryptoError::ObjectTooLarge));

    let mut enc = SegmentEncryptor::with_segment_size(&key, NoncePrefix::generate(), 4).unwrap();
    enc.index = u32::MAX;
    enc.push(b"abcd").unwrap();
    assert_eq!(enc.finish().len(), 4 + TAG_SIZE);
}

#[test]
fn nonce_prefix_from_slice_requires_seven_bytes() {
    assert_eq!(
        NoncePrefix::from_slice(&[9; 7]).unwrap().as_bytes(),
        &[9; 7]
    );
    for len in [0, 6, 8, 12] {
        assert!(matches!(
            NoncePrefix::from_slice(&vec![1; len]),
            Err(CryptoError::InvalidParameters(_))
        ));
    }
    assert_ne!(NoncePrefix::generate(), NoncePrefix::generate());
}

#[test]
fn errors_name_only_the_segment() {
    let text = CryptoError::Tampered { segment: 3 }.to_string();
    assert!(
        text.contains("tampered") && text.contains("segment 3"),
        "{text}"
    );
    let text = CryptoError::Truncated { segment: 4 }.to_string();
    assert!(
        text.contains("truncated") && text.contains("segment 4"),
        "{text}"
    );
}
