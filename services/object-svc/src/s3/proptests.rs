//! Property tests of object-svc's own parsers of client bytes: the SSE-KMS context
//! header (base64 of a JSON string map), the digest headers of a body, and the name
//! rules. (s3s's parsers, the SigV4 header and query, aws-chunked and XML, are driven
//! through the running server by tests/tests/s3_parsers.rs.) A longer run:
//! `PROPTEST_CASES=200000 cargo test -p object-svc --release --lib proptest_`.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::STANDARD};
use proptest::prelude::*;

use super::{body::Declared, convert::sse_request};
use crate::{error::ObjectError, validate};

const CONTEXT_HEADER: &str = "x-amz-server-side-encryption-context";

fn context_header(value: String) -> Result<BTreeMap<String, String>, ObjectError> {
    sse_request(None, None, Some(value), None).map(|request| request.context)
}

/// Text weighted towards base64's alphabet and JSON's punctuation.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::char::range('A', 'z'),
            2 => prop::sample::select(vec!['+', '/', '=', '{', '}', '"', ':', ',', '\\']),
            1 => any::<char>(),
        ],
        0..max,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(any::<String>(), any::<String>(), 0..5)
}

proptest! {
    /// Any header value: the request's context, or S3's InvalidArgument naming the
    /// header; never a panic.
    #[test]
    fn proptest_sse_context_header_any_text(value in text(200)) {
        if let Err(error) = context_header(value) {
            let is_header_error = matches!(
                &error,
                ObjectError::InvalidArgument { argument_name: Some(name), .. }
                    if name == CONTEXT_HEADER
            );
            prop_assert!(is_header_error, "{error:?}");
        }
    }

    /// What a client encodes (base64 of JSON) is exactly the context that is used.
    #[test]
    fn proptest_sse_context_header_round_trips(map in string_map()) {
        let encoded = STANDARD.encode(serde_json::to_string(&map).expect("JSON"));
        prop_assert_eq!(context_header(encoded).expect("decodes"), map);
    }

    /// A valid header with one character replaced: a (possibly other) map or the
    /// header's error, never a panic.
    #[test]
    fn proptest_sse_context_header_damaged(
        map in string_map(),
        at in any::<prop::sample::Index>(),
        replacement in any::<char>(),
    ) {
        let encoded = STANDARD.encode(serde_json::to_string(&map).expect("JSON"));
        let mut chars: Vec<char> = encoded.chars().collect();
        if !chars.is_empty() {
            let at = at.index(chars.len());
            chars[at] = replacement;
        }
        let _ = context_header(chars.into_iter().collect());
    }

    /// The digest headers of a body: Content-MD5 must be base64 of 16 bytes, anything
    /// else is InvalidDigest; the checksum and trailer headers never fail to parse.
    #[test]
    fn proptest_digest_headers(
        md5 in prop::collection::vec(any::<u8>(), 0..24),
        checksum in "[ -~]{0,64}",
        trailer in "[ -~]{0,64}",
        garbage in "[ -~]{0,40}",
        use_garbage in any::<bool>(),
    ) {
        let mut headers = http::HeaderMap::new();
        let content_md5 = if use_garbage { garbage.clone() } else { STANDARD.encode(&md5) };
        headers.insert("content-md5", content_md5.parse().expect("visible ASCII"));
        headers.insert("x-amz-checksum-crc32", checksum.parse().expect("visible ASCII"));
        headers.insert("x-amz-trailer", trailer.parse().expect("visible ASCII"));
        let declared = Declared::of(&headers, None);
        let valid = STANDARD
            .decode(content_md5.trim())
            .is_ok_and(|bytes| bytes.len() == 16);
        match declared {
            Ok(_) => prop_assert!(valid),
            Err(error) => {
                prop_assert!(!valid);
                prop_assert_eq!(error, ObjectError::InvalidDigest);
            }
        }
    }

    /// A bucket name keyhold accepts is one s3s's path parser accepts, so that the S3
    /// endpoint can reach every bucket the gRPC API can create; and it passes the
    /// length rule every operation checks.
    #[test]
    fn proptest_bucket_names_agree_with_s3s(name in "[a-z0-9.\\-A_]{0,70}") {
        if validate::bucket_name(&name).is_ok() {
            prop_assert!(s3s::path::check_bucket_name(&name), "{name}");
            prop_assert!(validate::bucket_name_length(&name));
        }
    }

    /// A key is 1..=1024 bytes of UTF-8 without NUL: exactly those are accepted.
    #[test]
    fn proptest_object_keys(key in any::<String>(), repeat in 1usize..400) {
        let key = key.repeat(repeat);
        let ok = !key.is_empty() && key.len() <= validate::MAX_KEY_BYTES && !key.contains('\0');
        prop_assert_eq!(validate::object_key(&key).is_ok(), ok);
    }
}
