use std::fmt;

use zeroize::Zeroizing;

use crate::{CryptoError, random::fill_random};

/// A 256-bit AES key. The buffer is wiped on drop and `Debug` never shows it, so a key
/// that ends up in a struct that gets logged or panics stays out of the output.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl SecretKey {
    pub const LEN: usize = 32;

    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; Self::LEN]);
        fill_random(key.as_mut_slice());
        Self(key)
    }

    /// Copies exactly 32 bytes; any other length is refused rather than padded or
    /// truncated, because either would silently weaken the key.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        let array: &[u8; Self::LEN] = b
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("key material must be exactly 32 bytes"))?;
        Ok(Self(Zeroizing::new(*array)))
    }

    /// Takes ownership of an array the caller already holds in a wiped buffer, avoiding
    /// one more unwiped copy.
    pub(crate) fn from_zeroizing(bytes: Zeroizing<[u8; 32]>) -> Self {
        Self(bytes)
    }

    /// The raw key, for handing to a cipher or returning as a data key's plaintext. The
    /// name is meant to stand out in review.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_bytes_requires_exactly_32() {
        assert!(SecretKey::from_bytes(&[1; 32]).is_ok());
        for len in [0, 16, 31, 33, 64] {
            assert!(matches!(
                SecretKey::from_bytes(&vec![1; len]),
                Err(CryptoError::InvalidKey(_))
            ));
        }
        assert_eq!(SecretKey::from_bytes(&[9; 32]).unwrap().expose(), &[9; 32]);
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(
            SecretKey::generate().expose(),
            SecretKey::generate().expose()
        );
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = SecretKey::from_bytes(&[0xAB; 32]).unwrap();
        for text in [
            format!("{key:?}"),
            format!("{key:#?}"),
            format!("{:?}", Some(&key)),
        ] {
            assert!(text.contains("[redacted]"), "{text}");
            for needle in ["171", "ab", "AB", "0xab"] {
                assert!(!text.contains(needle), "{text} contains {needle}");
            }
        }
    }
}
