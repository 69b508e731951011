//! Text forms of a 32-byte master key. Hand-rolled because the two fixed-length decodes
//! fit in a page and can then write straight into a wiped buffer, which no general
//! base64 API offers.

use zeroize::Zeroizing;

const KEY_LEN: usize = 32;
/// 32 bytes = 256 bits = 42 full sextets + 4 bits, so 43 characters with the last one's
/// low 2 bits unused.
const B64_UNPADDED_LEN: usize = (KEY_LEN * 4).div_ceil(3);
const B64_PADDED_LEN: usize = KEY_LEN.div_ceil(3) * 4;
const HEX_LEN: usize = KEY_LEN * 2;

const B64_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn is_hex_len(text: &[u8]) -> bool {
    text.len() == HEX_LEN
}

pub(crate) fn is_base64_len(text: &[u8]) -> bool {
    text.len() == B64_UNPADDED_LEN || text.len() == B64_PADDED_LEN
}

pub(crate) fn decode_hex(text: &[u8]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    if text.len() != HEX_LEN {
        return None;
    }
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Standard alphabet, padding optional. Strict about the unused trailing bits so that
/// exactly one text maps to each key (what `openssl rand -base64 32` writes).
pub(crate) fn decode_base64(text: &[u8]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    let digits = match text.len() {
        B64_UNPADDED_LEN => text,
        B64_PADDED_LEN => text.strip_suffix(b"=")?,
        _ => return None,
    };
    debug_assert_eq!(digits.len(), B64_UNPADDED_LEN);

    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut written = 0;
    for &c in digits {
        acc = (acc << 6) | u32::from(base64_value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out[written] = (acc >> bits) as u8;
            written += 1;
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero, or two texts would decode to the same key.
    (written == KEY_LEN && acc == 0).then_some(out)
}

fn base64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Padded standard base64, the form `openssl rand -base64` writes.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                let index = (n >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(B64_ALPHABET[index as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_vectors() {
        // RFC 4648 section 10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode_base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn base64_roundtrips_every_byte_value() {
        let mut key = [0u8; KEY_LEN];
        for start in 0..=255u8 {
            for (i, b) in key.iter_mut().enumerate() {
                *b = start.wrapping_add(i as u8 * 7);
            }
            let text = encode_base64(&key);
            assert_eq!(text.len(), B64_PADDED_LEN);
            assert_eq!(*decode_base64(text.as_bytes()).unwrap(), key);
            assert_eq!(
                *decode_base64(text.trim_end_matches('=').as_bytes()).unwrap(),
                key
            );
        }
    }

    #[test]
    fn base64_rejects_malformed() {
        let good = encode_base64(&[0x5a; KEY_LEN]);
        let good = good.as_bytes();
        // Non-zero unused trailing bits.
        let mut bad = good.to_vec();
        bad[42] = b'B';
        assert!(decode_base64(&bad[..43]).is_none());
        // Characters outside the standard alphabet, including the URL-safe ones.
        for c in [b'-', b'_', b' ', b'=', b'.'] {
            let mut bad = good.to_vec();
            bad[5] = c;
            assert!(decode_base64(&bad).is_none(), "{}", c as char);
        }
        // Two padding characters cannot end a 32-byte encoding.
        assert!(decode_base64(&[&good[..42], b"=="].concat()).is_none());
        assert!(decode_base64(&good[..42]).is_none());
    }

    #[test]
    fn hex_decodes_either_case_and_rejects_junk() {
        let lower = "00112233445566778899aabbccddeeff".repeat(2);
        let want: Vec<u8> = (0..2).flat_map(|_| (0..16u8).map(|i| i * 0x11)).collect();
        assert_eq!(decode_hex(lower.as_bytes()).unwrap().as_slice(), want);
        assert_eq!(
            decode_hex(lower.to_uppercase().as_bytes())
                .unwrap()
                .as_slice(),
            want
        );
        let mut bad = lower.into_bytes();
        bad[10] = b'g';
        assert!(decode_hex(&bad).is_none());
        assert!(decode_hex(&bad[..62]).is_none());
    }
}
