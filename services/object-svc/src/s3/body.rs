//! Request bodies (already de-chunked and signature-checked by s3s) as the domain's
//! byte stream. The digests a client declares (`Content-MD5`, `x-amz-checksum-*` as
//! a header or an aws-chunked trailer) are checked as the bytes pass, and a mismatch
//! fails the stream before its end, so the domain aborts the write: nothing is
//! half-written and nothing corrupt is stored. A failure is classified once, here,
//! into the S3 error the client gets.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use base64::Engine;
use bytes::Bytes;
use futures::{Stream, stream::BoxStream};
use http::HeaderMap;
use md5::{Digest, Md5};
use s3s::{
    TrailingHeaders,
    checksum::ChecksumHasher,
    crypto::{Checksum, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256},
    dto::StreamingBlob,
};

use super::call::{BodyFailure, S3Call};
use crate::{blobs::BlobError, error::ObjectError};

/// The flexible checksums S3 takes, by the name in `x-amz-checksum-<name>`.
const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

/// The digests a request declares for its body.
#[derive(Default)]
pub struct Declared {
    content_md5: Option<[u8; 16]>,
    /// (algorithm, value from the header, or None when it comes as a trailer).
    checksums: Vec<(&'static str, Option<String>)>,
    trailers: Option<TrailingHeaders>,
    /// `x-amz-decoded-content-length` of an aws-chunked body. The chunks' signatures
    /// only vouch for the chunks that came: without this count, a signed request
    /// sent again with its body cut (even to nothing) would be stored short.
    decoded_length: Option<u64>,
}

impl Declared {
    pub fn of(headers: &HeaderMap, trailers: Option<TrailingHeaders>) -> Result<Self, ObjectError> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let content_md5 = match text("content-md5") {
            None => None,
            Some(value) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .ok()
                    .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
                    .ok_or(ObjectError::InvalidDigest)?,
            ),
        };
        let trailer = text("x-amz-trailer")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let checksums = ALGORITHMS
            .iter()
            .filter_map(|algorithm| {
                let name = format!("x-amz-checksum-{algorithm}");
                match text(&name) {
                    Some(value) => Some((*algorithm, Some(value.trim().to_owned()))),
                    None => trailer
                        .split(',')
                        .any(|t| t.trim() == name)
                        .then_some((*algorithm, None)),
                }
            })
            .collect();
        let decoded_length = text("x-amz-decoded-content-length")
            .map(|value| {
                value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| ObjectError::IncompleteBody)
            })
            .transpose()?;
        Ok(Declared {
            content_md5,
            checksums,
            trailers,
            decoded_length,
        })
    }
}

/// The body as the domain reads it, checked against what the request declared.
pub fn request_body(
    call: &S3Call,
    body: Option<StreamingBlob>,
    declared: Declared,
) -> impl Stream<Item = Result<Bytes, BlobError>> + Send + Unpin + 'static {
    let inner: BoxStream<'static, Result<Bytes, s3s::StdError>> = match body {
        Some(body) => Box::pin(body),
        None => Box::pin(futures::stream::empty()),
    };
    let mut hasher = ChecksumHasher::default();
    for (algorithm, _) in &declared.checksums {
        match *algorithm {
            "crc32" => hasher.crc32 = Some(Crc32::new()),
            "crc32c" => hasher.crc32c = Some(Crc32c::new()),
            "crc64nvme" => hasher.crc64nvme = Some(Crc64Nvme::new()),
            "sha1" => hasher.sha1 = Some(Sha1::new()),
            _ => hasher.sha256 = Some(Sha256::new()),
        }
    }
    CheckedBody {
        inner,
        call: call.clone(),
        md5: declared.content_md5.map(|_| Md5::new()),
        hasher: Some(hasher),
        declared,
        received: 0,
        finished: false,
    }
}

struct CheckedBody {
    inner: BoxStream<'static, Result<Bytes, s3s::StdError>>,
    call: S3Call,
    declared: Declared,
    md5: Option<Md5>,
    hasher: Option<ChecksumHasher>,
    received: u64,
    finished: bool,
}

impl CheckedBody {
    fn fail(&mut self, failure: BodyFailure) -> BlobError {
        self.finished = true;
        let message = failure.message.clone();
        self.call.update(|state| {
            state.body_failure.get_or_insert(failure);
        });
        BlobError::Body(message)
    }

