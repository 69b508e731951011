use std::fmt;

use zeroize::Zeroizing;

use crate::gcm::{self, NONCE_LEN, TAG_LEN};
use crate::random::fill_random;
use crate::{CryptoError, SecretKey, key_text};

/// Bytes [`MasterKey::wrap`] adds to the secret: nonce and tag.
pub const WRAP_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// The service master key. It never encrypts customer data directly; it only wraps key
/// material before that material reaches the database, so a database dump alone
/// reveals no keys.
#[derive(Clone)]
pub struct MasterKey(SecretKey);

impl MasterKey {
    pub fn generate() -> Self {
        Self(SecretKey::generate())
    }

    /// Accepts what operators actually have on disk or in a Kubernetes Secret: the 32
    /// raw bytes, their base64 (standard alphabet, padding optional), or 64 hex digits,
    /// with surrounding whitespace such as the newline `openssl rand -base64 32` writes.
    ///
    /// Exactly 32 bytes that are all printable text are refused rather than taken as a
    /// raw key: that is almost surely a 16-byte key in hex or a passphrase, and using it
    /// as is would silently leave the key far weaker than 256 bits. Random raw keys hit
    /// this with probability about 2^-45.
    pub fn parse(text_or_bytes: &[u8]) -> Result<Self, CryptoError> {
        if text_or_bytes.len() == SecretKey::LEN {
            if text_or_bytes
                .iter()
                .all(|b| b.is_ascii_graphic() || *b == b' ')
            {
                return Err(CryptoError::InvalidKey(
                    "32 characters of text is not a 256-bit key; use 64 hex digits or base64 of 32 bytes",
                ));
            }
            return SecretKey::from_bytes(text_or_bytes).map(Self);
        }
        let text = text_or_bytes.trim_ascii();
        let decoded = if key_text::is_hex_len(text) {
            key_text::decode_hex(text)
                .ok_or(CryptoError::InvalidKey("64 characters but not hex digits"))?
        } else if key_text::is_base64_len(text) {
            key_text::decode_base64(text).ok_or(CryptoError::InvalidKey(
                "not valid standard base64 of 32 bytes",
            ))?
        } else {
            return Err(CryptoError::InvalidKey(
                "expected 32 raw bytes, base64 of 32 bytes, or 64 hex digits",
            ));
        };
        Ok(Self(SecretKey::from_zeroizing(decoded)))
    }

    /// Padded standard base64, which [`MasterKey::parse`] reads back; `keyhold up` writes
    /// it to the dev key file. The caller should drop the string as soon as it is written.
    pub fn to_base64(&self) -> String {
        key_text::encode_base64(self.0.expose())
    }

    /// Returns `nonce || ciphertext || tag`. `aad` should come from [`material_aad`] so that
    /// a wrapped blob copied onto another key's row, or onto another material version,
    /// fails to unwrap instead of quietly handing out the wrong key.
    pub fn wrap(&self, secret: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRAP_OVERHEAD + secret.len());
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(secret);
        gcm::seal_tail(&self.0, &nonce, aad, &mut out, NONCE_LEN);
        out
    }

    pub fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        gcm::open(&self.0, wrapped, aad)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Domain label so that nothing else this master key might ever seal can be mistaken for
/// wrapped key material.
const MATERIAL_AAD_LABEL: &[u8] = b"keyhold/key-material";

