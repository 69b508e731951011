//! Segmented AES-256-GCM for stored objects.
//!
//! An object's plaintext is cut into fixed-size segments (64 KiB, the last one shorter
//! and possibly empty) and each segment is sealed on its own under the object's data key
//! with a 16-byte tag appended. The 12-byte nonce of segment `i` is
//!
//! ```text
//! prefix (7 random bytes, one per object) || i as u32 big-endian || last (1 on the final segment, else 0)
//! ```
//!
//! so the ciphertext of an object is `segment_0 || segment_1 || ... || segment_n-1`,
//! `size + n * 16` bytes with `n = max(1, ceil(size / 64 KiB))`. This is the STREAM
//! construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): because the index and the
//! last flag are in the nonce, reordering segments, splicing one in from another object,
//! dropping trailing segments (the new final segment was sealed with last = 0) or
//! dropping bytes all fail authentication. An empty object is still one (empty) final
//! segment, so truncating an object to nothing is detected too.
//!
//! Uploads and downloads stream through [`SegmentEncryptor`] and [`SegmentDecryptor`]
//! in constant memory, and a range read ([`SegmentLayout::plan`]) fetches and decrypts
//! only the segments it touches.

use std::ops::Range;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use bytes::Bytes;

use crate::gcm::NONCE_LEN;
use crate::random::fill_random;
use crate::{CryptoError, SecretKey};

/// Plaintext bytes per segment for every object keyhold stores.
pub const SEGMENT_SIZE: usize = 64 * 1024;
/// The GCM tag appended to every segment.
pub const TAG_SIZE: usize = 16;
/// Random bytes at the start of every segment nonce, fixed for one object.
pub const NONCE_PREFIX_LEN: usize = 7;
/// Largest segment size a layout accepts, so a damaged metadata row cannot make a
/// reader allocate gigabytes for one segment.
pub const MAX_SEGMENT_SIZE: u32 = 16 * 1024 * 1024;

/// The per-object part of the segment nonces. Not secret (it is stored next to the
/// wrapped data key), but it must be fresh for each object sealed under a given key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NoncePrefix([u8; NONCE_PREFIX_LEN]);

impl NoncePrefix {
    pub const LEN: usize = NONCE_PREFIX_LEN;

    pub fn generate() -> Self {
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        fill_random(&mut prefix);
        Self(prefix)
    }

    pub fn from_bytes(bytes: [u8; NONCE_PREFIX_LEN]) -> Self {
        Self(bytes)
    }

    /// Exactly 7 bytes, as read back from an object's metadata.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let array: [u8; NONCE_PREFIX_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::InvalidParameters("nonce prefix must be exactly 7 bytes"))?;
        Ok(Self(array))
    }

    pub fn as_bytes(&self) -> &[u8; NONCE_PREFIX_LEN] {
        &self.0
    }
}

/// The nonce of segment `index`; `last` is set only on an object's final segment.
fn segment_nonce(prefix: &NoncePrefix, index: u32, last: bool) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..NONCE_PREFIX_LEN].copy_from_slice(&prefix.0);
    nonce[NONCE_PREFIX_LEN..NONCE_LEN - 1].copy_from_slice(&index.to_be_bytes());
    nonce[NONCE_LEN - 1] = u8::from(last);
    nonce
}

/// AES-256-GCM for segments, whose nonces are unique by construction (per-object
/// prefix, index, last flag), hence aws-lc's `LessSafeKey`.
struct SegmentCipher(LessSafeKey);

impl SegmentCipher {
    /// Appends the tag to `buf`.
    fn seal(&self, nonce: [u8; NONCE_LEN], buf: &mut Vec<u8>) {
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), buf)
            // Fails only past 64 GiB per message; segments are at most 16 MiB.
            .expect("segment within AES-GCM size limits");
    }

    /// Checks and strips the tag at the end of `buf`, leaving the plaintext.
    fn open(&self, nonce: [u8; NONCE_LEN], buf: &mut Vec<u8>) -> Result<(), ()> {
        let plaintext_len = self
            .0
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), buf)
            .map_err(|_| ())?
            .len();
        buf.truncate(plaintext_len);
        Ok(())
    }
}

fn cipher(key: &SecretKey) -> SegmentCipher {
    let key = UnboundKey::new(&AES_256_GCM, key.expose()).expect("a 256-bit key");
    SegmentCipher(LessSafeKey::new(key))
}

fn check_segment_size(segment_size: usize) -> Result<u32, CryptoError> {
    match u32::try_from(segment_size) {
        Ok(size) if size > 0 && size <= MAX_SEGMENT_SIZE => Ok(size),
        _ => Err(CryptoError::InvalidParameters(
            "segment size must be between 1 byte and 16 MiB",
        )),
    }
}

/// How an object of a given plaintext size is laid out as ciphertext segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentLayout {
    plaintext_size: u64,
    segment_size: u32,
}