    /// At the end of the body: did all of it come, and do the digests match what was
    /// declared?
    fn verify(&mut self) -> Result<(), BodyFailure> {
        if self
            .declared
            .decoded_length
            .is_some_and(|declared| declared != self.received)
        {
            return Err(BodyFailure {
                code: "IncompleteBody",
                message: ObjectError::IncompleteBody.to_string(),
                status: 400,
            });
        }
        if let (Some(md5), Some(expected)) = (self.md5.take(), self.declared.content_md5)
            && md5.finalize().as_slice() != expected
        {
            return Err(bad_digest(
                "The Content-MD5 you specified did not match what we received.".to_owned(),
            ));
        }
        let Some(hasher) = self.hasher.take() else {
            return Ok(());
        };
        if self.declared.checksums.is_empty() {
            return Ok(());
        }
        let computed = hasher.finalize();
        for (algorithm, declared) in &self.declared.checksums {
            let declared = match declared {
                Some(value) => Some(value.clone()),
                None => self.declared.trailers.as_ref().and_then(|trailers| {
                    trailers.read(|headers| {
                        headers
                            .get(format!("x-amz-checksum-{algorithm}"))
                            .and_then(|v| v.to_str().ok())
                            .map(|v| v.trim().to_owned())
                    })?
                }),
            };
            let actual = match *algorithm {
                "crc32" => computed.checksum_crc32.clone(),
                "crc32c" => computed.checksum_crc32c.clone(),
                "crc64nvme" => computed.checksum_crc64nvme.clone(),
                "sha1" => computed.checksum_sha1.clone(),
                _ => computed.checksum_sha256.clone(),
            };
            match declared {
                Some(declared) if Some(&declared) == actual.as_ref() => {}
                Some(_) => {
                    return Err(bad_digest(format!(
                        "The {} you specified did not match the calculated checksum.",
                        algorithm.to_ascii_uppercase()
                    )));
                }
                // Announced as a trailer that never came.
                None => {
                    return Err(BodyFailure {
                        code: "InvalidRequest",
                        message: format!(
                            "The x-amz-checksum-{algorithm} trailer announced by x-amz-trailer was not sent."
                        ),
                        status: 400,
                    });
                }
            }
        }
        Ok(())
    }
}

/// S3's answer to a request whose body stopped arriving.
pub fn request_timeout() -> BodyFailure {
    BodyFailure {
        code: "RequestTimeout",
        message: "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.".to_owned(),
        status: 400,
    }
}

fn bad_digest(message: String) -> BodyFailure {
    BodyFailure {
        code: "BadDigest",
        message,
        status: 400,
    }
}

impl Stream for CheckedBody {
    type Item = Result<Bytes, BlobError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                self.received += chunk.len() as u64;
                if let Some(md5) = self.md5.as_mut() {
                    md5.update(&chunk);
                }
                if let Some(hasher) = self.hasher.as_mut() {
                    hasher.update(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(error))) => {
                let failure = classify(&error.to_string());
                tracing::debug!(%error, code = failure.code, "request body failed");
                Poll::Ready(Some(Err(self.fail(failure))))
            }
            Poll::Ready(None) => match self.verify() {
                Ok(()) => {
                    self.finished = true;
                    Poll::Ready(None)
                }
                Err(failure) => Poll::Ready(Some(Err(self.fail(failure)))),
            },
        }
    }
}

/// s3s 0.14 keeps its body error types private, so they are told apart by their
/// text (pinned by the test below; s3s 0.17 exports them).
fn classify(error: &str) -> BodyFailure {
    let (code, message, status) = if error.contains("SignatureMismatch") {
        (
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            403,
        )
    } else if error.contains("Sha256Mismatch") {
        (
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            400,
        )
    } else {
        return incomplete_body();
    };
    BodyFailure {
        code,
        message: message.to_owned(),
        status,
    }
}

/// The answer to an aws-chunked body with a chunk over keyhold's cap.
pub fn chunk_too_large() -> BodyFailure {
    BodyFailure {
        code: "InvalidRequest",
        message: format!(
            "aws-chunked chunks larger than {} bytes are not accepted.",
            super::chunk_guard::MAX_CHUNK_BYTES
        ),
        status: 400,
    }
}

/// S3's answer to a request whose body ended (or broke) before its length.
pub fn incomplete_body() -> BodyFailure {
    BodyFailure {
        code: "IncompleteBody",
        message:
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
                .to_owned(),
        status: 400,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3s_body_errors_are_classified_by_their_text() {
        assert_eq!(
            classify("AwsChunkedStreamError: SignatureMismatch").code,
            "SignatureDoesNotMatch"
        );
        assert_eq!(
            classify("UploadStreamError: Sha256Mismatch").code,
            "XAmzContentSHA256Mismatch"
        );
        assert_eq!(
            classify("UploadStreamError: Incomplete").code,
            "IncompleteBody"
        );
        assert_eq!(
            classify("AwsChunkedStreamError: FormatError").code,
            "IncompleteBody"
        );
    }

    #[test]
    fn a_malformed_content_md5_is_invalid_digest() {
        let mut headers = HeaderMap::new();
        headers.insert("content-md5", "not base64!".parse().unwrap());
        assert_eq!(
            Declared::of(&headers, None).err(),
            Some(ObjectError::InvalidDigest)
        );
    }
}