/// `"keyhold/key-material" || u32 BE len(arn) || arn || u32 BE material_version`; the length
/// prefix keeps ARN and version from running into each other.
///
/// # Panics
/// If the ARN is 4 GiB or longer, which no valid ARN is.
pub fn material_aad(key_arn: &str, material_version: u32) -> Vec<u8> {
    let arn_len = u32::try_from(key_arn.len()).expect("key ARN shorter than 4 GiB");
    let mut aad = Vec::with_capacity(MATERIAL_AAD_LABEL.len() + 4 + key_arn.len() + 4);
    aad.extend_from_slice(MATERIAL_AAD_LABEL);
    aad.extend_from_slice(&arn_len.to_be_bytes());
    aad.extend_from_slice(key_arn.as_bytes());
    aad.extend_from_slice(&material_version.to_be_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn fixed_key() -> [u8; 32] {
        std::array::from_fn(|i| 0x80 | i as u8)
    }

    #[test]
    fn parse_raw_bytes() {
        let key = MasterKey::parse(&fixed_key()).unwrap();
        assert_eq!(key.0.expose(), &fixed_key());
    }

    #[test]
    fn parse_base64_with_and_without_padding_and_whitespace() {
        let text = MasterKey::parse(&fixed_key()).unwrap().to_base64();
        assert_eq!(text.len(), 44);
        assert!(text.ends_with('='));
        for input in [
            text.clone(),
            format!("{text}\n"),
            format!("  {text}\r\n"),
            text.trim_end_matches('=').to_string(),
            format!("{}\n", text.trim_end_matches('=')),
        ] {
            let key = MasterKey::parse(input.as_bytes()).unwrap();
            assert_eq!(key.0.expose(), &fixed_key(), "{input:?}");
        }
    }

    #[test]
    fn parse_hex_either_case_with_newline() {
        let hex: String = fixed_key().iter().map(|b| format!("{b:02x}")).collect();
        for input in [
            hex.clone(),
            format!("{hex}\n"),
            hex.to_uppercase(),
            format!("\t{hex} \n"),
        ] {
            let key = MasterKey::parse(input.as_bytes()).unwrap();
            assert_eq!(key.0.expose(), &fixed_key(), "{input:?}");
        }
    }

    #[test]
    fn parse_rejects_wrong_lengths_and_junk() {
        let b64 = MasterKey::generate().to_base64();
        let hex: String = fixed_key().iter().map(|b| format!("{b:02x}")).collect();
        let rejected: Vec<Vec<u8>> = vec![
            vec![],
            b"\n".to_vec(),
            vec![0x80; 31],
            vec![0x80; 33],
            vec![0x80; 64],
            // A 16-byte key in hex, and base64 of 16, 24 and 48 bytes.
            hex.as_bytes()[..32].to_vec(),
            format!("{}\n", &hex[..32]).into_bytes(),
            key_text::encode_base64(&[1; 16]).into_bytes(),
            key_text::encode_base64(&[1; 24]).into_bytes(),
            key_text::encode_base64(&[1; 48]).into_bytes(),
            // Right lengths, wrong alphabet.
            hex.replace('8', "g").into_bytes(),
            {
                let mut url_safe = b64.clone().into_bytes();
                url_safe[5] = b'-';
                url_safe
            },
            // Newline inside rather than around.
            format!("{}\n{}", &b64[..20], &b64[20..]).into_bytes(),
            // A 32-character passphrase.
            b"correct horse battery staple!!!!".to_vec(),
        ];
        for input in rejected {
            assert!(
                matches!(MasterKey::parse(&input), Err(CryptoError::InvalidKey(_))),
                "accepted {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    #[test]
    fn invalid_key_messages_never_echo_input() {
        let input = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=====\n";
        let err = MasterKey::parse(input.as_bytes()).unwrap_err().to_string();
        assert!(!err.contains("QUJD"), "{err}");
    }

    #[test]
    fn to_base64_roundtrips_generated_keys() {
        for _ in 0..64 {
            let key = MasterKey::generate();
            let again = MasterKey::parse(key.to_base64().as_bytes()).unwrap();
            assert_eq!(key.0.expose(), again.0.expose());
        }
    }

    #[test]
    fn wrap_roundtrip_and_layout() {
        let key = MasterKey::generate();
        let secret = SecretKey::generate();
        let aad = material_aad(ARN, 3);
        let wrapped = key.wrap(secret.expose(), &aad);
        assert_eq!(wrapped.len(), 32 + WRAP_OVERHEAD);
        assert_ne!(&wrapped[NONCE_LEN..NONCE_LEN + 32], secret.expose());
        assert_eq!(
            key.unwrap(&wrapped, &aad).unwrap().as_slice(),
            secret.expose()
        );
        // Fresh nonce each time, so wrapping the same secret twice looks unrelated.
        assert_ne!(key.wrap(secret.expose(), &aad), wrapped);
        // Empty secrets are legal and still authenticated.
        let empty = key.wrap(&[], &aad);
        assert_eq!(empty.len(), WRAP_OVERHEAD);
        assert!(key.unwrap(&empty, &aad).unwrap().is_empty());
    }

    #[test]
    fn unwrap_rejects_wrong_aad_key_or_bytes() {
        let key = MasterKey::generate();
        let aad = material_aad(ARN, 3);
        let wrapped = key.wrap(b"material", &aad);
        let err = Err(CryptoError::InvalidCiphertext);
        assert_eq!(key.unwrap(&wrapped, &material_aad(ARN, 4)), err);
        assert_eq!(
            key.unwrap(&wrapped, &material_aad(&ARN.replace("abcd", "abce"), 3)),
            err
        );
        assert_eq!(key.unwrap(&wrapped, b""), err);
        assert_eq!(MasterKey::generate().unwrap(&wrapped, &aad), err);
        for len in 0..wrapped.len() {
            assert_eq!(key.unwrap(&wrapped[..len], &aad), err, "truncated to {len}");
        }
        for bit in 0..wrapped.len() * 8 {
            let mut flipped = wrapped.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(key.unwrap(&flipped, &aad), err, "bit {bit}");
        }
    }

    #[test]
    fn material_aad_is_unambiguous() {
        assert_eq!(
            material_aad("ab", 0x0102_0304),
            [
                b"keyhold/key-material".as_slice(),
                &[0, 0, 0, 2],
                b"ab",
                &[1, 2, 3, 4]
            ]
            .concat()
        );
        assert_ne!(material_aad("a", 1), material_aad("a\0\0\0", 1));
        assert_ne!(material_aad(ARN, 1), material_aad(ARN, 2));
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = MasterKey::parse(&[0xCD; 32]).unwrap();
        let text = format!("{key:?} {key:#?}");
        assert!(text.contains("[redacted]"));
        assert!(
            !text.contains("205") && !text.to_lowercase().contains("cd"),
            "{text}"
        );
        assert!(!text.contains(&key.to_base64()[..8]));
    }
}