/// What a range read has to fetch and keep, from [`SegmentLayout::plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangePlan {
    /// Index of the first segment to decrypt.
    pub first_segment: u64,
    /// Index of the last segment to decrypt (inclusive).
    pub last_segment: u64,
    /// The ciphertext bytes holding exactly those segments.
    pub ciphertext_range: Range<u64>,
    /// Plaintext bytes to drop from the start of the first segment.
    pub skip: u64,
    /// Plaintext bytes to yield in total.
    pub len: u64,
}

impl SegmentLayout {
    /// The layout of every object keyhold writes ([`SEGMENT_SIZE`] segments).
    pub fn new(plaintext_size: u64) -> Self {
        Self {
            plaintext_size,
            segment_size: SEGMENT_SIZE as u32,
        }
    }

    /// A layout with another segment size, as recorded in an object's metadata (or
    /// small, for tests). Refuses 0 and anything above [`MAX_SEGMENT_SIZE`].
    pub fn with_segment_size(plaintext_size: u64, segment_size: u32) -> Result<Self, CryptoError> {
        let segment_size = check_segment_size(segment_size as usize)?;
        Ok(Self {
            plaintext_size,
            segment_size,
        })
    }

    pub fn plaintext_size(&self) -> u64 {
        self.plaintext_size
    }

    pub fn segment_size(&self) -> u32 {
        self.segment_size
    }

    /// At least one: an empty object is a single empty final segment.
    pub fn segment_count(&self) -> u64 {
        self.plaintext_size
            .div_ceil(u64::from(self.segment_size))
            .max(1)
    }

    pub fn ciphertext_size(&self) -> u64 {
        self.plaintext_size + self.segment_count() * TAG_SIZE as u64
    }

    pub fn is_last(&self, index: u64) -> bool {
        index + 1 == self.segment_count()
    }

    /// Plaintext bytes in segment `index` (which must be below [`Self::segment_count`]).
    pub fn segment_plaintext_len(&self, index: u64) -> u64 {
        let start = index * u64::from(self.segment_size);
        (self.plaintext_size - start.min(self.plaintext_size)).min(u64::from(self.segment_size))
    }

    fn stride(&self) -> u64 {
        u64::from(self.segment_size) + TAG_SIZE as u64
    }

    /// The segments, ciphertext bytes and trimming for reading plaintext bytes `range`
    /// (half-open). The caller is expected to pass `start < end <= plaintext_size`; a
    /// range reaching past the end is clamped to it, and an empty range (such as `0..0`
    /// on an empty object) reads and authenticates just the final segment and yields
    /// nothing, so a read of an empty object still notices that it was truncated.
    pub fn plan(&self, range: Range<u64>) -> RangePlan {
        let end = range.end.min(self.plaintext_size);
        let start = range.start.min(end);
        let segment_size = u64::from(self.segment_size);
        let (first_segment, last_segment) = if start == end {
            let last = self.segment_count() - 1;
            (last, last)
        } else {
            (start / segment_size, (end - 1) / segment_size)
        };
        let ciphertext_range = first_segment * self.stride()
            ..((last_segment + 1) * self.stride()).min(self.ciphertext_size());
        RangePlan {
            first_segment,
            last_segment,
            ciphertext_range,
            skip: if start == end {
                0
            } else {
                start - first_segment * segment_size
            },
            len: end - start,
        }
    }
}

/// Seals a plaintext stream into ciphertext segments. Each call to [`push`](Self::push)
/// copies its input once into the segment buffer, which is then encrypted in place and
/// handed out as `Bytes` without further copies.
pub struct SegmentEncryptor {
    cipher: SegmentCipher,
    prefix: NoncePrefix,
    segment_size: usize,
    /// Index of the segment being filled.
    index: u32,
    /// Plaintext of the segment being filled, with room for its tag.
    buf: Vec<u8>,
}

impl SegmentEncryptor {
    /// The encryptor for [`SEGMENT_SIZE`] segments, the layout of every stored object.
    pub fn new(key: &SecretKey, prefix: NoncePrefix) -> Self {
        Self {
            cipher: cipher(key),
            prefix,
            segment_size: SEGMENT_SIZE,
            index: 0,
            buf: Vec::with_capacity(SEGMENT_SIZE + TAG_SIZE),
        }
    }

    /// Another segment size (small ones make the format's edge cases cheap to test).
    /// Readers must use a [`SegmentLayout`] with the same size.
    pub fn with_segment_size(
        key: &SecretKey,
        prefix: NoncePrefix,
        segment_size: u32,
    ) -> Result<Self, CryptoError> {
        let segment_size = check_segment_size(segment_size as usize)? as usize;
        Ok(Self {
            cipher: cipher(key),
            prefix,
            segment_size,
            index: 0,
            buf: Vec::with_capacity(segment_size + TAG_SIZE),
        })
    }

