//! Blobs arrive from clients, so `read_blob_header` and `open_blob` must survive any
//! bytes without panicking and must never accept bytes that were not sealed.
//!
//! The input doubles as an encryption context: a leading length byte `n` takes the next
//! `n` bytes as one context value, so the fuzzer also exercises the AAD encoding.

#![no_main]

use keyhold_crypto::{
    BLOB_OVERHEAD, CryptoError, EncryptionContext, SecretKey, open_blob, read_blob_header,
    seal_blob,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let material = SecretKey::from_bytes(&[0x42; 32]).expect("32-byte key");

    // Whole input as a blob, with no context and with a context carved from the input.
    check_foreign(&material, data, &EncryptionContext::new());
    let (context, blob) = split_context(data);
    check_foreign(&material, blob, &context);

    // A genuine blob must open; the same blob with the fuzz input XORed over it must
    // not, unless the XOR left it unchanged.
    let (context, plaintext) = split_context(data);
    let header = keyhold_crypto::BlobHeader {
        key_id: uuid_from(data),
        material_version: data.len() as u32,
    };
    let sealed = seal_blob(&material, header, &context, plaintext);
    assert_eq!(read_blob_header(&sealed), Ok(header));
    assert_eq!(
        open_blob(&material, &sealed, &context)
            .expect("genuine blob opens")
            .as_slice(),
        plaintext
    );
    let mut mutated = sealed.clone();
    for (b, m) in mutated.iter_mut().zip(data.iter().rev()) {
        *b ^= m;
    }
    if mutated != sealed {
        assert_eq!(
            open_blob(&material, &mutated, &context),
            Err(CryptoError::InvalidCiphertext)
        );
    }
});

/// Bytes the fuzzer made up: whatever the header says, they must not open under our
/// key, and the header reader must agree with the length and version rules.
fn check_foreign(material: &SecretKey, blob: &[u8], context: &EncryptionContext) {
    let header = read_blob_header(blob);
    if blob.len() < BLOB_OVERHEAD || blob[0] != 1 {
        assert_eq!(header, Err(CryptoError::InvalidCiphertext));
    }
    assert_eq!(
        open_blob(material, blob, context),
        Err(CryptoError::InvalidCiphertext)
    );
}

fn split_context(data: &[u8]) -> (EncryptionContext, &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return (EncryptionContext::new(), data);
    };
    let n = usize::from(n).min(rest.len());
    let (value, rest) = rest.split_at(n);
    let mut context = EncryptionContext::new();
    context.insert(
        "fuzz".to_owned(),
        String::from_utf8_lossy(value).into_owned(),
    );
    (context, rest)
}

fn uuid_from(data: &[u8]) -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    for (b, d) in bytes.iter_mut().zip(data) {
        *b = *d;
    }
    uuid::Uuid::from_bytes(bytes)
}
