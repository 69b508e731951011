/// Errors are deliberately coarse: telling a caller *why* a ciphertext was rejected
/// (wrong key, wrong context, corrupted tag) would turn every API that opens blobs into
/// an oracle.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// Any failure to read or authenticate a blob or wrapped key material.
    #[error("invalid ciphertext")]
    InvalidCiphertext,
    /// Key material or master-key text of the wrong shape. The message never includes
    /// the offending bytes.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A segment of a stored, segment-encrypted object failed authentication: its bytes
    /// were changed, reordered, spliced in from another object, or the object was cut at a
    /// segment boundary. Such an object must never be served. The message names only the
    /// segment index.
    #[error(
        "stored object is corrupt or was tampered with (segment {segment} failed authentication)"
    )]
    Tampered { segment: u64 },
    /// A stored, segment-encrypted object ended before all the segments its recorded size
    /// calls for; `segment` is the first one that is missing or incomplete.
    #[error("stored object is truncated (segment {segment} is missing or incomplete)")]
    Truncated { segment: u64 },
    /// More than 2^32 segments (256 TiB at the default segment size): the segment index
    /// would no longer fit its 4 nonce bytes.
    #[error("object too large for segmented encryption")]
    ObjectTooLarge,
    /// Segmented-encryption parameters of the wrong shape (nonce prefix length, segment
    /// size), typically read back from a damaged metadata row.
    #[error("invalid segmented-encryption parameters: {0}")]
    InvalidParameters(&'static str),
}