    /// Takes more plaintext and returns the segments it completed (each
    /// `plaintext || tag`). A full segment is held back until more data arrives, because
    /// only then is it known not to be the last one; [`finish`](Self::finish) seals it.
    /// Fails only when the object would exceed 2^32 segments; the encryptor is unusable
    /// afterwards.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<Bytes>, CryptoError> {
        let mut sealed = Vec::new();
        while !data.is_empty() {
            if self.buf.len() == self.segment_size {
                // More data follows, so the buffered segment is not the last one; there
                // must also be room for the next segment's index.
                let next = self
                    .index
                    .checked_add(1)
                    .ok_or(CryptoError::ObjectTooLarge)?;
                let full = std::mem::replace(
                    &mut self.buf,
                    Vec::with_capacity(self.segment_size + TAG_SIZE),
                );
                sealed.push(self.seal(full, false));
                self.index = next;
            }
            let take = (self.segment_size - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(sealed)
    }

    /// Seals what is left (possibly nothing) as the final segment.
    pub fn finish(mut self) -> Bytes {
        let last = std::mem::take(&mut self.buf);
        self.seal(last, true)
    }

    fn seal(&self, mut buf: Vec<u8>, last: bool) -> Bytes {
        let nonce = segment_nonce(&self.prefix, self.index, last);
        self.cipher.seal(nonce, &mut buf);
        Bytes::from(buf)
    }
}

/// Authenticates and decrypts the ciphertext of a [`RangePlan`], fed in whatever chunks
/// storage returns, and yields exactly the planned plaintext bytes. Nothing is yielded
/// from a segment before its tag has been checked.
pub struct SegmentDecryptor {
    cipher: SegmentCipher,
    prefix: NoncePrefix,
    layout: SegmentLayout,
    /// The segment being reassembled.
    next: u64,
    last: u64,
    /// Plaintext still to drop from the start of the next segment.
    skip: u64,
    /// Plaintext still to yield.
    remaining: u64,
    /// Ciphertext of the segment being reassembled.
    buf: Vec<u8>,
    /// Set after any error; every later call fails too.
    failed: bool,
}

impl SegmentDecryptor {
    pub fn new(
        key: &SecretKey,
        prefix: NoncePrefix,
        layout: SegmentLayout,
        plan: &RangePlan,
    ) -> Self {
        Self {
            cipher: cipher(key),
            prefix,
            layout,
            next: plan.first_segment,
            last: plan.last_segment,
            skip: plan.skip,
            remaining: plan.len,
            buf: Vec::new(),
            failed: false,
        }
    }

    /// Takes the next ciphertext bytes of the planned range and returns the plaintext of
    /// every segment they complete, trimmed to the requested range (empty pieces are
    /// left out). Ciphertext beyond the plan's last segment is refused.
    pub fn feed(&mut self, mut ciphertext: &[u8]) -> Result<Vec<Bytes>, CryptoError> {
        if self.failed {
            return Err(CryptoError::Tampered { segment: self.next });
        }
        let mut plaintext = Vec::new();
        while !ciphertext.is_empty() {
            if self.next > self.last {
                self.failed = true;
                return Err(CryptoError::Tampered { segment: self.next });
            }
            let want = self.segment_ciphertext_len();
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(want);
            }
            let take = (want - self.buf.len()).min(ciphertext.len());
            self.buf.extend_from_slice(&ciphertext[..take]);
            ciphertext = &ciphertext[take..];
            if self.buf.len() == want {
                match self.open_segment() {
                    Ok(Some(piece)) => plaintext.push(piece),
                    Ok(None) => {}
                    Err(e) => {
                        self.failed = true;
                        return Err(e);
                    }
                }
            }
        }
        Ok(plaintext)
    }

    /// Confirms every planned segment arrived whole.
    pub fn finish(self) -> Result<(), CryptoError> {
        if self.failed {
            Err(CryptoError::Tampered { segment: self.next })
        } else if self.next <= self.last {
            Err(CryptoError::Truncated { segment: self.next })
        } else {
            Ok(())
        }
    }

    fn segment_ciphertext_len(&self) -> usize {
        // Bounded by MAX_SEGMENT_SIZE + TAG_SIZE, so the cast is lossless.
        self.layout.segment_plaintext_len(self.next) as usize + TAG_SIZE
    }

    fn open_segment(&mut self) -> Result<Option<Bytes>, CryptoError> {
        let segment = self.next;
        let index = u32::try_from(segment).map_err(|_| CryptoError::ObjectTooLarge)?;
        let mut buf = std::mem::take(&mut self.buf);
        let nonce = segment_nonce(&self.prefix, index, self.layout.is_last(segment));
        self.cipher
            .open(nonce, &mut buf)
            .map_err(|_| CryptoError::Tampered { segment })?;
        let plaintext_len = buf.len();
        self.next += 1;

        let start = usize::try_from(std::mem::take(&mut self.skip))
            .unwrap_or(usize::MAX)
            .min(plaintext_len);
        let take = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(plaintext_len - start);
        self.remaining -= take as u64;
        if take == 0 {
            return Ok(None);
        }
        Ok(Some(Bytes::from(buf).slice(start..start + take)))
    }
}

#[cfg(test)]
mod tests;
