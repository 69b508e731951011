//! Pins the worked example in docs/ciphertext-blob.md to the code, in both directions:
//! the code must still produce the documented bytes, and the document must still show
//! them. The expected bytes were computed independently with Python's `cryptography`
//! AESGCM, so this also checks our use of aes-gcm against another implementation.

use super::*;

const DOC: &str = include_str!("../../../../../docs/ciphertext-blob.md");

const HEADER_HEX: &str = "011234abcd12ab34cd56ef1234567890ab00000001";
const CONTEXT_HEX: &str = "0000000200000007707572706f7365000000076578616d706c65\
                           0000000674656e616e740000000461636d65";
const NONCE_HEX: &str = "cafebabefacedbaddecaf888";
const CIPHERTEXT_HEX: &str = "e2c6cc4ac5566f70237235b21779";
const TAG_HEX: &str = "ec510a847eca9b270fe227eff649791e";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn example() -> (SecretKey, BlobHeader, EncryptionContext, [u8; NONCE_LEN]) {
    let material = SecretKey::from_bytes(&std::array::from_fn::<u8, 32, _>(|i| i as u8)).unwrap();
    let header = BlobHeader {
        key_id: Uuid::parse_str("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap(),
        material_version: 1,
    };
    // Inserted out of order on purpose: the encoding sorts.
    let context = ctx(&[("tenant", "acme"), ("purpose", "example")]);
    let nonce = unhex(NONCE_HEX).try_into().unwrap();
    (material, header, context, nonce)
}

#[test]
fn code_produces_the_documented_blob() {
    let (material, header, context, nonce) = example();
    let blob = seal_blob_with_nonce(&material, header, &context, b"hello, keyhold", nonce);
    let want = [HEADER_HEX, NONCE_HEX, CIPHERTEXT_HEX, TAG_HEX].concat();
    assert_eq!(hex(&blob), want);
    assert_eq!(hex(&canonical_context(&context)), CONTEXT_HEX);
    assert_eq!(read_blob_header(&blob), Ok(header));
    assert_eq!(
        open_blob(&material, &blob, &context).unwrap().as_slice(),
        b"hello, keyhold"
    );
}

#[test]
fn document_shows_the_example_bytes() {
    let doc: String = DOC.chars().filter(|c| !c.is_whitespace()).collect();
    let blob = [HEADER_HEX, NONCE_HEX, CIPHERTEXT_HEX, TAG_HEX].concat();
    let aad = [HEADER_HEX, CONTEXT_HEX].concat();
    for (what, bytes) in [
        ("blob", blob.as_str()),
        ("AAD", aad.as_str()),
        ("context", CONTEXT_HEX),
        ("header", HEADER_HEX),
        ("ciphertext", CIPHERTEXT_HEX),
        ("tag", TAG_HEX),
    ] {
        assert!(
            doc.contains(bytes),
            "docs/ciphertext-blob.md no longer shows the example {what}"
        );
    }
}
