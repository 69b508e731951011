//! The KMS ciphertext blob: what `Encrypt` and `GenerateDataKey` return and `Decrypt`
//! accepts. Clients store these for years, so the layout is a contract
//! (`docs/ciphertext-blob.md`): a new layout gets a new version byte and old versions
//! stay readable.

use uuid::Uuid;
use zeroize::Zeroizing;

use crate::encryption_context::{encode_into, encoded_len};
use crate::gcm::{self, NONCE_LEN, TAG_LEN};
use crate::random::fill_random;
use crate::{CryptoError, EncryptionContext, SecretKey};

/// The only format so far. Byte 0 of every blob.
pub const BLOB_FORMAT_VERSION: u8 = 1;
/// Version byte, key id, material version: everything `Decrypt` needs to find the key
/// before it can authenticate anything.
pub const BLOB_HEADER_LEN: usize = 1 + 16 + 4;
/// Size of a blob minus its plaintext: header, nonce and tag.
pub const BLOB_OVERHEAD: usize = BLOB_HEADER_LEN + NONCE_LEN + TAG_LEN;

/// Which key and which of its material versions sealed a blob. Versions let a key
/// rotate while blobs sealed under earlier material still decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    pub key_id: Uuid,
    pub material_version: u32,
}

impl BlobHeader {
    fn encode(&self) -> [u8; BLOB_HEADER_LEN] {
        let mut out = [0u8; BLOB_HEADER_LEN];
        out[0] = BLOB_FORMAT_VERSION;
        out[1..17].copy_from_slice(self.key_id.as_bytes());
        out[17..21].copy_from_slice(&self.material_version.to_be_bytes());
        out
    }
}

/// Seals `plaintext` under `material` with a fresh random nonce. The header and the
/// canonical context are authenticated, so changing either, or presenting a different
/// context at `Decrypt`, makes [`open_blob`] fail.
pub fn seal_blob(
    material: &SecretKey,
    header: BlobHeader,
    ctx: &EncryptionContext,
    plaintext: &[u8],
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce);
    seal_blob_with_nonce(material, header, ctx, plaintext, nonce)
}

/// [`seal_blob`] with a caller-chosen nonce, only so that the documented worked example
/// can be reproduced byte for byte. Reusing a nonce under the same material breaks
/// AES-GCM completely; production code must call [`seal_blob`].
#[doc(hidden)]
pub fn seal_blob_with_nonce(
    material: &SecretKey,
    header: BlobHeader,
    ctx: &EncryptionContext,
    plaintext: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    let header = header.encode();
    let mut blob = Vec::with_capacity(BLOB_OVERHEAD + plaintext.len());
    blob.extend_from_slice(&header);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(plaintext);
    with_aad(&header, ctx, |aad| {
        gcm::seal_tail(
            material,
            &nonce,
            aad,
            &mut blob,
            BLOB_HEADER_LEN + NONCE_LEN,
        );
    });
    blob
}

/// Reads the header so the caller can look up the key material. Nothing is
/// authenticated yet: the result only says which key to try, and [`open_blob`] with that
/// key is what proves the blob genuine.
pub fn read_blob_header(blob: &[u8]) -> Result<BlobHeader, CryptoError> {
    if blob.len() < BLOB_OVERHEAD || blob[0] != BLOB_FORMAT_VERSION {
        return Err(CryptoError::InvalidCiphertext);
    }
    let key_id: [u8; 16] = blob[1..17]
        .try_into()
        .map_err(|_| CryptoError::InvalidCiphertext)?;
    let version: [u8; 4] = blob[17..21]
        .try_into()
        .map_err(|_| CryptoError::InvalidCiphertext)?;
    Ok(BlobHeader {
        key_id: Uuid::from_bytes(key_id),
        material_version: u32::from_be_bytes(version),
    })
}

/// Authenticates and decrypts a blob. Every failure (malformed, wrong material, wrong
/// context, tampering) is the same [`CryptoError::InvalidCiphertext`].
pub fn open_blob(
    material: &SecretKey,
    blob: &[u8],
    ctx: &EncryptionContext,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    read_blob_header(blob)?;
    let (header, sealed) = blob.split_at(BLOB_HEADER_LEN);
    let header: &[u8; BLOB_HEADER_LEN] = header
        .try_into()
        .map_err(|_| CryptoError::InvalidCiphertext)?;
    with_aad(header, ctx, |aad| gcm::open(material, sealed, aad))
}

/// Typical contexts (a few short pairs) fit on the stack, which keeps the AAD off the
/// allocator on the GenerateDataKey and Decrypt hot paths.
const STACK_AAD_LEN: usize = 512;

/// Runs `f` with AAD = `header || canonical_context(ctx)`.
fn with_aad<R>(
    header: &[u8; BLOB_HEADER_LEN],
    ctx: &EncryptionContext,
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    let len = BLOB_HEADER_LEN + encoded_len(ctx);
    let mut stack = [0u8; STACK_AAD_LEN];
    let mut heap = Vec::new();
    let aad = if len <= STACK_AAD_LEN {
        &mut stack[..len]
    } else {
        heap.resize(len, 0);
        heap.as_mut_slice()
    };
    aad[..BLOB_HEADER_LEN].copy_from_slice(header);
    encode_into(ctx, &mut aad[BLOB_HEADER_LEN..]);
    f(aad)
}

#[cfg(test)]
mod tests;
