//! keyhold's envelope crypto, kept free of I/O and service types so that every byte
//! format it defines can be tested and fuzzed on its own.
//!
//! - [`MasterKey`] wraps each KMS key's backing material at rest.
//! - [`seal_blob`] / [`open_blob`] produce and consume the KMS ciphertext blob that
//!   `Encrypt`, `Decrypt` and `GenerateDataKey` hand to clients; its layout is a
//!   public contract documented in `docs/ciphertext-blob.md`.
//! - [`canonical_context`] turns an encryption context into the AAD both of them bind.
//! - [`segments`] encrypts stored objects in 64 KiB AES-256-GCM segments, so object
//!   bodies stream in constant memory and range reads decrypt only what they touch.

mod blob;
mod encryption_context;
mod error;
mod gcm;
mod key_text;
mod master_key;
mod random;
mod secret_key;
pub mod segments;

pub use blob::{
    BLOB_FORMAT_VERSION, BLOB_HEADER_LEN, BLOB_OVERHEAD, BlobHeader, open_blob, read_blob_header,
    seal_blob, seal_blob_with_nonce,
};
pub use encryption_context::{
    EncryptionContext, MAX_CONTEXT_BYTES, canonical_context, context_size,
};
pub use error::CryptoError;
pub use gcm::{NONCE_LEN, TAG_LEN};
pub use master_key::{MasterKey, WRAP_OVERHEAD, material_aad};
pub use random::{fill_random, random_bytes};
pub use secret_key::SecretKey;
pub use segments::{
    NoncePrefix, RangePlan, SEGMENT_SIZE, SegmentDecryptor, SegmentEncryptor, SegmentLayout,
    TAG_SIZE,
};
