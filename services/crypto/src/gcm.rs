//! The one place that talks to `aes-gcm`, so the wrapped-material and blob formats share
//! one seal/open path that works in place and makes no intermediate copies.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Tag};

use crate::{CryptoError, SecretKey};

/// AES-GCM's native nonce size; other sizes cost an extra GHASH pass per call.
pub const NONCE_LEN: usize = 12;
/// Full-length tag: truncated tags weaken forgery resistance for no gain here.
pub const TAG_LEN: usize = 16;

fn cipher(key: &SecretKey) -> Aes256Gcm {
    Aes256Gcm::new(key.expose().into())
}

/// Encrypts `buf[start..]` in place and appends the tag, so callers can lay out their
/// header and nonce first and end up with one contiguous buffer.
pub(crate) fn seal_tail(
    key: &SecretKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut Vec<u8>,
    start: usize,
) {
    let tag = cipher(key)
        .encrypt_inout_detached(nonce.into(), aad, InOutBuf::from(&mut buf[start..]))
        // Fails only past 64 GiB of plaintext or 2^61 bytes of AAD, far beyond any
        // message gRPC will carry to us.
        .expect("AES-GCM input within size limits");
    buf.extend_from_slice(&tag);
}

/// Authenticates and decrypts `nonce || ciphertext || tag` into a fresh wiped-on-drop
/// buffer; the plaintext is written only after the tag checks out.
pub(crate) fn open(
    key: &SecretKey,
    sealed: &[u8],
    aad: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::InvalidCiphertext);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| CryptoError::InvalidCiphertext)?;
    let tag = Tag::try_from(tag).map_err(|_| CryptoError::InvalidCiphertext)?;

    let mut plaintext = zeroize::Zeroizing::new(vec![0u8; ciphertext.len()]);
    let buf =
        InOutBuf::new(ciphertext, &mut plaintext).map_err(|_| CryptoError::InvalidCiphertext)?;
    cipher(key)
        .decrypt_inout_detached(nonce.into(), aad, buf, &tag)
        .map_err(|_| CryptoError::InvalidCiphertext)?;
    Ok(plaintext)
}
