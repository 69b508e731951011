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
}
